#include "guard/login_match.h"

#include <algorithm>
#include <cstring>
#include <optional>

namespace mamori::guard {

namespace {

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::optional<std::string> normalise(std::string_view raw, bool case_insensitive) {
  while (!raw.empty() && isSpace(raw.front())) raw.remove_prefix(1);
  while (!raw.empty() && isSpace(raw.back())) raw.remove_suffix(1);
  if (raw.empty()) return std::nullopt;
  std::string out(raw);
  if (case_insensitive) {
    for (char& c : out) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Decodes standard base64 (RFC 4648 §4, padding optional) until the first
// ':' of the decoded text, so the password part of a Basic credential is
// never decoded in full. nullopt on a bad character or without ':'.
std::optional<std::string> basicUserId(std::string_view b64) {
  std::string user;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : b64) {
    if (c == '=') break;
    const int v = base64Value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      const char byte = static_cast<char>((acc >> bits) & 0xff);
      acc &= (1u << bits) - 1;
      if (byte == ':') return user;
      user.push_back(byte);
    }
  }
  return std::nullopt;
}

std::optional<std::string> basicAuthUser(const http::Request& request) {
  auto auth = request.header("Authorization");
  if (!auth) return std::nullopt;
  std::string_view v = *auth;
  if (v.size() < 6 || !http::equalsIgnoreCase(v.substr(0, 5), "Basic") || !isSpace(v[5]))
    return std::nullopt;
  v.remove_prefix(6);
  while (!v.empty() && isSpace(v.front())) v.remove_prefix(1);
  return basicUserId(v);
}

// RFC 6901 segments of `pointer` ("/a~1b/c" -> {"a/b", "c"}); nullopt when it
// does not start with '/' or has a bad '~' escape.
std::optional<std::vector<std::string>> pointerSegments(std::string_view pointer) {
  if (pointer.empty() || pointer[0] != '/') return std::nullopt;
  std::vector<std::string> out;
  std::string seg;
  for (std::size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      out.push_back(std::move(seg));
      seg.clear();
      continue;
    }
    if (pointer[i] == '~') {
      if (i + 1 >= pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1'))
        return std::nullopt;
      seg.push_back(pointer[i + 1] == '0' ? '~' : '/');
      ++i;
      continue;
    }
    seg.push_back(pointer[i]);
  }
  return out;
}

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Matches `name` (from `pos`) against segments[k..]: each segment is either
// ".seg" (or "seg" at the start) or, when all digits, "[seg]".
bool matchSegments(std::string_view name, std::size_t pos,
                   const std::vector<std::string>& segments, std::size_t k) {
  if (k == segments.size()) return pos == name.size();
  const std::string& seg = segments[k];
  if (allDigits(seg)) {
    const std::string idx = "[" + seg + "]";
    if (name.compare(pos, idx.size(), idx) == 0 &&
        matchSegments(name, pos + idx.size(), segments, k + 1))
      return true;
  }
  std::size_t p = pos;
  if (p != 0) {
    if (p >= name.size() || name[p] != '.') return false;
    ++p;
  }
  if (name.compare(p, seg.size(), seg) != 0) return false;
  return matchSegments(name, p + seg.size(), segments, k + 1);
}

bool headerContains(const std::vector<http::Header>& headers, const HeaderTest& test) {
  for (const auto& h : headers) {
    if (http::equalsIgnoreCase(h.name, test.name) &&
        h.value.find(test.contains) != std::string::npos)
      return true;
  }
  return false;
}

// The response, with its JSON body parsed at most once for all rules.
struct ResponseView {
  int status;
  const std::vector<http::Header>& headers;
  std::string_view body;
  std::optional<http::ParsedBody> json;

