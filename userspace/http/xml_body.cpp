// XML bodies: a small non-validating tokenizer (XML 1.0 well-formedness
// where it matters for inspection), never a DOM and never recursion.
//
// What it produces:
//  - text: one field per run of character data inside an element, named by
//    the element path ("a.b.c"). A run is split only by child elements;
//    comments, processing instructions and CDATA sections inside it are
//    joined into it, so "SEL<!-- -->ECT" is inspected as "SELECT", which
//    is what the application's XML library hands over. Runs of only
//    whitespace are skipped.
//  - attributes: "a.b@name" = value, in document order, before the
//    element's text.
//  - Line ends in text and CDATA are normalised to LF (XML 1.0 §2.11), and
//    literal whitespace in attribute values to SP (§3.3.3), as an XML
//    library does before the application sees them.
//  - "!doctype": the raw text of a DOCTYPE declaration, so rules can see
//    XXE ("<!ENTITY x SYSTEM ...>"). It is never processed: no entity is
//    declared, expanded or fetched, internal or external.
// Entities: the five predefined ones and numeric character references are
// decoded (to UTF-8). Any other reference is Malformed without a DOCTYPE
// (undeclared); with one, it is kept literally ("&xxe;") since it may be
// declared there and we do not expand it.
// Malformed: mismatched or stray end tags, a second root, text outside the
// root, duplicate attributes, '<' in an attribute value, "]]>" in text,
// "--" in a comment, a DOCTYPE after the root or twice, "<!" other than a
// comment / CDATA / DOCTYPE, invalid names and character references.
// Truncated: input ending inside a tag, comment, CDATA, PI, DOCTYPE,
// reference or open element. Element nesting over max_depth is TooDeep.

#include <string>
#include <vector>

#include "http/body_formats.h"

