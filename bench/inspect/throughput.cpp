// throughput: in-process inspection cost of mamori's signature engine.
//
// Over a fixed mixed corpus (every benign and attack stage of the CRS
// regression corpus that parses as one request, converted by
// ftw_to_raw.py), each request is parsed (RequestParser), its body parsed
// (parseBody) and inspected (inspect(), paranoia 1, default threshold) on
// one thread, so requests/s is per core. Then a fixed 4 KiB form POST is
// inspected many times and its p50/p99 latency reported. modsec_throughput
// does the same work with libmodsecurity3 + OWASP CRS; bench/inspect/run.sh
// runs both and prints the ratio.
//
//   throughput --rules DIR --corpus FILE [--rounds N] [--repeat N]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "corpus.h"
#include "http/body_parser.h"
#include "inspect/inspector.h"
#include "inspect/rule_loader.h"
#include "inspect/rule_set.h"

namespace {

using Clock = std::chrono::steady_clock;

double microsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}


}  // namespace

int main(int argc, char** argv) {
  namespace inspect = mamori::inspect;
  namespace http = mamori::http;
  std::string rules_dir = "rules", corpus_path;
  int rounds = 5, repeat = 20000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--rules" && i + 1 < argc) {
      rules_dir = argv[++i];
    } else if (a == "--corpus" && i + 1 < argc) {
      corpus_path = argv[++i];
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--repeat" && i + 1 < argc) {
      repeat = std::atoi(argv[++i]);
    } else {
      corpus_path.clear();
      break;
    }
  }
  if (corpus_path.empty() || rounds < 1 || repeat < 1) {
    std::fprintf(stderr, "usage: throughput --corpus FILE [--rules DIR] [--rounds N] [--repeat N]\n");
    return 2;
  }
  auto loaded = inspect::loadRulesDirectory(rules_dir);
  if (!loaded) {
    std::fprintf(stderr, "throughput: %s\n", loaded.error().message.c_str());
    return 1;
  }
  auto compiled = inspect::RuleSet::compile(std::move(*loaded));
  if (!compiled) {
    std::fprintf(stderr, "throughput: %s\n", compiled.error().message.c_str());
    return 1;
  }
  const inspect::RuleSet& rules = **compiled;
  auto corpus = mamori::bench::loadCorpus(corpus_path);
  if (!corpus) {
    std::fprintf(stderr, "throughput: %s\n", corpus.error().message.c_str());
    return 1;
  }
  // The mixed corpus: stages that parse into one request (what reaches
  // inspection in the engine).
  std::vector<const std::string*> requests;
  std::size_t bytes = 0, attacks = 0;
  for (const auto& s : *corpus) {
    if (s.kind != "attack" && s.kind != "benign") continue;
    if (mamori::bench::parseRequest(s.bytes).status != mamori::bench::Parsed::Ok) continue;
    requests.push_back(&s.bytes);
    bytes += s.bytes.size();
    attacks += s.kind == "attack";
  }
  inspect::InspectOptions options;  // paranoia 1, threshold 5: the defaults

  std::size_t blocked = 0;
  auto one = [&](const std::string& raw) {
    mamori::bench::ParsedRequest p = mamori::bench::parseRequest(raw);
    inspect::InspectResult r = inspect::inspect(rules, p.request, p.body, options);
    return r.block;
  };
  for (const auto* r : requests) blocked += one(*r);  // warm-up: scratch, caches

  std::vector<double> rates;
  std::vector<double> cpu_rates;
  std::vector<double> per_request;
  per_request.reserve(requests.size() * static_cast<std::size_t>(rounds));
  for (int round = 0; round < rounds; ++round) {
    auto start = Clock::now();
    double cpu_start = mamori::bench::threadCpuMicros();
    for (const auto* r : requests) {
      auto t = Clock::now();
      one(*r);
      per_request.push_back(microsSince(t));
    }
    rates.push_back(static_cast<double>(requests.size()) / (microsSince(start) / 1e6));
    cpu_rates.push_back(static_cast<double>(requests.size()) /
                        ((mamori::bench::threadCpuMicros() - cpu_start) / 1e6));
  }
  std::sort(rates.begin(), rates.end());
  std::sort(cpu_rates.begin(), cpu_rates.end());
  std::sort(per_request.begin(), per_request.end());

  const std::string four_k = mamori::bench::fourKibRequest();
  std::vector<double> lat;
  std::vector<double> cpu_lat;
  lat.reserve(static_cast<std::size_t>(repeat));
  cpu_lat.reserve(static_cast<std::size_t>(repeat));
  bool four_k_blocked = one(four_k);
  for (int i = 0; i < repeat; ++i) {
    double c = mamori::bench::threadCpuMicros();
    auto t = Clock::now();
    one(four_k);
    lat.push_back(microsSince(t));
    cpu_lat.push_back(mamori::bench::threadCpuMicros() - c);
  }
  std::sort(lat.begin(), lat.end());
  std::sort(cpu_lat.begin(), cpu_lat.end());

  // The same request as mamorid's engine hands it to inspection: its HTTP
  // head already parsed (the engine does that to proxy it at all, with or
  // without rules). Timed: the body parse (the form fields) and inspect(),
  // and freeing both. The figures above include the head parse too.
  const mamori::bench::ParsedRequest four_k_parsed = mamori::bench::parseRequest(four_k);
  const std::string content_type(four_k_parsed.request.header("Content-Type").value_or(""));
  std::vector<double> inspect_cpu;
  inspect_cpu.reserve(static_cast<std::size_t>(repeat));
  for (int i = 0; i < repeat; ++i) {
    double c = mamori::bench::threadCpuMicros();
    {
      http::ParsedBody body = http::parseBody(content_type, four_k_parsed.request.body, {},
                                              http::BodyExtent::Whole);
      inspect::InspectResult r = inspect::inspect(rules, four_k_parsed.request, body, options);
    }
    inspect_cpu.push_back(mamori::bench::threadCpuMicros() - c);
  }
  std::sort(inspect_cpu.begin(), inspect_cpu.end());

  std::printf("engine: mamori (%zu rules from %s, paranoia 1, threshold 5)\n", rules.rules().size(),
              rules_dir.c_str());
  std::printf("corpus: %zu requests (%zu attack, %zu benign), %zu bytes; blocked %zu\n",
              requests.size(), attacks, requests.size() - attacks, bytes, blocked);
  std::printf("mixed corpus: %.0f requests/s per core (median of %d rounds; min %.0f, max %.0f)\n",
              mamori::bench::percentile(rates, 50), rounds, rates.front(), rates.back());
  std::printf("mixed corpus per request: p50 %.1f us, p99 %.1f us\n",
              mamori::bench::percentile(per_request, 50), mamori::bench::percentile(per_request, 99));
  std::printf("4 KiB request (%zu bytes, %s): p50 %.1f us, p99 %.1f us, max %.1f us (%d runs)\n",
              four_k.size(), four_k_blocked ? "blocked" : "passed",
              mamori::bench::percentile(lat, 50), mamori::bench::percentile(lat, 99), lat.back(),
              repeat);
  std::printf("thread CPU time: mixed corpus %.0f requests per CPU-second; 4 KiB request p50 %.1f us, "
              "p99 %.1f us\n",
              mamori::bench::percentile(cpu_rates, 50), mamori::bench::percentile(cpu_lat, 50),
              mamori::bench::percentile(cpu_lat, 99));
  std::printf("4 KiB request, inspection alone (body parse + inspect, head parsed before): thread "
              "CPU p50 %.1f us, p99 %.1f us\n",
              mamori::bench::percentile(inspect_cpu, 50), mamori::bench::percentile(inspect_cpu, 99));
  // Rules Hyperscan could not take exactly cost PCRE2 runs: list them.
  std::string slow;
  for (const auto& rule : rules.rules()) {
    auto mode = rules.matchMode(rule.id);
    if (mode == inspect::MatchMode::PcreOnly) slow += " " + std::to_string(rule.id) + "(pcre)";
    if (mode == inspect::MatchMode::HyperscanPrefilter) slow += " " + std::to_string(rule.id) + "(prefilter)";
  }
  std::printf("rules not exact in Hyperscan:%s\n", slow.empty() ? " none" : slow.c_str());
  std::printf("RESULT mamori rps=%.0f p99_4k_us=%.1f cpu_rps=%.0f cpu_p50_4k_us=%.1f "
              "cpu_p99_4k_us=%.1f p50_4k_us=%.1f cpu_p50_4k_inspect_us=%.1f "
              "cpu_p99_4k_inspect_us=%.1f\n",
              mamori::bench::percentile(rates, 50), mamori::bench::percentile(lat, 99),
              mamori::bench::percentile(cpu_rates, 50), mamori::bench::percentile(cpu_lat, 50),
              mamori::bench::percentile(cpu_lat, 99), mamori::bench::percentile(lat, 50),
              mamori::bench::percentile(inspect_cpu, 50), mamori::bench::percentile(inspect_cpu, 99));
  return 0;
}
