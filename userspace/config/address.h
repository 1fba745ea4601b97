#pragma once

// Typed network addresses shared by config and net: IP addresses,
// "host:port" endpoints and HTTP host names. CIDR prefixes are
// common::IpPrefix (common/ip_prefix.h), the type shield and the CLI use too. Plain data plus
// pure parse functions; no yaml-cpp, no sockets, no name resolution.
//
// Every function here is pure and reentrant: call it from any thread. None
// throws. Errors are Error{EINVAL, "message (hint)"} without a location; the
// config loader prefixes FILE:LINE:COLUMN.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/ip_prefix.h"
#include "common/result.h"

namespace mamori::config {

using common::Error;
using common::IpPrefix;
using common::Result;

enum class AddressFamily : uint8_t { Ipv4, Ipv6 };

// One IPv4 or IPv6 address in network byte order. IPv4 uses bytes[0..3] and
// leaves the rest zero, so two equal addresses compare equal byte for byte.
// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) stays IPv6: we do not guess
// which family the operator meant.
struct IpAddress {
  AddressFamily family = AddressFamily::Ipv4;
  std::array<uint8_t, 16> bytes{};

  // Canonical text (inet_ntop): "10.0.0.1", "2001:db8::1"; no brackets.
  std::string toString() const;
  // Address length in bits: 32 or 128.
  int bits() const { return family == AddressFamily::Ipv4 ? 32 : 128; }
  bool operator==(const IpAddress&) const = default;
  // The address as a host prefix (/32 or /128), the form guard and shield take.
  IpPrefix asHostPrefix() const {
    IpPrefix p;
    p.is_v6 = family == AddressFamily::Ipv6;
    p.bytes = bytes;
    p.prefix_len = static_cast<uint8_t>(bits());
    return p;
  }
};

// A "host:port" endpoint. `host` is the lower-case host name, or the
// canonical text of the IP literal (without brackets) when `ip` is set.
struct Endpoint {
  std::string host;
  std::optional<IpAddress> ip;
  uint16_t port = 0;

  bool isIp() const { return ip.has_value(); }
  // "10.0.0.1:80", "[::1]:443", "app.internal:8080": parseEndpoint() reads it back.
  std::string toString() const;
  bool operator==(const Endpoint&) const = default;
};

// Whether parseEndpoint() accepts a host name, or only an IP literal (a
// socket we bind must name an address: we never resolve names to listen).
enum class HostKind { IpOnly, IpOrName };

// Parses a bare IPv4 or IPv6 address ("10.0.0.1", "2001:db8::1"). Fails on
// garbage, octets over 255, leading zeros, brackets, and IPv6 zone ids
// ("fe80::1%eth0"): a zone names an interface of one host and means nothing
// in a policy or a shared config. The same rules and messages as
// common::parseIpPrefix, which does the parsing.
Result<IpAddress> parseIpAddress(std::string_view text);

// Parses "ip:port", "[v6]:port" or (with HostKind::IpOrName) "name:port".
// The port must be decimal 1..65535. IPv6 needs brackets: "::1:443" is
// ambiguous and refused with a hint. Host names follow parseHostName().
Result<Endpoint> parseEndpoint(std::string_view text, HostKind kind);

// Validates a DNS host name (RFC 1123: labels of 1..63 letters, digits and
// inner hyphens, at most 253 characters, last label not all digits) and
// returns it lower-cased. A trailing dot is refused rather than stripped so
// that config text and request Host headers compare the same way.
Result<std::string> parseHostName(std::string_view text);

// Host patterns a site answers for (Host header / SNI), returned in
// canonical form: "*" (any host), "*.example.com" (any name under
// example.com), a host name (lower-cased), an IPv4 literal, or an IPv6
// literal in brackets ("[2001:db8::1]", as it appears in a Host header).
inline constexpr std::string_view kAnyHost = "*";
Result<std::string> parseHostPattern(std::string_view text);

// Parses a TCP/UDP port: decimal digits only, 1..65535.
Result<uint16_t> parsePort(std::string_view text);

}  // namespace mamori::config
