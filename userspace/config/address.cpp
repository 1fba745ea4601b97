#include "config/address.h"

#include <arpa/inet.h>

#include <cerrno>
#include <charconv>

namespace mamori::config {
namespace {

Error invalid(std::string message) { return Error{EINVAL, std::move(message)}; }

std::string squote(std::string_view text) { return "'" + std::string(text) + "'"; }

bool allDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// True for text made only of digits and dots: the operator meant an IPv4
// address, so a failure should say "invalid IPv4 address", not "bad host name".
bool looksLikeIpv4(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if ((c < '0' || c > '9') && c != '.') return false;
  }
  return true;
}

// Parses a short decimal number with no sign, no spaces and at most
// `max_digits` digits (so "0000000080" cannot sneak past a range check).
std::optional<unsigned> smallDecimal(std::string_view text, size_t max_digits) {
  if (!allDigits(text) || text.size() > max_digits) return std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

bool isLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

std::string IpAddress::toString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  int af = family == AddressFamily::Ipv4 ? AF_INET : AF_INET6;
  if (inet_ntop(af, bytes.data(), buf, sizeof(buf)) == nullptr) return "?";
  return buf;
}

std::string Endpoint::toString() const {
  if (ip && ip->family == AddressFamily::Ipv6) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<IpAddress> parseIpAddress(std::string_view text) {
  // One parser for addresses and prefixes (common/ip_prefix.cpp), so both
  // accept and refuse the same spellings; only the '/len' part is ours to refuse.
  if (text.find('/') != std::string_view::npos)
    return invalid("invalid address " + squote(text) + " (no prefix length here)");
  auto prefix = common::parseIpPrefix(text);
  if (!prefix) return prefix.error();
  return IpAddress{prefix->is_v6 ? AddressFamily::Ipv6 : AddressFamily::Ipv4, prefix->bytes};
}

Result<uint16_t> parsePort(std::string_view text) {
  if (text.empty()) return invalid("missing port");
  auto value = smallDecimal(text, 5);
  if (!value) return invalid("invalid port " + squote(text) + " (expected 1..65535)");
  if (*value < 1 || *value > 65535) {
    return invalid("port " + std::to_string(*value) + " out of range (expected 1..65535)");
  }
  return static_cast<uint16_t>(*value);
}

Result<std::string> parseHostName(std::string_view text) {
  if (text.empty()) return invalid("empty host name");
  if (text.size() > 253) return invalid("host name longer than 253 characters");
  if (text.back() == '.') {
    return invalid("invalid host name " + squote(text) + " (remove the trailing dot)");
  }
  std::string out;
  out.reserve(text.size());
  for (char c : text) out.push_back(lower(c));
  size_t start = 0;
  while (true) {
    size_t dot = out.find('.', start);
    std::string_view label = std::string_view(out).substr(
        start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty() || label.size() > 63) {
      return invalid("invalid host name " + squote(text) + " (labels are 1..63 characters)");
    }
    for (char c : label) {
      if (!isLabelChar(c)) {
        return invalid("invalid host name " + squote(text) +
                       " (use letters, digits, '-' and '.')");
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      return invalid("invalid host name " + squote(text) +
                     " (a label cannot start or end with '-')");
    }
    if (dot == std::string::npos) {
      // An all-digit last label would make "1.2.3" a host name; RFC 3696
      // §2 rules that out so names never shadow IPv4 literals.
      if (allDigits(label)) return invalid("invalid host name " + squote(text));
      break;
    }
    start = dot + 1;
  }
  return out;
}

Result<std::string> parseHostPattern(std::string_view text) {
  if (text == kAnyHost) return std::string(kAnyHost);
  if (text.starts_with("*.")) {
    auto rest = parseHostName(text.substr(2));
    if (!rest) return rest.error();
    return "*." + *rest;
  }
  if (text.find('*') != std::string_view::npos) {
    return invalid("invalid host " + squote(text) +
                   " (a wildcard is only allowed as a leading '*.' or as '*' alone)");
  }
  if (text.starts_with("[")) {
    if (!text.ends_with("]")) return invalid("invalid host " + squote(text) + " (missing ']')");
    auto ip = parseIpAddress(text.substr(1, text.size() - 2));
    if (!ip) return ip.error();
    if (ip->family != AddressFamily::Ipv6) {
      return invalid("invalid host " + squote(text) + " (only IPv6 goes in brackets)");
    }
    return "[" + ip->toString() + "]";
  }
  if (looksLikeIpv4(text)) {
    auto ip = parseIpAddress(text);
    if (!ip) return ip.error();
    return ip->toString();
  }
  if (text.find(':') != std::string_view::npos) {
    return invalid("invalid host " + squote(text) +
                   " (no port here; write an IPv6 address as [2001:db8::1])");
  }
  return parseHostName(text);
}

Result<Endpoint> parseEndpoint(std::string_view text, HostKind kind) {
  if (text.empty()) return invalid("empty address (expected host:port)");
  auto bad = [&](const std::string& why) {
    return invalid("invalid address " + squote(text) + ": " + why);
  };
  std::string_view host_text;
  std::string_view port_text;
  bool bracketed = false;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return bad("missing ']'");
    host_text = text.substr(1, close - 1);
    std::string_view after = text.substr(close + 1);
    if (after.empty()) return bad("missing port (e.g. [::1]:443)");
    if (after.front() != ':') return bad("expected ':' after ']'");
    port_text = after.substr(1);
    bracketed = true;
  } else {
    size_t colon = text.find(':');
    if (colon == std::string_view::npos) return bad("missing port (expected host:port)");
    if (text.find(':', colon + 1) != std::string_view::npos) {
      return bad("IPv6 addresses need brackets (e.g. [::1]:443)");
    }
    host_text = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  if (host_text.empty()) return bad("missing host");
  auto port = parsePort(port_text);
  if (!port) return bad(port.error().message);

  Endpoint endpoint;
  endpoint.port = *port;
  if (bracketed || looksLikeIpv4(host_text)) {
    auto ip = parseIpAddress(host_text);
    if (!ip) return bad(ip.error().message);
    if (bracketed && ip->family != AddressFamily::Ipv6) {
      return bad("only IPv6 addresses go in brackets");
    }
    endpoint.ip = *ip;
    endpoint.host = ip->toString();
    return endpoint;
  }
  if (kind == HostKind::IpOnly) {
    return bad("expected an IP address, not a host name (names are not resolved here)");
  }
  auto name = parseHostName(host_text);
  if (!name) return bad(name.error().message);
  endpoint.host = std::move(*name);
  return endpoint;
}

}  // namespace mamori::config
