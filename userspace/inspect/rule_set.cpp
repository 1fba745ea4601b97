#include "inspect/rule_set.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <set>
#include <utility>

#include "inspect/compiled.h"
#include "inspect/pattern_rewrite.h"
#include "inspect/transform.h"

namespace mamori::inspect {
namespace {

using common::Error;
using common::Result;
using detail::Compiled;
using detail::Expression;
using detail::Group;

std::atomic<std::uint64_t> next_generation{1};

// Escapes a literal for Hyperscan and PCRE2: bytes outside [A-Za-z0-9_]
// become \xHH, so no phrase can smuggle regex syntax (or a NUL) in.
std::string escapeLiteral(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() * 2);
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_';
    if (plain) {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The expression a phrase compiles to under each PhraseMatch.
std::string phraseExpression(std::string_view phrase, PhraseMatch match) {
  std::string literal = escapeLiteral(phrase);
  switch (match) {
    case PhraseMatch::Substring: return literal;
    case PhraseMatch::Whole: return "\\A" + literal + "\\z";
    case PhraseMatch::Word:
      return "(?:\\A|[^A-Za-z0-9_])" + literal + "(?:[^A-Za-z0-9_]|\\z)";
  }
  return literal;
}

void addPrimitiveKinds(TargetKind kind, std::array<bool, kPrimitiveTargetKindCount>& kinds) {
  switch (kind) {
    case TargetKind::ArgNames:
      kinds[static_cast<size_t>(TargetKind::QueryArgNames)] = true;
      kinds[static_cast<size_t>(TargetKind::BodyNames)] = true;
      break;
    case TargetKind::ArgValues:
      kinds[static_cast<size_t>(TargetKind::QueryArgValues)] = true;
      kinds[static_cast<size_t>(TargetKind::BodyValues)] = true;
      break;
    default: kinds[static_cast<size_t>(kind)] = true;
  }
}

class Compiler {
 public:
  Compiler(const std::vector<Rule>& rules, Compiled& out) : rules_(rules), out_(out) {}

  Result<void> run() {
    out_.info.resize(rules_.size());
    out_.match_context.reset(pcre2_match_context_create(nullptr));
    if (!out_.match_context) return Error{ENOMEM, "pcre2_match_context_create failed"};
    pcre2_set_match_limit(out_.match_context.get(), detail::kPcreMatchLimit);
    pcre2_set_depth_limit(out_.match_context.get(), detail::kPcreDepthLimit);

    std::map<std::uint32_t, std::string> ids;
    for (std::uint32_t i = 0; i < rules_.size(); ++i) {
      const Rule& rule = rules_[i];
      auto [prev, inserted] = ids.emplace(rule.id, rule.source);
      if (!inserted) {
        errors_.push_back(rule.source + ": duplicate rule id " + std::to_string(rule.id) +
                          " (first defined at " + prev->second + ")");
        continue;
      }
      if (!rule.enabled) continue;
      // The loader guarantees these; rules built in code (a future SecLang
      // front end, tests) get the same checks here.
      if (rule.targets.empty()) {
        errors_.push_back(rule.source + ": rule " + std::to_string(rule.id) + ": no targets");
        continue;
      }
      if (rule.paranoia < 1 || rule.paranoia > 4) {
        errors_.push_back(rule.source + ": rule " + std::to_string(rule.id) +
                          ": paranoia must be 1..4, not " + std::to_string(rule.paranoia));
        continue;
      }
      placeRule(i);
    }
    if (errors_.empty()) buildDatabases();
    if (errors_.empty()) buildMerges();
    if (errors_.empty()) finishSlots();
    if (!errors_.empty()) {
      std::string joined;
      for (const auto& e : errors_) joined += (joined.empty() ? "" : "\n") + e;
      return Error{EINVAL, joined};
    }
    return {};
  }

 private:
  std::uint32_t chainIndex(const TransformChain& chain) {
    for (std::uint32_t i = 0; i < out_.chains.size(); ++i) {
      if (out_.chains[i] == chain) return i;
    }
    out_.chains.push_back(chain);
    return static_cast<std::uint32_t>(out_.chains.size() - 1);
  }

  // The group of `chain`, created on first use.
  Group& group(std::uint32_t chain) {
    auto it = group_index_.find(chain);
    if (it != group_index_.end()) return out_.groups[it->second];
    group_index_.emplace(chain, out_.groups.size());
    Group g;
    g.chain = chain;
    out_.groups.push_back(std::move(g));
    return out_.groups.back();
  }

  // Records that values of `kind` are scanned with `chain`'s group, in the
  // order rules first ask for it (compiled.h, Pass).
  void addPass(TargetKind kind, std::uint32_t chain) {
    auto key = std::pair(static_cast<int>(kind), chain);
    if (!pass_keys_.insert(key).second) return;
    auto group = static_cast<std::uint32_t>(group_index_.at(chain));
    auto& slots = out_.kind_slots[static_cast<size_t>(kind)];
    out_.passes.push_back({kind, group, static_cast<std::uint32_t>(slots.size())});
    detail::Compiled::KindSlot slot;
    slot.group = group;
    slot.chain = chain;
    slots.push_back(slot);  // databases and merges are filled in by finishSlots()
  }

  // Completes Compiled::kind_slots once databases and merges are built.
  void finishSlots() {
    for (size_t k = 0; k < kPrimitiveTargetKindCount; ++k) {
      auto& slots = out_.kind_slots[k];
      out_.slot_of_group[k].assign(out_.groups.size(), UINT32_MAX);
      for (std::uint32_t i = 0; i < slots.size(); ++i) {
        auto& slot = slots[i];
        const Group& g = out_.groups[slot.group];
        out_.slot_of_group[k][slot.group] = i;
        slot.merge = g.merge;
        slot.db = g.by_paranoia;
        if (g.merge >= 0) slot.merged = out_.merges[static_cast<size_t>(g.merge)].by_paranoia;
        for (std::uint32_t j = i + 1; j < slots.size(); ++j) {
          if (g.merge >= 0 && out_.groups[slots[j].group].merge == g.merge) {
            slot.next_in_merge = j;
            break;
          }
        }
      }
    }
  }

  // Compiles `pattern` with PCRE2 (JIT when available). Returns its index
  // in out_.regexes, or -1 after recording an error for rule `index`.
  int compilePcre(std::uint32_t index, const std::string& pattern, bool caseless, bool utf8) {
    int code = 0;
    PCRE2_SIZE offset = 0;
    std::uint32_t options = caseless ? PCRE2_CASELESS : 0;
    // MATCH_INVALID_UTF: subjects come from the network; invalid sequences
    // simply never match a character instead of being an error.
    if (utf8) options |= PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
    pcre2_code* compiled = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()),
                                         pattern.size(), options, &code, &offset, nullptr);
    if (!compiled) {
      PCRE2_UCHAR buffer[256];
      pcre2_get_error_message(code, buffer, sizeof(buffer));
      errors_.push_back(rules_[index].source + ": rule " + std::to_string(rules_[index].id) +
                        ": invalid pattern: " + reinterpret_cast<const char*>(buffer) +
                        " at offset " + std::to_string(offset));
      return -1;
    }
    // JIT failing (no executable memory, unsupported CPU) leaves the
    // interpreter, which is slower but gives the same answers.
    (void)pcre2_jit_compile(compiled, PCRE2_JIT_COMPLETE);
    out_.regexes.emplace_back(compiled);
    return static_cast<int>(out_.regexes.size() - 1);
  }

