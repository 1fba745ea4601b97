// detector_eval: runs the SQLi and XSS detectors over values read from
// stdin, each as "<byte count>\n<bytes>" (values may hold any byte), and
// prints one line per value: "<sqli 0|1> <xss 0|1> <sqli fingerprint or ->".
// Used by bench/detectors/crs_eval.py to measure detection rates.

#include <cstdio>
#include <exception>
#include <iostream>
#include <iterator>
#include <string>

#include "inspect/sqli_detector.h"
#include "inspect/xss_detector.h"

int main() {
  std::string all((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  std::size_t start = 0;
  while (start < all.size()) {
    std::size_t nl = all.find('\n', start);
    if (nl == std::string::npos) break;
    std::size_t len = 0;
    try {
      len = std::stoul(all.substr(start, nl - start));
    } catch (const std::exception&) {
      std::fprintf(stderr, "detector_eval: bad length at byte %zu\n", start);
      return 2;
    }
    if (len > all.size() - nl - 1) {
      std::fprintf(stderr, "detector_eval: truncated value at byte %zu\n", start);
      return 2;
    }
    std::string_view value(all.data() + nl + 1, len);
    std::size_t end = nl + len;
    std::string fp;
    bool sqli = mamori::inspect::detectSqli(value, &fp);
    bool xss = mamori::inspect::detectXss(value);
    std::printf("%d %d %s\n", sqli ? 1 : 0, xss ? 1 : 0, sqli ? fp.c_str() : "-");
    start = end + 1;
  }
  return 0;
}
