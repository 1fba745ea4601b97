#pragma once

// LoginGuard: login-abuse detection and decisions (issue #7; the design,
// defaults and costs are in docs/login-abuse.md).
//
// The engine calls it twice per request of a protected site:
//
//   PreCheck pre = guard.beforeUpstream(site, request, client_ip);
//   if (pre.answerLocally()) -> answer pre.answer.status (Retry-After if set)
//   else forward; when the upstream's head and up to 64 KiB of its body are in:
//   Decision d = guard.afterResponse(pre, status, headers, body_prefix);
//   hold the response d.delay, then send it; log d.events.
//
// Requests that match no login route cost a route scan and, only while some
// source of the site is throttled or blocked, two table lookups. Bans go to
// the BanSink (the daemon adapts the shield to it) from the calling thread.
//
// Threading: every public method may be called from any thread at once,
// and none takes a lock. Counters live in fixed lock-free tables
// (detail::AtomicTable, every field an atomic): a count racing with an
// eviction may be lost (the counts are estimates), a ban is decided by a
// compare-and-swap so racing workers issue it once, and an entry with a
// ban in force outweighs any other when a table evicts. The configuration
// is immutable after create(): a reload builds a new LoginGuard, which
// keeps the tables of unchanged sites (GuardOptions::carry_over_from).

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip_prefix.h"
#include "common/result.h"
#include "guard/types.h"
#include "http/body_parser.h"
#include "http/types.h"

