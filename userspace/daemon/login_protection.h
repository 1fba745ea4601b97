#pragma once

// mamorid's login-abuse protection (issue #7): builds guard::LoginGuard
// from the sites' `login:` sections (daemon::loginSettings), answers the
// engine's request and response hooks with it, writes every guard event to
// the event log, and hands bans to the shield through ShieldBanSink. The
// design and the wiring contract are in docs/login-abuse.md.
//
// Threads: onRequest() and onResponse() run on the engine's workers,
// concurrently and without a lock of ours: each worker keeps its own copy of
// the current snapshot (the guard and the site table), refreshed without a
// lock after reload() published a new one (published_snapshot.h); the
// guard's tables are lock-free too. reload() runs on the main
// thread; status(), unlock() and report() on control threads.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/ip_prefix.h"
#include "common/result.h"
#include "config/types.h"
#include "daemon/published_snapshot.h"
#include "guard/login_guard.h"
#include "guard/types.h"
#include "logs/types.h"
#include "net/types.h"
#include "shield/shield.h"

namespace mamori::daemon {

class DaemonLogs;

// guard::BanSink over the shield's pinned maps: a ban becomes an entry of
// bans_v4 / bans_v6 with shield::BanReason::Login. Without a shield (or when
// the map write fails) the ban cannot be enforced at XDP: that is written to
// stderr and counted; the guard still blocks the source at the site (403),
// so the failure is fail-closed for that site.
class ShieldBanSink final : public guard::BanSink {
 public:
  // Opens the pinned maps under `pin_root` once. Main thread, before the
  // engine's workers start. Fails (and leaves the sink unenforcing) when the
  // pins are absent.
  common::Status attach(const std::string& pin_root);
  bool attached() const { return maps_.has_value(); }

  // Worker or control threads (PinnedMaps::addBan is one map syscall).
  void ban(const common::IpPrefix& source, std::chrono::seconds ttl,
           guard::BanReason reason) override;

  std::uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  std::uint64_t unenforced() const { return unenforced_.load(std::memory_order_relaxed); }
  // The same, for the bans of one detector (mamori_guard_bans_total{reason}).
  std::uint64_t written(guard::BanReason reason) const {
    return written_by_[static_cast<std::size_t>(reason)].load(std::memory_order_relaxed);
  }
  std::uint64_t unenforced(guard::BanReason reason) const {
    return unenforced_by_[static_cast<std::size_t>(reason)].load(std::memory_order_relaxed);
  }

 private:
  static constexpr std::size_t kReasons = 3;  // guard::BanReason values
  std::optional<shield::PinnedMaps> maps_;  // set once before the workers start
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> unenforced_{0};
  std::array<std::atomic<std::uint64_t>, kReasons> written_by_{};
  std::array<std::atomic<std::uint64_t>, kReasons> unenforced_by_{};
};

// Every counter of login protection in one list (STYLE.md §2).
#define MAMORI_LOGIN_COUNTERS(X)                                                 \
  X(attempts)   /* requests on a login route forwarded to the upstream */        \
  X(refused)    /* requests answered locally: throttled, blocked, locked */      \
  X(failed)     /* attempts the upstream's answer (or a report) says failed */   \
  X(succeeded)  /* attempts that succeeded */                                    \
  X(events)     /* guard events written to the event log */

struct LoginStats {
#define MAMORI_LOGIN_FIELD(name) std::uint64_t name = 0;
  MAMORI_LOGIN_COUNTERS(MAMORI_LOGIN_FIELD)
#undef MAMORI_LOGIN_FIELD
};

// What an event record says about the request it came from; all optional
// (a `mamorictl login report` has no request).
struct LoginEventContext {
  std::string tenant;
  std::string site;
  std::string source_ip;
  std::optional<std::uint16_t> source_port;
  std::string request_id;
  std::string method;
  std::string path;
  std::string user_agent;
  std::optional<std::uint16_t> http_status;  // the local answer, when there was one
  std::string tls_ja3;  // daemon/tls_fingerprints.h; empty without TLS
  std::string tls_ja4;
};

// The rule id of a guard event: login.brute_force (failures per source or
// per username and source), login.password_spray (distinct usernames per
// source), login.network_abuse (the /24 or /64 counter),
// login.distributed_attack (distinct sources per username),
// login.username_abuse (failures per username), login.account_takeover.
std::string loginRuleId(const guard::Event& event);

// The event-log record of one guard event: type Event, event.category
// "authentication", rule.id from loginRuleId, event.action the guard's
// action name, and under mamori: kind, action, enforced, username (as the
// guard gives it: hashed by default), route, subject, delay_ms,
// duration_s and the triggering counters {value, threshold, window_s}.
// Pure; any thread.
logs::LogRecord loginEventRecord(const guard::Event& event, const LoginEventContext& context);

class LoginProtection {
 public:
  // Builds the guard for the sites of `config` that have `login:` (none is
  // fine: every request then passes untouched). `logs` may be null (no
  // event log); `sink` may be null (no bans); `clock`, `logs` and `sink`
  // must outlive this. Error{EINVAL, "site S: ..."} when a site's settings
  // are refused. Main thread.
  static common::Result<std::unique_ptr<LoginProtection>> create(const config::Config& config,
                                                                 const guard::Clock& clock,
                                                                 DaemonLogs* logs,
                                                                 guard::BanSink* sink);

