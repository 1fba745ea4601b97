#include "net/forward.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>
#include <string>

#include "http/request_parser.h"

namespace mamori::net {
namespace {

http::Request parse(std::string_view raw) {
  http::RequestParser parser;
  std::size_t used = 0;
  EXPECT_EQ(parser.feed(raw, &used), http::ParseStatus::Done) << raw;
  return parser.takeRequest();
}

config::IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  config::IpAddress ip;
  ip.bytes[0] = a, ip.bytes[1] = b, ip.bytes[2] = c, ip.bytes[3] = d;
  return ip;
}

TEST(Forward, StripsHopByHopAndKeepsOrderAndHost) {
  auto req = parse(
      "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-One: 1\r\nConnection: keep-alive, X-Secret\r\n"
      "Keep-Alive: timeout=5\r\nX-Secret: s\r\nTE: trailers\r\nUpgrade: h2c\r\nX-Two: 2\r\n\r\n");
  auto out = serializeUpstreamRequest(req, {v4(192, 0, 2, 7), false, "http"});
  EXPECT_EQ(out.rfind("GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-One: 1\r\nX-Two: 2\r\n", 0), 0u)
      << out;
  for (const char* gone : {"Connection", "Keep-Alive", "X-Secret", "TE:", "Upgrade", "Content-Length"})
    EXPECT_EQ(out.find(gone), std::string::npos) << gone;
  EXPECT_NE(out.find("X-Forwarded-For: 192.0.2.7\r\n"), std::string::npos);
  EXPECT_NE(out.find("X-Forwarded-Proto: http\r\n"), std::string::npos);
  EXPECT_NE(out.find("Forwarded: for=192.0.2.7;host=\"example.com\";proto=http\r\n"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
}

TEST(Forward, UntrustedPeerCannotChooseForwardedFor) {
  auto req = parse(
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Host: evil\r\n"
      "X-Forwarded-Proto: https\r\nForwarded: for=1.2.3.4\r\n\r\n");
  auto out = serializeUpstreamRequest(req, {v4(10, 0, 0, 9), false, "http"});
  EXPECT_EQ(out.find("1.2.3.4"), std::string::npos) << out;
  EXPECT_EQ(out.find("evil"), std::string::npos);
  EXPECT_EQ(out.find("https"), std::string::npos);
  EXPECT_NE(out.find("X-Forwarded-For: 10.0.0.9\r\n"), std::string::npos);
}

TEST(Forward, TrustedPeerChainIsExtended) {
  auto req = parse(
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n"
      "X-Forwarded-Host: front\r\nX-Forwarded-Proto: https\r\nForwarded: for=1.2.3.4\r\n\r\n");
  auto out = serializeUpstreamRequest(req, {v4(10, 0, 0, 9), true, "http"});
  EXPECT_NE(out.find("X-Forwarded-For: 1.2.3.4, 5.6.7.8, 10.0.0.9\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Forwarded-Host: front\r\n"), std::string::npos);
  EXPECT_NE(out.find("X-Forwarded-Proto: http\r\n"), std::string::npos);  // ours, not theirs
  EXPECT_EQ(out.find("X-Forwarded-Proto: https"), std::string::npos);
  EXPECT_NE(out.find("Forwarded: for=1.2.3.4, for=10.0.0.9;"), std::string::npos);
}

TEST(Forward, Ipv6ForwardedIsQuoted) {
  auto req = parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  config::IpAddress ip;
  ip.family = config::AddressFamily::Ipv6;
  ip.bytes[0] = 0x20, ip.bytes[1] = 0x01, ip.bytes[2] = 0x0d, ip.bytes[3] = 0xb8, ip.bytes[15] = 1;
  auto out = serializeUpstreamRequest(req, {ip, false, "http"});
  EXPECT_NE(out.find("Forwarded: for=\"[2001:db8::1]\";"), std::string::npos) << out;
}

TEST(Forward, ChunkedBodyBecomesContentLength) {
  auto req = parse(
      "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  auto out = serializeUpstreamRequest(req, {v4(127, 0, 0, 1), false, "http"});
  EXPECT_EQ(out.find("Transfer-Encoding"), std::string::npos);
  EXPECT_EQ(out.find("Expect"), std::string::npos);
  EXPECT_NE(out.find("Content-Length: 11\r\n\r\nhello world"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 11), "hello world");
}

TEST(Forward, EmptyPostKeepsZeroLength) {
  auto req = parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  auto out = serializeUpstreamRequest(req, {v4(127, 0, 0, 1), false, "http"});
  EXPECT_NE(out.find("Content-Length: 0\r\n\r\n"), std::string::npos);
}

// body_over_limit: inspect_prefix. The request carries only its prefix;
// the head keeps the client's length, or says chunked, and the engine
// streams the rest the same way.
http::Request parsePrefix(std::string_view raw, std::size_t limit) {
  http::RequestLimits limits;
  limits.max_body_bytes = limit;
  limits.body_policy = http::BodyLimitPolicy::InspectPrefix;
  http::RequestParser parser(limits);
  std::size_t used = 0;
  EXPECT_EQ(parser.feed(raw, &used), http::ParseStatus::Prefix) << raw;
  return parser.takeRequest();
}

TEST(Forward, PrefixOfContentLengthBodyKeepsTheClientsLength) {
  auto req = parsePrefix("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", 4);
  auto out = serializeUpstreamRequest(req, {v4(192, 0, 2, 7), false, "http"});
  EXPECT_NE(out.find("\r\nContent-Length: 10\r\n\r\n0123"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 8), "\r\n\r\n0123");
  EXPECT_EQ(out.find("Transfer-Encoding"), std::string::npos);
}

TEST(Forward, PrefixOfChunkedBodyIsSentAsAChunk) {
  auto req = parsePrefix(
      "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "a\r\n0123456789\r\n",
      4);
  auto out = serializeUpstreamRequest(req, {v4(192, 0, 2, 7), false, "http"});
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n0123\r\n"), std::string::npos)
      << out;
  EXPECT_EQ(out.substr(out.size() - 9), "4\r\n0123\r\n");
}

TEST(Forward, BodyChunkFraming) {
  std::string out;
  appendBodyChunk("", &out);
  EXPECT_EQ(out, "");  // an empty chunk would end the body
  appendBodyChunk(std::string(300, 'x'), &out);
  EXPECT_EQ(out, "12c\r\n" + std::string(300, 'x') + "\r\n");
  EXPECT_EQ(kLastChunk, "0\r\n\r\n");
}

TEST(Forward, HopByHopList) {
  EXPECT_TRUE(isHopByHopHeader("Transfer-Encoding"));
  EXPECT_TRUE(isHopByHopHeader("proxy-connection"));
  EXPECT_FALSE(isHopByHopHeader("Host"));
  EXPECT_FALSE(isHopByHopHeader("Content-Type"));
}

TEST(Forward, TrustedPeer) {
  std::vector<common::IpPrefix> trusted = {*common::parseIpPrefix("10.0.0.0/8")};
  EXPECT_TRUE(isTrustedPeer(trusted, v4(10, 1, 2, 3)));
  EXPECT_FALSE(isTrustedPeer(trusted, v4(11, 1, 2, 3)));
  EXPECT_FALSE(isTrustedPeer({}, v4(10, 1, 2, 3)));
}

// A GET with one X-Forwarded-For field per value.
http::Request withXff(const std::vector<std::string>& values) {
  std::string raw = "GET / HTTP/1.1\r\nHost: www.example.com\r\n";
  for (const auto& v : values) raw += "X-Forwarded-For: " + v + "\r\n";
  return parse(raw + "\r\n");
}

TEST(RequestClient, TrustedProxyHandsOverTheRightmostUntrustedHop) {
  const std::vector<common::IpPrefix> trusted = {common::parseIpPrefix("10.0.0.0/8").value()};
  const auto proxy = config::parseIpAddress("10.0.0.2").value();
  const auto stranger = config::parseIpAddress("192.0.2.50").value();
  // Not a trusted peer: the header is not believed.
  RequestClient c = requestClient(withXff({"203.0.113.5"}), stranger, trusted);
  EXPECT_EQ(c.address.toString(), "192.0.2.50");
  EXPECT_FALSE(c.via_proxy);
  // Through two trusted hops; the client's own left-hand claim is ignored.
  c = requestClient(withXff({"1.1.1.1, 203.0.113.5", "10.0.0.9"}), proxy, trusted);
  EXPECT_EQ(c.address.toString(), "203.0.113.5");
  EXPECT_TRUE(c.via_proxy);
  // Trusted peer without a usable header: the proxy itself, never banned at XDP.
  c = requestClient(withXff({"not-an-address"}), proxy, trusted);
  EXPECT_EQ(c.address.toString(), "10.0.0.2");
  EXPECT_TRUE(c.via_proxy);
  c = requestClient(withXff({}), proxy, trusted);
  EXPECT_EQ(c.address.toString(), "10.0.0.2");
  EXPECT_TRUE(c.via_proxy);
  // A trailing comma adds no empty hop; an empty hop elsewhere is garbage.
  c = requestClient(withXff({"203.0.113.5,"}), proxy, trusted);
  EXPECT_EQ(c.address.toString(), "203.0.113.5");
  c = requestClient(withXff({"203.0.113.5, , 10.0.0.9"}), proxy, trusted);
  EXPECT_EQ(c.address.toString(), "10.0.0.2");
}

TEST(Forward, HostRouting) {
  EXPECT_EQ(routingHost("Example.COM:8080"), "example.com");
  EXPECT_EQ(routingHost("[::1]:80"), "[::1]");
  EXPECT_EQ(routingHost("a.example.com."), "a.example.com");
  EXPECT_TRUE(hostMatches("*", "x"));
  EXPECT_TRUE(hostMatches("*.example.com", "a.example.com"));
  EXPECT_FALSE(hostMatches("*.example.com", "example.com"));
  EXPECT_TRUE(hostMatches("example.com", "example.com"));
  EXPECT_FALSE(hostMatches("example.com", "example.org"));
}

TEST(RequestId, SixteenHexAndUnique) {
  RequestIdGenerator gen(42);
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    auto id = gen.next();
    ASSERT_EQ(id.size(), 16u);
    ASSERT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 10000u);
}

}  // namespace
}  // namespace mamori::net
