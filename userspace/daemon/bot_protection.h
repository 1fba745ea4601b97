#pragma once

// mamorid's bot protection (issue #8): loads the bot data files
// (guard/bot_lists.h), verifies good-crawler claims by forward-confirmed
// reverse DNS (guard/rdns_verifier.h), counts per-source behaviour
// (guard/bot_behaviour.h), and applies each site's per-class action to
// every request: allow, log, challenge (an injected function), block
// (403) or ban (403 and an XDP ban through the ShieldBanSink). Every
// decision other than allow becomes a BOT log record and a
// mamori_guard_bot_verdicts_total{site,class,action} count. docs/bots.md.
//
// Threads: onRequest(), onResponseStatus() and isVerifiedGoodBot() run on
// the engine's workers, concurrently and without a lock: each worker keeps
// its own copy of the current snapshot (lists and site policies), refreshed
// without a lock after reload() published a new one
// (published_snapshot.h); the behaviour table, the rDNS cache and its
// lookup queue are lock-free. No DNS and no file I/O on the request path. reload() runs on the main thread; status(), top() and
// verdictCounts() on control / scrape threads.

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
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
#include "guard/bot_behaviour.h"
#include "guard/bot_lists.h"
#include "guard/bot_types.h"
#include "guard/keyed_hash.h"
#include "guard/login_guard.h"
#include "guard/rdns_verifier.h"
#include "http/types.h"
#include "logs/types.h"
#include "metrics/traffic.h"
#include "net/types.h"

namespace mamori::daemon {

class DaemonLogs;

// The challenge a site's `challenge` action hands the request to: Pass
// when the client has passed it, otherwise the answer to send (a Block
// carrying the challenge page). Called on worker threads; must not block.
// BOT log records written per source and second at most; the rest are
// counted (and the next written record says how many): a scanner sending
// thousands of requests a second must not flood the log.
inline constexpr std::uint32_t kRecordsPerSourceSecond = 10;

using BotChallenge =
    std::function<net::Verdict(const http::Request&, const net::RequestContext&)>;

// Without a challenge module the `challenge` action fails closed: a 403
// whose page says a browser check is required. Counted as action
// "challenge" all the same (the site asked for it).
net::Verdict challengeUnavailable(const http::Request&, const net::RequestContext&);

// The bot data directory: `bots.dir` of the config, else the installed
// set, else this source tree's bots/ (a build-directory run).
std::string resolveBotsDir(const config::Config& config);

// Every counter of bot protection in one list (STYLE.md §2).
#define MAMORI_BOT_COUNTERS(X)                                                  \
  X(requests)        /* requests of sites with bots enabled */                  \
  X(classified)      /* of which put in a class other than none */              \
  X(records)         /* BOT log records submitted */                            \
  X(records_suppressed) /* records left out: over 10 per source and second */    \
  X(refused_banned)  /* requests of a source this table already banned */       \
  X(bans)            /* bans handed to the ban sink */

struct BotStats {
#define MAMORI_BOT_FIELD(name) std::uint64_t name = 0;
  MAMORI_BOT_COUNTERS(MAMORI_BOT_FIELD)
#undef MAMORI_BOT_FIELD
};

// What construction may override, for tests.
struct BotOptions {
  guard::DnsLookup* lookup = nullptr;  // null: a ResolverLookup for config bots.resolver
  unsigned rdns_threads = 1;           // 0: tests run the queue themselves
  std::string data_dir;                // empty: resolveBotsDir(config)
};

// One site, as `mamorictl bots status` shows it.
struct BotSiteStatus {
  std::string tenant;
  std::string site;
  bool enabled = true;
  guard::BotSitePolicy policy;
  // counts[class][action], since start (kept across reloads).
  std::array<std::array<std::uint64_t, guard::kBotActionCount>, guard::kBotClassCount> counts{};
};

struct BotStatus {
  std::string data_dir;
  std::vector<std::string> files;
  std::size_t user_agents = 0;
  std::size_t fingerprints = 0;
  std::size_t good_bots = 0;
  std::string resolver;  // "" resolv.conf
  guard::RdnsStats rdns;
  std::size_t sources_tracked = 0;
  std::size_t sources_capacity = 0;
  std::uint64_t source_evictions = 0;
  std::size_t bytes_per_source = 0;
  std::vector<BotSiteStatus> sites;
  BotStats stats;
};

struct BotTopEntry {
  std::string site;
  guard::SourceSummary summary;
  std::int64_t banned_for_s = 0;  // remaining ban this detector issued
};

// The BOT log record of one decision. Pure; any thread.
struct BotRecordContext {
  std::string tenant;
  std::string site;
  std::string source_ip;
  std::uint16_t source_port = 0;
  std::string request_id;
  std::string method;
  std::string path;
  std::string user_agent;
  std::string ja3;
  std::string ja4;
  std::optional<std::uint16_t> http_status;
  std::string rdns_name;    // PTR name checked, for claims
  std::string rdns_reason;  // why a claim failed
  bool enforced = true;     // false in a site with mode: detect
  std::uint32_t suppressed_before = 0;  // records of this source left out just before
};
logs::LogRecord botRecord(const guard::Classification& c, guard::BotAction action,
                          const BotRecordContext& context);

// The guard policy of one site's `bots:` section. Control plane.
guard::BotSitePolicy botSitePolicy(const config::SiteBotsConfig& bots);

class BotProtection {
 public:
  // Loads the data files and builds the policies of the sites with a
  // `bots:` section (none is fine: every request then passes untouched).
  // `logs` and `sink` may be null; `clock`, `logs`, `sink` and a given
  // options.lookup must outlive this. Errors: the data files' problems
  // (FILE:LINE:COLUMN lines), a bad resolver. Main thread.
  static common::Result<std::unique_ptr<BotProtection>> create(const config::Config& config,
                                                               const guard::Clock& clock,
                                                               DaemonLogs* logs,
                                                               guard::BanSink* sink,
                                                               BotChallenge challenge,
                                                               BotOptions options = {});
  ~BotProtection();

