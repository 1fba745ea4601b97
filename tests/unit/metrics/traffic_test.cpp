#include "metrics/traffic.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <set>

#include "metrics/lint.h"

namespace mamori::metrics {
namespace {

const Family* find(const std::vector<Family>& fs, const std::string& name) {
  for (const auto& f : fs)
    if (f.name == name) return &f;
  return nullptr;
}

double value(const std::vector<Family>& fs, const std::string& name,
             std::vector<Label> labels = {}) {
  const Family* f = find(fs, name);
  if (!f) ADD_FAILURE() << "no family " << name;
  if (!f) return -1;
  for (const auto& s : f->samples) {
    bool match = true;
    for (const auto& l : labels) match = match && s.label(l.name) == l.value;
    if (match) return s.value;
  }
  ADD_FAILURE() << name << ": no such series";
  return -1;
}

EngineSnapshot knownEngine() {
  EngineSnapshot s;
  s.connections_accepted = 11;
  s.connections_over_source_cap = 2;
  s.requests_passed = 7;
  s.requests_blocked = 3;
  s.requests_detect_only = 1;
  s.rejected_by_reason = {{"bad_request_line", 4}, {"content_length_with_transfer_encoding", 5}};
  s.responses_proxied = 6;
  s.upstream_connect_failures = 8;
  s.upstream_bad_gateway = 9;
  s.upstream_gateway_timeout = 10;
  s.client_timeouts = 12;
  s.aborted_responses = 13;
  return s;
}

std::vector<Family> collectEngine(EngineSnapshot s) {
  std::vector<Family> out;
  auto st = engineCollector([s] { return common::Result<EngineSnapshot>(s); })(out);
  EXPECT_TRUE(st.ok());
  return out;
}

TEST(EngineCollector, FedFamiliesCarryTheSnapshotValues) {
  auto out = collectEngine(knownEngine());
  EXPECT_EQ(value(out, "mamori_http_connections_accepted_total"), 11);
  EXPECT_EQ(value(out, "mamori_http_connections_refused_total", {{"reason", "source_cap"}}), 2);
  EXPECT_EQ(value(out, "mamori_http_verdicts_total", {{"verdict", "pass"}}), 7);
  EXPECT_EQ(value(out, "mamori_http_verdicts_total", {{"verdict", "block"}}), 3);
  EXPECT_EQ(value(out, "mamori_http_verdicts_total", {{"verdict", "detect_only"}}), 1);
  EXPECT_EQ(value(out, "mamori_http_requests_rejected_total",
                  {{"reason", "content_length_with_transfer_encoding"}}),
            5);
  EXPECT_EQ(value(out, "mamori_http_requests_rejected_total", {{"reason", "bad_request_line"}}), 4);
  EXPECT_EQ(value(out, "mamori_http_responses_proxied_total"), 6);
  EXPECT_EQ(value(out, "mamori_upstream_connect_failures_total"), 8);
  EXPECT_EQ(value(out, "mamori_upstream_errors_total", {{"status_code", "502"}}), 9);
  EXPECT_EQ(value(out, "mamori_upstream_errors_total", {{"status_code", "504"}}), 10);
  EXPECT_EQ(value(out, "mamori_http_client_timeouts_total"), 12);
  EXPECT_EQ(value(out, "mamori_http_aborted_responses_total"), 13);
  EXPECT_EQ(find(out, "mamori_http_verdicts_total")->type, MetricType::Counter);
}

TEST(EngineCollector, UnfedFamiliesAreAbsentNotZero) {
  auto out = collectEngine(knownEngine());
  for (const char* name : {"mamori_http_active_connections", "mamori_http_requests_total",
                           "mamori_detections_total", "mamori_http_request_duration_seconds",
                           "mamori_tls_handshakes_total", "mamori_guard_bans_total"})
    EXPECT_EQ(find(out, name), nullptr) << name;
}

EngineSnapshot fullyFed() {
  auto s = knownEngine();
  s.active_connections = 4;
  s.requests = std::vector<RequestCount>{{"acme", "shop", "get_head", "2xx", "pass", 20},
                                         {"acme", "shop", "post", "4xx", "block", 2}};
  s.detections_by_category = std::vector<NamedCount>{{"sqli", 3}, {"xss", 1}};
  s.detections_by_rule = std::vector<NamedCount>{{"942100", 3}};
  HistogramValue h;
  h.buckets = {{0.005, 3}, {0.05, 9}};
  h.count = 10;
  h.sum = 0.3;
  s.request_duration_seconds = h;
  s.inspection_duration_seconds = h;
  s.tls_handshakes = 5;
  s.tls_failures = std::vector<NamedCount>{{"no_shared_cipher", 1}};
  s.bans_issued = std::vector<NamedCount>{{"flood", 2}};
  s.bot_verdicts = std::vector<BotVerdictCount>{{"shop", "scanner", "block", 1}};
  s.l7_flood_verdicts = std::vector<NamedCount>{{"ban", 1}};
  s.log_queue_depth = 0;
  s.log_lines_dropped = std::vector<NamedCount>{{"event", 0}};
  return s;
}

TEST(EngineCollector, FedLaterFamiliesAppearWhenGiven) {
  auto out = collectEngine(fullyFed());
  EXPECT_EQ(value(out, "mamori_http_active_connections"), 4);
  EXPECT_EQ(value(out, "mamori_http_requests_total",
                  {{"site", "shop"}, {"status_class", "4xx"}, {"verdict", "block"}}),
            2);
  EXPECT_EQ(value(out, "mamori_detections_total", {{"category", "sqli"}}), 3);
  const Family* h = find(out, "mamori_http_request_duration_seconds");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->type, MetricType::Histogram);
  EXPECT_EQ(h->samples[0].histogram.count, 10u);
  EXPECT_EQ(value(out, "mamori_tls_handshakes_total"), 5);
  EXPECT_EQ(value(out, "mamori_guard_bans_total", {{"reason", "flood"}}), 2);
}

TEST(EngineCollector, EveryFamilyPassesTheNamingLint) {
  auto out = collectEngine(fullyFed());
  auto problems = lintFamilies(out);
  for (const auto& p : problems) ADD_FAILURE() << p;
}

TEST(EngineCollector, SnapshotErrorFailsTheCollector) {
  std::vector<Family> out;
  auto st = engineCollector([] {
    return common::Result<EngineSnapshot>(common::Error{EIO, "x"});
  })(out);
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(out.empty());
}

XdpSnapshot knownXdp() {
  XdpSnapshot s;
  s.counts = {
      {"pass", "pass", 100, 64000}, {"drop", "rate_syn", 40, 2400}, {"drop", "ban", 3, 180}};
  s.events_lost = 6;
  s.bans = {{"ipv4", 2}, {"ipv6", 1}};
  return s;
}

TEST(XdpCollector, PacketsBytesLossesAndBans) {
  std::vector<Family> out;
  ASSERT_TRUE(xdpCollector([] { return common::Result<XdpSnapshot>(knownXdp()); })(out).ok());
  EXPECT_EQ(value(out, "mamori_xdp_packets_total", {{"verdict", "drop"}, {"reason", "rate_syn"}}),
            40);
  EXPECT_EQ(value(out, "mamori_xdp_bytes_total", {{"verdict", "pass"}, {"reason", "pass"}}), 64000);
  EXPECT_EQ(value(out, "mamori_xdp_events_lost_total"), 6);
  EXPECT_EQ(value(out, "mamori_xdp_bans", {{"family", "ipv4"}}), 2);
  EXPECT_EQ(value(out, "mamori_xdp_bans", {{"family", "ipv6"}}), 1);
  EXPECT_EQ(find(out, "mamori_xdp_bans")->type, MetricType::Gauge);
  for (const auto& p : lintFamilies(out)) ADD_FAILURE() << p;
}

TEST(XdpCollector, SnapshotErrorFailsTheCollector) {
  std::vector<Family> out;
  auto st = xdpCollector([] {
    return common::Result<XdpSnapshot>(common::Error{ENOENT, "no pins"});
  })(out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "no pins");
}

// Every family any collector of this module can produce, together: names
// unique across collectors and the lint clean (STYLE.md §2).
TEST(AllCollectors, NamesAreUniqueAndLintClean) {
  Registry r;
  ASSERT_TRUE(
      r.add("engine", engineCollector([] { return common::Result<EngineSnapshot>(fullyFed()); }))
          .ok());
  ASSERT_TRUE(
      r.add("xdp", xdpCollector([] { return common::Result<XdpSnapshot>(knownXdp()); })).ok());
  auto out = r.collect();
  for (const auto& p : lintFamilies(out)) ADD_FAILURE() << p;
  std::set<std::string> names;
  for (const auto& f : out) EXPECT_TRUE(names.insert(f.name).second) << f.name;
}

}  // namespace
}  // namespace mamori::metrics
