#pragma once

// Operator-written byte sizes for config and CLI: "512KiB", "1MiB", "10MB",
// or a plain number of bytes. Pure, reentrant, never throws.

#include <cstdint>
#include <string_view>

#include "common/result.h"

namespace mamori::config {

// Parses a size. Units are B, KB/MB/GB (powers of 1000) and KiB/MiB/GiB
// (powers of 1024), case-sensitive, written right after the number; no unit
// means bytes. Returns the size in bytes, or Error{EINVAL, "invalid size 'x'
// (hint)"} for empty input, signs, fractions, unknown units and overflow.
common::Result<uint64_t> parseByteSize(std::string_view text);

}  // namespace mamori::config
