#pragma once

// What the control commands act on (admin/commands.h). The daemon
// implements this over its live modules (shield maps, engine, config);
// tests implement it over plain data. Methods are called from control
// threads, concurrently with the request path, and must be thread-safe.

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <memory>

#include "common/ip_prefix.h"
#include "common/result.h"
#include "logs/log_reader.h"
#include "net/types.h"
#include "shield/types.h"

namespace mamori::admin {

// The shield as the daemon runs it.
struct ShieldInfo {
  bool loaded = false;                  // false: mamorid runs without XDP
  std::vector<std::string> interfaces;  // "eth0 (native)"
  std::string pin_dir;
};

// One site as configured (what `sites list|show` prints).
struct SiteInfo {
  std::string tenant;
  std::string name;
  std::vector<std::string> hosts;
  std::vector<std::string> listeners;  // "0.0.0.0:443 tls"
  std::vector<std::string> upstreams;  // "10.0.0.5:8080"
  std::string mode;                    // "block" or "detect"
  // Under-attack mode (issue #8): "off", "on (cli)", "on (config)",
  // "on (auto, 120s left)", "off (cli)"; empty when this mamorid does not say.
  std::string under_attack;
};

// A site's under-attack mode as `site under-attack` prints it.
struct UnderAttackInfo {
  std::string site;
  bool on = false;
  std::string reason;                 // "cli", "config", "auto" when on; "cli" or "" when off
  std::string override_state;         // "on", "off" or "auto" (the config decides)
  std::int64_t auto_remaining_s = 0;  // > 0 while an automatic episode runs
  std::uint64_t auto_threshold = 0;   // requests per second; 0: no auto threshold
};

struct DaemonInfo {
  std::string version;
  std::int64_t pid = 0;
  std::chrono::seconds uptime{0};
  std::string config_path;  // empty: quick start
  unsigned workers = 0;
};

// One rule as `rules list|show` prints it.
struct RuleInfo {
  std::uint32_t id = 0;
  std::string message;
  std::string category;
  std::string severity;
  int paranoia = 1;
  int score = 0;
  std::vector<std::string> tags;
  std::vector<std::string> targets;
  std::string transforms;  // "url_decode_uni,lowercase"
  std::string op;          // operator kind ("pattern", "detect_sqli", ...)
  std::string match_mode;  // "hyperscan", "prefilter", "pcre", "direct", "off"
  bool enabled = true;     // in the file and not disabled at runtime
  std::string source;      // "rules/sqli.yaml:12:5"
};

// One detection of `rules test`.
struct RuleTestDetection {
  std::uint32_t rule_id = 0;
  std::string message;
  std::string category;
  int score = 0;
  std::string target;  // "query_args:id"
  std::string fragment;
};

struct RuleTestReport {
  std::string site;
  std::string parse_error;  // set when the HTTP parser refused the request
  std::vector<RuleTestDetection> detections;
  int score = 0;
  int threshold = 0;
  bool would_block = false;
};

// Login-abuse protection (issue #7), as `login status` prints it. Plain
// copies of the guard's status, so admin and cli need not know guard.
struct LoginSourceInfo {
  std::string source;            // address or prefix
  std::uint32_t failures = 0;    // in the failures_per_ip window
  std::int64_t throttled_s = 0;  // remaining 429 time
  std::int64_t blocked_s = 0;    // remaining site-level block
  std::int64_t banned_s = 0;     // remaining XDP ban, as issued
  std::uint32_t bans = 0;        // bans remembered for this source
};
struct LoginLockInfo {
  std::string username;  // as the guard shows it ("h:<hex>" unless usernames: clear)
  std::int64_t remaining_s = 0;
};
struct LoginSiteInfo {
  std::string site;
  std::vector<LoginSourceInfo> top_sources;  // most failures first
  std::vector<LoginSourceInfo> restricted;   // throttled, blocked or banned now
  std::vector<LoginLockInfo> locked;
};
// What `login report` did: the outcome counted and one line per event.
struct LoginReportResult {
  std::string outcome;  // "failed" | "succeeded"
  std::vector<std::string> events;
};

// Bot detection (issue #8), as `bots status|top` prints it. Plain copies,
// so admin and cli need not know guard.
struct BotCountInfo {
  std::string bot_class;  // scanner, tool, ...
  std::string action;     // allow, log, challenge, block, ban
  std::uint64_t count = 0;
};
struct BotSiteInfo {
  std::string tenant;
  std::string site;
  bool enabled = true;
  std::vector<std::pair<std::string, std::string>> actions;  // class -> action, every class
  std::int64_t ban_ttl_s = 0;
  std::vector<BotCountInfo> counts;  // non-zero only
};
struct BotStatusInfo {
  std::string data_dir;
  std::vector<std::string> files;
  std::size_t user_agents = 0, fingerprints = 0, good_bots = 0;
  std::string resolver;  // empty: resolv.conf
  // rDNS verification cache and queue.
  std::uint64_t rdns_hits = 0, rdns_misses = 0, rdns_verified = 0, rdns_failed = 0,
                rdns_errors = 0, rdns_dropped = 0, rdns_evictions = 0;
  std::size_t rdns_cache_used = 0, rdns_cache_capacity = 0, rdns_queued = 0;
  // Behaviour table.
  std::size_t sources_tracked = 0, sources_capacity = 0, bytes_per_source = 0;
  std::uint64_t source_evictions = 0;
  // BOT log records written, and left out by the per-source limit.
  std::uint64_t records = 0, records_suppressed = 0;
  std::vector<BotSiteInfo> sites;
};
struct BotTopInfo {
  std::string site;
  std::string source;
  std::uint64_t bot_requests = 0;  // requests put in a bot class
  std::uint32_t requests = 0;      // in the behaviour window
  std::uint32_t paths = 0;
  std::uint32_t client_errors = 0;
  std::string last_class;
  std::int64_t banned_s = 0;  // remaining ban this detector issued
};

// L7 DoS protection (issue #8), as `dos status` prints it. Plain copies of
// the flood limiter's status, so admin and cli need not know guard.
struct DosLimitInfo {
  std::string name;            // per_ip, per_prefix, per_path, per_site
  std::uint32_t requests = 0;  // threshold; 0: off
  std::int64_t window_s = 0;
  std::uint64_t refused = 0;   // requests answered 429 by this limit
};
struct DosSourceInfo {
  std::string source;
  std::uint32_t requests = 0;  // in the per_ip window
  std::uint32_t excess = 0;    // refused in the ban window
  std::int64_t banned_s = 0;   // remaining ban, 0: none
};
struct DosSiteInfo {
  std::string site;
  bool detection_only = false;
  std::vector<DosLimitInfo> limits;
  std::uint32_t ban_after = 0;  // 0: never
  std::int64_t ban_window_s = 0;
  std::int64_t ban_ttl_s = 0;
  std::uint64_t checked = 0;
  std::uint64_t bans = 0;
  std::uint32_t site_requests = 0;  // the per_site counter now
  std::uint64_t memory_bytes = 0;
  std::vector<DosSourceInfo> top_sources;  // over a limit, most excess first
};
struct DosStatus {
  std::vector<DosSiteInfo> sites;  // flood-protected sites (possibly none)
  // Connection-level events the engine reported, every site together.
  std::uint64_t conn_over_source_cap = 0;
  std::uint64_t slowloris_cut = 0;
  std::uint64_t slow_post_cut = 0;
  std::uint64_t too_many_requests = 0;  // 429s by flood limits, every site
  std::uint64_t bans = 0;               // flood bans issued, every site
};

class Services {
 public:
  virtual ~Services() = default;

