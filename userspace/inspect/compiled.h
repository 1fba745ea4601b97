#pragma once

// Private to mamori_inspect (rule_set.cpp builds it, inspector.cpp reads
// it): the compiled form of a RuleSet. This is the one header that names
// Hyperscan and PCRE2 types, and it is not installed or included from any
// public header. Immutable after RuleSet::compile returns; shared read-only
// by every worker thread (Hyperscan databases and PCRE2 codes are safe to
// use concurrently; scratch and match data are per thread).

#include <hs/hs.h>
#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <array>
#include <climits>
#include <cstdint>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "inspect/rule_set.h"

namespace mamori::inspect::detail {

struct HsDatabaseFree {
  void operator()(hs_database_t* db) const { hs_free_database(db); }
};
using HsDatabasePtr = std::unique_ptr<hs_database_t, HsDatabaseFree>;

struct PcreCodeFree {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
using PcreCodePtr = std::unique_ptr<pcre2_code, PcreCodeFree>;

struct MatchContextFree {
  void operator()(pcre2_match_context* context) const { pcre2_match_context_free(context); }
};

// One Hyperscan expression; its id in the database is its index in
// Group::expressions.
struct Expression {
  std::uint32_t rule = 0;  // index into RuleSet::rules()
  MatchMode mode = MatchMode::Hyperscan;
  int regex = -1;          // PCRE2 twin (Compiled::regexes), -1 for phrases
  std::string phrase;      // phrase expressions: the literal, for fragments
  std::string text;        // the expression given to Hyperscan (pattern_rewrite.h)
  unsigned flags = 0;      // its Hyperscan flags, without PREFILTER
  // A pattern with non-ASCII characters that is itself valid UTF-8: compiled
  // with HS_FLAG_UTF8 (and PCRE2_UTF), so "[éè]" and "." mean characters,
  // not bytes.
  bool utf8 = false;
};

// All Hyperscan-matched expressions read through one transform chain, for
// every target kind: a rule contributes its expressions once, whatever the
// number of kinds it reads, and the inspector drops a hit whose rule does
// not apply to the value scanned (Inspection::applies checks the kind). So
// the databases are one per (chain, distinct paranoia subset), not one per
// (kind, chain, subset): far fewer to compile at start and on reload.
struct Group {
  std::uint32_t chain = 0;  // index into Compiled::chains
  std::vector<Expression> expressions;
  // Database for site paranoia level 1..4 (index 0..3): the expressions of
  // rules at or below that level. Levels with the same content share one
  // database; nullptr when the level has nothing to scan.
  std::array<const hs_database_t*, 4> by_paranoia{};
  // The same for the UTF-8 expressions. Hyperscan's UTF-8 mode is undefined
  // on invalid UTF-8, so these are scanned only for values that validate;
  // for the others PCRE2 (PCRE2_MATCH_INVALID_UTF) runs `utf8_ids` instead.
  std::array<const hs_database_t*, 4> utf8_by_paranoia{};
  std::vector<std::uint32_t> utf8_ids;
  std::vector<HsDatabasePtr> owned;
  std::vector<std::uint32_t> pcre_only;  // expression ids PCRE2 runs on every value
  int merge = -1;  // index into Compiled::merges, -1 when the group is in none
};

// Groups whose chains leave ordinary text alike, scanned together. Most
// values have nothing for a decoder to do (no '%', '&', '\', non-ASCII,
// NUL, comment opener): then [url_decode_uni, html_entity_decode,
// lowercase], [url_decode_uni, lowercase] and [lowercase] all yield the
// same bytes, and one scan of a database holding all three groups'
// expressions replaces three scans of the same bytes (each hs_scan has a
// fixed cost that dominates on short values). Groups are merged by the
// transforms that do change ordinary text (lowercase, whitespace removal
// or compression, cmdline, base64/hex decoding): same set, same merge.
// Exact, never a guess: the inspector uses the merged scan for a group
// only when that group's transformed value is the very bytes scanned
// (the same view from the transform cache), and scans the group's own
// database otherwise. See docs/rules.md, "Matching".
struct Merge {
  std::vector<std::uint32_t> groups;  // member groups (index into Compiled::groups)
  // Merged expression id -> (member group, that group's expression id).
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ids;
  // Per site paranoia level, as Group::by_paranoia: the non-UTF-8
  // Hyperscan expressions of every member at or below that level; nullptr
  // when fewer than two members have any (nothing to share) or Hyperscan
  // refused the union (the members' own databases are used then).
  std::array<const hs_database_t*, 4> by_paranoia{};
  std::vector<HsDatabasePtr> owned;
  // Members with a pass over values of each primitive kind: only their
  // transforms decide whether a value of that kind can share one scan.
  std::array<std::vector<std::uint32_t>, kPrimitiveTargetKindCount> members_by_kind;
};

// One scan pass of the inspector: every value of `kind` through group
// `group`'s chain. Passes are kept in the order in which rules first
// brought the (kind, chain) pair up, which fixes the order in which values
// are scanned, and so which value a rule's one detection names.
struct Pass {
  TargetKind kind = TargetKind::Path;
  std::uint32_t group = 0;  // index into Compiled::groups
  std::uint32_t slot = 0;   // position of `group` in Compiled::kind_groups[kind]
};

// Per rule (same index as RuleSet::rules()).
struct RuleInfo {
  bool compiled = false;  // enabled and placed in a group or in `direct`
  std::uint32_t chain = 0;
  std::array<bool, kPrimitiveTargetKindCount> kinds{};  // primitive kinds it reads
  MatchMode mode = MatchMode::Direct;
  int regex = -1;  // direct negated patterns
  int byte_table = -1;  // ByteRange: index into Compiled::byte_tables
};

// The rule set's transform chains as a trie of shared prefixes: node 0 is
// the untransformed value, node n applies `transform` to its `parent`'s
// result, and chain c ends at `chain_node[c]`. [url_decode_uni, lowercase]
// and [url_decode_uni, html_entity_decode] share the url_decode_uni node,
// so the inspector decodes a value once for both. Parents come before
// children (parent < n).
struct ChainTrie {
  struct Node {
    std::uint32_t parent = 0;
    Transform transform = Transform::Lowercase;  // unused for node 0
  };
  std::vector<Node> nodes;
  std::vector<std::uint32_t> chain_node;
  // chain_mask[c]: chain c's transforms as a bit set, to test against
  // transformsThatMayChange() of a value (transform.h).
  std::vector<std::uint32_t> chain_mask;
  // child[n * kTransformCount + t]: the node that applies t after node n,
  // 0 when no chain does.
  std::vector<std::uint32_t> child;
};

struct Compiled {
  std::vector<TransformChain> chains;
  // Built from `chains` on first use by inspector.cpp (chainTrie()), under
  // trie_once, so any worker thread may be the first.
  mutable std::once_flag trie_once;
  mutable ChainTrie trie;
  std::vector<Group> groups;  // one per chain that has Hyperscan-matched rules
  std::vector<Merge> merges;
  std::vector<Pass> passes;
  // Per ByteRange rule (RuleInfo::byte_table), which bytes its spans allow:
  // built once here, so a request looks up one table per byte instead of
  // filling it from the spans (up to 256 stores) for every value.
  std::vector<std::array<bool, 256>> byte_tables;
  // kind_slots[k]: the groups with a pass over values of primitive kind k,
  // in pass order. The inspector scans a value for all of them at once, the
  // first time a pass reaches it, and keeps the hits per (value, slot).
  struct KindSlot {
    std::uint32_t group = 0;
    std::uint32_t chain = 0;
    int merge = -1;                                 // the group's merge
    std::array<const hs_database_t*, 4> db{};       // the group's by_paranoia
    std::array<const hs_database_t*, 4> merged{};   // its merge's by_paranoia
    std::uint32_t next_in_merge = UINT32_MAX;       // next slot of the same merge
  };
  std::array<std::vector<KindSlot>, kPrimitiveTargetKindCount> kind_slots;
  // slot_of_group[k][g]: the slot of group g in kind_slots[k], or UINT32_MAX.
  std::array<std::vector<std::uint32_t>, kPrimitiveTargetKindCount> slot_of_group;
  std::vector<RuleInfo> info;
  std::vector<std::uint32_t> direct;  // rules evaluated without Hyperscan
  std::vector<PcreCodePtr> regexes;
  std::unique_ptr<pcre2_match_context, MatchContextFree> match_context;
  std::vector<const hs_database_t*> databases;  // every database, for scratch allocation
};

// PCRE2 limits per match: enough for any sane rule, small enough that a
// pathological pattern meets a hostile value in microseconds, not seconds.
inline constexpr std::uint32_t kPcreMatchLimit = 100'000;
inline constexpr std::uint32_t kPcreDepthLimit = 10'000;

}  // namespace mamori::inspect::detail
