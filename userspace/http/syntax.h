#pragma once

// Low-level HTTP/1.x syntax shared by the request parser, the response
// parser and the chunked decoder: character classes (RFC 9110 §5.6),
// CRLF-strict line assembly, and field-line validation. Internal to
// mamori_http but kept in a header so the rules live in exactly one place
// and can be unit-tested. No allocation except LineReader's bounded buffer.
// Everything here is reentrant; a LineReader is owned by one thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/types.h"

namespace mamori::http::syntax {

// tchar (RFC 9110 §5.6.2): the characters of a token (method, header name,
// transfer-coding).
bool isTokenChar(unsigned char c);

// True when `s` is a non-empty token.
bool isToken(std::string_view s);

// field-vchar / SP / HTAB (RFC 9110 §5.5): what a field value may contain.
// Rejects NUL, CR, LF and every other CTL including DEL; allows obs-text
// (0x80-0xFF) because real clients send UTF-8 in values.
bool isFieldValueChar(unsigned char c);

bool isHexDigit(unsigned char c);
int hexValue(unsigned char c);  // 0-15, or -1 if not a hex digit

// Removes leading and trailing SP/HTAB (OWS).
std::string_view trimOws(std::string_view s);

// Validates a Host header value or an absolute-form authority:
// host [":" port] with host an IP-literal "[...]" (hex digits, ':' and '.')
// or a name made of ALPHA / DIGIT / "-" / "." / "_" / "~", and port 1-5
// digits. Stricter than RFC 3986 reg-name on purpose: sub-delims, '%' and
// '@' never occur in a real host name but do occur in routing-confusion
// attacks. Returns false on anything else, including an empty value.
bool isValidHost(std::string_view host);

// Splits a comma-separated list (RFC 9110 §5.6.1) and calls `fn` on each
// OWS-trimmed element, empty elements included. Returns early with false
// when `fn` does.
template <typename Fn>
bool forEachListElement(std::string_view list, Fn&& fn) {
  std::size_t start = 0;
  while (true) {
    std::size_t comma = list.find(',', start);
    std::string_view element =
        trimOws(list.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                                   : comma - start));
    if (!fn(element)) return false;
    if (comma == std::string_view::npos) return true;
    start = comma + 1;
  }
}

// Assembles one CRLF-terminated line from input that may arrive in pieces
// split at any byte. RFC 9112 §2.2 lets a recipient accept a bare LF as a
// line terminator; we do not, because a front end and a back end that
// disagree on where a line ends disagree on where a header or chunk ends
// (the classic bare-LF and bare-CR smuggling vectors).
class LineReader {
 public:
  enum class Status {
    NeedMore,  // all input consumed, no complete line yet
    Line,      // line() holds a complete line; *consumed includes its CRLF
    TooLong,   // the line (with CRLF) would exceed max_bytes
    BareLf,    // LF without a preceding CR
    BareCr,    // CR inside the line, i.e. not immediately before the LF
  };

  // Scans `in` for the end of the current line. `max_bytes` bounds the
  // whole line including CRLF; TooLong is reported as soon as the bound is
  // passed, without waiting for the LF. *consumed is set to the bytes used:
  // all of `in` for NeedMore; up to and including the LF for Line, BareLf
  // and BareCr; for TooLong, up to the byte at which the line reached
  // max_bytes without ending. These offsets do not depend on how the input
  // was split. max_bytes must exceed pending().
  Status feed(std::string_view in, std::size_t max_bytes, std::size_t* consumed);

  // The completed line without its CRLF. Valid after feed() returned Line,
  // until the next feed() or clear(); may point into the feed() input.
  std::string_view line() const { return line_; }

  // Bytes buffered for the current, incomplete line.
  std::size_t pending() const { return buf_.size(); }

  // Drops any partial line (used when the owner resets).
  void clear() {
    buf_.clear();
    line_ = {};
  }

 private:
  std::string buf_;   // partial line across feed() calls
  std::string done_;  // storage for a completed line that spanned feeds
  std::string_view line_;
};

// Parses one field line (header or trailer, without CRLF) into `out`.
// Returns nullopt on success or the reason it is malformed: ObsFold for a
// leading SP/HTAB, HeaderMissingColon, WhitespaceBeforeColon, BadHeaderName,
// BadHeaderValue (CTL/NUL in the value). The value is OWS-trimmed.
std::optional<RejectReason> parseFieldLine(std::string_view line, Header* out);

// The reject reason for a LineReader status that ends a line badly:
// `too_long` for TooLong, BareLf, BareCr; nullopt for NeedMore and Line.
std::optional<RejectReason> lineError(LineReader::Status status, RejectReason too_long);

// One step of reading a field section (headers or trailers) that ends at an
// empty line. Feeds `in` to `line`, bounded so the whole section stays within
// `max_section_bytes` (`*section_bytes` counts what was read so far and is
// updated); `max_fields` bounds how many fields the caller may keep
// (`fields_so_far` have been kept). Sets *consumed like LineReader::feed.
// Field: *field holds the parsed line. End: the empty line was read.
// Reject: *reason says why (too_long for an over-long section). Shared by
// the request and response parsers and the chunked trailer reader so that
// every field section obeys the same rules.
enum class FieldStep { NeedMore, Field, End, Reject };
FieldStep readFieldLine(LineReader& line, std::string_view in, std::size_t max_section_bytes,
                        std::size_t* section_bytes, std::size_t fields_so_far,
                        std::size_t max_fields, RejectReason too_long, std::size_t* consumed,
                        Header* field, RejectReason* reason);

}  // namespace mamori::http::syntax