  // Re-reads the data files (from the config's bots.dir) and the sites'
  // policies. On error nothing changes (the old lists stay). Behaviour
  // counts and the rDNS cache are kept; the resolver and the table sizes
  // are fixed at start (a change is reported as needing a restart).
  // Returns a one-line summary. Main thread.
  common::Result<std::string> reload(const config::Config& config);

  // Reads and checks the data files reload(config) would use, changing
  // nothing: mamorid asks before it reloads the engine and reloads this
  // after, so a reload the engine refuses leaves the bot policy as it was.
  // Same errors as reload(). Main thread.
  common::Status checkReload(const config::Config& config) const;

  // True when some site has a `bots:` section.
  bool active() const;

  // The verdict hook: classifies the request and applies the site's
  // action. Pass for sites without bots, for class none and for allow /
  // log; Block 403 for block and ban; the challenge's own verdict for
  // challenge. The source is the TCP peer, or the X-Forwarded-For client
  // when the peer is one of the site's trusted_proxies (as the flood limits
  // count it); such a client is refused at the site but never banned at
  // XDP, which would drop the proxy and everyone behind it. Worker threads.
  net::Verdict onRequest(const http::Request& request, const net::RequestContext& context);

  // The engine's status observer (net::ResponseStatusHook): counts the
  // answer for the source's behaviour. An answer to a trusted proxy is not
  // counted: the hook has no request to name the client behind it, and
  // counting it on the proxy would mix every client's 4xx share into one
  // source. Worker threads.
  void onResponseStatus(const net::RequestContext& context, int status, bool set_cookie);

