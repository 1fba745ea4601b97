#include "guard/window_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <cstdint>
#include <thread>
#include <vector>

#include "guard/keyed_hash.h"

namespace mamori::guard::detail {
namespace {

TEST(Window, BucketIsASixthOfTheWindowRoundedUp) {
  EXPECT_EQ(Window::ofSeconds(60).bucket_seconds, 10u);
  EXPECT_EQ(Window::ofSeconds(61).bucket_seconds, 11u);
  EXPECT_EQ(Window::ofSeconds(1).bucket_seconds, 1u);
  EXPECT_EQ(Window::ofSeconds(600).epoch(1234), 12u);
}

TEST(Window, SpanCoversTheWindowAndNoMore) {
  // span * bucket_seconds is the window rounded up to whole buckets: a
  // window under six seconds is that many 1 s buckets, not six.
  EXPECT_EQ(Window::ofSeconds(1).span, 1u);
  EXPECT_EQ(Window::ofSeconds(5).span, 5u);
  EXPECT_EQ(Window::ofSeconds(6).span, 6u);
  EXPECT_EQ(Window::ofSeconds(10).bucket_seconds, 2u);
  EXPECT_EQ(Window::ofSeconds(10).span, 5u);
  EXPECT_EQ(Window::ofSeconds(60).span, 6u);
  EXPECT_EQ(Window::ofSeconds(61).span, 6u);
}

TEST(AtomicWindowCount, AOneSecondWindowCountsOneSecond) {
  const Window w = Window::ofSeconds(1);
  AtomicWindowCount c;
  for (int i = 0; i < 10; ++i) c.add(w.epoch(100), w.span);
  EXPECT_EQ(c.sum(w.epoch(100), w.span), 10u);
  EXPECT_EQ(c.add(w.epoch(101), w.span), 1u);  // the next second starts from zero
  EXPECT_EQ(c.periodsUntilBelow(w.epoch(101), 1, w.span), 1u);
}

TEST(AtomicWindowCount, CountsInsideTheWindowAndDropsAtItsEnd) {
  const Window w = Window::ofSeconds(60);
  AtomicWindowCount c;
  EXPECT_EQ(c.add(w.epoch(1000)), 1u);  // t = 1000 s, bucket [1000, 1010)
  EXPECT_EQ(c.add(w.epoch(1030)), 2u);
  EXPECT_EQ(c.sum(w.epoch(1059)), 2u);
  // The bucket of t=1000 leaves the window at 1060: 60 s after its start.
  EXPECT_EQ(c.sum(w.epoch(1060)), 1u);
  EXPECT_EQ(c.sum(w.epoch(1089)), 1u);
  EXPECT_EQ(c.sum(w.epoch(1090)), 0u);
}

TEST(AtomicWindowCount, AnEventCountsForAtLeastWindowMinusOneBucket) {
  const Window w = Window::ofSeconds(60);
  AtomicWindowCount c;
  c.add(w.epoch(1009));  // last second of its bucket
  EXPECT_EQ(c.sum(w.epoch(1059)), 1u);  // 50 s later: still in
  EXPECT_EQ(c.sum(w.epoch(1060)), 0u);  // 51 s later: out (W - W/6 = 50 s)
}

TEST(AtomicWindowCount, AddAfterLongSilenceStartsFromZero) {
  const Window w = Window::ofSeconds(60);
  AtomicWindowCount c;
  for (int i = 0; i < 5; ++i) c.add(w.epoch(100));
  EXPECT_EQ(c.add(w.epoch(100 + 3600)), 1u);
}

// Accuracy over 200 fixed keys (deterministic): the mean relative error of
// linear counting in 128 bits, the figures quoted in docs/login-abuse.md.
TEST(AtomicDistinctSketch, MeanErrorIsSmallUpTo200Elements) {
  struct Case {
    std::uint32_t n;
    double max_mean_error;
  };
  for (Case c : {Case{5, 0.05}, Case{10, 0.05}, Case{20, 0.09}, Case{50, 0.08}, Case{100, 0.08},
                 Case{200, 0.10}}) {
    double total = 0;
    double worst = 0;
    constexpr int kKeys = 200;
    for (int k = 0; k < kKeys; ++k) {
      KeyedHash::Key key{};
      for (int b = 0; b < 16; ++b) key[b] = static_cast<std::uint8_t>(k * 31 + b);
      KeyedHash h(key);
      AtomicDistinctSketch s;
      std::uint32_t est = 0;
      for (std::uint32_t i = 0; i < c.n; ++i) {
        const std::string user = "user" + std::to_string(i);
        est = s.add(3, mix64(h(user)));
        s.add(3, mix64(h(user)));  // repeats do not count
      }
      const double err = std::fabs(static_cast<double>(est) - c.n) / c.n;
      total += err;
      worst = std::max(worst, err);
    }
    std::printf("distinct n=%u mean error %.3f worst %.3f\n", c.n, total / kKeys, worst);
    EXPECT_LE(total / kKeys, c.max_mean_error) << "n=" << c.n;
  }
}

TEST(AtomicDistinctSketch, RepeatsOfOneElementCountOnce) {
  AtomicDistinctSketch s;
  for (int i = 0; i < 100; ++i) s.add(1, 0xdeadbeefcafef00dULL);
  EXPECT_EQ(s.estimate(1), 1u);
}

TEST(AtomicDistinctSketch, ElementsLeaveWithTheirBucket) {
  AtomicDistinctSketch s;
  for (std::uint64_t i = 0; i < 10; ++i) s.add(10, mix64(i + 1));
  for (std::uint64_t i = 10; i < 20; ++i) s.add(13, mix64(i + 1));
  EXPECT_NEAR(s.estimate(13), 20, 3);
  EXPECT_NEAR(s.estimate(16), 10, 2);  // bucket 10 left (16 >= 10 + 6)
  EXPECT_EQ(s.estimate(19), 0u);
}

TEST(AtomicDistinctSketch, SaturatesAtACap) {
  AtomicDistinctSketch s;
  for (std::uint64_t i = 0; i < 100000; ++i) s.add(2, mix64(i));
  EXPECT_EQ(s.estimate(2), AtomicDistinctSketch::kSaturated);
}

TEST(AtomicWindowCount, AStaleAddDoesNotResurrectAnOldBucket) {
  AtomicWindowCount c;
  c.add(kBuckets + 2);  // bucket 2 now holds period 8
  c.add(2);  // a racing thread's period 2: dropped
  EXPECT_EQ(c.sum(kBuckets + 2), 1u);
}

TEST(AtomicWindowCount, ABucketOfAnotherTimeScaleIsTurnedOver) {
  // A count of a 10-second-bucket window (period 360 at 1 h) left in an
  // entry now counting 100-second buckets (period 36): without turning it
  // over, bucket 0 would drop every count until period 360.
  AtomicWindowCount c;
  c.add(360);
  for (int i = 0; i < 3; ++i) c.add(36);
  EXPECT_EQ(c.sum(36), 3u);
  EXPECT_EQ(c.newestPeriod(), 36u);
  // A caller at most kFuturePeriods behind still drops its count.
  c.add(36 + kFuturePeriods);
  c.add(36);
  EXPECT_EQ(c.sum(36 + kFuturePeriods), 1u);
}

TEST(AtomicDistinctSketch, ABucketOfAnotherTimeScaleIsTurnedOver) {
  AtomicDistinctSketch s;
  s.add(360, mix64(1));
  s.add(36, mix64(2));
  s.add(36, mix64(3));
  EXPECT_EQ(s.liveBits(36), 2u);
  EXPECT_EQ(s.newestPeriod(), 36u);
}

TEST(AtomicWindowCount, ConcurrentAddsAreAllCounted) {
  AtomicWindowCount c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50000; ++i) c.add(7);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.sum(7), 200000u);
}

