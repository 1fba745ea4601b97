// multipart/form-data bodies (RFC 7578, framing from RFC 2046 §5.1.1).
//
// Multipart is where many WAF bypasses live: the WAF and the application
// split the same bytes into different parts (a boundary with trailing
// "transport padding", a boundary after a bare LF, a second boundary
// parameter, a second Content-Disposition, quoting tricks in filename).
// This parser does not guess: every construct two implementations could
// read differently is Malformed, which inspection treats as a detection.
//  - The boundary parameter must appear exactly once, quoted or not, 1-70
//    bchars not ending in space; otherwise MissingBoundary.
//  - Lines end in CRLF only. A bare LF or CR in part headers is Malformed;
//    so is "--boundary" at the start of a line that follows a bare LF.
//  - A line that starts with "--boundary" must be exactly "--boundary"
//    CRLF or "--boundary--": anything else after it (spaces, tabs, other
//    characters) is Malformed, not transport padding and not content.
//    This also applies in the preamble, which is otherwise ignored, as is
//    everything after the close delimiter (epilogue).
//  - Part headers: CRLF lines "name: value", no obs-fold, no space before
//    the colon, at most kMaxPartHeaders. Content-Disposition is required,
//    once, of type form-data, with exactly one name parameter; filename
//    and filename* (RFC 5987/8187, UTF-8 or ISO-8859-1) at most once each,
//    and when both are present they must agree. Content-Transfer-Encoding
//    other than 7bit / 8bit / binary is Malformed (we would inspect the
//    encoded bytes while the application decodes them). Other headers
//    (Content-Type included) are checked for syntax only.
//  - In a quoted parameter value, "\"" and "\\" are Malformed: browsers
//    never send them (they percent-encode '"') and servers disagree on
//    whether a backslash escapes. Any other backslash is kept literally.
//  - A body that ends before the close delimiter is Truncated; one with no
//    delimiter at all is Malformed.
// Nested multipart/mixed parts are not opened: their content is one field.

#include <string>

#include "http/body_formats.h"
#include "http/syntax.h"

namespace mamori::http::body {
namespace {

constexpr std::size_t kMaxPartHeaders = 32;
constexpr std::size_t kMaxBoundaryBytes = 70;

// RFC 2046 bchars.
bool isBoundaryChar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '\'':
    case '(':
    case ')':
    case '+':
    case '_':
    case ',':
    case '-':
    case '.':
    case '/':
    case ':':
    case '=':
    case '?':
    case ' ':
      return true;
    default:
      return false;
  }
}

// Walks "; name=value" parameters (RFC 9110 §5.6.6) of a header value,
// starting after the leading type. Calls fn(name, value, quoted) for each;
// quoted values are unquoted. Returns false with *why on a syntax error or
// when fn returns false (fn sets *why itself).
template <typename Fn>
bool forEachParameter(std::string_view s, std::string* why, Fn&& fn) {
  std::size_t i = 0;
  auto skipOws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  };
  while (true) {
    skipOws();
    if (i >= s.size()) return true;
    if (s[i] != ';') {
      *why = "';' expected between parameters";
      return false;
    }
    ++i;
    skipOws();
    if (i >= s.size()) return true;  // tolerate one trailing ';'
    std::size_t name_start = i;
    while (i < s.size() && syntax::isTokenChar(static_cast<unsigned char>(s[i]))) ++i;
    std::string_view name = s.substr(name_start, i - name_start);
    if (name.empty() || i >= s.size() || s[i] != '=') {
      *why = "parameter without name=value";
      return false;
    }
    ++i;
    std::string value;
    bool quoted = false;
    if (i < s.size() && s[i] == '"') {
      quoted = true;
      ++i;
      while (true) {
        if (i >= s.size()) {
          *why = "unterminated quoted parameter";
          return false;
        }
        char c = s[i];
        if (c == '"') {
          ++i;
          break;
        }
        if (c == '\\' && i + 1 < s.size() && (s[i + 1] == '"' || s[i + 1] == '\\')) {
          *why = "backslash escape in quoted parameter";
          return false;
        }
        value.push_back(c);
        ++i;
      }
    } else {
      std::size_t value_start = i;
      while (i < s.size() && syntax::isTokenChar(static_cast<unsigned char>(s[i]))) ++i;
      value.assign(s.substr(value_start, i - value_start));
      if (value.empty()) {
        *why = "empty parameter value";
        return false;
      }
    }
    if (!fn(name, std::move(value), quoted)) return false;
  }
}

