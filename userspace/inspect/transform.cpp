#include "inspect/transform.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "common/bytes16.h"

namespace mamori::inspect {
namespace {

int hexValue(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool isHex(unsigned char c) { return hexValue(c) >= 0; }

bool isSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

unsigned char lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c + 32) : c;
}

// Appends code point `cp` as UTF-8. Full-width ASCII (U+FF01..U+FF5E) and
// the ideographic space fold straight to ASCII, because that is what IIS
// and many decoders downstream of us do with them. Surrogates and values
// past U+10FFFF are not characters: they become '?' rather than invalid
// UTF-8 that later transforms would have to guess about.
// Writes code point `cp` (folded as above) to `buf`; returns its length, 1..4.
size_t encodeCodePoint(std::uint32_t cp, char* buf) {
  if (cp >= 0xFF01 && cp <= 0xFF5E) cp -= 0xFEE0;
  if (cp == 0x3000) cp = ' ';
  if (cp < 0x80) {
    buf[0] = static_cast<char>(cp);
    return 1;
  }
  if (cp < 0x800) {
    buf[0] = static_cast<char>(0xC0 | (cp >> 6));
    buf[1] = static_cast<char>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp >= 0xD800 && cp <= 0xDFFF) {
    buf[0] = '?';
    return 1;
  }
  if (cp < 0x10000) {
    buf[0] = static_cast<char>(0xE0 | (cp >> 12));
    buf[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    buf[2] = static_cast<char>(0x80 | (cp & 0x3F));
    return 3;
  }
  if (cp <= 0x10FFFF) {
    buf[0] = static_cast<char>(0xF0 | (cp >> 18));
    buf[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    buf[3] = static_cast<char>(0x80 | (cp & 0x3F));
    return 4;
  }
  buf[0] = '?';
  return 1;
}

void appendCodePoint(std::string& out, std::uint32_t cp) {
  char buf[4];
  out.append(buf, encodeCodePoint(cp, buf));
}

// --- scanning helpers ----------------------------------------------------------------
//
// Every transform below writes into a caller-owned `out` (capacity reused
// across calls) and returns whether the result differs from `in`. Most
// values reaching a transform have nothing for it to do, so each first
// looks for the bytes that could change anything (memchr is vectorised in
// glibc) and returns false without writing when there are none; where
// there is work, unchanged runs between special bytes are copied as spans
// instead of byte by byte. Measured on the 4 KiB form POST of
// bench/inspect/throughput, the byte-at-a-time versions spent a third of
// inspection time in std::string::push_back.

const char* findByte(const char* from, const char* end, char c) {
  if (from >= end) return end;
  const void* hit = std::memchr(from, c, static_cast<size_t>(end - from));
  return hit ? static_cast<const char*>(hit) : end;
}

// Appends in[i..] up to (not including) the next `c` to `out` in one
// copy; returns the index of that `c`, or in.size() when there is none.
size_t appendUntil(std::string_view in, size_t i, char c, std::string& out) {
  const char* from = in.data() + i;
  const char* next = findByte(from, in.data() + in.size(), c);
  out.append(from, static_cast<size_t>(next - from));
  return static_cast<size_t>(next - in.data());
}

bool hasByte(std::string_view in, char c) {
  return !in.empty() && std::memchr(in.data(), c, in.size()) != nullptr;
}

// Whether `out` (the slow path's result) differs from `in`: a transform
// that found special bytes may still have produced the same text ("100%"
// through url_decode), and callers rely on false meaning "identical".
bool differs(std::string_view in, const std::string& out) {
  return out.size() != in.size() || (!in.empty() && std::memcmp(in.data(), out.data(), in.size()) != 0);
}

using common::anyLane;
using common::Bytes16;

// Whether `pred(c, next)` holds for some byte c of `in` (next: the byte
// after it, 0 after the last). `pred` is generic: it is called on 16-byte
// vectors and, for the tail, on single bytes, so it must use only
// comparisons, '&' and '|'.
template <typename Pred>
bool anyByte(std::string_view in, Pred pred) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t n = in.size();
  size_t i = 0;
  for (; i + 17 <= n; i += 16) {
    Bytes16 c;
    Bytes16 next;
    std::memcpy(&c, p + i, 16);
    std::memcpy(&next, p + i + 1, 16);
    if (anyLane(reinterpret_cast<Bytes16>(pred(c, next)))) return true;
  }
  for (; i < n; ++i) {
    unsigned char next = i + 1 < n ? p[i + 1] : 0;
    if (pred(p[i], next)) return true;
  }
  return false;
}

// The first byte in [from, end) for which pred(c, next) holds, or `end`;
// the same contract for `pred` as anyByte. A block with a hit is searched
// again byte by byte, which keeps this independent of lane order.
template <typename Pred>
const char* findFirst(const char* from, const char* end, Pred pred) {
  const auto* p = reinterpret_cast<const unsigned char*>(from);
  size_t n = static_cast<size_t>(end - from);
  size_t i = 0;
  for (; i + 17 <= n; i += 16) {
    Bytes16 c;
    Bytes16 next;
    std::memcpy(&c, p + i, 16);
    std::memcpy(&next, p + i + 1, 16);
    if (anyLane(reinterpret_cast<Bytes16>(pred(c, next)))) break;
  }
  for (; i < n; ++i) {
    unsigned char next = i + 1 < n ? p[i + 1] : 0;
    if (pred(p[i], next)) return from + i;
  }
  return end;
}

constexpr auto kIsUpper = [](auto c, auto) { return (c >= 'A') & (c <= 'Z'); };

// --- the transforms ------------------------------------------------------------------

// One round of %XX / %uXXXX / '+' decoding. Never longer than its input
// ('+' is one byte, %XX three for one, %uXXXX six for at most three), so
// it writes through a pointer into `out` sized to `in`.
bool urlDecode(std::string_view in, std::string& out) {
  if (!hasByte(in, '%') && !hasByte(in, '+')) return false;
  out.resize(in.size());
  char* const begin = out.data();
  char* o = begin;
  size_t i = 0;
  // Bytes up to which the loop goes one byte at a time: a block holding a
  // '%' is decoded bytewise (with any escape that starts in it).
  size_t bytewise_until = 0;
  while (i < in.size()) {
    // 16 bytes at a time while a block holds no '%'.
    if (i >= bytewise_until) {
      const size_t copied =
          common::copyBlocksWithoutPercent(in.data() + i, in.size() - i, o, /*plus_as_space=*/true);
      o += copied;
      i += copied;
      bytewise_until = i + 16;
      if (i >= in.size()) break;
    }
    char c = in[i];
    if (c != '%' && c != '+') {
      *o++ = c;
      ++i;
    } else if (c == '+') {
      *o++ = ' ';
      ++i;
    } else if (i + 2 < in.size() && isHex(in[i + 1]) && isHex(in[i + 2])) {
      *o++ = static_cast<char>(hexValue(in[i + 1]) * 16 + hexValue(in[i + 2]));
      i += 3;
    } else if (i + 5 < in.size() && (in[i + 1] == 'u' || in[i + 1] == 'U') &&
               isHex(in[i + 2]) && isHex(in[i + 3]) && isHex(in[i + 4]) && isHex(in[i + 5])) {
      std::uint32_t cp = 0;
      for (size_t k = 2; k < 6; ++k) cp = cp * 16 + static_cast<std::uint32_t>(hexValue(in[i + k]));
      o += encodeCodePoint(cp, o);
      i += 6;
    } else {
      *o++ = '%';
      ++i;
    }
  }
  out.resize(static_cast<size_t>(o - begin));
  return differs(in, out);
}

// Up to four rounds, stopping at the first that changes nothing. Two
// buffers swap roles between rounds; the spare one is per thread so a
// request does not allocate it again for every value.
bool urlDecodeUni(std::string_view in, std::string& out) {
  if (!urlDecode(in, out)) return false;
  thread_local std::string spare;
  for (int round = 1; round < 4; ++round) {
    if (!urlDecode(out, spare)) break;
    out.swap(spare);
  }
  return true;
}

struct NamedEntity {
  std::string_view name;
  char value;
};

// The entities that matter for smuggling markup and script text past a
// filter: the XML five, whitespace, and the HTML5 names of punctuation
// that scripts and paths are built from. Case-sensitive, as in HTML.
constexpr NamedEntity kEntities[] = {
    {"lt", '<'},      {"gt", '>'},       {"amp", '&'},     {"quot", '"'},   {"apos", '\''},
    {"nbsp", ' '},    {"Tab", '\t'},     {"NewLine", '\n'}, {"colon", ':'}, {"semi", ';'},
    {"lpar", '('},    {"rpar", ')'},     {"sol", '/'},     {"bsol", '\\'},  {"equals", '='},
    {"plus", '+'},    {"num", '#'},      {"excl", '!'},    {"comma", ','},  {"period", '.'},
    {"grave", '`'},   {"lsqb", '['},     {"rsqb", ']'},    {"lbrack", '['}, {"rbrack", ']'},
    {"lcub", '{'},    {"rcub", '}'},     {"lbrace", '{'},  {"rbrace", '}'}, {"vert", '|'},
    {"dollar", '$'},  {"percnt", '%'},   {"ast", '*'},     {"quest", '?'},  {"commat", '@'},
    {"Hat", '^'},     {"lowbar", '_'},   {"hyphen", '-'},  {"dash", '-'},   {"QUOT", '"'},
    {"LT", '<'},      {"GT", '>'},       {"AMP", '&'},
};

bool htmlEntityDecode(std::string_view in, std::string& out) {
  if (!hasByte(in, '&')) return false;
  out.clear();
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    if (in[i] != '&') {
      i = appendUntil(in, i, '&', out);
      continue;
    }
    size_t j = i + 1;
    if (j < in.size() && in[j] == '#') {
      ++j;
      bool hex = j < in.size() && (in[j] == 'x' || in[j] == 'X');
      if (hex) ++j;
      size_t digits_start = j;
      std::uint32_t cp = 0;
      bool overflow = false;
      while (j < in.size() && (hex ? isHex(in[j]) : (in[j] >= '0' && in[j] <= '9'))) {
        cp = cp * (hex ? 16 : 10) +
             static_cast<std::uint32_t>(hex ? hexValue(in[j]) : in[j] - '0');
        if (cp > 0x10FFFF) {  // keep bounded: "&#99999999999;" must not wrap
          overflow = true;
          cp = 0x110000;
        }
        ++j;
      }
      if (j == digits_start) {  // "&#" or "&#x" without digits: literal
        out += in[i++];
        continue;
      }
      if (j < in.size() && in[j] == ';') ++j;
      appendCodePoint(out, overflow ? 0x110000 : cp);
      i = j;
      continue;
    }
    size_t name_start = j;
    while (j < in.size() && j - name_start < 8 &&
           ((in[j] >= 'a' && in[j] <= 'z') || (in[j] >= 'A' && in[j] <= 'Z'))) {
      ++j;
    }
    std::string_view name = in.substr(name_start, j - name_start);
    bool done = false;
    // Longest known name that prefixes what follows: "&ltscript" is "<script"
    // in browsers' legacy parsing for the XML five.
    for (const auto& entity : kEntities) {
      if (name == entity.name) {
        out += entity.value;
        i = (j < in.size() && in[j] == ';') ? j + 1 : j;
        done = true;
        break;
      }
    }
    if (!done) {
      for (std::string_view legacy : {"lt", "gt", "amp", "quot"}) {
        if (name.size() > legacy.size() && name.substr(0, legacy.size()) == legacy) {
          for (const auto& entity : kEntities) {
            if (entity.name == legacy) out += entity.value;
          }
          i = name_start + legacy.size();
          done = true;
          break;
        }
      }
    }
    if (!done) out += in[i++];
  }
  return differs(in, out);
}

bool jsDecode(std::string_view in, std::string& out) {
  if (!hasByte(in, '\\')) return false;
  out.clear();
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    if (in[i] != '\\') {
      i = appendUntil(in, i, '\\', out);
      continue;
    }
    if (i + 1 >= in.size()) {
      out += in[i++];
      continue;
    }
    char c = in[i + 1];
    if (c == 'x' && i + 3 < in.size() && isHex(in[i + 2]) && isHex(in[i + 3])) {
      out += static_cast<char>(hexValue(in[i + 2]) * 16 + hexValue(in[i + 3]));
      i += 4;
    } else if (c == 'u' && i + 2 < in.size() && in[i + 2] == '{') {
      size_t j = i + 3;
      std::uint32_t cp = 0;
      while (j < in.size() && j - (i + 3) < 6 && isHex(in[j])) {
        cp = cp * 16 + static_cast<std::uint32_t>(hexValue(in[j]));
        ++j;
      }
      if (j > i + 3 && j < in.size() && in[j] == '}') {
        appendCodePoint(out, cp);
        i = j + 1;
      } else {
        out += in[i++];
      }
    } else if (c == 'u' && i + 5 < in.size() && isHex(in[i + 2]) && isHex(in[i + 3]) &&
               isHex(in[i + 4]) && isHex(in[i + 5])) {
      std::uint32_t cp = 0;
      for (size_t k = 2; k < 6; ++k) cp = cp * 16 + static_cast<std::uint32_t>(hexValue(in[i + k]));
      appendCodePoint(out, cp);
      i += 6;
    } else if (c >= '0' && c <= '7') {
      size_t j = i + 1;
      unsigned value = 0;
      while (j < in.size() && j - (i + 1) < 3 && in[j] >= '0' && in[j] <= '7' &&
             value * 8 + static_cast<unsigned>(in[j] - '0') <= 0377) {
        value = value * 8 + static_cast<unsigned>(in[j] - '0');
        ++j;
      }
      out += static_cast<char>(value);
      i = j;
    } else {
      switch (c) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        default: out += c; break;  // \\ \' \" \/ and unknown escapes: the char itself
      }
      i += 2;
    }
  }
  return differs(in, out);
}

