// FloodProtection (daemon/flood_protection.h): the flood limiter driven
// through the engine's verdict and connection hooks as mamorid wires them,
// with a manual clock and a fake ban sink; the settings conversion; the DoS
// records.

#include "daemon/flood_protection.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>
#include <string>

#include "config/loader.h"
#include "daemon/control_services.h"
#include "http/request_parser.h"

namespace mamori::daemon {
namespace {

using namespace std::chrono_literals;

config::Config load(const std::string& flood, const std::string& mode = "block") {
  const std::string yaml =
      "tenants:\n"
      "  - id: acme\n"
      "    sites:\n"
      "      - name: web\n"
      "        hosts: [www.example.com]\n"
      "        mode: " +
      mode +
      "\n"
      "        listeners:\n"
      "          - address: 127.0.0.1:8080\n"
      "        upstreams:\n"
      "          - address: 127.0.0.1:9000\n" +
      flood +
      "      - name: other\n"
      "        hosts: [other.example.com]\n"
      "        listeners:\n"
      "          - address: 127.0.0.1:8080\n"
      "        upstreams:\n"
      "          - address: 127.0.0.1:9000\n";
  config::LoadOptions options;
  options.check_file = nullptr;
  auto c = config::loadConfigString(yaml, "t.yaml", options);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : config::Config{};
}

const std::string kSmall =
    "        flood:\n"
    "          per_ip: {requests: 5, window: 60s}\n"
    "          ban: {after: 3, ttl: 5m}\n"
    "          tables: {sources: 512, prefixes: 512, paths: 512}\n";

struct FakeSink final : guard::BanSink {
  void ban(const common::IpPrefix& source, std::chrono::seconds ttl,
           guard::BanReason reason) override {
    std::lock_guard lock(mu);
    bans.push_back({source, ttl});
    reasons.push_back(reason);
  }
  std::mutex mu;
  std::vector<std::pair<common::IpPrefix, std::chrono::seconds>> bans;
  std::vector<guard::BanReason> reasons;
};

http::Request get(const std::string& path) {
  std::string raw =
      "GET " + path + " HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: flood/1\r\n\r\n";
  http::RequestParser parser;
  std::size_t used = 0;
  EXPECT_EQ(parser.feed(raw, &used), http::ParseStatus::Done);
  return parser.takeRequest();
}

net::Verdict send(FloodProtection& fp, const std::string& ip, const std::string& site = "web",
                  const std::string& path = "/") {
  net::RequestContext ctx;
  ctx.site = site;
  ctx.peer = config::parseIpAddress(ip).value();
  ctx.peer_port = 40000;
  ctx.request_id = "0123456789abcdef";
  return fp.onRequest(get(path), ctx);
}

net::ConnectionEvent connEvent(net::ConnectionEventKind kind, const std::string& ip,
                               std::string_view site = {}) {
  net::ConnectionEvent e;
  e.kind = kind;
  e.peer = config::parseIpAddress(ip).value();
  e.site = site;
  return e;
}

TEST(FloodSettings, DefaultsModeDetectAndDisabled) {
  auto s = floodSettings(load("        flood: {enabled: true}\n"));
  ASSERT_TRUE(s);
  ASSERT_EQ(s->size(), 1u);
  const guard::FloodSiteConfig defaults;
  EXPECT_EQ((*s)[0].name, "web");
  EXPECT_EQ((*s)[0].per_ip, defaults.per_ip);
  EXPECT_EQ((*s)[0].per_site.requests, 0u);
  EXPECT_FALSE((*s)[0].detection_only);
  auto detect = floodSettings(load("        flood: {per_ip: {requests: 7}}\n", "detect"));
  ASSERT_TRUE(detect);
  ASSERT_EQ(detect->size(), 1u);
  EXPECT_TRUE((*detect)[0].detection_only);
  EXPECT_EQ((*detect)[0].per_ip.requests, 7u);
  EXPECT_EQ((*detect)[0].per_ip.window, 60s);
  auto off = floodSettings(load("        flood: {enabled: false}\n"));
  ASSERT_TRUE(off);
  EXPECT_TRUE(off->empty());
}

TEST(FloodProtection, RefusesWith429ThenBansThroughTheSink) {
  guard::ManualClock clock;
  FakeSink sink;
  auto fp = FloodProtection::create(load(kSmall), clock, nullptr, &sink);
  ASSERT_TRUE(fp) << fp.error().message;
  EXPECT_TRUE((*fp)->active());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(send(**fp, "192.0.2.7").action, net::Verdict::Action::Pass);
  net::Verdict v = send(**fp, "192.0.2.7");
  EXPECT_EQ(v.action, net::Verdict::Action::Block);
  EXPECT_EQ(v.status, 429);
  EXPECT_GE(v.retry_after, 1s);
  send(**fp, "192.0.2.7");
  send(**fp, "192.0.2.7");  // third excess: ban
  ASSERT_EQ(sink.bans.size(), 1u);
  EXPECT_EQ(sink.bans[0].first.toString(), "192.0.2.7");
  EXPECT_EQ(sink.bans[0].second, 300s);
  EXPECT_EQ(sink.reasons[0], guard::BanReason::Flood);
  // The other site has no flood section, and another source is fine.
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(send(**fp, "192.0.2.7", "other").action, net::Verdict::Action::Pass);
  EXPECT_EQ(send(**fp, "192.0.2.8").action, net::Verdict::Action::Pass);
  FloodStats s = (*fp)->stats();
  EXPECT_EQ(s.too_many_requests, 3u);
  EXPECT_EQ(s.ban, 1u);
  EXPECT_EQ(s.log_records, 2u);  // the first refusal, then the ban
  auto st = (*fp)->status("", 10);
  ASSERT_TRUE(st);
  ASSERT_EQ(st->size(), 1u);
  EXPECT_EQ((*st)[0].counters.bans, 1u);
  ASSERT_FALSE((*st)[0].top_sources.empty());
  EXPECT_EQ((*st)[0].top_sources[0].source.toString(), "192.0.2.7");
  EXPECT_FALSE((*fp)->status("other", 10));
}

TEST(FloodProtection, DetectOnlySiteLogsButPasses) {
  guard::ManualClock clock;
  FakeSink sink;
  auto fp = FloodProtection::create(load(kSmall, "detect"), clock, nullptr, &sink);
  ASSERT_TRUE(fp);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(send(**fp, "192.0.2.7").action, net::Verdict::Action::Pass);
  EXPECT_TRUE(sink.bans.empty());
  EXPECT_EQ((*fp)->stats().detect_only, 15u);
  EXPECT_GE((*fp)->stats().log_records, 1u);
}

TEST(FloodProtection, ReloadKeepsCountersOfUnchangedWindows) {
  guard::ManualClock clock;
  auto fp = FloodProtection::create(load(kSmall), clock, nullptr, nullptr);
  ASSERT_TRUE(fp);
  for (int i = 0; i < 5; ++i) send(**fp, "192.0.2.7");
  auto summary = (*fp)->reload(load(kSmall));
  ASSERT_TRUE(summary);
  EXPECT_EQ(send(**fp, "192.0.2.7").status, 429);
  auto off = (*fp)->reload(load(""));
  ASSERT_TRUE(off);
  EXPECT_FALSE((*fp)->active());
  EXPECT_EQ(send(**fp, "192.0.2.7").action, net::Verdict::Action::Pass);
}

TEST(FloodProtection, ConnectionEventsAreCountedAndLoggedOncePerMinutePerSource) {
  guard::ManualClock clock;
  auto fp = FloodProtection::create(load(""), clock, nullptr, nullptr);
  ASSERT_TRUE(fp);
  EXPECT_FALSE((*fp)->active());
  for (int i = 0; i < 100; ++i)
    (*fp)->onConnection(connEvent(net::ConnectionEventKind::HeaderTimeout, "192.0.2.50", "web"));
  (*fp)->onConnection(connEvent(net::ConnectionEventKind::HeaderTimeout, "192.0.2.51"));
  (*fp)->onConnection(connEvent(net::ConnectionEventKind::BodyTimeout, "192.0.2.50", "web"));
  (*fp)->onConnection(connEvent(net::ConnectionEventKind::OverSourceCap, "192.0.2.50"));
  FloodStats s = (*fp)->stats();
  EXPECT_EQ(s.slowloris_cut, 101u);
  EXPECT_EQ(s.slow_post_cut, 1u);
  EXPECT_EQ(s.conn_over_source_cap, 1u);
  EXPECT_EQ(s.log_records, 4u);  // one per (source, kind)
  clock.advance(61s);
  (*fp)->onConnection(connEvent(net::ConnectionEventKind::HeaderTimeout, "192.0.2.50", "web"));
  EXPECT_EQ((*fp)->stats().log_records, 5u);
}

// The request path takes no lock: four workers flooding one source get
// exactly five passes (the limit), one ban through the sink and two log
// records (the first refusal, then the ban).
TEST(FloodProtection, ConcurrentWorkersBanAFloodingSourceOnce) {
  guard::ManualClock clock;
  FakeSink sink;
  auto fp = FloodProtection::create(load(kSmall), clock, nullptr, &sink);
  ASSERT_TRUE(fp) << fp.error().message;
  const http::Request request = get("/");
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      net::RequestContext ctx;
      ctx.site = "web";
      ctx.peer = config::parseIpAddress("192.0.2.70").value();
      for (int i = 0; i < 500; ++i)
        if ((*fp)->onRequest(request, ctx).action == net::Verdict::Action::Pass) ++passed;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(passed.load(), 5);
  ASSERT_EQ(sink.bans.size(), 1u);
  EXPECT_EQ(sink.bans[0].first.toString(), "192.0.2.70");
  FloodStats s = (*fp)->stats();
  EXPECT_EQ(s.checked, 2000u);
  EXPECT_EQ(s.ban, 1u);
  EXPECT_EQ(s.too_many_requests, 1995u);
  EXPECT_EQ(s.log_records, 2u);
}

// Connection events of one source from four workers: every event counted,
// one record per minute, carrying them all.
TEST(FloodProtection, ConcurrentConnectionEventsAreLoggedOncePerMinute) {
  guard::ManualClock clock;
  auto fp = FloodProtection::create(load(""), clock, nullptr, nullptr);
  ASSERT_TRUE(fp);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i)
        (*fp)->onConnection(connEvent(net::ConnectionEventKind::OverSourceCap, "192.0.2.80"));
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ((*fp)->stats().conn_over_source_cap, 4000u);
  EXPECT_EQ((*fp)->stats().log_records, 1u);
  clock.advance(61s);
  (*fp)->onConnection(connEvent(net::ConnectionEventKind::OverSourceCap, "192.0.2.80"));
  EXPECT_EQ((*fp)->stats().log_records, 2u);
  // A spray of sources larger than the marks table stays within it.
  std::vector<std::thread> spray;
  for (int t = 0; t < 4; ++t)
    spray.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        const std::string a = "10." + std::to_string(t) + "." + std::to_string(i / 256) + "." +
                              std::to_string(i % 256);
        (*fp)->onConnection(connEvent(net::ConnectionEventKind::HeaderTimeout, a));
      }
    });
  for (auto& t : spray) t.join();
  EXPECT_EQ((*fp)->stats().slowloris_cut, 40000u);
  // Each a new source, so each logged, but for a claim that lost every
  // race for its set (counted, not logged): rare, never more than a few.
  EXPECT_LE((*fp)->stats().log_records, 2u + 40000u);
  EXPECT_GE((*fp)->stats().log_records, 2u + 39900u);
}