TEST(RecordMark, OneRecordPerPeriodCarryingTheEventsSinceTheLast) {
  RecordMark m;
  EXPECT_EQ(m.note(5), 1u);  // first event: a record, of itself
  EXPECT_EQ(m.note(5), 0u);
  EXPECT_EQ(m.note(5), 0u);
  EXPECT_EQ(m.note(4), 0u);  // a racing caller's older clock counts into period 5
  EXPECT_EQ(m.lastRecord(), 6u);
  EXPECT_EQ(m.note(6), 4u);  // the three silent ones and this one
  m.clear();
  EXPECT_EQ(m.lastRecord(), 0u);
}

TEST(RecordMark, RacingCallersWriteOneRecordPerPeriod) {
  RecordMark m;
  std::atomic<int> records{0};
  std::atomic<std::uint64_t> reported{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (std::uint32_t period = 0; period < 100; ++period)
        for (int i = 0; i < 50; ++i)
          if (const std::uint32_t n = m.note(period)) {
            ++records;
            reported += n;
          }
    });
  for (auto& t : threads) t.join();
  EXPECT_GE(records.load(), 1);
  EXPECT_LE(records.load(), 100);
  // Every event is in a record but those after the last one.
  EXPECT_LE(reported.load(), 4u * 100 * 50);
  EXPECT_EQ(reported.load() + (m.note(1000) - 1), 4u * 100 * 50);
}

