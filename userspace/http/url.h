#pragma once

// Request-target helpers: validation of RFC 3986 characters, percent
// decoding and query splitting. Deliberately simple: this is what the
// parser needs to fill Request; deep normalisation (double decoding,
// dot-segments, Unicode) belongs to inspect/. Pure functions, any thread.

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "http/types.h"

namespace mamori::http {

// True for a byte allowed unencoded in a request-target: RFC 3986
// unreserved, gen-delims except '#' (a fragment is never sent, RFC 9112
// §3.2) and sub-delims, plus '%' (checked separately by
// isValidPercentEncoding). Rejects SP, CTLs, '"', '<', '>', '\\', '^', '`',
// '{', '|', '}' and every byte >= 0x80.
bool isTargetChar(unsigned char c);

// True when every '%' in `s` is followed by two hex digits.
bool isValidPercentEncoding(std::string_view s);

// Percent-decodes `in`. With `plus_as_space` (application/x-www-form-
// urlencoded, i.e. query strings) '+' becomes SP. Fails with an Error when a
// '%' is not followed by two hex digits; decoded bytes are not validated
// (%00 yields a NUL byte, left for inspection to judge).
common::Result<std::string> percentDecode(std::string_view in, bool plus_as_space);

// Like percentDecode but never fails: a malformed escape is kept literally.
// For inputs that were not validated beforehand.
std::string percentDecodeLenient(std::string_view in, bool plus_as_space);

// Splits a raw query ("a=1&b=2&a=3", without '?') on '&' into arguments,
// each split on its first '=' and decoded form-style. Order and repeats are
// kept; empty pieces ("a=1&&b") are skipped; a piece without '=' gives an
// empty value. Malformed escapes are kept literally.
std::vector<QueryArg> parseQuery(std::string_view query);

// Splits Cookie header values into pairs on ';' (RFC 6265 §5.4, lenient as
// browsers are), trimming SP/HTAB, appending to `out` in order.
void parseCookieHeader(std::string_view value, std::vector<Cookie>* out);

}  // namespace mamori::http
