#include "inspect/inspector.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "inspect/rule_loader.h"

namespace mamori::inspect {
namespace {

std::shared_ptr<const RuleSet> compileYaml(const std::string& yaml) {
  auto rules = loadRulesString(yaml, "t.yaml");
  EXPECT_TRUE(rules.ok()) << rules.error().message;
  if (!rules.ok()) return nullptr;
  auto set = RuleSet::compile(*rules);
  EXPECT_TRUE(set.ok()) << set.error().message;
  return set.ok() ? *set : nullptr;
}

// A request with a distinct marker in every part, so a rule per target
// kind can prove it sees its part and only its part.
http::Request markedRequest() {
  http::Request r;
  r.method = http::Method::Post;
  r.method_name = "POST";
  r.target = "/p_path/p%41?qn_name=qv_value";
  r.path = "/p_path/p%41";
  r.decoded_path = "/p_path/pA_dec";
  r.query = "qn_name=qv_value&raw_q";
  r.has_query = true;
  r.args = {{"qn_name", "qv_value"}};
  r.headers = {{"Host", "example.test"}, {"X-Hn-Name", "hv_value"},
               {"Cookie", "cn_name=cv_value"}};
  r.cookies = {{"cn_name", "cv_value"}};
  r.body = "rawbody_marker";
  return r;
}

http::ParsedBody markedBody() {
  http::ParsedBody body;
  body.kind = http::BodyKind::Multipart;
  body.fields = {{"bn_name", "bv_value", "", false}, {"upload", "content", "fn_file.php", true}};
  body.error = http::BodyError::Truncated;
  return body;
}

std::vector<std::uint32_t> ids(const InspectResult& result) {
  std::vector<std::uint32_t> out;
  for (const auto& d : result.detections) out.push_back(d.rule_id);
  std::sort(out.begin(), out.end());
  return out;
}

const Detection* detection(const InspectResult& result, std::uint32_t id) {
  for (const auto& d : result.detections) {
    if (d.rule_id == id) return &d;
  }
  return nullptr;
}

std::string rule(int id, const std::string& targets, const std::string& op,
                 const std::string& extra = "") {
  return "  - {id: " + std::to_string(id) + ", message: rule" + std::to_string(id) +
         ", category: generic, score: 1, targets: " + targets + ", operator: " + op + extra +
         "}\n";
}

InspectOptions permissive() {
  InspectOptions o;
  o.paranoia_level = 4;
  o.anomaly_threshold = 1000;
  return o;
}

TEST(Inspector, EveryTargetKindSeesItsOwnPart) {
  auto set = compileYaml("rules:\n" +
                         rule(1, "[path]", "{contains: p_path}") +
                         rule(2, "[decoded_path]", "{contains: pA_dec}") +
                         rule(3, "[raw_query]", "{contains: raw_q}") +
                         rule(4, "[query_arg_names]", "{contains: qn_}") +
                         rule(5, "[query_args]", "{contains: qv_}") +
                         rule(6, "[header_names]", "{pattern: '^X-Hn'}") +
                         rule(7, "[headers]", "{contains: hv_}") +
                         rule(8, "[cookie_names]", "{contains: cn_}") +
                         rule(9, "[cookies]", "{contains: cv_}") +
                         rule(10, "[body_names]", "{contains: bn_}") +
                         rule(11, "[body_fields]", "{contains: bv_}") +
                         rule(12, "[raw_body]", "{contains: rawbody}") +
                         rule(13, "[file_names]", "{suffix: .php}") +
                         rule(14, "[method]", "{equals: POST}") +
                         rule(15, "[request_line]", "{pattern: '^POST /p_path/p%41\\?qn_name=qv_value HTTP/1\\.1$'}") +
                         rule(16, "[body_error]", "{equals: truncated}") +
                         rule(17, "[arg_names]", "{phrases: [bn_name]}") +
                         rule(18, "[args]", "{phrases: [qv_value]}") +
                         // Markers of other parts must not leak into these targets.
                         rule(19, "[path, query_args, headers]", "{contains: bv_}") +
                         rule(20, "[cookies]", "{contains: hv_}"));
  ASSERT_TRUE(set);
  auto result = inspect(*set, markedRequest(), markedBody(), permissive());
  std::vector<std::uint32_t> expected;
  for (std::uint32_t i = 1; i <= 18; ++i) expected.push_back(i);
  EXPECT_EQ(ids(result), expected);

  ASSERT_NE(detection(result, 5), nullptr);
  EXPECT_EQ(detection(result, 5)->target, TargetKind::QueryArgValues);
  EXPECT_EQ(detection(result, 5)->target_name, "qn_name");
  EXPECT_EQ(detection(result, 5)->fragment, "qv_");
  EXPECT_EQ(detection(result, 13)->target_name, "upload");
  EXPECT_EQ(detection(result, 13)->fragment, ".php");
  EXPECT_EQ(detection(result, 17)->target, TargetKind::BodyNames);
  EXPECT_EQ(detection(result, 18)->target, TargetKind::QueryArgValues);
}

// Rules with one transform chain share one Hyperscan database across the
// target kinds they read; a hit of a rule on a value of a kind it does not
// target (a marker of another part) must not count, whether Hyperscan or
// PCRE2 (a back-reference Hyperscan cannot take) found it.
TEST(Inspector, TlsFingerprintTargetsSeeTheConnectionFacts) {
  // JA4 of curl 7.88 (tests/unit/guard/testdata); the JA3 is an MD5 hex.
  const std::string ja4 = "t13d3112h2_e8f1e7e78f70_6bebaf5329ac";
  const std::string ja3 = "6fa3244afc6bb6f9fad207b6b52af26b";
  auto set = compileYaml("rules:\n" + rule(1, "[tls_ja4]", "{equals: " + ja4 + "}") +
                         rule(2, "[tls_ja3]", "{prefix: 6fa3244a}") +
                         rule(3, "[tls_ja4]", "{prefix: t12}"));
  ASSERT_TRUE(set);
  EXPECT_TRUE(set->readsTargetKind(TargetKind::TlsJa3));
  EXPECT_TRUE(set->readsTargetKind(TargetKind::TlsJa4));
  EXPECT_FALSE(set->readsTargetKind(TargetKind::RawBody));
  auto over_tls = inspect(*set, markedRequest(), markedBody(), permissive(),
                          ConnectionFacts{ja3, ja4});
  EXPECT_EQ(ids(over_tls), (std::vector<std::uint32_t>{1, 2}));
  ASSERT_NE(detection(over_tls, 1), nullptr);
  EXPECT_EQ(detection(over_tls, 1)->target, TargetKind::TlsJa4);
  // Plain HTTP (no facts): the targets yield no value, nothing matches.
  EXPECT_TRUE(inspect(*set, markedRequest(), markedBody(), permissive()).detections.empty());
}

TEST(Inspector, SharedChainDatabaseCountsHitsOnlyOnTargetedKinds) {
  auto set = compileYaml("rules:\n" +
                         rule(1, "[path]", "{pattern: 'qv_val'}") +
                         rule(2, "[query_args]", "{pattern: 'qv_val'}") +
                         rule(3, "[cookies]", "{phrases: [hv_value]}") +
                         rule(4, "[headers]", "{phrases: [hv_value]}") +
                         rule(5, "[body_fields]", "{pattern: '(v)_\\1'}") +
                         rule(6, "[path, header_names]", "{pattern: '(v)_\\1'}") +
                         rule(7, "[query_arg_names, cookie_names]", "{pattern: 'bn_'}") +
                         // A NUL in the pattern: PCRE2 only, run on every value.
                         rule(8, "[cookies]", "{pattern: \"bv_\\0?v\"}") +
                         rule(9, "[path, body_fields]", "{pattern: \"bv_\\0?v\"}"));
  ASSERT_TRUE(set);
  EXPECT_EQ(set->databaseCount(), 1u);
  EXPECT_EQ(set->matchMode(5), MatchMode::HyperscanPrefilter);
  EXPECT_EQ(set->matchMode(8), MatchMode::PcreOnly);
  auto result = inspect(*set, markedRequest(), markedBody(), permissive());
  // Rule 8's expression runs in the body-field pass too (rule 9 reads
  // that kind with the same chain) and matches there, but rule 8 reads
  // only cookies.
  EXPECT_EQ(ids(result), (std::vector<std::uint32_t>{2, 4, 5, 9}));
  ASSERT_NE(detection(result, 2), nullptr);
  EXPECT_EQ(detection(result, 2)->target, TargetKind::QueryArgValues);
  EXPECT_EQ(detection(result, 2)->fragment, "qv_val");
  ASSERT_NE(detection(result, 4), nullptr);
  EXPECT_EQ(detection(result, 4)->target, TargetKind::HeaderValues);
  EXPECT_EQ(detection(result, 4)->target_name, "X-Hn-Name");
  ASSERT_NE(detection(result, 5), nullptr);
  EXPECT_EQ(detection(result, 5)->target, TargetKind::BodyValues);
  EXPECT_EQ(detection(result, 5)->target_name, "bn_name");
  EXPECT_EQ(detection(result, 5)->fragment, "v_v");
  ASSERT_NE(detection(result, 9), nullptr);
  EXPECT_EQ(detection(result, 9)->target, TargetKind::BodyValues);
  EXPECT_EQ(detection(result, 9)->fragment, "bv_v");
}

TEST(Inspector, NamedTargetsAndExcept) {
  http::Request r = markedRequest();
  r.args = {{"id", "1 union select"}, {"comment", "union select is fine here"}};
  auto set = compileYaml("rules:\n" +
                         rule(1, "[{query_args: [ID]}]", "{pattern: union\\s+select}") +
                         rule(2, "[{query_args: all, except: [comment, id]}]", "{contains: union}") +
                         rule(3, "[{query_args: [comment]}]", "{contains: union}") +
                         rule(4, "[{headers: [x-hn-name]}]", "{contains: hv_}"));
  ASSERT_TRUE(set);
  auto result = inspect(*set, r, {}, permissive());
  EXPECT_EQ(ids(result), (std::vector<std::uint32_t>{1, 3, 4}));
  EXPECT_EQ(detection(result, 1)->target_name, "id");
  EXPECT_EQ(detection(result, 1)->fragment, "union select");
}

TEST(Inspector, TransformChainAppliesBeforeMatching) {
  http::Request r = markedRequest();
  r.args = {{"f", "%252e%252E%252f%252e%252e/etc/passwd"}};
  auto set = compileYaml("rules:\n" +
                         rule(1, "[query_args]", "{pattern: '\\.\\./\\.\\./etc'}",
                              ", transforms: [url_decode_uni, lowercase]") +
                         rule(2, "[query_args]", "{pattern: '\\.\\./\\.\\./etc'}"));
  ASSERT_TRUE(set);
  auto result = inspect(*set, r, {}, permissive());
  EXPECT_EQ(ids(result), (std::vector<std::uint32_t>{1}));
  EXPECT_EQ(detection(result, 1)->fragment, "../../etc");
  EXPECT_EQ(detection(result, 1)->transforms,
            (TransformChain{Transform::UrlDecodeUni, Transform::Lowercase}));
}

// The per-request cache shares chain prefixes ([url_decode_uni] is computed
// once for every chain that starts with it), passes unchanged values
// through and shares values with the same bytes across targets; each
// chain must still see exactly its own result, request after request on
// the same thread (the cache's buffers are reused).
TEST(Inspector, SharedChainPrefixesStillGiveEachChainItsOwnValue) {
  auto set = compileYaml(
      "rules:\n" +
      rule(1, "[query_args]", "{pattern: 'select'}", ", transforms: [url_decode_uni, lowercase]") +
      rule(2, "[query_args]", "{pattern: '%53elect'}", ", transforms: [lowercase]") +
      rule(3, "[query_args]", "{contains: SELECT}", ", transforms: [url_decode_uni]") +
      rule(4, "[query_args]", "{pattern: '<select'}",
           ", transforms: [url_decode_uni, html_entity_decode, lowercase]") +
      rule(5, "[query_args]", "{contains: '&lt;'}", ", transforms: [url_decode_uni, lowercase]") +
      rule(6, "[{headers: [X-Copy]}]", "{equals: select}",
           ", transforms: [url_decode_uni, lowercase]") +
      rule(7, "[query_args]", "{equals: '%53ELECT'}") +
      rule(8, "[query_args]", "{contains: select}", ", transforms: [lowercase]"));
  ASSERT_TRUE(set);
  http::Request r = markedRequest();
  r.args = {{"a", "%53ELECT"}, {"b", "&lt;%53ELECT"}};
  r.headers.push_back({"X-Copy", "%53ELECT"});
  auto expect = [&](const InspectResult& result) {
    EXPECT_EQ(ids(result), (std::vector<std::uint32_t>{1, 2, 3, 4, 5, 6, 7}));
    ASSERT_EQ(result.detections.size(), 7u);
    EXPECT_EQ(detection(result, 1)->fragment, "select");
    EXPECT_EQ(detection(result, 2)->fragment, "%53elect");
    EXPECT_EQ(detection(result, 3)->fragment, "SELECT");
    EXPECT_EQ(detection(result, 4)->fragment, "<select");
    EXPECT_EQ(detection(result, 5)->fragment, "&lt;");
    EXPECT_EQ(detection(result, 6)->target, TargetKind::HeaderValues);
    EXPECT_EQ(detection(result, 7)->fragment, "%53ELECT");
  };
  expect(inspect(*set, r, {}, permissive()));
  // A larger, different request in between, then the first again.
  http::Request other = markedRequest();
  other.args = {{"a", std::string(20000, 'Q') + "%2541"}, {"b", "&amp;&amp;" + std::string(500, 'z')}};
  auto middle = inspect(*set, other, {}, permissive());
  EXPECT_TRUE(middle.detections.empty());
  expect(inspect(*set, r, {}, permissive()));
}

// Chains that leave ordinary text alike share one merged scan per value
// (compiled.h, Merge). Whatever the value, every rule must find exactly
// what it finds compiled alone, where no merge exists: same rules, same
// values named, same fragments.
TEST(Inspector, MergedScansFindWhatEachChainFindsAlone) {
  const std::vector<std::string> rules = {
      rule(1, "[query_args, headers]", "{pattern: 'sel[e3]ct'}", ", transforms: [url_decode_uni, lowercase]"),
      rule(2, "[query_args]", "{pattern: 'select'}", ", transforms: [lowercase]"),
      rule(3, "[query_args, body_fields]", "{phrases: [union, 'or 1']}",
           ", transforms: [url_decode_uni, html_entity_decode, lowercase]"),
      rule(4, "[query_args, headers]", "{pattern: '<scr'}", ", transforms: [url_decode_uni]"),
      rule(5, "[query_args]", "{pattern: 'a&b'}", ", transforms: [html_entity_decode]"),
      rule(6, "[query_args, body_fields]", "{pattern: 'x=1'}"),
      rule(7, "[query_args]", "{pattern: 'selectunion'}", ", transforms: [remove_whitespace, lowercase]"),
      rule(8, "[query_args]", "{pattern: 'or1'}", ", transforms: [url_decode_uni, remove_whitespace, lowercase]"),
  };
  std::string all = "rules:\n";
  for (const auto& r : rules) all += r;
  auto merged = compileYaml(all);
  ASSERT_TRUE(merged);
  std::vector<std::shared_ptr<const RuleSet>> alone;
  for (const auto& r : rules) {
    alone.push_back(compileYaml("rules:\n" + r));
    ASSERT_TRUE(alone.back());
  }
  // More databases than chains: the merged ones come on top.
  EXPECT_GT(merged->databaseCount(), rules.size());

  const std::vector<std::string> pieces = {"select", "SELECT", "%53elect", "sel%45ct", "union ",
                                           "UNION", "&lt;scr", "%3cscr", "<scr", "a&amp;b",
                                           "a&b", "x=1", "or 1", "OR%201", " ", "plain", "%",
                                           "&", "sel3ct", "\t"};
  std::uint32_t seed = 12345;
  auto next = [&seed] {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) & 0x7fff;
  };
  size_t found = 0;
  for (int round = 0; round < 300; ++round) {
    http::Request r = markedRequest();
    http::ParsedBody body;
    r.args.clear();
    for (int a = 0; a < 3; ++a) {
      std::string value;
      for (unsigned k = next() % 5; k > 0; --k) value += pieces[next() % pieces.size()];
      r.args.push_back({"a" + std::to_string(a), value});
      if (a == 1) r.headers.push_back({"X-Copy", value});
      if (a == 2) body.fields.push_back({"f", value + pieces[next() % pieces.size()], "", false});
    }
    auto together = inspect(*merged, r, body, permissive());
    std::vector<std::string> expected;
    for (const auto& set : alone) {
      for (const auto& d : inspect(*set, r, body, permissive()).detections) {
        expected.push_back(std::to_string(d.rule_id) + "|" + d.target_name + "|" + d.fragment);
      }
    }
    std::vector<std::string> got;
    for (const auto& d : together.detections) {
      got.push_back(std::to_string(d.rule_id) + "|" + d.target_name + "|" + d.fragment);
    }
    std::sort(expected.begin(), expected.end());
    std::sort(got.begin(), got.end());
    found += got.size();
    ASSERT_EQ(got, expected) << "round " << round << " a0=" << r.args[0].value
                             << " a1=" << r.args[1].value << " a2=" << r.args[2].value;
  }
  EXPECT_GT(found, 500u);  // the values do hit: the comparison is not vacuous
}

// Long values are hashed (to share the transforms of identical values)
// only when another value has the same length: identical long values
// still share, and an equally long different value must not.
TEST(Inspector, IdenticalLongValuesShareAndEquallyLongOnesDoNot) {
  auto set = compileYaml(
      "rules:\n" +
      rule(1, "[{query_args: [a]}]", "{pattern: 'ax1'}", ", transforms: [lowercase]") +
      rule(2, "[{query_args: [b]}]", "{pattern: 'ax1'}", ", transforms: [lowercase]") +
      rule(3, "[{query_args: [c]}]", "{pattern: 'ax2'}", ", transforms: [lowercase]") +
      rule(4, "[{query_args: [c]}]", "{pattern: 'ax1'}", ", transforms: [lowercase]") +
      rule(5, "[{query_args: [d]}]", "{pattern: 'ax3$'}", ", transforms: [lowercase]"));
  ASSERT_TRUE(set);
  http::Request r = markedRequest();
  const std::string a = std::string(300, 'A') + "X1";
  r.args = {{"a", a}, {"b", a}, {"c", std::string(300, 'A') + "X2"},
            {"d", std::string(700, 'A') + "X3"}};
  for (int round = 0; round < 2; ++round) {
    auto result = inspect(*set, r, {}, permissive());
    EXPECT_EQ(ids(result), (std::vector<std::uint32_t>{1, 2, 3, 5}));
    ASSERT_NE(detection(result, 3), nullptr);
    EXPECT_EQ(detection(result, 3)->fragment, "ax2");
  }
}

// Chains whose decodes have nothing to do on a value apply their later
// transforms to the same bytes; the transform cache applies each to those
// bytes once (its pass-through memo, and lowercase commuting with the
// whitespace transforms) and the chains share the result.
// Whatever the value (decodes with and without work, long and short),
// every rule must find what it finds compiled alone.
TEST(Inspector, PassedThroughBytesAreTransformedOnceForEveryChain) {
  const std::string chains[] = {
      "[url_decode_uni, remove_whitespace, lowercase]",
      "[url_decode_uni, js_decode, html_entity_decode, remove_whitespace, lowercase]",
      "[url_decode_uni, html_entity_decode, remove_whitespace]",
      "[html_entity_decode, remove_whitespace, lowercase]",
      "[url_decode_uni, compress_whitespace, lowercase]",
      "[js_decode, html_entity_decode, compress_whitespace, lowercase]",
      "[url_decode_uni, remove_comments, lowercase]",
      "[html_entity_decode, remove_comments, compress_whitespace]",
      // The same bytes in the other order (lowercase commutes with the
      // whitespace transforms): the cache may take these from the above.
      "[lowercase, remove_whitespace]",
      "[url_decode_uni, lowercase, compress_whitespace]",
      "[js_decode, lowercase, remove_whitespace]",
  };
  const std::string patterns[] = {"'or1=1'", "'a b'", "'sel[e]ct'", "'<x'", "'AB'", "'x y'",
                                  "'sel/'", "'ab'", "'1=1a'", "'or 1'", "'bsel'"};
  std::vector<std::string> rules;
  for (size_t i = 0; i < std::size(chains); ++i) {
    rules.push_back(rule(static_cast<int>(i + 1), "[query_args, body_fields]",
                         "{pattern: " + patterns[i] + "}", ", transforms: " + chains[i]));
  }
  std::string all = "rules:\n";
  for (const auto& r : rules) all += r;
  auto together = compileYaml(all);
  ASSERT_TRUE(together);
  std::vector<std::shared_ptr<const RuleSet>> alone;
  for (const auto& r : rules) {
    alone.push_back(compileYaml("rules:\n" + r));
    ASSERT_TRUE(alone.back());
  }
  const std::vector<std::string> pieces = {"OR", " 1", "=1", "%41", "&lt;x", "\\x41", "A B",
                                           "a  b", "sel", "/*c*/", "ect", "X Y", "%20", "&amp;",
                                           "\t", "b"};
  std::uint32_t seed = 777;
  auto next = [&seed] {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) & 0x7fff;
  };
  size_t found = 0;
  for (int round = 0; round < 300; ++round) {
    http::Request r = markedRequest();
    http::ParsedBody body;
    r.args.clear();
    for (int a = 0; a < 3; ++a) {
      std::string value;
      for (unsigned k = next() % 6; k > 0; --k) value += pieces[next() % pieces.size()];
      // Every fourth value is long: past the inspector's per-value mask
      // shortcut, so the cache does all the work.
      if (round % 4 == 0 && a == 0) value = std::string(1500, 'z') + " " + value;
      r.args.push_back({"a" + std::to_string(a), value});
      if (a == 2) body.fields.push_back({"f", value + pieces[next() % pieces.size()], "", false});
    }
    std::vector<std::string> expected;
    for (const auto& set : alone) {
      for (const auto& d : inspect(*set, r, body, permissive()).detections) {
        expected.push_back(std::to_string(d.rule_id) + "|" + d.target_name + "|" + d.fragment);
      }
    }
    std::vector<std::string> got;
    for (const auto& d : inspect(*together, r, body, permissive()).detections) {
      got.push_back(std::to_string(d.rule_id) + "|" + d.target_name + "|" + d.fragment);
    }
    std::sort(expected.begin(), expected.end());
    std::sort(got.begin(), got.end());
    found += got.size();
    ASSERT_EQ(got, expected) << "round " << round << " a0=" << r.args[0].value
                             << " a1=" << r.args[1].value << " a2=" << r.args[2].value;
  }
  EXPECT_GT(found, 200u);  // the values do hit: the comparison is not vacuous
}

