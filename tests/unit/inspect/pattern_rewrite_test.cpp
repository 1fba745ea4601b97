// pattern_rewrite.h: which chains leave single spaces, what the \s rewrite
// produces, and (the property that makes it safe) that on every output of
// such a chain the rewritten pattern matches exactly where the original
// does, in Hyperscan (what runs it) and in PCRE2.

#include <gtest/gtest.h>
#include <hs/hs.h>
#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "inspect/pattern_rewrite.h"
#include "inspect/transform.h"

namespace mamori::inspect {
namespace {

using T = Transform;

TEST(PatternRewrite, ChainLeavesSingleSpacesOnlyWhenCompressIsLastButLowercase) {
  EXPECT_TRUE(chainLeavesSingleSpaces({T::UrlDecodeUni, T::CompressWhitespace, T::Lowercase}));
  EXPECT_TRUE(chainLeavesSingleSpaces({T::UrlDecodeUni, T::HtmlEntityDecode, T::RemoveComments,
                                       T::CompressWhitespace, T::Lowercase}));
  EXPECT_TRUE(chainLeavesSingleSpaces({T::CompressWhitespace}));
  EXPECT_TRUE(chainLeavesSingleSpaces(
      {T::UrlDecode, T::CompressWhitespace, T::Lowercase, T::CompressWhitespace}));
  EXPECT_FALSE(chainLeavesSingleSpaces({}));
  EXPECT_FALSE(chainLeavesSingleSpaces({T::UrlDecodeUni, T::Lowercase}));
  // A decoder after compressing can make "%20%20" or "&#9;" whitespace again.
  EXPECT_FALSE(chainLeavesSingleSpaces({T::CompressWhitespace, T::UrlDecode}));
  EXPECT_FALSE(chainLeavesSingleSpaces({T::CompressWhitespace, T::HtmlEntityDecode}));
  // A remover can bring two spaces together ("a \0 b").
  EXPECT_FALSE(chainLeavesSingleSpaces({T::CompressWhitespace, T::RemoveNulls}));
  EXPECT_FALSE(chainLeavesSingleSpaces({T::CompressWhitespace, T::RemoveComments}));
}

TEST(PatternRewrite, RewritesWhitespaceRepeatsOutsideClasses) {
  EXPECT_EQ(singleSpacePattern(R"(exec\s*\()"), std::optional<std::string>(R"(exec\x20?\()"));
  EXPECT_EQ(singleSpacePattern(R"(a\s+b\s?c\sd)"),
            std::optional<std::string>(R"(a\x20b\x20?c\x20d)"));
  EXPECT_EQ(singleSpacePattern(R"((?:^|\s)or\s)"),
            std::optional<std::string>(R"((?:^|\x20)or\x20)"));
  // In a class \s stays; so do \S, an escaped backslash before 's', \Q..\E.
  EXPECT_EQ(singleSpacePattern(R"([^\s?&]*\s*x)"), std::optional<std::string>(R"([^\s?&]*\x20?x)"));
  EXPECT_EQ(singleSpacePattern(R"([]\s]\s)"), std::optional<std::string>(R"([]\s]\x20)"));
  EXPECT_EQ(singleSpacePattern(R"([[:alpha:]\s]+\s)"),
            std::optional<std::string>(R"([[:alpha:]\s]+\x20)"));
  EXPECT_EQ(singleSpacePattern(R"(\Q\s*\E\s*)"), std::optional<std::string>(R"(\Q\s*\E\x20?)"));
  EXPECT_EQ(singleSpacePattern(R"(\\s*\S+)"), std::nullopt);
  // Lazy, possessive and counted repeats are left as they are.
  EXPECT_EQ(singleSpacePattern(R"(a\s*?b\s++c\s{2}d)"), std::nullopt);
  EXPECT_EQ(singleSpacePattern(R"(a\s*?b\s+)"), std::optional<std::string>(R"(a\s*?b\x20)"));
}

TEST(PatternRewrite, RefusesWhatItDoesNotFollow) {
  EXPECT_EQ(singleSpacePattern("abc"), std::nullopt);
  EXPECT_EQ(singleSpacePattern(R"(\c\s*)"), std::nullopt);
  EXPECT_EQ(singleSpacePattern(R"([\s*)"), std::nullopt);
  EXPECT_EQ(singleSpacePattern(R"(\s*\)"), std::nullopt);
  EXPECT_EQ(singleSpacePattern(R"([[:alpha\s*)"), std::nullopt);
}

// Every match end offset of a pattern in a text (Hyperscan, all matches);
// compiled once, scanned many times.
class HyperscanEnds {
 public:
  explicit HyperscanEnds(const std::string& pattern) {
    hs_compile_error_t* error = nullptr;
    if (hs_compile(pattern.c_str(), HS_FLAG_ALLOWEMPTY, HS_MODE_BLOCK, nullptr, &db_, &error) !=
        HS_SUCCESS) {
      ADD_FAILURE() << pattern << ": " << (error ? error->message : "?");
      if (error) hs_free_compile_error(error);
      return;
    }
    EXPECT_EQ(hs_alloc_scratch(db_, &scratch_), HS_SUCCESS);
  }
  ~HyperscanEnds() {
    hs_free_scratch(scratch_);
    hs_free_database(db_);
  }
  HyperscanEnds(const HyperscanEnds&) = delete;
  HyperscanEnds& operator=(const HyperscanEnds&) = delete;

