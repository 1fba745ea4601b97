#include "inspect/rule_loader.h"

#include "common/yaml_documents.h"
#include "common/yaml_reading.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

namespace mamori::inspect {
namespace {

using common::Error;
using common::Result;

// A rule file larger than this is a mistake: the whole default rule set is
// well under a megabyte.
constexpr size_t kMaxRuleFileBytes = 16 * 1024 * 1024;
constexpr int64_t kMaxRuleId = 999'999'999;
constexpr int64_t kMaxScore = 1000;
constexpr size_t kMaxTransforms = 16;
constexpr size_t kMaxPhrases = 100'000;

// --- diagnostics and scalar readers (common/yaml_reading.h) -------------------

using common::yaml::describe;
using common::yaml::Diagnostics;
using common::yaml::joinNames;
using common::yaml::oneBased;
using common::yaml::readBool;
using common::yaml::readInteger;
using common::yaml::readString;
using common::yaml::squote;
using common::yaml::typeError;

std::string position(const std::string& file, const YAML::Mark& mark) {
  return file + ":" + common::yaml::position(mark);
}

// "did you mean 'x'?" when a candidate is close enough to be a typo,
// otherwise "expected one of: ...".
std::string suggestion(std::string_view word, const std::vector<std::string_view>& candidates) {
  auto best = common::yaml::closestMatch(word, candidates);
  if (!best.empty()) return "did you mean " + squote(best) + "?";
  return "expected one of: " + joinNames(candidates);
}

// A list of non-empty strings; a single scalar counts as a one-item list.
std::optional<std::vector<std::string>> readStringList(Diagnostics& diag, const YAML::Node& node,
                                                       std::string_view what) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    if (auto s = readString(diag, node, what)) out.push_back(*s);
    else return std::nullopt;
    return out;
  }
  if (!node.IsSequence()) {
    typeError(diag, node, "a list of strings", what);
    return std::nullopt;
  }
  bool ok = true;
  for (size_t i = 0; i < node.size(); ++i) {
    YAML::Node item = node[i];
    if (auto s = readString(diag, item, what)) out.push_back(*s);
    else ok = false;
  }
  if (!ok) return std::nullopt;
  return out;
}

// One YAML mapping with a fixed set of keys: unknown keys are refused with
// the closest known key as a hint, duplicates are refused (yaml-cpp keeps
// both silently), and required keys are reported at the mapping.
class Fields {
 public:
  Fields(Diagnostics& diag, const YAML::Node& node, std::string_view what,
         std::initializer_list<std::string_view> known)
      : diag_(diag), node_(node), known_(known) {
    if (!node.IsMap()) {
      typeError(diag, node, "a mapping", what);
      return;
    }
    ok_ = true;
    std::map<std::string, YAML::Mark> seen;
    // Copy the nodes out: yaml-cpp's iterator hands out a temporary pair.
    for (auto it = node.begin(); it != node.end(); ++it) {
      YAML::Node key = it->first;
      YAML::Node value = it->second;
      if (!key.IsScalar()) {
        typeError(diag, key, "a string key", what);
        continue;
      }
      auto [prev, inserted] = seen.emplace(key.Scalar(), key.Mark());
      if (!inserted) {
        diag.add(key, "duplicate key " + squote(key.Scalar()),
                 "first defined at line " + std::to_string(oneBased(prev->second.line)));
        continue;
      }
      if (std::find(known_.begin(), known_.end(), key.Scalar()) == known_.end()) {
        diag.add(key, "unknown key " + squote(key.Scalar()) + " in " + std::string(what),
                 suggestion(key.Scalar(), known_));
        unknown_ = true;
        continue;
      }
      values_.emplace(key.Scalar(), value);
      order_.push_back(key.Scalar());
    }
  }

  bool ok() const { return ok_; }
  bool hadUnknown() const { return unknown_; }
  const YAML::Node& node() const { return node_; }
  const std::vector<std::string>& keys() const { return order_; }

  std::optional<YAML::Node> get(std::string_view key) const {
    auto it = values_.find(std::string(key));
    if (it == values_.end() || it->second.IsNull()) return std::nullopt;
    return it->second;
  }
  bool has(std::string_view key) const { return values_.count(std::string(key)) > 0; }

  std::optional<YAML::Node> require(std::string_view key) {
    auto value = get(key);
    if (!value && ok_ && !unknown_) diag_.add(node_, "missing required key " + squote(key));
    return value;
  }

