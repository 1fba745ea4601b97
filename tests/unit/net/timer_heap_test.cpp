#include "net/timer_heap.h"

#include <gtest/gtest.h>

namespace mamori::net {
namespace {

using namespace std::chrono_literals;

TEST(TimerHeap, PopsExpiredEarliestFirst) {
  TimerHeap heap;
  auto t0 = TimerHeap::Clock::now();
  heap.push(t0 + 30ms, 3);
  heap.push(t0 + 10ms, 1);
  heap.push(t0 + 20ms, 2);
  heap.push(t0 + 100ms, 4);
  EXPECT_EQ(heap.next(), t0 + 10ms);
  auto fired = heap.popExpired(t0 + 30ms);
  ASSERT_EQ(fired.size(), 3u);
  EXPECT_EQ(fired[0].key, 1u);
  EXPECT_EQ(fired[1].key, 2u);
  EXPECT_EQ(fired[2].key, 3u);
  EXPECT_EQ(heap.size(), 1u);
  EXPECT_TRUE(heap.popExpired(t0 + 99ms).empty());
}

TEST(TimerHeap, WaitMsIsClampedAndRoundsUp) {
  TimerHeap heap;
  auto t0 = TimerHeap::Clock::now();
  EXPECT_EQ(heap.waitMs(t0, 1000), 1000);
  EXPECT_FALSE(heap.next().has_value());
  heap.push(t0 + 5500us, 1);
  EXPECT_EQ(heap.waitMs(t0, 1000), 6);
  EXPECT_EQ(heap.waitMs(t0 + 10ms, 1000), 0);
  heap.push(t0 + 10s, 2);
  heap.popExpired(t0 + 6ms);
  EXPECT_EQ(heap.waitMs(t0, 1000), 1000);
}

TEST(TimerHeap, EqualDeadlinesAllFire) {
  TimerHeap heap;
  auto t0 = TimerHeap::Clock::now();
  for (std::uint64_t k = 0; k < 100; ++k) heap.push(t0 + std::chrono::milliseconds(k % 7), k);
  EXPECT_EQ(heap.popExpired(t0 + 6ms).size(), 100u);
  EXPECT_EQ(heap.size(), 0u);
}

}  // namespace
}  // namespace mamori::net
