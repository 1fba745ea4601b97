#pragma once

// Inspection: runs a compiled RuleSet over one request and says what
// matched and whether the site's anomaly threshold is reached.
//
// Per request, the request is split into normalised views (every target
// kind in types.h, with its names), each value is transformed at most once
// per transform chain (cached for the request), each Hyperscan database is
// scanned once per value of its target kind, and non-regex operators are
// evaluated directly. Verdict policy stays with the caller: in
// detection-only mode InspectResult::would_block says what would have
// happened and block stays false.

#include "http/body_parser.h"
#include "http/types.h"
#include "inspect/rule_set.h"
#include "inspect/types.h"

namespace mamori::inspect {

// Inspects `request` (and its body fields, which the caller parsed with
// http::parseBody; an empty ParsedBody is fine for body-less requests)
// against `rules` with a site's `options`.
// Out: detections (at most one per rule, in evaluation order), the summed
// score and the verdict flags. Never throws and never fails: a request that
// cannot be fully inspected (budget spent, scratch allocation failed) sets
// budget_exhausted and applies options.on_budget_exhausted.
// Thread: any worker thread, concurrently with others on the same RuleSet;
// the first call on a thread for a given RuleSet allocates that thread's
// Hyperscan scratch (later calls reuse it). `request`, `body` and `rules`
// must outlive the call only.
InspectResult inspect(const RuleSet& rules, const http::Request& request,
                      const http::ParsedBody& body, const InspectOptions& options,
                      const ConnectionFacts& connection = {});

// True when a value of a target with this name is masked in detections
// (password, passwd, pwd, token, secret, authorization, cookie, api key
// spellings; case-insensitive substring). Any thread.
bool isSensitiveName(std::string_view name);

}  // namespace mamori::inspect
