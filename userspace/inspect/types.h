#pragma once

// Plain data shared by the signature engine and its neighbours (guard reads
// Detections; the daemon fills InspectOptions from a site's config; the
// event log writes Detections). No logic beyond name lookups, no third-party
// types, no locks: values are owned by one thread at a time and may be read
// from several once built.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mamori::inspect {

// Attack class of a rule. Names ("sqli") are stable: rule files, logs and
// metric labels use them.
enum class Category : std::uint8_t {
  Sqli,
  Xss,
  Lfi,
  Rfi,
  Rce,
  Php,
  Java,
  Ssti,
  Ssrf,
  Nosql,
  Ldap,
  Xxe,
  Crlf,
  Protocol,
  Scanner,
  Session,
  Generic,
};

// How bad a match is, for people reading the event log. Scoring uses the
// rule's `score`, not the severity.
enum class Severity : std::uint8_t { Notice, Warning, Error, Critical };

// Where in the request a rule looks. Each kind yields zero or more values,
// each with a name where the part has one (argument, header, cookie or
// body field name); see docs/rules.md for what each holds exactly.
enum class TargetKind : std::uint8_t {
  Path,            // path as sent, still percent-encoded
  DecodedPath,     // path percent-decoded once (by the HTTP parser)
  RawQuery,        // query string as sent, without '?'
  QueryArgNames,   // decoded query argument names
  QueryArgValues,  // decoded query argument values (name: the argument name)
  HeaderNames,     // header field names as sent
  HeaderValues,    // header values (name: the header name, case-insensitive)
  CookieNames,     // cookie names from every Cookie header
  CookieValues,    // cookie values (name: the cookie name)
  BodyNames,       // parsed body field names (form, JSON path, multipart, XML path)
  BodyValues,      // parsed body field values (name: the field name)
  RawBody,         // de-chunked body bytes as received (possibly truncated)
  FileNames,       // multipart file names (name: the form field name)
  Method,          // the method token
  RequestLine,     // "METHOD target HTTP/x.y"
  TlsJa3,          // the TLS client's JA3 (MD5 hex), when the request came over TLS
  TlsJa4,          // the TLS client's JA4, when the request came over TLS
  BodyError,       // one value, the body parse error name, when parsing failed
  UnsplitBody,     // RawBody, unless its parsed fields hold all of it (a clean form or JSON body)
  // Unions, as ModSecurity's ARGS / ARGS_NAMES: query and body together.
  ArgNames,   // QueryArgNames + BodyNames
  ArgValues,  // QueryArgValues + BodyValues
};
inline constexpr std::size_t kTargetKindCount = static_cast<std::size_t>(TargetKind::ArgValues) + 1;
// The kinds a request is split into; ArgNames/ArgValues expand into two of
// these at compile time.
inline constexpr std::size_t kPrimitiveTargetKindCount =
    static_cast<std::size_t>(TargetKind::UnsplitBody) + 1;

// What the inspector knows of the request's connection beyond the HTTP
// request itself. Empty views: not known (plain HTTP, or a ClientHello
// that did not parse), and the matching target kinds yield no value.
struct ConnectionFacts {
  std::string_view tls_ja3;
  std::string_view tls_ja4;
};

// One target of a rule: a kind, optionally narrowed to some names
// (case-insensitive, exact) and with some names left out (ModSecurity's
// "ARGS|!ARGS:password"). Names only make sense for kinds whose values are
// named.
struct Target {
  TargetKind kind = TargetKind::Path;
  std::vector<std::string> names;   // empty: every value of the kind
  std::vector<std::string> except;  // names skipped even when `names` is empty
  bool operator==(const Target&) const = default;
};

// One normalisation step applied to a value before the operator sees it.
enum class Transform : std::uint8_t {
  UrlDecode,         // %XX and %uXXXX, '+' to space; bad escapes kept
  UrlDecodeUni,      // UrlDecode repeated until stable (at most 4 rounds): double encoding
  HtmlEntityDecode,  // &lt; &#60; &#x3c; and common named entities
  JsDecode,          // \xHH \uHHHH \OOO \n ... JavaScript string escapes
  CssDecode,         // \HHHHHH and \c CSS escapes
  Base64Decode,      // standard or URL alphabet, padding optional; junk skipped
  HexDecode,         // pairs of hex digits; odd/invalid input left as is
  Lowercase,         // ASCII only
  NormalizePath,     // '\\' to '/', '//' collapsed, ./ and ../ resolved
  RemoveNulls,       // drop NUL bytes
  RemoveComments,    // /* */, <!-- -->, --, # to end of line
  CompressWhitespace,  // runs of whitespace to one space
  RemoveWhitespace,    // every whitespace byte dropped
  CmdLine,           // command-line normalisation (see transform.h)
  Utf8Fold,          // overlong UTF-8 and full-width ASCII folded to ASCII
};
inline constexpr std::size_t kTransformCount = static_cast<std::size_t>(Transform::Utf8Fold) + 1;

using TransformChain = std::vector<Transform>;

// What a rule tests a (transformed) value for.
enum class OperatorKind : std::uint8_t {
  Pattern,     // regular expression (Hyperscan, PCRE2 confirm when needed)
  Phrases,     // any of a list of literal phrases
  Equals,      // the whole value equals `text`
  Prefix,      // the value starts with `text`
  Suffix,      // the value ends with `text`
  Contains,    // `text` occurs in the value
  Numeric,     // a number compared (value, length, or count of values)
  ByteRange,   // a byte outside the allowed ranges is present
  DetectSqli,  // tokenizer-based SQL injection detector (reserved)
  DetectXss,   // tokenizer-based XSS detector (reserved)
};