  // True when the request's UA claims a listed crawler and the source's
  // claim is verified: a cached answer, or, on a miss, the lookup queued
  // for the verifier's thread and false at once (never waits on DNS); the
  // source as onRequest() names it. Works for every site once the bot lists
  // are loaded (some site has a bots section). For under-attack mode, which
  // lets verified crawlers through. Worker threads.
  bool isVerifiedGoodBot(const http::Request& request, const net::RequestContext& context);

  // Control commands; `site` empty means every site with a bots section.
  // Error{ENOENT} for a site without one.
  common::Result<BotStatus> status(const std::string& site) const;
  common::Result<std::vector<BotTopEntry>> top(const std::string& site, std::size_t n) const;

  // mamori_guard_bot_verdicts_total: every (site, class, action) of the
  // current sites, zeros included. Scrape thread.
  std::vector<metrics::BotVerdictCount> verdictCounts() const;

  BotStats stats() const;

  // The verifier, for tests that run its queue themselves (rdns_threads 0).
  guard::RdnsVerifier& verifierForTest() { return *verifier_; }

 private:
  struct SiteCounters {
    std::array<std::array<std::atomic<std::uint64_t>, guard::kBotActionCount>,
               guard::kBotClassCount>
        n{};
  };
  struct SiteEntry {
    std::uint32_t id = 0;  // stable across reloads (behaviour table key)
    std::string tenant;
    std::string name;
    guard::BotSitePolicy policy;
    // mode: detect: the engine lets Block verdicts through, so a ban
    // would be the only thing enforced; it is logged and not issued.
    bool detect_only = false;
    SiteCounters* counters = nullptr;  // owned by counters_, never freed while running
  };
  // The client a request is from: the peer, or the X-Forwarded-For client
  // when the peer is one of the site's trusted_proxies (net::requestClient()).
  struct Source {
    common::IpPrefix address;
    bool via_proxy = false;  // never banned at XDP: that would ban the proxy
  };
  struct Snapshot {
    std::shared_ptr<const guard::BotLists> lists;
    std::string data_dir;
    std::map<std::string, SiteEntry, std::less<>> sites;
    std::vector<std::string> order;
    // Every site with trusted_proxies (bots section or not: under-attack
    // mode asks isVerifiedGoodBot() for any site) -> those proxies.
    std::map<std::string, std::vector<common::IpPrefix>, std::less<>> trusted;
  };

  BotProtection(const guard::Clock& clock, DaemonLogs* logs, guard::BanSink* sink,
                BotChallenge challenge)
      : clock_(clock), logs_(logs), sink_(sink), challenge_(std::move(challenge)),
        path_hash_(guard::KeyedHash::random()) {}
  common::Result<std::shared_ptr<const Snapshot>> build(const config::Config& config,
                                                        const std::string& data_dir);
  void submit(logs::LogRecord record);
  std::int64_t nowSeconds() const;
  static Source sourceOf(const Snapshot& snap, const http::Request& request,
                         const net::RequestContext& context);

  const guard::Clock& clock_;
  DaemonLogs* logs_;
  guard::BanSink* sink_;
  BotChallenge challenge_;
  guard::KeyedHash path_hash_;
  std::string data_dir_override_;
  std::string resolver_;
  std::unique_ptr<guard::DnsLookup> owned_lookup_;
  std::unique_ptr<guard::RdnsVerifier> verifier_;
  std::unique_ptr<guard::BehaviourTable> behaviour_;

  PublishedSnapshot<Snapshot> snapshot_;
  mutable std::mutex mu_;  // counters_, site_ids_; never on the request path
  std::deque<SiteCounters> counters_;  // deque: addresses stay put as it grows
  std::map<std::string, std::uint32_t> site_ids_;

#define MAMORI_BOT_ATOMIC(name) std::atomic<std::uint64_t> name##_{0};
  MAMORI_BOT_COUNTERS(MAMORI_BOT_ATOMIC)
#undef MAMORI_BOT_ATOMIC
};

}  // namespace mamori::daemon
