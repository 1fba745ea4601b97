#pragma once

// Plain data of the bot detector (issue #8): the bot classes a request is
// put in, the actions a site takes per class, and the per-site policy. No
// logic beyond names and defaults; bot_lists.h classifies, rdns_verifier.h
// confirms good-bot claims, bot_behaviour.h counts per source, and
// daemon/bot_protection.h applies the policy. docs/bots.md describes them.
// Values are owned by one thread at a time; const access from several
// threads is safe.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mamori::guard {

using namespace std::chrono_literals;

// What a request looks like to the bot detector, from most to least
// specific. A request gets exactly one class; the first that applies in
// this order wins: scanner, fake_good_bot, verified_good, tool (UA or TLS
// fingerprint), inconsistent, behaviour, unverified_good_claim, none.
enum class BotClass : std::uint8_t {
  None,                 // nothing says bot
  VerifiedGood,         // claims a listed crawler and forward-confirmed reverse DNS agrees
  UnverifiedGoodClaim,  // claims a listed crawler, verification not answered (yet) or failed to run
  FakeGoodBot,          // claims a listed crawler and reverse DNS says it is not
  Scanner,              // attack tool / vulnerability scanner (UA or fingerprint list)
  Tool,                 // HTTP library or command-line client (UA or fingerprint list)
  Inconsistent,         // the UA claims a browser that the headers or TLS hello contradict
  Behaviour,            // per-source behaviour over a site's thresholds
};
inline constexpr std::size_t kBotClassCount = 8;

// Stable snake_case name ("unverified_good_claim"); "unknown" out of range.
// Any thread.
const char* botClassName(BotClass cls);
// Parses a name of botClassName; nullopt for anything else.
std::optional<BotClass> parseBotClass(std::string_view name);

// What a site does with a request of a class.
enum class BotAction : std::uint8_t {
  Allow,      // forward; nothing logged
  Log,        // forward; a BOT log record
  Challenge,  // the injected challenge decides (a browser passes, a script stays out)
  Block,      // 403; a BOT log record
  Ban,        // 403 and a ban at XDP for ban_ttl; a BOT log record
};
inline constexpr std::size_t kBotActionCount = 5;

const char* botActionName(BotAction action);
std::optional<BotAction> parseBotAction(std::string_view name);

// Per-source behaviour thresholds, over one sliding window. A threshold of
// 0 turns its check off. The defaults are far above what one person with a
// browser does in 10 s and well under what a crawler or a directory
// brute-forcer does.
struct BehaviourLimits {
  std::chrono::seconds window{10};
  std::uint32_t max_requests = 200;       // requests in the window
  std::uint32_t max_paths = 60;           // distinct paths in the window (estimate)
  std::uint32_t max_4xx_percent = 50;     // share of 4xx answers, once min_responses seen
  std::uint32_t min_responses = 20;       // answers needed before the 4xx share counts
  std::uint32_t max_cookieless = 20;      // requests without Cookie after being set one
  bool operator==(const BehaviourLimits&) const = default;
};

// The bot policy of one site.
struct BotSitePolicy {
  bool enabled = true;
  // Indexed by BotClass. Defaults: scanners and fake crawlers blocked,
  // tools and unverified claims logged, contradicting browsers and
  // behaviour challenged.
  std::array<BotAction, kBotClassCount> actions{
      BotAction::Allow,      // none
      BotAction::Allow,      // verified_good
      BotAction::Log,        // unverified_good_claim
      BotAction::Block,      // fake_good_bot
      BotAction::Block,      // scanner
      BotAction::Log,        // tool
      BotAction::Challenge,  // inconsistent
      BotAction::Challenge,  // behaviour
  };
  std::chrono::seconds ban_ttl{1h};
  BehaviourLimits behaviour;
  // IPv6 sources counted, remembered and banned by their /64 (one
  // subscriber's network) rather than one address, so a bot rotating
  // through its /64 stays one source.
  bool ipv6_prefix64 = false;

  BotAction actionFor(BotClass cls) const { return actions[static_cast<std::size_t>(cls)]; }
  bool operator==(const BotSitePolicy&) const = default;
};

}  // namespace mamori::guard