// Without a time budget, and with a byte budget the request cannot spend,
// the inspector scans every value up front and visits only values with
// hits (inspector.cpp, runGroupsAtOnce); with a time budget it takes the
// pass-by-pass loop. Both must give the same detections in the same
// order, the same bytes scanned and the same PCRE2 runs.
TEST(Inspector, ScansUpFrontGiveWhatThePassLoopGives) {
  const std::string all =
      "rules:\n" +
      rule(1, "[query_args, headers]", "{pattern: 'sel[e3]ct'}",
           ", transforms: [url_decode_uni, lowercase]") +
      rule(2, "[query_args]", "{phrases: [union, 'or 1']}",
           ", transforms: [url_decode_uni, lowercase]") +
      rule(3, "[query_args, body_fields]", "{pattern: 'x=1'}") +
      rule(4, "[query_args]", "{pattern: \"a\\0?a\"}") +  // a NUL: PCRE2 only
      rule(7, "[query_args]", "{pattern: '(a)\\1'}") +    // a back-reference: prefilter
      rule(5, "[query_args, body_fields]", "{pattern: '\xc3\xa9t\xc3\xa9'}",
           ", transforms: [url_decode_uni]") +
      rule(6, "[query_args]", "{pattern: 'selectunion'}",
           ", transforms: [remove_whitespace, lowercase]");
  auto set = compileYaml(all);
  ASSERT_TRUE(set);
  // Passes that visit every value are there: PCRE2-only expressions
  // (rule 4) and a UTF-8 database (rule 5).
  ASSERT_EQ(set->matchMode(4), MatchMode::PcreOnly);
  ASSERT_EQ(set->matchMode(7), MatchMode::HyperscanPrefilter);
  const std::vector<std::string> pieces = {
      "select",        "SEL%45CT",          "union ", "x=1", "or 1",  "aa",
      "%C3%A9t%C3%A9", "\xc3\xa9t\xc3\xa9", "\xff",   " ",   "plain", "%"};
  std::uint32_t seed = 777;
  auto next = [&seed] {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) & 0x7fff;
  };
  InspectOptions at_once = permissive();
  InspectOptions pass_loop = permissive();
  pass_loop.budget_time = std::chrono::hours(1);
  size_t found = 0;
  for (int round = 0; round < 200; ++round) {
    http::Request r = markedRequest();
    http::ParsedBody body;
    r.args.clear();
    for (int a = 0; a < 3; ++a) {
      std::string value;
      for (unsigned k = next() % 5; k > 0; --k) value += pieces[next() % pieces.size()];
      r.args.push_back({"a" + std::to_string(a), value});
      if (a == 1) r.headers.push_back({"X-Copy", value});
      if (a == 2) body.fields.push_back({"f", value, "", false});
    }
    auto one = inspect(*set, r, body, at_once);
    auto two = inspect(*set, r, body, pass_loop);
    auto list = [](const InspectResult& result) {
      std::vector<std::string> out;
      for (const auto& d : result.detections) {
        out.push_back(std::to_string(d.rule_id) + "|" + d.target_name + "|" + d.fragment);
      }
      return out;
    };
    found += one.detections.size();
    ASSERT_EQ(list(one), list(two)) << "round " << round;
    EXPECT_EQ(one.bytes_scanned, two.bytes_scanned) << "round " << round;
    EXPECT_EQ(one.regex_runs, two.regex_runs) << "round " << round;
  }
  EXPECT_GT(found, 200u);  // the values do hit: the comparison is not vacuous
}

