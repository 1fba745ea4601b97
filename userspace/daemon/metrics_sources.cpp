#include "daemon/metrics_sources.h"

#include "http/types.h"

namespace mamori::daemon {

metrics::EngineSnapshot engineSnapshot(const net::EngineStats& stats) {
  metrics::EngineSnapshot s;
  s.connections_accepted = stats.accepted;
  s.connections_over_source_cap = stats.over_source_cap;
  s.requests_blocked = stats.blocked;
  s.requests_detect_only = stats.detect_only;
  const std::uint64_t not_passed = stats.blocked + stats.detect_only;
  s.requests_passed = stats.requests > not_passed ? stats.requests - not_passed : 0;
  s.rejected_by_reason.reserve(http::kRejectReasonCount);
  for (std::size_t i = 0; i < http::kRejectReasonCount; ++i)
    s.rejected_by_reason.push_back(
        {http::rejectReasonName(static_cast<http::RejectReason>(i)), stats.rejected_by_reason[i]});
  s.responses_proxied = stats.proxied;
  s.upstream_connect_failures = stats.upstream_connect_failures;
  s.upstream_bad_gateway = stats.bad_gateway;
  s.upstream_gateway_timeout = stats.gateway_timeout;
  s.client_timeouts = stats.client_timeouts;
  s.aborted_responses = stats.aborted_responses;
  s.active_connections = stats.active_connections;
  std::vector<metrics::RequestCount> requests;
  for (const auto& r : stats.requests_by_site)
    requests.push_back({r.tenant, r.site, r.method_class, r.status_class, r.verdict, r.count});
  s.requests = std::move(requests);
  metrics::HistogramValue h;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < net::kRequestDurationBounds.size(); ++i) {
    cumulative += stats.duration_buckets[i];
    h.buckets.push_back({net::kRequestDurationBounds[i], cumulative});
  }
  h.count = cumulative + stats.duration_buckets.back();  // + the over-the-top bucket
  h.sum = stats.duration_sum_seconds;
  s.request_duration_seconds = std::move(h);
  return s;
}

metrics::XdpSnapshot xdpSnapshot(const shield::Counters& counters,
                                 const std::vector<shield::Ban>& bans) {
  metrics::XdpSnapshot s;
  s.counts.reserve(2 * shield::kReasonCount);
  for (int r = 0; r < shield::kReasonCount; ++r) {
    const auto& p = counters.passed[static_cast<std::size_t>(r)];
    const auto& d = counters.dropped[static_cast<std::size_t>(r)];
    s.counts.push_back({"pass", shield::reasonName(r), p.packets, p.bytes});
    s.counts.push_back({"drop", shield::reasonName(r), d.packets, d.bytes});
  }
  s.events_lost = counters.events_lost;
  std::uint64_t v4 = 0, v6 = 0;
  for (const auto& b : bans) ++(b.source.is_v6 ? v6 : v4);
  s.bans = {{"ipv4", v4}, {"ipv6", v6}};
  return s;
}

}  // namespace mamori::daemon