 private:
  Diagnostics& diag_;
  YAML::Node node_;
  std::vector<std::string_view> known_;
  std::map<std::string, YAML::Node> values_;
  std::vector<std::string> order_;
  bool ok_ = false;
  bool unknown_ = false;
};

template <typename E, size_t N>
std::vector<std::string_view> allNames(const char* (*name_of)(E)) {
  std::vector<std::string_view> names;
  for (size_t i = 0; i < N; ++i) names.emplace_back(name_of(static_cast<E>(i)));
  return names;
}

// Kinds whose values have a name (argument, header, cookie, field), so a
// target may pick or skip values by name.
bool isNamedKind(TargetKind kind) {
  switch (kind) {
    case TargetKind::QueryArgNames:
    case TargetKind::QueryArgValues:
    case TargetKind::HeaderNames:
    case TargetKind::HeaderValues:
    case TargetKind::CookieNames:
    case TargetKind::CookieValues:
    case TargetKind::BodyNames:
    case TargetKind::BodyValues:
    case TargetKind::FileNames:
    case TargetKind::ArgNames:
    case TargetKind::ArgValues: return true;
    default: return false;
  }
}

// --- the rule parser -----------------------------------------------------------

class RuleParser {
 public:
  explicit RuleParser(Diagnostics& diag) : diag_(diag) {}

  std::vector<Rule> parse(const YAML::Node& root) {
    std::vector<Rule> rules;
    Fields top(diag_, root, "the rules file", {"rules"});
    if (!top.ok()) return rules;
    auto list = top.require("rules");
    if (!list) return rules;
    if (!list->IsSequence()) {
      typeError(diag_, *list, "a list", "rules");
      return rules;
    }
    std::map<uint32_t, YAML::Mark> ids;
    for (size_t i = 0; i < list->size(); ++i) {
      YAML::Node node = (*list)[i];
      auto rule = parseRule(node);
      if (!rule) continue;
      auto [prev, inserted] = ids.emplace(rule->id, node.Mark());
      if (!inserted) {
        diag_.add(node, "duplicate rule id " + std::to_string(rule->id),
                  "first defined at " + position(diag_.file(), prev->second));
        continue;
      }
      rules.push_back(std::move(*rule));
    }
    return rules;
  }

 private:
  std::optional<Rule> parseRule(const YAML::Node& node) {
    Fields f(diag_, node, "a rule",
             {"id", "message", "category", "severity", "paranoia", "tags", "targets",
              "transforms", "operator", "score", "enabled", "samples"});
    if (!f.ok()) return std::nullopt;
    bool ok = true;
    auto check = [&](bool step) { ok = ok && step; };
    Rule rule;
    rule.source = position(diag_.file(), node.Mark());

    if (auto id = f.require("id")) {
      auto value = readInteger(diag_, *id, "id", 1, kMaxRuleId);
      check(value.has_value());
      if (value) rule.id = static_cast<uint32_t>(*value);
    } else {
      ok = false;
    }
    if (auto message = f.require("message")) {
      auto value = readString(diag_, *message, "message");
      check(value.has_value());
      if (value) rule.message = *value;
    } else {
      ok = false;
    }
    if (auto category = f.require("category")) {
      check(readEnum<Category, static_cast<size_t>(Category::Generic) + 1>(
          *category, "category", categoryName, categoryFromName, rule.category));
    } else {
      ok = false;
    }
    if (auto severity = f.get("severity")) {
      check(readEnum<Severity, static_cast<size_t>(Severity::Critical) + 1>(
          *severity, "severity", severityName, severityFromName, rule.severity));
    }
    if (auto paranoia = f.get("paranoia")) {
      auto value = readInteger(diag_, *paranoia, "paranoia", 1, 4);
      check(value.has_value());
      if (value) rule.paranoia = static_cast<int>(*value);
    }
    if (auto score = f.get("score")) {
      auto value = readInteger(diag_, *score, "score", 0, kMaxScore);
      check(value.has_value());
      if (value) rule.score = static_cast<int>(*value);
    }
    if (auto enabled = f.get("enabled")) {
      auto value = readBool(diag_, *enabled, "enabled");
      check(value.has_value());
      if (value) rule.enabled = *value;
    }
    if (auto tags = f.get("tags")) {
      auto value = readStringList(diag_, *tags, "tags");
      check(value.has_value());
      if (value) rule.tags = *value;
    }
    if (auto targets = f.require("targets")) {
      check(parseTargets(*targets, rule.targets));
    } else {
      ok = false;
    }
    if (auto transforms = f.get("transforms")) check(parseTransforms(*transforms, rule.transforms));
    if (auto op = f.require("operator")) {
      check(parseOperator(*op, rule.op));
    } else {
      ok = false;
    }
    if (auto samples = f.get("samples")) check(parseSamples(*samples, rule.samples));
    if (!ok || f.hadUnknown()) return std::nullopt;
    return rule;
  }

