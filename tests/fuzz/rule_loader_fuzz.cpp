// Fuzz target for the rule loader and compiler (STYLE.md §6): YAML bytes
// in, rules or an error out, never a crash or an escaping exception. Checks
// the properties the daemon relies on when it reloads rules:
//   - an error names the file and a position ("fuzz.yaml:LINE:COL: ...");
//   - loaded rules are within range (id, paranoia, score, targets);
//   - a set that loads and compiles can inspect a request.
// The same bytes also go through every transform, which must never grow
// its input. Violations abort, so libFuzzer and the replay both see them.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "inspect/inspector.h"
#include "inspect/rule_loader.h"
#include "inspect/rule_set.h"
#include "inspect/transform.h"

namespace {

using namespace mamori::inspect;

void check(bool ok) {
  if (!ok) std::abort();
}

mamori::http::Request sampleRequest(std::string_view in) {
  mamori::http::Request r;
  r.method_name = "POST";
  r.method = mamori::http::Method::Post;
  r.target = "/a/../b?x=1";
  r.path = "/a/../b";
  r.decoded_path = r.path;
  r.query = "x=1";
  r.has_query = true;
  r.args = {{"x", std::string(in.substr(0, 256))}, {"password", "' or 1=1 --"}};
  r.headers = {{"Host", "fuzz.test"}, {"User-Agent", std::string(in.substr(0, 64))}};
  r.cookies = {{"sid", "abc"}};
  r.body = std::string(in.substr(0, 512));
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  for (std::size_t t = 0; t < kTransformCount; ++t) {
    check(applyTransform(static_cast<Transform>(t), in).size() <= in.size());
  }

  auto rules = loadRulesString(in, "fuzz.yaml");
  if (!rules.ok()) {
    const std::string& message = rules.error().message;
    check(!message.empty());
    check(message.rfind("fuzz.yaml:", 0) == 0);
    return 0;
  }
  for (const auto& rule : *rules) {
    check(rule.id >= 1 && rule.id <= 999'999'999);
    check(rule.paranoia >= 1 && rule.paranoia <= 4);
    check(rule.score >= 0 && rule.score <= 1000);
    check(!rule.targets.empty());
  }
  auto set = RuleSet::compile(*rules);
  if (!set.ok()) {
    check(!set.error().message.empty());
    return 0;
  }
  mamori::http::ParsedBody body;
  body.fields = {{"user.name", std::string(in.substr(0, 128)), "", false}};
  for (int level = 1; level <= 4; level += 3) {
    InspectOptions options;
    options.paranoia_level = level;
    options.budget_bytes = 64 * 1024;
    auto result = inspect(**set, sampleRequest(in), body, options);
    check(result.bytes_scanned <= options.budget_bytes);
    int score = 0;
    for (const auto& d : result.detections) {
      score += d.score;
      check(d.fragment.size() <= kMaxFragmentBytes);
      check(set.value()->find(d.rule_id) != nullptr);
      if (d.target_name == "password") check(d.masked);
    }
    check(score == result.score);
  }
  return 0;
}
