#pragma once

// The rule IR: what a rule file (rules/*.yaml) compiles to, and what a
// later SecLang front end would compile to as well (docs/rules.md, "From
// SecLang"). Plain data; RuleSet (rule_set.h) compiles a list of these into
// matchers.

#include <cstdint>
#include <string>
#include <vector>

#include "inspect/types.h"

namespace mamori::inspect {

// A request a rule must (or must not) match, carried in the rule file for
// the data-driven test (tests/unit/inspect/rule_samples_test.cpp).
// Either `raw` is a whole HTTP/1.1 request, or `target`/`name`/`value`
// place one value into an otherwise empty GET request (docs/rules.md).
struct RuleSample {
  bool expect_match = true;
  std::string raw;  // non-empty: raw request text (LF line ends allowed)
  TargetKind target = TargetKind::QueryArgValues;
  std::string name;
  std::string value;
  int repeat = 1;  // short form: the value is placed this many times
  std::string source;  // "file:line:col" of the sample, for test messages
};

struct Rule {
  std::uint32_t id = 0;  // 1..999999999, unique within a rule set
  std::string message;
  Category category = Category::Generic;
  Severity severity = Severity::Warning;
  int paranoia = 1;  // 1..4
  std::vector<std::string> tags;
  std::vector<Target> targets;  // at least one
  TransformChain transforms;    // applied in order to each value
  Operator op;
  int score = 5;  // added to the anomaly score when the rule matches
  bool enabled = true;
  std::vector<RuleSample> samples;
  std::string source;  // "file:line:col" of the rule, for compile errors
};

}  // namespace mamori::inspect
