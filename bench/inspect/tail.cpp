// tail: where the 4 KiB request's slow runs come from (issue #5, p99 goal).
//
// Inspects throughput's fixed 4 KiB request (corpus.h, fourKibRequest)
// many times on one thread, exactly as throughput does (parse, body parse,
// inspect(), then everything freed), and records per run: thread CPU time
// of each phase (parse, inspect, free), wall time, minor page faults and
// context switches (getrusage RUSAGE_THREAD) and the malloc arena's size
// (mallinfo2), so slow runs can be compared with median ones. Then the
// same number of runs of two control loops that allocate nothing: `cpu`
// (integer work on a few cache lines) and `mem` (the same work over a
// 256 KiB buffer, about the 4 KiB request's working set): if they show
// the same p99/p50 ratio, the tail is the machine, not the inspector.
//
//   tail --rules DIR [--repeat N] [--csv FILE] [--evict BYTES] [--no-controls]
//
// --no-controls skips the control loops (for callgrind: valgrind
// --tool=callgrind --toggle-collect='mamori::inspect::inspect(*' tail
// --repeat 100 --no-controls counts the instructions of 200 inspections).
//
// --evict BYTES writes a buffer of that size before every inspected run
// (outside the timed part), as another process running between two
// requests would: with 4 MiB (more than this VM's 2 MiB L2) each run
// starts with none of its databases, tables and buffers in L1/L2, so the
// cold runs' median says how much of the time is refilling the caches.
//
// Output: per workload p50/p90/p99/max of CPU time and the ratio p99/p50;
// for the inspection, the mean of each recorded quantity over runs below
// the median, runs from p90 to p99, and runs above p99. Bench-only.

#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "corpus.h"
#include "inspect/inspector.h"
#include "inspect/rule_loader.h"
#include "inspect/rule_set.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Sample {
  double cpu = 0;      // whole run, thread CPU us
  double parse = 0;    // parseRequest
  double inspect = 0;  // inspect()
  double release = 0;  // destructors of the parsed request and result
  double wall = 0;
  long minflt = 0;
  long nvcsw = 0;
  long nivcsw = 0;
  long arena_delta = 0;  // mallinfo2 arena + hblkhd after minus before, bytes
};

struct Usage {
  long minflt = 0, nvcsw = 0, nivcsw = 0;
};

Usage usage() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return {ru.ru_minflt, ru.ru_nvcsw, ru.ru_nivcsw};
}

long heapBytes() {
  struct mallinfo2 mi = mallinfo2();
  return static_cast<long>(mi.arena + mi.hblkhd);
}

struct Spread {
  double p50, p90, p99, max;
};

Spread spread(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {mamori::bench::percentile(v, 50), mamori::bench::percentile(v, 90),
          mamori::bench::percentile(v, 99), v.back()};
}

void printSpread(const char* name, const Spread& s) {
  std::printf("%-8s CPU p50 %7.1f us  p90 %7.1f us  p99 %7.1f us  max %8.1f us  p99/p50 %.2f\n",
              name, s.p50, s.p90, s.p99, s.max, s.p99 / s.p50);
}

