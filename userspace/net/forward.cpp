#include "net/forward.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>

#include "http/syntax.h"

namespace mamori::net {
namespace {

bool startsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && http::equalsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

// Tokens of every Connection header ("close, X-Foo" → {"close", "X-Foo"}).
std::vector<std::string_view> connectionTokens(const http::Request& request) {
  std::vector<std::string_view> out;
  for (const auto& h : request.headers) {
    if (!http::equalsIgnoreCase(h.name, "connection")) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      auto comma = v.find(',');
      auto token = v.substr(0, comma);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
      if (!token.empty()) out.push_back(token);
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return out;
}

bool isForwardingHeader(std::string_view name) {
  return startsWithIgnoreCase(name, "x-forwarded-") || http::equalsIgnoreCase(name, "forwarded");
}

const char* versionText(http::Version v) { return v == http::Version::Http10 ? "HTTP/1.0" : "HTTP/1.1"; }

}  // namespace

bool isHopByHopHeader(std::string_view name) {
  static constexpr std::array<std::string_view, 9> kHop = {
      "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
      "upgrade", "proxy-authorization", "proxy-authenticate"};
  return std::any_of(kHop.begin(), kHop.end(),
                     [&](std::string_view h) { return http::equalsIgnoreCase(h, name); });
}

std::string serializeUpstreamRequest(const http::Request& request, const ForwardContext& ctx) {
  const auto tokens = connectionTokens(request);
  const std::string peer = ctx.peer.toString();
  std::string out;
  out.reserve(512 + request.body.size());
  out += request.method_name;
  out += ' ';
  out += request.target;
  out += ' ';
  out += versionText(request.version);
  out += "\r\n";

  std::string xff;        // incoming X-Forwarded-For chain (trusted peers only)
  std::string forwarded;  // incoming Forwarded elements (trusted peers only)
  for (const auto& h : request.headers) {
    if (isHopByHopHeader(h.name) || http::equalsIgnoreCase(h.name, "content-length") ||
        http::equalsIgnoreCase(h.name, "expect"))
      continue;
    if (std::any_of(tokens.begin(), tokens.end(),
                    [&](std::string_view t) { return http::equalsIgnoreCase(t, h.name); }))
      continue;
    if (isForwardingHeader(h.name)) {
      if (!ctx.peer_trusted) continue;
      // Repeated headers are one comma-separated list (RFC 9110 §5.3).
      if (http::equalsIgnoreCase(h.name, "x-forwarded-for")) {
        if (!h.value.empty()) xff += (xff.empty() ? "" : ", ") + h.value;
        continue;
      }
      if (http::equalsIgnoreCase(h.name, "forwarded")) {
        if (!h.value.empty()) forwarded += (forwarded.empty() ? "" : ", ") + h.value;
        continue;
      }
      if (http::equalsIgnoreCase(h.name, "x-forwarded-proto")) continue;  // we set it
    }
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }

  out += "X-Forwarded-For: ";
  if (!xff.empty()) out += xff + ", ";
  out += peer;
  out += "\r\nX-Forwarded-Proto: ";
  out += ctx.proto;
  out += "\r\nForwarded: ";
  if (!forwarded.empty()) out += forwarded + ", ";
  // RFC 7239 §6: an IPv6 node is bracketed and the value quoted.
  if (ctx.peer.family == config::AddressFamily::Ipv6)
    out += "for=\"[" + peer + "]\"";
  else
    out += "for=" + peer;
  if (!request.host.empty()) {
    out += ";host=\"";
    for (char c : request.host)
      if (c != '"' && c != '\\') out += c;  // the parser already refuses these; belt and braces
    out += '"';
  }
  out += ";proto=";
  out += ctx.proto;
  out += "\r\n";

  if (request.body_truncated) {
    // Only the prefix is here; the rest streams after it in the client's
    // framing: the announced length, or chunks of our own.
    if (request.content_length) {
      out += "Content-Length: " + std::to_string(*request.content_length) + "\r\n\r\n";
      out += request.body;
    } else {
      out += "Transfer-Encoding: chunked\r\n\r\n";
      appendBodyChunk(request.body, &out);
    }
    return out;
  }
  if (!request.body.empty() || request.content_length || request.chunked) {
    out += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  }
  out += "\r\n";
  out += request.body;
  return out;
}

void appendBodyChunk(std::string_view data, std::string* out) {
  if (data.empty()) return;  // a zero-size chunk would end the body
  char size[20];
  int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  out->append(size, static_cast<std::size_t>(n));
  out->append(data);
  out->append("\r\n");
}

bool isTrustedPeer(const std::vector<common::IpPrefix>& trusted, const config::IpAddress& peer) {
  common::IpPrefix host;
  host.is_v6 = peer.family == config::AddressFamily::Ipv6;
  host.bytes = peer.bytes;
  host.prefix_len = static_cast<uint8_t>(peer.bits());
  return std::any_of(trusted.begin(), trusted.end(),
                     [&](const common::IpPrefix& p) { return p.contains(host); });
}

std::string routingHost(std::string_view host) {
  std::string_view name = host;
  if (!name.empty() && name.front() == '[') {
    auto close = name.find(']');
    if (close != std::string_view::npos) name = name.substr(0, close + 1);
  } else if (auto colon = name.rfind(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  std::string out(name);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!out.empty() && out.back() == '.') out.pop_back();  // "example.com." is example.com
  return out;
}

bool hostMatches(std::string_view pattern, std::string_view host) {
  if (pattern == "*") return true;
  if (pattern.size() > 2 && pattern.substr(0, 2) == "*.") {
    auto suffix = pattern.substr(1);  // ".example.com": at least one label before it
    return host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix;
  }
  return pattern == host;
}

std::string RequestIdGenerator::next() {
  // splitmix64's finaliser is a bijection on 64-bit values, so distinct
  // counters give distinct ids.
  std::uint64_t z = seed_ + (++counter_) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(z));
  return std::string(buf, 16);
}

RequestClient requestClient(const http::Request& request, const config::IpAddress& peer,
                            const std::vector<common::IpPrefix>& trusted_proxies) {
  RequestClient out;
  out.address = peer.asHostPrefix();
  if (trusted_proxies.empty() || !isTrustedPeer(trusted_proxies, peer)) return out;
  out.via_proxy = true;
  // Every X-Forwarded-For field in order, as one list (RFC 7230 §3.2.2).
  std::vector<std::string_view> hops;
  for (const auto& h : request.headers) {
    if (!http::equalsIgnoreCase(h.name, "x-forwarded-for") || h.value.empty()) continue;
    http::syntax::forEachListElement(h.value, [&](std::string_view hop) {
      hops.push_back(hop);
      return true;
    });
    // A value ending in ',' names no empty last hop.
    if (h.value.back() == ',') hops.pop_back();
  }
  // Right to left: the hops a trusted proxy added are believed; the first
  // one that is not a trusted proxy is the client. Anything left of it was
  // written by the client and is not believed.
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    auto ip = config::parseIpAddress(*it);
    if (!ip) return out;  // garbage: count the proxy itself
    if (isTrustedPeer(trusted_proxies, *ip)) continue;
    out.address = ip->asHostPrefix();
    return out;
  }
  return out;
}

}  // namespace mamori::net
