#pragma once

// An IPv4 or IPv6 address with a prefix length: "10.0.0.0/8", "2001:db8::/32",
// or a bare address (a /32 or /128). The one address-prefix type of the
// project: config (allow/deny lists, trusted proxies), shield (LPM keys,
// bans) and the CLI all parse and print prefixes through it, so a prefix
// written in the config and one typed at `mamorictl` compare equal.
//
// Plain data and pure functions: reentrant, any thread, no exceptions.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace mamori::common {

struct IpPrefix {
  bool is_v6 = false;
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses bytes[0..3], the rest zero
  uint8_t prefix_len = 0;           // 0..32 (IPv4) or 0..128 (IPv6)

  int maxPrefix() const { return is_v6 ? 128 : 32; }
  bool isHost() const { return prefix_len == maxPrefix(); }
  // "a.b.c.d/n" or "x::y/n"; a host prefix prints without "/n", so that
  // parseIpPrefix(p.toString()) == p.
  std::string toString() const;
  // True when `inner` (a prefix, or a host as a /32 or /128) has the same
  // family and lies wholly inside this prefix: 10.0.0.0/9 contains
  // 10.127.0.0/16 and 10.1.2.3, not 10.0.0.0/8. IPv4 and IPv4-mapped IPv6
  // are different families here, as in the shield's tries.
  bool contains(const IpPrefix& inner) const;
  // The prefix of the first `len` bits (clamped to this prefix's length):
  // host bits cleared, so equal networks compare equal. An IPv6 client's
  // /64, an IPv4 client's /24.
  IpPrefix network(uint8_t len) const;
  bool operator==(const IpPrefix&) const = default;
};

// Parses "addr" or "addr/len". Host bits beyond the prefix are cleared, so
// "10.1.2.3/8" becomes 10.0.0.0/8 and equal networks compare (and key an
// LPM trie) equal. IPv4 is exactly four decimal octets without leading zeros
// (inet_pton, not inet_aton: "10.1" and octal "010.0.0.1" are refused); the
// length is 1..3 plain decimal digits. Fails with Error{EINVAL, message}
// without a location (the config loader adds FILE:LINE:COLUMN) on garbage,
// brackets, an IPv6 zone ("fe80::1%eth0": a zone names one host's interface
// and means nothing in a policy), or a length over 32/128.
Result<IpPrefix> parseIpPrefix(std::string_view text);

}  // namespace mamori::common