// Short values' scan results are remembered per thread (inspector.cpp,
// ScanMemo), keyed by rule set, paranoia level, kind and bytes: a replay
// must give what a fresh scan gives, and a different set, level or kind
// must not see another's results.
TEST(Inspector, RememberedScansAreKeyedBySetLevelAndKind) {
  auto with = compileYaml("rules:\n" + rule(1, "[query_args]", "{pattern: 'evil'}",
                                            ", paranoia: 2, transforms: [lowercase]"));
  auto without = compileYaml("rules:\n" + rule(1, "[query_args]", "{pattern: 'good'}",
                                               ", transforms: [lowercase]"));
  auto names = compileYaml("rules:\n" + rule(1, "[query_arg_names]", "{pattern: 'evil'}",
                                             ", transforms: [lowercase]"));
  ASSERT_TRUE(with && without && names);
  http::Request r = markedRequest();
  r.args = {{"q", "EVIL"}};
  InspectOptions pl1 = permissive();
  pl1.paranoia_level = 1;
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(ids(inspect(*with, r, {}, permissive())), (std::vector<std::uint32_t>{1}));
    EXPECT_TRUE(inspect(*with, r, {}, pl1).detections.empty());       // rule is PL2
    EXPECT_TRUE(inspect(*without, r, {}, permissive()).detections.empty());
    EXPECT_TRUE(inspect(*names, r, {}, permissive()).detections.empty());  // "q" is the name
    auto again = inspect(*with, r, {}, permissive());
    ASSERT_EQ(again.detections.size(), 1u);
    EXPECT_EQ(again.detections[0].fragment, "evil");
    EXPECT_EQ(again.detections[0].target_name, "q");
  }
}