  template <typename E, size_t N>
  bool readEnum(const YAML::Node& node, std::string_view what, const char* (*name_of)(E),
                std::optional<E> (*from_name)(std::string_view), E& out) {
    if (!node.IsScalar()) {
      typeError(diag_, node, "a string", what);
      return false;
    }
    if (auto value = from_name(node.Scalar())) {
      out = *value;
      return true;
    }
    diag_.add(node, "unknown " + std::string(what) + " " + squote(node.Scalar()),
              suggestion(node.Scalar(), allNames<E, N>(name_of)));
    return false;
  }

  bool readTargetKind(const YAML::Node& node, TargetKind& out) {
    return readEnum<TargetKind, kTargetKindCount>(node, "target", targetKindName,
                                                  targetKindFromName, out);
  }

  // targets: [path, {headers: user-agent}, {args: all, except: [password]}]
  bool parseTargets(const YAML::Node& node, std::vector<Target>& out) {
    if (!node.IsSequence()) {
      typeError(diag_, node, "a list", "targets");
      return false;
    }
    if (node.size() == 0) {
      diag_.add(node, "'targets' is empty", "name at least one part of the request");
      return false;
    }
    bool ok = true;
    for (size_t i = 0; i < node.size(); ++i) {
      YAML::Node item = node[i];
      Target target;
      if (item.IsScalar()) {
        ok = readTargetKind(item, target.kind) && ok;
        out.push_back(std::move(target));
        continue;
      }
      if (!item.IsMap()) {
        typeError(diag_, item, "a target name or a mapping", "targets");
        ok = false;
        continue;
      }
      // One kind key, plus an optional "except".
      std::optional<YAML::Node> kind_key;
      std::optional<YAML::Node> kind_value;
      std::optional<YAML::Node> except;
      for (auto it = item.begin(); it != item.end(); ++it) {
        YAML::Node key = it->first;
        YAML::Node value = it->second;
        if (key.IsScalar() && key.Scalar() == "except") {
          except = value;
        } else if (kind_key) {
          diag_.add(key, "a target names one part of the request",
                    "write each target as its own list item");
          ok = false;
        } else {
          kind_key = key;
          kind_value = value;
        }
      }
      if (!kind_key) {
        diag_.add(item, "target without a kind", "e.g. {args: [id]}");
        ok = false;
        continue;
      }
      if (!readTargetKind(*kind_key, target.kind)) {
        ok = false;
        continue;
      }
      if (!isNamedKind(target.kind)) {
        diag_.add(*kind_key, "target " + squote(kind_key->Scalar()) + " has no names to select",
                  "write it as a plain list item: - " + kind_key->Scalar());
        ok = false;
        continue;
      }
      if (!(kind_value->IsScalar() && kind_value->Scalar() == "all")) {
        auto names = readStringList(diag_, *kind_value, kind_key->Scalar());
        if (!names) {
          ok = false;
          continue;
        }
        target.names = *names;
      }
      if (except) {
        auto names = readStringList(diag_, *except, "except");
        if (!names) {
          ok = false;
          continue;
        }
        target.except = *names;
      }
      out.push_back(std::move(target));
    }
    return ok;
  }

  bool parseTransforms(const YAML::Node& node, TransformChain& out) {
    if (!node.IsSequence()) {
      typeError(diag_, node, "a list", "transforms");
      return false;
    }
    if (node.size() > kMaxTransforms) {
      diag_.add(node, "too many transforms (" + std::to_string(node.size()) + ")",
                "at most " + std::to_string(kMaxTransforms));
      return false;
    }
    bool ok = true;
    for (size_t i = 0; i < node.size(); ++i) {
      YAML::Node item = node[i];
      Transform t{};
      if (readEnum<Transform, kTransformCount>(item, "transform", transformName,
                                              transformFromName, t)) {
        out.push_back(t);
      } else {
        ok = false;
      }
    }
    return ok;
  }

