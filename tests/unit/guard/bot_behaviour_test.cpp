#include "guard/bot_behaviour.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace mamori::guard {
namespace {

common::IpPrefix ip(const char* text) { return common::parseIpPrefix(text).value(); }

bool over(const BehaviourView& v, const char* what) {
  return std::find(v.over.begin(), v.over.end(), what) != v.over.end();
}

TEST(BehaviourTable, RateOverTheWindow) {
  BehaviourTable t(1024);
  BehaviourLimits l;
  l.max_requests = 5;
  BehaviourView v;
  for (int i = 0; i < 5; ++i) v = t.onRequest(1, ip("192.0.2.1"), 7, true, l, 100);
  EXPECT_EQ(v.requests, 5u);
  EXPECT_FALSE(over(v, "rate"));
  v = t.onRequest(1, ip("192.0.2.1"), 7, true, l, 100);
  EXPECT_TRUE(over(v, "rate"));
  // Another site and another source are counted apart.
  EXPECT_EQ(t.onRequest(2, ip("192.0.2.1"), 7, true, l, 100).requests, 1u);
  EXPECT_EQ(t.onRequest(1, ip("192.0.2.2"), 7, true, l, 100).requests, 1u);
  // The window slides out (six buckets of ceil(10 / 6) = 2 s: gone by 13 s).
  EXPECT_EQ(t.onRequest(1, ip("192.0.2.1"), 7, true, l, 100 + 13).requests, 1u);
}

TEST(BehaviourTable, DistinctPaths) {
  BehaviourTable t(1024);
  BehaviourLimits l;
  l.max_paths = 20;
  l.max_requests = 0;
  BehaviourView v;
  for (std::uint64_t i = 0; i < 10; ++i) v = t.onRequest(1, ip("192.0.2.1"), 42, true, l, 5);
  EXPECT_EQ(v.paths, 1u);
  for (std::uint64_t i = 0; i < 60; ++i)
    v = t.onRequest(1, ip("192.0.2.1"), (i + 1) * 0x9e3779b97f4a7c15ULL, true, l, 5);
  EXPECT_GT(v.paths, 20u);
  EXPECT_TRUE(over(v, "paths"));
}

TEST(BehaviourTable, ShareOf4xxNeedsEnoughAnswers) {
  BehaviourTable t(1024);
  BehaviourLimits l;
  l.max_4xx_percent = 50;
  l.min_responses = 10;
  const auto src = ip("2001:db8::5");
  for (int i = 0; i < 9; ++i) {
    t.onRequest(1, src, i, true, l, 5);
    t.onResponse(1, src, 404, false, l, 5);
  }
  EXPECT_FALSE(over(t.onRequest(1, src, 1, true, l, 5), "4xx_share"));  // 9 answers
  t.onResponse(1, src, 404, false, l, 5);
  auto v = t.onRequest(1, src, 1, true, l, 5);
  EXPECT_EQ(v.client_errors, 10u);
  EXPECT_TRUE(over(v, "4xx_share"));
  // Mostly 200s: under the share.
  const auto ok = ip("2001:db8::6");
  for (int i = 0; i < 20; ++i) {
    t.onRequest(1, ok, i, true, l, 5);
    t.onResponse(1, ok, i < 5 ? 404 : 200, false, l, 5);
  }
  EXPECT_FALSE(over(t.onRequest(1, ok, 1, true, l, 5), "4xx_share"));
}

TEST(BehaviourTable, CookiesSetButNeverReturned) {
  BehaviourTable t(1024);
  BehaviourLimits l;
  l.max_cookieless = 3;
  const auto src = ip("192.0.2.9");
  // Before any Set-Cookie, missing cookies mean nothing.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(t.onRequest(1, src, 1, false, l, 5).over.empty());
  t.onResponse(1, src, 200, true, l, 5);
  BehaviourView v;
  for (int i = 0; i < 4; ++i) v = t.onRequest(1, src, 1, false, l, 5);
  EXPECT_EQ(v.cookieless, 4u);
  EXPECT_TRUE(over(v, "no_cookies"));
  // A client that sends its cookies back is fine.
  const auto good = ip("192.0.2.10");
  t.onRequest(1, good, 1, false, l, 5);
  t.onResponse(1, good, 200, true, l, 5);
  for (int i = 0; i < 10; ++i) v = t.onRequest(1, good, 1, true, l, 5);
  EXPECT_FALSE(over(v, "no_cookies"));
}

TEST(BehaviourTable, BoundedUnderASpray) {
  BehaviourTable t(512);
  BehaviourLimits l;
  // A heavy source first, then a spray of one-off addresses.
  for (int i = 0; i < 50; ++i) t.onRequest(1, ip("198.51.100.1"), 1, true, l, 5);
  for (int i = 0; i < 100000; ++i) {
    common::IpPrefix p = ip("10.0.0.0");
    p.bytes[1] = static_cast<std::uint8_t>(i >> 16);
    p.bytes[2] = static_cast<std::uint8_t>(i >> 8);
    p.bytes[3] = static_cast<std::uint8_t>(i);
    t.onRequest(1, p, 1, true, l, 5);
  }
  EXPECT_EQ(t.capacity(), 512u);
  EXPECT_LE(t.sizeSlow(), 512u);
  EXPECT_GT(t.evictions(), 0u);
  // The heavy hitter survived the spray.
  auto top = t.top(1, std::nullopt, 5);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].source.toString(), "198.51.100.1");
  EXPECT_EQ(top[0].requests, 50u);
  // docs/bots.md quotes it: four windows of six 64-bit words, a sketch of
  // six 24-byte buckets, the identity and the verdict state.
  EXPECT_EQ(BehaviourTable::entryBytes(), 400u);
}