bool cssDecode(std::string_view in, std::string& out) {
  if (!hasByte(in, '\\')) return false;
  out.clear();
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    if (in[i] != '\\') {
      i = appendUntil(in, i, '\\', out);
      continue;
    }
    if (i + 1 >= in.size()) {
      out += in[i++];
      continue;
    }
    size_t j = i + 1;
    std::uint32_t cp = 0;
    while (j < in.size() && j - (i + 1) < 6 && isHex(in[j])) {
      cp = cp * 16 + static_cast<std::uint32_t>(hexValue(in[j]));
      ++j;
    }
    if (j > i + 1) {
      appendCodePoint(out, cp == 0 ? 0x110000 : cp);  // NUL is not allowed: '?'
      if (j < in.size() && isSpace(in[j])) ++j;  // the one terminating whitespace
      i = j;
    } else if (in[i + 1] == '\n') {
      i += 2;  // line continuation
    } else {
      out += in[i + 1];
      i += 2;
    }
  }
  return differs(in, out);
}

int base64Value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

bool base64Decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size() * 3 / 4 + 1);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '=') break;
    int v = base64Value(c);
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return differs(in, out);
}

bool hexDecode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    if (i + 1 < in.size() && isHex(in[i]) && isHex(in[i + 1])) {
      out += static_cast<char>(hexValue(in[i]) * 16 + hexValue(in[i + 1]));
      i += 2;
    } else {
      out += in[i++];
    }
  }
  return differs(in, out);
}