  bool parseOperator(const YAML::Node& node, Operator& op) {
    Fields f(diag_, node, "the operator",
             {"pattern", "phrases", "equals", "prefix", "suffix", "contains", "numeric",
              "byte_range", "detect_sqli", "detect_xss", "caseless", "negate", "match"});
    if (!f.ok()) return false;
    if (f.hadUnknown()) return false;
    static constexpr std::string_view kKinds[] = {"pattern", "phrases", "equals",
                                                  "prefix",  "suffix",  "contains",
                                                  "numeric", "byte_range", "detect_sqli",
                                                  "detect_xss"};
    std::vector<std::string> present;
    for (const auto& key : f.keys()) {
      if (std::find(std::begin(kKinds), std::end(kKinds), key) != std::end(kKinds)) {
        present.push_back(key);
      }
    }
    if (present.size() != 1) {
      diag_.add(node,
                present.empty() ? "the operator names no test"
                                : "the operator names " + std::to_string(present.size()) +
                                      " tests: " + present[0] + ", " + present[1],
                "exactly one of: pattern, phrases, equals, prefix, suffix, contains, numeric, "
                "byte_range, detect_sqli, detect_xss");
      return false;
    }
    const std::string& kind = present[0];
    YAML::Node value = node[kind];
    bool ok = true;
    if (auto negate = f.get("negate")) {
      auto v = readBool(diag_, *negate, "negate");
      ok = v.has_value();
      if (v) op.negate = *v;
    }
    if (auto caseless = f.get("caseless")) {
      auto v = readBool(diag_, *caseless, "caseless");
      ok = v.has_value() && ok;
      if (v) op.caseless = *v;
      if (kind == "numeric" || kind == "byte_range" || kind == "detect_sqli" ||
          kind == "detect_xss") {
        diag_.add(*caseless, "'caseless' does not apply to " + squote(kind));
        ok = false;
      }
    }
    if (auto match = f.get("match")) {
      if (kind != "phrases") {
        diag_.add(*match, "'match' applies only to 'phrases'");
        ok = false;
      } else if (match->IsScalar() && match->Scalar() == "substring") {
        op.phrase_match = PhraseMatch::Substring;
      } else if (match->IsScalar() && match->Scalar() == "word") {
        op.phrase_match = PhraseMatch::Word;
      } else if (match->IsScalar() && match->Scalar() == "whole") {
        op.phrase_match = PhraseMatch::Whole;
      } else {
        diag_.add(*match, "invalid value " + describe(*match) + " for 'match'",
                  "expected one of: substring, word, whole");
        ok = false;
      }
    }

    if (kind == "pattern") {
      op.kind = OperatorKind::Pattern;
      auto text = readString(diag_, value, "pattern");
      if (!text) return false;
      op.text = *text;
    } else if (kind == "phrases") {
      op.kind = OperatorKind::Phrases;
      auto list = readStringList(diag_, value, "phrases");
      if (!list) return false;
      if (list->size() > kMaxPhrases) {
        diag_.add(value, "too many phrases", "at most " + std::to_string(kMaxPhrases));
        return false;
      }
      op.phrases = *list;
    } else if (kind == "equals" || kind == "prefix" || kind == "suffix" || kind == "contains") {
      op.kind = kind == "equals"   ? OperatorKind::Equals
                : kind == "prefix" ? OperatorKind::Prefix
                : kind == "suffix" ? OperatorKind::Suffix
                                   : OperatorKind::Contains;
      auto text = readString(diag_, value, kind, /*allow_empty=*/kind == "equals");
      if (!text) return false;
      op.text = *text;
    } else if (kind == "numeric") {
      op.kind = OperatorKind::Numeric;
      ok = parseNumeric(value, op) && ok;
    } else if (kind == "byte_range") {
      op.kind = OperatorKind::ByteRange;
      ok = parseByteRange(value, op.allowed) && ok;
    } else {
      // detect_sqli / detect_xss: the tokenizer detectors take no argument
      // (written `detect_sqli: {}` or `detect_sqli: true`).
      op.kind = kind == "detect_sqli" ? OperatorKind::DetectSqli : OperatorKind::DetectXss;
    }
    return ok;
  }

