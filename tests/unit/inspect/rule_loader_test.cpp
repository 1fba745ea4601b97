#include "inspect/rule_loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace mamori::inspect {
namespace {

std::string loadError(const std::string& yaml) {
  auto rules = loadRulesString(yaml, "t.yaml");
  EXPECT_FALSE(rules.ok()) << "loaded although an error was expected";
  return rules.ok() ? std::string() : rules.error().message;
}

constexpr const char* kFull = R"(rules:
  - id: 100
    message: path traversal
    category: lfi
    severity: critical
    paranoia: 2
    tags: [attack-lfi, owasp]
    targets:
      - path
      - {args: all, except: [comment]}
      - {headers: [Referer, User-Agent]}
    transforms: [url_decode_uni, normalize_path, lowercase]
    operator: {pattern: '\.\./', caseless: true}
    score: 4
    enabled: false
    samples:
      match:
        - {target: query_args, name: f, value: ../../etc/passwd}
        - "GET /a/../../b HTTP/1.1\nHost: x\n\n"
      nomatch:
        - {target: path, value: /index.html}
)";

TEST(RuleLoader, LoadsEveryField) {
  auto rules = loadRulesString(kFull, "t.yaml");
  ASSERT_TRUE(rules.ok()) << rules.error().message;
  ASSERT_EQ(rules->size(), 1u);
  const Rule& r = rules->front();
  EXPECT_EQ(r.id, 100u);
  EXPECT_EQ(r.message, "path traversal");
  EXPECT_EQ(r.category, Category::Lfi);
  EXPECT_EQ(r.severity, Severity::Critical);
  EXPECT_EQ(r.paranoia, 2);
  EXPECT_EQ(r.tags, (std::vector<std::string>{"attack-lfi", "owasp"}));
  ASSERT_EQ(r.targets.size(), 3u);
  EXPECT_EQ(r.targets[0], (Target{TargetKind::Path, {}, {}}));
  EXPECT_EQ(r.targets[1], (Target{TargetKind::ArgValues, {}, {"comment"}}));
  EXPECT_EQ(r.targets[2], (Target{TargetKind::HeaderValues, {"Referer", "User-Agent"}, {}}));
  EXPECT_EQ(r.transforms, (TransformChain{Transform::UrlDecodeUni, Transform::NormalizePath,
                                          Transform::Lowercase}));
  EXPECT_EQ(r.op.kind, OperatorKind::Pattern);
  EXPECT_EQ(r.op.text, "\\.\\./");
  EXPECT_TRUE(r.op.caseless);
  EXPECT_EQ(r.score, 4);
  EXPECT_FALSE(r.enabled);
  EXPECT_EQ(r.source, "t.yaml:2:5");
  ASSERT_EQ(r.samples.size(), 3u);
  EXPECT_TRUE(r.samples[0].expect_match);
  EXPECT_EQ(r.samples[0].target, TargetKind::QueryArgValues);
  EXPECT_EQ(r.samples[0].name, "f");
  EXPECT_EQ(r.samples[0].value, "../../etc/passwd");
  EXPECT_EQ(r.samples[1].raw, "GET /a/../../b HTTP/1.1\nHost: x\n\n");
  EXPECT_FALSE(r.samples[2].expect_match);
}

TEST(RuleLoader, DefaultsForOptionalFields) {
  auto rules = loadRulesString(R"(rules:
  - id: 1
    message: m
    category: generic
    targets: [method]
    operator: {equals: TRACE}
)",
                               "t.yaml");
  ASSERT_TRUE(rules.ok()) << rules.error().message;
  const Rule& r = rules->front();
  EXPECT_EQ(r.severity, Severity::Warning);
  EXPECT_EQ(r.paranoia, 1);
  EXPECT_EQ(r.score, 5);
  EXPECT_TRUE(r.enabled);
  EXPECT_TRUE(r.transforms.empty());
  EXPECT_EQ(r.op.kind, OperatorKind::Equals);
  EXPECT_FALSE(r.op.negate);
}