// The scan and detector memos are set-associative with a fixed size: more
// distinct values than they hold (and the same bytes under two kinds)
// replace entries all the time, and every replayed or recomputed result
// must still be that value's own.
TEST(Inspector, RememberedResultsSurviveEvictionAndSameBytesInTwoKinds) {
  auto set = compileYaml("rules:\n" + rule(1, "[query_args]", "{pattern: 'evil'}") +
                         rule(2, "[query_arg_names]", "{pattern: 'bad'}") +
                         rule(3, "[query_args]", "{detect_sqli: true}"));
  ASSERT_TRUE(set);
  http::Request r = markedRequest();
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < 3000; ++i) {
      const std::string value = (i % 7 == 0 ? "evil" : "v") + std::to_string(i) +
                                (i % 11 == 0 ? "' or '1'='1" : "");
      const std::string name = (i % 5 == 0 ? "bad" : "n") + std::to_string(i);
      // The value also as a name, and the name as a value: same bytes, other kind.
      r.args = {{name, value}, {value, name}};
      // Rule 1 reads values: "evil" only ever comes from the first arg's
      // value (the second arg's value is a name). Rule 2 reads names:
      // "bad" only from the first arg's name. Rule 3: the quote break-out.
      std::vector<std::uint32_t> exact;
      if (i % 7 == 0) exact.push_back(1);
      if (i % 5 == 0) exact.push_back(2);
      if (i % 11 == 0) exact.push_back(3);
      auto got = ids(inspect(*set, r, {}, permissive()));
      ASSERT_EQ(got, exact) << "pass " << pass << " value " << value;
    }
  }
}

