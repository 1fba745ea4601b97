#include "guard/bounded_mpmc_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace mamori::guard {
namespace {

TEST(BoundedMpmcQueue, FifoUpToCapacityThenFull) {
  BoundedMpmcQueue<int> q(3);  // not a power of two on purpose
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(q.tryPush([&](int& v) { v = i; }));
  EXPECT_FALSE(q.tryPush([](int& v) { v = 99; }));
  EXPECT_EQ(q.sizeApprox(), 3u);
  for (int lap = 0; lap < 5; ++lap) {  // wrap around the ring several times
    int got = -1;
    ASSERT_TRUE(q.tryPop([&](int& v) { got = v; }));
    EXPECT_EQ(got, lap);
    EXPECT_TRUE(q.tryPush([&](int& v) { v = lap + 3; }));
  }
  for (int i = 5; i < 8; ++i) {
    int got = -1;
    ASSERT_TRUE(q.tryPop([&](int& v) { got = v; }));
    EXPECT_EQ(got, i);
  }
  EXPECT_FALSE(q.tryPop([](int&) { ADD_FAILURE() << "take called on an empty queue"; }));
  EXPECT_EQ(q.sizeApprox(), 0u);
}

TEST(BoundedMpmcQueue, ZeroCapacityRefusesEverything) {
  BoundedMpmcQueue<int> q(0);
  EXPECT_FALSE(q.tryPush([](int&) { ADD_FAILURE() << "fill called"; }));
  EXPECT_FALSE(q.tryPop([](int&) { ADD_FAILURE() << "take called"; }));
  EXPECT_EQ(q.sizeApprox(), 0u);
}

TEST(BoundedMpmcQueue, CellsKeepTheirBuffersAcrossLaps) {
  BoundedMpmcQueue<std::string> q(1);
  std::string out;
  ASSERT_TRUE(q.tryPush([&](std::string& s) { s.assign(200, 'x'); }));
  ASSERT_TRUE(q.tryPop([&](std::string& s) { std::swap(out, s); }));
  ASSERT_EQ(out, std::string(200, 'x'));
  const char* buffer = out.data();
  // The consumer swaps its long buffer back into the cell on its next pop;
  // a producer then assigns into that buffer instead of allocating one.
  ASSERT_TRUE(q.tryPush([&](std::string& s) { s.assign("short"); }));
  ASSERT_TRUE(q.tryPop([&](std::string& s) { std::swap(out, s); }));
  EXPECT_EQ(out, "short");
  ASSERT_TRUE(q.tryPush([&](std::string& s) { s.assign(150, 'y'); }));
  ASSERT_TRUE(q.tryPop([&](std::string& s) { std::swap(out, s); }));
  EXPECT_EQ(out, std::string(150, 'y'));
  EXPECT_EQ(out.data(), buffer);
}

TEST(BoundedMpmcQueue, ManyProducersOverCapacityExactlyCapacityAccepted) {
  constexpr std::size_t kCapacity = 100;
  constexpr int kThreads = 8, kPerThread = 500;
  BoundedMpmcQueue<std::uint64_t> q(kCapacity);
  std::atomic<int> accepted{0}, refused{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        const std::uint64_t value = (std::uint64_t(t) << 32) | std::uint64_t(i);
        if (q.tryPush([&](std::uint64_t& v) { v = value; })) accepted.fetch_add(1);
        else refused.fetch_add(1);
      }
    });
  }
  go.store(true);
  for (auto& p : producers) p.join();
  EXPECT_EQ(accepted.load(), static_cast<int>(kCapacity));
  EXPECT_EQ(refused.load(), kThreads * kPerThread - static_cast<int>(kCapacity));
  // Each producer's accepted values come out in its own order, each once.
  std::vector<int> next(kThreads, -1);
  std::size_t popped = 0;
  std::uint64_t v = 0;
  while (q.tryPop([&](std::uint64_t& cell) { v = cell; })) {
    const int t = static_cast<int>(v >> 32), i = static_cast<int>(v & 0xffffffffu);
    ASSERT_LT(t, kThreads);
    EXPECT_GT(i, next[static_cast<std::size_t>(t)]);
    next[static_cast<std::size_t>(t)] = i;
    ++popped;
  }
  EXPECT_EQ(popped, kCapacity);
}

// Producers and consumers at once, through a small ring that wraps
// thousands of times: every value pushed is popped exactly once, intact.
TEST(BoundedMpmcQueue, ConcurrentProducersAndConsumersLoseNothing) {
  constexpr int kProducers = 3, kConsumers = 3, kPerProducer = 20000;
  struct Value {
    std::uint64_t id = 0;
    std::uint64_t check = 0;  // ~id: a torn hand-over shows as a mismatch
  };
  BoundedMpmcQueue<Value> q(16);
  std::vector<std::atomic<std::uint8_t>> seen(kProducers * kPerProducer);
  std::atomic<int> consumed{0}, torn{0};
  std::atomic<bool> producers_done{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      Value v;
      for (;;) {
        if (q.tryPop([&](Value& cell) { v = cell; })) {
          if (v.check != ~v.id) torn.fetch_add(1);
          else seen[v.id].fetch_add(1);
          consumed.fetch_add(1);
        } else if (producers_done.load()) {
          if (!q.tryPop([&](Value& cell) { v = cell; })) return;
          if (v.check != ~v.id) torn.fetch_add(1);
          else seen[v.id].fetch_add(1);
          consumed.fetch_add(1);
        } else {
          std::this_thread::yield();
        }
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        const std::uint64_t id = std::uint64_t(p) * kPerProducer + std::uint64_t(i);
        while (!q.tryPush([&](Value& cell) { cell = Value{id, ~id}; })) std::this_thread::yield();
      }
    });
  }
  for (auto& p : producers) p.join();
  producers_done.store(true);
  for (auto& t : threads) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(consumed.load(), kProducers * kPerProducer);
  int wrong = 0;
  for (auto& s : seen) wrong += s.load() != 1;
  EXPECT_EQ(wrong, 0);
}

}  // namespace
}  // namespace mamori::guard