TEST(FloodProtection, ControlServicesDosStatusCopiesLimitsSourcesAndConnections) {
  guard::ManualClock clock;
  auto fp = FloodProtection::create(load(kSmall), clock, nullptr, nullptr);
  ASSERT_TRUE(fp);
  ControlServices services("/nonexistent", "", 1);
  EXPECT_FALSE(services.dosStatus("", 10));  // nothing set yet
  services.setFlood(fp->get());
  for (int i = 0; i < 9; ++i) send(**fp, "192.0.2.7");
  (*fp)->onConnection(connEvent(net::ConnectionEventKind::OverSourceCap, "192.0.2.9"));
  auto st = services.dosStatus("", 10);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(st->conn_over_source_cap, 1u);
  EXPECT_EQ(st->too_many_requests, 4u);
  EXPECT_EQ(st->bans, 1u);
  ASSERT_EQ(st->sites.size(), 1u);
  const admin::DosSiteInfo& s = st->sites[0];
  EXPECT_EQ(s.site, "web");
  ASSERT_EQ(s.limits.size(), 4u);
  EXPECT_EQ(s.limits[0].name, "per_ip");
  EXPECT_EQ(s.limits[0].requests, 5u);
  EXPECT_EQ(s.limits[0].refused, 4u);
  EXPECT_EQ(s.ban_after, 3u);
  EXPECT_EQ(s.ban_ttl_s, 300);
  ASSERT_EQ(s.top_sources.size(), 1u);
  EXPECT_EQ(s.top_sources[0].source, "192.0.2.7");
  EXPECT_EQ(s.top_sources[0].banned_s, 300);
  auto other = services.dosStatus("other", 10);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ENOENT);
  // No flood section anywhere: the connection counters still answer.
  ASSERT_TRUE((*fp)->reload(load("")));
  auto none = services.dosStatus("", 10);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->sites.empty());
  EXPECT_EQ(none->conn_over_source_cap, 1u);
}