TEST(RuleLoader, OperatorForms) {
  auto rules = loadRulesString(R"(rules:
  - {id: 1, message: m, category: scanner, targets: [{headers: user-agent}],
     operator: {phrases: [sqlmap, nikto], match: word, caseless: true}}
  - {id: 2, message: m, category: protocol, targets: [args], operator: {numeric: {of: count, gt: 255}}}
  - {id: 3, message: m, category: protocol, targets: [raw_query],
     operator: {byte_range: "9,10, 32-126", negate: true}}
  - {id: 4, message: m, category: generic, targets: [path], operator: {suffix: .bak}}
  - {id: 5, message: m, category: generic, targets: [path], operator: {numeric: {of: length, ge: 10}}}
)",
                               "t.yaml");
  ASSERT_TRUE(rules.ok()) << rules.error().message;
  const auto& r = *rules;
  EXPECT_EQ(r[0].op.kind, OperatorKind::Phrases);
  EXPECT_EQ(r[0].op.phrases, (std::vector<std::string>{"sqlmap", "nikto"}));
  EXPECT_EQ(r[0].op.phrase_match, PhraseMatch::Word);
  EXPECT_EQ(r[1].op.kind, OperatorKind::Numeric);
  EXPECT_EQ(r[1].op.numeric_of, NumericOf::Count);
  EXPECT_EQ(r[1].op.compare, Compare::Gt);
  EXPECT_EQ(r[1].op.number, 255);
  EXPECT_EQ(r[2].op.allowed, (std::vector<ByteRangeSpan>{{9, 9}, {10, 10}, {32, 126}}));
  EXPECT_TRUE(r[2].op.negate);
  EXPECT_EQ(r[3].op.kind, OperatorKind::Suffix);
  EXPECT_EQ(r[4].op.numeric_of, NumericOf::Length);
  EXPECT_EQ(r[4].op.compare, Compare::Ge);
}

TEST(RuleLoader, UnknownKeyWithHint) {
  EXPECT_EQ(loadError(R"(rules:
  - id: 1
    mesage: m
    category: generic
    targets: [path]
    operator: {contains: x}
)"),
            "t.yaml:3:5: unknown key 'mesage' in a rule (did you mean 'message'?)");
}

TEST(RuleLoader, UnknownTopLevelKey) {
  EXPECT_EQ(loadError("rule: []\n"),
            "t.yaml:1:1: unknown key 'rule' in the rules file (did you mean 'rules'?)");
}

TEST(RuleLoader, MissingRequiredKeys) {
  EXPECT_EQ(loadError("rules:\n  - {id: 1, category: generic, targets: [path], operator: {contains: x}}\n"),
            "t.yaml:2:5: missing required key 'message'");
}

TEST(RuleLoader, BadValuesAreEachReportedInFileOrder) {
  EXPECT_EQ(loadError(R"(rules:
  - id: 0
    message: m
    category: sqlinjection
    paranoia: 5
    targets: [pth]
    transforms: [urldecode]
    operator: {pattern: a}
)"),
            "t.yaml:2:9: 'id' out of range: 0 (allowed 1..999999999)\n"
            "t.yaml:4:15: unknown category 'sqlinjection' (expected one of: sqli, xss, lfi, rfi, "
            "rce, php, java, ssti, ssrf, nosql, ldap, xxe, crlf, protocol, scanner, session, "
            "generic)\n"
            "t.yaml:5:15: 'paranoia' out of range: 5 (allowed 1..4)\n"
            "t.yaml:6:15: unknown target 'pth' (did you mean 'path'?)\n"
            "t.yaml:7:18: unknown transform 'urldecode' (did you mean 'url_decode'?)");
}

