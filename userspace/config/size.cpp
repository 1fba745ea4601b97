#include "config/size.h"

#include <cerrno>
#include <charconv>
#include <limits>
#include <string>
#include <utility>

namespace mamori::config {

common::Result<uint64_t> parseByteSize(std::string_view text) {
  auto bad = [&](const char* why) {
    return common::Error{EINVAL, "invalid size '" + std::string(text) + "': " + why +
                                     " (use e.g. 512KiB, 1MiB, 10MB or a number of bytes)"};
  };
  if (text.empty()) return bad("empty");
  if (text.front() < '0' || text.front() > '9') return bad("expected a number");
  uint64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec == std::errc::result_out_of_range) return bad("too large");
  if (ec != std::errc()) return bad("expected a number");
  std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"", 1},           {"B", 1},
      {"KB", 1000},      {"MB", 1000 * 1000},   {"GB", 1000 * 1000 * 1000},
      {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20}, {"GiB", 1ULL << 30},
  };
  for (const auto& [name, scale] : kUnits) {
    if (unit != name) continue;
    if (number > std::numeric_limits<uint64_t>::max() / scale) return bad("too large");
    return number * scale;
  }
  return bad("unknown unit");
}

}  // namespace mamori::config