  virtual DaemonInfo daemonInfo() = 0;
  virtual net::EngineStats engineStats() = 0;  // zeros when no engine runs
  virtual std::vector<SiteInfo> sites() = 0;

  virtual ShieldInfo shieldInfo() = 0;
  // The shield calls fail with a clear Error when no shield is loaded.
  virtual common::Result<shield::Counters> shieldCounters() = 0;
  virtual common::Result<std::vector<shield::Ban>> listBans() = 0;
  virtual common::Status addBan(const common::IpPrefix& source, std::chrono::seconds ttl,
                                shield::BanReason reason) = 0;
  virtual common::Status deleteBan(const common::IpPrefix& source) = 0;
  virtual common::Result<std::vector<common::IpPrefix>> list(shield::ListKind kind) = 0;
  virtual common::Status addToList(shield::ListKind kind, const common::IpPrefix& prefix) = 0;
  virtual common::Status deleteFromList(shield::ListKind kind, const common::IpPrefix& prefix) = 0;

  // Reloads the config file as SIGHUP does; the text says what changed.
  virtual common::Result<std::string> reload() = 0;

  // Signature rules. Fail with ENOENT when this mamorid inspects nothing
  // (no sites).
  virtual common::Result<std::vector<RuleInfo>> listRules() = 0;
  virtual common::Status setRuleEnabled(std::uint32_t id, bool enabled) = 0;
  virtual common::Result<std::string> reloadRules() = 0;
  // Runs one raw HTTP request through the parser and a site's inspection
  // (`site` empty: the first site) without sending it anywhere.
  virtual common::Result<RuleTestReport> testRequest(std::string_view raw_request,
                                                     const std::string& site) = 0;

