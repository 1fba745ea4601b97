// corpus_eval: offline detection yardstick for the signature engine.
//
// Replays a raw-request corpus (ftw_to_raw.py over the CRS regression
// tests) through the strict request parser, the body parser and
// inspect::inspect() with one rule directory, and judges each stage the
// way ../shared/tools/ftw_run.py judges mamorid's HTTP reply: an attack is
// caught when inspection blocks (a 403); a request the parser rejects is
// answered with a 4xx/5xx status that is not a block (unless
// --block-status lists it); a request whose bytes end early would time
// out (neither blocked nor passed). Prints ftw_run.py's per-class table,
// TPR/TNR, per-rule hit counts and the false positives, in well under a
// second for the whole corpus, so the rule set can be tuned iteratively.
//
//   corpus_eval --rules rules/ --corpus crs.raw [--paranoia 1] [--threshold 5]
//               [--block-status 403] [--show-fp] [--show-miss REGEX] [--pl 1]
//               [--dump FILE]
//
// --dump writes every inspected stage's full result (each detection's rule,
// target, name, fragment and score; the score, block flag, bytes scanned
// and PCRE2 runs), one line each, so that two builds can be compared byte
// for byte: a speed change must leave this file identical.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "corpus.h"
#include "inspect/inspector.h"
#include "inspect/rule_loader.h"
#include "inspect/rule_set.h"

namespace {

using mamori::bench::Parsed;
using mamori::bench::Stage;

struct Options {
  std::string rules_dir = "rules";
  std::string corpus;
  int paranoia = 1;
  int threshold = 5;
  int pl_split = 1;
  std::set<int> block_status = {403};
  bool show_fp = false;
  std::string show_miss;  // regex on "class/id"; empty: none
  std::string dump;       // --dump FILE; empty: none
};

void usage() {
  std::fprintf(stderr,
               "usage: corpus_eval --corpus FILE [--rules DIR] [--paranoia N] [--threshold N]\n"
               "                   [--pl N] [--block-status LIST] [--show-fp] [--show-miss REGEX]\n"
               "                   [--dump FILE]\n");
}

bool parseInt(const char* s, int* out) {
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < 0 || v > 100000) return false;
  *out = static_cast<int>(v);
  return true;
}

