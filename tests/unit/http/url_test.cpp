#include "http/url.h"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>

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

// Byte at a time, as the decoder was before its 16-byte fast path: the
// reference the fast path must agree with. Lenient when !strict; nullopt
// for a strict decode that fails.
std::optional<std::string> referenceDecode(std::string_view in, bool plus_as_space, bool strict) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      int hi = i + 1 < in.size() ? hex(in[i + 1]) : -1;
      int lo = i + 2 < in.size() ? hex(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        if (strict) return std::nullopt;
        out += '%';
        continue;
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += in[i] == '+' && plus_as_space ? ' ' : in[i];
    }
  }
  return out;
}

// Long values with escapes at every offset relative to the 16-byte blocks
// (at a block's end, split across two, at the value's end), '+' and bad
// escapes: strict and lenient, with and without '+' as space.
TEST(Url, DecodeAgreesWithByteAtATimeOnLongValues) {
  std::mt19937 rng(20261129);
  const std::string alphabet = "ab+%%4F1zZ%";
  int strict_failures = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string in;
    const std::size_t n = rng() % 80;
    for (std::size_t k = 0; k < n; ++k) {
      // Mostly plain text, so that whole blocks without '%' occur.
      in += rng() % 4 == 0 ? alphabet[rng() % alphabet.size()] : static_cast<char>('a' + rng() % 26);
    }
    for (bool plus : {false, true}) {
      auto expected = referenceDecode(in, plus, /*strict=*/true);
      auto got = percentDecode(in, plus);
      ASSERT_EQ(got.ok(), expected.has_value()) << in;
      if (got.ok()) EXPECT_EQ(got.value(), *expected) << in;
      else ++strict_failures;
      EXPECT_EQ(percentDecodeLenient(in, plus), *referenceDecode(in, plus, /*strict=*/false)) << in;
    }
  }
  EXPECT_GT(strict_failures, 0);  // the bad-escape path was exercised
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
