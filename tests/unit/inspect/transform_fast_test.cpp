// Property tests for the fast paths of transform.cpp: every transform must
// give byte-for-byte what the straightforward byte-at-a-time version gave
// before the fast paths (kept below as the reference, unchanged), on random
// inputs rich in the bytes the transforms care about, and transformInto must
// report "unchanged" exactly when the result equals its input.

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "inspect/transform.h"

namespace mamori::inspect {
namespace {
namespace reference {

using namespace std::string_literals;

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
void appendCodePoint(std::string& out, std::uint32_t cp) {
  if (cp >= 0xFF01 && cp <= 0xFF5E) cp -= 0xFEE0;
  if (cp == 0x3000) cp = ' ';
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp >= 0xD800 && cp <= 0xDFFF) {
    out += '?';
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp <= 0x10FFFF) {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += '?';
  }
}

std::string urlDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < in.size() && isHex(in[i + 1]) && isHex(in[i + 2])) {
      out += static_cast<char>(hexValue(in[i + 1]) * 16 + hexValue(in[i + 2]));
      i += 2;
    } else if (c == '%' && i + 5 < in.size() && (in[i + 1] == 'u' || in[i + 1] == 'U') &&
               isHex(in[i + 2]) && isHex(in[i + 3]) && isHex(in[i + 4]) && isHex(in[i + 5])) {
      std::uint32_t cp = 0;
      for (size_t k = 2; k < 6; ++k) cp = cp * 16 + static_cast<std::uint32_t>(hexValue(in[i + k]));
      appendCodePoint(out, cp);
      i += 5;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string urlDecodeUni(std::string_view in) {
  std::string current(in);
  for (int round = 0; round < 4; ++round) {
    std::string next = urlDecode(current);
    if (next == current) break;
    current = std::move(next);
  }
  return current;
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

std::string htmlEntityDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    if (in[i] != '&') {
      out += in[i++];
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
  return out;
}

std::string jsDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    if (in[i] != '\\' || i + 1 >= in.size()) {
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
  return out;
}

std::string cssDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    if (in[i] != '\\' || i + 1 >= in.size()) {
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
  return out;
}

int base64Value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

std::string base64Decode(std::string_view in) {
  std::string out;
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
  return out;
}

std::string hexDecode(std::string_view in) {
  std::string out;
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
  return out;
}

std::string lowercase(std::string_view in) {
  std::string out(in);
  for (char& c : out) c = static_cast<char>(lower(static_cast<unsigned char>(c)));
  return out;
}

std::string normalizePath(std::string_view in) {
  bool absolute = !in.empty() && (in[0] == '/' || in[0] == '\\');
  bool trailing_slash = !in.empty() && (in.back() == '/' || in.back() == '\\');
  std::vector<std::string> segments;
  size_t kept_parents = 0;  // leading ".." segments that stay (climb above start)
  size_t i = 0;
  while (i <= in.size()) {
    size_t j = i;
    while (j < in.size() && in[j] != '/' && in[j] != '\\') ++j;
    std::string segment(in.substr(i, j - i));
    // Windows ignores trailing dots and spaces in a name: "a.php." is a.php.
    if (segment != "." && segment != "..") {
      while (!segment.empty() && (segment.back() == '.' || segment.back() == ' ')) {
        segment.pop_back();
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
      segments.push_back(std::move(segment));
    }
    if (j >= in.size()) break;
    i = j + 1;
  }
  std::string out;
  out.reserve(in.size());
  if (absolute) out += '/';
  for (size_t k = 0; k < segments.size(); ++k) {
    if (k) out += '/';
    out += segments[k];
  }
  if (trailing_slash && !segments.empty()) out += '/';
  return out;
}

std::string removeNulls(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (char c : in) {
    if (c != '\0') out += c;
  }
  return out;
}

std::string removeComments(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  auto skipTo = [&](std::string_view end, size_t from) {
    size_t pos = in.find(end, from);
    return pos == std::string_view::npos ? in.size() : pos + end.size();
  };
  while (i < in.size()) {
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
  return out;
}

std::string compressWhitespace(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  bool in_space = false;
  for (char c : in) {
    if (isSpace(static_cast<unsigned char>(c))) {
      if (!in_space) out += ' ';
      in_space = true;
    } else {
      out += c;
      in_space = false;
    }
  }
  return out;
}

std::string removeWhitespace(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (char c : in) {
    if (!isSpace(static_cast<unsigned char>(c))) out += c;
  }
  return out;
}

// What a shell does not care about but a signature does: "c^a\t\"t\" /etc/passwd"
// and "cat /etc/passwd" run the same program, so they should look the same.
std::string cmdLine(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  bool pending_space = false;
  for (char ch : in) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '\\' || c == '"' || c == '\'' || c == '^') continue;
    if (c == ',' || c == ';' || isSpace(c)) {
      pending_space = true;
      continue;
    }
    if (pending_space && c != '/' && c != '(' && !out.empty()) out += ' ';
    pending_space = false;
    out += static_cast<char>(lower(c));
  }
  return out;
}

std::string utf8Fold(std::string_view in) {
  std::string out;
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
    } else {
      out += static_cast<char>(c);
      ++i;
    }
  }
  return out;
}

std::string referenceTransform(Transform transform, std::string_view in) {
  switch (transform) {
    case Transform::UrlDecode: return urlDecode(in);
    case Transform::UrlDecodeUni: return urlDecodeUni(in);
    case Transform::HtmlEntityDecode: return htmlEntityDecode(in);
    case Transform::JsDecode: return jsDecode(in);
    case Transform::CssDecode: return cssDecode(in);
    case Transform::Base64Decode: return base64Decode(in);
    case Transform::HexDecode: return hexDecode(in);
    case Transform::Lowercase: return lowercase(in);
    case Transform::NormalizePath: return normalizePath(in);
    case Transform::RemoveNulls: return removeNulls(in);
    case Transform::RemoveComments: return removeComments(in);
    case Transform::CompressWhitespace: return compressWhitespace(in);
    case Transform::RemoveWhitespace: return removeWhitespace(in);
    case Transform::CmdLine: return cmdLine(in);
    case Transform::Utf8Fold: return utf8Fold(in);
  }
  return std::string(in);
}

}  // namespace reference