bool parseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--show-fp") {
      o->show_fp = true;
    } else if (a == "--rules" && (v = next())) {
      o->rules_dir = v;
    } else if (a == "--corpus" && (v = next())) {
      o->corpus = v;
    } else if (a == "--dump" && (v = next())) {
      o->dump = v;
    } else if (a == "--show-miss" && (v = next())) {
      o->show_miss = v;
    } else if (a == "--paranoia" && (v = next())) {
      if (!parseInt(v, &o->paranoia) || o->paranoia < 1 || o->paranoia > 4) return false;
    } else if (a == "--threshold" && (v = next())) {
      if (!parseInt(v, &o->threshold)) return false;
    } else if (a == "--pl" && (v = next())) {
      if (!parseInt(v, &o->pl_split)) return false;
    } else if (a == "--block-status" && (v = next())) {
      o->block_status.clear();
      std::string list = v;
      std::size_t start = 0;
      while (start <= list.size()) {
        std::size_t comma = list.find(',', start);
        std::string item = list.substr(start, comma == std::string::npos ? std::string::npos
                                                                          : comma - start);
        int status = 0;
        if (!item.empty()) {
          if (!parseInt(item.c_str(), &status)) return false;
          o->block_status.insert(status);
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else {
      return false;
    }
  }
  return !o->corpus.empty();
}

struct ClassCount {
  int attack = 0, attack_ok = 0, attack_pl = 0, attack_pl_ok = 0;
  int benign = 0, benign_ok = 0, skip = 0;
};

std::string frac(int n, int d) {
  return d ? std::to_string(n) + "/" + std::to_string(d) : std::string("-");
}

// First line of a request, printable, for miss listings.
std::string firstLine(const std::string& bytes) {
  std::string line = bytes.substr(0, bytes.find('\n'));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > 160) line = line.substr(0, 160) + "...";
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20) c = '.';
  }
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  namespace inspect = mamori::inspect;
  Options opt;
  if (!parseArgs(argc, argv, &opt)) {
    usage();
    return 2;
  }
  auto loaded = inspect::loadRulesDirectory(opt.rules_dir);
  if (!loaded) {
    std::fprintf(stderr, "corpus_eval: %s\n", loaded.error().message.c_str());
    return 1;
  }
  auto compiled = inspect::RuleSet::compile(std::move(*loaded));
  if (!compiled) {
    std::fprintf(stderr, "corpus_eval: %s\n", compiled.error().message.c_str());
    return 1;
  }
  const inspect::RuleSet& rules = **compiled;
  auto corpus = mamori::bench::loadCorpus(opt.corpus);
  if (!corpus) {
    std::fprintf(stderr, "corpus_eval: %s\n", corpus.error().message.c_str());
    return 1;
  }
  std::optional<std::regex> miss_rx;
  if (!opt.show_miss.empty()) {
    try {
      miss_rx.emplace(opt.show_miss);
    } catch (const std::regex_error& e) {
      std::fprintf(stderr, "corpus_eval: --show-miss: %s\n", e.what());
      return 2;
    }
  }

  std::FILE* dump = nullptr;
  if (!opt.dump.empty()) {
    dump = std::fopen(opt.dump.c_str(), "w");
    if (!dump) {
      std::fprintf(stderr, "corpus_eval: --dump %s: cannot open\n", opt.dump.c_str());
      return 1;
    }
  }

  inspect::InspectOptions io;
  io.paranoia_level = opt.paranoia;
  io.anomaly_threshold = opt.threshold;

  std::map<std::string, ClassCount> classes;
  std::map<std::uint32_t, std::pair<int, int>> rule_hits;  // id -> (attack stages, benign stages)
  std::vector<std::string> fps;
  std::vector<std::string> misses;
  std::map<std::string, int> missed_by, failed_by;
  int errors = 0;

  for (const Stage& s : *corpus) {
    ClassCount& c = classes[s.cls];
    if (s.kind == "skip") {
      ++c.skip;
      continue;
    }
    const bool attack = s.kind == "attack";
    bool blocked = false;
    bool answered = false;  // an HTTP status came back
    std::string outcome;
    std::vector<std::uint32_t> fired;
    if (s.kind == "error") {
      ++errors;  // ftw_run.py counts a build failure as an error outcome
      outcome = "error";
    } else {
      mamori::bench::ParsedRequest p = mamori::bench::parseRequest(s.bytes);
      if (p.status == Parsed::Incomplete) {
        outcome = "timeout";
      } else if (p.status == Parsed::Rejected) {
        answered = true;
        blocked = opt.block_status.count(p.reject_status) > 0;
        outcome = std::to_string(p.reject_status) + " " + p.reject_reason;
      } else {
        inspect::InspectResult r = inspect::inspect(rules, p.request, p.body, io);
        answered = true;
        blocked = r.block;  // a block is a 403
        outcome = blocked ? "403" : "200";
        if (dump) {
          std::fprintf(dump, "%s/%s score=%d block=%d bytes=%zu regex=%zu errors=%zu\n",
                       s.cls.c_str(), s.id.c_str(), r.score, r.block ? 1 : 0, r.bytes_scanned,
                       static_cast<std::size_t>(r.regex_runs),
                       static_cast<std::size_t>(r.regex_errors));
          for (const auto& d : r.detections) {
            std::string fragment = d.fragment;
            for (char& ch : fragment) {
              if (static_cast<unsigned char>(ch) < 0x20) ch = '.';
            }
            std::fprintf(dump, "  %u %d %s [%s] %s\n", d.rule_id, static_cast<int>(d.target),
                         d.target_name.c_str(), fragment.c_str(), std::to_string(d.score).c_str());
          }
        }
        for (const auto& d : r.detections) {
          fired.push_back(d.rule_id);
          auto& h = rule_hits[d.rule_id];
          (attack ? h.first : h.second) += 1;
        }
      }
    }
    const bool ok = attack ? blocked : (answered && !blocked);
    const bool in_pl = s.pl != 0 && s.pl <= opt.pl_split;
    if (attack) {
      ++c.attack;
      c.attack_ok += ok;
      if (in_pl) {
        ++c.attack_pl;
        c.attack_pl_ok += ok;
      }
      if (!ok) ++missed_by[outcome.substr(0, 3)];
    } else {
      ++c.benign;
      c.benign_ok += ok;
    }
    std::string ids;
    for (auto id : fired) ids += (ids.empty() ? "" : ",") + std::to_string(id);
    if (!attack && !ok) {
      ++failed_by[outcome.substr(0, 3)];
      fps.push_back(s.cls + "/" + s.id + "  " + outcome + "  rules=" + (ids.empty() ? "-" : ids) +
                    "  " + firstLine(s.bytes));
    }
    if (attack && !ok && in_pl && miss_rx && std::regex_search(s.cls + "/" + s.id, *miss_rx)) {
      misses.push_back(s.cls + "/" + s.id + "  " + outcome + "  rules=" + (ids.empty() ? "-" : ids) +
                       "  " + firstLine(s.bytes));
    }
  }

  if (dump) std::fclose(dump);
  std::printf("corpus_eval: rules=%s (%zu rules)  corpus=%s  paranoia=%d  threshold=%d\n",
              opt.rules_dir.c_str(), rules.rules().size(), opt.corpus.c_str(), opt.paranoia,
              opt.threshold);
  std::string pl_head = "PL<=" + std::to_string(opt.pl_split) + " blocked";
  std::printf("%-44s %16s %14s %14s %5s\n", "class (rule file)", "attacks blocked",
              pl_head.c_str(), "benign passed", "skip");
  std::string rule(97, '-');
  std::printf("%s\n", rule.c_str());
  ClassCount tot;
  for (const auto& [name, c] : classes) {
    std::printf("%-44s %16s %14s %14s %5d\n", name.substr(0, 44).c_str(),
                frac(c.attack_ok, c.attack).c_str(), frac(c.attack_pl_ok, c.attack_pl).c_str(),
                frac(c.benign_ok, c.benign).c_str(), c.skip);
    tot.attack += c.attack;
    tot.attack_ok += c.attack_ok;
    tot.attack_pl += c.attack_pl;
    tot.attack_pl_ok += c.attack_pl_ok;
    tot.benign += c.benign;
    tot.benign_ok += c.benign_ok;
    tot.skip += c.skip;
  }
  std::printf("%s\n", rule.c_str());
  std::printf("%-44s %16s %14s %14s %5d\n", "TOTAL", frac(tot.attack_ok, tot.attack).c_str(),
              frac(tot.attack_pl_ok, tot.attack_pl).c_str(),
              frac(tot.benign_ok, tot.benign).c_str(), tot.skip);
  auto listCounts = [](const std::map<std::string, int>& m) {
    std::string out;
    for (const auto& [k, v] : m) out += (out.empty() ? "" : ", ") + k + ":" + std::to_string(v);
    return out.empty() ? std::string("-") : out;
  };
  std::printf("missed attacks by reply: %s\n", listCounts(missed_by).c_str());
  std::printf("failed benign by reply:  %s\n", listCounts(failed_by).c_str());
  if (errors) std::printf("stages that could not be built: %d\n", errors);
  auto rate = [](int n, int d) { return d ? static_cast<double>(n) / d : 0.0; };
  std::printf("score_pl%d: TPR=%.4f (%d/%d attacks on rules at PL<=%d)\n", opt.pl_split,
              rate(tot.attack_pl_ok, tot.attack_pl), tot.attack_pl_ok, tot.attack_pl,
              opt.pl_split);
  std::printf("score: TPR=%.4f TNR=%.4f (%d/%d benign passed)\n", rate(tot.attack_ok, tot.attack),
              rate(tot.benign_ok, tot.benign), tot.benign_ok, tot.benign);

  std::printf("\nrule hits (stages where the rule fired: attack / benign)\n");
  for (const auto& [id, h] : rule_hits) {
    const auto* r = rules.find(id);
    std::printf("  %9u  %5d / %-5d %s\n", id, h.first, h.second, r ? r->message.c_str() : "");
  }
  if (opt.show_fp) {
    std::printf("\nfalse positives (%zu benign stages not passed)\n", fps.size());
    for (const auto& f : fps) std::printf("  %s\n", f.c_str());
  }
  if (miss_rx) {
    std::printf("\nmissed PL<=%d attacks matching /%s/ (%zu)\n", opt.pl_split,
                opt.show_miss.c_str(), misses.size());
    for (const auto& m : misses) std::printf("  %s\n", m.c_str());
  }
  return 0;
}
