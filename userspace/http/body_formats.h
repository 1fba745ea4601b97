#pragma once

// Internal to mamori_http: the per-format body parsers behind parseBody()
// (body_parser.h) and the one place that enforces BodyLimits. Kept in a
// header so each format lives in its own file and can be read alone; other
// modules use body_parser.h only.
//
// Every parser here is iterative (an explicit stack where the format nests),
// stops at the first error, and leaves the fields parsed before it in
// ParsedBody::fields. Pure functions, any thread.

#include <cstddef>
#include <string>
#include <string_view>

#include "http/body_parser.h"

namespace mamori::http::body {

// Collects fields into a ParsedBody while enforcing BodyLimits. Each parser
// owns one for the duration of a parse (one thread).
class FieldSink {
 public:
  FieldSink(const BodyLimits& limits, ParsedBody* out) : limits_(limits), out_(out) {}

  // Appends `field` after checking the field count and the name and value
  // sizes. Returns false (and records the error) when a limit is broken;
  // the field is then not added.
  bool add(BodyField field);

  // True when a name or value of `size` bytes would break max_field_bytes;
  // records FieldTooLarge with `what` and `offset` in the detail. Lets a
  // parser give up on a huge value before it has copied it all.
  bool tooLarge(std::size_t size, const char* what, std::size_t offset);

  // Records `error` (the first error wins) and returns false, so a parser
  // can write `return sink.fail(...)`.
  bool fail(BodyError error, std::string detail);

  bool failed() const { return out_->error != BodyError::None; }
  const BodyLimits& limits() const { return limits_; }

 private:
  const BodyLimits& limits_;
  ParsedBody* out_;
};

// application/x-www-form-urlencoded (see body_parser.cpp for the choices).
void parseUrlEncoded(std::string_view body, FieldSink& sink);

// application/json, RFC 8259 (json_body.cpp).
void parseJson(std::string_view body, FieldSink& sink);

// multipart/form-data, RFC 7578 (multipart_body.cpp). `boundary` is the
// already validated boundary parameter (1-70 bchars).
void parseMultipart(std::string_view boundary, std::string_view body, FieldSink& sink);

// XML 1.0, non-validating (xml_body.cpp).
void parseXml(std::string_view body, FieldSink& sink);

// Extracts and validates the boundary parameter of a multipart Content-Type
// value (RFC 2046 §5.1.1: 1-70 bchars, not ending in space; quoted or not).
// Returns false with `*why` set when it is missing, repeated or invalid.
bool multipartBoundary(std::string_view content_type, std::string* boundary, std::string* why);

// Appends the UTF-8 encoding of `cp` (which must be <= 0x10FFFF and not a
// surrogate) to `out`. Shared by the JSON and XML decoders.
void appendUtf8(char32_t cp, std::string* out);

}  // namespace mamori::http::body
