#include "http/body_parser.h"

#include <utility>

#include "http/body_formats.h"
#include "http/syntax.h"
#include "http/url.h"

namespace mamori::http {

const char* bodyErrorName(BodyError error) {
  switch (error) {
    case BodyError::None:
      return "none";
    case BodyError::Malformed:
      return "malformed";
    case BodyError::TooDeep:
      return "too_deep";
    case BodyError::TooManyFields:
      return "too_many_fields";
    case BodyError::FieldTooLarge:
      return "field_too_large";
    case BodyError::MissingBoundary:
      return "missing_boundary";
    case BodyError::Truncated:
      return "truncated";
  }
  return "unknown";
}

namespace {

bool endsWithIgnoreCase(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && equalsIgnoreCase(s.substr(s.size() - suffix.size()), suffix);
}

}  // namespace

BodyKind bodyKindFromContentType(std::string_view content_type) {
  std::string_view media = syntax::trimOws(content_type.substr(0, content_type.find(';')));
  std::size_t slash = media.find('/');
  if (slash == std::string_view::npos) return BodyKind::Other;
  std::string_view type = media.substr(0, slash);
  std::string_view subtype = media.substr(slash + 1);
  // A media type that is not token "/" token (e.g. "application/json x")
  // is not one we parse; its raw body is still inspected as Other.
  if (!syntax::isToken(type) || !syntax::isToken(subtype)) return BodyKind::Other;
  if (equalsIgnoreCase(type, "image") || equalsIgnoreCase(type, "audio") ||
      equalsIgnoreCase(type, "video") || equalsIgnoreCase(type, "font")) {
    return BodyKind::Binary;
  }
  if (equalsIgnoreCase(type, "application")) {
    if (equalsIgnoreCase(subtype, "x-www-form-urlencoded")) return BodyKind::UrlEncoded;
    for (std::string_view binary :
         {"octet-stream", "pdf", "zip", "gzip", "x-gzip", "x-tar", "x-bzip2", "x-xz", "zstd",
          "x-7z-compressed", "x-rar-compressed", "vnd.rar", "x-protobuf", "protobuf", "grpc",
          "wasm", "x-msdownload"}) {
      if (equalsIgnoreCase(subtype, binary)) return BodyKind::Binary;
    }
    if (equalsIgnoreCase(subtype, "json") || endsWithIgnoreCase(subtype, "+json")) {
      return BodyKind::Json;
    }
    if (equalsIgnoreCase(subtype, "xml") || endsWithIgnoreCase(subtype, "+xml")) {
      return BodyKind::Xml;
    }
    return BodyKind::Other;
  }
  if (equalsIgnoreCase(type, "text") && equalsIgnoreCase(subtype, "xml")) return BodyKind::Xml;
  if (equalsIgnoreCase(type, "multipart") && equalsIgnoreCase(subtype, "form-data")) {
    return BodyKind::Multipart;
  }
  return BodyKind::Other;
}

ParsedBody parseBody(std::string_view content_type, std::string_view body,
                     const BodyLimits& limits, BodyExtent extent) {
  ParsedBody out;
  out.prefix_only = extent == BodyExtent::Prefix;
  // An empty body has nothing to hide, whatever its declared type: no
  // fields and no error (an empty JSON or XML document is not well formed,
  // but flagging every bodiless POST would only produce noise).
  if (body.empty()) return out;
  out.kind = bodyKindFromContentType(content_type);
  if (out.prefix_only && out.kind == BodyKind::UrlEncoded) {
    // The cut may fall inside a %XX escape: drop the incomplete escape
    // rather than report it as malformed.
    std::size_t pct = body.rfind('%');
    if (pct != std::string_view::npos && pct + 3 > body.size()) {
      bool hex_so_far = true;
      for (std::size_t i = pct + 1; i < body.size(); ++i)
        hex_so_far = hex_so_far && syntax::hexValue(static_cast<unsigned char>(body[i])) >= 0;
      if (hex_so_far) body = body.substr(0, pct);
    }
  }
  body::FieldSink sink(limits, &out);
  switch (out.kind) {
    case BodyKind::UrlEncoded:
      body::parseUrlEncoded(body, sink);
      break;
    case BodyKind::Json:
      body::parseJson(body, sink);
      break;
    case BodyKind::Multipart: {
      std::string boundary;
      std::string why;
      if (!body::multipartBoundary(content_type, &boundary, &why)) {
        sink.fail(BodyError::MissingBoundary, std::move(why));
        break;
      }
      body::parseMultipart(boundary, body, sink);
      break;
    }
    case BodyKind::Xml:
      body::parseXml(body, sink);
      break;
    case BodyKind::None:
    case BodyKind::Other:
    case BodyKind::Binary:
      break;
  }
  if (out.prefix_only && out.error == BodyError::Truncated) {
    // Every parser reports running out of input as Truncated, which for a
    // prefix is where we cut it, not something the client did.
    out.error = BodyError::None;
    out.error_detail.clear();
  }
  return out;
}

namespace body {

bool FieldSink::fail(BodyError error, std::string detail) {
  if (out_->error == BodyError::None) {
    out_->error = error;
    out_->error_detail = std::move(detail);
  }
  return false;
}

bool FieldSink::tooLarge(std::size_t size, const char* what, std::size_t offset) {
  if (size <= limits_.max_field_bytes) return false;
  fail(BodyError::FieldTooLarge, std::string(what) + " over " +
                                     std::to_string(limits_.max_field_bytes) + " bytes at " +
                                     std::to_string(offset));
  return true;
}

bool FieldSink::add(BodyField field) {
  if (failed()) return false;
  if (out_->fields.size() >= limits_.max_fields) {
    return fail(BodyError::TooManyFields,
                "more than " + std::to_string(limits_.max_fields) + " fields");
  }
  if (field.name.size() > limits_.max_field_bytes || field.value.size() > limits_.max_field_bytes ||
      field.filename.size() > limits_.max_field_bytes) {
    return fail(BodyError::FieldTooLarge, "field " + std::to_string(out_->fields.size()) +
                                              " over " + std::to_string(limits_.max_field_bytes) +
                                              " bytes");
  }
  out_->fields.push_back(std::move(field));
  return true;
}

void appendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Form bodies, as browsers send them (WHATWG URL "application/x-www-form-
// urlencoded parsing"), with these choices:
//  - Only '&' separates fields. ';' is NOT a separator: current browsers,
//    PHP and Python >= 3.9.2 do not split on it (splitting on it enabled
//    web-cache poisoning), so "a=1;b=2" is one field a = "1;b=2" and the
//    whole text stays in a value that rules see.
//  - Empty pieces ("a=1&&b=2") are skipped; a piece without '=' is a name
//    with an empty value; repeats are kept in order.
//  - A '%' not followed by two hex digits is Malformed, but parsing goes
//    on (the bad escape kept literally) instead of stopping: PHP and most
//    frameworks decode the rest of such a body leniently, so stopping would
//    let "%zz&q=<attack>" reach the application uninspected.
void parseUrlEncoded(std::string_view body, FieldSink& sink) {
  std::size_t start = 0;
  bool malformed = false;
  std::size_t malformed_at = 0;
  auto decode = [&](std::string_view raw, std::size_t offset, std::string* out) {
    auto strict = percentDecode(raw, /*plus_as_space=*/true);
    if (strict.ok()) {
      *out = std::move(strict.value());
      return;
    }
    if (!malformed) {
      malformed = true;
      std::size_t pct = 0;
      while (pct < raw.size()) {
        if (raw[pct] == '%' && (pct + 2 >= raw.size() ||
                                syntax::hexValue(static_cast<unsigned char>(raw[pct + 1])) < 0 ||
                                syntax::hexValue(static_cast<unsigned char>(raw[pct + 2])) < 0)) {
          break;
        }
        pct += raw[pct] == '%' ? 3 : 1;
      }
      malformed_at = offset + pct;
    }
    *out = percentDecodeLenient(raw, /*plus_as_space=*/true);
  };
  while (start < body.size()) {
    std::size_t amp = body.find('&', start);
    std::size_t end = amp == std::string_view::npos ? body.size() : amp;
    std::string_view piece = body.substr(start, end - start);
    if (!piece.empty()) {
      std::size_t eq = piece.find('=');
      std::string_view raw_name = piece.substr(0, eq);
      std::string_view raw_value =
          eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
      // Decoding costs one pass over bytes already buffered, so the size
      // limits are checked on the decoded name and value by sink.add().
      BodyField field;
      decode(raw_name, start, &field.name);
      decode(raw_value, start + raw_name.size() + 1, &field.value);
      if (!sink.add(std::move(field))) return;
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  if (malformed) {
    sink.fail(BodyError::Malformed,
              "'%' not followed by two hex digits at " + std::to_string(malformed_at));
  }
}

}  // namespace body
}  // namespace mamori::http
