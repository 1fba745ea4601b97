#include "http/types.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace mamori::http {
namespace {

TEST(RejectReason, NamesAreUniqueSnakeCase) {
  std::set<std::string> seen;
  for (std::size_t i = 0; i < kRejectReasonCount; ++i) {
    std::string name = rejectReasonName(static_cast<RejectReason>(i));
    EXPECT_NE(name, "unknown") << i;
    EXPECT_TRUE(seen.insert(name).second) << name;
    for (char c : name) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << name;
  }
}

TEST(RejectReason, NamesAreStable) {
  EXPECT_STREQ(rejectReasonName(RejectReason::ContentLengthWithTransferEncoding),
               "content_length_with_transfer_encoding");
  EXPECT_STREQ(rejectReasonName(RejectReason::BareLf), "bare_lf");
  EXPECT_STREQ(rejectReasonName(static_cast<RejectReason>(250)), "unknown");
}

TEST(RejectReason, StatusCodes) {
  EXPECT_EQ(rejectReasonStatus(RejectReason::ObsFold), 400);
  EXPECT_EQ(rejectReasonStatus(RejectReason::BodyTooLarge), 413);
  EXPECT_EQ(rejectReasonStatus(RejectReason::TargetTooLong), 414);
  EXPECT_EQ(rejectReasonStatus(RejectReason::TooManyHeaders), 431);
  EXPECT_EQ(rejectReasonStatus(RejectReason::UnsupportedTransferCoding), 501);
  EXPECT_EQ(rejectReasonStatus(RejectReason::UnsupportedVersion), 505);
}

TEST(Types, EqualsIgnoreCaseIsAsciiOnly) {
  EXPECT_TRUE(equalsIgnoreCase("Content-Length", "content-LENGTH"));
  EXPECT_FALSE(equalsIgnoreCase("Content-Length", "Content-Lengt"));
  EXPECT_FALSE(equalsIgnoreCase("\xc3\xa9", "\xc3\x89"));
}

}  // namespace
}  // namespace mamori::http
