#pragma once

// Rewrites of a rule's pattern that RuleSet::compile gives Hyperscan in
// place of the text the rule author wrote, where the rule's transform chain
// makes the two match exactly the same spans of every value the pattern can
// ever see. PCRE2 (which finds the reported fragment) keeps the original
// text. Pure functions; any thread.

#include <optional>
#include <string>
#include <string_view>

#include "inspect/types.h"

namespace mamori::inspect {

// True when every output of `chain` has no whitespace byte other than
// single spaces: the chain applies compress_whitespace and after its last
// compress_whitespace only lowercase (which neither makes nor removes
// bytes next to a space). On such text the pattern class \s (SP HT LF VT FF
// CR; no UCP) can only ever match one ' ', never two in a row.
bool chainLeavesSingleSpaces(const TransformChain& chain);

// For a pattern read only through such a chain: `\s*` and `\s?` become
// `\x20?`, `\s+` and a bare `\s` become `\x20`, outside character classes
// and \Q...\E; lazy, possessive and counted repeats of \s are left alone.
// On text whose whitespace is single spaces the result matches exactly the
// spans the pattern matches (each \s-run the text can hold is "" or " ").
// Why: Hyperscan cannot extend a literal through an unbounded \s*, so
// `\b(?:exec|file|...)\s*\(` scans 3.3 KB of prose in ~5 us, where with
// `\x20?` it expands to a few short literals and takes ~0.5 us
// (docs/benchmarks.md, "Inspection speed, round 2").
// Returns std::nullopt when there is nothing to rewrite, or when the
// pattern holds syntax this scanner does not follow (\c, an unterminated
// class or escape): the caller then keeps the original.
std::optional<std::string> singleSpacePattern(std::string_view pattern);

}  // namespace mamori::inspect
