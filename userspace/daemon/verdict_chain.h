#pragma once

// The verdict chain mamorid hands the engine (issue #8): flood -> bots ->
// challenge/under-attack -> login -> inspection, each step a verdict hook
// of its own. Kept apart from main() so the composition rules are tested.
//
// Threads: runVerdictChain() is what the engine's workers call; it holds no
// state, so it is as thread-safe as its steps.

#include <functional>
#include <span>

#include "http/types.h"
#include "net/types.h"

namespace mamori::daemon {

// One step: thread-safe and non-blocking like net::VerdictHook.
using VerdictStep = std::function<net::Verdict(const http::Request&, const net::RequestContext&)>;

// Runs `steps` in order (empty ones are skipped).
//  - The first Block ends the chain and is the result, except in a site in
//    mode: detect (context.detect_only): the engine forwards a Block there
//    anyway, so every later step still runs and logs what it would have
//    done (inspection must not go blind on exactly the requests a bot or
//    flood step flagged, nor on every request while under-attack mode is
//    on), and the first Block is the result (counted as detect_only).
//  - Without a Block the result is the first Pass that asks for something
//    (a delay or a response watch: the login guard's), else a plain Pass.
// Worker threads.
net::Verdict runVerdictChain(std::span<const VerdictStep> steps, const http::Request& request,
                             const net::RequestContext& context);

}  // namespace mamori::daemon