bool lowercase(std::string_view in, std::string& out) {
  if (!anyByte(in, kIsUpper)) return false;
  out.assign(in);
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  size_t i = 0;
  for (; i + 16 <= out.size(); i += 16) {
    Bytes16 c;
    std::memcpy(&c, p + i, 16);
    c += reinterpret_cast<Bytes16>(kIsUpper(c, c) & 32);
    std::memcpy(p + i, &c, 16);
  }
  for (; i < out.size(); ++i) p[i] = lower(p[i]);
  return true;
}

bool normalizePath(std::string_view in, std::string& out) {
  bool absolute = !in.empty() && (in[0] == '/' || in[0] == '\\');
  bool trailing_slash = !in.empty() && (in.back() == '/' || in.back() == '\\');
  // Views into `in`; per thread so that a request does not allocate it anew.
  thread_local std::vector<std::string_view> segments;
  segments.clear();
  size_t kept_parents = 0;  // leading ".." segments that stay (climb above start)
  size_t i = 0;
  while (i <= in.size()) {
    const char* separator = findFirst(in.data() + i, in.data() + in.size(),
                                      [](auto c, auto) { return (c == '/') | (c == '\\'); });
    size_t j = static_cast<size_t>(separator - in.data());
    std::string_view segment = in.substr(i, j - i);
    // Windows ignores trailing dots and spaces in a name: "a.php." is a.php.
    if (segment != "." && segment != "..") {
      while (!segment.empty() && (segment.back() == '.' || segment.back() == ' ')) {
        segment.remove_suffix(1);
      }
    }
    if (segment.empty() || segment == ".") {
      // "//" and "./": nothing
    } else if (segment == "..") {
      if (segments.size() > kept_parents) {
        segments.pop_back();
      } else {
        segments.push_back("..");
        ++kept_parents;
      }
    } else {
      segments.push_back(segment);
    }
    if (j >= in.size()) break;
    i = j + 1;
  }
  out.clear();
  out.reserve(in.size());
  if (absolute) out += '/';
  for (size_t k = 0; k < segments.size(); ++k) {
    if (k) out += '/';
    out += segments[k];
  }
  if (trailing_slash && !segments.empty()) out += '/';
  return differs(in, out);
}