  std::set<unsigned long long> operator()(const std::string& text) const {
    std::set<unsigned long long> ends;
    if (!db_) return ends;
    hs_scan(
        db_, text.data(), static_cast<unsigned>(text.size()), 0, scratch_,
        [](unsigned, unsigned long long, unsigned long long to, unsigned, void* ctx) {
          static_cast<std::set<unsigned long long>*>(ctx)->insert(to);
          return 0;
        },
        &ends);
    return ends;
  }

 private:
  hs_database_t* db_ = nullptr;
  hs_scratch_t* scratch_ = nullptr;
};

// The leftmost PCRE2 match from every start offset, as (start, end).
std::vector<std::pair<size_t, size_t>> pcreMatches(const std::string& pattern,
                                                   const std::string& text) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(), 0,
                                 &code, &offset, nullptr);
  std::vector<std::pair<size_t, size_t>> out;
  if (!re) {
    ADD_FAILURE() << pattern << ": PCRE2 error " << code;
    return out;
  }
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(re, nullptr);
  for (size_t start = 0; start <= text.size(); ++start) {
    int rc = pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start, 0, md,
                         nullptr);
    if (rc < 0) {
      out.emplace_back(SIZE_MAX, SIZE_MAX);
      continue;
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    out.emplace_back(ov[0], ov[1]);
  }
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  return out;
}

TEST(PatternRewrite, SameMatchesOnCompressedText) {
  // Patterns shaped like the default rules' (rules/sqli.yaml, php.yaml).
  const std::vector<std::string> patterns = {
      R"(\b(?:or|and)\b\s*\(?\s*'?\w*'?\s*(?:=|<>|\blike\b))",
      R"(\b(?:exec|system|ord)\s*\(\s*(?:['"$]|\w+\s*[),(]|$))",
      R"((?:^|\s)(?:or|and)\s+(?:true|\d+)\s*(?:--|#|$))",
      R"(['"]\s*\)*\s*(?:--[\s-]|#|;\s*(?:--|#|$)))",
      R"(union(?:\s+all)?\s+select\s+[\w\s,]{0,20}\s+from)",
      R"(\s\s+|\s*=\s*|a\s?b\s+c)",
  };
  const std::string alphabet = "  \t\n\r\v\f'\"()=<>-#;abcdoruniselectxm01";
  const TransformChain chain = {T::CompressWhitespace, T::Lowercase};
  ASSERT_TRUE(chainLeavesSingleSpaces(chain));
  std::mt19937 rng(20261129);
  const std::vector<std::string> words = {"or",   "and",  "union", "select", "from",
                                          "exec", "like", "all",   "true",   "ord"};
  for (const auto& pattern : patterns) {
    auto rewritten = singleSpacePattern(pattern);
    ASSERT_TRUE(rewritten.has_value()) << pattern;
    const HyperscanEnds original_ends(pattern);
    const HyperscanEnds rewritten_ends(*rewritten);
    for (int round = 0; round < 2000; ++round) {
      std::string raw;
      size_t length = rng() % 40;
      while (raw.size() < length) {
        if (rng() % 4 == 0) {
          raw += words[rng() % words.size()];
        } else {
          raw += alphabet[rng() % alphabet.size()];
        }
      }
      std::string text = applyChain(chain, raw);
      EXPECT_EQ(original_ends(text), rewritten_ends(text)) << pattern << " on [" << text << "]";
      EXPECT_EQ(pcreMatches(pattern, text), pcreMatches(*rewritten, text))
          << pattern << " on [" << text << "]";
    }
  }
}

}  // namespace
}  // namespace mamori::inspect
