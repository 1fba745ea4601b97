#pragma once

// Tokenizer-based SQL injection detector, used as a rule operator for the
// payloads that patterns miss (comment-split keywords, odd spacing, quote
// games) or over-match (English text that merely contains "select" or
// "union"). It does the job libinjection does for ModSecurity, with our own
// token classes and grammar; docs/detectors.md describes both and the
// measured detection and false-positive rates.
//
// How it decides: the value is tokenized as SQL three times, as if it were
// pasted (a) bare, e.g. into `WHERE id=<value>`, (b) inside '...' and (c)
// inside "..." (the quoted runs happen only when the value holds that
// quote). Runs of tokens are folded into a short string of token classes
// (the fingerprint) and checked against a small grammar of injection
// shapes: a string or number break-out followed by a tautology, a comment,
// UNION, a stacked statement or a function call; UNION SELECT, stacked
// DROP/INSERT/..., SELECT ... FROM, time delays (SLEEP(n), BENCHMARK(n,...),
// WAITFOR DELAY) and a few names only an attack mentions anywhere.

#include <string>
#include <string_view>

namespace mamori::inspect {

// Returns true when `input` (an already URL-decoded value) looks like SQL
// injection. When it does and `fingerprint` is not null, *fingerprint is set
// to the token-class string that matched (see docs/detectors.md for the
// letters, e.g. "s&sos" for `x' or 'a'='a`); otherwise it is left alone.
// Never fails: any byte sequence is accepted, binary included. Pure
// function, no shared state, no heap allocation unless a fingerprint is
// requested; callable from any thread. Cost is linear in the input length.
bool detectSqli(std::string_view input, std::string* fingerprint = nullptr);

}  // namespace mamori::inspect