bool removeNulls(std::string_view in, std::string& out) {
  if (!hasByte(in, '\0')) return false;
  out.clear();
  out.reserve(in.size());
  const char* p = in.data();
  const char* end = p + in.size();
  while (p < end) {
    const char* next = findByte(p, end, '\0');
    out.append(p, static_cast<size_t>(next - p));
    p = next + (next < end ? 1 : 0);
  }
  return true;
}

bool removeComments(std::string_view in, std::string& out) {
  // Every comment opener ("/*", "<!--", "--", '#') contains '#', "/*" or
  // "--"; without them there is nothing to remove.
  auto opener = [](auto c, auto next) {
    return (c == '#') | ((c == '-') & (next == '-')) | ((c == '/') & (next == '*'));
  };
  if (!anyByte(in, opener)) return false;
  out.clear();
  out.reserve(in.size());
  size_t i = 0;
  auto skipTo = [&](std::string_view end, size_t from) {
    size_t pos = in.find(end, from);
    return pos == std::string_view::npos ? in.size() : pos + end.size();
  };
  while (i < in.size()) {
    // Up to the next byte that could open a comment ("<!" for "<!--").
    const char* next = findFirst(in.data() + i, in.data() + in.size(), [](auto c, auto n) {
      return (c == '#') | ((c == '-') & (n == '-')) | ((c == '/') & (n == '*')) |
             ((c == '<') & (n == '!'));
    });
    size_t run = static_cast<size_t>(next - (in.data() + i));
    out.append(in.data() + i, run);
    i += run;
    if (i >= in.size()) break;
    std::string_view rest = in.substr(i);
    if (rest.substr(0, 2) == "/*") {
      i = skipTo("*/", i + 2);
      out += ' ';
    } else if (rest.substr(0, 4) == "<!--") {
      i = skipTo("-->", i + 4);
      out += ' ';
    } else if (rest.substr(0, 2) == "--" || rest[0] == '#') {
      size_t nl = in.find('\n', i);
      i = nl == std::string_view::npos ? in.size() : nl;
      out += ' ';
    } else {
      out += in[i++];
    }
  }
  return differs(in, out);
}