TEST(Inspector, TokenizerOperatorsJudgeWholeValues) {
  auto set = compileYaml("rules:\n" + rule(1, "[query_args]", "{detect_sqli: true}") +
                         rule(2, "[query_args]", "{detect_xss: true}"));
  ASSERT_TRUE(set);
  http::Request r = markedRequest();
  r.args = {{"q", "1' or '1'='1"}};
  auto sqli = inspect(*set, r, {}, permissive());
  EXPECT_EQ(ids(sqli), (std::vector<std::uint32_t>{1}));
  EXPECT_EQ(detection(sqli, 1)->fragment, "1' or '1'='1");
  r.args = {{"q", "\"><script>alert(1)</script>"}};
  EXPECT_EQ(ids(inspect(*set, r, {}, permissive())), (std::vector<std::uint32_t>{2}));
  r.args = {{"name", "O'Reilly"}, {"q", "select a car from the union station"}};
  EXPECT_TRUE(inspect(*set, r, {}, permissive()).detections.empty());
}

// The detectors' verdicts on short values are remembered per thread
// (inspector.cpp, DetectorMemo): a replay gives what a fresh run gives,
// and one detector's verdict is never taken for the other's.
TEST(Inspector, RememberedDetectorVerdictsStayPerDetector) {
  auto sqli_only = compileYaml("rules:\n" + rule(1, "[query_args]", "{detect_sqli: true}"));
  auto xss_only = compileYaml("rules:\n" + rule(2, "[query_args]", "{detect_xss: true}"));
  ASSERT_TRUE(sqli_only && xss_only);
  http::Request r = markedRequest();
  const std::vector<std::string> values = {"1' or '1'='1", "\"><script>alert(1)</script>",
                                           "O'Reilly", std::string(200, 'a') + "' or '1'='1"};
  const std::vector<std::vector<std::uint32_t>> sqli_expected = {{1}, {}, {}, {1}};
  const std::vector<std::vector<std::uint32_t>> xss_expected = {{}, {2}, {}, {}};
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < values.size(); ++i) {
      r.args = {{"q", values[i]}};
      EXPECT_EQ(ids(inspect(*sqli_only, r, {}, permissive())), sqli_expected[i]) << i;
      EXPECT_EQ(ids(inspect(*xss_only, r, {}, permissive())), xss_expected[i]) << i;
    }
  }
}

// Binary data is not text to match signatures in: a body declared binary
// has no raw_body, and an uploaded file's content counts only if it reads
// as text.
TEST(Inspector, BinaryBodiesAndBinaryUploadsAreNotMatchedAsText) {
  auto set = compileYaml("rules:\n" + rule(1, "[raw_body]", "{contains: '$('}") +
                         rule(2, "[body_fields]", "{contains: '$('}"));
  ASSERT_TRUE(set);
  http::Request r = markedRequest();
  r.body = std::string("\x89PNG\0\x01$(x", 10);
  http::ParsedBody binary;
  binary.kind = http::BodyKind::Binary;
  EXPECT_TRUE(inspect(*set, r, binary, permissive()).detections.empty());
  http::ParsedBody other;
  other.kind = http::BodyKind::Other;
  EXPECT_EQ(ids(inspect(*set, r, other, permissive())), (std::vector<std::uint32_t>{1}));

  http::ParsedBody upload;
  upload.kind = http::BodyKind::Multipart;
  upload.fields = {{"f", std::string("\x89PNG\0$(", 7), "a.png", true},
                   {"g", "echo $(id)", "run.sh", true}};
  r.body.clear();
  auto result = inspect(*set, r, upload, permissive());
  ASSERT_EQ(ids(result), (std::vector<std::uint32_t>{2}));
  EXPECT_EQ(detection(result, 2)->target_name, "g");
}

