#pragma once

// Adapters from the engine's and the shield's own counters to the metrics
// module's snapshot types. They live in daemon/ because it is the only
// module allowed to know both sides (STYLE.md §1): metrics stays free of
// net and shield types, and net and shield stay free of metric types.
//
// Pure functions of their inputs; call them from any thread (the daemon
// calls them on the metrics scrape thread).

#include <vector>

#include "metrics/traffic.h"
#include "net/types.h"
#include "shield/types.h"

namespace mamori::daemon {

// EngineStats (summed over workers) → EngineSnapshot. Pass verdicts are
// requests minus blocks minus detect-only blocks, clamped at 0: the sum over
// workers is not one atomic read, so a scrape may see a block counted
// before its request. Every parser reject reason is listed, zeros included,
// so rate() sees the first rejection of each kind.
metrics::EngineSnapshot engineSnapshot(const net::EngineStats& stats);

// Shield counters (summed over CPUs) and the unexpired bans → XdpSnapshot:
// one pass and one drop entry per shield reason, and the ban count per
// address family (ipv4, ipv6; both always present).
metrics::XdpSnapshot xdpSnapshot(const shield::Counters& counters,
                                 const std::vector<shield::Ban>& bans);

}  // namespace mamori::daemon