// RFC 8187 ext-value: charset "'" [language] "'" pct-encoded value.
bool decodeExtValue(std::string_view raw, std::string* out) {
  std::size_t q1 = raw.find('\'');
  if (q1 == std::string_view::npos) return false;
  std::size_t q2 = raw.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) return false;
  std::string_view charset = raw.substr(0, q1);
  bool latin1 = equalsIgnoreCase(charset, "iso-8859-1");
  if (!latin1 && !equalsIgnoreCase(charset, "utf-8")) return false;
  std::string_view value = raw.substr(q2 + 1);
  out->clear();
  for (std::size_t i = 0; i < value.size(); ++i) {
    unsigned char byte = static_cast<unsigned char>(value[i]);
    if (byte == '%') {
      int hi =
          i + 1 < value.size() ? syntax::hexValue(static_cast<unsigned char>(value[i + 1])) : -1;
      int lo =
          i + 2 < value.size() ? syntax::hexValue(static_cast<unsigned char>(value[i + 2])) : -1;
      if (hi < 0 || lo < 0) return false;
      byte = static_cast<unsigned char>((hi << 4) | lo);
      i += 2;
    }
    if (latin1) {
      appendUtf8(byte, out);
    } else {
      out->push_back(static_cast<char>(byte));
    }
  }
  return true;
}

class MultipartParser {
 public:
  MultipartParser(std::string_view boundary, std::string_view in, FieldSink& sink)
      : delimiter_("--" + std::string(boundary)), in_(in), sink_(sink) {}

  void run();

 private:
  bool fail(BodyError error, const std::string& what, std::size_t at) {
    return sink_.fail(error, what + " at " + std::to_string(at));
  }

  // Finds the next "--boundary" that starts a line at or after `from`,
  // checking that it is one (see the file comment). Returns its offset,
  // npos when there is none, or sets an error and returns npos.
  std::size_t findDelimiter(std::size_t from);
  // At the end of a delimiter: true and *closed for "--", true for CRLF.
  bool afterDelimiter(std::size_t at, bool* closed, std::size_t* next);
  bool parseHeaders(std::size_t* pos, BodyField* field);
  bool parseDisposition(std::string_view value, std::size_t at, BodyField* field);

  std::string delimiter_;
  std::string_view in_;
  FieldSink& sink_;
};

std::size_t MultipartParser::findDelimiter(std::size_t from) {
  std::size_t at = from;
  while (true) {
    at = in_.find(delimiter_, at);
    if (at == std::string_view::npos) return at;
    if (at == 0 || in_[at - 1] == '\n') {
      if (at > 0 && (at < 2 || in_[at - 2] != '\r')) {
        fail(BodyError::Malformed, "boundary after a bare LF", at);
        return std::string_view::npos;
      }
      return at;
    }
    ++at;
  }
}

bool MultipartParser::afterDelimiter(std::size_t at, bool* closed, std::size_t* next) {
  std::size_t end = at + delimiter_.size();
  std::string_view rest = in_.substr(end, 2);
  if (rest == "--") {
    *closed = true;
    *next = end + 2;
    return true;
  }
  if (rest == "\r\n") {
    *closed = false;
    *next = end + 2;
    return true;
  }
  if (rest.empty() || rest == "-" || rest == "\r") {
    return fail(BodyError::Truncated, "body ends in a boundary line", end);
  }
  return fail(BodyError::Malformed, "boundary line not followed by CRLF or '--'", end);
}

bool MultipartParser::parseDisposition(std::string_view value, std::size_t at, BodyField* field) {
  std::size_t semi = value.find(';');
  std::string_view type = syntax::trimOws(value.substr(0, semi));
  if (!equalsIgnoreCase(type, "form-data")) {
    return fail(BodyError::Malformed, "Content-Disposition is not form-data", at);
  }
  bool have_name = false;
  bool have_filename = false;
  bool have_ext_filename = false;
  std::string filename;
  std::string ext_filename;
  std::string why;
  bool ok =
      forEachParameter(semi == std::string_view::npos ? std::string_view() : value.substr(semi),
                       &why, [&](std::string_view name, std::string param, bool quoted) {
                         if (equalsIgnoreCase(name, "name")) {
                           if (have_name) return why = "repeated name parameter", false;
                           have_name = true;
                           field->name = std::move(param);
                         } else if (equalsIgnoreCase(name, "filename")) {
                           if (have_filename) return why = "repeated filename parameter", false;
                           have_filename = true;
                           filename = std::move(param);
                         } else if (equalsIgnoreCase(name, "filename*")) {
                           if (have_ext_filename)
                             return why = "repeated filename* parameter", false;
                           if (quoted || !decodeExtValue(param, &ext_filename)) {
                             return why = "bad filename* value", false;
                           }
                           have_ext_filename = true;
                         }
                         return true;
                       });
  if (!ok) return fail(BodyError::Malformed, why, at);
  if (!have_name) return fail(BodyError::Malformed, "form-data part without a name", at);
  if (have_filename && have_ext_filename && filename != ext_filename) {
    return fail(BodyError::Malformed, "filename and filename* disagree", at);
  }
  if (have_filename || have_ext_filename) {
    field->is_file = true;
    field->filename = have_ext_filename ? std::move(ext_filename) : std::move(filename);
  }
  return true;
}

