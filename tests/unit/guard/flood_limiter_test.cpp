#include "guard/flood_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mamori::guard {
namespace {

using namespace std::chrono_literals;

common::IpPrefix ip(const std::string& text) { return common::parseIpPrefix(text).value(); }

struct RecordedBan {
  common::IpPrefix source;
  std::chrono::seconds ttl;
  BanReason reason;
};

class RecordingSink : public BanSink {
 public:
  void ban(const common::IpPrefix& source, std::chrono::seconds ttl, BanReason reason) override {
    std::lock_guard lock(mu_);
    bans_.push_back({source, ttl, reason});
  }
  std::vector<RecordedBan> bans() const {
    std::lock_guard lock(mu_);
    return bans_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<RecordedBan> bans_;
};

// A site with only the limits a test turns on.
FloodSiteConfig quiet(const std::string& name = "shop") {
  FloodSiteConfig c;
  c.name = name;
  c.per_ip.requests = 0;
  c.per_prefix.requests = 0;
  c.per_path.requests = 0;
  c.per_site.requests = 0;
  c.ban_after = 0;
  c.tables = {1024, 1024, 1024};
  return c;
}

class FloodLimiterTest : public ::testing::Test {
 protected:
  std::unique_ptr<FloodLimiter> make(std::vector<FloodSiteConfig> sites,
                                     const FloodLimiter* previous = nullptr) {
    FloodOptions o;
    o.hash_key = std::array<std::uint8_t, 16>{1, 2, 3};
    o.carry_over_from = previous;
    auto l = FloodLimiter::create(std::move(sites), clock_, &sink_, o);
    EXPECT_TRUE(l) << (l ? "" : l.error().message);
    return l ? std::move(*l) : nullptr;
  }
  // Sends `n` requests; returns how many passed.
  int send(FloodLimiter& l, const std::string& from, int n, const std::string& path = "/") {
    int passed = 0;
    for (int i = 0; i < n; ++i)
      if (!l.check(0, ip(from), path).refuse()) ++passed;
    return passed;
  }
  ManualClock clock_{std::chrono::hours(1)};
  RecordingSink sink_;
};

TEST_F(FloodLimiterTest, PerIpRefusesOverThresholdWithRetryAfter) {
  auto c = quiet();
  c.per_ip = {10, 60s};
  auto l = make({c});
  EXPECT_EQ(send(*l, "192.0.2.1", 10), 10);
  FloodDecision d = l->check(0, ip("192.0.2.1"), "/");
  EXPECT_TRUE(d.refuse());
  EXPECT_EQ(d.action, FloodAction::TooManyRequests);
  EXPECT_EQ(d.limit, FloodLimit::PerIp);
  // All 11 requests sit in the newest 10 s bucket: back under the
  // threshold only when that bucket leaves the window, a whole window on.
  EXPECT_GE(d.retry_after, 50s);
  EXPECT_LE(d.retry_after, 60s);
  // Another source is not affected.
  EXPECT_EQ(send(*l, "192.0.2.2", 10), 10);
}

TEST_F(FloodLimiterTest, WindowSlidesAndSourceRecovers) {
  auto c = quiet();
  c.per_ip = {6, 60s};
  auto l = make({c});
  EXPECT_EQ(send(*l, "192.0.2.1", 8), 6);
  clock_.advance(30s);
  EXPECT_EQ(send(*l, "192.0.2.1", 1), 0);  // still 8 in the window
  clock_.advance(40s);                     // the first burst left the window
  EXPECT_EQ(send(*l, "192.0.2.1", 5), 5);
}

TEST_F(FloodLimiterTest, FirstRefusalIsLoggedThenOnePerWindowWithCount) {
  auto c = quiet();
  c.per_ip = {5, 10s};
  auto l = make({c});
  send(*l, "192.0.2.1", 5);
  FloodDecision first = l->check(0, ip("192.0.2.1"), "/");
  ASSERT_TRUE(first.event.has_value());
  EXPECT_EQ(first.event->limit, FloodLimit::PerIp);
  EXPECT_EQ(first.event->value, 6u);
  EXPECT_EQ(first.event->threshold, 5u);
  EXPECT_EQ(first.event->refused, 1u);
  EXPECT_EQ(first.event->subject, ip("192.0.2.1"));
  int events = 0;
  for (int i = 0; i < 50; ++i)
    if (l->check(0, ip("192.0.2.1"), "/").event) ++events;
  EXPECT_EQ(events, 0);
  clock_.advance(10s);  // a new window: the count starts over, and so does the log
  EXPECT_EQ(send(*l, "192.0.2.1", 5), 5);
  FloodDecision next = l->check(0, ip("192.0.2.1"), "/");
  ASSERT_TRUE(next.event.has_value());
  EXPECT_EQ(next.event->refused, 51u);  // the 50 silent ones and this one
}

// A 1 s window is one second: a client at 10 r/s under a 20-per-second
// limit is never refused, however long it keeps going (a window shorter
// than six buckets once counted six seconds).
TEST_F(FloodLimiterTest, AOneSecondWindowIsOneSecond) {
  auto c = quiet();
  c.per_ip = {20, 1s};
  auto l = make({c});
  for (int second = 0; second < 10; ++second) {
    EXPECT_EQ(send(*l, "192.0.2.1", 10), 10) << second;
    clock_.advance(1s);
  }
  EXPECT_EQ(send(*l, "192.0.2.1", 25), 20);  // 20 in one second, then refused
}

TEST_F(FloodLimiterTest, ExcessLeadsToOneBanWithTtl) {
  auto c = quiet();
  c.per_ip = {5, 60s};
  c.ban_after = 3;
  c.ban_ttl = 120s;
  auto l = make({c});
  send(*l, "192.0.2.9", 5);
  EXPECT_EQ(l->check(0, ip("192.0.2.9"), "/").action, FloodAction::TooManyRequests);
  EXPECT_EQ(l->check(0, ip("192.0.2.9"), "/").action, FloodAction::TooManyRequests);
  FloodDecision d = l->check(0, ip("192.0.2.9"), "/");
  EXPECT_EQ(d.action, FloodAction::Ban);
  ASSERT_TRUE(d.event.has_value());
  EXPECT_EQ(d.event->action, FloodAction::Ban);
  EXPECT_EQ(d.event->ban_ttl, 120s);
  auto bans = sink_.bans();
  ASSERT_EQ(bans.size(), 1u);
  EXPECT_EQ(bans[0].source, ip("192.0.2.9"));
  EXPECT_EQ(bans[0].ttl, 120s);
  EXPECT_EQ(bans[0].reason, BanReason::Flood);
  // While banned, requests that still reach the site are refused with the
  // ban's remaining time and no second ban.
  clock_.advance(20s);
  FloodDecision later = l->check(0, ip("192.0.2.9"), "/");
  EXPECT_TRUE(later.refuse());
  EXPECT_EQ(later.retry_after, 100s);
  EXPECT_FALSE(later.event.has_value());
  EXPECT_EQ(sink_.bans().size(), 1u);
  auto st = l->status("shop");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->counters.bans, 1u);
  ASSERT_EQ(st->top_sources.size(), 1u);
  EXPECT_EQ(st->top_sources[0].source, ip("192.0.2.9"));
  EXPECT_EQ(st->top_sources[0].banned_s, 100);
}

TEST_F(FloodLimiterTest, LiftingABanServesTheSourceAgainOnceItsWindowPassed) {
  auto c = quiet();
  c.per_ip = {5, 60s};
  c.ban_after = 2;
  c.ban_ttl = 600s;
  auto l = make({c});
  for (const char* from : {"192.0.2.9", "198.51.100.7", "2001:db8:1:2::5"}) send(*l, from, 8);
  ASSERT_EQ(sink_.bans().size(), 3u);
  clock_.advance(61s);  // the per_ip windows pass; the bans (600 s) do not
  EXPECT_TRUE(l->check(0, ip("192.0.2.9"), "/").refuse());
  // The operator lifts the host ban and the /64 around the IPv6 source.
  EXPECT_EQ(l->liftBan(ip("192.0.2.9")), 1u);
  EXPECT_EQ(l->liftBan(ip("2001:db8:1:2::/64")), 1u);
  EXPECT_EQ(l->liftBan(ip("203.0.113.0/24")), 0u);  // nobody banned in there
  EXPECT_FALSE(l->check(0, ip("192.0.2.9"), "/").refuse());
  EXPECT_FALSE(l->check(0, ip("2001:db8:1:2::5"), "/").refuse());
  EXPECT_TRUE(l->check(0, ip("198.51.100.7"), "/").refuse());  // its ban stands
  auto st = l->status("shop");
  ASSERT_TRUE(st);
  ASSERT_EQ(st->top_sources.size(), 1u);
  EXPECT_EQ(st->top_sources[0].source, ip("198.51.100.7"));
}

TEST_F(FloodLimiterTest, NoXdpBanForAClientSeenThroughAProxyButStillRefused) {
  auto c = quiet();
  c.per_ip = {2, 60s};
  c.ban_after = 1;
  auto l = make({c});
  send(*l, "192.0.2.1", 2);
  FloodDecision d = l->check(0, ip("192.0.2.1"), "/", /*xdp_ban=*/false);
  EXPECT_EQ(d.action, FloodAction::Ban);
  ASSERT_TRUE(d.event.has_value());
  EXPECT_FALSE(d.event->xdp);
  EXPECT_TRUE(sink_.bans().empty());
  EXPECT_TRUE(l->check(0, ip("192.0.2.1"), "/", false).refuse());
}

TEST_F(FloodLimiterTest, Ipv6BanCoversTheSlash64WhenAsked) {
  auto c = quiet();
  c.per_ip = {2, 60s};
  c.ban_after = 1;
  c.ban_ipv6_prefix64 = true;
  auto l = make({c});
  send(*l, "2001:db8:5:6::77", 3);
  send(*l, "192.0.2.1", 3);  // IPv4 sources are still banned as hosts
  auto bans = sink_.bans();
  ASSERT_EQ(bans.size(), 2u);
  EXPECT_EQ(bans[0].source, ip("2001:db8:5:6::/64"));
  EXPECT_EQ(bans[1].source, ip("192.0.2.1"));
}

TEST_F(FloodLimiterTest, PerPrefixCountsNeighboursButNeverBans) {
  auto c = quiet();
  c.per_prefix = {20, 60s};
  c.ban_after = 1;
  auto l = make({c});
  int passed = 0;
  for (int host = 1; host <= 30; ++host)
    passed += send(*l, "198.51.100." + std::to_string(host), 1);
  EXPECT_EQ(passed, 20);
  FloodDecision d = l->check(0, ip("198.51.100.77"), "/");
  EXPECT_EQ(d.limit, FloodLimit::PerPrefix);
  EXPECT_TRUE(sink_.bans().empty());
  // Another /24 is its own budget.
  EXPECT_EQ(send(*l, "198.51.101.1", 5), 5);
}

TEST_F(FloodLimiterTest, PerPrefixUsesSlash64ForIpv6) {
  auto c = quiet();
  c.per_prefix = {3, 60s};
  auto l = make({c});
  EXPECT_EQ(send(*l, "2001:db8:1:2::1", 2), 2);
  EXPECT_EQ(send(*l, "2001:db8:1:2:ffff::9", 2), 1);  // same /64
  EXPECT_EQ(send(*l, "2001:db8:1:3::1", 3), 3);       // next /64
}

TEST_F(FloodLimiterTest, Ipv4MappedCountsAsIpv4) {
  auto c = quiet();
  c.per_ip = {3, 60s};
  auto l = make({c});
  EXPECT_EQ(send(*l, "192.0.2.5", 2), 2);
  EXPECT_EQ(send(*l, "::ffff:192.0.2.5", 2), 1);
}

TEST_F(FloodLimiterTest, PerPathLimitsOneUrlAndCountsTowardBan) {
  auto c = quiet();
  c.per_path = {4, 60s};
  c.ban_after = 3;
  auto l = make({c});
  EXPECT_EQ(send(*l, "192.0.2.3", 4, "/search"), 4);
  FloodDecision d = l->check(0, ip("192.0.2.3"), "/search");
  EXPECT_EQ(d.limit, FloodLimit::PerPath);
  ASSERT_TRUE(d.event.has_value());
  EXPECT_EQ(d.event->limit, FloodLimit::PerPath);
  EXPECT_EQ(send(*l, "192.0.2.3", 4, "/other"), 4);   // other paths are fine
  EXPECT_EQ(send(*l, "192.0.2.4", 4, "/search"), 4);  // other sources too
  EXPECT_EQ(send(*l, "192.0.2.3", 2, "/search"), 0);
  ASSERT_EQ(sink_.bans().size(), 1u);
  EXPECT_EQ(sink_.bans()[0].source, ip("192.0.2.3"));
}

TEST_F(FloodLimiterTest, PerSiteRefusesNewExcessWithoutBanning) {
  auto c = quiet();
  c.per_site = {10, 10s};
  c.ban_after = 1;
  auto l = make({c});
  int passed = 0;
  for (int host = 1; host <= 15; ++host) passed += send(*l, "203.0.113." + std::to_string(host), 1);
  EXPECT_EQ(passed, 10);
  FloodDecision d = l->check(0, ip("203.0.113.200"), "/");
  EXPECT_EQ(d.limit, FloodLimit::PerSite);
  EXPECT_GE(d.retry_after, 1s);
  EXPECT_TRUE(sink_.bans().empty());
  clock_.advance(12s);  // 10 s in six 2 s buckets: the burst has left
  EXPECT_EQ(send(*l, "203.0.113.1", 1), 1);
  auto st = l->status("shop");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->counters.refused[static_cast<std::size_t>(FloodLimit::PerSite)], 6u);
}