// ~`work` rounds of integer mixing over `buffer` (stride 64 bytes, so
// each step touches a new cache line when the buffer is large).
std::uint64_t control(std::vector<std::uint64_t>& buffer, int work) {
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  const size_t lines = buffer.size() / 8;
  for (int i = 0; i < work; ++i) {
    std::uint64_t& slot = buffer[(static_cast<size_t>(i) % lines) * 8];
    x ^= slot + static_cast<std::uint64_t>(i);
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 31;
    slot = x;
  }
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  namespace inspect = mamori::inspect;
  std::string rules_dir = "rules", csv;
  int repeat = 20000;
  long evict = 0;
  bool controls = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--rules" && i + 1 < argc) {
      rules_dir = argv[++i];
    } else if (a == "--repeat" && i + 1 < argc) {
      repeat = std::atoi(argv[++i]);
    } else if (a == "--no-controls") {
      controls = false;
    } else if (a == "--evict" && i + 1 < argc) {
      evict = std::atol(argv[++i]);
    } else if (a == "--csv" && i + 1 < argc) {
      csv = argv[++i];
    } else {
      repeat = 0;
      break;
    }
  }
  if (repeat < 100) {
    std::fprintf(stderr, "usage: tail [--rules DIR] [--repeat N>=100] [--csv FILE]\n");
    return 2;
  }
  auto loaded = inspect::loadRulesDirectory(rules_dir);
  if (!loaded) {
    std::fprintf(stderr, "tail: %s\n", loaded.error().message.c_str());
    return 1;
  }
  auto compiled = inspect::RuleSet::compile(std::move(*loaded));
  if (!compiled) {
    std::fprintf(stderr, "tail: %s\n", compiled.error().message.c_str());
    return 1;
  }
  const inspect::RuleSet& rules = **compiled;
  const inspect::InspectOptions options;
  const std::string four_k = mamori::bench::fourKibRequest();

  std::vector<Sample> samples(static_cast<size_t>(repeat));
  int blocked = 0;
  for (int i = 0; i < 100; ++i) {  // warm-up: scratch, memos, buffers
    auto p = mamori::bench::parseRequest(four_k);
    blocked += inspect::inspect(rules, p.request, p.body, options).block;
  }
  std::vector<unsigned char> evictor(static_cast<size_t>(std::max(0L, evict)));
  unsigned evict_round = 0;
  for (Sample& s : samples) {
    if (!evictor.empty()) {
      ++evict_round;
      for (size_t k = 0; k < evictor.size(); k += 64) evictor[k] = static_cast<unsigned char>(evict_round + k);
    }
    const Usage u0 = usage();
    const long h0 = heapBytes();
    const auto w0 = Clock::now();
    const double c0 = mamori::bench::threadCpuMicros();
    double c1 = 0, c2 = 0;
    {
      auto p = mamori::bench::parseRequest(four_k);
      c1 = mamori::bench::threadCpuMicros();
      inspect::InspectResult r = inspect::inspect(rules, p.request, p.body, options);
      c2 = mamori::bench::threadCpuMicros();
      blocked += r.block;
    }
    const double c3 = mamori::bench::threadCpuMicros();
    s.wall = std::chrono::duration<double, std::micro>(Clock::now() - w0).count();
    const Usage u1 = usage();
    s.arena_delta = heapBytes() - h0;
    s.parse = c1 - c0;
    s.inspect = c2 - c1;
    s.release = c3 - c2;
    s.cpu = c3 - c0;
    s.minflt = u1.minflt - u0.minflt;
    s.nvcsw = u1.nvcsw - u0.nvcsw;
    s.nivcsw = u1.nivcsw - u0.nivcsw;
  }

  // Controls: as many runs, each about the inspection's median CPU time.
  std::vector<double> cpu_only, mem;
  {
    std::vector<double> inspect_cpu;
    for (const Sample& s : samples) inspect_cpu.push_back(s.cpu);
    const double target = spread(inspect_cpu).p50;
    for (int pass = 0; controls && pass < 2; ++pass) {
      std::vector<std::uint64_t> buffer(pass == 0 ? 64 : 256 * 1024 / 8, 1);
      // Calibrate the work count to the target time.
      int work = 10000;
      for (int k = 0; k < 5; ++k) {
        const double t0 = mamori::bench::threadCpuMicros();
        for (int j = 0; j < 20; ++j) control(buffer, work);
        const double per = (mamori::bench::threadCpuMicros() - t0) / 20;
        if (per > 0) work = std::max(1000, static_cast<int>(work * target / per));
      }
      std::vector<double>& out = pass == 0 ? cpu_only : mem;
      std::uint64_t sink = 0;
      for (int i = 0; i < repeat; ++i) {
        const double t0 = mamori::bench::threadCpuMicros();
        sink += control(buffer, work);
        out.push_back(mamori::bench::threadCpuMicros() - t0);
      }
      if (sink == 42) std::printf(" ");  // keep the work
    }
  }

  std::vector<double> cpu;
  for (const Sample& s : samples) cpu.push_back(s.cpu);
  const Spread all = spread(cpu);
  std::printf("4 KiB request x %d (%s)%s\n", repeat, blocked ? "some blocked" : "passed",
              evict > 0 ? (", caches evicted before each run: " + std::to_string(evict) + " bytes written").c_str() : "");
  printSpread("inspect", all);
  if (controls) {
    printSpread("cpu", spread(cpu_only));
    printSpread("mem", spread(mem));
  }

  // Means per band of the run's total CPU time.
  struct Band {
    const char* name;
    double lo, hi;
  };
  const Band bands[] = {{"< p50", 0, all.p50},
                        {"p50-p90", all.p50, all.p90},
                        {"p90-p99", all.p90, all.p99},
                        {">= p99", all.p99, 1e18}};
  std::printf("%-8s %6s %8s %8s %8s %8s %8s %7s %7s %7s %9s\n", "band", "runs", "cpu", "parse",
              "inspect", "free", "wall", "minflt", "nvcsw", "nivcsw", "heap+-");
  for (const Band& b : bands) {
    double n = 0, c = 0, pa = 0, in = 0, fr = 0, w = 0, mf = 0, vc = 0, ic = 0, hd = 0;
    for (const Sample& s : samples) {
      if (s.cpu < b.lo || s.cpu >= b.hi) continue;
      ++n;
      c += s.cpu;
      pa += s.parse;
      in += s.inspect;
      fr += s.release;
      w += s.wall;
      mf += static_cast<double>(s.minflt);
      vc += static_cast<double>(s.nvcsw);
      ic += static_cast<double>(s.nivcsw);
      hd += static_cast<double>(s.arena_delta != 0);
    }
    if (n == 0) continue;
    std::printf("%-8s %6.0f %8.1f %8.1f %8.1f %8.1f %8.1f %7.3f %7.3f %7.3f %9.3f\n", b.name, n,
                c / n, pa / n, in / n, fr / n, w / n, mf / n, vc / n, ic / n, hd / n);
  }
  std::printf("(cpu/parse/inspect/free/wall: mean us; minflt, nvcsw, nivcsw: mean per run;\n"
              " heap+-: share of runs after which malloc's arena or mmapped bytes changed)\n");

  if (!csv.empty()) {
    FILE* f = std::fopen(csv.c_str(), "w");
    if (!f) {
      std::perror(csv.c_str());
      return 1;
    }
    std::fprintf(f, "run,cpu,parse,inspect,free,wall,minflt,nvcsw,nivcsw,heap_delta\n");
    for (size_t i = 0; i < samples.size(); ++i) {
      const Sample& s = samples[i];
      std::fprintf(f, "%zu,%.2f,%.2f,%.2f,%.2f,%.2f,%ld,%ld,%ld,%ld\n", i, s.cpu, s.parse,
                   s.inspect, s.release, s.wall, s.minflt, s.nvcsw, s.nivcsw, s.arena_delta);
    }
    std::fclose(f);
  }
  return 0;
}