  // numeric: {of: count, gt: 255}
  bool parseNumeric(const YAML::Node& node, Operator& op) {
    Fields f(diag_, node, "numeric", {"of", "gt", "ge", "lt", "le", "eq", "ne"});
    if (!f.ok() || f.hadUnknown()) return false;
    bool ok = true;
    if (auto of = f.get("of")) {
      std::string text = of->IsScalar() ? of->Scalar() : "";
      if (text == "value") op.numeric_of = NumericOf::Value;
      else if (text == "length") op.numeric_of = NumericOf::Length;
      else if (text == "count") op.numeric_of = NumericOf::Count;
      else {
        diag_.add(*of, "invalid value " + describe(*of) + " for 'of'",
                  "expected one of: value, length, count");
        ok = false;
      }
    }
    static constexpr std::pair<std::string_view, Compare> kCompares[] = {
        {"gt", Compare::Gt}, {"ge", Compare::Ge}, {"lt", Compare::Lt},
        {"le", Compare::Le}, {"eq", Compare::Eq}, {"ne", Compare::Ne}};
    int found = 0;
    for (const auto& [name, cmp] : kCompares) {
      if (auto v = f.get(name)) {
        ++found;
        op.compare = cmp;
        auto number = readInteger(diag_, *v, name, INT64_MIN, INT64_MAX);
        if (!number) ok = false;
        else op.number = *number;
      }
    }
    if (found != 1) {
      diag_.add(node, "'numeric' needs exactly one comparison",
                "one of: gt, ge, lt, le, eq, ne");
      return false;
    }
    return ok;
  }

  // byte_range: "9,10,13,32-126" (ModSecurity's @validateByteRange syntax),
  // or a list of such pieces.
  bool parseByteRange(const YAML::Node& node, std::vector<ByteRangeSpan>& out) {
    std::vector<std::string> pieces;
    if (node.IsScalar()) {
      pieces.push_back(node.Scalar());
    } else if (auto list = readStringList(diag_, node, "byte_range")) {
      pieces = *list;
    } else {
      return false;
    }
    for (const auto& piece : pieces) {
      std::string_view rest = piece;
      while (!rest.empty()) {
        size_t comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        size_t dash = item.find('-');
        std::string_view lo_text = item.substr(0, dash);
        std::string_view hi_text = dash == std::string_view::npos ? lo_text : item.substr(dash + 1);
        auto parseByte = [](std::string_view text) -> std::optional<uint8_t> {
          unsigned v = 0;
          auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
          if (ec != std::errc() || end != text.data() + text.size() || text.empty() || v > 255) {
            return std::nullopt;
          }
          return static_cast<uint8_t>(v);
        };
        auto lo = parseByte(lo_text);
        auto hi = parseByte(hi_text);
        if (!lo || !hi || *lo > *hi) {
          diag_.add(node, "invalid byte range " + squote(item),
                    "write bytes 0..255 as 'N' or 'LOW-HIGH', separated by commas");
          return false;
        }
        out.push_back({*lo, *hi});
      }
    }
    if (out.empty()) {
      diag_.add(node, "'byte_range' allows no bytes", "e.g. \"9,10,13,32-126\"");
      return false;
    }
    return true;
  }

