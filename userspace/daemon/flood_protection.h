#pragma once

// mamorid's L7 DoS protection (issue #8, docs/l7-dos.md): builds
// guard::FloodLimiter from the sites' `flood:` sections, answers the
// engine's verdict hook with 429 + Retry-After, hands flood bans to the
// shield through the BanSink (daemon's ShieldBanSink), and writes DoS log
// records for refusals (rate-limited by the limiter: one per source per
// limit per window, with the count) and for the connection-level events the
// engine reports (connection cap, slowloris, slow POST; rate-limited here:
// one per source per kind per minute, with the count).
//
// Threads: onRequest() and onConnection() run on the engine's workers,
// concurrently and without a lock: each worker keeps its own copy of the
// current snapshot, refreshed without a lock after reload() published a
// new one (published_snapshot.h); the limiter and the connection-event
// marks are lock-free tables (guard/window_table.h AtomicTable). reload()
// runs on the main thread; status() and stats() on control and metrics
// threads.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/types.h"
#include "daemon/published_snapshot.h"
#include "guard/flood_limiter.h"
#include "guard/keyed_hash.h"
#include "guard/window_table.h"
#include "logs/types.h"
#include "net/types.h"

namespace mamori::daemon {

class DaemonLogs;

// Every counter of the L7 DoS protection in one list (STYLE.md §2). The
// first six are mamori_guard_flood_verdicts_total's actions.
#define MAMORI_FLOOD_COUNTERS(X)                                                      \
  X(too_many_requests)    /* requests answered 429 by a flood limit */                \
  X(ban)                  /* sources banned (BanSink) */                              \
  X(detect_only)          /* refusals not enforced: detection_only or mode: detect */ \
  X(conn_over_source_cap) /* connections refused: max_conns_per_source */             \
  X(slowloris_cut)        /* connections cut by header_timeout after some bytes */    \
  X(slow_post_cut)        /* connections cut by body_timeout */                       \
  X(checked)              /* requests of flood-protected sites checked */             \
  X(log_records)          /* DoS log records written (requests and connections) */

struct FloodStats {
#define MAMORI_FLOOD_FIELD(name) std::uint64_t name = 0;
  MAMORI_FLOOD_COUNTERS(MAMORI_FLOOD_FIELD)
#undef MAMORI_FLOOD_FIELD
};

// The sites of `config` with an enabled `flood:` section as guard policies
// (unset keys take guard::FloodSiteConfig's defaults; a site in mode:
// detect is detection_only). Error{EINVAL, "site S: flood...."} from
// guard::validate. Pure; control plane.
common::Result<std::vector<guard::FloodSiteConfig>> floodSettings(const config::Config& config);

// What a DoS record says about the request that fired.
struct FloodRequestContext {
  std::string tenant;
  std::string site;
  std::string source_ip;
  std::uint16_t source_port = 0;
  std::string request_id;
  std::string method;
  std::string path;
  std::string user_agent;
};

// The DoS-log record of one limiter event: type Dos, category "web",
// event.action too_many_requests | ban, rule.id dos.flood.<limit>, and under
// mamori: layer "http", limit, action, enforced, subject, count (the
// counter's value), threshold, window_s, refused (since the previous record
// of this source and limit), ban_ttl_s (bans). Pure; any thread.
logs::LogRecord floodEventRecord(const guard::FloodEvent& event,
                                 const FloodRequestContext& context);

// "over_source_cap", "slowloris", "slow_post".
const char* connectionEventName(net::ConnectionEventKind kind);

// The DoS-log record of `count` connection events of one kind from
// `source` (since the previous record of that source and kind): category
// "network", rule.id dos.conn.<kind>, mamori {layer "connection", kind,
// count, interval_s}. `tenant` is the site's, or config::kHostTenant when
// the site is unknown. Pure; any thread.
logs::LogRecord connectionEventRecord(net::ConnectionEventKind kind, const std::string& tenant,
                                      const std::string& site, const std::string& source,
                                      std::uint64_t count, std::chrono::seconds interval);

class FloodProtection {
 public:
  // One connection-event record per (source, kind) per this interval.
  static constexpr std::chrono::seconds kConnectionLogInterval{60};
  // Sources whose connection-event log marks are remembered.
  static constexpr std::size_t kConnectionMarks = 16384;

  // Builds the limiter for the sites of `config` with `flood:` (none is
  // fine: every request then passes, and connection events are still
  // logged). `logs` and `sink` may be null; `clock`, `logs` and `sink` must
  // outlive this. Error{EINVAL, "site S: flood...."} when a site's settings
  // are refused. Main thread.
  static common::Result<std::unique_ptr<FloodProtection>> create(const config::Config& config,
                                                                 const guard::Clock& clock,
                                                                 DaemonLogs* logs,
                                                                 guard::BanSink* sink);

  // A new limiter for `config` that keeps the tables and counters of every
  // site whose windows and table sizes did not change. On error nothing
  // changes. Returns a one-line summary. Main thread.
  common::Result<std::string> reload(const config::Config& config);

  // True when some site has an enabled flood section.
  bool active() const;

  // The engine's verdict hook for flood limits: a refused request is a
  // Block 429 with Retry-After; anything else passes untouched. In
  // detection_only (or mode: detect) the refusal is logged and counted as
  // detect_only and the request passes. Worker threads.
  net::Verdict onRequest(const http::Request& request, const net::RequestContext& context);

  // The engine's connection hook: counts the event and writes a DoS record
  // for its source at most once per kConnectionLogInterval. Worker threads.
  void onConnection(const net::ConnectionEvent& event);

  // `site` empty: every site with a flood section. Error{ENOENT} for a site
  // without one (or when no site has one). Control threads.
  // `mamorictl bans del`: see guard::FloodLimiter::liftBan.
  std::size_t liftBan(const common::IpPrefix& source);
  common::Result<std::vector<guard::FloodSiteStatus>> status(const std::string& site,
                                                             std::size_t top) const;

  FloodStats stats() const;

 private:
  struct Snapshot {
    std::shared_ptr<guard::FloodLimiter> limiter;  // null when no site has flood
    std::map<std::string, guard::SiteId, std::less<>> sites;
    std::map<std::string, std::string, std::less<>> tenants;  // every site -> its tenant
    // Sites with trusted_proxies -> those proxies (net::requestClient()).
    std::map<std::string, std::vector<common::IpPrefix>, std::less<>> trusted;
  };
  // One (source, kind)'s connection-event log state: a record per minute,
  // written by exactly one of the workers racing on the source.
  using ConnMark = guard::detail::RecordMark;

  FloodProtection(const guard::Clock& clock, DaemonLogs* logs, guard::BanSink* sink);
  common::Result<std::shared_ptr<const Snapshot>> build(const config::Config& config,
                                                        const guard::FloodLimiter* previous) const;
  void submit(logs::LogRecord record);

  const guard::Clock& clock_;
  DaemonLogs* logs_;
  guard::BanSink* sink_;
  guard::KeyedHash hash_;
  guard::detail::AtomicTable<ConnMark> conn_marks_{kConnectionMarks};

  PublishedSnapshot<Snapshot> snapshot_;

#define MAMORI_FLOOD_ATOMIC(name) std::atomic<std::uint64_t> name##_{0};
  MAMORI_FLOOD_COUNTERS(MAMORI_FLOOD_ATOMIC)
#undef MAMORI_FLOOD_ATOMIC
};

}  // namespace mamori::daemon