TEST(RuleLoader, DuplicateIdInOneFile) {
  EXPECT_EQ(loadError(R"(rules:
  - {id: 7, message: a, category: generic, targets: [path], operator: {contains: x}}
  - {id: 7, message: b, category: generic, targets: [path], operator: {contains: y}}
)"),
            "t.yaml:3:5: duplicate rule id 7 (first defined at t.yaml:2:5)");
}

TEST(RuleLoader, OperatorMustNameExactlyOneTest) {
  EXPECT_EQ(loadError("rules:\n  - {id: 1, message: m, category: generic, targets: [path],\n"
                      "     operator: {contains: x, prefix: y}}\n"),
            "t.yaml:3:16: the operator names 2 tests: contains, prefix (exactly one of: pattern, "
            "phrases, equals, prefix, suffix, contains, numeric, byte_range, detect_sqli, "
            "detect_xss)");
  EXPECT_EQ(loadError("rules:\n  - {id: 1, message: m, category: generic, targets: [path],\n"
                      "     operator: {negate: true}}\n"),
            "t.yaml:3:16: the operator names no test (exactly one of: pattern, phrases, equals, "
            "prefix, suffix, contains, numeric, byte_range, detect_sqli, detect_xss)");
}

TEST(RuleLoader, TokenizerDetectorsLoad) {
  auto rules = loadRulesString("rules:\n  - {id: 1, message: m, category: sqli, targets: [args],\n"
                               "     operator: {detect_sqli: true}}\n"
                               "  - {id: 2, message: m, category: xss, targets: [args],\n"
                               "     operator: {detect_xss: {}}}\n",
                               "t.yaml");
  ASSERT_TRUE(rules.ok()) << rules.error().message;
  EXPECT_EQ((*rules)[0].op.kind, OperatorKind::DetectSqli);
  EXPECT_EQ((*rules)[1].op.kind, OperatorKind::DetectXss);
}

TEST(RuleLoader, TargetShapeErrors) {
  EXPECT_EQ(loadError("rules:\n  - {id: 1, message: m, category: generic,\n"
                      "     targets: [{path: [x]}], operator: {contains: x}}\n"),
            "t.yaml:3:17: target 'path' has no names to select (write it as a plain list item: "
            "- path)");
  EXPECT_EQ(loadError("rules:\n  - {id: 1, message: m, category: generic,\n"
                      "     targets: [], operator: {contains: x}}\n"),
            "t.yaml:3:15: 'targets' is empty (name at least one part of the request)");
  EXPECT_EQ(loadError("rules:\n  - {id: 1, message: m, category: generic,\n"
                      "     targets: [{args: a, headers: b}], operator: {contains: x}}\n"),
            "t.yaml:3:26: a target names one part of the request (write each target as its own "
            "list item)");
}

TEST(RuleLoader, NumericAndByteRangeErrors) {
  EXPECT_EQ(loadError("rules:\n  - {id: 1, message: m, category: generic, targets: [args],\n"
                      "     operator: {numeric: {of: count}}}\n"),
            "t.yaml:3:26: 'numeric' needs exactly one comparison (one of: gt, ge, lt, le, eq, "
            "ne)");
  EXPECT_EQ(loadError("rules:\n  - {id: 1, message: m, category: generic, targets: [args],\n"
                      "     operator: {byte_range: \"32-300\"}}\n"),
            "t.yaml:3:29: invalid byte range '32-300' (write bytes 0..255 as 'N' or "
            "'LOW-HIGH', separated by commas)");
  EXPECT_EQ(loadError("rules:\n  - {id: 1, message: m, category: generic, targets: [args],\n"
                      "     operator: {numeric: {gt: 1}, caseless: true}}\n"),
            "t.yaml:3:45: 'caseless' does not apply to 'numeric'");
}

TEST(RuleLoader, InvalidYamlHasPosition) {
  EXPECT_EQ(loadError("rules:\n  - {id: 1\n"), "t.yaml:3:1: invalid YAML: end of map flow not found");
}

