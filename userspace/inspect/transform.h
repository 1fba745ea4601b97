#pragma once

// Transformations: the normalisation steps a rule applies to a value before
// its operator runs, so that one pattern sees "%2e%2e%2f", "..%5c" and
// "&#46;&#46;/" as the same "../". Every transform is total: any byte
// string is valid input (a malformed escape is kept as it was), the output
// is never longer than the input (so a chain cannot blow up memory), and
// nothing throws. Pure functions of their input; any thread.

#include <cstdint>
#include <string>
#include <string_view>

#include "inspect/types.h"

namespace mamori::inspect {

// Applies one transform to `in` and returns the result. What each does:
//  url_decode          %XX to the byte; %uXXXX (IIS) to the code point in
//                      UTF-8 (full-width ASCII forms to ASCII); '+' to space.
//  url_decode_uni      url_decode repeated until the value stops changing,
//                      at most 4 rounds: catches %252e (double encoding).
//  html_entity_decode  &#DDD; &#xHH; (';' optional) and common named
//                      entities (&lt; &quot; &colon; &Tab; ...) to their text.
//  js_decode           \xHH \uHHHH \u{H..} \OOO \n \t ... ; \c to c.
//  css_decode          \H..H (1-6 hex digits, one following space eaten),
//                      escaped newline dropped, \c to c.
//  base64_decode       standard and URL alphabets, stops at '=', skips
//                      bytes outside the alphabet (whitespace, junk).
//  hex_decode          each pair of hex digits to a byte; other bytes kept.
//  lowercase           ASCII A-Z to a-z.
//  normalize_path      '\\' to '/', '//' to '/', "./" dropped, "x/../"
//                      resolved; a ".." that would climb above the start is
//                      kept (it is the attack); Windows' trailing dots and
//                      spaces on a segment ("a.php. ") dropped.
//  remove_nulls        NUL bytes dropped.
//  remove_comments     /* ... */, <!-- ... -->, "--" and '#' to end of line
//                      each replaced by one space (so UNION/**/SELECT stays
//                      two words); an unterminated comment runs to the end.
//  compress_whitespace runs of SP HT LF CR VT FF to one space.
//  remove_whitespace   SP HT LF CR VT FF dropped.
//  cmdline             ModSecurity-style shell normalisation: \ " ' ^
//                      dropped, ',' and ';' to space, whitespace runs to one
//                      space, spaces before '/' and '(' dropped, lowercase.
//  utf8_fold           overlong UTF-8 encodings of ASCII (C0 AE for '.'),
//                      full-width ASCII (U+FF01..U+FF5E) and U+3000 folded
//                      to ASCII; other bytes kept as they are.
std::string applyTransform(Transform transform, std::string_view in);

// The allocation-free form of applyTransform for the inspector's per-request
// cache: when the result would equal `in` byte for byte, returns false and
// leaves `out` unspecified (the caller keeps using `in`, no copy made);
// otherwise writes the result to `out` (its capacity is reused) and returns
// true. Most values need no work (no '%' to decode, nothing uppercase), and
// that is found with one pass over `in`. `in` must not alias `out`.
bool transformInto(Transform transform, std::string_view in, std::string& out);

// The transforms that might change `in`, as a bit set (bit t for
// Transform t): a transform whose bit is clear leaves `in` exactly as it
// is, so a chain made only of such transforms yields `in` itself. The
// inspector uses it to answer "this chain gives the raw value" without
// walking its transform cache; a set bit promises nothing (base64_decode
// and hex_decode always have theirs). Linear in in.size(); any thread.
std::uint32_t transformsThatMayChange(std::string_view in);

// Applies `chain` left to right; an empty chain returns `in` unchanged.
std::string applyChain(const TransformChain& chain, std::string_view in);

// True when `in` is well-formed UTF-8 as Hyperscan's UTF-8 mode requires:
// no overlong forms, no surrogates, nothing above U+10FFFF, no truncated
// sequence. Any thread.
bool isValidUtf8(std::string_view in);

// "url_decode,lowercase" (or "none" for an empty chain), for logs and errors.
std::string chainName(const TransformChain& chain);

}  // namespace mamori::inspect