// The whitespace transforms and cmdline never make a value longer, so they
// write through a raw pointer into `out` sized to `in` and trim at the end.
bool compressWhitespace(std::string_view in, std::string& out) {
  // Unchanged when the only whitespace is single spaces.
  auto work = [](auto c, auto next) {
    return ((c >= '\t') & (c <= '\r')) | ((c == ' ') & (((next >= '\t') & (next <= '\r')) | (next == ' ')));
  };
  if (!anyByte(in, work)) return false;
  out.resize(in.size());
  char* o = out.data();
  bool in_space = false;
  for (char c : in) {
    if (isSpace(static_cast<unsigned char>(c))) {
      if (!in_space) *o++ = ' ';
      in_space = true;
    } else {
      *o++ = c;
      in_space = false;
    }
  }
  out.resize(static_cast<size_t>(o - out.data()));
  return differs(in, out);
}

// What cmdLine and removeWhitespace do with each byte, one table lookup:
// both walk whole values byte by byte (the 4 KiB benchmark request's two
// 3.3 KB values each time), where chains of comparisons cost more.
constexpr std::uint8_t kCmdKeep = 0;
constexpr std::uint8_t kCmdDrop = 1;       // \ " ' ^: the shell removes them
constexpr std::uint8_t kCmdSeparator = 2;  // , ; and whitespace: one space at most
struct CmdClasses {
  constexpr CmdClasses() {
    for (unsigned c = 0; c < 256; ++c) {
      const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
      if (c == '\\' || c == '"' || c == '\'' || c == '^') {
        of[c] = kCmdDrop;
      } else if (c == ',' || c == ';' || space) {
        of[c] = kCmdSeparator;
      } else {
        of[c] = kCmdKeep;
      }
      not_space[c] = space ? 0 : 1;
      lower[c] = static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
  }
  std::uint8_t of[256] = {};
  std::uint8_t not_space[256] = {};
  char lower[256] = {};
};
constexpr CmdClasses kCmdClasses;

bool removeWhitespace(std::string_view in, std::string& out) {
  if (!anyByte(in, [](auto c, auto) { return ((c >= '\t') & (c <= '\r')) | (c == ' '); })) return false;
  out.resize(in.size());
  char* o = out.data();
  for (char c : in) {
    *o = c;  // branch-free: written always, kept when not whitespace
    o += kCmdClasses.not_space[static_cast<unsigned char>(c)];
  }
  out.resize(static_cast<size_t>(o - out.data()));
  return true;
}

// What a shell does not care about but a signature does: "c^a\t\"t\" /etc/passwd"
// and "cat /etc/passwd" run the same program, so they should look the same.
// At most one byte is written per byte read (a pending space stands for a
// separator that was skipped), so `out` never outgrows `in`.
bool cmdLine(std::string_view in, std::string& out) {
  out.resize(in.size());
  char* const begin = out.data();
  char* o = begin;
  bool pending_space = false;
  for (char ch : in) {
    unsigned char c = static_cast<unsigned char>(ch);
    const std::uint8_t k = kCmdClasses.of[c];
    if (k == kCmdDrop) continue;
    if (k == kCmdSeparator) {
      pending_space = true;
      continue;
    }
    if (pending_space && c != '/' && c != '(' && o != begin) *o++ = ' ';
    pending_space = false;
    *o++ = kCmdClasses.lower[c];
  }
  out.resize(static_cast<size_t>(o - begin));
  return differs(in, out);
}

bool utf8Fold(std::string_view in, std::string& out) {
  // Everything folded starts with a byte >= 0xC0: pure ASCII is unchanged.
  if (!anyByte(in, [](auto c, auto) { return c >= 0x80; })) return false;
  out.clear();
  out.reserve(in.size());
  auto cont = [&](size_t k) {
    return k < in.size() && (static_cast<unsigned char>(in[k]) & 0xC0) == 0x80;
  };
  size_t i = 0;
  while (i < in.size()) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    unsigned char c1 = i + 1 < in.size() ? static_cast<unsigned char>(in[i + 1]) : 0;
    unsigned char c2 = i + 2 < in.size() ? static_cast<unsigned char>(in[i + 2]) : 0;
    unsigned char c3 = i + 3 < in.size() ? static_cast<unsigned char>(in[i + 3]) : 0;
    if ((c == 0xC0 || c == 0xC1) && cont(i + 1)) {
      // Two-byte overlong form of an ASCII byte: C0 AE is '.'.
      out += static_cast<char>(((c & 0x1F) << 6) | (c1 & 0x3F));
      i += 2;
    } else if (c == 0xE0 && c1 >= 0x80 && c1 <= 0x9F && cont(i + 2)) {
      // Three-byte overlong form (of anything below U+0800).
      std::uint32_t cp = (static_cast<std::uint32_t>(c1 & 0x3F) << 6) | (c2 & 0x3F);
      appendCodePoint(out, cp);
      i += 3;
    } else if (c == 0xF0 && c1 >= 0x80 && c1 <= 0x8F && cont(i + 2) && cont(i + 3)) {
      std::uint32_t cp = (static_cast<std::uint32_t>(c1 & 0x3F) << 12) |
                         (static_cast<std::uint32_t>(c2 & 0x3F) << 6) | (c3 & 0x3F);
      appendCodePoint(out, cp);
      i += 4;
    } else if (c == 0xEF && ((c1 == 0xBC && c2 >= 0x81 && c2 <= 0xBF) ||
                             (c1 == 0xBD && c2 >= 0x80 && c2 <= 0x9E))) {
      // Full-width ASCII U+FF01..U+FF5E.
      std::uint32_t cp = 0xF000 | (static_cast<std::uint32_t>(c1 & 0x3F) << 6) | (c2 & 0x3F);
      out += static_cast<char>(cp - 0xFEE0);
      i += 3;
    } else if (c == 0xE3 && c1 == 0x80 && c2 == 0x80) {
      out += ' ';  // U+3000 ideographic space
      i += 3;
    } else if (c < 0x80) {
      // An ASCII run up to the next byte that could start a fold.
      size_t run = i + 1;
      while (run < in.size() && static_cast<unsigned char>(in[run]) < 0x80) ++run;
      out.append(in.data() + i, run - i);
      i = run;
    } else {
      out += static_cast<char>(c);
      ++i;
    }
  }
  return differs(in, out);
}

}  // namespace