namespace mamori::http::body {
namespace {

bool isXmlSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool isNameStart(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || c >= 0x80;
}

bool isNameChar(unsigned char c) {
  return isNameStart(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

// XML 1.0 §2.2 Char.
bool isXmlChar(char32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

class XmlParser {
 public:
  XmlParser(std::string_view in, FieldSink& sink) : in_(in), sink_(sink) {}

  void run();

 private:
  struct Open {
    std::string_view name;
    std::size_t path_len;  // path_ length before this element's name
  };

  bool atEnd() const { return pos_ >= in_.size(); }
  bool startsWith(std::string_view s) const { return in_.substr(pos_, s.size()) == s; }
  bool skipSpace() {
    std::size_t from = pos_;
    while (pos_ < in_.size() && isXmlSpace(in_[pos_])) ++pos_;
    return pos_ != from;
  }
  bool fail(BodyError error, const char* what) {
    return sink_.fail(error, std::string(what) + " at " + std::to_string(pos_));
  }
  bool failExpect(const char* what) {
    return atEnd() ? fail(BodyError::Truncated, what) : fail(BodyError::Malformed, what);
  }

  bool parseName(std::string_view* name);
  bool parseReference(std::string* out);
  bool parseComment();
  bool parsePi();
  bool parseCdata();
  bool parseDoctype();
  bool parseStartTag();
  bool parseEndTag();
  bool parseText();
  bool flushText();

  std::string_view in_;
  std::size_t pos_ = 0;
  FieldSink& sink_;
  std::string path_;
  std::vector<Open> open_;
  std::string text_;
  bool seen_root_ = false;
  bool seen_doctype_ = false;
};

bool XmlParser::parseName(std::string_view* name) {
  std::size_t start = pos_;
  if (atEnd() || !isNameStart(static_cast<unsigned char>(in_[pos_]))) {
    return failExpect("name expected");
  }
  while (pos_ < in_.size() && isNameChar(static_cast<unsigned char>(in_[pos_]))) ++pos_;
  *name = in_.substr(start, pos_ - start);
  return true;
}

// At '&'; appends the decoded reference to `out`.
bool XmlParser::parseReference(std::string* out) {
  std::size_t start = pos_;
  ++pos_;
  if (atEnd()) return fail(BodyError::Truncated, "unfinished reference");
  if (in_[pos_] == '#') {
    ++pos_;
    bool hex = pos_ < in_.size() && in_[pos_] == 'x';
    if (hex) ++pos_;
    char32_t cp = 0;
    std::size_t digits = 0;
    while (pos_ < in_.size() && in_[pos_] != ';') {
      unsigned char c = static_cast<unsigned char>(in_[pos_]);
      int v = -1;
      if (c >= '0' && c <= '9')
        v = c - '0';
      else if (hex && c >= 'a' && c <= 'f')
        v = c - 'a' + 10;
      else if (hex && c >= 'A' && c <= 'F')
        v = c - 'A' + 10;
      if (v < 0) return fail(BodyError::Malformed, "bad character reference");
      cp = cp * (hex ? 16 : 10) + static_cast<char32_t>(v);
      if (cp > 0x10FFFF) return fail(BodyError::Malformed, "character reference out of range");
      ++pos_;
      ++digits;
    }
    if (atEnd()) return fail(BodyError::Truncated, "unfinished character reference");
    if (digits == 0 || !isXmlChar(cp)) {
      return fail(BodyError::Malformed, "invalid character reference");
    }
    ++pos_;
    appendUtf8(cp, out);
    return true;
  }
  std::string_view name;
  if (!parseName(&name)) return false;
  if (atEnd()) return fail(BodyError::Truncated, "unfinished entity reference");
  if (in_[pos_] != ';') return fail(BodyError::Malformed, "';' expected after entity name");
  ++pos_;
  if (name == "lt")
    out->push_back('<');
  else if (name == "gt")
    out->push_back('>');
  else if (name == "amp")
    out->push_back('&');
  else if (name == "apos")
    out->push_back('\'');
  else if (name == "quot")
    out->push_back('"');
  else if (seen_doctype_)
    out->append(in_.substr(start, pos_ - start));
  else
    return fail(BodyError::Malformed, "undeclared entity");
  return true;
}

bool XmlParser::parseComment() {
  std::size_t body = pos_ + 4;
  std::size_t dashes = in_.find("--", body);
  if (dashes == std::string_view::npos) {
    pos_ = in_.size();
    return fail(BodyError::Truncated, "unclosed comment");
  }
  pos_ = dashes;
  if (dashes + 2 >= in_.size()) {
    pos_ = in_.size();
    return fail(BodyError::Truncated, "unclosed comment");
  }
  // XML 1.0 §2.5: "--" may only appear as part of the closing "-->".
  if (in_[dashes + 2] != '>') return fail(BodyError::Malformed, "'--' inside comment");
  pos_ = dashes + 3;
  return true;
}

bool XmlParser::parsePi() {
  std::size_t start = pos_;
  pos_ += 2;
  std::string_view target;
  if (!parseName(&target)) return false;
  // The XML declaration is only valid as the very first thing (after a
  // BOM); a reserved "xml" target elsewhere is a confusion attempt.
  if (target.size() == 3 && (target[0] | 0x20) == 'x' && (target[1] | 0x20) == 'm' &&
      (target[2] | 0x20) == 'l' &&
      !(start == 0 || (start == 3 && in_.substr(0, 3) == "\xEF\xBB\xBF"))) {
    pos_ = start;
    return fail(BodyError::Malformed, "XML declaration not at the start");
  }
  std::size_t end = in_.find("?>", pos_);
  if (end == std::string_view::npos) {
    pos_ = in_.size();
    return fail(BodyError::Truncated, "unclosed processing instruction");
  }
  pos_ = end + 2;
  return true;
}

bool XmlParser::parseCdata() {
  if (open_.empty()) return fail(BodyError::Malformed, "CDATA outside the root element");
  std::size_t body = pos_ + 9;
  std::size_t end = in_.find("]]>", body);
  if (end == std::string_view::npos) {
    pos_ = in_.size();
    return fail(BodyError::Truncated, "unclosed CDATA section");
  }
  std::string_view raw = in_.substr(body, end - body);
  for (std::size_t i = 0; i < raw.size(); ++i) {
    // XML 1.0 §2.11 line-end normalisation applies inside CDATA too.
    if (raw[i] == '\r') {
      text_.push_back('\n');
      if (i + 1 < raw.size() && raw[i + 1] == '\n') ++i;
    } else {
      text_.push_back(raw[i]);
    }
  }
  pos_ = end + 3;
  return true;
}

// Finds the end of "<!DOCTYPE ...>", stepping over quoted literals, the
// internal subset "[...]" and comments in it, and records the raw text.
bool XmlParser::parseDoctype() {
  if (seen_root_) return fail(BodyError::Malformed, "DOCTYPE after the root element");
  if (seen_doctype_) return fail(BodyError::Malformed, "second DOCTYPE");
  std::size_t start = pos_;
  pos_ += 9;
  if (atEnd() || !isXmlSpace(in_[pos_])) return failExpect("space expected after DOCTYPE");
  std::size_t bracket = 0;
  char quote = 0;
  while (pos_ < in_.size()) {
    char c = in_[pos_];
    if (quote != 0) {
      if (c == quote) quote = 0;
      ++pos_;
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[') {
      ++bracket;
    } else if (c == ']') {
      if (bracket == 0) return fail(BodyError::Malformed, "']' outside the internal subset");
      --bracket;
    } else if (bracket > 0 && startsWith("<!--")) {
      if (!parseComment()) return false;
      continue;
    } else if (c == '>' && bracket == 0) {
      ++pos_;
      seen_doctype_ = true;
      BodyField field;
      field.name = "!doctype";
      field.value.assign(in_.substr(start, pos_ - start));
      return sink_.add(std::move(field));
    }
    ++pos_;
  }
  return fail(BodyError::Truncated, "unclosed DOCTYPE");
}

bool XmlParser::flushText() {
  bool blank = true;
  for (char c : text_) {
    if (!isXmlSpace(c)) {
      blank = false;
      break;
    }
  }
  bool ok = true;
  if (!blank) {
    BodyField field;
    field.name = path_;
    field.value = std::move(text_);
    ok = sink_.add(std::move(field));
  }
  text_.clear();
  return ok;
}

bool XmlParser::parseStartTag() {
  if (!flushText()) return false;
  if (seen_root_ && open_.empty()) return fail(BodyError::Malformed, "second root element");
  ++pos_;
  std::string_view name;
  if (!parseName(&name)) return false;
  if (open_.size() >= sink_.limits().max_depth) {
    return sink_.fail(
        BodyError::TooDeep,
        "nesting over " + std::to_string(sink_.limits().max_depth) + " at " + std::to_string(pos_));
  }
  seen_root_ = true;
  open_.push_back(Open{name, path_.size()});
  if (!path_.empty()) path_.push_back('.');
  path_.append(name);

  std::vector<std::string_view> attr_names;
  while (true) {
    bool spaced = skipSpace();
    if (atEnd()) return fail(BodyError::Truncated, "unclosed start tag");
    if (in_[pos_] == '>') {
      ++pos_;
      return true;
    }
    if (in_[pos_] == '/') {
      ++pos_;
      if (atEnd() || in_[pos_] != '>') return failExpect("'>' expected after '/'");
      ++pos_;
      path_.resize(open_.back().path_len);
      open_.pop_back();
      return true;
    }
    if (!spaced) return fail(BodyError::Malformed, "space expected before attribute");
    std::string_view attr;
    if (!parseName(&attr)) return false;
    for (std::string_view seen : attr_names) {
      if (seen == attr) return fail(BodyError::Malformed, "duplicate attribute");
    }
    attr_names.push_back(attr);
    skipSpace();
    if (atEnd() || in_[pos_] != '=') return failExpect("'=' expected");
    ++pos_;
    skipSpace();
    if (atEnd() || (in_[pos_] != '"' && in_[pos_] != '\'')) return failExpect("quote expected");
    char quote = in_[pos_++];
    BodyField field;
    while (true) {
      if (atEnd()) return fail(BodyError::Truncated, "unclosed attribute value");
      char c = in_[pos_];
      if (c == quote) {
        ++pos_;
        break;
      }
      if (c == '<') return fail(BodyError::Malformed, "'<' in attribute value");
      if (c == '&') {
        if (!parseReference(&field.value)) return false;
        continue;
      }
      // XML 1.0 §3.3.3 attribute-value normalisation of literal whitespace.
      // (after §2.11 has turned CRLF into one LF).
      field.value.push_back(isXmlSpace(c) ? ' ' : c);
      ++pos_;
      if (c == '\r' && pos_ < in_.size() && in_[pos_] == '\n') ++pos_;
    }
    field.name.reserve(path_.size() + 1 + attr.size());
    field.name = path_;
    field.name.push_back('@');
    field.name.append(attr);
    if (!sink_.add(std::move(field))) return false;
  }
}

bool XmlParser::parseEndTag() {
  if (!flushText()) return false;
  pos_ += 2;
  std::string_view name;
  if (!parseName(&name)) return false;
  skipSpace();
  if (atEnd() || in_[pos_] != '>') return failExpect("'>' expected in end tag");
  if (open_.empty()) return fail(BodyError::Malformed, "end tag without start tag");
  if (open_.back().name != name) return fail(BodyError::Malformed, "mismatched end tag");
  ++pos_;
  path_.resize(open_.back().path_len);
  open_.pop_back();
  return true;
}

bool XmlParser::parseText() {
  if (open_.empty()) {
    if (!isXmlSpace(in_[pos_])) return fail(BodyError::Malformed, "text outside the root element");
    skipSpace();
    return true;
  }
  while (pos_ < in_.size() && in_[pos_] != '<') {
    char c = in_[pos_];
    if (c == '&') {
      if (!parseReference(&text_)) return false;
      continue;
    }
    if (c == '>' && pos_ >= 2 && in_[pos_ - 1] == ']' && in_[pos_ - 2] == ']') {
      return fail(BodyError::Malformed, "']]>' in text");
    }
    // XML 1.0 §2.11: CRLF and a lone CR reach the application as LF.
    text_.push_back(c == '\r' ? '\n' : c);
    ++pos_;
    if (c == '\r' && pos_ < in_.size() && in_[pos_] == '\n') ++pos_;
  }
  return true;
}

void XmlParser::run() {
  if (startsWith("\xEF\xBB\xBF")) pos_ = 3;
  while (!atEnd()) {
    bool ok = true;
    if (in_[pos_] != '<') {
      ok = parseText();
    } else if (startsWith("<!--")) {
      ok = parseComment();
    } else if (startsWith("<?")) {
      ok = parsePi();
    } else if (startsWith("<![CDATA[")) {
      ok = parseCdata();
    } else if (startsWith("<!DOCTYPE")) {
      ok = parseDoctype();
    } else if (startsWith("<!")) {
      // Only a cut-off "<!--", "<![CDATA[" or "<!DOCTYPE" is Truncated.
      std::string_view rest = in_.substr(pos_);
      bool cut = std::string_view("<!--").starts_with(rest) ||
                 std::string_view("<![CDATA[").starts_with(rest) ||
                 std::string_view("<!DOCTYPE").starts_with(rest);
      ok = cut ? fail(BodyError::Truncated, "unfinished markup")
               : fail(BodyError::Malformed, "unknown markup declaration");
    } else if (startsWith("</")) {
      ok = parseEndTag();
    } else {
      ok = parseStartTag();
    }
    if (!ok) return;
  }
  if (!open_.empty()) {
    fail(BodyError::Truncated, "unclosed element");
    return;
  }
  // The input ended before the root element: the document is cut short
  // (a prolog, comments or a DOCTYPE alone), as a prefix of one often is.
  if (!seen_root_) fail(BodyError::Truncated, "no root element");
}

}  // namespace

void parseXml(std::string_view body, FieldSink& sink) {
  XmlParser parser(body, sink);
  parser.run();
}

}  // namespace mamori::http::body