// How phrases match a value.
enum class PhraseMatch : std::uint8_t {
  Substring,  // anywhere in the value
  Word,       // bounded by non-word bytes or the ends of the value
  Whole,      // the whole value is the phrase
};

enum class Compare : std::uint8_t { Gt, Ge, Lt, Le, Eq, Ne };

// What a Numeric operator compares.
enum class NumericOf : std::uint8_t {
  Value,   // the value parsed as a decimal integer (no match when not a number)
  Length,  // the value's length in bytes
  Count,   // the number of values the targets yield (ModSecurity's &ARGS)
};

struct ByteRangeSpan {
  std::uint8_t lo = 0;
  std::uint8_t hi = 0;
  bool operator==(const ByteRangeSpan&) const = default;
};

struct Operator {
  OperatorKind kind = OperatorKind::Pattern;
  bool negate = false;    // the rule matches when the operator does not
  bool caseless = false;  // Pattern, Phrases, Equals/Prefix/Suffix/Contains
  std::string text;       // Pattern: the regex; Equals..Contains: the literal
  std::vector<std::string> phrases;                 // Phrases
  PhraseMatch phrase_match = PhraseMatch::Substring;  // Phrases
  Compare compare = Compare::Gt;                      // Numeric
  NumericOf numeric_of = NumericOf::Value;            // Numeric
  std::int64_t number = 0;                            // Numeric
  std::vector<ByteRangeSpan> allowed;                 // ByteRange
};

// One detection: a rule that matched, where, and on what.
struct Detection {
  std::uint32_t rule_id = 0;
  std::string message;
  Category category = Category::Generic;
  Severity severity = Severity::Warning;
  int score = 0;
  TargetKind target = TargetKind::Path;  // always a primitive kind
  std::string target_name;  // argument/header/cookie/field name; empty if unnamed
  // The matched bytes after transformation, at most kMaxFragmentBytes, or
  // "[masked]" when the target's name looks like a secret.
  std::string fragment;
  bool masked = false;
  TransformChain transforms;
};

inline constexpr std::size_t kMaxFragmentBytes = 64;

// What to do when the per-request inspection budget runs out before every
// rule had its look: a written fail-open / fail-closed choice per site.
enum class BudgetAction : std::uint8_t { Pass, Block };

// Per-site exclusions: rules that do not apply to this site at all, or on
// some paths, or to some named values (a CMS's "content" field that is
// legitimately full of HTML). rule_id 0 in the pairs means "every rule".
struct PathExclusion {
  // Compared with the decoded path after normalize_path, so "/a/../b"
  // is under "/b", never under "/a".
  std::string path_prefix;
  std::uint32_t rule_id = 0;
};
struct TargetExclusion {
  std::string name;  // argument/header/cookie/field name, case-insensitive
  std::uint32_t rule_id = 0;
};
struct Exclusions {
  std::vector<std::uint32_t> rule_ids;
  std::vector<std::string> tags;
  std::vector<PathExclusion> paths;
  std::vector<TargetExclusion> targets;
};

// A site's inspection settings. Filled by the daemon from the site config.
struct InspectOptions {
  int paranoia_level = 1;     // 1..4: rules with a higher level are skipped
  int anomaly_threshold = 5;  // summed score at which the request is blocked
  bool detection_only = false;  // report would_block, never block
  Exclusions exclusions;
  // Bytes the operators may look at per request (transformed values
  // scanned, summed over databases and direct operators). 0: unlimited.
  std::size_t budget_bytes = 4 * 1024 * 1024;
  // Wall-clock budget, checked between values (cheap, not preemptive).
  // 0: unlimited.
  std::chrono::microseconds budget_time{0};
  BudgetAction on_budget_exhausted = BudgetAction::Block;
  // Clock for the time budget; empty means std::chrono::steady_clock. Tests
  // inject one.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

struct InspectResult {
  std::vector<Detection> detections;  // in evaluation order, one per rule at most
  int score = 0;                      // sum of the detections' scores
  bool would_block = false;  // score >= threshold, or budget spent with Block
  bool block = false;        // would_block and not detection_only
  bool budget_exhausted = false;
  BudgetAction budget_action = BudgetAction::Pass;  // the site's choice, when exhausted
  std::size_t bytes_scanned = 0;
  std::size_t regex_runs = 0;    // PCRE2 matches run (prefilter confirms, PCRE2-only, fragments)
  std::size_t regex_errors = 0;  // PCRE2 limits hit (counted as no match)
};

// Stable names, for rule files, logs and metric labels. Never null;
// "unknown" for an out-of-range value. Any thread.
const char* categoryName(Category category);
const char* severityName(Severity severity);
const char* targetKindName(TargetKind kind);
const char* transformName(Transform transform);
const char* operatorKindName(OperatorKind kind);

// Reverse lookups from the names above; nullopt for an unknown name.
std::optional<Category> categoryFromName(std::string_view name);
std::optional<Severity> severityFromName(std::string_view name);
std::optional<TargetKind> targetKindFromName(std::string_view name);
std::optional<Transform> transformFromName(std::string_view name);

}  // namespace mamori::inspect