bool transformInto(Transform transform, std::string_view in, std::string& out) {
  switch (transform) {
    case Transform::UrlDecode: return urlDecode(in, out);
    case Transform::UrlDecodeUni: return urlDecodeUni(in, out);
    case Transform::HtmlEntityDecode: return htmlEntityDecode(in, out);
    case Transform::JsDecode: return jsDecode(in, out);
    case Transform::CssDecode: return cssDecode(in, out);
    case Transform::Base64Decode: return base64Decode(in, out);
    case Transform::HexDecode: return hexDecode(in, out);
    case Transform::Lowercase: return lowercase(in, out);
    case Transform::NormalizePath: return normalizePath(in, out);
    case Transform::RemoveNulls: return removeNulls(in, out);
    case Transform::RemoveComments: return removeComments(in, out);
    case Transform::CompressWhitespace: return compressWhitespace(in, out);
    case Transform::RemoveWhitespace: return removeWhitespace(in, out);
    case Transform::CmdLine: return cmdLine(in, out);
    case Transform::Utf8Fold: return utf8Fold(in, out);
  }
  return false;
}

namespace {

constexpr std::uint32_t bit(Transform t) { return 1u << static_cast<unsigned>(t); }

// Per byte, the transforms that byte alone can set off (the fast "nothing
// to do" checks of each transform above, and for normalize_path and
// cmdline the bytes their loops act on). Pairs ("--", "/*", a space
// before whitespace) are handled in transformsThatMayChange.
struct TriggerTable {
  std::uint32_t bits[256] = {};
  constexpr TriggerTable() {
    auto add = [this](unsigned char c, std::uint32_t b) { bits[c] |= b; };
    add('%', bit(Transform::UrlDecode) | bit(Transform::UrlDecodeUni));
    add('+', bit(Transform::UrlDecode) | bit(Transform::UrlDecodeUni));
    add('&', bit(Transform::HtmlEntityDecode));
    add('\\', bit(Transform::JsDecode) | bit(Transform::CssDecode) | bit(Transform::NormalizePath) |
                   bit(Transform::CmdLine));
    for (int c = 'A'; c <= 'Z'; ++c) {
      add(static_cast<unsigned char>(c), bit(Transform::Lowercase) | bit(Transform::CmdLine));
    }
    // normalize_path: separators, and the trailing dots and spaces Windows drops.
    add('/', bit(Transform::NormalizePath));
    add('.', bit(Transform::NormalizePath));
    add(' ', bit(Transform::NormalizePath) | bit(Transform::RemoveWhitespace) | bit(Transform::CmdLine));
    add('\0', bit(Transform::RemoveNulls));
    add('#', bit(Transform::RemoveComments));
    for (int c = '\t'; c <= '\r'; ++c) {
      add(static_cast<unsigned char>(c), bit(Transform::CompressWhitespace) |
                                              bit(Transform::RemoveWhitespace) | bit(Transform::CmdLine));
    }
    for (unsigned char c : {'"', '\'', '^', ',', ';'}) add(c, bit(Transform::CmdLine));
    for (int c = 0x80; c <= 0xFF; ++c) add(static_cast<unsigned char>(c), bit(Transform::Utf8Fold));
  }
};

constexpr TriggerTable kTriggers;

}  // namespace