  // samples: {match: [...], nomatch: [...]}; an item is a raw request
  // (string) or {target: kind, name: n, value: v}.
  bool parseSamples(const YAML::Node& node, std::vector<RuleSample>& out) {
    Fields f(diag_, node, "samples", {"match", "nomatch"});
    if (!f.ok() || f.hadUnknown()) return false;
    bool ok = true;
    for (bool expect : {true, false}) {
      auto list = f.get(expect ? "match" : "nomatch");
      if (!list) continue;
      if (!list->IsSequence()) {
        typeError(diag_, *list, "a list", expect ? "match" : "nomatch");
        ok = false;
        continue;
      }
      for (size_t i = 0; i < list->size(); ++i) {
        YAML::Node item = (*list)[i];
        RuleSample sample;
        sample.expect_match = expect;
        sample.source = position(diag_.file(), item.Mark());
        if (item.IsScalar()) {
          auto raw = readString(diag_, item, "sample");
          if (!raw) {
            ok = false;
            continue;
          }
          sample.raw = *raw;
          out.push_back(std::move(sample));
          continue;
        }
        Fields s(diag_, item, "a sample", {"target", "name", "value", "repeat"});
        if (!s.ok() || s.hadUnknown()) {
          ok = false;
          continue;
        }
        auto target = s.require("target");
        if (!target || !readTargetKind(*target, sample.target)) {
          ok = false;
          continue;
        }
        if (auto name = s.get("name")) {
          auto v = readString(diag_, *name, "name");
          if (!v) {
            ok = false;
            continue;
          }
          sample.name = *v;
        }
        if (auto repeat = s.get("repeat")) {
          auto v = readInteger(diag_, *repeat, "repeat", 1, 10000);
          if (!v) {
            ok = false;
            continue;
          }
          sample.repeat = static_cast<int>(*v);
        }
        if (s.has("value")) {
          YAML::Node v = item["value"];
          auto text = v.IsNull() ? std::optional<std::string>("")
                                 : readString(diag_, v, "value", /*allow_empty=*/true);
          if (!text) {
            ok = false;
            continue;
          }
          sample.value = *text;
        } else {
          diag_.add(item, "missing required key 'value'");
          ok = false;
          continue;
        }
        out.push_back(std::move(sample));
      }
    }
    return ok;
  }

  Diagnostics& diag_;
};

Result<std::vector<Rule>> loadText(std::string_view yaml, const std::string& name) {
  Diagnostics diag(name);
  try {
    std::string text(yaml);
    YAML::Mark second;
    if (common::countYamlDocuments(text, &second) > 1) {
      diag.add(second, "more than one YAML document", "remove the '---' separator");
      return diag.toError();
    }
    YAML::Node document = YAML::Load(text);
    if (document.IsNull() || !document.IsDefined()) {
      diag.add(YAML::Mark(), "the rules file is empty", "expected a mapping with key 'rules'");
      return diag.toError();
    }
    RuleParser parser(diag);
    std::vector<Rule> rules = parser.parse(document);
    if (!diag.empty()) return diag.toError();
    return rules;
  } catch (const YAML::Exception& e) {
    diag.add(e.mark, "invalid YAML: " + e.msg);
    return diag.toError();
  } catch (const std::exception& e) {
    return Error{EINVAL, name + ": cannot load rules: " + e.what()};
  }
}

}  // namespace

Result<std::vector<Rule>> loadRulesString(std::string_view yaml,
                                          const std::string& name_for_errors) {
  if (yaml.size() > kMaxRuleFileBytes) {
    return Error{EFBIG, name_for_errors + ": rules file larger than 16 MiB"};
  }
  return loadText(yaml, name_for_errors);
}

Result<std::vector<Rule>> loadRulesFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return common::errnoError("cannot open rules file " + path, errno ? errno : ENOENT);
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxRuleFileBytes) {
      return Error{EFBIG, path + ": rules file larger than 16 MiB"};
    }
  }
  if (in.bad()) return common::errnoError("cannot read rules file " + path, errno ? errno : EIO);
  return loadText(text, path);
}

Result<std::vector<Rule>> loadRulesDirectory(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> files;
  fs::directory_iterator it(dir, ec);
  if (ec) return Error{ec.value(), "cannot list rules directory " + dir + ": " + ec.message()};
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const auto& path = it->path();
    if (path.extension() == ".yaml" && it->is_regular_file(ec)) files.push_back(path);
  }
  if (ec) return Error{ec.value(), "cannot list rules directory " + dir + ": " + ec.message()};
  std::sort(files.begin(), files.end());

  std::vector<Rule> all;
  std::map<uint32_t, std::string> seen;  // id -> source
  std::string errors;
  for (const auto& file : files) {
    auto rules = loadRulesFile(file.string());
    if (!rules) {
      if (!errors.empty()) errors += '\n';
      errors += rules.error().message;
      continue;
    }
    for (auto& rule : *rules) {
      auto [prev, inserted] = seen.emplace(rule.id, rule.source);
      if (!inserted) {
        if (!errors.empty()) errors += '\n';
        errors += rule.source + ": duplicate rule id " + std::to_string(rule.id) +
                  " (first defined at " + prev->second + ")";
        continue;
      }
      all.push_back(std::move(rule));
    }
  }
  if (!errors.empty()) return Error{EINVAL, errors};
  return all;
}

}  // namespace mamori::inspect
