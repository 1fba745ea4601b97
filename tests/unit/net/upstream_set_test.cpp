#include "net/upstream_set.h"

#include <gtest/gtest.h>

#include <map>

namespace mamori::net {
namespace {

using namespace std::chrono_literals;

TEST(UpstreamSet, RoundRobin) {
  UpstreamSet set({1, 1, 1});
  auto now = UpstreamSet::Clock::now();
  EXPECT_EQ(set.pick(now), 0u);
  EXPECT_EQ(set.pick(now), 1u);
  EXPECT_EQ(set.pick(now), 2u);
  EXPECT_EQ(set.pick(now), 0u);
}

TEST(UpstreamSet, WeightsInterleave) {
  UpstreamSet set({3, 1});
  auto now = UpstreamSet::Clock::now();
  std::map<std::size_t, int> seen;
  for (int i = 0; i < 8; ++i) ++seen[*set.pick(now)];
  EXPECT_EQ(seen[0], 6);
  EXPECT_EQ(seen[1], 2);
}

TEST(UpstreamSet, DownIsSkippedThenRetried) {
  UpstreamSet set({1, 1}, 10s);
  auto now = UpstreamSet::Clock::now();
  set.markDown(0, now);
  EXPECT_TRUE(set.isDown(0, now + 9s));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(set.pick(now + 1s), 1u);
  EXPECT_FALSE(set.isDown(0, now + 10s));
  auto a = set.pick(now + 10s), b = set.pick(now + 10s);
  EXPECT_NE(*a, *b);  // both back in the rotation
}

TEST(UpstreamSet, AllDownGivesNothingUntilExpiry) {
  UpstreamSet set({1}, 10s);
  auto now = UpstreamSet::Clock::now();
  set.markDown(0, now);
  EXPECT_FALSE(set.pick(now + 5s).has_value());
  EXPECT_EQ(set.pick(now + 11s), 0u);
  set.markDown(0, now + 11s);
  set.markUp(0);
  EXPECT_EQ(set.pick(now + 12s), 0u);
}

}  // namespace
}  // namespace mamori::net