// A table with one set: every key competes for the same kWays slots.
struct Counted {
  AtomicWindowCount count;
  std::atomic<std::uint64_t> id{0};
  void clear() {
    count.clear();
    id.store(0, std::memory_order_relaxed);
  }
};

TEST(AtomicTable, CapacityIsRoundedToAPowerOfTwoSets) {
  AtomicTable<Counted> t(1);
  EXPECT_EQ(t.capacity(), kWays);
  AtomicTable<Counted> u(1000);
  EXPECT_EQ(u.capacity(), 1024u);
  EXPECT_EQ(u.memoryBytes(), u.capacity() * AtomicTable<Counted>::slotBytes());
}

TEST(AtomicTable, FindAcquireErase) {
  AtomicTable<Counted> t(512);
  auto weight = [](const Counted& c) { return c.count.sum(0); };
  auto init = [](Counted& c) { c.id.store(42, std::memory_order_relaxed); };
  EXPECT_EQ(t.find(42), nullptr);
  bool inserted = false;
  Counted* a = t.acquire(42, init, weight, &inserted);
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(inserted);
  a->count.add(0);
  Counted* b = t.acquire(42, init, weight, &inserted);
  EXPECT_EQ(a, b);
  EXPECT_FALSE(inserted);
  b->count.add(0);
  ASSERT_NE(t.find(42), nullptr);
  EXPECT_EQ(t.find(42)->count.sum(0), 2u);
  EXPECT_EQ(t.find(42)->id.load(), 42u);
  EXPECT_TRUE(t.erase(42));
  EXPECT_FALSE(t.erase(42));
  EXPECT_EQ(t.sizeSlow(), 0u);
  // Keys 0 and 1 are usable too.
  ASSERT_NE(t.acquire(0, init, weight), nullptr);
  ASSERT_NE(t.acquire(1, init, weight), nullptr);
  EXPECT_NE(t.find(0), t.find(1));
}

TEST(AtomicTable, FullSetEvictsTheLightestEntryAndClearsIt) {
  AtomicTable<Counted> t(kWays);  // one set
  auto weight = [](const Counted& c) { return c.count.sum(0); };
  for (std::uint64_t k = 1; k <= kWays; ++k) {
    Counted* c = t.acquire(k * 100, [&](Counted& v) { v.id = k; }, weight);
    ASSERT_NE(c, nullptr);
    for (std::uint64_t i = 0; i < k + 1; ++i) c->count.add(0);
  }
  EXPECT_EQ(t.evictions(), 0u);
  Counted* fresh = t.acquire(999, [](Counted& v) { v.id = 999; }, weight);
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(t.evictions(), 1u);
  EXPECT_EQ(fresh->count.sum(0), 0u);  // not the evicted entry's counts
  EXPECT_EQ(fresh->id.load(), 999u);
  EXPECT_EQ(t.find(100), nullptr);  // the lightest (2 events) went
  for (std::uint64_t k = 2; k <= kWays; ++k) EXPECT_NE(t.find(k * 100), nullptr);
}

TEST(AtomicTable, ConcurrentCountsOnKnownKeysAreExact) {
  AtomicTable<Counted> t(1024);
  auto weight = [](const Counted& c) { return c.count.sum(0); };
  constexpr std::uint64_t kKeys = 64;
  for (std::uint64_t k = 0; k < kKeys; ++k) ASSERT_NE(t.acquire(mix64(k), [](Counted&) {}, weight), nullptr);
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th)
    threads.emplace_back([&, th] {
      for (int i = 0; i < 20000; ++i) {
        Counted* c = t.acquire(mix64((i + th) % kKeys), [](Counted&) {}, weight);
        if (c) c->count.add(0);
      }
    });
  for (auto& th : threads) th.join();
  std::uint64_t total = 0;
  t.forEach([&](const Counted& c) { total += c.count.sum(0); });
  EXPECT_EQ(total, 80000u);
  EXPECT_EQ(t.sizeSlow(), kKeys);
  EXPECT_EQ(t.evictions(), 0u);
}