TEST_F(FloodLimiterTest, SourceRefusedPerIpDoesNotUseSiteBudget) {
  auto c = quiet();
  c.per_ip = {5, 60s};
  c.per_site = {20, 60s};
  auto l = make({c});
  EXPECT_EQ(send(*l, "192.0.2.66", 500), 5);
  // 15 of the site's 20 are left for everyone else.
  int passed = 0;
  for (int host = 1; host <= 15; ++host) passed += send(*l, "203.0.113." + std::to_string(host), 1);
  EXPECT_EQ(passed, 15);
}

TEST_F(FloodLimiterTest, AllowListIsNeverCounted) {
  auto c = quiet();
  c.per_ip = {2, 60s};
  c.allow = {ip("10.9.0.0/16")};
  auto l = make({c});
  EXPECT_EQ(send(*l, "10.9.1.1", 100), 100);
  EXPECT_EQ(send(*l, "10.10.1.1", 3), 2);
}

TEST_F(FloodLimiterTest, DetectionOnlyLogsButNeitherRefusesNorBans) {
  auto c = quiet();
  c.per_ip = {2, 60s};
  c.ban_after = 1;
  c.detection_only = true;
  auto l = make({c});
  send(*l, "192.0.2.1", 2);
  FloodDecision d = l->check(0, ip("192.0.2.1"), "/");
  EXPECT_FALSE(d.refuse());
  EXPECT_EQ(d.action, FloodAction::Ban);
  ASSERT_TRUE(d.event.has_value());
  EXPECT_FALSE(d.event->enforced);
  EXPECT_TRUE(sink_.bans().empty());
}

