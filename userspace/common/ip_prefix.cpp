#include "common/ip_prefix.h"

#include <arpa/inet.h>

#include <charconv>

namespace mamori::common {

std::string IpPrefix::toString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof(buf));
  std::string out(buf);
  if (!isHost()) out += "/" + std::to_string(prefix_len);
  return out;
}

Result<IpPrefix> parseIpPrefix(std::string_view text) {
  auto bad = [&](const char* why) {
    return Error{EINVAL, "invalid address or CIDR '" + std::string(text) + "': " + why};
  };
  IpPrefix out;
  std::string_view addr = text;
  std::string_view len_text;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    len_text = text.substr(slash + 1);
    if (len_text.empty()) return bad("missing prefix length after '/'");
  }
  if (addr.find('%') != std::string_view::npos) return bad("zone indexes are not supported");
  std::string addr_str(addr);
  if (inet_pton(AF_INET, addr_str.c_str(), out.bytes.data()) == 1) {
    out.is_v6 = false;
  } else if (inet_pton(AF_INET6, addr_str.c_str(), out.bytes.data()) == 1) {
    out.is_v6 = true;
  } else {
    return bad("not an IPv4 or IPv6 address");
  }
  out.prefix_len = static_cast<uint8_t>(out.maxPrefix());
  if (!len_text.empty()) {
    unsigned len = 0;
    auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
    if (ec != std::errc() || end != len_text.data() + len_text.size())
      return bad("prefix length is not a number");
    if (len > static_cast<unsigned>(out.maxPrefix()))
      return bad(out.is_v6 ? "prefix length over 128" : "prefix length over 32");
    out.prefix_len = static_cast<uint8_t>(len);
  }
  // Clear host bits so equal networks compare and key equal.
  for (int bit = out.prefix_len; bit < out.maxPrefix(); ++bit)
    out.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  return out;
}

}  // namespace mamori::common
