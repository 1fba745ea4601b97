#include "common/duration.h"

#include <charconv>
#include <string>

namespace mamori::common {

Result<std::chrono::seconds> parseDuration(std::string_view text) {
  auto bad = [&](const char* why) {
    return Error{EINVAL, "invalid duration '" + std::string(text) + "': " + why +
                             " (use e.g. 30s, 10m, 1h, 2d)"};
  };
  if (text.empty()) return bad("empty");
  unsigned long long number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end == text.data()) return bad("expected a number");
  std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
  unsigned long long scale = 0;
  if (unit.empty() || unit == "s") scale = 1;
  else if (unit == "m") scale = 60;
  else if (unit == "h") scale = 3600;
  else if (unit == "d") scale = 86400;
  else return bad("unknown unit");
  constexpr unsigned long long kMaxSeconds = 10ULL * 366 * 86400;
  if (number > kMaxSeconds / scale) return bad("longer than 10 years");
  return std::chrono::seconds(static_cast<long long>(number * scale));
}

}  // namespace mamori::common
