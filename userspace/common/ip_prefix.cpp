#include "common/ip_prefix.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace mamori::common {
namespace {

Error invalid(std::string message) { return Error{EINVAL, std::move(message)}; }

std::string squote(std::string_view text) { return "'" + std::string(text) + "'"; }

// The address part of a prefix; messages name the family the operator meant.
Status parseAddress(std::string_view text, IpPrefix& out) {
  if (text.empty()) return invalid("empty address");
  if (text.find('%') != std::string_view::npos) {
    return invalid("IPv6 zone ids are not supported: " + squote(text) +
                   " (remove the '%zone' part)");
  }
  if (text.front() == '[') {
    return invalid("invalid address " + squote(text) + " (write IPv6 without brackets here)");
  }
  // inet_pton needs a NUL-terminated string; INET6_ADDRSTRLEN bounds valid input.
  if (text.size() >= INET6_ADDRSTRLEN) return invalid("invalid address " + squote(text));
  std::string copy(text);
  if (copy.find(':') != std::string::npos) {
    out.is_v6 = true;
    if (inet_pton(AF_INET6, copy.c_str(), out.bytes.data()) != 1)
      return invalid("invalid IPv6 address " + squote(text));
    return {};
  }
  // glibc's inet_pton(AF_INET) takes exactly four decimal octets 0..255
  // without leading zeros, unlike inet_aton, which also takes "10.1" and
  // octal "010.0.0.1": forms that read as something other than they mean.
  out.is_v6 = false;
  if (inet_pton(AF_INET, copy.c_str(), out.bytes.data()) != 1)
    return invalid("invalid IPv4 address " + squote(text));
  return {};
}

}  // namespace

std::string IpPrefix::toString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(is_v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof(buf)) == nullptr) return "?";
  std::string out(buf);
  if (!isHost()) out += "/" + std::to_string(prefix_len);
  return out;
}

bool IpPrefix::contains(const IpPrefix& inner) const {
  if (inner.is_v6 != is_v6 || inner.prefix_len < prefix_len) return false;
  const size_t full_bytes = prefix_len / 8u;
  if (std::memcmp(inner.bytes.data(), bytes.data(), full_bytes) != 0) return false;
  const int rest = prefix_len % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xFFu << (8 - rest));
  return (inner.bytes[full_bytes] & mask) == bytes[full_bytes];
}

Result<IpPrefix> parseIpPrefix(std::string_view text) {
  const size_t slash = text.find('/');
  IpPrefix out;
  if (auto st = parseAddress(text.substr(0, slash), out); !st) return st.error();
  out.prefix_len = static_cast<uint8_t>(out.maxPrefix());
  if (slash != std::string_view::npos) {
    std::string_view len_text = text.substr(slash + 1);
    if (len_text.empty())
      return invalid("missing prefix length in " + squote(text) + " (e.g. 10.0.0.0/8)");
    // At most three plain digits: no sign, no "/0008" sneaking past the range check.
    unsigned len = 0;
    auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
    if (len_text.size() > 3 || len_text.front() < '0' || len_text.front() > '9' ||
        ec != std::errc() || end != len_text.data() + len_text.size())
      return invalid("invalid prefix length in " + squote(text));
    if (len > static_cast<unsigned>(out.maxPrefix())) {
      return invalid("prefix length " + std::to_string(len) + " is over " +
                     std::to_string(out.maxPrefix()) + " in " + squote(text));
    }
    out.prefix_len = static_cast<uint8_t>(len);
  }
  // Clear host bits so equal networks compare and key equal.
  for (int bit = out.prefix_len; bit < out.maxPrefix(); ++bit)
    out.bytes[static_cast<size_t>(bit / 8)] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  return out;
}

IpPrefix IpPrefix::network(uint8_t len) const {
  IpPrefix out = *this;
  out.prefix_len = std::min(len, prefix_len);
  for (int bit = out.prefix_len; bit < maxPrefix(); ++bit)
    out.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  return out;
}

}  // namespace mamori::common