TEST_F(FloodLimiterTest, TablesAreBoundedUnderASpray) {
  auto c = quiet();
  c.per_ip = {5, 60s};
  c.tables = {512, 512, 512};
  auto l = make({c});
  const std::size_t before = l->memoryBytes();
  for (int i = 0; i < 20000; ++i) {
    l->check(0,
             ip("10." + std::to_string(i / 65536) + "." + std::to_string((i / 256) % 256) + "." +
                std::to_string(i % 256)),
             "/");
  }
  EXPECT_EQ(l->memoryBytes(), before);
  auto st = l->status("shop");
  ASSERT_TRUE(st);
  EXPECT_GT(st->evictions, 0u);
  // A heavy hitter survives the spray: its count kept it in the table.
  auto l2 = make({c});
  send(*l2, "192.0.2.1", 5);
  for (int i = 0; i < 5000; ++i)
    l2->check(0, ip("10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256)), "/");
  EXPECT_TRUE(l2->check(0, ip("192.0.2.1"), "/").refuse());
}

TEST_F(FloodLimiterTest, ReloadKeepsTablesWhenWindowsUnchanged) {
  auto c = quiet();
  c.per_ip = {5, 60s};
  auto l = make({c});
  send(*l, "192.0.2.1", 5);
  c.per_ip.requests = 6;  // a threshold change keeps the counts
  auto kept = make({c}, l.get());
  EXPECT_EQ(send(*kept, "192.0.2.1", 2), 1);
  c.per_ip.window = 30s;  // a window change starts afresh
  auto fresh = make({c}, kept.get());
  EXPECT_EQ(send(*fresh, "192.0.2.1", 6), 6);
}

TEST_F(FloodLimiterTest, ValidateRefusesOutOfRangeValues) {
  auto c = quiet();
  c.per_ip = {60001, 60s};
  auto r = FloodLimiter::create({c}, clock_, &sink_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "site shop: flood.per_ip.requests must be 0..60000");
  c = quiet();
  c.ban_ttl = 0s;
  EXPECT_FALSE(FloodLimiter::create({c}, clock_, &sink_));
  c = quiet();
  EXPECT_FALSE(FloodLimiter::create({c, c}, clock_, &sink_));
  c.tables.sources = 0;
  EXPECT_FALSE(FloodLimiter::create({c}, clock_, &sink_));
}

TEST_F(FloodLimiterTest, UnknownSitePassesAndStatusFails) {
  auto l = make({quiet()});
  EXPECT_FALSE(l->findSite("other").has_value());
  EXPECT_FALSE(l->check(7, ip("192.0.2.1"), "/").refuse());
  auto st = l->status("other");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ENOENT);
}

TEST_F(FloodLimiterTest, ConcurrentSiteCounterIsExact) {
  auto c = quiet();
  c.per_site = {60000, 60s};
  auto l = make({c});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) l->check(0, ip("10.0." + std::to_string(t) + ".1"), "/");
    });
  for (auto& t : threads) t.join();
  auto st = l->status("shop");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->site_requests, 20000u);
  EXPECT_EQ(st->counters.checked, 20000u);
}

