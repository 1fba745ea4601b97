#include "inspect/rule_set.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "inspect/inspector.h"
#include "inspect/rule_loader.h"

namespace mamori::inspect {
namespace {

std::vector<Rule> rulesFrom(const std::string& yaml) {
  auto rules = loadRulesString(yaml, "t.yaml");
  EXPECT_TRUE(rules.ok()) << rules.error().message;
  return rules.ok() ? *rules : std::vector<Rule>{};
}

std::shared_ptr<const RuleSet> compileYaml(const std::string& yaml) {
  auto set = RuleSet::compile(rulesFrom(yaml));
  EXPECT_TRUE(set.ok()) << set.error().message;
  return set.ok() ? *set : nullptr;
}

std::string patternRule(int id, const std::string& pattern, int paranoia = 1) {
  return "  - {id: " + std::to_string(id) + ", message: m" + std::to_string(id) +
         ", category: generic, paranoia: " + std::to_string(paranoia) +
         ", targets: [query_args], operator: {pattern: '" + pattern + "'}}\n";
}

http::Request queryRequest(const std::string& name, const std::string& value) {
  http::Request r;
  r.method_name = "GET";
  r.method = http::Method::Get;
  r.path = r.decoded_path = "/";
  r.target = "/?" + name + "=" + value;
  r.query = name + "=" + value;
  r.has_query = true;
  r.args.push_back({name, value});
  return r;
}

TEST(RuleSet, PlainPatternIsExactInHyperscan) {
  auto set = compileYaml("rules:\n" + patternRule(1, "union\\s+select"));
  ASSERT_TRUE(set);
  EXPECT_EQ(set->matchMode(1), MatchMode::Hyperscan);
  EXPECT_EQ(set->databaseCount(), 1u);
}

// A back-reference is beyond Hyperscan: it runs as a prefilter and PCRE2
// decides on each hit. "abc=abd" passes the prefilter's approximation
// (\w+=\w+) but not the real pattern; "abc=abc" passes both.
TEST(RuleSet, BackReferenceUsesPrefilterAndPcreConfirm) {
  auto set = compileYaml("rules:\n" + patternRule(1, "\\b(\\w+)=\\1\\b"));
  ASSERT_TRUE(set);
  EXPECT_EQ(set->matchMode(1), MatchMode::HyperscanPrefilter);

  auto miss = inspect(*set, queryRequest("q", "abc=abd"), {}, {});
  EXPECT_TRUE(miss.detections.empty());
  EXPECT_EQ(miss.regex_runs, 1u) << "the prefilter hit must be confirmed by PCRE2";

  auto hit = inspect(*set, queryRequest("q", "x abc=abc y"), {}, {});
  ASSERT_EQ(hit.detections.size(), 1u);
  EXPECT_EQ(hit.detections[0].fragment, "abc=abc");

  auto none = inspect(*set, queryRequest("q", "nothing here"), {}, {});
  EXPECT_TRUE(none.detections.empty());
  EXPECT_EQ(none.regex_runs, 0u) << "no prefilter hit, no PCRE2 run";
}

TEST(RuleSet, LookbehindUsesPrefilter) {
  auto set = compileYaml("rules:\n" + patternRule(1, "(?<!x)etc/passwd"));
  ASSERT_TRUE(set);
  EXPECT_EQ(set->matchMode(1), MatchMode::HyperscanPrefilter);
  EXPECT_EQ(inspect(*set, queryRequest("f", "../etc/passwd"), {}, {}).detections.size(), 1u);
  EXPECT_TRUE(inspect(*set, queryRequest("f", "xetc/passwd"), {}, {}).detections.empty());
}

// Hyperscan refuses patterns that can match the empty string; PCRE2 runs
// them alone on every value.
TEST(RuleSet, EmptyMatchingPatternFallsBackToPcreOnly) {
  auto set = compileYaml("rules:\n" + patternRule(1, "(?:evil)?") + patternRule(2, "good"));
  ASSERT_TRUE(set);
  EXPECT_EQ(set->matchMode(1), MatchMode::PcreOnly);
  EXPECT_EQ(set->matchMode(2), MatchMode::Hyperscan);
  auto result = inspect(*set, queryRequest("q", "good"), {}, {});
  EXPECT_EQ(result.detections.size(), 2u);
}

// Catastrophic backtracking meets PCRE2's match limit: no match for that
// rule, counted, and the request goes on.
TEST(RuleSet, PcreMatchLimitCountsAsNoMatch) {
  auto set = compileYaml("rules:\n" + patternRule(1, "^(?=(a+)+$)") + patternRule(2, "aaaa"));
  ASSERT_TRUE(set);
  ASSERT_NE(set->matchMode(1), MatchMode::Hyperscan);
  auto result = inspect(*set, queryRequest("q", std::string(40, 'a') + "b"), {}, {});
  EXPECT_GE(result.regex_errors, 1u);
  ASSERT_EQ(result.detections.size(), 1u);
  EXPECT_EQ(result.detections[0].rule_id, 2u);
}

// A pattern with non-ASCII characters is compiled in UTF-8 mode, so '.'
// is one character: "^é.$" matches "éé" (4 bytes) as it would in a
// UTF-8-aware engine. Values that are not UTF-8 never reach Hyperscan's
// UTF-8 mode (undefined there); PCRE2 answers for them.
TEST(RuleSet, Utf8PatternsMatchCharactersAndSurviveInvalidInput) {
  auto set = compileYaml("rules:\n" + patternRule(1, "^\u00e9.$") + patternRule(2, "caf[\u00e9\u00e8]"));
  ASSERT_TRUE(set);
  EXPECT_EQ(set->matchMode(1), MatchMode::Hyperscan);
  auto fired = [&](const std::string& value) {
    std::vector<std::uint32_t> out;
    for (const auto& d : inspect(*set, queryRequest("q", value), {}, {}).detections) {
      out.push_back(d.rule_id);
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(fired("\xC3\xA9\xC3\xA9"), (std::vector<std::uint32_t>{1}));
  EXPECT_EQ(fired("\xC3\xA9" "a"), (std::vector<std::uint32_t>{1}));
  EXPECT_EQ(fired("caf\xC3\xA8"), (std::vector<std::uint32_t>{2}));
  EXPECT_EQ(fired("x caf\xC3\xA8 \xff"), (std::vector<std::uint32_t>{2}));  // invalid: PCRE2
  EXPECT_TRUE(fired("caf\xE8").empty());                            // Latin-1 is not è
  EXPECT_TRUE(fired("\xC3\xA9\xff").empty());
}

TEST(RuleSet, BadPatternFailsWithRuleIdAndPosition) {
  auto set = RuleSet::compile(rulesFrom("rules:\n" + patternRule(1, "ok") +
                                        patternRule(42, "(unclosed") + patternRule(43, "a{2,1}")));
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().message,
            "t.yaml:3:5: rule 42: invalid pattern: missing closing parenthesis at offset 9\n"
            "t.yaml:4:5: rule 43: invalid pattern: numbers out of order in {} quantifier at "
            "offset 5");
}

TEST(RuleSet, DuplicateIdsRefused) {
  Rule a;
  a.id = 5;
  a.source = "x:1:1";
  a.targets = {{TargetKind::Path, {}, {}}};
  a.op.kind = OperatorKind::Contains;
  a.op.text = "x";
  Rule b = a;
  b.source = "x:2:1";
  auto set = RuleSet::compile({a, b});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().message, "x:2:1: duplicate rule id 5 (first defined at x:1:1)");
}

TEST(RuleSet, TokenizerDetectorsCompileAsDirectOperators) {
  Rule a;
  a.id = 9;
  a.source = "x:1:1";
  a.targets = {{TargetKind::ArgValues, {}, {}}};
  a.op.kind = OperatorKind::DetectSqli;
  auto set = RuleSet::compile({a});
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ((*set)->matchMode(9), MatchMode::Direct);
}

TEST(RuleSet, RulesBuiltInCodeAreCheckedToo) {
  Rule a;
  a.id = 3;
  a.source = "code:1:1";
  a.op.kind = OperatorKind::Contains;
  a.op.text = "x";
  auto no_targets = RuleSet::compile({a});
  ASSERT_FALSE(no_targets.ok());
  EXPECT_EQ(no_targets.error().message, "code:1:1: rule 3: no targets");
  a.targets = {{TargetKind::Path, {}, {}}};
  a.paranoia = 7;
  auto bad_level = RuleSet::compile({a});
  ASSERT_FALSE(bad_level.ok());
  EXPECT_EQ(bad_level.error().message, "code:1:1: rule 3: paranoia must be 1..4, not 7");
}

TEST(RuleSet, DisabledRulesAreListedButNotCompiled) {
  auto set = compileYaml(
      "rules:\n  - {id: 1, message: m, category: generic, targets: [path], enabled: false,\n"
      "     operator: {pattern: x}}\n");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->rules().size(), 1u);
  ASSERT_NE(set->find(1), nullptr);
  EXPECT_FALSE(set->matchMode(1).has_value());
  EXPECT_EQ(set->databaseCount(), 0u);
}

TEST(RuleSet, OneDatabasePerDistinctParanoiaSubset) {
  auto same = compileYaml("rules:\n" + patternRule(1, "a") + patternRule(2, "b"));
  ASSERT_TRUE(same);
  EXPECT_EQ(same->databaseCount(), 1u);  // levels 1..4 share one database
  auto split = compileYaml("rules:\n" + patternRule(1, "a") + patternRule(2, "b", 3));
  ASSERT_TRUE(split);
  EXPECT_EQ(split->databaseCount(), 2u);  // {1} for PL1-2, {1,2} for PL3-4
}

TEST(RuleSet, GroupsByChainAcrossTargetKinds) {
  auto set = compileYaml(R"(rules:
  - {id: 1, message: m, category: generic, targets: [path, query_args], operator: {pattern: a}}
  - {id: 2, message: m, category: generic, targets: [path], transforms: [lowercase],
     operator: {pattern: b}}
  - {id: 3, message: m, category: generic, targets: [path], operator: {phrases: [c, d]}}
  - {id: 4, message: m, category: generic, targets: [path], operator: {contains: e}}
)");
  ASSERT_TRUE(set);
  // One database per chain, whatever the kinds: (none) holds rules 1 and 3,
  // for path and query args alike; (lowercase) rule 2. Rule 4 is direct.
  EXPECT_EQ(set->databaseCount(), 2u);
  EXPECT_EQ(set->matchMode(3), MatchMode::Hyperscan);
  EXPECT_EQ(set->matchMode(4), MatchMode::Direct);
}

TEST(RuleSetHolder, SwapsWholeSets) {
  RuleSetHolder holder;
  EXPECT_EQ(holder.get(), nullptr);
  auto first = compileYaml("rules:\n" + patternRule(1, "a"));
  auto second = compileYaml("rules:\n" + patternRule(2, "b"));
  ASSERT_TRUE(first && second);
  EXPECT_NE(first->generation(), second->generation());
  holder.set(first);
  auto held = holder.get();
  holder.set(second);
  EXPECT_EQ(held->rules().front().id, 1u);  // a reader keeps the set it took
  EXPECT_EQ(holder.get()->rules().front().id, 2u);
}

// Workers on other threads allocate their own scratch on first use and
// get the same answers.
TEST(RuleSet, ConcurrentInspectionFromSeveralThreads) {
  auto set = compileYaml("rules:\n" + patternRule(1, "attack") + patternRule(2, "(a)\\1"));
  ASSERT_TRUE(set);
  std::vector<std::thread> threads;
  std::vector<int> hits(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        auto r = inspect(*set, queryRequest("q", i % 2 ? "an attack aa" : "benign"), {}, {});
        hits[static_cast<size_t>(t)] += static_cast<int>(r.detections.size());
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int h : hits) EXPECT_EQ(h, 200);  // 100 attack requests x 2 rules
}

}  // namespace
}  // namespace mamori::inspect

namespace mamori::inspect {
namespace {

TEST(RuleSet, MergesChainsThatChangeOrdinaryTextAlike) {
  // [lowercase] and [url_decode_uni, lowercase] lowercase ordinary text
  // alike: one merged database on top of their own two. [remove_whitespace]
  // changes ordinary text differently and stays alone.
  auto set = compileYaml(R"(rules:
  - {id: 1, message: m, category: generic, targets: [path], transforms: [lowercase],
     operator: {pattern: a}}
  - {id: 2, message: m, category: generic, targets: [path], transforms: [url_decode_uni, lowercase],
     operator: {pattern: b}}
  - {id: 3, message: m, category: generic, targets: [path], transforms: [remove_whitespace],
     operator: {pattern: c}}
)");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->databaseCount(), 4u);
}

}  // namespace
}  // namespace mamori::inspect
