#include "daemon/metrics_sources.h"

#include <gtest/gtest.h>

#include "metrics/lint.h"

namespace mamori::daemon {
namespace {

using metrics::Family;

double value(const std::vector<Family>& fs, const std::string& name,
             std::vector<metrics::Label> labels = {}) {
  for (const auto& f : fs) {
    if (f.name != name) continue;
    for (const auto& s : f.samples) {
      bool match = true;
      for (const auto& l : labels) match = match && s.label(l.name) == l.value;
      if (match) return s.value;
    }
  }
  ADD_FAILURE() << "no series " << name;
  return -1;
}

std::vector<Family> collect(metrics::Collector c) {
  std::vector<Family> out;
  EXPECT_TRUE(c(out).ok());
  return out;
}

// A known EngineStats snapshot, as the engine sums it, through the adapter
// and the collector: the families /metrics would serve.
TEST(MetricsSources, EngineStatsBecomeFamilies) {
  net::EngineStats st;
  st.accepted = 20;
  st.over_source_cap = 1;
  st.requests = 15;
  st.blocked = 4;
  st.detect_only = 2;
  st.rejected = 3;
  st.rejected_by_reason[static_cast<std::size_t>(http::RejectReason::BadRequestLine)] = 3;
  st.proxied = 9;
  st.upstream_connect_failures = 5;
  st.bad_gateway = 5;
  st.gateway_timeout = 1;
  st.client_timeouts = 7;
  st.aborted_responses = 2;
  auto fs = collect(metrics::engineCollector(
      [st] { return common::Result<metrics::EngineSnapshot>(engineSnapshot(st)); }));
  EXPECT_EQ(value(fs, "mamori_http_connections_accepted_total"), 20);
  EXPECT_EQ(value(fs, "mamori_http_connections_refused_total", {{"reason", "source_cap"}}), 1);
  EXPECT_EQ(value(fs, "mamori_http_verdicts_total", {{"verdict", "pass"}}), 9);
  EXPECT_EQ(value(fs, "mamori_http_verdicts_total", {{"verdict", "block"}}), 4);
  EXPECT_EQ(value(fs, "mamori_http_verdicts_total", {{"verdict", "detect_only"}}), 2);
  EXPECT_EQ(value(fs, "mamori_http_requests_rejected_total", {{"reason", "bad_request_line"}}), 3);
  EXPECT_EQ(value(fs, "mamori_http_requests_rejected_total",
                  {{"reason", http::rejectReasonName(http::RejectReason::TruncatedMessage)}}),
            0);
  EXPECT_EQ(value(fs, "mamori_http_responses_proxied_total"), 9);
  EXPECT_EQ(value(fs, "mamori_upstream_connect_failures_total"), 5);
  EXPECT_EQ(value(fs, "mamori_upstream_errors_total", {{"status_code", "502"}}), 5);
  EXPECT_EQ(value(fs, "mamori_upstream_errors_total", {{"status_code", "504"}}), 1);
  EXPECT_EQ(value(fs, "mamori_http_client_timeouts_total"), 7);
  EXPECT_EQ(value(fs, "mamori_http_aborted_responses_total"), 2);
  for (const auto& p : metrics::lintFamilies(fs)) ADD_FAILURE() << p;
}

TEST(MetricsSources, EveryRejectReasonIsListed) {
  auto s = engineSnapshot({});
  EXPECT_EQ(s.rejected_by_reason.size(), http::kRejectReasonCount);
}

TEST(MetricsSources, PassCountNeverGoesNegative) {
  net::EngineStats st;
  st.requests = 1;
  st.blocked = 2;  // a block summed from a worker before its request was
  EXPECT_EQ(engineSnapshot(st).requests_passed, 0u);
}

TEST(MetricsSources, ShieldCountersAndBansBecomeFamilies) {
  shield::Counters c;
  c.passed[0] = {100, 6400};   // reason 0: pass
  c.dropped[10] = {40, 2400};  // rate_syn
  c.events_lost = 3;
  std::vector<shield::Ban> bans(3);
  bans[2].source.is_v6 = true;
  auto fs = collect(metrics::xdpCollector(
      [&] { return common::Result<metrics::XdpSnapshot>(xdpSnapshot(c, bans)); }));
  EXPECT_EQ(value(fs, "mamori_xdp_packets_total", {{"verdict", "pass"}, {"reason", "pass"}}), 100);
  EXPECT_EQ(value(fs, "mamori_xdp_bytes_total", {{"verdict", "pass"}, {"reason", "pass"}}), 6400);
  EXPECT_EQ(value(fs, "mamori_xdp_packets_total",
                  {{"verdict", "drop"}, {"reason", shield::reasonName(10)}}),
            40);
  EXPECT_EQ(value(fs, "mamori_xdp_events_lost_total"), 3);
  EXPECT_EQ(value(fs, "mamori_xdp_bans", {{"family", "ipv4"}}), 2);
  EXPECT_EQ(value(fs, "mamori_xdp_bans", {{"family", "ipv6"}}), 1);
  for (const auto& p : metrics::lintFamilies(fs)) ADD_FAILURE() << p;
}

}  // namespace
}  // namespace mamori::daemon
