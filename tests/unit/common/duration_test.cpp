#include "common/duration.h"

#include <gtest/gtest.h>

namespace mamori::common {
namespace {

TEST(ParseDuration, AcceptsEachUnit) {
  EXPECT_EQ(parseDuration("45").value().count(), 45);
  EXPECT_EQ(parseDuration("30s").value().count(), 30);
  EXPECT_EQ(parseDuration("10m").value().count(), 600);
  EXPECT_EQ(parseDuration("1h").value().count(), 3600);
  EXPECT_EQ(parseDuration("2d").value().count(), 172800);
}

TEST(ParseDuration, RejectsEmptyAndUnknownUnits) {
  EXPECT_FALSE(parseDuration("").ok());
  EXPECT_FALSE(parseDuration("m").ok());
  EXPECT_FALSE(parseDuration("10w").ok());
  EXPECT_FALSE(parseDuration("-5s").ok());
  EXPECT_NE(parseDuration("10w").error().message.find("unknown unit"), std::string::npos);
}

TEST(ParseDuration, RejectsOverflow) {
  EXPECT_FALSE(parseDuration("99999999999999999999d").ok());
  EXPECT_FALSE(parseDuration("5000d").ok());
}

}  // namespace
}  // namespace mamori::common
