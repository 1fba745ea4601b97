#pragma once

// mamorid's browser challenge and under-attack mode (issue #8): one
// guard::ChallengeAuthority (key ring) per site, the sites' `challenge:`
// and `under_attack:` settings, the runtime under-attack switch that
// `mamorictl site under-attack` flips, counters, and BOT / DoS log records.
// How it works for a client is in docs/challenge.md.
//
// Two entry points for the engine's verdict chain (flood → bots →
// challenge/under-attack → login → inspection):
//  - onRequest(): answers submissions to guard::kChallengePath (so they never
//    reach an upstream) and, while the site is under attack, sends every
//    client without a valid clearance cookie to the challenge, except
//    verified good bots (setGoodBotCheck).
//  - require(): the bot policy's `challenge` action: Pass with a valid
//    clearance cookie (or the submission answered locally), else the page.
//
// Threads: onRequest() and require() run on the engine's workers
// concurrently and take no lock: each worker keeps its own copy of the
// current snapshot, refreshed without a lock after reload() published a
// new one (published_snapshot.h); the key ring and the
// under-attack state are atomics. reload() runs on the main thread;
// setUnderAttack(), underAttack() and stats() on control threads.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/types.h"
#include "daemon/published_snapshot.h"
#include "guard/challenge.h"
#include "guard/login_guard.h"
#include "http/types.h"
#include "logs/types.h"
#include "net/types.h"

namespace mamori::daemon {

class DaemonLogs;

// Every counter of the challenge in one list (STYLE.md §2).
#define MAMORI_CHALLENGE_COUNTERS(X)                                                   \
  X(issued)         /* challenge pages served */                                       \
  X(passed)         /* solutions accepted: clearance cookie set */                     \
  X(failed)         /* solutions refused: forged, expired, other client, too little work */ \
  X(cleared)        /* requests let through on a valid clearance cookie */             \
  X(bad_cookies)    /* clearance cookies refused (expired ones included) */            \
  X(good_bots)      /* requests let through under attack as verified good bots */      \
  X(auto_switches)  /* times the auto threshold switched under-attack mode on */       \
  X(unsigned_answers) /* no key could sign a token: answered 503 (fail-closed) */    \
  X(detect_only)    /* challenges a mode: detect site would have served: counted only */

struct ChallengeStats {
#define MAMORI_CHALLENGE_FIELD(name) std::uint64_t name = 0;
  MAMORI_CHALLENGE_COUNTERS(MAMORI_CHALLENGE_FIELD)
#undef MAMORI_CHALLENGE_FIELD
};

// How long an issued challenge may be answered: enough for a slow phone at
// the highest difficulty we would advise, short enough that a harvested
// token is not worth much.
inline constexpr std::chrono::seconds kChallengeSolveTtl{300};

// `mamorictl site under-attack on|off|auto`: On and Off hold until the next
// switch (Off also ends an automatic episode and keeps the threshold from
// starting another); Auto hands the site back to its config
// (`under_attack.enabled` and `auto:`).
enum class UnderAttackSwitch : std::uint8_t { On, Off, Auto };

// One site's under-attack state as `sites show` and the CLI print it.
struct UnderAttackStatus {
  std::string site;
  bool on = false;
  std::string reason;            // "cli", "config", "auto" when on; "cli" or "" when off
  std::string override_state;    // "on", "off" or "auto" (no override)
  std::int64_t auto_remaining_s = 0;  // > 0 while an automatic episode runs
  std::uint64_t auto_threshold = 0;   // requests per second, 0: no auto
};

// What was refused: an answer to the challenge or a clearance cookie.
enum class ChallengeRefusal : std::uint8_t { Answer, Cookie };

// The BOT log record of a refusal: rule.id bot.challenge_failed (Answer) or
// bot.clearance_refused (Cookie), event.action "challenge", outcome
// failure, the request's client (`client`: the peer, or the
// X-Forwarded-For client behind a trusted proxy), path, method, id and
// User-Agent, and under mamori: check (guard::challengeCheckName) and
// difficulty. Pure; any thread.
logs::LogRecord challengeRefusalRecord(const std::string& tenant, const std::string& site,
                                       const common::IpPrefix& client,
                                       const http::Request& request,
                                       const net::RequestContext& context, ChallengeRefusal what,
                                       guard::ChallengeCheck check, unsigned difficulty);

// The DoS log record of the auto threshold switching under-attack mode on:
// rule.id dos.under_attack_auto, event.type start, the client whose
// request reached the threshold, and under mamori: requests_per_second
// (the threshold) and duration_s. Pure; any thread.
logs::LogRecord underAttackAutoRecord(const std::string& tenant, const std::string& site,
                                      const common::IpPrefix& client, std::uint64_t requests,
                                      std::uint64_t threshold, std::chrono::seconds duration);

class ChallengeProtection {
 public:
  // Whether a request comes from a verified good bot (a search engine
  // crawler whose claim passed forward-confirmed reverse DNS). Supplied by
  // the bot detector (issue #8, bots helper: BotProtection::isVerifiedGoodBot);
  // must be thread-safe and non-blocking like a verdict hook.
  using GoodBotCheck = std::function<bool(const http::Request&, const net::RequestContext&)>;