http::Request withXff(const std::string& value) {
  const std::string raw =
      "GET / HTTP/1.1\r\nHost: www.example.com\r\nX-Forwarded-For: " + value + "\r\n\r\n";
  http::RequestParser parser;
  std::size_t used = 0;
  EXPECT_EQ(parser.feed(raw, &used), http::ParseStatus::Done);
  return parser.takeRequest();
}

TEST(FloodProtection, ClientsBehindATrustedProxyAreCountedApartAndNotBannedAtXdp) {
  guard::ManualClock clock;
  FakeSink sink;
  auto cfg = load(kSmall);
  cfg.tenants[0].sites[0].trusted_proxies = {common::parseIpPrefix("10.0.0.0/8").value()};
  auto fp = FloodProtection::create(cfg, clock, nullptr, &sink);
  ASSERT_TRUE(fp);
  net::RequestContext ctx;
  ctx.site = "web";
  ctx.peer = config::parseIpAddress("10.0.0.2").value();
  auto from = [&](const std::string& client) { return (*fp)->onRequest(withXff(client), ctx); };
  int refused = 0;
  for (int i = 0; i < 10; ++i)
    if (from("203.0.113.5").action == net::Verdict::Action::Block) ++refused;
  EXPECT_EQ(refused, 5);
  EXPECT_TRUE(sink.bans.empty());  // the flooder's ban stays at the site
  EXPECT_EQ((*fp)->stats().ban, 1u);
  EXPECT_EQ(from("203.0.113.6").action, net::Verdict::Action::Pass);  // others behind the proxy
}

