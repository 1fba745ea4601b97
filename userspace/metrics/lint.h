#pragma once

// Naming lint for metric families (STYLE.md §2 and the Prometheus naming
// conventions): run by the unit tests over every collector's output so a
// badly named family fails the build's tests rather than a dashboard.

#include <string>
#include <vector>

#include "metrics/family.h"

namespace mamori::metrics {

// Label names that would make a family's cardinality unbounded or leak
// personal data: client addresses, request paths and URLs, user agents,
// request ids, user names.
inline const std::vector<std::string>& forbiddenLabels() {
  static const std::vector<std::string> kNames = {
      "ip",  "address", "client", "client_ip", "source",     "source_ip", "peer",       "path",
      "url", "uri",     "target", "query",     "user_agent", "ua",        "request_id", "user"};
  return kNames;
}

// Checks every family: the name matches [a-z_][a-z0-9_]* and starts with
// "mamori_"; counters end in "_total" and nothing else does; gauges and
// histograms carry no "_total"; help text is present; label names are
// [a-z_][a-z0-9_]*, not reserved ("__" prefix, "le" outside histograms),
// not forbidden; no two families share a name; within a family, no two
// series share a label set, and every series has the same label names.
// Out: one human-readable line per problem (empty: all good). Pure; any thread.
std::vector<std::string> lintFamilies(const std::vector<Family>& families);

}  // namespace mamori::metrics
