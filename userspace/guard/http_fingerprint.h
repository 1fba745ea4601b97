#pragma once

// An HTTP request fingerprint of our own (not JA4H) and a check of the
// request's User-Agent claim against what its headers and, optionally, its
// TLS hello show. A bot that copies Chrome's User-Agent string rarely copies
// Chrome's header order, header case, Accept-* headers and TLS stack as
// well; each mismatch is reported by name so the bot detector can score it
// and the BOT log can say why.
//
// Pure functions over http::Request: no I/O, no locks, no state. Any
// thread. Formats are in docs/fingerprints.md.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "guard/tls_fingerprint.h"
#include "http/types.h"

namespace mamori::guard {

// The client family a User-Agent string claims. Chromium covers Chrome,
// Chromium and HeadlessChrome; Edge and Opera are Chromium-based and get
// their own value for logs but the Chromium checks. iOS browsers
// (CriOS, FxiOS, EdgiOS) must use WebKit and Apple's TLS stack, so they are
// classified Safari.
enum class UaFamily : std::uint8_t {
  None,  // no User-Agent header, or an empty one
  Chromium,
  Edge,
  Opera,
  Firefox,
  Safari,
  Curl,
  Wget,
  PythonRequests,
  PythonUrllib,
  GoHttpClient,
  Other,
};

// Stable snake_case name ("chromium", "python_requests"), for logs and
// metric labels. Never null. Any thread.
const char* uaFamilyName(UaFamily family);

struct UserAgentClaim {
  UaFamily family = UaFamily::None;
  int major_version = 0;  // e.g. 156 from "Chrome/156.0.0.0"; 0 when unknown
  bool headless = false;  // "HeadlessChrome": automation, though a real engine

  bool browser() const {
    return family == UaFamily::Chromium || family == UaFamily::Edge ||
           family == UaFamily::Opera || family == UaFamily::Firefox ||
           family == UaFamily::Safari;
  }
  bool chromiumBased() const {
    return family == UaFamily::Chromium || family == UaFamily::Edge || family == UaFamily::Opera;
  }
};

// Classifies a User-Agent value by its product tokens. Never fails: an
// unrecognised string is UaFamily::Other, an empty one UaFamily::None.
UserAgentClaim classifyUserAgent(std::string_view user_agent);

// Case class of one header name: 't' Title-Case ("User-Agent"), 'l' all
// lower ("sec-ch-ua"), 'u' all upper ("DNT"), 'm' anything else ("ETag").
char headerNameCase(std::string_view name);

// The request's header fingerprint. Cookie and Referer are left out of the
// ordered name list (only their presence is recorded) because they come
// and go between requests of the same client.
struct HttpFingerprint {
  std::string names;         // names as sent (original case), in order, ','-joined
  std::string case_pattern;  // one headerNameCase() letter per name in `names`
  std::size_t name_count = 0;  // entries in `names`
  bool has_accept = false;
  bool has_accept_language = false;
  bool has_accept_encoding = false;
  bool has_user_agent = false;
  bool has_cookie = false;
  bool has_referer = false;
  // "<ver>_<flags>_<count>_<case>_<hash>", e.g. "11_ALEUcr_13_m_0c2b6f0e8a41":
  //   ver   "10", "11" or "20" (HTTP/2)
  //   flags A L E U C R for Accept, Accept-Language, Accept-Encoding,
  //         User-Agent, Cookie, Referer: upper case when present, lower when not
  //   count name_count, two digits, capped at 99
  //   case  't' all Title-Case, 'l' all lower, 'm' mixed ('-' without names)
  //   hash  first 12 hex digits of SHA-256 over `names`, or twelve '0' if empty
  std::string fingerprint;
};

// Fingerprints `request`. `http2` marks a request that arrived over HTTP/2
// (names are lower case there by protocol, RFC 9113 §8.2.2). Never fails.
HttpFingerprint computeHttpFingerprint(const http::Request& request, bool http2 = false);

// Named mismatches between the User-Agent claim and the rest of the
// request, as stable snake_case strings (static storage):
//   any UA      ua_missing, ua_multiple
//   browsers    ua_browser_without_accept, ua_browser_without_accept_language,
//               ua_browser_without_accept_encoding, ua_browser_encoding_before_accept,
//               ua_browser_host_not_first (HTTP/1 only),
//               ua_browser_lowercase_headers (HTTP/1 only)
//   Chromium    ua_chrome_language_before_encoding,
//               ua_chrome_without_client_hints (only with TLS, Chrome >= 90)
//   Firefox     ua_firefox_encoding_before_language, ua_firefox_with_client_hints
//   Safari      ua_safari_with_client_hints
//   with `tls`  ua_browser_without_tls13, ua_browser_without_alpn,
//               ua_chrome_with_non_chrome_tls, ua_firefox_with_non_firefox_tls,
//               ua_safari_with_non_safari_tls
// `tls` is null for plain-HTTP requests (or when the hello did not parse).
// An empty result means nothing contradicts the claim, not that the client
// is human. Never fails.
std::vector<std::string_view> checkUserAgentConsistency(const http::Request& request,
                                                        const HttpFingerprint& fingerprint,
                                                        const TlsTraits* tls,
                                                        bool http2 = false);

}  // namespace mamori::guard
