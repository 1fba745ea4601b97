#pragma once

// JSON for the logs: the record encoder (LogRecord → one ECS-style JSON
// line) and a small strict reader that turns a line back into flat
// "dotted.path" → value pairs for query filters and CSV export. Pure
// functions: any thread, no exceptions, no allocation beyond the result.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "logs/time_zone.h"
#include "logs/types.h"

namespace mamori::logs {

// Appends `in` as a JSON string literal (with quotes) to `out`. Every input
// byte sequence gives valid JSON and valid UTF-8: '"' and '\\' are escaped,
// control characters (< 0x20 and 0x7f) become \n, \t, ... or \u00XX, valid
// UTF-8 passes through, and each byte that is not part of a well-formed UTF-8
// sequence (stray continuation bytes, overlong forms, surrogates, > U+10FFFF,
// a truncated sequence) becomes U+FFFD, written as "\ufffd".
void appendJsonString(std::string* out, std::string_view in);

// Encodes one record as a JSON object followed by '\n'. Field names and
// nesting are listed in docs/logs.md. Never fails: strings are escaped as
// above, non-finite doubles become null.
std::string encodeRecord(const LogRecord& record, const TimeZone& zone);

// One scalar of a parsed line: its dotted path ("source.ip", "mamori.count")
// and its value as text (strings unescaped; numbers, true/false as written;
// null as ""). Arrays give paths "key.0", "key.1", ...
struct FlatField {
  std::string path;
  std::string value;
  bool is_string = false;
};

// A parsed line: lookup by dotted path (first match; linear, lines are small).
class FlatRecord {
 public:
  std::vector<FlatField> fields;
  // The value at `path`, or empty when absent.
  std::string_view get(std::string_view path) const;
  bool has(std::string_view path) const;
};

// Parses one JSON object (a log line without its '\n'). Fails with EINVAL
// on anything that is not exactly one well-formed object: a torn line, bad
// escapes, unpaired surrogates, nesting deeper than 32, trailing garbage.
common::Result<FlatRecord> parseFlatJson(std::string_view line);

}  // namespace mamori::logs
