#include "inspect/types.h"

#include <array>

namespace mamori::inspect {
namespace {

// One table per enum, indexed by the enum value, so name and value cannot
// drift apart without the static_asserts below noticing.
constexpr std::array<const char*, 17> kCategoryNames = {
    "sqli", "xss",  "lfi",      "rfi",     "rce",     "php",     "java",    "ssti",  "ssrf",
    "nosql", "ldap", "xxe", "crlf", "protocol", "scanner", "session", "generic"};
static_assert(kCategoryNames.size() == static_cast<size_t>(Category::Generic) + 1);

constexpr std::array<const char*, 4> kSeverityNames = {"notice", "warning", "error", "critical"};
static_assert(kSeverityNames.size() == static_cast<size_t>(Severity::Critical) + 1);

constexpr std::array<const char*, kTargetKindCount> kTargetNames = {
    "path",         "decoded_path", "raw_query",   "query_arg_names", "query_args",
    "header_names", "headers",      "cookie_names", "cookies",        "body_names",
    "body_fields",  "raw_body",     "file_names",  "method",          "request_line",
    "tls_ja3",      "tls_ja4",      "body_error",  "unsplit_body",    "arg_names",
    "args"};

constexpr std::array<const char*, kTransformCount> kTransformNames = {
    "url_decode",      "url_decode_uni",  "html_entity_decode", "js_decode",
    "css_decode",      "base64_decode",   "hex_decode",         "lowercase",
    "normalize_path",  "remove_nulls",    "remove_comments",    "compress_whitespace",
    "remove_whitespace", "cmdline",       "utf8_fold"};

constexpr std::array<const char*, 10> kOperatorNames = {
    "pattern", "phrases",    "equals",      "prefix",     "suffix",
    "contains", "numeric", "byte_range", "detect_sqli", "detect_xss"};
static_assert(kOperatorNames.size() == static_cast<size_t>(OperatorKind::DetectXss) + 1);

template <typename E, size_t N>
const char* nameOf(const std::array<const char*, N>& names, E value) {
  auto index = static_cast<size_t>(value);
  return index < N ? names[index] : "unknown";
}

template <typename E, size_t N>
std::optional<E> fromName(const std::array<const char*, N>& names, std::string_view name) {
  for (size_t i = 0; i < N; ++i) {
    if (name == names[i]) return static_cast<E>(i);
  }
  return std::nullopt;
}

}  // namespace

const char* categoryName(Category category) { return nameOf(kCategoryNames, category); }
const char* severityName(Severity severity) { return nameOf(kSeverityNames, severity); }
const char* targetKindName(TargetKind kind) { return nameOf(kTargetNames, kind); }
const char* transformName(Transform transform) { return nameOf(kTransformNames, transform); }
const char* operatorKindName(OperatorKind kind) { return nameOf(kOperatorNames, kind); }

std::optional<Category> categoryFromName(std::string_view name) {
  return fromName<Category>(kCategoryNames, name);
}
std::optional<Severity> severityFromName(std::string_view name) {
  return fromName<Severity>(kSeverityNames, name);
}
std::optional<TargetKind> targetKindFromName(std::string_view name) {
  return fromName<TargetKind>(kTargetNames, name);
}
std::optional<Transform> transformFromName(std::string_view name) {
  return fromName<Transform>(kTransformNames, name);
}

}  // namespace mamori::inspect