  // Login protection. Fail with ENOENT when no site (or not `site`) has a
  // login section. `site` empty in loginStatus: every such site.
  virtual common::Result<std::vector<LoginSiteInfo>> loginStatus(const std::string& site,
                                                                 std::size_t top) = 0;
  // Whether `user` was locked; the lock and its per-username counters go.
  virtual common::Result<bool> loginUnlock(const std::string& site, const std::string& user) = 0;
  // The application reports an attempt's outcome itself (`ip` a host address).
  virtual common::Result<LoginReportResult> loginReport(const std::string& site,
                                                        const std::string& user,
                                                        const common::IpPrefix& ip,
                                                        bool failed) = 0;

  // Bot detection. Not pure virtual so that a Services without bots
  // (tests, tools) need not implement them: ENOENT by default. `site`
  // empty: every site with a bots section.
  virtual common::Result<BotStatusInfo> botStatus(const std::string& site) {
    (void)site;
    return common::Error{ENOENT, "this mamorid runs no bot detection"};
  }
  virtual common::Result<std::vector<BotTopInfo>> botTop(const std::string& site, std::size_t n) {
    (void)site;
    (void)n;
    return common::Error{ENOENT, "this mamorid runs no bot detection"};
  }

  // Under-attack mode (docs/challenge.md): `to` is "on", "off" or "auto"
  // (hand the site back to its config). Error{ENOENT} for an unknown site.
  // Not pure so that fakes without a challenge need not implement it:
  // the default answers Error{ENOTSUP}.
  virtual common::Result<UnderAttackInfo> setUnderAttack(const std::string& site,
                                                         const std::string& to) {
    (void)site;
    (void)to;
    return common::Error{ENOTSUP, "this mamorid has no browser challenge"};
}

  // L7 DoS protection: per-site limits and counters (`site` empty: every
  // flood-protected site), the `top` sources over a limit, connection-level
  // counters. Error{ENOENT} when `site` has no flood section. Not pure, so
  // that test doubles that do not care need not implement it.
  virtual common::Result<DosStatus> dosStatus(const std::string& site, std::size_t top) {
    (void)site;
    (void)top;
    return common::Error{ENOTSUP, "this mamorid has no L7 DoS protection"};
  }

  // The event / DoS / BOT / audit logs; nullptr when logging is off.
  // LogReader is safe to share between threads.
  virtual std::shared_ptr<const logs::LogReader> logReader() = 0;
};

}  // namespace mamori::admin