std::uint32_t transformsThatMayChange(std::string_view in) {
  std::uint32_t mask = bit(Transform::Base64Decode) | bit(Transform::HexDecode);
  unsigned char prev = 0;
  for (char ch : in) {
    auto c = static_cast<unsigned char>(ch);
    mask |= kTriggers.bits[c];
    if ((prev == '-' && c == '-') || (prev == '/' && c == '*')) mask |= bit(Transform::RemoveComments);
    if (prev == ' ' && (c == ' ' || (c >= '\t' && c <= '\r'))) mask |= bit(Transform::CompressWhitespace);
    prev = c;
  }
  return mask;
}

std::string applyTransform(Transform transform, std::string_view in) {
  std::string out;
  if (!transformInto(transform, in, out)) out.assign(in);
  return out;
}

std::string applyChain(const TransformChain& chain, std::string_view in) {
  std::string value(in);
  std::string next;
  for (Transform t : chain) {
    if (transformInto(t, value, next)) value.swap(next);
  }
  return value;
}

bool isValidUtf8(std::string_view in) {
  size_t i = 0;
  while (i < in.size()) {
    auto c = static_cast<unsigned char>(in[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      cp = c & 0x07;
    } else {
      return false;  // continuation byte first, C0/C1 overlong lead, or F5..FF
    }
    if (i + length > in.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      auto cc = static_cast<unsigned char>(in[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((length == 3 && cp < 0x800) || (length == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

std::string chainName(const TransformChain& chain) {
  if (chain.empty()) return "none";
  std::string out;
  for (Transform t : chain) {
    if (!out.empty()) out += ',';
    out += transformName(t);
  }
  return out;
}

}  // namespace mamori::inspect
