#pragma once

// The bot data files (top-level bots/ directory, docs/bots.md "Data
// files") and the static part of bot classification: User-Agent lists,
// TLS fingerprint lists, good-crawler claims, and the UA consistency check
// of http_fingerprint.h. Reverse-DNS verification of crawler claims
// (rdns_verifier.h) and behaviour (bot_behaviour.h) are separate because
// they keep state; classifyRequest() takes their answers as input.
//
// UA matching is a case-insensitive substring search over a few dozen
// patterns: no regex engine (no backtracking blow-up, nothing to compile),
// and a list this size costs about a microsecond per request.
//
// A loaded BotLists is immutable: share it as shared_ptr<const BotLists>
// and swap the pointer on reload. Loading is control plane (file reads);
// classification is pure and may run on any thread.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "guard/bot_types.h"
#include "guard/tls_fingerprint.h"
#include "http/types.h"

namespace mamori::guard {

// One User-Agent pattern of class scanner or tool.
struct UaPattern {
  std::string name;     // list entry name, for logs ("sqlmap")
  BotClass cls = BotClass::Tool;
  std::string pattern;  // lower-cased substring of the UA
  std::string source;   // "file:line:column" of the entry
};

// A TLS fingerprint of class scanner or tool: JA3 MD5 or a full JA4 string.
struct FingerprintEntry {
  std::string name;
  BotClass cls = BotClass::Tool;
  std::string ja3;  // 32 lower-case hex digits, or empty
  std::string ja4;  // "t13d1812h1_85036bcba153_d41ae481755e", or empty
  std::string source;
};

// A crawler whose operator publishes the reverse-DNS domains of its hosts.
struct GoodBot {
  std::string name;                  // "googlebot"
  std::string pattern;               // lower-cased UA substring that claims it
  std::vector<std::string> domains;  // lower case, no leading dot ("googlebot.com")
  std::string source;
};

struct BotLists {
  std::vector<UaPattern> user_agents;
  std::vector<FingerprintEntry> fingerprints;
  std::vector<GoodBot> good_bots;
  std::vector<std::string> files;  // files loaded, in load order

  // The first good bot whose pattern the UA contains; null when none.
  // `ua_lower` must already be lower case. Any thread.
  const GoodBot* claimedGoodBot(std::string_view ua_lower) const;
  // The first UA pattern the UA contains; null when none.
  const UaPattern* matchUserAgent(std::string_view ua_lower) const;
  // The first entry with this JA3 hash or JA4 string; null when none or
  // both are empty.
  const FingerprintEntry* matchFingerprint(std::string_view ja3, std::string_view ja4) const;
};

// Parses one data file's text. Schema (every key optional):
//   user_agents:  [{name, class: scanner|tool, contains}]
//   fingerprints: [{name, class: scanner|tool, ja3 | ja4}]
//   good_bots:    [{name, contains, domains: [suffix, ...]}]
// Out: the entries appended to `into`, or Error{EINVAL} with one
// "FILE:LINE:COLUMN: message" line per problem (unknown keys, wrong types,
// empty patterns, bad hashes, duplicate names across files). `into` is
// left unchanged on error. Control plane.
common::Status parseBotListText(std::string_view text, const std::string& file_name,
                                BotLists& into);

// Loads every *.yaml file of `dir`, in name order. Error{ENOENT} naming
// the directory when it is missing or holds no *.yaml file; parse errors
// as parseBotListText, every file's problems reported. Control plane.
common::Result<BotLists> loadBotListsDirectory(const std::string& dir);

// Lower-cases ASCII letters; other bytes unchanged. Any thread.
std::string asciiLower(std::string_view text);

// True when `host` (a DNS name, any case, an optional trailing dot) is
// `domain` or ends in "." + `domain` (label boundary: "evilgooglebot.com"
// does not end in googlebot.com). `domain` must be lower case. Any thread.
bool nameInDomain(std::string_view host, std::string_view domain);

// What the classifier needs of one request beyond the lists.
struct ClassifyInput {
  const http::Request* request = nullptr;  // required
  bool http2 = false;
  const TlsTraits* tls = nullptr;  // null for plain HTTP or a hello that did not parse
  std::string_view ja3;            // empty without TLS
  std::string_view ja4;
  // The reverse-DNS state of the UA's good-bot claim, asked by the caller
  // of rdns_verifier.h for claimedGoodBot(); ignored without a claim.
  enum class ClaimState : std::uint8_t { Pending, Verified, Failed } claim = ClaimState::Pending;
  bool behaviour_over = false;  // the source is over a behaviour threshold
};

struct Classification {
  BotClass cls = BotClass::None;
  std::string name;                  // list entry that matched (may be empty)
  std::vector<std::string> signals;  // why: "ua:sqlmap", "ja4:curl", "ua_browser_without_accept", ...
  const GoodBot* claim = nullptr;    // the good bot the UA claims, if any
};

// Puts a request in one class (order in bot_types.h). Signals of the
// lower-priority checks that also matched are kept, so the BOT log shows
// every reason. Pure; any thread.
Classification classifyRequest(const BotLists& lists, const ClassifyInput& input);

}  // namespace mamori::guard