using namespace std::string_literals;

constexpr Transform kAll[] = {
    Transform::UrlDecode,        Transform::UrlDecodeUni,       Transform::HtmlEntityDecode,
    Transform::JsDecode,         Transform::CssDecode,          Transform::Base64Decode,
    Transform::HexDecode,        Transform::Lowercase,          Transform::NormalizePath,
    Transform::RemoveNulls,      Transform::RemoveComments,     Transform::CompressWhitespace,
    Transform::RemoveWhitespace, Transform::CmdLine,            Transform::Utf8Fold,
};

// Random strings drawn from pieces that exercise every branch: escapes
// (valid, truncated, double-encoded), entities, comment openers, path
// segments, whitespace, NUL, overlong and full-width UTF-8, plain text.
std::string randomValue(std::mt19937& rng) {
  static const std::vector<std::string> kPieces = {
      "%", "%2", "%25", "%2e", "%2E", "%252e", "%u", "%u00", "%u002e", "%uFF0F", "%uD800", "+",
      "&", "&#", "&#x", "&#60;", "&#x3c", "&lt", "&lt;", "&ltscript", "&amp;", "&colon;", "&unknown;",
      "&#99999999999;", "\\", "\\x41", "\\u0041", "\\u{1F600}", "\\101", "\\n", "\\6a ",
      "\\\n", "/*", "*/", "<!--", "-->", "--", "#", "-", "*", "<", "<!", "!", "\n", "\r", "\t", " ", "  ", "\v",
      "/", "//", "./", "../", "..", ".", "a.php. ", "\\..\\", "\0"s, "\xC0\xAE", "\xE0\x80\xAE",
      "\xF0\x80\x80\xAE", "\xEF\xBC\x8F", "\xE3\x80\x80", "\xC3\xA9", "\xFF", "^", "\"",
      "'", ",", ";", "(", "SELECT", "Union", "abc", "xyz", "PHNjcmlwdD4=", "3c73", "==", "etc/passwd",
  };
  std::uniform_int_distribution<size_t> piece(0, kPieces.size() - 1);
  std::uniform_int_distribution<int> count(0, 24);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string out;
  int n = count(rng);
  for (int i = 0; i < n; ++i) {
    if (byte(rng) < 24) {
      out += static_cast<char>(byte(rng));  // now and then a fully random byte
    } else {
      out += kPieces[piece(rng)];
    }
  }
  return out;
}

TEST(TransformFastPath, EqualsReferenceOnRandomInputs) {
  std::mt19937 rng(20261128);
  std::string out;
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::string in = randomValue(rng);
    for (Transform t : kAll) {
      std::string expected = reference::referenceTransform(t, in);
      ASSERT_EQ(applyTransform(t, in), expected) << transformName(t) << " on '" << in << "'";
      bool changed = transformInto(t, in, out);
      ASSERT_EQ(changed, expected != in) << transformName(t) << " on '" << in << "'";
      if (changed) {
        ASSERT_EQ(out, expected) << transformName(t) << " on '" << in << "'";
      }
    }
  }
}

