#pragma once

// Parses operator-written durations such as "30s", "10m", "1h", "2d" or a
// bare number of seconds. Used by config and CLI parsing (control plane).

#include <chrono>
#include <string_view>

#include "common/result.h"

namespace mamori::common {

// Returns the duration in seconds, or an Error naming the bad input. Rejects
// empty input, unknown units, negative values and values over 10 years.
Result<std::chrono::seconds> parseDuration(std::string_view text);

}  // namespace mamori::common