// unsplit_body is the raw body unless the parsed fields hold all of it: a
// form or JSON body that parsed cleanly is read through its names and
// values only, so a rule reading both does not scan those bytes twice.
// Every other text body (XML, multipart, other types, any parse error)
// keeps it.
TEST(Inspector, UnsplitBodyIsTheRawBodyUnlessCleanFieldsHoldAllOfIt) {
  auto set = compileYaml("rules:\n" + rule(1, "[unsplit_body]", "{contains: 'attack'}") +
                         rule(2, "[raw_body]", "{contains: 'attack'}"));
  ASSERT_TRUE(set);
  http::Request r = markedRequest();
  auto idsFor = [&](http::BodyKind kind, http::BodyError error) {
    http::ParsedBody body;
    body.kind = kind;
    body.error = error;
    return ids(inspect(*set, r, body, permissive()));
  };
  const std::vector<std::uint32_t> both{1, 2};
  const std::vector<std::uint32_t> raw_only{2};
  r.body = "q=attack";
  EXPECT_EQ(idsFor(http::BodyKind::UrlEncoded, http::BodyError::None), raw_only);
  EXPECT_EQ(idsFor(http::BodyKind::UrlEncoded, http::BodyError::Malformed), both);
  r.body = R"({"q": "attack"})";
  EXPECT_EQ(idsFor(http::BodyKind::Json, http::BodyError::None), raw_only);
  EXPECT_EQ(idsFor(http::BodyKind::Json, http::BodyError::TooDeep), both);
  // A JSON prefix's fields leave out the string the cut fell in.
  http::ParsedBody json_prefix = http::parseBody(
      "application/json", R"({"a":"x","q":"attack and more)", {}, http::BodyExtent::Prefix);
  ASSERT_EQ(json_prefix.error, http::BodyError::None);
  r.body = R"({"a":"x","q":"attack and more)";
  EXPECT_EQ(ids(inspect(*set, r, json_prefix, permissive())), both);
  // A form prefix's last field is the cut one, cut shorter.
  r.body = "a=x&q=attack+and+mo";
  http::ParsedBody form_prefix =
      http::parseBody("application/x-www-form-urlencoded", r.body, {}, http::BodyExtent::Prefix);
  ASSERT_EQ(form_prefix.error, http::BodyError::None);
  EXPECT_EQ(ids(inspect(*set, r, form_prefix, permissive())), raw_only);
  // A form-labelled body with a byte no form encoder leaves unescaped is
  // a JSON or XML document, or a hand-made body, to an application that
  // reads it raw; anywhere in the body, not only first, and also in a
  // block of 16 (the check reads 16 bytes a step).
  for (const char* not_form :
       {R"({"q": "attack"})", "[\"attack\"]", "<q>attack</q>", " q=attack", "\xEF\xBB\xBFq=attack",
        "q=attack<svg onload=1>", "q=attack+and+then+a+quote\"", "q=attackxxxxxxxxxxxxxxxxxxxx\n",
        "q=attackxxxxxxx#xxxxxxxxxxx", "q=attack\x80", "q=attack,$:/;@?[]{}|^`\\"}) {
    r.body = not_form;
    EXPECT_EQ(idsFor(http::BodyKind::UrlEncoded, http::BodyError::None), both) << not_form;
  }
  for (const char* form : {"q=attack", "%71=attack", "=attack", "&q=attack", "+q=attack",
                           "_q.x-y*=attack", "q=attack+it's+(fine)!~&Z09=%3Cx%3E+attack+AZaz"}) {
    r.body = form;
    EXPECT_EQ(idsFor(http::BodyKind::UrlEncoded, http::BodyError::None), raw_only) << form;
  }
  // With two Content-Type headers the application may parse the body by
  // the other one.
  r.body = "q=attack";
  r.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  EXPECT_EQ(idsFor(http::BodyKind::UrlEncoded, http::BodyError::None), raw_only);
  r.headers.push_back({"content-type", "text/plain"});
  EXPECT_EQ(idsFor(http::BodyKind::UrlEncoded, http::BodyError::None), both);
  r.body = R"({"q": "attack"})";
  EXPECT_EQ(idsFor(http::BodyKind::Json, http::BodyError::None), both);
  r.headers.pop_back();
  r.headers.pop_back();
  r.body = "<q>attack</q>";
  EXPECT_EQ(idsFor(http::BodyKind::Xml, http::BodyError::None), both);
  r.body = "--b\r\nContent-Disposition: form-data; name=\"attack\"\r\n\r\nx\r\n--b--\r\n";
  EXPECT_EQ(idsFor(http::BodyKind::Multipart, http::BodyError::None), both);
  r.body = "attack";
  EXPECT_EQ(idsFor(http::BodyKind::Other, http::BodyError::None), both);
  EXPECT_TRUE(idsFor(http::BodyKind::Binary, http::BodyError::None).empty());
}

// What the default rules rely on: [args, body_names, unsplit_body] finds a
// payload in a form body's value or name once, through the field, exactly
// as it finds it in a text/plain body through the body.
TEST(Inspector, FieldsAndUnsplitBodyFindAFormPayloadOnce) {
  auto set = compileYaml("rules:\n" +
                         rule(1, "[args, body_names, unsplit_body]", "{contains: '<script'}"));
  ASSERT_TRUE(set);
  for (const char* content_type : {"application/x-www-form-urlencoded", "application/json"}) {
    for (const char* body_text : {"a=1&q=%3Cscript%3E", "%3Cscript%3E=1", R"({"q":"<script>"})",
                                  R"({"<script>":{}})"}) {
      const bool json = std::string_view(content_type) == "application/json";
      if (json != (body_text[0] == '{')) continue;
      http::Request r = markedRequest();
      r.body = body_text;
      http::ParsedBody body = http::parseBody(content_type, r.body, {}, http::BodyExtent::Whole);
      ASSERT_EQ(body.error, http::BodyError::None) << body_text;
      auto result = inspect(*set, r, body, permissive());
      ASSERT_EQ(result.detections.size(), 1u) << body_text;
      EXPECT_NE(result.detections[0].target, TargetKind::UnsplitBody) << body_text;
    }
  }
  http::Request plain = markedRequest();
  plain.body = "<script>";
  http::ParsedBody body = http::parseBody("text/plain", plain.body, {}, http::BodyExtent::Whole);
  auto result = inspect(*set, plain, body, permissive());
  ASSERT_EQ(result.detections.size(), 1u);
  EXPECT_EQ(result.detections[0].target, TargetKind::UnsplitBody);
}

TEST(Inspector, ScoresSumAgainstThreshold) {
  auto set = compileYaml(R"(rules:
  - {id: 1, message: a, category: sqli, score: 3, targets: [query_args], operator: {contains: "'"}}
  - {id: 2, message: b, category: sqli, score: 3, targets: [query_args], operator: {contains: "--"}}
)");
  ASSERT_TRUE(set);
  InspectOptions options;  // threshold 5
  auto one = inspect(*set, markedRequest(), {}, options);
  EXPECT_EQ(one.score, 0);
  http::Request r = markedRequest();
  r.args = {{"q", "x'"}};
  auto partial = inspect(*set, r, {}, options);
  EXPECT_EQ(partial.score, 3);
  EXPECT_FALSE(partial.would_block);
  EXPECT_FALSE(partial.block);
  r.args = {{"q", "x' --"}};
  auto both = inspect(*set, r, {}, options);
  EXPECT_EQ(both.score, 6);
  EXPECT_TRUE(both.would_block);
  EXPECT_TRUE(both.block);

  options.detection_only = true;
  auto report = inspect(*set, r, {}, options);
  EXPECT_TRUE(report.would_block);
  EXPECT_FALSE(report.block);
}

TEST(Inspector, ParanoiaLevelSkipsHigherRules) {
  auto set = compileYaml(R"(rules:
  - {id: 1, message: a, category: generic, paranoia: 1, targets: [query_args], operator: {pattern: qv}}
  - {id: 2, message: b, category: generic, paranoia: 2, targets: [query_args], operator: {pattern: value}}
  - {id: 3, message: c, category: generic, paranoia: 3, targets: [query_args], operator: {contains: qv}}
)");
  ASSERT_TRUE(set);
  InspectOptions options;
  options.paranoia_level = 1;
  EXPECT_EQ(ids(inspect(*set, markedRequest(), {}, options)), (std::vector<std::uint32_t>{1}));
  options.paranoia_level = 2;
  EXPECT_EQ(ids(inspect(*set, markedRequest(), {}, options)), (std::vector<std::uint32_t>{1, 2}));
  options.paranoia_level = 4;
  EXPECT_EQ(ids(inspect(*set, markedRequest(), {}, options)),
            (std::vector<std::uint32_t>{1, 2, 3}));
}

