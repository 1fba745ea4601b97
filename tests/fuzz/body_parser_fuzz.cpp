// Fuzz target for the body parsers (http/body_parser.h). Input format: the
// Content-Type value, a LF, then the body (no LF: empty Content-Type, all
// bytes are the body), so corpus files stay readable. The same body is also
// parsed as each of the four kinds, so every seed exercises every parser.
// Besides "does not crash or hang", it checks the properties inspection
// relies on:
//   - limits hold: at most max_fields fields, no name/value/filename over
//     max_field_bytes;
//   - error_detail is set exactly when error is;
//   - kind follows bodyKindFromContentType (None for an empty body), and
//     only multipart produces file parts;
//   - parsing is deterministic, and lowering max_fields only cuts the field
//     list short (the fields kept are a prefix of the unrestricted ones).
// Violations abort, so libFuzzer and the corpus replay both report them.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/body_parser.h"

namespace {

using mamori::http::BodyError;
using mamori::http::BodyKind;
using mamori::http::BodyLimits;
using mamori::http::ParsedBody;

void check(bool ok) {
  if (!ok) std::abort();
}

ParsedBody parseChecked(std::string_view content_type, std::string_view body,
                        const BodyLimits& limits) {
  ParsedBody got = mamori::http::parseBody(content_type, body, limits);
  check(got.fields.size() <= limits.max_fields);
  for (const auto& field : got.fields) {
    check(field.name.size() <= limits.max_field_bytes);
    check(field.value.size() <= limits.max_field_bytes);
    check(field.filename.size() <= limits.max_field_bytes);
    if (!field.is_file) check(field.filename.empty());
    if (field.is_file) check(got.kind == BodyKind::Multipart);
  }
  check(got.error_detail.empty() == (got.error == BodyError::None));
  if (body.empty()) {
    check(got.kind == BodyKind::None && got.fields.empty() && got.error == BodyError::None);
  } else {
    check(got.kind == mamori::http::bodyKindFromContentType(content_type));
  }
  if (got.kind != BodyKind::Multipart) check(got.error != BodyError::MissingBoundary);
  if (got.kind == BodyKind::UrlEncoded) {
    check(got.error == BodyError::None || got.error == BodyError::Malformed ||
          got.error == BodyError::TooManyFields || got.error == BodyError::FieldTooLarge);
  }
  return got;
}

void checkOne(std::string_view content_type, std::string_view body) {
  BodyLimits wide;
  wide.max_depth = 64;
  ParsedBody a = parseChecked(content_type, body, wide);
  ParsedBody b = parseChecked(content_type, body, wide);
  check(a.fields == b.fields && a.error == b.error && a.error_detail == b.error_detail);

  BodyLimits narrow = wide;
  narrow.max_fields = 3;
  ParsedBody c = parseChecked(content_type, body, narrow);
  check(c.fields.size() <= a.fields.size());
  for (std::size_t i = 0; i < c.fields.size(); ++i) check(c.fields[i] == a.fields[i]);
  if (a.fields.size() > 3) check(c.error == BodyError::TooManyFields);

  BodyLimits tiny;
  tiny.max_depth = 2;
  tiny.max_fields = 4;
  tiny.max_field_bytes = 16;
  parseChecked(content_type, body, tiny);

  // As a prefix (body_over_limit: inspect_prefix): the cut end is never an
  // error, and a body that parses whole parses as a prefix too.
  ParsedBody p = mamori::http::parseBody(content_type, body, wide, mamori::http::BodyExtent::Prefix);
  check(p.prefix_only && p.error != BodyError::Truncated);
  check(p.error_detail.empty() == (p.error == BodyError::None));
  if (a.error == BodyError::None) check(p.error == BodyError::None);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::size_t lf = in.find('\n');
  std::string_view content_type =
      lf == std::string_view::npos ? std::string_view() : in.substr(0, lf);
  std::string_view body = lf == std::string_view::npos ? in : in.substr(lf + 1);

  checkOne(content_type, body);
  checkOne("application/x-www-form-urlencoded", body);
  checkOne("application/json", body);
  checkOne("application/xml", body);
  // The declared boundary if the input has one, else a fixed one.
  if (mamori::http::bodyKindFromContentType(content_type) != BodyKind::Multipart) {
    checkOne("multipart/form-data; boundary=XyZ", body);
  }
  return 0;
}
