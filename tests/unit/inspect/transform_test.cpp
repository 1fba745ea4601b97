#include "inspect/transform.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace mamori::inspect {
namespace {

using namespace std::string_literals;

std::string T(Transform t, std::string_view in) { return applyTransform(t, in); }

TEST(Transform, UrlDecodePercentPlusAndIisUnicode) {
  EXPECT_EQ(T(Transform::UrlDecode, "a%20b+c%2Fd"), "a b c/d");
  EXPECT_EQ(T(Transform::UrlDecode, "%u002e%u002E/"), "../");
  // Full-width solidus (U+FF0F) folds to '/', other code points become UTF-8.
  EXPECT_EQ(T(Transform::UrlDecode, "%uFF0F"), "/");
  EXPECT_EQ(T(Transform::UrlDecode, "%u00e9"), "\xC3\xA9");
  EXPECT_EQ(T(Transform::UrlDecode, "%00x"), "\0x"s);
}

TEST(Transform, UrlDecodeKeepsMalformedEscapes) {
  EXPECT_EQ(T(Transform::UrlDecode, "100%"), "100%");
  EXPECT_EQ(T(Transform::UrlDecode, "%zz%4"), "%zz%4");
  EXPECT_EQ(T(Transform::UrlDecode, "%u12"), "%u12");
  EXPECT_EQ(T(Transform::UrlDecode, "%uD800"), "?");  // a lone surrogate is no character
}

TEST(Transform, UrlDecodeUniUndoesDoubleEncoding) {
  EXPECT_EQ(T(Transform::UrlDecode, "%252e%252e%252f"), "%2e%2e%2f");
  EXPECT_EQ(T(Transform::UrlDecodeUni, "%252e%252e%252f"), "../");
  EXPECT_EQ(T(Transform::UrlDecodeUni, "%25252e"), ".");
  // Stops after four rounds, so a deep nesting terminates.
  EXPECT_EQ(T(Transform::UrlDecodeUni, "%252525252e"), "%2e");
}

TEST(Transform, HtmlEntityDecodeNumericAndNamed) {
  EXPECT_EQ(T(Transform::HtmlEntityDecode, "&lt;script&gt;"), "<script>");
  EXPECT_EQ(T(Transform::HtmlEntityDecode, "&#60;&#x3C;&#X3c"), "<<<");
  EXPECT_EQ(T(Transform::HtmlEntityDecode, "java&Tab;script&colon;alert&lpar;1&rpar;"),
            "java\tscript:alert(1)");
  EXPECT_EQ(T(Transform::HtmlEntityDecode, "&ltscript"), "<script");  // legacy, no ';'
  EXPECT_EQ(T(Transform::HtmlEntityDecode, "&#233;"), "\xC3\xA9");
}

TEST(Transform, HtmlEntityDecodeLeavesUnknownAndBrokenAlone) {
  EXPECT_EQ(T(Transform::HtmlEntityDecode, "&unknown; & &# &#x;"), "&unknown; & &# &#x;");
  EXPECT_EQ(T(Transform::HtmlEntityDecode, "&#99999999999999999999;"), "?");
  EXPECT_EQ(T(Transform::HtmlEntityDecode, "&"), "&");
}

TEST(Transform, JsDecodeEscapes) {
  EXPECT_EQ(T(Transform::JsDecode, "\\x61\\u0062\\143\\u{64}\\n\\'"), "abcd\n'");
  EXPECT_EQ(T(Transform::JsDecode, "\\u{1F600}"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(T(Transform::JsDecode, "\\x6"), "x6");  // incomplete: the char itself
  EXPECT_EQ(T(Transform::JsDecode, "end\\"), "end\\");
  EXPECT_EQ(T(Transform::JsDecode, "\\400"), " 0");  // octal stops before 0377 overflows
}

TEST(Transform, CssDecodeEscapes) {
  EXPECT_EQ(T(Transform::CssDecode, "\\6a avascript"), "javascript");
  EXPECT_EQ(T(Transform::CssDecode, "\\000065xpression"), "expression");
  EXPECT_EQ(T(Transform::CssDecode, "a\\\nb\\:c"), "ab:c");
  EXPECT_EQ(T(Transform::CssDecode, "\\0"), "?");
}

TEST(Transform, Base64DecodeBothAlphabetsSkippingJunk) {
  EXPECT_EQ(T(Transform::Base64Decode, "PHNjcmlwdD4="), "<script>");
  EXPECT_EQ(T(Transform::Base64Decode, "PHNj cmlw\ndD4"), "<script>");
  EXPECT_EQ(T(Transform::Base64Decode, "-_-_"), "\xFB\xFF\xBF");
  EXPECT_EQ(T(Transform::Base64Decode, "!!!"), "");
  EXPECT_EQ(T(Transform::Base64Decode, "QQ==QkI="), "A");  // stops at padding
}

TEST(Transform, HexDecodePairs) {
  EXPECT_EQ(T(Transform::HexDecode, "3c736372697074"), "<script");
  EXPECT_EQ(T(Transform::HexDecode, "41zz4"), "Azz4");
}

TEST(Transform, Lowercase) { EXPECT_EQ(T(Transform::Lowercase, "SeLeCT\xC3\x89"), "select\xC3\x89"); }

TEST(Transform, NormalizePathResolvesDotsAndSlashes) {
  EXPECT_EQ(T(Transform::NormalizePath, "/a/./b//c/../d"), "/a/b/d");
  EXPECT_EQ(T(Transform::NormalizePath, "\\windows\\system32\\..\\win.ini"), "/windows/win.ini");
  EXPECT_EQ(T(Transform::NormalizePath, "/a/b/"), "/a/b/");
  EXPECT_EQ(T(Transform::NormalizePath, "/index.php. "), "/index.php");
}

TEST(Transform, NormalizePathKeepsClimbingAboveStart) {
  EXPECT_EQ(T(Transform::NormalizePath, "../../etc/passwd"), "../../etc/passwd");
  EXPECT_EQ(T(Transform::NormalizePath, "/static/../../../etc/passwd"), "/../../etc/passwd");
  EXPECT_EQ(T(Transform::NormalizePath, "a/..\\..\\b"), "../b");
  EXPECT_EQ(T(Transform::NormalizePath, ""), "");
  EXPECT_EQ(T(Transform::NormalizePath, "/"), "/");
}

TEST(Transform, RemoveNulls) { EXPECT_EQ(T(Transform::RemoveNulls, "a\0b\0"s), "ab"); }

TEST(Transform, RemoveCommentsReplacesEachWithOneSpace) {
  EXPECT_EQ(T(Transform::RemoveComments, "UNION/**/SELECT"), "UNION SELECT");
  EXPECT_EQ(T(Transform::RemoveComments, "1 OR 1=1-- x\nAND"), "1 OR 1=1 \nAND");
  EXPECT_EQ(T(Transform::RemoveComments, "a<!-- c -->b # tail"), "a b  ");
  EXPECT_EQ(T(Transform::RemoveComments, "a/* open"), "a ");
}

TEST(Transform, Whitespace) {
  EXPECT_EQ(T(Transform::CompressWhitespace, "a \t\r\n b\v\fc"), "a b c");
  EXPECT_EQ(T(Transform::RemoveWhitespace, " a \t b\n"), "ab");
}

TEST(Transform, CmdLineNormalisesShellObfuscation) {
  EXPECT_EQ(T(Transform::CmdLine, "C^a\"t\" '/e'tc/pa\\sswd"), "cat/etc/passwd");
  EXPECT_EQ(T(Transform::CmdLine, "ping,-c;1\t\t127.0.0.1"), "ping -c 1 127.0.0.1");
  EXPECT_EQ(T(Transform::CmdLine, "system  ('id')"), "system(id)");
}

TEST(Transform, Utf8FoldOverlongAndFullWidth) {
  EXPECT_EQ(T(Transform::Utf8Fold, "\xC0\xAE\xC0\xAE\xC0\xAF"), "../");
  EXPECT_EQ(T(Transform::Utf8Fold, "\xE0\x80\xAE"), ".");
  EXPECT_EQ(T(Transform::Utf8Fold, "\xF0\x80\x80\xAF"), "/");
  EXPECT_EQ(T(Transform::Utf8Fold, "\xEF\xBC\x9C\xEF\xBD\x93"), "<s");  // full-width < and s
  EXPECT_EQ(T(Transform::Utf8Fold, "\xE3\x80\x80"), " ");
  EXPECT_EQ(T(Transform::Utf8Fold, "caf\xC3\xA9"), "caf\xC3\xA9");  // real UTF-8 untouched
  EXPECT_EQ(T(Transform::Utf8Fold, "\xC0"), "\xC0");              // truncated: kept
}

TEST(Transform, Utf8Validation) {
  EXPECT_TRUE(isValidUtf8(""));
  EXPECT_TRUE(isValidUtf8("ascii"));
  EXPECT_TRUE(isValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(isValidUtf8("\xC0\xAE"));          // overlong '.'
  EXPECT_FALSE(isValidUtf8("\xE0\x80\xAE"));      // overlong, three bytes
  EXPECT_FALSE(isValidUtf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(isValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(isValidUtf8("caf\xE9"));            // Latin-1
  EXPECT_FALSE(isValidUtf8("\xE2\x82"));          // truncated
  EXPECT_FALSE(isValidUtf8("\x80"));               // lone continuation byte
}

TEST(Transform, ChainAppliesInOrderAndNames) {
  TransformChain chain = {Transform::UrlDecodeUni, Transform::HtmlEntityDecode,
                          Transform::Lowercase};
  EXPECT_EQ(applyChain(chain, "%2526lt%253BSCRIPT"), "<script");
  EXPECT_EQ(applyChain({}, "As Is"), "As Is");
  EXPECT_EQ(chainName(chain), "url_decode_uni,html_entity_decode,lowercase");
  EXPECT_EQ(chainName({}), "none");
}

TEST(Transform, NamesRoundTrip) {
  for (size_t i = 0; i < kTransformCount; ++i) {
    auto t = static_cast<Transform>(i);
    auto back = transformFromName(transformName(t));
    ASSERT_TRUE(back.has_value()) << transformName(t);
    EXPECT_EQ(*back, t);
  }
  EXPECT_FALSE(transformFromName("urldecode").has_value());
}

// Every transform takes any bytes without crashing and never grows its
// input, which is what bounds the memory a chain can use per value.
TEST(Transform, RandomInputNeverGrowsOrCrashes) {
  std::mt19937 rng(12345);
  const std::string alphabet = "%u&#;x\\0123456789abcdefABCDEF/.+=-*<>!\xC0\xAE\xEF\xBC\xE3\x80 \n";
  for (int round = 0; round < 2000; ++round) {
    std::string input;
    size_t length = rng() % 48;
    for (size_t i = 0; i < length; ++i) {
      input += (rng() % 4 == 0) ? static_cast<char>(rng() % 256)
                                : alphabet[rng() % alphabet.size()];
    }
    for (size_t t = 0; t < kTransformCount; ++t) {
      std::string out = applyTransform(static_cast<Transform>(t), input);
      ASSERT_LE(out.size(), input.size()) << transformName(static_cast<Transform>(t));
    }
  }
}

}  // namespace
}  // namespace mamori::inspect