  // Whether Hyperscan accepts `text` with `flags`; a cheap parse-level check
  // (hs_expression_info) that catches back-references, lookaround and
  // other constructs it does not support exactly.
  static bool hyperscanAccepts(const std::string& text, unsigned flags) {
    hs_expr_info_t* info = nullptr;
    hs_compile_error_t* error = nullptr;
    hs_error_t rc = hs_expression_info(text.c_str(), flags, &info, &error);
    if (error) hs_free_compile_error(error);
    std::free(info);
    return rc == HS_SUCCESS;
  }

  void placeRule(std::uint32_t index) {
    const Rule& rule = rules_[index];
    detail::RuleInfo& info = out_.info[index];
    info.chain = chainIndex(rule.transforms);
    for (const auto& target : rule.targets) addPrimitiveKinds(target.kind, info.kinds);
    const Operator& op = rule.op;
    unsigned base_flags = HS_FLAG_SINGLEMATCH | (op.caseless ? HS_FLAG_CASELESS : 0u);

    if (op.kind == OperatorKind::Pattern) {
      bool utf8 = std::any_of(op.text.begin(), op.text.end(),
                              [](char c) { return static_cast<unsigned char>(c) >= 0x80; }) &&
                  isValidUtf8(op.text);
      if (utf8) base_flags |= HS_FLAG_UTF8;
      int regex = compilePcre(index, op.text, op.caseless, utf8);
      if (regex < 0) return;
      if (op.negate) {
        // "does not match" needs an answer for every value, hit or not, so
        // a negated pattern runs directly in PCRE2.
        info.regex = regex;
        info.mode = MatchMode::PcreOnly;
        info.compiled = true;
        out_.direct.push_back(index);
        return;
      }
      // What Hyperscan is given: on a chain that leaves only single spaces,
      // \s* as \x20? (pattern_rewrite.h: the same matches, far cheaper
      // to scan); PCRE2 keeps the author's text for fragments.
      std::string hs_text = op.text;
      if (chainLeavesSingleSpaces(rule.transforms)) {
        if (auto rewritten = singleSpacePattern(op.text)) {
          if (hyperscanAccepts(*rewritten, base_flags) || !hyperscanAccepts(op.text, base_flags)) {
            hs_text = std::move(*rewritten);
          }
        }
      }
      MatchMode mode = MatchMode::PcreOnly;
      if (hs_text.find('\0') == std::string::npos) {  // Hyperscan takes C strings
        if (hyperscanAccepts(hs_text, base_flags)) {
          mode = MatchMode::Hyperscan;
        } else if (hyperscanAccepts(hs_text, base_flags | HS_FLAG_PREFILTER)) {
          mode = MatchMode::HyperscanPrefilter;
        }
      }
      info.mode = mode;
      info.compiled = true;
      Expression e;
      e.rule = index;
      e.mode = mode;
      e.regex = regex;
      e.text = std::move(hs_text);
      e.flags = base_flags;
      e.utf8 = utf8;
      addExpression(group(info.chain), std::move(e));
      forEachKind(info, [&](TargetKind kind) { addPass(kind, info.chain); });
      return;
    }
    if (op.kind == OperatorKind::Phrases && !op.negate) {
      info.mode = MatchMode::Hyperscan;
      info.compiled = true;
      Group& g = group(info.chain);
      for (const auto& phrase : op.phrases) {
        Expression e;
        e.rule = index;
        e.mode = MatchMode::Hyperscan;
        e.phrase = phrase;
        e.text = phraseExpression(phrase, op.phrase_match);
        e.flags = base_flags;
        addExpression(g, std::move(e));
      }
      forEachKind(info, [&](TargetKind kind) { addPass(kind, info.chain); });
      return;
    }
    // Everything else (and negated phrases) is a loop in C++.
    if (op.kind == OperatorKind::ByteRange) {
      std::array<bool, 256> allowed{};
      for (const auto& span : op.allowed) {
        for (unsigned c = span.lo; c <= span.hi && c < 256; ++c) allowed[c] = true;
      }
      info.byte_table = static_cast<int>(out_.byte_tables.size());
      out_.byte_tables.push_back(allowed);
    }
    info.mode = MatchMode::Direct;
    info.compiled = true;
    out_.direct.push_back(index);
  }