  // Settings and a fresh key ring for every site of `config` (sites without
  // `challenge:` use ChallengeConfig's defaults, so the bot policy can
  // challenge on any site). `logs` may be null; `clock` and `logs` must
  // outlive this. Error{EIO} when the random generator cannot make a key.
  // Main thread.
  static common::Result<std::unique_ptr<ChallengeProtection>> create(const config::Config& config,
                                                                     const guard::Clock& clock,
                                                                     DaemonLogs* logs);

  // Installs the good-bot signal. Main thread, before the engine's workers
  // start (workers read it without a lock). Without one, nobody skips the
  // challenge under attack.
  void setGoodBotCheck(GoodBotCheck check) { good_bot_ = std::move(check); }

  // New settings for `config`; a site that keeps its name keeps its key
  // ring (outstanding cookies stay valid) and its runtime under-attack
  // state. Returns a one-line summary. Main thread.
  common::Result<std::string> reload(const config::Config& config);

  // The engine's verdict hook for this stage (see the file comment).
  // Worker threads.
  net::Verdict onRequest(const http::Request& request, const net::RequestContext& context);

  // Pass when the client holds a valid clearance cookie for the site;
  // the local answer when this is a submission to guard::kChallengePath;
  // otherwise the challenge page (403, text/html). Worker threads.
  net::Verdict require(const http::Request& request, const net::RequestContext& context);

  // The runtime switch. Error{ENOENT} for an unknown site. Control threads.
  common::Result<UnderAttackStatus> setUnderAttack(const std::string& site, UnderAttackSwitch to);
  // Every site's state, in config order. Control threads.
  std::vector<UnderAttackStatus> underAttack() const;

  ChallengeStats stats() const;

 private:
  // Per-site state that outlives a reload.
  struct Runtime {
    std::unique_ptr<guard::ChallengeAuthority> authority;
    std::atomic<std::uint8_t> override_state{0};  // 0 auto, 1 on, 2 off
    std::atomic<std::int64_t> auto_until_ns{0};   // auto episode end (clock time)
    std::atomic<std::int64_t> bucket_second{-1};  // the second being counted
    std::atomic<std::uint64_t> bucket_count{0};   // requests in that second
  };
  struct SiteEntry {
    std::string name;
    std::string tenant;
    config::ChallengeConfig challenge;
    config::UnderAttackConfig under_attack;
    std::vector<common::IpPrefix> trusted_proxies;  // the site's; see bindingOf()
    std::shared_ptr<Runtime> runtime;
  };
  struct Snapshot {
    std::map<std::string, SiteEntry, std::less<>> sites;
    std::vector<std::string> order;
  };

  ChallengeProtection(const guard::Clock& clock, DaemonLogs* logs) : clock_(clock), logs_(logs) {}
  common::Result<std::shared_ptr<const Snapshot>> build(const config::Config& config,
                                                        const Snapshot* previous) const;
  const SiteEntry* entryFor(const net::RequestContext& context);

  UnderAttackStatus statusOf(const SiteEntry& entry) const;
  bool underAttackNow(const SiteEntry& entry) const;
  void countForAuto(const SiteEntry& entry, const http::Request& request,
                    const net::RequestContext& context);
  net::Verdict gate(const SiteEntry& entry, const http::Request& request,
                    const net::RequestContext& context);
  net::Verdict answerSubmission(const SiteEntry& entry, const http::Request& request,
                                const net::RequestContext& context);
  net::Verdict challengeVerdict(const SiteEntry& entry, const guard::ChallengeBinding& who,
                                std::string return_to, const net::RequestContext& context);
  void logRefusal(const SiteEntry& entry, const guard::ChallengeBinding& who,
                  const http::Request& request,
                  const net::RequestContext& context, ChallengeRefusal what,
                  guard::ChallengeCheck check);
  void submit(logs::LogRecord record);

  const guard::Clock& clock_;
  DaemonLogs* logs_;
  GoodBotCheck good_bot_;

  PublishedSnapshot<Snapshot> snapshot_;

#define MAMORI_CHALLENGE_ATOMIC(name) std::atomic<std::uint64_t> name##_{0};
  MAMORI_CHALLENGE_COUNTERS(MAMORI_CHALLENGE_ATOMIC)
#undef MAMORI_CHALLENGE_ATOMIC
};

// "on", "off", "auto"; nullopt for anything else. Any thread.
std::optional<UnderAttackSwitch> parseUnderAttackSwitch(std::string_view text);

}  // namespace mamori::daemon
