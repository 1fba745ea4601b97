#include "guard/http_fingerprint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "http/request_parser.h"

namespace mamori::guard {
namespace {

using Names = std::vector<std::string_view>;

// Parses a request head with the engine's own parser, so the headers are
// exactly what guard will see in production.
http::Request parse(const std::string& head) {
  http::RequestParser parser;
  std::size_t consumed = 0;
  auto status = parser.feed(head, &consumed);
  EXPECT_EQ(status, http::ParseStatus::Done) << head;
  return parser.takeRequest();
}

// One of the request heads recorded from real clients (testdata/*.http).
http::Request recorded(const std::string& name) {
  std::ifstream in(std::string(MAMORI_GUARD_TESTDATA) + "/" + name, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_FALSE(text.str().empty()) << name;
  return parse(text.str());
}

// Builds a request head from (name, value) pairs in order.
http::Request build(std::vector<std::pair<std::string, std::string>> headers) {
  std::string head = "GET / HTTP/1.1\r\n";
  for (const auto& [n, v] : headers) head += n + ": " + v + "\r\n";
  return parse(head + "\r\n");
}

Names check(const http::Request& r, const TlsTraits* tls = nullptr, bool http2 = false) {
  return checkUserAgentConsistency(r, computeHttpFingerprint(r, http2), tls, http2);
}

bool has(const Names& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

constexpr const char* kChromeUa =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36";

TlsTraits chromeTls() {
  TlsTraits t;
  t.grease = t.offers_tls13 = t.alpn_h2 = t.has_alpn = t.compress_certificate = t.alps = true;
  return t;
}

TlsTraits opensslTls() {  // curl / python / Go over OpenSSL 3: no GREASE, no cert compression
  TlsTraits t;
  t.offers_tls13 = t.alpn_h2 = t.has_alpn = true;
  return t;
}

TEST(UserAgent, ClassifiesFamilies) {
  struct Case {
    const char* ua;
    UaFamily family;
    int version;
  };
  const Case cases[] = {
      {kChromeUa, UaFamily::Chromium, 156},
      {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
       "HeadlessChrome/156.0.0.0 Safari/537.36",
       UaFamily::Chromium, 156},
      {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
       UaFamily::Edge, 131},
      {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0",
       UaFamily::Opera, 130},
      {"Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0",
       UaFamily::Firefox, 153},
      {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
       "Gecko) Version/18.1 Safari/605.1.15",
       UaFamily::Safari, 18},
      {"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
       "like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
       UaFamily::Safari, 0},
      {"curl/7.88.1", UaFamily::Curl, 7},
      {"Wget/1.21.3", UaFamily::Wget, 1},
      {"python-requests/2.34.2", UaFamily::PythonRequests, 2},
      {"Python-urllib/3.11", UaFamily::PythonUrllib, 3},
      {"Go-http-client/2.0", UaFamily::GoHttpClient, 2},
      {"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
       UaFamily::Other, 0},
      {"", UaFamily::None, 0},
  };
  for (const auto& c : cases) {
    UserAgentClaim claim = classifyUserAgent(c.ua);
    EXPECT_EQ(claim.family, c.family) << c.ua;
    EXPECT_EQ(claim.major_version, c.version) << c.ua;
  }
  EXPECT_TRUE(classifyUserAgent("Mozilla/5.0 HeadlessChrome/120.0 Safari/537.36").headless);
  EXPECT_STREQ(uaFamilyName(UaFamily::PythonRequests), "python_requests");
}

TEST(HttpFingerprint, HeaderNameCaseClasses) {
  EXPECT_EQ(headerNameCase("User-Agent"), 't');
  EXPECT_EQ(headerNameCase("Host"), 't');
  EXPECT_EQ(headerNameCase("X-Forwarded-For"), 't');
  EXPECT_EQ(headerNameCase("sec-ch-ua"), 'l');
  EXPECT_EQ(headerNameCase("DNT"), 'u');
  EXPECT_EQ(headerNameCase("ETag"), 'm');
  EXPECT_EQ(headerNameCase("user-Agent"), 'm');
  EXPECT_EQ(headerNameCase("X"), 't');
  EXPECT_EQ(headerNameCase("123"), 'm');
}

TEST(HttpFingerprint, RecordedCurlRequest) {
  HttpFingerprint fp = computeHttpFingerprint(recorded("curl.http"));
  EXPECT_EQ(fp.names, "Host,User-Agent,Accept");
  EXPECT_EQ(fp.case_pattern, "ttt");
  EXPECT_TRUE(fp.has_accept);
  EXPECT_FALSE(fp.has_accept_language);
  EXPECT_FALSE(fp.has_accept_encoding);
  EXPECT_EQ(fp.fingerprint.substr(0, 15), "11_AleUcr_03_t_");
  EXPECT_EQ(fp.fingerprint.size(), 27u);
}

TEST(HttpFingerprint, HashIsSha256OfTheNameList) {
  // echo -n "Host,User-Agent,Accept" | sha256sum
  HttpFingerprint fp = computeHttpFingerprint(recorded("curl.http"));
  EXPECT_EQ(fp.fingerprint.substr(15), "fe444ad14866");
}

TEST(HttpFingerprint, RecordedChromiumRequest) {
  HttpFingerprint fp = computeHttpFingerprint(recorded("chromium.http"));
  EXPECT_EQ(fp.names,
            "Host,Connection,sec-ch-ua,sec-ch-ua-mobile,sec-ch-ua-platform,"
            "Upgrade-Insecure-Requests,User-Agent,Accept,Sec-Fetch-Site,Sec-Fetch-Mode,"
            "Sec-Fetch-User,Sec-Fetch-Dest,Accept-Encoding,Accept-Language");
  EXPECT_EQ(fp.case_pattern, "ttllltttttttt" "t");
  EXPECT_EQ(fp.fingerprint.substr(0, 15), "11_ALEUcr_14_m_");
}

TEST(HttpFingerprint, CookieAndRefererOnlyCountAsFlags) {
  auto plain = computeHttpFingerprint(build({{"Host", "a"}, {"Accept", "*/*"}}));
  auto more = computeHttpFingerprint(
      build({{"Host", "a"}, {"Cookie", "s=1"}, {"Accept", "*/*"}, {"Referer", "http://a/"}}));
  EXPECT_EQ(plain.names, more.names);
  EXPECT_EQ(more.fingerprint.substr(0, 10), "11_AleuCR_");
  EXPECT_EQ(plain.fingerprint.substr(10), more.fingerprint.substr(10));
}

TEST(HttpFingerprint, OrderAndCaseChangeTheHash) {
  auto a = computeHttpFingerprint(build({{"Host", "a"}, {"Accept", "*/*"}}));
  auto b = computeHttpFingerprint(build({{"Accept", "*/*"}, {"Host", "a"}}));
  http::Request lower = build({{"host", "a"}, {"accept", "*/*"}});
  auto c = computeHttpFingerprint(lower);
  EXPECT_NE(a.fingerprint, b.fingerprint);
  EXPECT_NE(a.fingerprint, c.fingerprint);
  EXPECT_EQ(c.fingerprint.substr(13, 1), "l");
  EXPECT_EQ(computeHttpFingerprint(lower, true).fingerprint.substr(0, 3), "20_");
}

TEST(HttpFingerprint, NoHeadersGivesZeroHash) {
  http::Request r;
  r.version = http::Version::Http10;
  EXPECT_EQ(computeHttpFingerprint(r).fingerprint, "10_aleucr_00_-_000000000000");
}

// Real clients, recorded on Debian 12 (docs/fingerprints.md): each tells the
// truth about itself, so nothing may be reported.
TEST(UserAgentConsistency, RecordedClientsAreConsistent) {
  for (const char* file : {"curl.http", "wget.http", "pyrequests.http", "chromium.http",
                           "firefox.http"}) {
    EXPECT_EQ(check(recorded(file)), Names{}) << file;
  }
}

TEST(UserAgentConsistency, RecordedBrowsersWithTheirOwnTls) {
  TlsTraits firefox_tls;
  firefox_tls.offers_tls13 = firefox_tls.alpn_h2 = firefox_tls.has_alpn = true;
  firefox_tls.compress_certificate = firefox_tls.record_size_limit = true;
  EXPECT_EQ(check(recorded("firefox.http"), &firefox_tls), Names{});
  TlsTraits chrome = chromeTls();
  EXPECT_EQ(check(recorded("chromium.http"), &chrome), Names{});
}

struct BotCase {
  const char* name;
  std::vector<std::pair<std::string, std::string>> headers;
  bool with_tls;
  Names expected;
};

// TLS traits of a recorded ClientHello (testdata/*.hex, TLS records as hex).
TlsTraits recordedTls(const std::string& name) {
  std::ifstream in(std::string(MAMORI_GUARD_TESTDATA) + "/" + name);
  std::string hex;
  in >> hex;
  std::vector<std::uint8_t> records;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    records.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  auto msg = handshakeFromRecords(records);
  EXPECT_TRUE(msg.ok()) << name;
  auto hello = msg.ok() ? parseClientHello(*msg) : common::Result<ClientHello>(msg.error());
  EXPECT_TRUE(hello.ok()) << name;
  return hello.ok() ? tlsTraits(*hello) : TlsTraits{};
}

TEST(UserAgentConsistency, RecordedHeadersWithRecordedTls) {
  // Each real browser's request head with its own real hello is consistent.
  TlsTraits chromium = recordedTls("chromium_headless.hex");
  TlsTraits firefox = recordedTls("firefox_esr_headless.hex");
  TlsTraits curl = recordedTls("curl_7_88_sni.hex");
  EXPECT_EQ(check(recorded("chromium.http"), &chromium), Names{});
  EXPECT_EQ(check(recorded("firefox.http"), &firefox), Names{});
  EXPECT_EQ(check(recorded("curl.http"), &curl), Names{});
  // Chromium's exact headers replayed by a script over curl's TLS stack,
  // and Firefox's headers over Chromium's stack: the TLS gives them away.
  EXPECT_EQ(check(recorded("chromium.http"), &curl), Names{"ua_chrome_with_non_chrome_tls"});
  EXPECT_EQ(check(recorded("firefox.http"), &chromium),
            Names{"ua_firefox_with_non_firefox_tls"});
  // curl with a Chrome User-Agent: headers and TLS both contradict it.
  http::Request fake = recorded("curl.http");
  for (auto& h : fake.headers) {
    if (h.name == "User-Agent") h.value = kChromeUa;
  }
  EXPECT_EQ(check(fake, &curl),
            (Names{"ua_browser_without_accept_language", "ua_browser_without_accept_encoding",
                   "ua_chrome_without_client_hints", "ua_chrome_with_non_chrome_tls"}));
}

TEST(UserAgentConsistency, TableOfInconsistentClients) {
  TlsTraits openssl = opensslTls();
  const BotCase cases[] = {
      {"curl with a Chrome UA: curl's headers and TLS",
       {{"Host", "a"}, {"User-Agent", kChromeUa}, {"Accept", "*/*"}},
       true,
       {"ua_browser_without_accept_language", "ua_browser_without_accept_encoding",
        "ua_chrome_without_client_hints", "ua_chrome_with_non_chrome_tls"}},
      {"python-requests with a Chrome UA",
       {{"Host", "a"},
        {"User-Agent", kChromeUa},
        {"Accept-Encoding", "gzip, deflate"},
        {"Accept", "*/*"},
        {"Connection", "keep-alive"}},
       false,
       {"ua_browser_without_accept_language", "ua_browser_encoding_before_accept"}},
      {"Chrome UA with Firefox's header order",
       {{"Host", "a"},
        {"User-Agent", kChromeUa},
        {"Accept", "text/html"},
        {"Accept-Language", "en"},
        {"Accept-Encoding", "gzip"}},
       false,
       {"ua_chrome_language_before_encoding"}},
      {"Firefox UA with Chrome's order and client hints",
       {{"Host", "a"},
        {"sec-ch-ua", "\"Chromium\";v=\"156\""},
        {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0"},
        {"Accept", "text/html"},
        {"Accept-Encoding", "gzip"},
        {"Accept-Language", "en"}},
       false,
       {"ua_firefox_encoding_before_language", "ua_firefox_with_client_hints"}},
      {"lower-case HTTP/1.1 names with a Safari UA",
       {{"host", "a"},
        {"user-agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                       "(KHTML, like Gecko) Version/18.1 Safari/605.1.15"},
        {"accept", "*/*"},
        {"accept-language", "en"},
        {"accept-encoding", "gzip"}},
       false,
       {"ua_browser_lowercase_headers"}},
      {"Host not first",
       {{"User-Agent", kChromeUa},
        {"Host", "a"},
        {"Accept", "*/*"},
        {"Accept-Encoding", "gzip"},
        {"Accept-Language", "en"}},
       false,
       {"ua_browser_host_not_first"}},
      {"no User-Agent", {{"Host", "a"}, {"Accept", "*/*"}}, false, {"ua_missing"}},
      {"two User-Agents",
       {{"Host", "a"}, {"User-Agent", "curl/8.0"}, {"User-Agent", "curl/8.0"}},
       false,
       {"ua_multiple"}},
      {"tool UA: no browser expectations",
       {{"Host", "a"}, {"User-Agent", "Go-http-client/1.1"}, {"Accept-Encoding", "gzip"}},
       true,
       {}},
  };
  for (const auto& c : cases) {
    http::Request r = build(c.headers);
    EXPECT_EQ(check(r, c.with_tls ? &openssl : nullptr), c.expected) << c.name;
  }
}

TEST(UserAgentConsistency, TlsChecksPerBrowserFamily) {
  http::Request safari = build(
      {{"Host", "a"},
       {"User-Agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                      "(KHTML, like Gecko) Version/18.1 Safari/605.1.15"},
       {"Accept", "*/*"},
       {"Accept-Language", "en"},
       {"Accept-Encoding", "gzip"}});
  TlsTraits old_lib;  // TLS 1.2 only, no ALPN, no GREASE
  EXPECT_EQ(check(safari, &old_lib),
            (Names{"ua_browser_without_tls13", "ua_browser_without_alpn",
                   "ua_safari_with_non_safari_tls"}));
  TlsTraits chrome = chromeTls();
  EXPECT_EQ(check(safari, &chrome), Names{});

  http::Request firefox = recorded("firefox.http");
  EXPECT_TRUE(has(check(firefox, &chrome), "ua_firefox_with_non_firefox_tls"));
}

TEST(UserAgentConsistency, Http2SkipsCaseAndHostOrderChecks) {
  // HTTP/2 names are lower case by protocol and Host travels as :authority.
  // Built by hand: the HTTP/1 parser would reject the missing Host.
  http::Request r;
  r.headers = {{"user-agent", kChromeUa},
               {"sec-ch-ua", "\"Chromium\";v=\"156\""},
               {"accept", "*/*"},
               {"accept-encoding", "gzip"},
               {"accept-language", "en"}};
  TlsTraits chrome = chromeTls();
  EXPECT_EQ(check(r, &chrome, /*http2=*/true), Names{});
  EXPECT_TRUE(has(check(r, &chrome, /*http2=*/false), "ua_browser_lowercase_headers"));
}

}  // namespace
}  // namespace mamori::guard