  template <typename Fn>
  static void forEachKind(const detail::RuleInfo& info, Fn fn) {
    for (size_t k = 0; k < kPrimitiveTargetKindCount; ++k) {
      if (info.kinds[k]) fn(static_cast<TargetKind>(k));
    }
  }

  static void addExpression(Group& g, Expression e) {
    auto id = static_cast<std::uint32_t>(g.expressions.size());
    if (e.mode == MatchMode::PcreOnly) g.pcre_only.push_back(id);
    g.expressions.push_back(std::move(e));
  }

  // Builds each group's databases, one per distinct paranoia subset. If
  // Hyperscan refuses an expression at this stage (hs_expression_info is
  // a parse check; compiling can still fail, e.g. a pattern that matches
  // the empty string), that expression is demoted one step (exact ->
  // prefilter -> PCRE2 only) and the group is built again.
  void buildDatabases() {
    for (Group& g : out_.groups) {
      for (bool utf8 : {false, true}) {
        auto& by_paranoia = utf8 ? g.utf8_by_paranoia : g.by_paranoia;
        int previous_level = -1;
        std::vector<std::uint32_t> previous_ids;
        for (int level = 1; level <= 4; ++level) {
          std::vector<std::uint32_t> ids;
          for (std::uint32_t id = 0; id < g.expressions.size(); ++id) {
            const Expression& e = g.expressions[id];
            if (e.mode != MatchMode::PcreOnly && e.utf8 == utf8 &&
                rules_[e.rule].paranoia <= level) {
              ids.push_back(id);
            }
          }
          if (ids.empty()) continue;
          if (previous_level > 0 && ids == previous_ids) {
            by_paranoia[level - 1] = by_paranoia[previous_level - 1];
            continue;
          }
          // buildDatabase drops expressions it moves to PCRE2 from `ids`, so
          // afterwards `ids` is what the database holds.
          const hs_database_t* db = buildDatabase(g, ids);
          if (!errors_.empty()) return;
          by_paranoia[level - 1] = db;  // nullptr when every expression moved to PCRE2
          previous_level = level;
          previous_ids = std::move(ids);
        }
      }
      for (std::uint32_t id = 0; id < g.expressions.size(); ++id) {
        const Expression& e = g.expressions[id];
        if (e.utf8 && e.mode != MatchMode::PcreOnly) g.utf8_ids.push_back(id);
      }
    }
  }

