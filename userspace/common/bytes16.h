#pragma once

// 16 bytes as one vector (GCC/Clang vector extension, portable across
// targets): a comparison gives a lane mask of 0 or -1 per byte, and lanes
// combine with '&' and '|'. Byte scans over long request values (the
// inspection transforms and detectors, form decoding) run 16 bytes per step
// this way; written as plain byte loops, the compiler at -O2 does not
// vectorise them (about one byte per cycle). Any thread.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace mamori::common {

using Bytes16 = unsigned char __attribute__((vector_size(16)));

// Whether any lane of a comparison mask is set.
inline bool anyLane(const Bytes16& mask) {
  std::uint64_t words[2];
  std::memcpy(words, &mask, sizeof words);
  return (words[0] | words[1]) != 0;
}

// Whether pred(c) holds for some byte c of `s`. `pred` is called on
// 16-byte vectors and, for the tail, on single bytes (unsigned char), so it
// must use only comparisons, '&' and '|' (negate with `== 0`, which works
// lane-wise as well as on a scalar; '~' does not).
template <typename Pred>
bool anyByte(std::string_view s, Pred pred) {
  std::size_t i = 0;
  for (; i + 16 <= s.size(); i += 16) {
    Bytes16 block;
    std::memcpy(&block, s.data() + i, 16);
    if (anyLane(reinterpret_cast<Bytes16>(pred(block)))) return true;
  }
  for (; i < s.size(); ++i) {
    if (pred(static_cast<unsigned char>(s[i]))) return true;
  }
  return false;
}

// The fast path of percent-decoding: copies whole 16-byte blocks of `in`
// (`n` bytes) to `out` up to the first block that holds a '%', turning '+'
// into ' ' when `plus_as_space`; returns the bytes copied (a multiple of
// 16, possibly 0). The caller decodes from there byte by byte. Form-encoded
// prose has a '+' every few bytes, too often for span copies, and a '%'
// every hundred or so.
inline std::size_t copyBlocksWithoutPercent(const char* in, std::size_t n, char* out,
                                            bool plus_as_space) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    Bytes16 block;
    std::memcpy(&block, in + i, 16);
    if (anyLane(reinterpret_cast<Bytes16>(block == '%'))) break;
    if (plus_as_space) {
      block ^= reinterpret_cast<Bytes16>(block == '+') & static_cast<unsigned char>('+' ^ ' ');
    }
    std::memcpy(out + i, &block, 16);
  }
  return i;
}

}  // namespace mamori::common