  const http::ParsedBody& parsedJson() {
    // A body cut at 64 KiB parses as Truncated with the fields before the
    // cut, which is what a prefix can tell.
    if (!json) json = http::parseBody("application/json", body);
    return *json;
  }
};

bool matches(const OutcomeRule& rule, ResponseView& view) {
  if (!rule.statuses.empty() &&
      std::find(rule.statuses.begin(), rule.statuses.end(), view.status) == rule.statuses.end())
    return false;
  if (!rule.location_prefix.empty() || !rule.location_contains.empty()) {
    auto loc = http::findHeader(view.headers, "Location");
    if (!loc) return false;
    if (!rule.location_prefix.empty() && !loc->starts_with(rule.location_prefix)) return false;
    if (!rule.location_contains.empty() &&
        loc->find(rule.location_contains) == std::string_view::npos)
      return false;
  }
  if (rule.header && !headerContains(view.headers, *rule.header)) return false;
  if (!rule.body_contains.empty() && view.body.find(rule.body_contains) == std::string_view::npos)
    return false;
  if (rule.json) {
    const http::ParsedBody& parsed = view.parsedJson();
    if (parsed.kind != http::BodyKind::Json) return false;
    bool found = false;
    for (const auto& f : parsed.fields) {
      if (jsonFieldMatchesPointer(f.name, rule.json->pointer)) {
        found = f.value == rule.json->equals;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

std::string_view cut(std::string_view body) {
  return body.size() > kBodyPrefixBytes ? body.substr(0, kBodyPrefixBytes) : body;
}

}  // namespace

bool globMatch(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0;
  std::size_t star = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_t = t;
    } else if (star != std::string_view::npos) {
      // Let the last '*' swallow one more character and retry from there.
      p = star + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool pathMatches(PathMatch mode, std::string_view pattern, std::string_view path) {
  switch (mode) {
    case PathMatch::Exact: return path == pattern;
    case PathMatch::Prefix: return path.starts_with(pattern);
    case PathMatch::Glob: return globMatch(pattern, path);
  }
  return false;
}

std::optional<std::size_t> matchRoute(const std::vector<LoginRoute>& routes,
                                      const http::Request& request) {
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const LoginRoute& r = routes[i];
    if (request.method_name != r.method) continue;
    if (pathMatches(r.path_match, r.path, request.decoded_path)) return i;
  }
  return std::nullopt;
}

std::optional<std::string> extractUsername(const LoginRoute& route, const http::Request& request,
                                           bool case_insensitive,
                                           const http::ParsedBody* parsed) {
  if (route.username_source == UsernameSource::None) return std::nullopt;
  if (route.username_source == UsernameSource::BasicAuth) {
    auto user = basicAuthUser(request);
    if (!user) return std::nullopt;
    return normalise(*user, case_insensitive);
  }
  std::optional<http::ParsedBody> own;
  if (parsed == nullptr) {
    own = http::parseBody(request.header("Content-Type").value_or(std::string_view{}),
                          request.body);
    parsed = &*own;
  }
  if (route.username_source == UsernameSource::FormField) {
    if (parsed->kind != http::BodyKind::UrlEncoded && parsed->kind != http::BodyKind::Multipart)
      return std::nullopt;
    for (const auto& f : parsed->fields) {
      if (!f.is_file && f.name == route.username_field) return normalise(f.value, case_insensitive);
    }
    return std::nullopt;
  }
  if (parsed->kind != http::BodyKind::Json) return std::nullopt;
  for (const auto& f : parsed->fields) {
    if (jsonFieldMatchesPointer(f.name, route.username_field))
      return normalise(f.value, case_insensitive);
  }
  return std::nullopt;
}

bool jsonFieldMatchesPointer(std::string_view field_name, std::string_view pointer) {
  auto segments = pointerSegments(pointer);
  if (!segments) return false;
  return matchSegments(field_name, 0, *segments, 0);
}

bool ruleMatches(const OutcomeRule& rule, int status, const std::vector<http::Header>& headers,
                 std::string_view body_prefix) {
  ResponseView view{status, headers, cut(body_prefix), std::nullopt};
  return matches(rule, view);
}

Outcome classifyResponse(const LoginRoute& route, int status,
                         const std::vector<http::Header>& headers, std::string_view body_prefix) {
  ResponseView view{status, headers, cut(body_prefix), std::nullopt};
  for (const auto& rule : route.failure) {
    if (matches(rule, view)) return Outcome::Failed;
  }
  for (const auto& rule : route.success) {
    if (matches(rule, view)) return Outcome::Succeeded;
  }
  return Outcome::Unknown;
}

}  // namespace mamori::guard