// Lock-free check(): four workers flooding one source over per_ip. Every
// count is exact at a fixed clock, so exactly per_ip.requests requests
// pass, and of the workers racing over ban_after exactly one issues the
// ban and reports it.
TEST_F(FloodLimiterTest, ConcurrentFloodOfOneSourceIsBannedExactlyOnce) {
  auto c = quiet();
  c.per_ip = {100, 60s};
  c.ban_after = 50;
  auto l = make({c});
  constexpr int kThreads = 4, kEach = 2000;
  std::atomic<int> passed{0}, bans{0}, ban_events{0}, refusal_events{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        FloodDecision d = l->check(0, ip("192.0.2.77"), "/");
        if (!d.refuse()) ++passed;
        if (d.action == FloodAction::Ban) ++bans;
        if (d.event && d.event->action == FloodAction::Ban) ++ban_events;
        if (d.event && d.event->action == FloodAction::TooManyRequests) ++refusal_events;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(passed.load(), 100);
  EXPECT_EQ(bans.load(), 1);
  EXPECT_EQ(ban_events.load(), 1);
  EXPECT_EQ(refusal_events.load(), 1);  // the window's first refusal
  ASSERT_EQ(sink_.bans().size(), 1u);
  EXPECT_EQ(sink_.bans()[0].source.toString(), "192.0.2.77");
  auto st = l->status("shop");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->counters.bans, 1u);
  EXPECT_EQ(st->counters.checked, std::uint64_t{kThreads} * kEach);
  EXPECT_EQ(st->counters.refused[0], std::uint64_t{kThreads} * kEach - 100);
  ASSERT_EQ(st->top_sources.size(), 1u);
  EXPECT_EQ(st->top_sources[0].requests, std::uint32_t{kThreads} * kEach);
  // Banned at the 50th excess request; requests in flight on the other
  // workers as the ban was set may add theirs.
  EXPECT_GE(st->top_sources[0].excess, 50u);
  EXPECT_LE(st->top_sources[0].excess, 50u + kThreads - 1);
  EXPECT_EQ(st->top_sources[0].banned_s, 600);
}

