#include "guard/http_fingerprint.h"

#include <openssl/evp.h>

#include <array>
#include <charconv>
#include <optional>

namespace mamori::guard {

namespace {

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

bool contains(std::string_view s, std::string_view needle) {
  return s.find(needle) != std::string_view::npos;
}

// The leading decimal number after `token` in `ua` ("Chrome/" → 156), or 0.
int versionAfter(std::string_view ua, std::string_view token) {
  auto pos = ua.find(token);
  if (pos == std::string_view::npos) return 0;
  std::string_view rest = ua.substr(pos + token.size());
  int value = 0;
  auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
  if (ec != std::errc() || ptr == rest.data()) return 0;
  return value;
}

bool isUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool isLower(char c) { return c >= 'a' && c <= 'z'; }

std::string sha256Prefix12(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  // Fails only with a broken OpenSSL install; the fingerprint then shows
  // the empty-list hash rather than a wrong one.
  if (EVP_Digest(text.data(), text.size(), out.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len < 6) {
    return "000000000000";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < 6; ++i) {
    hex.push_back(kHex[out[i] >> 4]);
    hex.push_back(kHex[out[i] & 0x0f]);
  }
  return hex;
}

// Position of the first header called `name` (case-insensitive), or nullopt.
std::optional<std::size_t> indexOf(const std::vector<http::Header>& headers,
                                   std::string_view name) {
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (http::equalsIgnoreCase(headers[i].name, name)) return i;
  }
  return std::nullopt;
}

// True when both headers are present and `first` comes before `second`.
bool before(const std::vector<http::Header>& headers, std::string_view first,
            std::string_view second) {
  auto a = indexOf(headers, first);
  auto b = indexOf(headers, second);
  return a && b && *a < *b;
}

}  // namespace

const char* uaFamilyName(UaFamily family) {
  switch (family) {
    case UaFamily::None: return "none";
    case UaFamily::Chromium: return "chromium";
    case UaFamily::Edge: return "edge";
    case UaFamily::Opera: return "opera";
    case UaFamily::Firefox: return "firefox";
    case UaFamily::Safari: return "safari";
    case UaFamily::Curl: return "curl";
    case UaFamily::Wget: return "wget";
    case UaFamily::PythonRequests: return "python_requests";
    case UaFamily::PythonUrllib: return "python_urllib";
    case UaFamily::GoHttpClient: return "go_http_client";
    case UaFamily::Other: return "other";
  }
  return "other";
}

UserAgentClaim classifyUserAgent(std::string_view ua) {
  UserAgentClaim claim;
  if (ua.empty()) return claim;
  // Tools first: their product token leads the string.
  struct Tool {
    std::string_view prefix;
    UaFamily family;
  };
  static constexpr Tool kTools[] = {
      {"curl/", UaFamily::Curl},
      {"Wget/", UaFamily::Wget},
      {"python-requests/", UaFamily::PythonRequests},
      {"Python-urllib/", UaFamily::PythonUrllib},
      {"Go-http-client/", UaFamily::GoHttpClient},
  };
  for (const auto& tool : kTools) {
    if (startsWith(ua, tool.prefix)) {
      claim.family = tool.family;
      claim.major_version = versionAfter(ua, tool.prefix);
      return claim;
    }
  }
  // Browsers. Order matters: Edge and Opera also say "Chrome/", Chrome
  // also says "Safari/", iOS browsers say "Safari/" with their own token.
  if (contains(ua, "CriOS/") || contains(ua, "FxiOS/") || contains(ua, "EdgiOS/")) {
    claim.family = UaFamily::Safari;
    claim.major_version = versionAfter(ua, "Version/");
  } else if (contains(ua, "Edg/")) {
    claim.family = UaFamily::Edge;
    claim.major_version = versionAfter(ua, "Edg/");
  } else if (contains(ua, "OPR/")) {
    claim.family = UaFamily::Opera;
    claim.major_version = versionAfter(ua, "Chrome/");
  } else if (contains(ua, "HeadlessChrome/")) {
    claim.family = UaFamily::Chromium;
    claim.headless = true;
    claim.major_version = versionAfter(ua, "HeadlessChrome/");
  } else if (contains(ua, "Chrome/") || contains(ua, "Chromium/")) {
    claim.family = UaFamily::Chromium;
    claim.major_version = contains(ua, "Chrome/") ? versionAfter(ua, "Chrome/")
                                                  : versionAfter(ua, "Chromium/");
  } else if (contains(ua, "Firefox/") && contains(ua, "Gecko/")) {
    claim.family = UaFamily::Firefox;
    claim.major_version = versionAfter(ua, "Firefox/");
  } else if (contains(ua, "Safari/") && contains(ua, "Version/") && contains(ua, "AppleWebKit/")) {
    claim.family = UaFamily::Safari;
    claim.major_version = versionAfter(ua, "Version/");
  } else {
    claim.family = UaFamily::Other;
  }
  // Chromium-based UAs give the engine version after "Chrome/"; keep that
  // for Edge too, since the checks key on engine behaviour.
  if (claim.family == UaFamily::Edge) claim.major_version = versionAfter(ua, "Chrome/");
  return claim;
}

char headerNameCase(std::string_view name) {
  bool any_letter = false;
  bool all_lower = true;
  bool all_upper = true;
  bool title = true;
  bool segment_start = true;
  for (char c : name) {
    if (c == '-') {
      segment_start = true;
      continue;
    }
    bool upper = isUpper(c);
    bool lower = isLower(c);
    if (upper || lower) any_letter = true;
    if (upper) all_lower = false;
    if (lower) all_upper = false;
    if (segment_start ? lower : upper) title = false;
    segment_start = false;
  }
  if (!any_letter) return 'm';
  if (title) return 't';  // before 'u': "X" or "X-Y" read as Title-Case
  if (all_lower) return 'l';
  if (all_upper) return 'u';
  return 'm';
}

HttpFingerprint computeHttpFingerprint(const http::Request& request, bool http2) {
  HttpFingerprint fp;
  bool any_title = false;
  bool any_lower = false;
  bool any_other = false;
  for (const auto& h : request.headers) {
    if (http::equalsIgnoreCase(h.name, "Accept")) fp.has_accept = true;
    if (http::equalsIgnoreCase(h.name, "Accept-Language")) fp.has_accept_language = true;
    if (http::equalsIgnoreCase(h.name, "Accept-Encoding")) fp.has_accept_encoding = true;
    if (http::equalsIgnoreCase(h.name, "User-Agent")) fp.has_user_agent = true;
    if (http::equalsIgnoreCase(h.name, "Cookie")) {
      fp.has_cookie = true;
      continue;
    }
    if (http::equalsIgnoreCase(h.name, "Referer")) {
      fp.has_referer = true;
      continue;
    }
    if (fp.name_count != 0) fp.names.push_back(',');
    fp.names += h.name;
    char c = headerNameCase(h.name);
    fp.case_pattern.push_back(c);
    (c == 't' ? any_title : c == 'l' ? any_lower : any_other) = true;
    ++fp.name_count;
  }

  std::string& out = fp.fingerprint;
  out = http2 ? "20" : request.version == http::Version::Http10 ? "10" : "11";
  out.push_back('_');
  auto flag = [&out](bool present, char letter) {
    out.push_back(present ? letter : static_cast<char>(letter - 'A' + 'a'));
  };
  flag(fp.has_accept, 'A');
  flag(fp.has_accept_language, 'L');
  flag(fp.has_accept_encoding, 'E');
  flag(fp.has_user_agent, 'U');
  flag(fp.has_cookie, 'C');
  flag(fp.has_referer, 'R');
  out.push_back('_');
  std::size_t count = fp.name_count > 99 ? 99 : fp.name_count;
  out.push_back(static_cast<char>('0' + count / 10));
  out.push_back(static_cast<char>('0' + count % 10));
  out.push_back('_');
  if (fp.name_count == 0) {
    out.push_back('-');
  } else if (any_title && !any_lower && !any_other) {
    out.push_back('t');
  } else if (any_lower && !any_title && !any_other) {
    out.push_back('l');
  } else {
    out.push_back('m');
  }
  out.push_back('_');
  out += fp.names.empty() ? std::string("000000000000") : sha256Prefix12(fp.names);
  return fp;
}

std::vector<std::string_view> checkUserAgentConsistency(const http::Request& request,
                                                        const HttpFingerprint& fp,
                                                        const TlsTraits* tls, bool http2) {
  std::vector<std::string_view> found;
  const auto& headers = request.headers;
  std::size_t ua_count = http::countHeader(headers, "User-Agent");
  if (ua_count > 1) found.push_back("ua_multiple");
  auto ua = request.header("User-Agent");
  if (!ua || ua->empty()) {
    found.push_back("ua_missing");
    return found;
  }
  UserAgentClaim claim = classifyUserAgent(*ua);
  if (!claim.browser()) return found;

  // Every current browser sends all three on a navigation and on
  // subresource requests; HTTP libraries often leave out Accept-Language.
  if (!fp.has_accept) found.push_back("ua_browser_without_accept");
  if (!fp.has_accept_language) found.push_back("ua_browser_without_accept_language");
  if (!fp.has_accept_encoding) found.push_back("ua_browser_without_accept_encoding");
  // python-requests puts Accept-Encoding before Accept; browsers never do.
  if (before(headers, "Accept-Encoding", "Accept")) {
    found.push_back("ua_browser_encoding_before_accept");
  }
  if (!http2) {
    // HTTP/1.1 browsers write Host first and standard names in Title-Case;
    // many scripted clients (Node, Go with custom headers) write them lower.
    if (!headers.empty() && !http::equalsIgnoreCase(headers.front().name, "Host")) {
      found.push_back("ua_browser_host_not_first");
    }
    if (fp.name_count > 0 && fp.case_pattern.find_first_not_of('l') == std::string::npos) {
      found.push_back("ua_browser_lowercase_headers");
    }
  }

  bool client_hints = http::findHeader(headers, "sec-ch-ua").has_value();
  if (claim.chromiumBased()) {
    // Chromium sends "Accept-Encoding" then "Accept-Language", on HTTP/1.1
    // and HTTP/2 alike.
    if (before(headers, "Accept-Language", "Accept-Encoding")) {
      found.push_back("ua_chrome_language_before_encoding");
    }
    // Chromium 89+ sends the low-entropy client hints (sec-ch-ua) to every
    // secure origin. Checked only on TLS so plain-HTTP sites never trip it.
    if (tls != nullptr && claim.major_version >= 90 && !client_hints) {
      found.push_back("ua_chrome_without_client_hints");
    }
  } else if (claim.family == UaFamily::Firefox) {
    if (before(headers, "Accept-Encoding", "Accept-Language")) {
      found.push_back("ua_firefox_encoding_before_language");
    }
    if (client_hints) found.push_back("ua_firefox_with_client_hints");
  } else if (claim.family == UaFamily::Safari) {
    if (client_hints) found.push_back("ua_safari_with_client_hints");
  }

  if (tls != nullptr) {
    if (!tls->offers_tls13) found.push_back("ua_browser_without_tls13");
    if (!tls->has_alpn) found.push_back("ua_browser_without_alpn");
    if (claim.chromiumBased()) {
      // BoringSSL has sent GREASE since Chrome 55 and brotli certificate
      // compression since Chrome 70; OpenSSL-based tools send neither.
      if (!tls->grease || !tls->compress_certificate) {
        found.push_back("ua_chrome_with_non_chrome_tls");
      }
    } else if (claim.family == UaFamily::Firefox) {
      // NSS has sent record_size_limit since Firefox 65; ALPS is
      // Chromium-only.
      if (!tls->record_size_limit || tls->alps) found.push_back("ua_firefox_with_non_firefox_tls");
    } else if (claim.family == UaFamily::Safari) {
      // Apple's TLS stack sends GREASE.
      if (!tls->grease) found.push_back("ua_safari_with_non_safari_tls");
    }
  }
  return found;
}

}  // namespace mamori::guard