  // The transforms of `chain` that change ordinary text (compiled.h, Merge):
  // groups with the same set share a merge.
  static std::uint32_t mergeKey(const TransformChain& chain) {
    std::uint32_t key = 0;
    for (Transform t : chain) {
      switch (t) {
        case Transform::Lowercase:
        case Transform::CmdLine:
        case Transform::RemoveWhitespace:
        case Transform::CompressWhitespace:
        case Transform::Base64Decode:
        case Transform::HexDecode:
          key |= 1u << static_cast<unsigned>(t);
          break;
        default: break;
      }
    }
    return key;
  }

  // Builds the merged databases (compiled.h, Merge) once every group's own
  // databases are final, so expression modes no longer change. A union
  // Hyperscan refuses is left out: its members keep scanning alone.
  void buildMerges() {
    std::map<std::uint32_t, std::vector<std::uint32_t>> by_key;
    for (std::uint32_t gi = 0; gi < out_.groups.size(); ++gi) {
      by_key[mergeKey(out_.chains[out_.groups[gi].chain])].push_back(gi);
    }
    for (auto& [key, members] : by_key) {
      if (members.size() < 2) continue;
      detail::Merge m;
      m.groups = members;
      for (std::uint32_t gi : members) {
        const Group& g = out_.groups[gi];
        for (std::uint32_t id = 0; id < g.expressions.size(); ++id) {
          const Expression& e = g.expressions[id];
          if (e.mode != MatchMode::PcreOnly && !e.utf8) m.ids.emplace_back(gi, id);
        }
      }
      for (const detail::Pass& pass : out_.passes) {
        if (std::find(members.begin(), members.end(), pass.group) != members.end()) {
          m.members_by_kind[static_cast<size_t>(pass.kind)].push_back(pass.group);
        }
      }
      std::vector<std::uint32_t> previous_ids;
      const hs_database_t* previous_db = nullptr;
      for (int level = 1; level <= 4; ++level) {
        std::vector<std::uint32_t> ids;
        std::set<std::uint32_t> contributing;
        for (std::uint32_t mid = 0; mid < m.ids.size(); ++mid) {
          const auto& [gi, id] = m.ids[mid];
          if (rules_[out_.groups[gi].expressions[id].rule].paranoia <= level) {
            ids.push_back(mid);
            contributing.insert(gi);
          }
        }
        if (contributing.size() < 2) continue;
        if (previous_db && ids == previous_ids) {
          m.by_paranoia[level - 1] = previous_db;
          continue;
        }
        std::vector<const char*> texts;
        std::vector<unsigned> flags;
        for (std::uint32_t mid : ids) {
          const Expression& e = out_.groups[m.ids[mid].first].expressions[m.ids[mid].second];
          texts.push_back(e.text.c_str());
          flags.push_back(e.flags |
                          (e.mode == MatchMode::HyperscanPrefilter ? HS_FLAG_PREFILTER : 0u));
        }
        hs_database_t* db = nullptr;
        hs_compile_error_t* error = nullptr;
        hs_error_t rc = hs_compile_multi(texts.data(), flags.data(), ids.data(),
                                         static_cast<unsigned>(ids.size()), HS_MODE_BLOCK,
                                         nullptr, &db, &error);
        if (error) hs_free_compile_error(error);
        if (rc != HS_SUCCESS) continue;
        m.owned.emplace_back(db);
        out_.databases.push_back(db);
        m.by_paranoia[level - 1] = db;
        previous_db = db;
        previous_ids = std::move(ids);
      }
      if (m.owned.empty()) continue;
      auto index = static_cast<int>(out_.merges.size());
      for (std::uint32_t gi : members) out_.groups[gi].merge = index;
      out_.merges.push_back(std::move(m));
    }
  }

