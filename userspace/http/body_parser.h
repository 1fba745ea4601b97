#pragma once

// Request body parsing: turns a buffered, de-chunked body into named fields
// that inspection can target (DESIGN.md "Normalised views"). Bytes in,
// fields or a reason out: no I/O, no locks.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mamori::http {

// The body format, chosen from Content-Type (and, for Unknown, not parsed).
enum class BodyKind : std::uint8_t {
  None,        // empty body
  UrlEncoded,  // application/x-www-form-urlencoded
  Json,        // application/json, application/*+json
  Multipart,   // multipart/form-data (needs a boundary parameter)
  Xml,         // application/xml, text/xml, application/*+xml
  Other,       // any other type: only the raw body is inspectable
  Binary,      // data, not text: image/*, audio/*, video/*, font/*, octet-stream,
               // archives, PDF, protobuf. Not parsed, and not inspected as text:
               // matching text signatures against compressed or random bytes
               // only finds false positives.
};

// One field of a parsed body, in document order.
//  - UrlEncoded: name and value percent-decoded ('+' as space), repeats kept.
//  - Json: name is the path of the value, objects joined with '.', array
//    elements as [i] ("user.name", "items[2].id"); value is the scalar as
//    text (strings unescaped, numbers/true/false/null as written).
//  - Multipart: name is the part's form name; value its content (a file
//    part too, up to the limits); filename set for file parts.
//  - Xml: name is the element path ("a.b.c") for text, "a.b@attr" for an
//    attribute; value the text or attribute value, entities decoded.
struct BodyField {
  std::string name;
  std::string value;
  std::string filename;  // multipart file parts only
  bool is_file = false;  // multipart part with a filename parameter
  bool operator==(const BodyField&) const = default;
};

// Why a body could not be parsed. A failure is itself a detection for
// inspection (never "pass uninspected"), so each reason is stable and named.
enum class BodyError : std::uint8_t {
  None,
  Malformed,         // syntax error for its declared kind
  TooDeep,           // JSON/XML nesting over BodyLimits::max_depth
  TooManyFields,     // over BodyLimits::max_fields
  FieldTooLarge,     // a name or value over BodyLimits::max_field_bytes
  MissingBoundary,   // multipart without a usable boundary parameter
  Truncated,         // the body ended inside a construct (e.g. unclosed part)
};

// Stable snake_case name of `error` ("too_deep"); "unknown" out of range.
const char* bodyErrorName(BodyError error);

struct BodyLimits {
  std::size_t max_depth = 32;
  std::size_t max_fields = 1024;
  std::size_t max_field_bytes = 1 << 20;
};

// How much of the body parseBody() is given.
enum class BodyExtent : std::uint8_t {
  Whole,   // the complete body
  Prefix,  // only its first bytes (Request::body_truncated, body_over_limit:
           // inspect_prefix): the cut end is not an error
};

struct ParsedBody {
  BodyKind kind = BodyKind::None;
  bool prefix_only = false;       // parsed with BodyExtent::Prefix
  std::vector<BodyField> fields;  // what was parsed before any error
  BodyError error = BodyError::None;
  std::string error_detail;       // short human text, e.g. "expected ':' at 17"
};

// Picks the BodyKind from a Content-Type header value (case-insensitive
// media type, parameters ignored). Any thread.
BodyKind bodyKindFromContentType(std::string_view content_type);

// Parses `body` according to `content_type` (the request's Content-Type
// value, empty when absent). Never throws; bad input gives error != None
// with the fields parsed so far. With BodyExtent::Prefix a document that is
// merely cut short (BodyError::Truncated, or a form body ending inside a
// %XX escape) gives no error: the fields before the cut are returned and
// the construct the cut fell in is left out (the raw prefix still holds
// it); real syntax errors before the cut are still reported. Any thread;
// no shared state.
ParsedBody parseBody(std::string_view content_type, std::string_view body,
                     const BodyLimits& limits = {}, BodyExtent extent = BodyExtent::Whole);

}  // namespace mamori::http
