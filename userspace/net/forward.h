#pragma once

// Turns a parsed client request into the bytes sent to an upstream, and the
// small pure helpers around it (trusted peers, request ids, host routing).
// No sockets: unit-tested in tests/unit/net/forward_test.cpp.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip_prefix.h"
#include "config/address.h"
#include "http/types.h"

namespace mamori::net {

struct ForwardContext {
  config::IpAddress peer;          // TCP peer of the client connection
  bool peer_trusted = false;       // peer is in site.trusted_proxies
  std::string_view proto = "http";  // scheme the client used
};

// True for the hop-by-hop headers of RFC 9110 §7.6.1 (Connection,
// Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade,
// Proxy-Authorization, Proxy-Authenticate), case-insensitive.
bool isHopByHopHeader(std::string_view name);

// The request as sent upstream:
//  - request line: method, target and version as received;
//  - headers in received order, minus hop-by-hop headers, minus headers
//    named in Connection, minus Content-Length and Expect (the body is sent
//    whole with our own Content-Length; the engine already answered any
//    100-continue itself), Host kept;
//  - from an untrusted peer every X-Forwarded-* and Forwarded header is
//    dropped (a client must not choose the address the application logs);
//    from a trusted peer they are kept and extended;
//  - X-Forwarded-For gets the peer appended, X-Forwarded-Proto and
//    Forwarded (RFC 7239) are set;
//  - the de-chunked body framed by Content-Length (present whenever the
//    request had a body or a Content-Length);
//  - except for a request whose body is only a prefix (body_truncated,
//    body_over_limit: inspect_prefix): the head then says the client's
//    Content-Length, or Transfer-Encoding: chunked for a chunked request,
//    and the prefix follows as is, or as one chunk (appendBodyChunk). The
//    caller sends the rest of the body the same way, then kLastChunk when
//    chunked (trailers are not forwarded, as for whole bodies).
// Never fails. Any thread.
std::string serializeUpstreamRequest(const http::Request& request, const ForwardContext& ctx);

// Appends `data` as one chunk ("<hex size>\r\n<data>\r\n") to *out;
// nothing for empty data. Any thread.
void appendBodyChunk(std::string_view data, std::string* out);

// The last-chunk and empty trailer section that end a chunked body.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// True when `peer` lies in one of `trusted`. Any thread.
bool isTrustedPeer(const std::vector<common::IpPrefix>& trusted, const config::IpAddress& peer);

// Who sent a request: the TCP peer; or, when the peer is one of the site's
// trusted_proxies (a load balancer, a CDN), the rightmost X-Forwarded-For
// address that is not itself a trusted proxy, which is the client as the
// proxy chain saw it. Behind a proxy every client shares the proxy's
// address, so the flood limits, the bot detector and the challenge count,
// bind and log this client instead. `via_proxy` is true whenever the peer
// is trusted: such a client may be refused at the site but never banned at
// XDP, because its packets arrive from the proxy. A trusted peer with no
// usable header counts as itself. Pure; any thread.
struct RequestClient {
  common::IpPrefix address;  // a host address
  bool via_proxy = false;
};
RequestClient requestClient(const http::Request& request, const config::IpAddress& peer,
                            const std::vector<common::IpPrefix>& trusted_proxies);

// Host header value reduced to the routing name: port removed, lower case,
// IPv6 brackets kept ("[::1]"). Any thread.
std::string routingHost(std::string_view host);

// Whether `pattern` (config::parseHostPattern form: "*", "*.example.com" or
// an exact name) matches the routing host `host`. Any thread.
bool hostMatches(std::string_view pattern, std::string_view host);

// Request ids: 16 lower-case hex digits. The generator maps a counter
// through a bijective mixer (splitmix64) keyed by a random seed, so ids never
// repeat within one generator and are unpredictable across restarts. One
// generator per worker thread.
class RequestIdGenerator {
 public:
  explicit RequestIdGenerator(std::uint64_t seed) : seed_(seed) {}
  std::string next();

 private:
  std::uint64_t seed_;
  std::uint64_t counter_ = 0;
};

}  // namespace mamori::net