TEST(FloodRecords, RequestRecordCarriesLimitCountAndAction) {
  guard::FloodEvent e;
  e.limit = guard::FloodLimit::PerIp;
  e.action = guard::FloodAction::Ban;
  e.subject = common::parseIpPrefix("192.0.2.7").value();
  e.value = 40;
  e.threshold = 30;
  e.window = 10s;
  e.refused = 12;
  e.ban_ttl = 600s;
  FloodRequestContext c;
  c.tenant = "acme";
  c.site = "web";
  c.source_ip = "192.0.2.7";
  c.path = "/search";
  logs::LogRecord r = floodEventRecord(e, c);
  EXPECT_EQ(r.type, logs::LogType::Dos);
  EXPECT_EQ(r.rule_id, "dos.flood.per_ip");
  EXPECT_EQ(r.action, "ban");
  EXPECT_EQ(r.http_status, 429);
  EXPECT_EQ(r.tenant, "acme");
  EXPECT_EQ(r.message,
            "HTTP flood: per_ip 40/30 in 10s from 192.0.2.7, 12 refused; banned for 600s");
  bool has_ttl = false;
  for (const auto& f : r.details)
    if (f.key == "ban_ttl_s") has_ttl = true;
  EXPECT_TRUE(has_ttl);
}

TEST(FloodRecords, ConnectionRecordNamesKindAndCount) {
  logs::LogRecord r = connectionEventRecord(net::ConnectionEventKind::BodyTimeout, "acme", "web",
                                            "192.0.2.9", 3, 60s);
  EXPECT_EQ(r.type, logs::LogType::Dos);
  EXPECT_EQ(r.rule_id, "dos.conn.slow_post");
  EXPECT_EQ(r.action, "cut");
  EXPECT_EQ(r.message, "3 slow bodies from 192.0.2.9 cut by body_timeout (slow POST)");
}

}  // namespace
}  // namespace mamori::daemon
