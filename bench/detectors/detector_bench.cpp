// detector_bench: per-value cost of detectSqli and detectXss.
//
//   detector_bench [--rounds N] [--file values.txt]
//
// Without --file it uses a built-in corpus of typical form/query values of
// about 100 bytes (names, prose with apostrophes, JSON, URLs, a few
// attacks). With --file, every non-empty line not starting with '#' is a
// value (bench/detectors/benign_values.txt works). Prints, for each
// detector, the best of N rounds in ns per value and in ns per 100 bytes.
// Time is the thread's CPU time, so a busy machine (other builds, a
// fuzzer) does not inflate the numbers with time spent preempted.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <ctime>
#include <vector>

#include "inspect/sqli_detector.h"
#include "inspect/xss_detector.h"

namespace {

const char* const kBuiltin[] = {
    "Mary-Jane O'Connor, 221B Baker Street, London NW1 6XE, United Kingdom, phone +44 20 7946 0958",
    "It's a beautiful day, isn't it? We'll meet at 5 o'clock near the union station and select a car",
    "{\"user\": {\"id\": 7, \"email\": \"mary@example.com\", \"name\": \"Mary\"}, \"active\": true}",
    "https://www.example.com/products/search?q=drop+shipping&category=home&sort=price&page=2",
    "Please update my profile: new e-mail is john.doe@example.org and the phone is (555) 123-4567",
    "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0 (compatible; bot)",
    "The quick brown fox jumps over the lazy dog; then it's time for tea & biscuits at Joe's Bar.",
    "<p>Hello <b>world</b>, see <a href=\"https://example.com/docs\">the docs</a> for more.</p>",
    "session=abc123def456; theme=dark; lang=en-US; consent=1; _ga=GA1.2.1234567890.1600000000",
    "550e8400-e29b-41d4-a716-446655440000,d41d8cd98f00b204e9800998ecf8427e,2024-01-31T12:30:00Z",
    "1' UNION ALL SELECT NULL,NULL,CONCAT(0x716b627a71,user(),0x7170716271)-- -",
    "\"><img src=x onerror=alert(document.cookie)><script>alert(1)</script>",
};

double threadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

double bestNsPerValue(const std::vector<std::string>& values, int rounds, bool sqli) {
  double best = 1e18;
  volatile std::size_t sink = 0;
  for (int r = 0; r < rounds; ++r) {
    double start = threadCpuNs();
    std::size_t hits = 0;
    for (int rep = 0; rep < 200; ++rep) {
      for (const std::string& v : values) {
        hits += sqli ? mamori::inspect::detectSqli(v) : mamori::inspect::detectXss(v);
      }
    }
    double ns = threadCpuNs() - start;
    sink = sink + hits;
    best = std::min(best, ns / (200.0 * static_cast<double>(values.size())));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7;
  std::vector<std::string> values;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--file") == 0 && i + 1 < argc) {
      std::ifstream in(argv[++i]);
      if (!in) {
        std::fprintf(stderr, "detector_bench: cannot read %s\n", argv[i]);
        return 2;
      }
      std::string line;
      while (std::getline(in, line)) {
        if (!line.empty() && line[0] != '#') values.push_back(line);
      }
    } else {
      std::fprintf(stderr, "usage: %s [--rounds N] [--file values.txt]\n", argv[0]);
      return 2;
    }
  }
  if (rounds < 1) rounds = 1;
  if (values.empty()) values.assign(std::begin(kBuiltin), std::end(kBuiltin));
  std::size_t bytes = 0;
  for (const std::string& v : values) bytes += v.size();
  double avg = static_cast<double>(bytes) / static_cast<double>(values.size());
  std::printf("values: %zu, mean length %.1f bytes, best of %d rounds\n", values.size(), avg,
              rounds);
  for (bool sqli : {true, false}) {
    double ns = bestNsPerValue(values, rounds, sqli);
    std::printf("%-11s %8.1f ns/value  %8.1f ns/100 bytes\n", sqli ? "detectSqli" : "detectXss",
                ns, ns * 100.0 / avg);
  }
  return 0;
}