// The same through per_path: the excess that bans comes back to the
// source's entry from the path table.
TEST_F(FloodLimiterTest, ConcurrentPerPathFloodIsBannedExactlyOnce) {
  auto c = quiet();
  c.per_path = {20, 60s};
  c.ban_after = 30;
  auto l = make({c});
  std::atomic<int> passed{0}, bans{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        FloodDecision d = l->check(0, ip("2001:db8::5"), "/search");
        if (!d.refuse()) ++passed;
        if (d.action == FloodAction::Ban) ++bans;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(passed.load(), 20);
  EXPECT_EQ(bans.load(), 1);
  EXPECT_EQ(sink_.bans().size(), 1u);
  // Banned: every other path of the source is refused now too.
  EXPECT_TRUE(l->check(0, ip("2001:db8::5"), "/other").refuse());
}

// A spray of one-off sources from four workers into small tables: memory
// stays what create() allocated, nothing crashes, and a banned source
// (the heaviest weight) is not evicted by it.
TEST_F(FloodLimiterTest, ConcurrentSprayStaysBoundedAndKeepsTheBan) {
  auto c = quiet();
  c.per_ip = {5, 60s};
  c.per_prefix = {50000, 60s};
  c.per_path = {50000, 60s};
  c.ban_after = 1;
  c.tables = {512, 512, 512};
  auto l = make({c});
  const std::size_t memory = l->memoryBytes();
  EXPECT_EQ(send(*l, "198.51.100.9", 6), 5);  // the 6th is refused and bans
  ASSERT_EQ(sink_.bans().size(), 1u);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      common::IpPrefix p = ip("10.0.0.0");
      for (int i = 0; i < 25000; ++i) {
        p.bytes[1] = static_cast<std::uint8_t>(t);
        p.bytes[2] = static_cast<std::uint8_t>(i >> 8);
        p.bytes[3] = static_cast<std::uint8_t>(i);
        l->check(0, p, "/p" + std::to_string(i % 7));
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(l->memoryBytes(), memory);
  auto st = l->status("shop", 1000);
  ASSERT_TRUE(st);
  EXPECT_GT(st->evictions, 0u);
  EXPECT_EQ(st->counters.checked, 6u + 4 * 25000);
  EXPECT_EQ(sink_.bans().size(), 1u);  // one-off sources never reach a ban
  FloodDecision d = l->check(0, ip("198.51.100.9"), "/");
  EXPECT_TRUE(d.refuse());
  EXPECT_GE(d.retry_after, 590s);
}

// A ban decided for one source must never land in the entry of the source
// its slot was just handed to. One worker bans source after source (each
// one's second request) while the other sprays one-off sources through
// the same single set of eight slots, so slots are evicted under the
// banning worker. A one-off source's only request is refused as "banned"
// (a retry-after of the ban TTL) only if someone else's ban was written
// into its fresh entry: SourceEntry::clear() must drop the identity before
// the ban, so that the banning worker's re-check after its CAS sees the
// slot is no longer its source and takes the ban back.
TEST_F(FloodLimiterTest, BanNeverLandsInAnEvictedSlotsNewSource) {
  auto c = quiet();
  c.per_ip = {1, 60s};
  c.ban_after = 1;
  c.ban_ttl = 600s;
  c.tables = {8, 8, 8};  // one set: every insert evicts
  auto l = make({c});
  constexpr int kRounds = 150000;
  std::atomic<bool> done{false};
  std::atomic<int> wrongly_banned{0};
  std::thread banner([&] {
    common::IpPrefix p = ip("10.1.0.0");
    for (int i = 0; i < kRounds; ++i) {
      p.bytes[1] = static_cast<std::uint8_t>(1 + (i >> 16));
      p.bytes[2] = static_cast<std::uint8_t>(i >> 8);
      p.bytes[3] = static_cast<std::uint8_t>(i);
      l->check(0, p, "/");
      l->check(0, p, "/");  // over per_ip: refused and banned
    }
    done = true;
  });
  common::IpPrefix v = ip("172.16.0.0");
  std::uint32_t n = 0;
  while (!done.load()) {
    v.bytes[1] = static_cast<std::uint8_t>(16 + (n >> 16));
    v.bytes[2] = static_cast<std::uint8_t>(n >> 8);
    v.bytes[3] = static_cast<std::uint8_t>(n);
    ++n;
    const FloodDecision d = l->check(0, v, "/");
    if (d.refuse() && d.action == FloodAction::TooManyRequests && d.retry_after > 60s)
      ++wrongly_banned;
  }
  banner.join();
  EXPECT_GT(n, 1000u);
  EXPECT_EQ(wrongly_banned.load(), 0) << "of " << n << " one-off sources";
}

// docs/l7-dos.md quotes these sizes (the memory cost per tracked source):
// six 64-bit bucket words per window (AtomicWindowCount), the log marks,
// the ban and the address, plus the 8-byte key.
TEST(FloodLimiterMemory, EntrySizesMatchTheDocs) {
  EXPECT_EQ(FloodLimiter::sourceEntryBytes(), 152u);
  EXPECT_EQ(FloodLimiter::prefixEntryBytes(), 64u);
  EXPECT_EQ(FloodLimiter::pathEntryBytes(), 56u);
  ManualClock clock;
  FloodSiteConfig c;
  c.name = "shop";
  auto l = FloodLimiter::create({c}, clock, nullptr);
  ASSERT_TRUE(l);
  // Defaults: 65536 x 152 + 16384 x 64 + 65536 x 56 bytes: 14 MiB per site
  // and a few hundred bytes of counters.
  EXPECT_GE((*l)->memoryBytes(), 65536u * 152 + 16384u * 64 + 65536u * 56);
  EXPECT_LT((*l)->memoryBytes(), 65536u * 152 + 16384u * 64 + 65536u * 56 + 4096);
}

}  // namespace
}  // namespace mamori::guard
