// db_cost: what each Hyperscan database of a rule set costs to scan one
// value, and (with --leave-one-out) what each expression adds to its
// database. Hyperscan's cost depends on what shares a database with what,
// not only on each pattern (docs/rules.md, "Matching"): this is how rule
// 230003's one-byte class was found to slow a whole merge eightfold.
//
//   db_cost --value FILE [--rules DIR] [--paranoia N] [--leave-one-out] [--interleaved]
//              [--shared-scratch]
//
// With --interleaved each round scans every database once, in turn, as a
// request does (between two scans of one database come the others), and
// the median round is reported: the cost with the caches holding whatever
// the other databases left, against the hot-loop best.
//
// The value (the file's bytes, e.g. a decoded form field) is put through
// each group's transform chain (for a merge, through its first member's),
// then its database for the paranoia level is scanned 50 times per round
// for 20 rounds, interleaved; the best round is reported in ns per scan
// (best, not mean, since the machine is usually shared). A bench tool: it
// reads the private compiled form of the rule set (inspect/compiled.h).

#include <hs/hs.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "inspect/compiled.h"
#include "inspect/rule_loader.h"
#include "inspect/rule_set.h"
#include "inspect/transform.h"

namespace {

namespace inspect = mamori::inspect;

int ignoreMatch(unsigned, unsigned long long, unsigned long long, unsigned, void*) { return 0; }

// A database to time: owned when built here (leave-one-out), borrowed otherwise.
struct Candidate {
  std::string label;
  const hs_database_t* db = nullptr;
  hs_database_t* owned = nullptr;
  hs_scratch_t* scratch = nullptr;
  std::string text;
  double best_ns = std::numeric_limits<double>::max();
};

hs_database_t* buildWithout(const std::vector<const inspect::detail::Expression*>& exprs,
                            std::size_t skip) {
  std::vector<const char*> texts;
  std::vector<unsigned> flags, ids;
  for (std::size_t i = 0; i < exprs.size(); ++i) {
    if (i == skip) continue;
    texts.push_back(exprs[i]->text.c_str());
    flags.push_back(
        exprs[i]->flags |
        (exprs[i]->mode == inspect::MatchMode::HyperscanPrefilter ? HS_FLAG_PREFILTER : 0u));
    ids.push_back(static_cast<unsigned>(i));
  }
  if (texts.empty()) return nullptr;
  hs_database_t* db = nullptr;
  hs_compile_error_t* error = nullptr;
  if (hs_compile_multi(texts.data(), flags.data(), ids.data(), static_cast<unsigned>(texts.size()),
                       HS_MODE_BLOCK, nullptr, &db, &error) != HS_SUCCESS) {
    if (error) hs_free_compile_error(error);
    return nullptr;
  }
  return db;
}

}  // namespace

