// Fuzz target for the SQLi and XSS detectors (inspect/). Besides "never
// crashes, never reads out of bounds", it checks what callers rely on:
//   - the verdict does not depend on whether a fingerprint is asked for;
//   - the verdict is the same on a second call (no hidden state);
//   - a detection's fingerprint is non-empty and made only of token-class
//     letters;
//   - a clean verdict leaves the caller's fingerprint untouched.
// Violations abort, so libFuzzer and the corpus replay both report them.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "inspect/sqli_detector.h"
#include "inspect/xss_detector.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr std::string_view kFingerprintLetters = "snbvfoa&c;,UEkx";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  std::string fp = "untouched";
  bool sqli = mamori::inspect::detectSqli(in, &fp);
  check(sqli == mamori::inspect::detectSqli(in));
  check(sqli == mamori::inspect::detectSqli(in, nullptr));
  if (sqli) {
    check(!fp.empty());
    check(fp.find_first_not_of(kFingerprintLetters) == std::string::npos);
  } else {
    check(fp == "untouched");
  }

  bool xss = mamori::inspect::detectXss(in);
  check(xss == mamori::inspect::detectXss(in));
  return 0;
}
