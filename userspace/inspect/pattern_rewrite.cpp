#include "inspect/pattern_rewrite.h"

namespace mamori::inspect {

bool chainLeavesSingleSpaces(const TransformChain& chain) {
  bool compressed = false;
  for (Transform t : chain) {
    if (t == Transform::CompressWhitespace) {
      compressed = true;
    } else if (t != Transform::Lowercase) {
      // Anything else after compress_whitespace may make whitespace (a
      // decoder) or join two spaces (a remover): start over.
      compressed = false;
    }
  }
  return compressed;
}

std::optional<std::string> singleSpacePattern(std::string_view p) {
  std::string out;
  out.reserve(p.size());
  bool changed = false;
  bool in_class = false;
  size_t i = 0;
  while (i < p.size()) {
    char c = p[i];
    if (c == '\\') {
      if (i + 1 >= p.size()) return std::nullopt;  // trailing backslash: not a pattern we follow
      char e = p[i + 1];
      if (e == 'c') return std::nullopt;  // \cX eats the next byte, whatever it is
      if (e == 'Q') {
        // \Q...\E: literal text, copied as it is (to the end if no \E).
        size_t end = p.find("\\E", i + 2);
        size_t stop = end == std::string_view::npos ? p.size() : end + 2;
        out.append(p.substr(i, stop - i));
        i = stop;
        continue;
      }
      if (e == 's' && !in_class) {
        char q = i + 2 < p.size() ? p[i + 2] : '\0';
        char q2 = i + 3 < p.size() ? p[i + 3] : '\0';
        bool plain_quantifier = q2 != '?' && q2 != '+' && q2 != '{';
        if ((q == '*' || q == '?') && plain_quantifier) {
          out += "\\x20?";
          i += 3;
          changed = true;
          continue;
        }
        if (q == '+' && plain_quantifier) {
          out += "\\x20";
          i += 3;
          changed = true;
          continue;
        }
        if (q != '*' && q != '?' && q != '+' && q != '{') {
          out += "\\x20";
          i += 2;
          changed = true;
          continue;
        }
      }
      out += c;
      out += e;
      i += 2;
      continue;
    }
    if (in_class) {
      if (c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
        // A POSIX class ([:space:]) inside a bracket: its ']' does not
        // close the bracket.
        size_t end = p.find(":]", i + 2);
        if (end == std::string_view::npos) return std::nullopt;
        out.append(p.substr(i, end + 2 - i));
        i = end + 2;
        continue;
      }
      if (c == ']') in_class = false;
      out += c;
      ++i;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out += c;
      ++i;
      if (i < p.size() && p[i] == '^') out += p[i++];
      if (i < p.size() && p[i] == ']') out += p[i++];  // a leading ']' is a member
      continue;
    }
    out += c;
    ++i;
  }
  if (in_class) return std::nullopt;
  if (!changed) return std::nullopt;
  return out;
}

}  // namespace mamori::inspect