int main(int argc, char** argv) {
  std::string rules_dir = "rules", value_path;
  int paranoia = 1;
  bool leave_one_out = false;
  bool interleaved = false;
  bool shared_scratch = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--rules" && i + 1 < argc) {
      rules_dir = argv[++i];
    } else if (a == "--value" && i + 1 < argc) {
      value_path = argv[++i];
    } else if (a == "--paranoia" && i + 1 < argc) {
      paranoia = std::atoi(argv[++i]);
    } else if (a == "--shared-scratch") {
      shared_scratch = true;
    } else if (a == "--interleaved") {
      interleaved = true;
    } else if (a == "--leave-one-out") {
      leave_one_out = true;
    } else {
      value_path.clear();
      break;
    }
  }
  if (value_path.empty() || paranoia < 1 || paranoia > 4) {
    std::fprintf(stderr,
                 "usage: db_cost --value FILE [--rules DIR] [--paranoia 1-4] [--leave-one-out] "
                 "[--interleaved] [--shared-scratch]\n");
    return 2;
  }
  std::ifstream in(value_path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "db_cost: cannot read %s\n", value_path.c_str());
    return 1;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string value = buffer.str();
  auto loaded = inspect::loadRulesDirectory(rules_dir);
  if (!loaded) {
    std::fprintf(stderr, "db_cost: %s\n", loaded.error().message.c_str());
    return 1;
  }
  auto compiled = inspect::RuleSet::compile(std::move(*loaded));
  if (!compiled) {
    std::fprintf(stderr, "db_cost: %s\n", compiled.error().message.c_str());
    return 1;
  }
  const inspect::RuleSet& set = **compiled;
  const inspect::detail::Compiled& c = set.compiled();
  const auto level = static_cast<std::size_t>(paranoia - 1);

  std::vector<Candidate> candidates;
  auto ruleIds = [&](const std::vector<const inspect::detail::Expression*>& exprs) {
    std::string ids;
    for (const auto* e : exprs) {
      std::string id = std::to_string(set.rules()[e->rule].id);
      if (ids.find(id) == std::string::npos) ids += (ids.empty() ? "" : " ") + id;
    }
    return ids;
  };
  for (std::size_t g = 0; g < c.groups.size(); ++g) {
    const auto& group = c.groups[g];
    if (!group.by_paranoia[level]) continue;
    std::vector<const inspect::detail::Expression*> exprs;
    for (const auto& e : group.expressions) {
      if (set.rules()[e.rule].paranoia <= paranoia) exprs.push_back(&e);
    }
    Candidate cand;
    cand.label = "group " + std::to_string(g) + " [" + inspect::chainName(c.chains[group.chain]) +
                 "]: " + ruleIds(exprs);
    cand.db = group.by_paranoia[level];
    cand.text = inspect::applyChain(c.chains[group.chain], value);
    candidates.push_back(std::move(cand));
  }
  for (std::size_t m = 0; m < c.merges.size(); ++m) {
    const auto& merge = c.merges[m];
    if (!merge.by_paranoia[level]) continue;
    std::vector<const inspect::detail::Expression*> exprs;
    for (const auto& [gi, id] : merge.ids) {
      const auto& e = c.groups[gi].expressions[id];
      if (set.rules()[e.rule].paranoia <= paranoia && !e.utf8) exprs.push_back(&e);
    }
    std::string members;
    for (auto g : merge.groups) members += " " + std::to_string(g);
    const std::string text =
        inspect::applyChain(c.chains[c.groups[merge.groups.front()].chain], value);
    Candidate cand;
    cand.label = "merge " + std::to_string(m) + " (groups" + members + ")";
    cand.db = merge.by_paranoia[level];
    cand.text = text;
    candidates.push_back(std::move(cand));
    if (!leave_one_out) continue;
    for (std::size_t skip = 0; skip < exprs.size(); ++skip) {
      Candidate without;
      without.owned = buildWithout(exprs, skip);
      if (!without.owned) continue;
      without.db = without.owned;
      without.label = "  merge " + std::to_string(m) + " without rule " +
                      std::to_string(set.rules()[exprs[skip]->rule].id) + " (expression " +
                      std::to_string(skip) + ")";
      without.text = text;
      candidates.push_back(std::move(without));
    }
  }
  // --shared-scratch: one scratch grown for every database of the set, as
  // the inspector's per-thread scratch is.
  hs_scratch_t* shared = nullptr;
  if (shared_scratch) {
    for (const hs_database_t* db : c.databases) {
      if (hs_alloc_scratch(db, &shared) != HS_SUCCESS) {
        std::fprintf(stderr, "db_cost: hs_alloc_scratch failed\n");
        return 1;
      }
    }
  }
  for (auto& cand : candidates) {
    if (shared && !cand.owned) {
      cand.scratch = shared;
      continue;
    }
    if (hs_alloc_scratch(cand.db, &cand.scratch) != HS_SUCCESS) {
      std::fprintf(stderr, "db_cost: hs_alloc_scratch failed\n");
      return 1;
    }
  }
  constexpr int kRounds = 20, kScans = 50;
  if (interleaved) {
    constexpr int kInterleavedRounds = 2001;
    std::vector<std::vector<double>> times(candidates.size());
    for (int round = 0; round < kInterleavedRounds; ++round) {
      for (std::size_t k = 0; k < candidates.size(); ++k) {
        auto& cand = candidates[k];
        auto start = std::chrono::steady_clock::now();
        hs_scan(cand.db, cand.text.data(), static_cast<unsigned>(cand.text.size()), 0, cand.scratch,
                ignoreMatch, nullptr);
        times[k].push_back(
            std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
                .count());
      }
    }
    for (std::size_t k = 0; k < candidates.size(); ++k) {
      std::sort(times[k].begin(), times[k].end());
      candidates[k].best_ns = times[k][times[k].size() / 2];
    }
  }
  for (int round = 0; !interleaved && round < kRounds; ++round) {
    for (auto& cand : candidates) {
      auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < kScans; ++i) {
        hs_scan(cand.db, cand.text.data(), static_cast<unsigned>(cand.text.size()), 0, cand.scratch,
                ignoreMatch, nullptr);
      }
      double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
                      .count() /
                  kScans;
      cand.best_ns = std::min(cand.best_ns, ns);
    }
  }
  std::printf("value: %s (%zu bytes), paranoia %d, ns per scan (%s)\n", value_path.c_str(),
              value.size(), paranoia,
              interleaved ? "median of 2001 interleaved rounds" : "best of 20 rounds");
  std::size_t total_db = 0;
  for (const auto& cand : candidates) {
    std::size_t db_bytes = 0;
    hs_database_size(cand.db, &db_bytes);
    if (!cand.owned) total_db += db_bytes;
    std::printf("%9.0f  %s (%zu bytes; database %zu KiB)\n", cand.best_ns, cand.label.c_str(),
                cand.text.size(), db_bytes / 1024);
  }
  std::printf("databases listed: %zu KiB in all\n", total_db / 1024);
  for (auto& cand : candidates) {
    if (cand.scratch != shared) hs_free_scratch(cand.scratch);
    if (cand.owned) hs_free_database(cand.owned);
  }
  if (shared) hs_free_scratch(shared);
  return 0;
}
