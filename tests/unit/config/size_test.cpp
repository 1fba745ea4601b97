#include "config/size.h"

#include <gtest/gtest.h>

namespace mamori::config {
namespace {

TEST(ParseByteSize, AcceptsUnitsAndPlainBytes) {
  EXPECT_EQ(parseByteSize("0").value(), 0u);
  EXPECT_EQ(parseByteSize("1048576").value(), 1048576u);
  EXPECT_EQ(parseByteSize("100B").value(), 100u);
  EXPECT_EQ(parseByteSize("512KiB").value(), 512u * 1024);
  EXPECT_EQ(parseByteSize("1MiB").value(), 1024u * 1024);
  EXPECT_EQ(parseByteSize("2GiB").value(), 2ULL << 30);
  EXPECT_EQ(parseByteSize("10MB").value(), 10'000'000u);
  EXPECT_EQ(parseByteSize("3KB").value(), 3000u);
}

TEST(ParseByteSize, RejectsGarbageAndOverflow) {
  EXPECT_EQ(parseByteSize("10XB").error().message,
            "invalid size '10XB': unknown unit (use e.g. 512KiB, 1MiB, 10MB or a number of bytes)");
  EXPECT_FALSE(parseByteSize("").ok());
  EXPECT_FALSE(parseByteSize("-1").ok());
  EXPECT_FALSE(parseByteSize("+1").ok());
  EXPECT_FALSE(parseByteSize("1.5MiB").ok());
  EXPECT_FALSE(parseByteSize("1 MiB").ok());
  EXPECT_FALSE(parseByteSize("1mib").ok());
  EXPECT_FALSE(parseByteSize("MiB").ok());
  EXPECT_FALSE(parseByteSize("99999999999999999999").ok());
  EXPECT_FALSE(parseByteSize("17179869184GiB").ok());
}

}  // namespace
}  // namespace mamori::config
