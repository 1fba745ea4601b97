#pragma once

// FloodLimiter: HTTP flood limits of issue #8 (design, defaults and costs in
// docs/l7-dos.md).
//
// Four windowed request counters per site, checked in this order:
//
//   per_ip      requests of one source address
//   per_prefix  requests of its /24 (IPv4) or /64 (IPv6)
//   per_path    requests of one (source address, path)
//   per_site    requests of the whole site
//
// A limit counts only the requests that got past the limits before it: a
// source refused by per_ip does not use up its /24's budget nor the site's,
// so one flooder cannot push its neighbours or the whole site into 429s by
// itself. Over a limit the request is answered 429 with a Retry-After of
// the time until that counter is back under its threshold. Requests refused
// by per_ip or per_path are the source's "excess"; `ban.after` excess
// requests within `ban.window` ban the source at XDP (BanSink) for
// `ban.ttl`, and the site itself keeps answering it 429 until the ban ends
// (fail-closed when the shield cannot enforce the ban). per_prefix and
// per_site refusals never ban anyone: the address refused may be an
// innocent neighbour of the heavy users.
//
// Memory is fixed at create(): per site three set-associative tables
// (sources, prefixes, paths; guard/window_table.h AtomicTable) whose
// eviction drops the entry with the smallest windowed count, so a spray of
// one-off addresses evicts itself and heavy hitters stay.
//
// Threading: check() and status() may be called from any thread at once.
// check() takes no lock (DESIGN.md: none on the request path): every
// counter is an atomic, and the decisions taken once (a ban, a window's
// log record) are compare-and-swaps, so of workers racing over the same
// threshold exactly one issues the ban. What that costs: a count that races
// with its entry being evicted lands in the entry's next owner or is lost
// (counts are approximate under a spray, never a crash), and a source the
// table cannot claim a slot for under extreme contention is not counted by
// per_ip/per_path for that request. The configuration is immutable after
// create(); a reload builds a new limiter that takes over the tables of
// sites whose windows and table sizes did not change
// (FloodOptions::carry_over_from).

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
#include "guard/login_guard.h"
#include "guard/types.h"

namespace mamori::guard {

// The four limits, in checking order.
enum class FloodLimit : std::uint8_t { PerIp, PerPrefix, PerPath, PerSite };
inline constexpr std::size_t kFloodLimitCount = 4;
// "per_ip", "per_prefix", "per_path", "per_site" (config keys, log and
// metric labels).
const char* floodLimitName(FloodLimit limit);

// One windowed threshold. `requests` == 0 turns the limit off.
struct FloodRate {
  std::uint32_t requests = 0;  // 1..60000 when on
  std::chrono::seconds window{60};
  bool operator==(const FloodRate&) const = default;
};

struct FloodTables {
  std::size_t sources = 65536;   // per-source entries (per_ip, excess, ban)
  std::size_t prefixes = 16384;  // per-/24 and per-/64 entries
  std::size_t paths = 65536;     // per-(source, path) entries
  bool operator==(const FloodTables&) const = default;
};

// The flood policy of one site. The defaults are the `flood:` section's
// defaults when `enabled: true` and nothing else is written: generous
// enough that a browser behind a busy NAT never meets them (docs/l7-dos.md,
// "Defaults"), with per_site off because only the operator knows what the
// upstream can carry.
struct FloodSiteConfig {
  std::string name;  // the site's name, unique
  FloodRate per_ip{1200, std::chrono::seconds(60)};
  FloodRate per_prefix{6000, std::chrono::seconds(60)};
  FloodRate per_path{600, std::chrono::seconds(60)};
  FloodRate per_site{0, std::chrono::seconds(10)};
  std::uint32_t ban_after = 600;  // excess requests in ban_window; 0: never ban
  std::chrono::seconds ban_window{60};
  std::chrono::seconds ban_ttl{600};
  // Ban an IPv6 source's whole /64 at XDP: a host holds a /64 and can hop
  // between its addresses at will. The counters stay per address.
  bool ban_ipv6_prefix64 = false;
  std::vector<common::IpPrefix> allow;  // sources never counted nor refused
  bool detection_only = false;          // decide and log, but answer nothing and ban no one
  FloodTables tables;
  bool operator==(const FloodSiteConfig&) const = default;

