#pragma once

// RuleSet: a list of rules compiled into matchers, immutable once built.
// Compilation happens off the request path (startup, reload); the result is
// shared by every worker through a std::shared_ptr<const RuleSet>, and a
// reload builds a new one and swaps the pointer (RuleSetHolder), so a
// request always sees one whole rule set. Each worker thread keeps its own
// Hyperscan scratch (allocated on first use of a set, see inspector.h).
//
// What compile() builds: pattern and phrase rules grouped per (target kind,
// transform chain) into Hyperscan block-mode databases, one per paranoia
// level actually used; a pattern Hyperscan cannot run exactly
// (back-references, lookaround) goes in with HS_FLAG_PREFILTER and is
// confirmed by PCRE2 (JIT) only when the prefilter hits; a pattern
// Hyperscan refuses even as a prefilter runs in PCRE2 alone. A pattern
// with non-ASCII characters that is valid UTF-8 goes into a separate
// HS_FLAG_UTF8 database, scanned only for values that are valid UTF-8
// (PCRE2 answers for the others). Other operators are evaluated directly.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/result.h"
#include "inspect/rule.h"

namespace mamori::inspect {

namespace detail {
struct Compiled;  // Hyperscan databases and PCRE2 codes (compiled.h, private)
}

// How a pattern (or phrase) rule is matched; exposed for tests and
// `mamorictl rules show`.
enum class MatchMode : std::uint8_t {
  Hyperscan,            // exact in Hyperscan
  HyperscanPrefilter,   // Hyperscan prefilter, PCRE2 confirms each hit
  PcreOnly,             // PCRE2 on every value (Hyperscan refused it)
  Direct,               // not a regex: evaluated in C++ (or negated)
};

class RuleSet {
 public:
  // Compiles `rules` (disabled rules are kept for listing but not compiled).
  // Out: the snapshot, or an Error (EINVAL) naming the first bad rule as
  // "FILE:LINE:COL: rule ID: invalid pattern: <reason> at offset N" (every
  // bad pattern is listed, one per line). Duplicate ids are refused too.
  // On failure nothing changes for the caller, who keeps its old snapshot.
  // Control plane; any thread; may take a while for big sets.
  static common::Result<std::shared_ptr<const RuleSet>> compile(std::vector<Rule> rules);

  ~RuleSet();
  RuleSet(const RuleSet&) = delete;
  RuleSet& operator=(const RuleSet&) = delete;

  const std::vector<Rule>& rules() const { return rules_; }
  // The rule with `id`, or nullptr.
  const Rule* find(std::uint32_t id) const;
  // Unique per compiled set in this process (never reused), so per-thread
  // state keyed by it cannot confuse a freed set with a new one.
  std::uint64_t generation() const { return generation_; }
  // How rule `id` is matched; nullopt for an unknown or disabled id.
  std::optional<MatchMode> matchMode(std::uint32_t id) const;
  // Number of Hyperscan databases built (all groups, all paranoia levels).
  std::size_t databaseCount() const;
  // Whether an enabled rule reads values of `kind` (a primitive kind), so
  // a caller can skip working out values no rule looks at (TLS
  // fingerprints cost a ClientHello parse and two hashes).
  bool readsTargetKind(TargetKind kind) const;

  const detail::Compiled& compiled() const { return *compiled_; }

 private:
  RuleSet();
  std::vector<Rule> rules_;
  std::uint64_t generation_ = 0;
  std::unique_ptr<detail::Compiled> compiled_;
};

// The current rule set of a site (or of the process), swapped whole on
// reload. get() and set() are safe from any thread at any time; a reader
// keeps the set it got alive for as long as it holds the pointer.
class RuleSetHolder {
 public:
  std::shared_ptr<const RuleSet> get() const { return current_.load(std::memory_order_acquire); }
  void set(std::shared_ptr<const RuleSet> next) {
    current_.store(std::move(next), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const RuleSet>> current_;
};

}  // namespace mamori::inspect
