#pragma once

// Shared helpers for the logs tests: a temporary directory removed at the
// end, and a clock the test moves by hand.

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "logs/time_zone.h"

namespace mamori::logs::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mamori-logs-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (p != nullptr) path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A settable clock; clock() gives the std::function the options take.
class FakeClock {
 public:
  explicit FakeClock(std::chrono::system_clock::time_point t) : now_(std::make_shared<std::chrono::system_clock::time_point>(t)) {}
  std::function<std::chrono::system_clock::time_point()> clock() const {
    auto n = now_;
    return [n] { return *n; };
  }
  void set(std::chrono::system_clock::time_point t) { *now_ = t; }
  void advance(std::chrono::system_clock::duration d) { *now_ += d; }
  std::chrono::system_clock::time_point now() const { return *now_; }

 private:
  std::shared_ptr<std::chrono::system_clock::time_point> now_;
};

inline std::chrono::system_clock::time_point at(const char* rfc3339) {
  auto r = parseTimestamp(rfc3339);
  return r.ok() ? *r : std::chrono::system_clock::time_point{};
}

inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace mamori::logs::testing
