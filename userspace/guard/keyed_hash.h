#pragma once

// SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit hash. The
// guard keys every table with it so that an attacker who does not know the
// per-process key cannot aim many usernames or addresses at one table set
// (hash flooding) nor turn a stored username hash back into the name by
// hashing a dictionary.
//
// Immutable after construction: any thread, no locks.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mamori::guard {

class KeyedHash {
 public:
  using Key = std::array<std::uint8_t, 16>;

  explicit KeyedHash(const Key& key);

  // A hash keyed with 16 bytes from getrandom(2). Falls back to a key mixed
  // from the clock and addresses when getrandom fails (a kernel without it):
  // weaker against hash flooding, but the detector keeps working (fail-open
  // on key quality, never on detection). Control plane.
  static KeyedHash random();

  // SipHash-2-4 of `data` (any length, including 0).
  std::uint64_t operator()(std::string_view data) const;
  std::uint64_t hash(const void* data, std::size_t size) const;

 private:
  std::uint64_t k0_;
  std::uint64_t k1_;
};

// A fast 64-bit mixer (the SplitMix64 finaliser) for deriving further
// well-spread values from an already keyed hash. Not keyed itself.
inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace mamori::guard
