#include "guard/keyed_hash.h"

#include <sys/random.h>

#include <chrono>
#include <cstring>

namespace mamori::guard {

namespace {

inline std::uint64_t rotl(std::uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

inline std::uint64_t load64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];  // little-endian, as the spec reads
  return v;
}

struct State {
  std::uint64_t v0, v1, v2, v3;
  void round() {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  }
};

}  // namespace

KeyedHash::KeyedHash(const Key& key) : k0_(load64(key.data())), k1_(load64(key.data() + 8)) {}

KeyedHash KeyedHash::random() {
  Key key{};
  std::size_t got = 0;
  while (got < key.size()) {
    ssize_t n = getrandom(key.data() + got, key.size() - got, 0);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got < key.size()) {
    const auto t = static_cast<std::uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch().count());
    const auto a = reinterpret_cast<std::uintptr_t>(&key);
    std::uint64_t w0 = mix64(t ^ a), w1 = mix64(w0 + 0x9e3779b97f4a7c15ULL);
    std::memcpy(key.data(), &w0, 8);
    std::memcpy(key.data() + 8, &w1, 8);
  }
  return KeyedHash(key);
}

std::uint64_t KeyedHash::operator()(std::string_view data) const {
  return hash(data.data(), data.size());
}

std::uint64_t KeyedHash::hash(const void* data, std::size_t size) const {
  const auto* in = static_cast<const std::uint8_t*>(data);
  State s{k0_ ^ 0x736f6d6570736575ULL, k1_ ^ 0x646f72616e646f6dULL,
          k0_ ^ 0x6c7967656e657261ULL, k1_ ^ 0x7465646279746573ULL};
  const std::size_t whole = size - size % 8;
  for (std::size_t i = 0; i < whole; i += 8) {
    const std::uint64_t m = load64(in + i);
    s.v3 ^= m;
    s.round();
    s.round();
    s.v0 ^= m;
  }
  // Last block: the remaining bytes, with the length's low byte on top.
  std::uint64_t b = static_cast<std::uint64_t>(size & 0xff) << 56;
  for (std::size_t i = 0; i < size % 8; ++i) b |= static_cast<std::uint64_t>(in[whole + i]) << (8 * i);
  s.v3 ^= b;
  s.round();
  s.round();
  s.v0 ^= b;
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

}  // namespace mamori::guard