  const hs_database_t* buildDatabase(Group& g, std::vector<std::uint32_t>& ids) {
    // Each round either succeeds or demotes one expression, so at most
    // 2 * ids.size() + 1 rounds.
    for (size_t round = 0; round <= 2 * ids.size() + 1; ++round) {
      if (ids.empty()) return nullptr;
      std::vector<const char*> texts;
      std::vector<unsigned> flags;
      texts.reserve(ids.size());
      for (std::uint32_t id : ids) {
        const Expression& e = g.expressions[id];
        texts.push_back(e.text.c_str());
        flags.push_back(e.flags |
                        (e.mode == MatchMode::HyperscanPrefilter ? HS_FLAG_PREFILTER : 0u));
      }
      hs_database_t* db = nullptr;
      hs_compile_error_t* error = nullptr;
      hs_error_t rc =
          hs_compile_multi(texts.data(), flags.data(), ids.data(),
                           static_cast<unsigned>(ids.size()), HS_MODE_BLOCK, nullptr, &db, &error);
      if (rc == HS_SUCCESS) {
        g.owned.emplace_back(db);
        out_.databases.push_back(db);
        return db;
      }
      int bad = error ? error->expression : -1;
      std::string message = error && error->message ? error->message : "unknown error";
      if (error) hs_free_compile_error(error);
      if (bad < 0 || static_cast<size_t>(bad) >= ids.size()) {
        errors_.push_back("cannot build the Hyperscan database for transforms " +
                          chainName(out_.chains[g.chain]) + ": " + message);
        return nullptr;
      }
      std::uint32_t id = ids[static_cast<size_t>(bad)];
      Expression& e = g.expressions[id];
      if (e.mode == MatchMode::Hyperscan && e.regex >= 0) {
        e.mode = MatchMode::HyperscanPrefilter;
      } else if (e.regex >= 0) {
        e.mode = MatchMode::PcreOnly;
        g.pcre_only.push_back(id);
        ids.erase(ids.begin() + bad);
      } else {
        // A phrase is a plain escaped literal; if Hyperscan refuses it
        // there is no PCRE2 twin to fall back on.
        errors_.push_back(rules_[e.rule].source + ": rule " + std::to_string(rules_[e.rule].id) +
                          ": phrase refused by Hyperscan: " + message);
        return nullptr;
      }
      // Keep the per-rule summary in step with its expressions.
      detail::RuleInfo& info = out_.info[e.rule];
      if (info.mode == MatchMode::Hyperscan || e.mode == MatchMode::PcreOnly) info.mode = e.mode;
    }
    errors_.push_back("cannot build the Hyperscan database for transforms " +
                      chainName(out_.chains[g.chain]));
    return nullptr;
  }

  const std::vector<Rule>& rules_;
  Compiled& out_;
  std::map<std::uint32_t, size_t> group_index_;  // chain -> index into out_.groups
  std::set<std::pair<int, std::uint32_t>> pass_keys_;  // (kind, chain) of out_.passes
  std::vector<std::string> errors_;
};

}  // namespace

RuleSet::RuleSet() : compiled_(std::make_unique<detail::Compiled>()) {}
RuleSet::~RuleSet() = default;

Result<std::shared_ptr<const RuleSet>> RuleSet::compile(std::vector<Rule> rules) {
  std::shared_ptr<RuleSet> set(new RuleSet());
  set->rules_ = std::move(rules);
  Compiler compiler(set->rules_, *set->compiled_);
  if (auto status = compiler.run(); !status) return status.error();
  set->generation_ = next_generation.fetch_add(1, std::memory_order_relaxed);
  return std::shared_ptr<const RuleSet>(std::move(set));
}

const Rule* RuleSet::find(std::uint32_t id) const {
  for (const auto& rule : rules_) {
    if (rule.id == id) return &rule;
  }
  return nullptr;
}

std::optional<MatchMode> RuleSet::matchMode(std::uint32_t id) const {
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (rules_[i].id == id) {
      if (!compiled_->info[i].compiled) return std::nullopt;
      return compiled_->info[i].mode;
    }
  }
  return std::nullopt;
}

std::size_t RuleSet::databaseCount() const { return compiled_->databases.size(); }

bool RuleSet::readsTargetKind(TargetKind kind) const {
  const auto k = static_cast<size_t>(kind);
  if (k >= kPrimitiveTargetKindCount) return false;
  for (const auto& info : compiled_->info)
    if (info.compiled && info.kinds[k]) return true;
  return false;
}

}  // namespace mamori::inspect