TEST(Inspector, ExclusionsByIdTagPathAndTarget) {
  auto set = compileYaml(R"(rules:
  - {id: 1, message: a, category: generic, tags: [t1], targets: [query_args], operator: {pattern: qv}}
  - {id: 2, message: b, category: generic, tags: [t2], targets: [args], operator: {contains: value}}
  - {id: 3, message: c, category: generic, targets: [query_args, body_fields], operator: {pattern: _value}}
)");
  ASSERT_TRUE(set);
  InspectOptions options = permissive();
  EXPECT_EQ(ids(inspect(*set, markedRequest(), markedBody(), options)),
            (std::vector<std::uint32_t>{1, 2, 3}));

  InspectOptions by_id = options;
  by_id.exclusions.rule_ids = {2};
  EXPECT_EQ(ids(inspect(*set, markedRequest(), markedBody(), by_id)),
            (std::vector<std::uint32_t>{1, 3}));

  InspectOptions by_tag = options;
  by_tag.exclusions.tags = {"t1"};
  EXPECT_EQ(ids(inspect(*set, markedRequest(), markedBody(), by_tag)),
            (std::vector<std::uint32_t>{2, 3}));

  InspectOptions by_path = options;
  by_path.exclusions.paths = {{"/p_path/", 3}, {"/elsewhere", 1}};
  EXPECT_EQ(ids(inspect(*set, markedRequest(), markedBody(), by_path)),
            (std::vector<std::uint32_t>{1, 2}));
  by_path.exclusions.paths = {{"/p_", 0}};
  EXPECT_TRUE(inspect(*set, markedRequest(), markedBody(), by_path).detections.empty());

  // The prefix is compared with the decoded, normalised path: climbing out
  // of an excluded directory does not carry the exclusion along.
  http::Request climbing = markedRequest();
  climbing.path = "/p_path/%2e%2e/login";
  climbing.decoded_path = "/p_path/../login";
  by_path.exclusions.paths = {{"/p_path/", 0}};
  EXPECT_EQ(ids(inspect(*set, climbing, markedBody(), by_path)),
            (std::vector<std::uint32_t>{1, 2, 3}));
  climbing.decoded_path = "/p_path//./sub";
  EXPECT_TRUE(inspect(*set, climbing, markedBody(), by_path).detections.empty());

  // Excluding the query argument from rule 3 leaves its body field match.
  InspectOptions by_target = options;
  by_target.exclusions.targets = {{"QN_NAME", 3}};
  auto result = inspect(*set, markedRequest(), markedBody(), by_target);
  EXPECT_EQ(ids(result), (std::vector<std::uint32_t>{1, 2, 3}));
  EXPECT_EQ(detection(result, 3)->target, TargetKind::BodyValues);
  by_target.exclusions.targets = {{"qn_name", 3}, {"bn_name", 3}};
  EXPECT_EQ(ids(inspect(*set, markedRequest(), markedBody(), by_target)),
            (std::vector<std::uint32_t>{1, 2}));
}

TEST(Inspector, SecretsAreMaskedAndFragmentsTruncated) {
  http::Request r = markedRequest();
  r.args = {{"user_password", "' or 1=1 --"}, {"long", std::string(100, 'a') + "' or 1=1"}};
  r.headers.push_back({"Authorization", "Bearer ' or 1=1"});
  auto set = compileYaml("rules:\n" +
                         rule(1, "[{query_args: [user_password]}]", "{contains: \"' or\"}") +
                         rule(2, "[{headers: [authorization]}]", "{contains: \"' or\"}") +
                         rule(3, "[{query_args: [long]}]", "{pattern: \"a+' or\"}"));
  ASSERT_TRUE(set);
  auto result = inspect(*set, r, {}, permissive());
  ASSERT_EQ(result.detections.size(), 3u);
  EXPECT_EQ(detection(result, 1)->fragment, "[masked]");
  EXPECT_TRUE(detection(result, 1)->masked);
  EXPECT_EQ(detection(result, 2)->fragment, "[masked]");
  EXPECT_EQ(detection(result, 3)->fragment, std::string(64, 'a'));
  EXPECT_FALSE(detection(result, 3)->masked);
  EXPECT_TRUE(isSensitiveName("X-API-Key"));
  EXPECT_TRUE(isSensitiveName("csrf_token"));
  EXPECT_FALSE(isSensitiveName("username"));
}

TEST(Inspector, ByteBudgetStopsAndAppliesSiteChoice) {
  http::Request r = markedRequest();
  r.args.clear();
  for (int i = 0; i < 50; ++i) r.args.push_back({"a" + std::to_string(i), std::string(100, 'x')});
  r.args.push_back({"late", "attack"});
  auto set = compileYaml("rules:\n" + rule(1, "[query_args]", "{pattern: attack}"));
  ASSERT_TRUE(set);
  InspectOptions options;
  auto full = inspect(*set, r, {}, options);
  EXPECT_FALSE(full.budget_exhausted);
  EXPECT_EQ(ids(full), (std::vector<std::uint32_t>{1}));
  EXPECT_EQ(full.bytes_scanned, 50u * 100u + 6u);

  options.budget_bytes = 1000;
  options.on_budget_exhausted = BudgetAction::Block;
  auto blocked = inspect(*set, r, {}, options);
  EXPECT_TRUE(blocked.budget_exhausted);
  EXPECT_LE(blocked.bytes_scanned, 1000u);
  EXPECT_TRUE(blocked.detections.empty());
  EXPECT_EQ(blocked.budget_action, BudgetAction::Block);
  EXPECT_TRUE(blocked.would_block);
  EXPECT_TRUE(blocked.block);

  options.on_budget_exhausted = BudgetAction::Pass;
  auto passed = inspect(*set, r, {}, options);
  EXPECT_TRUE(passed.budget_exhausted);
  EXPECT_EQ(passed.budget_action, BudgetAction::Pass);
  EXPECT_FALSE(passed.would_block);
}

TEST(Inspector, TimeBudgetUsesInjectedClock) {
  http::Request r = markedRequest();
  r.args.clear();
  for (int i = 0; i < 200; ++i) r.args.push_back({"a", "benign"});
  auto set = compileYaml("rules:\n" + rule(1, "[query_args]", "{pattern: attack}"));
  ASSERT_TRUE(set);
  auto fake = std::make_shared<std::chrono::steady_clock::time_point>();
  InspectOptions options;
  options.budget_time = std::chrono::microseconds(100);
  options.clock = [fake] {
    *fake += std::chrono::microseconds(10);  // every look at the clock costs 10 µs
    return *fake;
  };
  auto result = inspect(*set, r, {}, options);
  EXPECT_TRUE(result.budget_exhausted);
  EXPECT_LT(result.bytes_scanned, 200u * 6u);
  EXPECT_TRUE(result.would_block);  // default choice: block
}