TEST(RuleLoader, MoreThanOneDocumentRefused) {
  EXPECT_EQ(loadError("rules: []\n---\nrules: []\n"),
            "t.yaml:2:1: more than one YAML document (remove the '---' separator)");
}

// Found by the fuzzer: yaml-cpp's LoadAll never returns on this input.
TEST(RuleLoader, RegressTagInputThatNeverEndsInLoadAll) {
  EXPECT_EQ(loadError("!binar,y \"AAAA\"\n"),
            "t.yaml:1:7: more than one YAML document (remove the '---' separator)");
}

TEST(RuleLoader, EmptyFileAndWrongTypes) {
  EXPECT_EQ(loadError(""), "t.yaml:1:1: the rules file is empty (expected a mapping with key 'rules')");
  EXPECT_EQ(loadError("rules: {}\n"), "t.yaml:1:8: expected a list for 'rules', got a mapping");
  EXPECT_EQ(loadError("rules:\n  - {id: 1, message: m, category: generic, targets: [path],\n"
                      "     operator: {contains: x}, enabled: no}\n"),
            "t.yaml:3:40: expected true or false for 'enabled', got 'no'");
}

TEST(RuleLoader, SampleErrors) {
  EXPECT_EQ(loadError("rules:\n  - {id: 1, message: m, category: generic, targets: [path],\n"
                      "     operator: {contains: x}, samples: {match: [{target: path}]}}\n"),
            "t.yaml:3:49: missing required key 'value'");
  EXPECT_EQ(loadError("rules:\n  - {id: 1, message: m, category: generic, targets: [path],\n"
                      "     operator: {contains: x}, samples: {matches: []}}\n"),
            "t.yaml:3:41: unknown key 'matches' in samples (did you mean 'match'?)");
}

class RuleDirectory : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mamori_rules_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::filesystem::path dir_;
};

TEST_F(RuleDirectory, LoadsYamlFilesInNameOrder) {
  write("b.yaml", "rules:\n  - {id: 2, message: b, category: generic, targets: [path], "
                  "operator: {contains: b}}\n");
  write("a.yaml", "rules:\n  - {id: 1, message: a, category: generic, targets: [path], "
                  "operator: {contains: a}}\n");
  write("notes.txt", "not rules");
  auto rules = loadRulesDirectory(dir_.string());
  ASSERT_TRUE(rules.ok()) << rules.error().message;
  ASSERT_EQ(rules->size(), 2u);
  EXPECT_EQ((*rules)[0].id, 1u);
  EXPECT_EQ((*rules)[1].id, 2u);
}

TEST_F(RuleDirectory, DuplicateIdAcrossFilesNamesBoth) {
  write("a.yaml", "rules:\n  - {id: 1, message: a, category: generic, targets: [path], "
                  "operator: {contains: a}}\n");
  write("b.yaml", "rules:\n  - {id: 1, message: b, category: generic, targets: [path], "
                  "operator: {contains: b}}\n");
  auto rules = loadRulesDirectory(dir_.string());
  ASSERT_FALSE(rules.ok());
  EXPECT_EQ(rules.error().message, (dir_ / "b.yaml").string() + ":2:5: duplicate rule id 1 " +
                                       "(first defined at " + (dir_ / "a.yaml").string() + ":2:5)");
}

TEST_F(RuleDirectory, MissingDirectoryIsAnError) {
  auto rules = loadRulesDirectory((dir_ / "nope").string());
  ASSERT_FALSE(rules.ok());
  EXPECT_EQ(rules.error().code, ENOENT);
}

TEST(RuleLoader, MissingFileKeepsErrno) {
  auto rules = loadRulesFile("/nonexistent/mamori/rules.yaml");
  ASSERT_FALSE(rules.ok());
  EXPECT_EQ(rules.error().code, ENOENT);
}

}  // namespace
}  // namespace mamori::inspect