  // A new guard for `config` that keeps the counters, locks, blocks and
  // ban history of every site whose login settings did not change
  // (GuardOptions::carry_over_from). On error nothing changes. Returns a
  // one-line summary. Main thread.
  common::Result<std::string> reload(const config::Config& config);

  // True when some site has a login section.
  bool active() const;

  // The engine's verdict hook for login protection. A refused attempt
  // (blocked source, throttled source, locked username) is a Block with the
  // guard's status and Retry-After; a login attempt to forward is a Pass
  // whose watch token carries the guard's PreCheck for onResponse(); any
  // other request passes untouched. Worker threads.
  net::Verdict onRequest(const http::Request& request, const net::RequestContext& context);

  // The engine's response hook: classifies the upstream's answer to a
  // watched attempt, updates the counters, logs the events and returns the
  // delay to hold the response. `watch` must come from onRequest(). Worker
  // threads.
  net::ResponseAction onResponse(const std::shared_ptr<void>& watch,
                                 const net::ResponseView& response,
                                 const net::RequestContext& context);

  // Control commands. `site` empty means every site with a login section.
  // Error{ENOENT} for a site without one (or when no site has one).
  common::Result<std::vector<guard::SiteStatus>> status(const std::string& site,
                                                        std::size_t top) const;
  common::Result<bool> unlock(const std::string& site, const std::string& user);
  // `mamorictl bans del`: see guard::LoginGuard::liftBan.
  std::size_t liftBan(const common::IpPrefix& source);
  // An outcome the application reports itself; `ip` must be a host
  // address. The events it causes are logged like the engine's.
  common::Result<guard::Decision> report(const std::string& site, const std::string& user,
                                         const common::IpPrefix& ip, guard::Outcome outcome);

  LoginStats stats() const;

 private:
  struct SiteEntry {
    guard::SiteId id = 0;
    std::string tenant;
  };
  struct Snapshot {
    std::shared_ptr<guard::LoginGuard> guard;  // null when no site has login
    std::map<std::string, SiteEntry, std::less<>> sites;
    std::vector<std::string> order;  // site names in config order
  };
  struct Watch;

  LoginProtection(const guard::Clock& clock, DaemonLogs* logs, guard::BanSink* sink)
      : clock_(clock), logs_(logs), sink_(sink) {}
  common::Result<std::shared_ptr<const Snapshot>> build(const config::Config& config,
                                                        const guard::LoginGuard* previous) const;
  void logEvents(const std::vector<guard::Event>& events, const LoginEventContext& context);
  void countOutcome(guard::Outcome outcome);

  const guard::Clock& clock_;
  DaemonLogs* logs_;
  guard::BanSink* sink_;

  PublishedSnapshot<Snapshot> snapshot_;

#define MAMORI_LOGIN_ATOMIC(name) std::atomic<std::uint64_t> name##_{0};
  MAMORI_LOGIN_COUNTERS(MAMORI_LOGIN_ATOMIC)
#undef MAMORI_LOGIN_ATOMIC
};

}  // namespace mamori::daemon