TEST(BehaviourTable, TopOrdersByBotRequestsAndRemembersBans) {
  BehaviourTable t(1024);
  BehaviourLimits l;
  for (int i = 0; i < 10; ++i) t.onRequest(1, ip("192.0.2.1"), 1, true, l, 5);
  t.onRequest(1, ip("192.0.2.2"), 1, true, l, 5);
  t.noteVerdict(1, ip("192.0.2.2"), BotClass::Scanner, 500, 5, 10);
  auto top = t.top(10, 1, 5);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].source.toString(), "192.0.2.2");
  EXPECT_EQ(top[0].last_class, BotClass::Scanner);
  EXPECT_EQ(top[0].banned_until_s, 500);
  EXPECT_EQ(t.onRequest(1, ip("192.0.2.2"), 1, true, l, 6).banned_until_s, 500);
  EXPECT_EQ(t.onRequest(1, ip("192.0.2.2"), 1, true, l, 501).banned_until_s, 0);
  EXPECT_TRUE(t.top(10, 2, 5).empty());
}

TEST(BehaviourTable, BotRecordsAreRateLimitedPerSource) {
  BehaviourTable t(1024);
  BehaviourLimits l;
  const auto src = ip("192.0.2.3");
  int written = 0;
  for (int i = 0; i < 100; ++i) {
    t.onRequest(1, src, 1, true, l, 7);
    written += t.noteVerdict(1, src, BotClass::Scanner, 0, 7, 10).write ? 1 : 0;
  }
  EXPECT_EQ(written, 10);
  // Next second: written again, saying how many were left out.
  t.onRequest(1, src, 1, true, l, 8);
  auto p = t.noteVerdict(1, src, BotClass::Scanner, 0, 8, 10);
  EXPECT_TRUE(p.write);
  EXPECT_EQ(p.suppressed_before, 90u);
  EXPECT_EQ(t.noteVerdict(1, src, BotClass::Scanner, 0, 8, 10).suppressed_before, 0u);
  // Another source has its own budget; an untracked one is always written.
  t.onRequest(1, ip("192.0.2.4"), 1, true, l, 7);
  EXPECT_TRUE(t.noteVerdict(1, ip("192.0.2.4"), BotClass::Tool, 0, 7, 10).write);
  EXPECT_TRUE(t.noteVerdict(1, ip("192.0.2.99"), BotClass::Tool, 0, 7, 10).write);
}

// Lock-free table: four workers counting one source see every request
// (exact at a fixed clock), and of the workers racing to ban it exactly
// one is told to issue the ban.
TEST(BehaviourTable, ConcurrentRequestsOfOneSourceAndOneBan) {
  BehaviourTable t(1024);
  BehaviourLimits l;
  const auto src = ip("192.0.2.60");
  constexpr int kThreads = 4, kEach = 5000;
  std::atomic<int> bans{0}, written{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w)
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        BehaviourView v = t.onRequest(1, src, static_cast<std::uint64_t>(i) << 57, true, l, 50);
        // Every request over the rate asks for a ban until one is remembered.
        const std::int64_t until = v.banned_until_s > 0 ? 0 : 50 + 600;
        auto permit = t.noteVerdict(1, src, BotClass::Scanner, until, 50, 10);
        if (permit.ban) ++bans;
        if (permit.write) ++written;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bans.load(), 1);
  EXPECT_EQ(written.load(), 10);  // the per-second record budget, shared by the workers
  auto top = t.top(1, 1, 50);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].requests, std::uint32_t{kThreads} * kEach);
  EXPECT_EQ(top[0].bot_requests, std::uint64_t{kThreads} * kEach);
  EXPECT_EQ(top[0].banned_until_s, 650);
  EXPECT_EQ(top[0].paths, detail::AtomicDistinctSketch::kSaturated);  // 128 distinct bits set
  // The next second's first record says how many were left out.
  auto p = t.noteVerdict(1, src, BotClass::Scanner, 0, 51, 10);
  EXPECT_TRUE(p.write);
  EXPECT_EQ(p.suppressed_before, std::uint32_t{kThreads} * kEach - 10);
}