TEST(Inspector, PhraseMatchModesAndCase) {
  http::Request r = markedRequest();
  r.args = {{"a", "the selection"}, {"b", "Drop Table x"}, {"c", "exact"}};
  auto set = compileYaml("rules:\n" +
                         rule(1, "[query_args]", "{phrases: [select], match: word}") +
                         rule(2, "[query_args]", "{phrases: [select]}") +
                         rule(3, "[query_args]", "{phrases: [drop table], caseless: true, match: word}") +
                         rule(4, "[query_args]", "{phrases: [drop table]}") +
                         rule(5, "[query_args]", "{phrases: [exac, exact], match: whole}"));
  ASSERT_TRUE(set);
  auto result = inspect(*set, r, {}, permissive());
  EXPECT_EQ(ids(result), (std::vector<std::uint32_t>{2, 3, 5}));
  EXPECT_EQ(detection(result, 3)->fragment, "Drop Table");
  EXPECT_EQ(detection(result, 5)->fragment, "exact");
}

TEST(Inspector, NumericCountLengthAndValue) {
  http::Request r = markedRequest();
  r.args = {{"a", "1"}, {"b", "2"}, {"c", "99999"}, {"d", "x"}};
  auto set = compileYaml("rules:\n" +
                         rule(1, "[query_args]", "{numeric: {of: count, gt: 3}}") +
                         rule(2, "[query_args]", "{numeric: {of: count, gt: 4}}") +
                         rule(3, "[query_args]", "{numeric: {of: value, ge: 1000}}") +
                         rule(4, "[{headers: [host]}]", "{numeric: {of: length, gt: 10}}") +
                         rule(5, "[{headers: [host]}]", "{numeric: {of: length, gt: 100}}") +
                         rule(6, "[{query_args: [zzz]}]", "{numeric: {of: count, eq: 0}}"));
  ASSERT_TRUE(set);
  auto result = inspect(*set, r, {}, permissive());
  EXPECT_EQ(ids(result), (std::vector<std::uint32_t>{1, 3, 4, 6}));
  EXPECT_EQ(detection(result, 1)->fragment, "4");
  EXPECT_EQ(detection(result, 3)->fragment, "99999");
  EXPECT_EQ(detection(result, 3)->target_name, "c");
}

TEST(Inspector, ByteRangeAndNegation) {
  http::Request r = markedRequest();
  r.args = {{"a", std::string("ok\x01", 3)}};
  r.headers.push_back({"User-Agent", "curl/8.0"});
  auto set = compileYaml("rules:\n" +
                         rule(1, "[query_args]", "{byte_range: \"32-126\"}") +
                         rule(2, "[{headers: [host]}]", "{byte_range: \"32-126\"}") +
                         rule(3, "[{headers: [user-agent]}]", "{pattern: '^Mozilla/', negate: true}") +
                         rule(4, "[{headers: [host]}]", "{pattern: '^example', negate: true}") +
                         rule(5, "[method]", "{phrases: [GET, HEAD, POST], match: whole, negate: true}") +
                         rule(6, "[method]", "{equals: get, caseless: true, negate: true}"));
  ASSERT_TRUE(set);
  auto result = inspect(*set, r, {}, permissive());
  EXPECT_EQ(ids(result), (std::vector<std::uint32_t>{1, 3, 6}));
  EXPECT_EQ(detection(result, 1)->fragment, "\x01");
  EXPECT_EQ(detection(result, 3)->fragment, "curl/8.0");
}

// byte_range reads eight bytes per step while all are allowed: the first
// disallowed byte must be found (and be the fragment) wherever it sits,
// at any length, with a second one after it.
TEST(Inspector, ByteRangeFindsTheFirstDisallowedByteAnywhere) {
  auto set = compileYaml("rules:\n" + rule(1, "[query_args]", "{byte_range: \"32-126\"}"));
  ASSERT_TRUE(set);
  http::Request r = markedRequest();
  for (size_t length = 0; length <= 40; ++length) {
    r.args = {{"a", std::string(length, 'x')}};
    EXPECT_TRUE(inspect(*set, r, {}, permissive()).detections.empty()) << length;
    for (size_t at = 0; at < length; ++at) {
      std::string value(length, 'x');
      value[at] = '\x02';
      if (at + 3 < length) value[at + 3] = '\x7f';
      r.args = {{"a", value}};
      auto result = inspect(*set, r, {}, permissive());
      ASSERT_EQ(result.detections.size(), 1u) << length << " " << at;
      EXPECT_EQ(result.detections[0].fragment, "\x02") << length << " " << at;
    }
  }
}

// On a compress_whitespace chain Hyperscan is given \x20? for \s*
// (pattern_rewrite.h); the value's tabs and newline runs become one space
// first, so the rule still matches them, and the fragment comes from PCRE2
// with the pattern as written.
TEST(Inspector, WhitespacePatternsMatchThroughCompressWhitespace) {
  auto set = compileYaml("rules:\n" +
                         rule(1, "[query_args]", "{pattern: 'union\\s+(?:all\\s*)?select\\s*\\('}",
                              ", transforms: [compress_whitespace, lowercase]") +
                         rule(2, "[query_args]", "{pattern: '\\bexec\\s*\\(\\s*\\w'}",
                              ", transforms: [compress_whitespace, lowercase]") +
                         rule(3, "[query_args]", "{pattern: 'a\\s\\s+b'}",
                              ", transforms: [compress_whitespace, lowercase]"));
  ASSERT_TRUE(set);
  http::Request r = markedRequest();
  r.args = {{"q", "1 UNION\t\n ALL \r\n\tSELECT\t(x"}, {"c", "EXEC\n\n(\tcmd"}, {"d", "a \t b"}};
  auto result = inspect(*set, r, {}, permissive());
  EXPECT_EQ(ids(result), (std::vector<std::uint32_t>{1, 2}));
  ASSERT_NE(detection(result, 1), nullptr);
  EXPECT_EQ(detection(result, 1)->fragment, "union all select (");
  ASSERT_NE(detection(result, 2), nullptr);
  EXPECT_EQ(detection(result, 2)->fragment, "exec ( c");
}

TEST(Inspector, EmptyValuesAreScannedWithoutError) {
  http::Request r = markedRequest();
  r.args = {{"empty", ""}, {"q", "attack"}};
  r.query = "";
  auto set = compileYaml("rules:\n" + rule(1, "[query_args, raw_query]", "{pattern: attack}") +
                         rule(2, "[raw_query]", "{pattern: '(?:x)?'}"));
  ASSERT_TRUE(set);
  auto result = inspect(*set, r, {}, permissive());
  EXPECT_FALSE(result.budget_exhausted);
  EXPECT_EQ(ids(result), (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(detection(result, 2)->fragment, "");
}

TEST(Inspector, EmptyRequestAndEmptySet) {
  auto set = compileYaml("rules:\n" + rule(1, "[query_args, raw_body, body_error]", "{pattern: x}"));
  ASSERT_TRUE(set);
  http::Request empty;
  auto result = inspect(*set, empty, {}, {});
  EXPECT_TRUE(result.detections.empty());
  EXPECT_FALSE(result.would_block);
  auto none = RuleSet::compile({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(inspect(**none, markedRequest(), markedBody(), {}).detections.empty());
}

}  // namespace
}  // namespace mamori::inspect