// Long values: runs of form-encoded prose (letters, '+', blanks) of any
// length between the pieces, so the 16-byte block paths meet blocks with
// and without special bytes, escapes that straddle a block edge, and tails.
TEST(TransformFastPath, LongValuesEqualReference) {
  std::mt19937 rng(20261129);
  std::uniform_int_distribution<int> run(0, 40);
  std::uniform_int_distribution<int> pick(0, 9);
  static constexpr char kProse[] = "I+enjoy+hiking+in+the+hills,+Reading history.";
  std::string out;
  for (int iteration = 0; iteration < 3000; ++iteration) {
    std::string in;
    for (int part = pick(rng) + 1; part > 0; --part) {
      for (int k = run(rng); k > 0; --k) in += kProse[pick(rng) * 4 % (sizeof(kProse) - 1)];
      for (int k = run(rng) * 2; k > 0; --k) in += kProse[static_cast<size_t>(k) % (sizeof(kProse) - 1)];
      in += randomValue(rng).substr(0, static_cast<size_t>(pick(rng)));
    }
    for (Transform t : kAll) {
      std::string expected = reference::referenceTransform(t, in);
      bool changed = transformInto(t, in, out);
      ASSERT_EQ(changed, expected != in) << transformName(t) << " on '" << in << "'";
      if (changed) {
        ASSERT_EQ(out, expected) << transformName(t) << " on '" << in << "'";
      }
    }
  }
}

TEST(TransformFastPath, ChainsEqualReferenceOnRandomInputs) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<size_t> pick(0, std::size(kAll) - 1);
  std::uniform_int_distribution<int> length(0, 6);
  for (int iteration = 0; iteration < 5000; ++iteration) {
    std::string in = randomValue(rng);
    TransformChain chain;
    for (int k = length(rng); k > 0; --k) chain.push_back(kAll[pick(rng)]);
    std::string expected = in;
    for (Transform t : chain) expected = reference::referenceTransform(t, expected);
    ASSERT_EQ(applyChain(chain, in), expected) << chainName(chain) << " on '" << in << "'";
  }
}

// transformsThatMayChange must never leave out a transform that changes the
// value. Each value is built from a few pieces only, so that for most
// values some transforms have nothing to do and the claim is tested.
TEST(TransformFastPath, TransformsThatMayChangeNeverMissesAChange) {
  std::mt19937 rng(77);
  std::uniform_int_distribution<int> few(1, 3);
  size_t claimed_unchanged = 0;
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::vector<std::string> alphabet;
    for (int k = few(rng); k > 0; --k) alphabet.push_back(randomValue(rng).substr(0, 6));
    std::string in;
    std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
    for (int k = few(rng) * 3; k > 0; --k) in += alphabet[pick(rng)];
    std::uint32_t may = transformsThatMayChange(in);
    for (Transform t : kAll) {
      if (may & (1u << static_cast<unsigned>(t))) continue;
      ++claimed_unchanged;
      ASSERT_EQ(applyTransform(t, in), in) << transformName(t) << " on '" << in << "'";
    }
  }
  EXPECT_GT(claimed_unchanged, 50000u);  // the claim is made often: the test is not vacuous
  // Plain text: only the two decoders that always rewrite are flagged.
  EXPECT_EQ(transformsThatMayChange("keep-alive"),
            (1u << static_cast<unsigned>(Transform::Base64Decode)) |
                (1u << static_cast<unsigned>(Transform::HexDecode)));
  EXPECT_NE(transformsThatMayChange("a--b") & (1u << static_cast<unsigned>(Transform::RemoveComments)),
            0u);
  EXPECT_NE(transformsThatMayChange("a  b") &
                (1u << static_cast<unsigned>(Transform::CompressWhitespace)),
            0u);
}

TEST(TransformFastPath, ValuesWithNothingToDoAreReportedUnchanged) {
  std::string out = "untouched";
  const std::string text(4096, 'a');
  EXPECT_FALSE(transformInto(Transform::UrlDecode, text, out));
  EXPECT_FALSE(transformInto(Transform::UrlDecodeUni, text, out));
  EXPECT_FALSE(transformInto(Transform::HtmlEntityDecode, text, out));
  EXPECT_FALSE(transformInto(Transform::JsDecode, text, out));
  EXPECT_FALSE(transformInto(Transform::CssDecode, text, out));
  EXPECT_FALSE(transformInto(Transform::Lowercase, text, out));
  EXPECT_FALSE(transformInto(Transform::RemoveNulls, text, out));
  EXPECT_FALSE(transformInto(Transform::RemoveComments, text, out));
  EXPECT_FALSE(transformInto(Transform::CompressWhitespace, text, out));
  EXPECT_FALSE(transformInto(Transform::RemoveWhitespace, text, out));
  EXPECT_FALSE(transformInto(Transform::CmdLine, text, out));
  EXPECT_FALSE(transformInto(Transform::Utf8Fold, text, out));
  EXPECT_FALSE(transformInto(Transform::NormalizePath, "/a/b", out));
  // Special bytes that decode to nothing different are still "unchanged".
  EXPECT_FALSE(transformInto(Transform::UrlDecode, "100% sure", out));
  EXPECT_FALSE(transformInto(Transform::HtmlEntityDecode, "R&D", out));
  // And a change is reported with the result in `out`.
  EXPECT_TRUE(transformInto(Transform::UrlDecodeUni, "%252e", out));
  EXPECT_EQ(out, ".");
  EXPECT_TRUE(transformInto(Transform::Lowercase, text + "B", out));
  EXPECT_EQ(out, text + "b");
}

}  // namespace
}  // namespace mamori::inspect
