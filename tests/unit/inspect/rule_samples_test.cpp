// The data-driven rule test (STYLE.md §6 "Rules"): loads every rule file
// under rules/, compiles them together, and runs each rule's samples:
// a `match` sample must make that rule fire, a `nomatch` sample must not.
// Every rule must carry at least one of each. Sample forms: docs/rules.md.

#include <gtest/gtest.h>

#include <string>

#include "http/request_parser.h"
#include "inspect/inspector.h"
#include "inspect/rule_loader.h"

namespace mamori::inspect {
namespace {

// Raw samples are written with LF line ends in YAML; HTTP wants CRLF.
std::string withCrlf(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
    out += text[i];
  }
  return out;
}

struct SampleRequest {
  http::Request request;
  http::ParsedBody body;
  std::string tls_ja3, tls_ja4;  // the connection's, for tls_* targets
};

std::optional<http::BodyError> bodyErrorFromName(std::string_view name) {
  static constexpr std::pair<std::string_view, http::BodyError> kNames[] = {
      {"malformed", http::BodyError::Malformed},
      {"too_deep", http::BodyError::TooDeep},
      {"too_many_fields", http::BodyError::TooManyFields},
      {"field_too_large", http::BodyError::FieldTooLarge},
      {"missing_boundary", http::BodyError::MissingBoundary},
      {"truncated", http::BodyError::Truncated}};
  for (const auto& [n, e] : kNames) {
    if (n == name) return e;
  }
  return std::nullopt;
}

// Builds the request a sample describes, or fails with the reason.
common::Result<SampleRequest> buildSample(const RuleSample& s) {
  SampleRequest out;
  http::Request& r = out.request;
  if (!s.raw.empty()) {
    // TODO(inspect): fill out.body with http::parseBody() once the body
    // parsers are merged, so raw samples with bodies reach body targets. (#5)
    http::RequestLimits limits;
    http::RequestParser parser(limits);
    std::string bytes = withCrlf(s.raw);
    size_t used = 0;
    if (parser.feed(bytes, &used) != http::ParseStatus::Done) {
      return common::Error{EINVAL, std::string("raw sample does not parse as one request: ") +
                                       http::rejectReasonName(parser.rejectReason())};
    }
    r = parser.takeRequest();
    return out;
  }
  r.method = http::Method::Get;
  r.method_name = "GET";
  r.path = r.decoded_path = r.target = "/";
  r.host = "sample.test";
  r.headers.push_back({"Host", "sample.test"});
  for (int i = 0; i < s.repeat; ++i) {
    const std::string name = s.name.empty() ? "sample" : s.name;
    switch (s.target) {
      case TargetKind::Path:
      case TargetKind::DecodedPath: r.path = r.decoded_path = r.target = s.value; break;
      case TargetKind::RawQuery:
        r.query = s.value;
        r.has_query = true;
        break;
      case TargetKind::QueryArgNames:
      case TargetKind::ArgNames: r.args.push_back({s.value, ""}); break;
      case TargetKind::QueryArgValues:
      case TargetKind::ArgValues: r.args.push_back({name, s.value}); break;
      case TargetKind::HeaderNames: r.headers.push_back({s.value, "x"}); break;
      case TargetKind::HeaderValues: r.headers.push_back({name, s.value}); break;
      case TargetKind::CookieNames: r.cookies.push_back({s.value, "x"}); break;
      case TargetKind::CookieValues: r.cookies.push_back({name, s.value}); break;
      case TargetKind::BodyNames: out.body.fields.push_back({s.value, "", "", false}); break;
      case TargetKind::BodyValues: out.body.fields.push_back({name, s.value, "", false}); break;
      case TargetKind::RawBody:
      case TargetKind::UnsplitBody: r.body += s.value; break;
      case TargetKind::FileNames: out.body.fields.push_back({name, "", s.value, true}); break;
      case TargetKind::Method: r.method_name = s.value; break;
      case TargetKind::RequestLine: r.target = s.value; break;
      case TargetKind::TlsJa3: out.tls_ja3 = s.value; break;
      case TargetKind::TlsJa4: out.tls_ja4 = s.value; break;
      case TargetKind::BodyError: {
        auto error = bodyErrorFromName(s.value);
        if (!error) return common::Error{EINVAL, "unknown body error '" + s.value + "'"};
        out.body.error = *error;
        break;
      }
    }
  }
  r.method = http::methodFromToken(r.method_name);
  if (!out.body.fields.empty() && out.body.kind == http::BodyKind::None) {
    out.body.kind = http::BodyKind::UrlEncoded;
  }
  return out;
}

std::vector<Rule> loadAll() {
  auto rules = loadRulesDirectory(MAMORI_RULES_DIR);
  EXPECT_TRUE(rules.ok()) << rules.error().message;
  return rules.ok() ? *rules : std::vector<Rule>{};
}

TEST(RuleSamples, EveryRuleHasMatchingAndNonMatchingSamples) {
  auto rules = loadAll();
  ASSERT_FALSE(rules.empty()) << "no rules under " << MAMORI_RULES_DIR;
  for (const auto& rule : rules) {
    bool match = false;
    bool nomatch = false;
    for (const auto& s : rule.samples) (s.expect_match ? match : nomatch) = true;
    EXPECT_TRUE(match) << rule.source << ": rule " << rule.id << " has no 'match' sample";
    EXPECT_TRUE(nomatch) << rule.source << ": rule " << rule.id << " has no 'nomatch' sample";
  }
}

TEST(RuleSamples, SamplesMatchAsDeclared) {
  auto rules = loadAll();
  ASSERT_FALSE(rules.empty());
  // Disabled rules are tested too: disabling one is an operator's choice,
  // not a reason for its samples to rot.
  for (auto& rule : rules) rule.enabled = true;
  auto set = RuleSet::compile(rules);
  ASSERT_TRUE(set.ok()) << set.error().message;

  InspectOptions options;
  options.paranoia_level = 4;
  options.anomaly_threshold = 1'000'000;
  options.budget_bytes = 0;
  size_t checked = 0;
  for (const auto& rule : (*set)->rules()) {
    for (const auto& sample : rule.samples) {
      auto built = buildSample(sample);
      if (!built.ok()) {
        ADD_FAILURE() << sample.source << ": " << built.error().message;
        continue;
      }
      auto result = inspect(**set, built->request, built->body, options,
                            ConnectionFacts{built->tls_ja3, built->tls_ja4});
      bool fired = false;
      for (const auto& d : result.detections) fired = fired || d.rule_id == rule.id;
      EXPECT_EQ(fired, sample.expect_match)
          << sample.source << ": rule " << rule.id << (sample.expect_match ? " did not fire" : " fired")
          << " on its " << (sample.expect_match ? "match" : "nomatch") << " sample";
      ++checked;
    }
  }
  EXPECT_GT(checked, 0u);
}

}  // namespace
}  // namespace mamori::inspect
