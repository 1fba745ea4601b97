// JSON bodies (RFC 8259), flattened to one field per scalar.
//
// Strict on purpose: a document a lenient backend accepts but we read
// differently is an evasion, and one we cannot read at all is reported
// (Malformed / Truncated) rather than passed. Choices:
//  - Grammar exactly as RFC 8259: no comments, no trailing commas, no
//    single quotes, no NaN/Infinity, no leading zeros or '+', whitespace
//    only SP/HTAB/LF/CR. Raw control bytes in strings are Malformed.
//  - One leading UTF-8 BOM is skipped (RFC 8259 §8.1 allows ignoring it).
//  - Strings are unescaped; \uXXXX surrogate pairs become one UTF-8
//    sequence; a lone surrogate is Malformed (it has no UTF-8 form, and
//    decoders disagree on what to do with one). \u0000 yields a NUL byte.
//    Other bytes pass through unvalidated (charset is not our business).
//  - Paths: "a.b" for object members, "a[2]" for array elements, "" for a
//    top-level scalar; "[0].x" under a top-level array. Keys are used as
//    they are, so a key containing '.' or '[' reads like a deeper path.
//    Duplicate keys give two fields (backends differ on which wins, so
//    rules must see both).
//  - Numbers and literals keep their text as written ("1e3", "true").
//  - Nesting deeper than max_depth containers is TooDeep; the parser keeps
//    an explicit stack, so hostile nesting costs memory bounded by
//    max_depth and never recursion.

#include <string>
#include <vector>

#include "http/body_formats.h"
#include "http/syntax.h"

namespace mamori::http::body {
namespace {

class JsonParser {
 public:
  JsonParser(std::string_view in, FieldSink& sink) : in_(in), sink_(sink) {}

  void run();

 private:
  struct Frame {
    bool is_array;
    std::size_t path_len;  // length of the container's own path
    std::size_t index;     // next element index (arrays)
  };

  bool atEnd() const { return pos_ >= in_.size(); }
  void skipWs() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\n' || in_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool fail(BodyError error, const char* what) {
    return sink_.fail(error, std::string(what) + " at " + std::to_string(pos_));
  }
  // Truncated when the input ended where more was needed, else Malformed.
  bool failExpect(const char* what) {
    return atEnd() ? fail(BodyError::Truncated, what) : fail(BodyError::Malformed, what);
  }

  bool parseString(std::string* out);
  bool parseHex4(char32_t* out);
  bool parseNumber();
  bool parseLiteral(std::string_view word);
  bool emit(std::string_view raw_value);
  bool emitString(std::string value);
  void setMemberPath(const std::string& key);
  void setElementPath();

  std::string_view in_;
  std::size_t pos_ = 0;
  FieldSink& sink_;
  std::string path_;
  std::vector<Frame> stack_;
};

bool JsonParser::parseHex4(char32_t* out) {
  if (in_.size() - pos_ < 4) {
    pos_ = in_.size();
    return fail(BodyError::Truncated, "unfinished \\u escape");
  }
  char32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    int h = syntax::hexValue(static_cast<unsigned char>(in_[pos_ + i]));
    if (h < 0) {
      pos_ += i;
      return fail(BodyError::Malformed, "bad hex digit in \\u escape");
    }
    v = (v << 4) | static_cast<char32_t>(h);
  }
  pos_ += 4;
  *out = v;
  return true;
}

// At the opening quote; on success pos_ is past the closing quote.
bool JsonParser::parseString(std::string* out) {
  ++pos_;
  out->clear();
  while (true) {
    std::size_t run = pos_;
    while (pos_ < in_.size()) {
      unsigned char c = static_cast<unsigned char>(in_[pos_]);
      if (c == '"' || c == '\\' || c < 0x20) break;
      ++pos_;
    }
    out->append(in_.substr(run, pos_ - run));
    if (atEnd()) return fail(BodyError::Truncated, "unterminated string");
    char c = in_[pos_];
    if (c == '"') {
      ++pos_;
      return true;
    }
    if (c != '\\') return fail(BodyError::Malformed, "control character in string");
    ++pos_;
    if (atEnd()) return fail(BodyError::Truncated, "unfinished escape");
    char e = in_[pos_++];
    switch (e) {
      case '"':
        out->push_back('"');
        break;
      case '\\':
        out->push_back('\\');
        break;
      case '/':
        out->push_back('/');
        break;
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'u': {
        char32_t cp = 0;
        if (!parseHex4(&cp)) return false;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return fail(BodyError::Malformed, "lone low surrogate");
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (in_.size() - pos_ < 2) {
            if (in_.size() - pos_ == 1 && in_[pos_] != '\\') {
              return fail(BodyError::Malformed, "lone high surrogate");
            }
            pos_ = in_.size();
            return fail(BodyError::Truncated, "unfinished surrogate pair");
          }
          if (in_[pos_] != '\\' || in_[pos_ + 1] != 'u') {
            return fail(BodyError::Malformed, "lone high surrogate");
          }
          pos_ += 2;
          char32_t low = 0;
          if (!parseHex4(&low)) return false;
          if (low < 0xDC00 || low > 0xDFFF) {
            return fail(BodyError::Malformed, "high surrogate without low surrogate");
          }
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        appendUtf8(cp, out);
        break;
      }
      default:
        --pos_;
        return fail(BodyError::Malformed, "invalid escape");
    }
  }
}

// RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
bool JsonParser::parseNumber() {
  std::size_t start = pos_;
  auto digits = [&] {
    std::size_t from = pos_;
    while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
    return pos_ - from;
  };
  if (in_[pos_] == '-') ++pos_;
  if (atEnd()) return failExpect("digit expected");
  if (in_[pos_] == '0') {
    ++pos_;
  } else if (digits() == 0) {
    return failExpect("digit expected");
  }
  if (pos_ < in_.size() && in_[pos_] == '.') {
    ++pos_;
    if (digits() == 0) return failExpect("digit expected after '.'");
  }
  if (pos_ < in_.size() && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
    ++pos_;
    if (pos_ < in_.size() && (in_[pos_] == '+' || in_[pos_] == '-')) ++pos_;
    if (digits() == 0) return failExpect("digit expected in exponent");
  }
  return emit(in_.substr(start, pos_ - start));
}

bool JsonParser::parseLiteral(std::string_view word) {
  std::string_view rest = in_.substr(pos_, word.size());
  if (rest != word) {
    if (word.substr(0, rest.size()) == rest) {
      pos_ = in_.size();
      return fail(BodyError::Truncated, "unfinished literal");
    }
    return fail(BodyError::Malformed, "unexpected character");
  }
  pos_ += word.size();
  return emit(word);
}

bool JsonParser::emit(std::string_view raw_value) {
  BodyField field;
  field.name = path_;
  field.value.assign(raw_value);
  return sink_.add(std::move(field));
}

bool JsonParser::emitString(std::string value) {
  BodyField field;
  field.name = path_;
  field.value = std::move(value);
  return sink_.add(std::move(field));
}

void JsonParser::setMemberPath(const std::string& key) {
  path_.resize(stack_.back().path_len);
  if (stack_.size() > 1 || !path_.empty()) path_.push_back('.');
  path_ += key;
}

void JsonParser::setElementPath() {
  Frame& top = stack_.back();
  path_.resize(top.path_len);
  path_.push_back('[');
  path_ += std::to_string(top.index++);
  path_.push_back(']');
}

void JsonParser::run() {
  if (in_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
  skipWs();
  if (atEnd()) {
    fail(BodyError::Malformed, "no JSON value");
    return;
  }
  std::string scratch;
  // Two states: expecting a value (whose path is in path_), or just after a
  // complete value. A member key is read as part of moving from the second
  // back to the first.
  bool want_value = true;
  while (true) {
    if (want_value) {
      skipWs();
      if (atEnd()) {
        fail(BodyError::Truncated, "value expected");
        return;
      }
      char c = in_[pos_];
      if (c == '{' || c == '[') {
        if (stack_.size() >= sink_.limits().max_depth) {
          sink_.fail(BodyError::TooDeep, "nesting over " +
                                             std::to_string(sink_.limits().max_depth) + " at " +
                                             std::to_string(pos_));
          return;
        }
        ++pos_;
        stack_.push_back(Frame{c == '[', path_.size(), 0});
        skipWs();
        if (atEnd()) {
          fail(BodyError::Truncated, c == '[' ? "unclosed array" : "unclosed object");
          return;
        }
        if (in_[pos_] == (c == '[' ? ']' : '}')) {
          ++pos_;
          // A member or element whose value is empty is still a field: its
          // key is as much the client's input as any value.
          if (!path_.empty() && !emit(c == '[' ? "[]" : "{}")) return;
          path_.resize(stack_.back().path_len);
          stack_.pop_back();
          want_value = false;
          continue;
        }
        if (c == '[') {
          setElementPath();
          continue;  // still want_value
        }
        // Object: first member key.
        if (in_[pos_] != '"') {
          fail(BodyError::Malformed, "member name expected");
          return;
        }
        if (!parseString(&scratch)) return;
        skipWs();
        if (atEnd() || in_[pos_] != ':') {
          failExpect("':' expected");
          return;
        }
        ++pos_;
        setMemberPath(scratch);
        continue;
      }
      bool ok = false;
      if (c == '"') {
        ok = parseString(&scratch) && emitString(scratch);
      } else if (c == '-' || (c >= '0' && c <= '9')) {
        ok = parseNumber();
      } else if (c == 't') {
        ok = parseLiteral("true");
      } else if (c == 'f') {
        ok = parseLiteral("false");
      } else if (c == 'n') {
        ok = parseLiteral("null");
      } else {
        fail(BodyError::Malformed, "value expected");
      }
      if (!ok) return;
      want_value = false;
      continue;
    }

    // After a complete value.
    skipWs();
    if (stack_.empty()) {
      if (!atEnd()) fail(BodyError::Malformed, "data after the JSON value");
      return;
    }
    if (atEnd()) {
      fail(BodyError::Truncated, stack_.back().is_array ? "unclosed array" : "unclosed object");
      return;
    }
    char c = in_[pos_];
    Frame& top = stack_.back();
    if (c == (top.is_array ? ']' : '}')) {
      ++pos_;
      path_.resize(top.path_len);
      stack_.pop_back();
      continue;
    }
    if (c != ',') {
      fail(BodyError::Malformed, top.is_array ? "',' or ']' expected" : "',' or '}' expected");
      return;
    }
    ++pos_;
    if (top.is_array) {
      setElementPath();
    } else {
      skipWs();
      if (atEnd() || in_[pos_] != '"') {
        failExpect("member name expected");
        return;
      }
      if (!parseString(&scratch)) return;
      skipWs();
      if (atEnd() || in_[pos_] != ':') {
        failExpect("':' expected");
        return;
      }
      ++pos_;
      setMemberPath(scratch);
    }
    want_value = true;
  }
}

}  // namespace

void parseJson(std::string_view body, FieldSink& sink) {
  JsonParser parser(body, sink);
  parser.run();
}

}  // namespace mamori::http::body
