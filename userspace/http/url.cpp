#include "http/url.h"

#include "common/bytes16.h"
#include "http/syntax.h"

namespace mamori::http {

bool isTargetChar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    // unreserved
    case '-': case '.': case '_': case '~':
    // gen-delims without '#'
    case ':': case '/': case '?': case '[': case ']': case '@':
    // sub-delims
    case '!': case '$': case '&': case '\'': case '(': case ')':
    case '*': case '+': case ',': case ';': case '=':
    // pct-encoded introducer
    case '%':
      return true;
    default:
      return false;
  }
}

bool isValidPercentEncoding(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size()) return false;
    if (!syntax::isHexDigit(static_cast<unsigned char>(s[i + 1])) ||
        !syntax::isHexDigit(static_cast<unsigned char>(s[i + 2]))) {
      return false;
    }
    i += 2;
  }
  return true;
}

namespace {

// Decodes `in`; returns false at the first malformed escape when `strict`,
// otherwise copies it literally. Every form field and query argument goes
// through here, so runs without a '%' are copied 16 bytes a step.
bool decodeInto(std::string_view in, bool plus_as_space, bool strict, std::string* out) {
  out->resize(in.size());  // decoding never lengthens
  char* const begin = out->data();
  char* o = begin;
  std::size_t i = 0;
  // Up to here the loop goes byte by byte: the block that stopped the fast
  // path holds a '%' (and any escape that starts in it).
  std::size_t bytewise_until = 0;
  while (i < in.size()) {
    if (i >= bytewise_until) {
      const std::size_t copied =
          common::copyBlocksWithoutPercent(in.data() + i, in.size() - i, o, plus_as_space);
      o += copied;
      i += copied;
      bytewise_until = i + 16;
      if (i >= in.size()) break;
    }
    const char c = in[i];
    if (c == '%') {
      int hi = i + 1 < in.size() ? syntax::hexValue(static_cast<unsigned char>(in[i + 1])) : -1;
      int lo = i + 2 < in.size() ? syntax::hexValue(static_cast<unsigned char>(in[i + 2])) : -1;
      if (hi < 0 || lo < 0) {
        if (strict) return false;
        *o++ = c;
        ++i;
        continue;
      }
      *o++ = static_cast<char>((hi << 4) | lo);
      i += 3;
    } else {
      *o++ = c == '+' && plus_as_space ? ' ' : c;
      ++i;
    }
  }
  out->resize(static_cast<std::size_t>(o - begin));
  return true;
}

}  // namespace

common::Result<std::string> percentDecode(std::string_view in, bool plus_as_space) {
  std::string out;
  if (!decodeInto(in, plus_as_space, /*strict=*/true, &out)) {
    return common::Error{0, "percentDecode: '%' not followed by two hex digits"};
  }
  return out;
}

std::string percentDecodeLenient(std::string_view in, bool plus_as_space) {
  std::string out;
  decodeInto(in, plus_as_space, /*strict=*/false, &out);
  return out;
}

std::vector<QueryArg> parseQuery(std::string_view query) {
  std::vector<QueryArg> args;
  std::size_t start = 0;
  while (start <= query.size()) {
    std::size_t amp = query.find('&', start);
    std::size_t end = amp == std::string_view::npos ? query.size() : amp;
    std::string_view piece = query.substr(start, end - start);
    if (!piece.empty()) {
      std::size_t eq = piece.find('=');
      QueryArg arg;
      arg.name = percentDecodeLenient(piece.substr(0, eq), /*plus_as_space=*/true);
      if (eq != std::string_view::npos) {
        arg.value = percentDecodeLenient(piece.substr(eq + 1), /*plus_as_space=*/true);
      }
      args.push_back(std::move(arg));
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return args;
}

void parseCookieHeader(std::string_view value, std::vector<Cookie>* out) {
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t semi = value.find(';', start);
    std::size_t end = semi == std::string_view::npos ? value.size() : semi;
    std::string_view piece = syntax::trimOws(value.substr(start, end - start));
    if (!piece.empty()) {
      std::size_t eq = piece.find('=');
      Cookie cookie;
      if (eq == std::string_view::npos) {
        cookie.value.assign(piece);
      } else {
        cookie.name.assign(syntax::trimOws(piece.substr(0, eq)));
        cookie.value.assign(syntax::trimOws(piece.substr(eq + 1)));
      }
      out->push_back(std::move(cookie));
    }
    if (semi == std::string_view::npos) break;
    start = semi + 1;
  }
}

}  // namespace mamori::http
