#include "metrics/traffic.h"

#include <utility>

namespace mamori::metrics {

namespace {

double d(std::uint64_t v) { return static_cast<double>(v); }

Family byName(std::string name, std::string help, const char* label,
              const std::vector<NamedCount>& counts) {
  auto f = counter(std::move(name), std::move(help));
  for (const auto& c : counts) f.add(d(c.count), {{label, c.name}});
  return f;
}

void appendFed(const EngineSnapshot& s, std::vector<Family>& out) {
  out.push_back(counter("mamori_http_connections_accepted_total", "Client connections accepted")
                    .add(d(s.connections_accepted)));
  out.push_back(counter("mamori_http_connections_refused_total",
                        "Client connections refused, by reason (source_cap: max_conns_per_source)")
                    .add(d(s.connections_over_source_cap), {{"reason", "source_cap"}}));
  out.push_back(counter("mamori_http_verdicts_total",
                        "Verdicts on complete requests (detect_only: a block let through by "
                        "mode: detect)")
                    .add(d(s.requests_passed), {{"verdict", "pass"}})
                    .add(d(s.requests_blocked), {{"verdict", "block"}})
                    .add(d(s.requests_detect_only), {{"verdict", "detect_only"}}));
  out.push_back(byName("mamori_http_requests_rejected_total",
                       "Requests the strict HTTP parser refused, by reason", "reason",
                       s.rejected_by_reason));
  out.push_back(counter("mamori_http_responses_proxied_total",
                        "Upstream responses relayed to the client to the end")
                    .add(d(s.responses_proxied)));
  out.push_back(counter("mamori_http_client_timeouts_total",
                        "Client connections closed by a header, body or idle timeout")
                    .add(d(s.client_timeouts)));
  out.push_back(counter("mamori_http_aborted_responses_total",
                        "Client connections closed because a started response broke off")
                    .add(d(s.aborted_responses)));
  out.push_back(
      counter("mamori_upstream_connect_failures_total", "Upstream connections refused or timed out")
          .add(d(s.upstream_connect_failures)));
  out.push_back(counter("mamori_upstream_errors_total",
                        "Requests answered with an upstream error, by status code")
                    .add(d(s.upstream_bad_gateway), {{"status_code", "502"}})
                    .add(d(s.upstream_gateway_timeout), {{"status_code", "504"}}));
}

void appendNotYetFed(const EngineSnapshot& s, std::vector<Family>& out) {
  if (s.active_connections)
    out.push_back(gauge("mamori_http_active_connections", "Client connections open now")
                      .add(d(*s.active_connections)));
  if (s.requests) {
    auto f = counter("mamori_http_requests_total",
                     "Requests by tenant, site, method class, status class and verdict");
    for (const auto& r : *s.requests)
      f.add(d(r.count), {{"tenant", r.tenant},
                         {"site", r.site},
                         {"method_class", r.method_class},
                         {"status_class", r.status_class},
                         {"verdict", r.verdict}});
    out.push_back(std::move(f));
  }
  if (s.detections_by_category)
    out.push_back(byName("mamori_detections_total", "Signature detections, by rule category",
                         "category", *s.detections_by_category));
  if (s.detections_by_rule)
    out.push_back(byName("mamori_rule_matches_total", "Signature rule matches, by rule id", "rule",
                         *s.detections_by_rule));
  if (s.request_duration_seconds)
    out.push_back(histogram("mamori_http_request_duration_seconds",
                            "Time from the request's first byte to the response's last")
                      .addHistogram(*s.request_duration_seconds));
  if (s.inspection_duration_seconds)
    out.push_back(histogram("mamori_inspect_duration_seconds", "Time spent inspecting one request")
                      .addHistogram(*s.inspection_duration_seconds));
  if (s.tls_handshakes)
    out.push_back(counter("mamori_tls_handshakes_total", "TLS handshakes completed")
                      .add(d(*s.tls_handshakes)));
  if (s.tls_failures)
    out.push_back(byName("mamori_tls_handshake_failures_total", "TLS handshakes failed, by reason",
                         "reason", *s.tls_failures));
  if (s.bans_issued)
    out.push_back(byName("mamori_guard_bans_total", "Bans written to the shield, by reason",
                         "reason", *s.bans_issued));
  if (s.bot_verdicts) {
    auto f = counter("mamori_guard_bot_verdicts_total",
                     "Requests the bot detector classified, by site, bot class and action");
    for (const auto& b : *s.bot_verdicts)
      f.add(d(b.count), {{"site", b.site}, {"class", b.bot_class}, {"action", b.action}});
    out.push_back(std::move(f));
  }
  if (s.challenge_outcomes)
    out.push_back(byName("mamori_guard_challenges_total",
                         "Browser challenge outcomes (docs/challenge.md), by outcome", "outcome",
                         *s.challenge_outcomes));
  if (s.l7_flood_verdicts)
    out.push_back(byName("mamori_guard_flood_verdicts_total", "L7 flood verdicts, by action",
                         "action", *s.l7_flood_verdicts));
  if (s.log_queue_depth)
    out.push_back(gauge("mamori_logs_queue_depth", "Log lines queued, not yet written")
                      .add(d(*s.log_queue_depth)));
  if (s.log_lines_dropped)
    out.push_back(byName("mamori_logs_dropped_total", "Log lines dropped on overflow, by log",
                         "log", *s.log_lines_dropped));
}

}  // namespace

Collector engineCollector(std::function<common::Result<EngineSnapshot>()> snapshot) {
  return [snapshot = std::move(snapshot)](std::vector<Family>& out) -> common::Status {
    auto s = snapshot();
    if (!s) return s.error();
    appendFed(*s, out);
    appendNotYetFed(*s, out);
    return {};
  };
}

Collector xdpCollector(std::function<common::Result<XdpSnapshot>()> snapshot) {
  return [snapshot = std::move(snapshot)](std::vector<Family>& out) -> common::Status {
    auto s = snapshot();
    if (!s) return s.error();
    auto packets = counter("mamori_xdp_packets_total",
                           "Packets seen by the XDP shield, by verdict and reason (all CPUs)");
    auto bytes = counter("mamori_xdp_bytes_total",
                         "Bytes seen by the XDP shield, by verdict and reason (all CPUs)");
    for (const auto& c : s->counts) {
      packets.add(d(c.packets), {{"verdict", c.verdict}, {"reason", c.reason}});
      bytes.add(d(c.bytes), {{"verdict", c.verdict}, {"reason", c.reason}});
    }
    out.push_back(std::move(packets));
    out.push_back(std::move(bytes));
    out.push_back(counter("mamori_xdp_events_lost_total",
                          "Sampled drop events lost because the ring buffer was full")
                      .add(d(s->events_lost)));
    auto bans = gauge("mamori_xdp_bans", "Unexpired bans in the shield's map, by address family");
    for (const auto& b : s->bans) bans.add(d(b.count), {{"family", b.name}});
    out.push_back(std::move(bans));
    return {};
  };
}

}  // namespace mamori::metrics