// A spray of one-off sources from four workers: bounded, no crash, and a
// source with a remembered ban is not evicted (its weight outweighs any
// activity), so the ban is not issued again.
TEST(BehaviourTable, ConcurrentSprayStaysBoundedAndKeepsTheBan) {
  BehaviourTable t(512);
  BehaviourLimits l;
  const auto banned = ip("198.51.100.7");
  t.onRequest(1, banned, 1, true, l, 5);
  ASSERT_TRUE(t.noteVerdict(1, banned, BotClass::Scanner, 1000, 5, 10).ban);
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w)
    threads.emplace_back([&, w] {
      common::IpPrefix p = ip("10.0.0.0");
      for (int i = 0; i < 25000; ++i) {
        p.bytes[1] = static_cast<std::uint8_t>(w);
        p.bytes[2] = static_cast<std::uint8_t>(i >> 8);
        p.bytes[3] = static_cast<std::uint8_t>(i);
        t.onRequest(1 + (i & 1), p, static_cast<std::uint64_t>(i), i % 3 == 0, l, 5);
        t.onResponse(1 + (i & 1), p, 404, true, l, 5);
        t.noteVerdict(1 + (i & 1), p, BotClass::Tool, 0, 5, 10);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_LE(t.sizeSlow(), t.capacity());
  EXPECT_GT(t.evictions(), 0u);
  EXPECT_EQ(t.onRequest(1, banned, 1, true, l, 6).banned_until_s, 1000);
  EXPECT_FALSE(t.noteVerdict(1, banned, BotClass::Scanner, 1006, 6, 10).ban);
}

// A reload that changes the window clears the source's counts once: the
// old buckets mean nothing in the new bucket length.
// A ban noted for one source must never be seen by the source its slot
// was just handed to. One worker bans source after source while the other
// sends one request each from one-off sources through the same single set
// of eight slots, so slots are evicted under the banning worker; a
// one-off source must never find itself banned.
TEST(BehaviourTable, BanNeverLandsInAnEvictedSlotsNewSource) {
  BehaviourTable t(8);  // one set: every new source evicts
  BehaviourLimits l;
  constexpr std::int64_t kNow = 1000;
  constexpr int kRounds = 150000;
  std::atomic<bool> done{false};
  std::thread banner([&] {
    common::IpPrefix p = ip("10.1.0.0");
    for (int i = 0; i < kRounds; ++i) {
      p.bytes[1] = static_cast<std::uint8_t>(1 + (i >> 16));
      p.bytes[2] = static_cast<std::uint8_t>(i >> 8);
      p.bytes[3] = static_cast<std::uint8_t>(i);
      t.onRequest(1, p, 7, true, l, kNow);
      t.noteVerdict(1, p, BotClass::Scanner, kNow + 600, kNow, 0);
    }
    done = true;
  });
  common::IpPrefix v = ip("172.16.0.0");
  std::uint32_t n = 0, wrongly_banned = 0;
  while (!done.load()) {
    v.bytes[1] = static_cast<std::uint8_t>(16 + ((n >> 16) & 15));
    v.bytes[2] = static_cast<std::uint8_t>(n >> 8);
    v.bytes[3] = static_cast<std::uint8_t>(n);
    ++n;
    if (t.onRequest(1, v, 7, true, l, kNow).banned_until_s != 0) ++wrongly_banned;
  }
  banner.join();
  EXPECT_GT(n, 1000u);
  EXPECT_EQ(wrongly_banned, 0u) << "of " << n << " one-off sources";
}

TEST(BehaviourTable, ChangedWindowStartsTheCountsAgain) {
  BehaviourTable t(1024);
  BehaviourLimits l;
  l.window = std::chrono::seconds(60);
  const auto src = ip("192.0.2.61");
  for (int i = 0; i < 7; ++i) t.onRequest(1, src, 1, true, l, 3600);
  l.window = std::chrono::seconds(600);
  EXPECT_EQ(t.onRequest(1, src, 1, true, l, 3600).requests, 1u);
  EXPECT_EQ(t.onRequest(1, src, 1, true, l, 3601).requests, 2u);
  // A straggler of the old window (a worker still on the old snapshot)
  // clears again, and the new window's next count starts over as well.
  l.window = std::chrono::seconds(60);
  EXPECT_EQ(t.onRequest(1, src, 1, true, l, 3601).requests, 1u);
  l.window = std::chrono::seconds(600);
  EXPECT_EQ(t.onRequest(1, src, 1, true, l, 3602).requests, 1u);
  EXPECT_EQ(t.onRequest(1, src, 1, true, l, 3602).requests, 2u);
}

}  // namespace
}  // namespace mamori::guard
