#include "http/url.h"

#include <gtest/gtest.h>

namespace mamori::http {
namespace {

TEST(Url, PercentDecodesPathWithoutPlus) {
  auto r = percentDecode("/a%20b+c%2F%2f", /*plus_as_space=*/false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), "/a b+c//");
}

TEST(Url, PercentDecodesQueryWithPlusAsSpace) {
  auto r = percentDecode("a+b%2B", /*plus_as_space=*/true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), "a b+");
}

TEST(Url, DecodesNulByte) {
  auto r = percentDecode("a%00b", false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), std::string("a\0b", 3));
}

TEST(Url, StrictDecodeFailsOnMalformedEscape) {
  EXPECT_FALSE(percentDecode("%", false).ok());
  EXPECT_FALSE(percentDecode("%4", false).ok());
  EXPECT_FALSE(percentDecode("%4g", false).ok());
}

TEST(Url, LenientDecodeKeepsMalformedEscape) {
  EXPECT_EQ(percentDecodeLenient("%zz%41%", false), "%zzA%");
}

TEST(Url, ValidatesPercentEncoding) {
  EXPECT_TRUE(isValidPercentEncoding("/a%41%2f"));
  EXPECT_FALSE(isValidPercentEncoding("/a%4"));
  EXPECT_FALSE(isValidPercentEncoding("%"));
}

TEST(Url, SplitsQueryKeepingRepeatsOrderAndEmptyValues) {
  std::vector<QueryArg> want = {{"a", "1"}, {"b", ""}, {"a", "2"}, {"", "x"}, {"c d", "e=f"}};
  EXPECT_EQ(parseQuery("a=1&b&a=2&&=x&c+d=e%3Df"), want);
}

TEST(Url, EmptyQueryHasNoArgs) { EXPECT_TRUE(parseQuery("").empty()); }

TEST(Url, ParsesCookieHeader) {
  std::vector<Cookie> out;
  parseCookieHeader(" a=1 ;b = 2;;c", &out);
  std::vector<Cookie> want = {{"a", "1"}, {"b", "2"}, {"", "c"}};
  EXPECT_EQ(out, want);
}

TEST(Url, TargetCharsFollowRfc3986) {
  for (unsigned char c : std::string("azAZ09-._~:/?[]@!$&'()*+,;=%")) EXPECT_TRUE(isTargetChar(c)) << c;
  for (unsigned char c : std::string(" #\"<>\\^`{|}\t\x7f\x80\xff")) EXPECT_FALSE(isTargetChar(c)) << int(c);
  EXPECT_FALSE(isTargetChar(0));
}

}  // namespace
}  // namespace mamori::http
