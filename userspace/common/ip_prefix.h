#pragma once

// An IPv4 or IPv6 address with a prefix length: "10.0.0.0/8", "2001:db8::/32",
// or a bare address (a /32 or /128). Shared by config, shield and the CLI so
// that every place parses and prints addresses the same way.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace mamori::common {

struct IpPrefix {
  bool is_v6 = false;
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses bytes[0..3]
  uint8_t prefix_len = 0;

  int maxPrefix() const { return is_v6 ? 128 : 32; }
  bool isHost() const { return prefix_len == maxPrefix(); }
  // "a.b.c.d/n" or "x::y/n"; a host prefix prints without "/n".
  std::string toString() const;
  bool operator==(const IpPrefix&) const = default;
};

// Parses "addr" or "addr/len". Host bits beyond the prefix are cleared, so
// "10.1.2.3/8" becomes 10.0.0.0/8. Fails on anything inet_pton refuses, a
// zone index ("fe80::1%eth0"), or a length over 32/128.
Result<IpPrefix> parseIpPrefix(std::string_view text);

}  // namespace mamori::common