namespace mamori::guard {

// Monotonic time for windows and expiries, injected so tests control it.
class Clock {
 public:
  virtual ~Clock() = default;
  // Time since an arbitrary fixed origin; never goes backwards. Any thread.
  virtual std::chrono::nanoseconds now() const = 0;
};

// CLOCK_MONOTONIC through std::chrono::steady_clock (the shield's ban expiry
// uses the same clock).
class SteadyClock final : public Clock {
 public:
  std::chrono::nanoseconds now() const override;
};

// A clock that moves only when told: tests and the benchmark.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::chrono::nanoseconds start = std::chrono::hours(1)) : ns_(start.count()) {}
  std::chrono::nanoseconds now() const override {
    return std::chrono::nanoseconds(ns_.load(std::memory_order_relaxed));
  }
  void advance(std::chrono::nanoseconds d) { ns_.fetch_add(d.count(), std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> ns_;
};

// Why a source is banned; the daemon maps it to the shield's reason
// (shield::BanReason::Login for LoginAbuse). Bot and Flood are for the
// detectors of issue #8.
enum class BanReason : std::uint8_t { LoginAbuse, Bot, Flood };

// Where bans at XDP go. Called from request threads (the guard holds no
// lock); must be thread-safe and quick (a map write, or a queue push), and
// must not call back into the guard. Failures are the sink's to count and
// log: the guard also blocks the source for the site, so a lost ban still
// keeps the source away from the upstream (fail-closed for that site).
struct BanSink {
  virtual ~BanSink() = default;
  // `source` is a host address or, with ban_ipv6_prefix64, an IPv6 /64.
  virtual void ban(const common::IpPrefix& source, std::chrono::seconds ttl, BanReason reason) = 0;
};

class LoginGuard;

struct GuardOptions {
  // Key of the username / table hash; a random per-process key when unset.
  // Set only by tests that need stable hashes.
  std::optional<std::array<std::uint8_t, 16>> hash_key;
  // On reload: the guard being replaced. Sites whose SiteGuardConfig is
  // unchanged share its tables (counters, locks, blocks, ban history), so a
  // reload does not wipe an attack in progress; changed or new sites start
  // empty. The hash key is taken over too (hash_key is then ignored). Both
  // guards stay usable while workers switch over; the shared tables live
  // until the last guard holding them is destroyed.
  const LoginGuard* carry_over_from = nullptr;
};

class LoginGuard {
 public:
  // Validates every site (guard::validate, plus unique names) and allocates
  // all tables up front; Error{EINVAL} naming the site and field otherwise.
  // `clock` and `ban_sink` must outlive the guard; `ban_sink` may be null
  // (bans are then only site-level blocks). Control plane.
  static common::Result<std::unique_ptr<LoginGuard>> create(std::vector<SiteGuardConfig> sites,
                                                            const Clock& clock, BanSink* ban_sink,
                                                            GuardOptions options = {});
  ~LoginGuard();
  LoginGuard(const LoginGuard&) = delete;
  LoginGuard& operator=(const LoginGuard&) = delete;

  // Id of the site called `name`, for the request path (the engine looks it
  // up once per site, at load). nullopt when the site has no guard config.
  std::optional<SiteId> findSite(std::string_view name) const;

  // Before forwarding `request` of site `site` from `client` (a host
  // address; an IPv4-mapped IPv6 address is treated as the IPv4 one): is it a login attempt, on which username, and must it be
  // answered locally (source blocked -> 403 for any request of the site;
  // throttled -> 429 with Retry-After on login routes; username locked ->
  // locked_status with Retry-After). Attempts refused while throttled or
  // blocked still count against the source, so a source that keeps
  // hammering climbs the ladder up to a ban. `parsed` is the request body
  // if inspection already parsed it. An unknown `site` gives a PreCheck with
  // login = false. Never fails; any thread.
  PreCheck beforeUpstream(SiteId site, const http::Request& request,
                          const common::IpPrefix& client,
                          const http::ParsedBody* parsed = nullptr);

  // After the upstream answered a request whose PreCheck had login = true
  // (anything else returns an empty Unknown decision): classifies the
  // response (`body_prefix` is the first bytes of the decoded body, at most
  // 64 KiB are read), updates the counters and returns the outcome, the
  // delay to apply and the events. Bans are issued to the BanSink from here.
  // Never fails; any thread.
  Decision afterResponse(const PreCheck& pre, int status, const std::vector<http::Header>& headers,
                         std::string_view body_prefix);

  // An outcome reported by the application itself (`mamorictl login report
  // --site S --user U --ip IP --result failed`); `user` may be empty. Counts
  // and decides as afterResponse does. Error{ENOENT} for an unknown site,
  // Error{EINVAL} when `ip` is not a host address. Any thread.
  common::Result<Decision> reportOutcome(std::string_view site, std::string_view user,
                                         const common::IpPrefix& ip, Outcome outcome);

  // Top `top` sources by failures in the failures_per_ip window, the
  // sources throttled / blocked / banned now, and the locked usernames.
  // Walks the site's tables (control plane: `mamorictl login status`).
  // Error{ENOENT} for an unknown site.
  common::Result<SiteStatus> status(std::string_view site, std::size_t top = 10) const;

  // Lifts the lock on `user` and clears its per-username counters so the
  // next mistake does not lock it again at once. Returns whether it was
  // locked. Error{ENOENT} for an unknown site. Any thread.
  common::Result<bool> unlock(std::string_view site, std::string_view user);

  // The operator lifted the XDP ban of `source` (a host or a prefix):
  // every site drops the throttle, block and ban it holds against sources
  // and prefixes inside it, so they may try again at once. The ladder's
  // memory (the excess reached, past bans) stays. Returns the
  // restrictions lifted. Control plane: walks every site's table.
  std::size_t liftBan(const common::IpPrefix& source);

  // Bytes held by all tables of all sites (fixed from create() on).
  std::size_t memoryBytes() const;

  // Display form of `user` in `site` ("h:<16 hex>" or the clear name) as it
  // appears in decisions; tests compare against it.
  std::string usernameDisplayForTest(SiteId site, std::string_view user) const;
  // Evictions so far from the failures_per_ip table of `site`.
  std::uint64_t ipEvictionsForTest(SiteId site) const;
  // Occupied entries in the failures_per_ip table of `site` and its capacity.
  std::pair<std::size_t, std::size_t> ipTableFillForTest(SiteId site) const;

 private:
  struct Impl;
  explicit LoginGuard(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mamori::guard
