#pragma once

// Loads rule files (YAML, format in docs/rules.md) into the rule IR. The
// only place in inspect/ that sees yaml-cpp: it throws, and every exception
// is caught here and turned into a Result (STYLE.md §4).
//
// Loading checks structure, names, ranges and id uniqueness; regular
// expressions are checked when the rules are compiled (RuleSet::compile),
// whose errors carry the rule's file:line as well. Control plane only
// (startup, reload, `mamorictl rules test`); any thread, no shared state.

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "inspect/rule.h"

namespace mamori::inspect {

// Parses rules from YAML text; `name_for_errors` is the FILE part of every
// error line and of each Rule::source.
// Out: the rules in file order, or an Error (code EINVAL) whose message has
// one line per problem, in file order: "FILE:LINE:COLUMN: message (hint)".
// All problems found are reported, not only the first.
common::Result<std::vector<Rule>> loadRulesString(std::string_view yaml,
                                                  const std::string& name_for_errors);

// As loadRulesString for the file at `path` (at most 16 MiB). A failed read
// gives an Error with that errno.
common::Result<std::vector<Rule>> loadRulesFile(const std::string& path);

// Loads every regular file ending in ".yaml" directly in `dir`, in byte
// order of their names, and concatenates the rules. A rule id defined twice
// (in one file or across files) fails the load, naming both places. An
// empty directory gives an empty list.
common::Result<std::vector<Rule>> loadRulesDirectory(const std::string& dir);

}  // namespace mamori::inspect