  const FloodRate& rate(FloodLimit limit) const;
};

// Checks ranges (1..60000 requests, windows 1 s..24 h, ttl 1 s..365 d,
// tables 1..2^26) and that an allow entry is a valid prefix. Error{EINVAL,
// "site S: flood.per_ip.requests ..."} otherwise. Pure.
common::Status validate(const FloodSiteConfig& site);

enum class FloodAction : std::uint8_t { Pass, TooManyRequests, Ban };
const char* floodActionName(FloodAction action);  // "pass", "too_many_requests", "ban"

// A refusal worth a DoS log record. At most one per (source, limit) per
// window of that limit (per (site) per window for per_site, per (prefix)
// for per_prefix), so a flood cannot flood the log; `refused` says how many
// requests that (source, limit) had refused since the previous record.
// Bans are always reported (at most one per source per ban_ttl).
struct FloodEvent {
  FloodLimit limit = FloodLimit::PerIp;
  FloodAction action = FloodAction::TooManyRequests;
  common::IpPrefix subject;  // the source, or its /24 or /64 for per_prefix
  std::uint32_t value = 0;   // the counter's windowed value
  std::uint32_t threshold = 0;
  std::chrono::seconds window{0};
  std::uint64_t refused = 0;        // refusals of this (subject, limit) since the last record
  std::chrono::seconds ban_ttl{0};  // Ban only
  bool enforced = true;             // false in detection_only
  bool xdp = true;                  // Ban only: written to the BanSink (see check())
};

struct FloodDecision {
  FloodAction action = FloodAction::Pass;
  FloodLimit limit = FloodLimit::PerIp;  // the limit that refused (not Pass)
  std::chrono::seconds retry_after{0};   // >= 1 s when refused
  std::optional<FloodEvent> event;       // log this one
  // True when action is TooManyRequests or Ban and the site is not
  // detection_only: the engine must answer 429.
  bool refuse() const { return action != FloodAction::Pass && enforced; }
  bool enforced = true;
};

// Counters of one site since create() (carried over by a reload that keeps
// the tables).
struct FloodSiteCounters {
  std::uint64_t checked = 0;
  std::array<std::uint64_t, kFloodLimitCount> refused{};  // by FloodLimit
  std::uint64_t bans = 0;
};

struct FloodSourceStatus {
  common::IpPrefix source;
  std::uint32_t requests = 0;  // in the per_ip window
  std::uint32_t excess = 0;    // in the ban window
  std::int64_t banned_s = 0;   // remaining ban, 0 when none
};

struct FloodSiteStatus {
  FloodSiteConfig config;
  FloodSiteCounters counters;
  std::uint32_t site_requests = 0;  // the per_site counter now
  std::vector<FloodSourceStatus>
      top_sources;  // over a limit (excess > 0 or banned), most excess first
  std::size_t memory_bytes = 0;
  std::uint64_t evictions = 0;
};

class FloodLimiter;

struct FloodOptions {
  // Key of the table hashes; a random per-process key when unset (tests).
  std::optional<std::array<std::uint8_t, 16>> hash_key;
  // On reload: the limiter being replaced. A site whose windows and tables
  // are unchanged shares its tables and counters (thresholds, ban settings
  // and allow list may change); other sites start empty. Both limiters stay
  // usable while workers switch over.
  const FloodLimiter* carry_over_from = nullptr;
};

class FloodLimiter {
 public:
  // Validates every site and allocates all tables up front; Error{EINVAL}
  // naming the site and field otherwise (or a duplicate name). `clock` and
  // `ban_sink` must outlive the limiter; `ban_sink` may be null (bans are
  // then only the site's own 429s). Control plane.
  static common::Result<std::unique_ptr<FloodLimiter>> create(std::vector<FloodSiteConfig> sites,
                                                              const Clock& clock, BanSink* ban_sink,
                                                              FloodOptions options = {});
  ~FloodLimiter();
  FloodLimiter(const FloodLimiter&) = delete;
  FloodLimiter& operator=(const FloodLimiter&) = delete;

  // Id of the site called `name`; nullopt when it has no flood policy.
  std::optional<SiteId> findSite(std::string_view name) const;

  // Counts one request of `site` from `client` (a host address; an
  // IPv4-mapped IPv6 address counts as the IPv4 one) for `path` (the
  // normalised path, without query) and decides. A ban is written to the
  // BanSink from here, once per ban (by the one racing caller that set it),
  // unless `xdp_ban` is false
  // (a client seen through a trusted proxy: its packets come from the
  // proxy, so an XDP ban would cut the proxy off); the site refuses a
  // banned source either way. An unknown `site` passes. Never fails; any
  // thread.
  FloodDecision check(SiteId site, const common::IpPrefix& client, std::string_view path,
                      bool xdp_ban = true);

  // Config, counters and the `top` sources over a limit. Walks the site's
  // source table (control plane). Error{ENOENT} for an unknown site.
  common::Result<FloodSiteStatus> status(std::string_view site, std::size_t top = 10) const;

  // The operator lifted the XDP ban of `source` (a host or a prefix, e.g.
  // an IPv6 /64): every site forgets the bans and the excess of the
  // sources inside it, so they are served again at once instead of
  // answered 429 until the ban's TTL. Returns the sources released.
  // Control plane: walks every site's source table.
  std::size_t liftBan(const common::IpPrefix& source);

  // Site names in creation order.
  std::vector<std::string> siteNames() const;

  // Bytes held by the tables of all sites (fixed from create() on).
  std::size_t memoryBytes() const;
  // Bytes of one entry of each table kind (docs/l7-dos.md quotes them).
  static std::size_t sourceEntryBytes();
  static std::size_t prefixEntryBytes();
  static std::size_t pathEntryBytes();

 private:
  struct Impl;
  explicit FloodLimiter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mamori::guard