// From the first header line of a part to just after the blank line.
bool MultipartParser::parseHeaders(std::size_t* pos, BodyField* field) {
  bool have_disposition = false;
  bool have_type = false;
  std::size_t count = 0;
  while (true) {
    std::size_t start = *pos;
    std::size_t lf = in_.find('\n', start);
    std::size_t line_end = lf == std::string_view::npos ? in_.size() : lf;
    if (sink_.tooLarge(line_end - start, "part header line", start)) return false;
    if (lf == std::string_view::npos) {
      return fail(BodyError::Truncated, "body ends in part headers", start);
    }
    if (lf == start || in_[lf - 1] != '\r') {
      return fail(BodyError::Malformed, "part header line ends in a bare LF", lf);
    }
    std::string_view line = in_.substr(start, lf - 1 - start);
    *pos = lf + 1;
    if (line.empty()) break;
    if (line.find('\r') != std::string_view::npos) {
      return fail(BodyError::Malformed, "bare CR in part header", start);
    }
    if (line.substr(0, delimiter_.size()) == delimiter_) {
      return fail(BodyError::Malformed, "boundary inside part headers", start);
    }
    if (++count > kMaxPartHeaders) {
      return fail(BodyError::Malformed, "too many part headers", start);
    }
    if (line[0] == ' ' || line[0] == '\t') {
      return fail(BodyError::Malformed, "folded part header", start);
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || !syntax::isToken(line.substr(0, colon))) {
      return fail(BodyError::Malformed, "bad part header line", start);
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = syntax::trimOws(line.substr(colon + 1));
    for (char c : value) {
      if (!syntax::isFieldValueChar(static_cast<unsigned char>(c))) {
        return fail(BodyError::Malformed, "bad character in part header", start);
      }
    }
    if (equalsIgnoreCase(name, "content-disposition")) {
      if (have_disposition)
        return fail(BodyError::Malformed, "repeated Content-Disposition", start);
      have_disposition = true;
      if (!parseDisposition(value, start, field)) return false;
    } else if (equalsIgnoreCase(name, "content-type")) {
      if (have_type) return fail(BodyError::Malformed, "repeated part Content-Type", start);
      have_type = true;
    } else if (equalsIgnoreCase(name, "content-transfer-encoding")) {
      if (!equalsIgnoreCase(value, "7bit") && !equalsIgnoreCase(value, "8bit") &&
          !equalsIgnoreCase(value, "binary")) {
        return fail(BodyError::Malformed, "unsupported Content-Transfer-Encoding", start);
      }
    }
  }
  if (!have_disposition) {
    return fail(BodyError::Malformed, "part without Content-Disposition", *pos);
  }
  return true;
}

void MultipartParser::run() {
  std::size_t at = findDelimiter(0);
  if (sink_.failed()) return;
  if (at == std::string_view::npos) {
    // A body shorter than one delimiter line ended before it could hold
    // one (Truncated, as a short prefix does); a longer one has none.
    fail(in_.size() < delimiter_.size() + 2 ? BodyError::Truncated : BodyError::Malformed,
         "no boundary line in body", 0);
    return;
  }
  while (true) {
    bool closed = false;
    std::size_t pos = 0;
    if (!afterDelimiter(at, &closed, &pos)) return;
    if (closed) return;  // the epilogue is ignored
    BodyField field;
    if (!parseHeaders(&pos, &field)) return;
    std::size_t next = findDelimiter(pos);
    if (sink_.failed()) return;
    if (next == std::string_view::npos) {
      std::size_t have = in_.size() - pos;
      if (sink_.tooLarge(have, "part content", pos)) return;
      fail(BodyError::Truncated, "no boundary after part content", in_.size());
      return;
    }
    // The CRLF before the delimiter belongs to it, not to the content; a
    // delimiter straight after the header block has no CRLF of its own.
    if (next < pos + 2) {
      fail(BodyError::Malformed, "boundary directly after part headers", next);
      return;
    }
    field.value.assign(in_.substr(pos, next - 2 - pos));
    if (!sink_.add(std::move(field))) return;
    at = next;
  }
}

}  // namespace

bool multipartBoundary(std::string_view content_type, std::string* boundary, std::string* why) {
  std::size_t semi = content_type.find(';');
  bool found = false;
  std::string params_why;
  bool ok = forEachParameter(
      semi == std::string_view::npos ? std::string_view() : content_type.substr(semi), &params_why,
      [&](std::string_view name, std::string value, bool) {
        if (!equalsIgnoreCase(name, "boundary")) return true;
        if (found) return params_why = "repeated boundary parameter", false;
        found = true;
        *boundary = std::move(value);
        return true;
      });
  if (!ok) {
    *why = params_why;
    return false;
  }
  if (!found) {
    *why = "no boundary parameter";
    return false;
  }
  if (boundary->empty() || boundary->size() > kMaxBoundaryBytes) {
    *why = "boundary must be 1-70 characters";
    return false;
  }
  for (char c : *boundary) {
    if (!isBoundaryChar(static_cast<unsigned char>(c))) {
      *why = "invalid character in boundary";
      return false;
    }
  }
  if (boundary->back() == ' ') {
    *why = "boundary ends in a space";
    return false;
  }
  return true;
}

void parseMultipart(std::string_view boundary, std::string_view body, FieldSink& sink) {
  MultipartParser parser(boundary, body, sink);
  parser.run();
}

}  // namespace mamori::http::body