// A claimer stalled between claiming a slot and publishing its key (here
// inside init, as if preempted) while another thread inserts the same key:
// the second thread must not be handed a slot of its own (the first would
// release it on publishing, and its updates, or a ban decided by CAS on
// it, would go to a dead slot while a third thread decides again on the
// live one). It gets nullptr (gave up waiting) or the first's slot.
TEST(AtomicTable, AKeyBeingClaimedIsNeverHandedOutTwice) {
  AtomicTable<Counted> t(kWays);
  auto weight = [](const Counted& c) { return c.count.sum(0); };
  std::atomic<bool> in_init{false};
  std::atomic<bool> second_done{false};
  Counted* first = nullptr;
  std::thread claimer([&] {
    first = t.acquire(
        5,
        [&](Counted& c) {
          c.id.store(5, std::memory_order_relaxed);
          in_init.store(true);
          const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(5);
          while (!second_done.load() && std::chrono::steady_clock::now() < limit)
            std::this_thread::yield();
        },
        weight);
  });
  while (!in_init.load()) std::this_thread::yield();
  Counted* second = t.acquire(
      5, [](Counted& c) { c.id.store(5, std::memory_order_relaxed); }, weight);
  second_done.store(true);
  claimer.join();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(t.find(5), first);
  EXPECT_TRUE(second == nullptr || second == first);
  EXPECT_EQ(t.sizeSlow(), 1u);
  EXPECT_EQ(t.contended(), second == nullptr ? 1u : 0u);
}

// Threads released together on one fresh key, many times: all get the
// same slot (or nullptr), and every add on it is counted.
TEST(AtomicTable, RacingInsertsOfOneKeyShareOneSlot) {
  auto weight = [](const Counted& c) { return c.count.sum(0); };
  for (int round = 0; round < 500; ++round) {
    AtomicTable<Counted> t(kWays);
    std::atomic<int> ready{0};
    std::array<Counted*, 4> got{};
    std::vector<std::thread> threads;
    for (int th = 0; th < 4; ++th)
      threads.emplace_back([&, th] {
        ready.fetch_add(1);
        while (ready.load() < 4) std::this_thread::yield();
        got[th] = t.acquire(
            77, [](Counted& c) { c.id.store(77, std::memory_order_relaxed); }, weight);
        if (got[th] != nullptr) got[th]->count.add(0);
      });
    for (auto& th : threads) th.join();
    const Counted* live = t.find(77);
    ASSERT_NE(live, nullptr);
    std::uint32_t handed = 0;
    for (Counted* c : got) {
      if (c == nullptr) continue;
      EXPECT_EQ(c, live) << "round " << round;
      ++handed;
    }
    EXPECT_EQ(live->count.sum(0), handed);
    EXPECT_EQ(t.sizeSlow(), 1u);
  }
}

TEST(AtomicTable, ASprayFromManyThreadsStaysBoundedWithoutDuplicates) {
  AtomicTable<Counted> t(4 * kWays);
  auto weight = [](const Counted& c) { return c.count.sum(0); };
  std::atomic<std::uint64_t> tracked{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th)
    threads.emplace_back([&, th] {
      for (std::uint64_t i = 0; i < 50000; ++i) {
        // Half the keys shared by all threads (racing inserts of one key),
        // half a spray of one-off keys (evictions).
        const std::uint64_t key = (i % 2) ? mix64(i % 16) : mix64(1000000 * (th + 1) + i);
        const std::uint64_t id = key;
        Counted* c = t.acquire(key, [&](Counted& v) { v.id.store(id, std::memory_order_relaxed); },
                               weight);
        if (c) {
          c->count.add(0);
          tracked.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_GT(tracked.load(), 0u);
  EXPECT_LE(t.sizeSlow(), t.capacity());
  EXPECT_GT(t.evictions(), 0u);
  // Quiescent: every occupied slot holds the id its key was inserted with,
  // and no key is held twice.
  std::vector<std::uint64_t> ids;
  t.forEach([&](const Counted& c) { ids.push_back(c.id.load()); });
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end());
  for (std::uint64_t id : ids) {
    const Counted* c = t.find(id);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->id.load(), id);
  }
}

}  // namespace
}  // namespace mamori::guard::detail
