#include "guard/flood_limiter.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "guard/keyed_hash.h"
#include "guard/window_table.h"

namespace mamori::guard {

using common::Error;
using common::Result;
using common::Status;
using detail::AtomicTable;
using detail::AtomicWindowCount;
using detail::Window;
namespace ban_word = detail::ban_word;

const char* floodLimitName(FloodLimit limit) {
  switch (limit) {
    case FloodLimit::PerIp:
      return "per_ip";
    case FloodLimit::PerPrefix:
      return "per_prefix";
    case FloodLimit::PerPath:
      return "per_path";
    case FloodLimit::PerSite:
      return "per_site";
  }
  return "unknown";
}

const char* floodActionName(FloodAction action) {
  switch (action) {
    case FloodAction::Pass:
      return "pass";
    case FloodAction::TooManyRequests:
      return "too_many_requests";
    case FloodAction::Ban:
      return "ban";
  }
  return "unknown";
}

const FloodRate& FloodSiteConfig::rate(FloodLimit limit) const {
  switch (limit) {
    case FloodLimit::PerIp:
      return per_ip;
    case FloodLimit::PerPrefix:
      return per_prefix;
    case FloodLimit::PerPath:
      return per_path;
    case FloodLimit::PerSite:
      return per_site;
  }
  return per_ip;
}

Status validate(const FloodSiteConfig& site) {
  auto bad = [&](const std::string& what) {
    return Error{EINVAL, "site " + site.name + ": flood." + what};
  };
  for (FloodLimit l :
       {FloodLimit::PerIp, FloodLimit::PerPrefix, FloodLimit::PerPath, FloodLimit::PerSite}) {
    const FloodRate& r = site.rate(l);
    // 60000: the documented range (docs/l7-dos.md), from when bucket
    // counts were 16-bit; the lock-free windows count to 2^32.
    if (r.requests > 60000)
      return bad(std::string(floodLimitName(l)) + ".requests must be 0..60000");
    if (r.window < std::chrono::seconds(1) || r.window > std::chrono::hours(24))
      return bad(std::string(floodLimitName(l)) + ".window must be 1s..24h");
  }
  if (site.ban_after > 60000) return bad("ban.after must be 0..60000");
  if (site.ban_window < std::chrono::seconds(1) || site.ban_window > std::chrono::hours(24))
    return bad("ban.window must be 1s..24h");
  if (site.ban_ttl < std::chrono::seconds(1) || site.ban_ttl > std::chrono::hours(24 * 365))
    return bad("ban.ttl must be 1s..365d");
  constexpr std::size_t kMaxEntries = std::size_t{1} << 26;
  for (auto [name, n] :
       {std::pair{"sources", site.tables.sources}, std::pair{"prefixes", site.tables.prefixes},
        std::pair{"paths", site.tables.paths}}) {
    if (n < 1 || n > kMaxEntries)
      return bad(std::string("tables.") + name + " must be 1..67108864");
  }
  for (const auto& p : site.allow)
    if (p.prefix_len > p.maxPrefix()) return bad("allow has an invalid prefix");
  return {};
}

namespace {

// The client as a host address; an IPv4-mapped IPv6 address becomes plain
// IPv4, or every IPv4 client of a dual-stack listener would share one /64.
common::IpPrefix hostOf(const common::IpPrefix& ip) {
  common::IpPrefix out = ip;
  if (ip.is_v6) {
    bool mapped = ip.bytes[10] == 0xff && ip.bytes[11] == 0xff;
    for (int i = 0; i < 10 && mapped; ++i) mapped = ip.bytes[i] == 0;
    if (mapped) {
      out = common::IpPrefix{};
      for (int i = 0; i < 4; ++i) out.bytes[i] = ip.bytes[12 + i];
    }
  }
  out.prefix_len = static_cast<std::uint8_t>(out.maxPrefix());
  return out;
}

// The /24 of an IPv4 host, the /64 of an IPv6 one.
common::IpPrefix networkOf(const common::IpPrefix& host) {
  common::IpPrefix out = host;
  const int len = host.is_v6 ? 64 : 24;
  out.prefix_len = static_cast<std::uint8_t>(len);
  for (int byte = len / 8; byte < 16; ++byte) out.bytes[byte] = 0;
  return out;
}

// "Logged in this window" state of one (subject, limit): the record of a
// window is written on its first refusal, carrying the refusals counted
// since the previous record (period: the window index).
using LogMark = detail::RecordMark;

// Every field is an atomic of its own (AtomicTable, window_table.h): the
// address is written by init() before the key is published.
struct SourceEntry {
  AtomicWindowCount ip;      // per_ip
  AtomicWindowCount excess;  // refusals by per_ip and per_path, ban window
  std::atomic<std::uint64_t> ban{0};  // detail::ban_word; 0: none
  LogMark ip_mark;
  LogMark path_mark;
  detail::AtomicBytes<16> addr;
  std::atomic<bool> v6{false};

  // The identity goes first and the ban's store is a release: a worker
  // whose ban CAS (acquire) reads this store, or anything after it, then
  // sees the identity gone in holds() and takes its ban back, instead of
  // leaving it on the slot's next source (addExcess()).
  void clear() {
    addr.clear();
    v6.store(false, std::memory_order_relaxed);
    ip.clear();
    excess.clear();
    ip_mark.clear();
    path_mark.clear();
    ban.store(0, std::memory_order_release);
  }
  // Whether this slot still holds `host`: false when it was evicted and
  // re-claimed for another source since the caller found it.
  bool holds(const common::IpPrefix& host) const {
    return v6.load(std::memory_order_relaxed) == host.is_v6 && addr.load() == host.bytes;
  }
  common::IpPrefix source() const {
    common::IpPrefix out;
    out.is_v6 = v6.load(std::memory_order_relaxed);
    out.bytes = addr.load();
    out.prefix_len = static_cast<std::uint8_t>(out.maxPrefix());
    return out;
  }
};

struct PrefixEntry {
  AtomicWindowCount count;
  LogMark mark;
  void clear() {
    count.clear();
    mark.clear();
  }
};

struct PathEntry {
  AtomicWindowCount count;
  void clear() { count.clear(); }
};

// Seconds from `now_s` to the start of bucket period e + k.
std::chrono::seconds untilPeriod(const Window& w, std::uint32_t e, std::uint32_t k,
                                 std::int64_t now_s) {
  const std::int64_t start = (static_cast<std::int64_t>(e) + k) * w.bucket_seconds;
  return std::chrono::seconds(std::max<std::int64_t>(1, start - now_s));
}

// Index of the whole window containing `now_s`: the log rate limit's period.
std::uint32_t windowIndex(std::chrono::seconds window, std::int64_t now_s) {
  return static_cast<std::uint32_t>(now_s / std::max<std::int64_t>(1, window.count()));
}

// The tables and counters of one site; shared between a limiter and its
// successor when a reload keeps them.
struct SiteState {
  explicit SiteState(const FloodTables& t)
      : sources(t.sources), prefixes(t.prefixes), paths(t.paths) {}

  AtomicTable<SourceEntry> sources;
  AtomicTable<PrefixEntry> prefixes;
  AtomicTable<PathEntry> paths;
  AtomicWindowCount site_count;
  std::atomic<std::uint32_t> site_logged{0};  // window index + 1 of the last per_site record
  std::atomic<std::uint64_t> site_refused_since{0};

  std::atomic<std::uint64_t> checked{0};
  std::array<std::atomic<std::uint64_t>, kFloodLimitCount> refused{};
  std::atomic<std::uint64_t> bans{0};

  std::size_t memoryBytes() const {
    return sources.memoryBytes() + prefixes.memoryBytes() + paths.memoryBytes() + sizeof(*this);
  }
};

struct Site {
  FloodSiteConfig config;
  std::shared_ptr<SiteState> state;
  Window ip, prefix, path, site, ban;
};

// Whether `b` can take over `a`'s tables: the windows fix the bucket
// lengths stored in every entry and the table sizes fix the layout.
bool sameShape(const FloodSiteConfig& a, const FloodSiteConfig& b) {
  return a.tables == b.tables && a.per_ip.window == b.per_ip.window &&
         a.per_prefix.window == b.per_prefix.window && a.per_path.window == b.per_path.window &&
         a.per_site.window == b.per_site.window && a.ban_window == b.ban_window;
}

}  // namespace

struct FloodLimiter::Impl {
  Impl(const Clock& c, BanSink* s, KeyedHash h) : clock(c), sink(s), hash(h) {}
  const Clock& clock;
  BanSink* sink;
  KeyedHash hash;
  std::vector<Site> sites;
  std::map<std::string, SiteId, std::less<>> by_name;

  std::uint64_t sourceKey(const common::IpPrefix& host) const {
    std::uint8_t buf[17];
    buf[0] = host.is_v6 ? 6 : 4;
    std::memcpy(buf + 1, host.bytes.data(), 16);
    return hash.hash(buf, sizeof buf);
  }
  std::uint64_t prefixKey(const common::IpPrefix& net) const {
    std::uint8_t buf[18];
    buf[0] = 'p';
    buf[1] = net.is_v6 ? 6 : 4;
    std::memcpy(buf + 2, net.bytes.data(), 16);
    return hash.hash(buf, sizeof buf);
  }
  std::uint64_t pathKey(const common::IpPrefix& host, std::string_view path) const {
    // The source's key mixed with the path's own hash: no allocation, and
    // both halves are keyed.
    return mix64(sourceKey(host) ^ mix64(hash(path) + 0x9e3779b97f4a7c15ULL));
  }
};

FloodLimiter::FloodLimiter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FloodLimiter::~FloodLimiter() = default;

Result<std::unique_ptr<FloodLimiter>> FloodLimiter::create(std::vector<FloodSiteConfig> sites,
                                                           const Clock& clock, BanSink* ban_sink,
                                                           FloodOptions options) {
  const Impl* previous = options.carry_over_from ? options.carry_over_from->impl_.get() : nullptr;
  KeyedHash hash = previous           ? previous->hash
                   : options.hash_key ? KeyedHash(*options.hash_key)
                                      : KeyedHash::random();
  auto impl = std::make_unique<Impl>(clock, ban_sink, hash);
  for (auto& cfg : sites) {
    if (auto st = validate(cfg); !st) return st.error();
    if (impl->by_name.count(cfg.name))
      return Error{EINVAL, "site " + cfg.name + ": flood: duplicate site name"};
    Site site;
    if (previous) {
      auto it = previous->by_name.find(cfg.name);
      if (it != previous->by_name.end() && sameShape(previous->sites[it->second].config, cfg))
        site.state = previous->sites[it->second].state;
    }
    if (!site.state) site.state = std::make_shared<SiteState>(cfg.tables);
    site.ip = Window::ofSeconds(cfg.per_ip.window.count());
    site.prefix = Window::ofSeconds(cfg.per_prefix.window.count());
    site.path = Window::ofSeconds(cfg.per_path.window.count());
    site.site = Window::ofSeconds(cfg.per_site.window.count());
    site.ban = Window::ofSeconds(cfg.ban_window.count());
    site.config = std::move(cfg);
    impl->by_name[site.config.name] = static_cast<SiteId>(impl->sites.size());
    impl->sites.push_back(std::move(site));
  }
  return std::unique_ptr<FloodLimiter>(new FloodLimiter(std::move(impl)));
}

std::optional<SiteId> FloodLimiter::findSite(std::string_view name) const {
  auto it = impl_->by_name.find(name);
  if (it == impl_->by_name.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> FloodLimiter::siteNames() const {
  std::vector<std::string> out;
  for (const auto& s : impl_->sites) out.push_back(s.config.name);
  return out;
}

FloodDecision FloodLimiter::check(SiteId id, const common::IpPrefix& client, std::string_view path,
                                  bool xdp_ban) {
  FloodDecision d;
  if (id >= impl_->sites.size()) return d;
  const Site& site = impl_->sites[id];
  const FloodSiteConfig& cfg = site.config;
  SiteState& st = *site.state;
  st.checked.fetch_add(1, std::memory_order_relaxed);
  const common::IpPrefix host = hostOf(client);
  for (const auto& p : cfg.allow)
    if (p.contains(host)) return d;
  d.enforced = !cfg.detection_only;

  const std::int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(impl_->clock.now()).count();
  const std::uint64_t src_key = impl_->sourceKey(host);

  auto refuse = [&](FloodLimit limit, std::chrono::seconds retry, FloodAction action) {
    d.action = action;
    d.limit = limit;
    d.retry_after = retry;
    st.refused[static_cast<std::size_t>(limit)].fetch_add(1, std::memory_order_relaxed);
  };
  auto event = [&](FloodLimit limit, FloodAction action, const common::IpPrefix& subject,
                   std::uint32_t value, std::uint64_t refused) {
    FloodEvent e;
    e.limit = limit;
    e.action = action;
    e.subject = subject;
    e.value = value;
    e.threshold = cfg.rate(limit).requests;
    e.window = cfg.rate(limit).window;
    e.refused = refused;
    if (action == FloodAction::Ban) e.ban_ttl = cfg.ban_ttl;
    e.enforced = d.enforced;
    e.xdp = xdp_ban;
    d.event = e;
  };
  // Weight for eviction: the windowed activity; a banned source is kept
  // (its site-level refusal is what enforces the ban without a shield).
  const std::uint32_t e_ip = site.ip.epoch(now_s);
  const std::uint32_t e_ban = site.ban.epoch(now_s);
  auto source_weight = [&](const SourceEntry& v) -> std::uint64_t {
    if (ban_word::endOf(v.ban.load(std::memory_order_relaxed)) > now_s) return ~std::uint64_t{0};
    return std::uint64_t{v.ip.sum(e_ip, site.ip.span)} + v.excess.sum(e_ban, site.ban.span);
  };
  // The address is the entry's identity: written before the key is
  // published (AtomicTable::acquire), read by status() and liftBan().
  auto source_init = [&](SourceEntry& v) {
    v.addr.store(host.bytes);
    v.v6.store(host.is_v6, std::memory_order_relaxed);
  };

  // Adds one excess request of the source; bans it when it reaches
  // ban_after. Returns true for the one caller that set the ban (a
  // compare-and-swap of the ban word from "not banned now"), which issues
  // it after the table work; racing workers over the same threshold see
  // the ban set and only refuse. An entry that was evicted and re-claimed
  // for another source since it was found is not banned (the excess lands
  // in the new source's count: an approximation); if that happens between
  // the check and the compare-and-swap, the ban (tagged with `host`'s key,
  // so the new owner never takes it for its own) is taken back and still
  // issued for `host`. A ban word with another source's tag is no ban of
  // `host`'s: it is overwritten.
  const std::uint64_t ban_tag = ban_word::tagOf(src_key);
  auto addExcess = [&](SourceEntry& v) {
    const std::uint32_t excess = v.excess.add(e_ban, site.ban.span);
    if (cfg.ban_after == 0 || excess < cfg.ban_after || !v.holds(host)) return false;
    const std::uint64_t mine = ban_word::make(ban_tag, now_s + cfg.ban_ttl.count());
    std::uint64_t cur = v.ban.load(std::memory_order_relaxed);
    while (ban_word::endFor(cur, ban_tag) <= now_s) {
      if (v.ban.compare_exchange_weak(cur, mine, std::memory_order_acq_rel,
                                      std::memory_order_relaxed)) {
        if (!v.holds(host)) {
          std::uint64_t expected = mine;
          v.ban.compare_exchange_strong(expected, 0, std::memory_order_relaxed);
        }
        return true;
      }
    }
    return false;
  };
  bool ban_due = false;

  // 1. per_ip, and a standing ban. A source the table cannot track right
  // now (acquire() lost every race for its set: nullptr) is not counted by
  // per_ip nor banned for this request; the other limits still apply.
  bool refused = false;
  std::uint32_t ip_count = 0;
  std::uint32_t report = 0;
  const FloodRate& r_ip = cfg.per_ip;
  if (SourceEntry* v = st.sources.acquire(src_key, source_init, source_weight)) {
    ip_count = v->ip.add(e_ip, site.ip.span);
    const std::int64_t banned_until = ban_word::endFor(v->ban.load(std::memory_order_relaxed), ban_tag);
    if (banned_until > now_s) {
      // Banned, yet still reaching us: no shield, or a request that was
      // in flight. Refused at the site until the ban ends; the ban record
      // was written when it was issued.
      refuse(FloodLimit::PerIp, std::chrono::seconds(banned_until - now_s),
             FloodAction::TooManyRequests);
      refused = true;
    } else if (r_ip.requests != 0 && ip_count > r_ip.requests) {
      refuse(FloodLimit::PerIp,
             untilPeriod(site.ip, e_ip, v->ip.periodsUntilBelow(e_ip, r_ip.requests, site.ip.span), now_s),
             FloodAction::TooManyRequests);
      refused = true;
      report = v->ip_mark.note(windowIndex(r_ip.window, now_s));
      ban_due = addExcess(*v);
      if (ban_due) {
        d.action = FloodAction::Ban;
        event(FloodLimit::PerIp, FloodAction::Ban, host, ip_count, report);
      } else if (report) {
        event(FloodLimit::PerIp, FloodAction::TooManyRequests, host, ip_count, report);
      }
    }
  }

  // 2. per_prefix.
  if (!refused && cfg.per_prefix.requests != 0) {
    const common::IpPrefix net = networkOf(host);
    const std::uint32_t e = site.prefix.epoch(now_s);
    const std::uint32_t limit = cfg.per_prefix.requests;
    PrefixEntry* v = st.prefixes.acquire(
        impl_->prefixKey(net), [](PrefixEntry&) {},
        [&](const PrefixEntry& p) { return p.count.sum(e, site.prefix.span); });
    const std::uint32_t count = v ? v->count.add(e, site.prefix.span) : 0;
    if (count > limit) {
      refuse(FloodLimit::PerPrefix,
             untilPeriod(site.prefix, e, v->count.periodsUntilBelow(e, limit, site.prefix.span), now_s),
             FloodAction::TooManyRequests);
      refused = true;
      report = v->mark.note(windowIndex(cfg.per_prefix.window, now_s));
      if (report) event(FloodLimit::PerPrefix, FloodAction::TooManyRequests, net, count, report);
    }
  }

  // 3. per_path: a source hammering one URL (a search, a login, an
  // expensive report) below its overall rate.
  if (!refused && cfg.per_path.requests != 0) {
    const std::uint32_t e = site.path.epoch(now_s);
    const std::uint32_t limit = cfg.per_path.requests;
    PathEntry* p = st.paths.acquire(
        impl_->pathKey(host, path), [](PathEntry&) {},
        [&](const PathEntry& v) { return v.count.sum(e, site.path.span); });
    const std::uint32_t count = p ? p->count.add(e, site.path.span) : 0;
    if (count > limit) {
      refuse(FloodLimit::PerPath,
             untilPeriod(site.path, e, p->count.periodsUntilBelow(e, limit, site.path.span), now_s),
             FloodAction::TooManyRequests);
      refused = true;
      // Back to the source's entry: the excess that leads to a ban and the
      // per-source log mark of this limit.
      if (SourceEntry* v = st.sources.acquire(src_key, source_init, source_weight)) {
        report = v->path_mark.note(windowIndex(cfg.per_path.window, now_s));
        ban_due = addExcess(*v);
      }
      if (ban_due) {
        d.action = FloodAction::Ban;
        event(FloodLimit::PerPath, FloodAction::Ban, host, count, report);
      } else if (report) {
        event(FloodLimit::PerPath, FloodAction::TooManyRequests, host, count, report);
      }
    }
  }

  // 4. per_site: new excess of the whole site is refused, whoever sends it.
  if (!refused && cfg.per_site.requests != 0) {
    const std::uint32_t e = site.site.epoch(now_s);
    const std::uint32_t count = st.site_count.add(e, site.site.span);
    if (count > cfg.per_site.requests) {
      refuse(FloodLimit::PerSite,
             untilPeriod(site.site, e, st.site_count.periodsUntilBelow(e, cfg.per_site.requests, site.site.span),
                         now_s),
             FloodAction::TooManyRequests);
      st.site_refused_since.fetch_add(1, std::memory_order_relaxed);
      const std::uint32_t period = windowIndex(cfg.per_site.window, now_s) + 1;
      std::uint32_t seen = st.site_logged.load(std::memory_order_relaxed);
      if (seen != period &&
          st.site_logged.compare_exchange_strong(seen, period, std::memory_order_relaxed)) {
        event(FloodLimit::PerSite, FloodAction::TooManyRequests, host, count,
              st.site_refused_since.exchange(0, std::memory_order_relaxed));
      }
    }
  }

  if (ban_due) {
    st.bans.fetch_add(1, std::memory_order_relaxed);
    const common::IpPrefix target =
        host.is_v6 && cfg.ban_ipv6_prefix64 ? networkOf(host) : host;
    if (d.enforced && xdp_ban && impl_->sink) impl_->sink->ban(target, cfg.ban_ttl, BanReason::Flood);
  }
  return d;
}

std::size_t FloodLimiter::liftBan(const common::IpPrefix& source) {
  std::size_t released = 0;
  for (Site& site : impl_->sites) {
    site.state->sources.updateEach([&](SourceEntry& v) {
      if (v.ban.load(std::memory_order_relaxed) == 0 || !source.contains(v.source())) return;
      v.ban.store(0, std::memory_order_relaxed);
      v.excess.clear();
      ++released;
    });
  }
  return released;
}

Result<FloodSiteStatus> FloodLimiter::status(std::string_view name, std::size_t top) const {
  auto id = findSite(name);
  if (!id) return Error{ENOENT, "site '" + std::string(name) + "' has no flood policy"};
  const Site& site = impl_->sites[*id];
  const SiteState& st = *site.state;
  FloodSiteStatus out;
  out.config = site.config;
  out.counters.checked = st.checked.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < kFloodLimitCount; ++i)
    out.counters.refused[i] = st.refused[i].load(std::memory_order_relaxed);
  out.counters.bans = st.bans.load(std::memory_order_relaxed);
  const std::int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(impl_->clock.now()).count();
  out.site_requests = st.site_count.sum(site.site.epoch(now_s), site.site.span);
  const std::uint32_t e_ip = site.ip.epoch(now_s);
  const std::uint32_t e_ban = site.ban.epoch(now_s);
  std::vector<FloodSourceStatus> all;
  st.sources.forEach([&](const SourceEntry& v) {
    FloodSourceStatus s;
    s.excess = v.excess.sum(e_ban, site.ban.span);
    s.banned_s =
        std::max<std::int64_t>(0, ban_word::endOf(v.ban.load(std::memory_order_relaxed)) - now_s);
    if (s.excess == 0 && s.banned_s == 0) return;
    s.requests = v.ip.sum(e_ip, site.ip.span);
    s.source = v.source();
    all.push_back(s);
  });
  std::sort(all.begin(), all.end(), [](const FloodSourceStatus& a, const FloodSourceStatus& b) {
    if (a.excess != b.excess) return a.excess > b.excess;
    if (a.banned_s != b.banned_s) return a.banned_s > b.banned_s;
    return a.requests > b.requests;
  });
  if (all.size() > top) all.resize(top);
  out.top_sources = std::move(all);
  out.memory_bytes = st.memoryBytes();
  out.evictions = st.sources.evictions() + st.prefixes.evictions() + st.paths.evictions();
  return out;
}

std::size_t FloodLimiter::memoryBytes() const {
  std::size_t total = 0;
  for (const auto& s : impl_->sites) total += s.state->memoryBytes();
  return total;
}

std::size_t FloodLimiter::sourceEntryBytes() { return AtomicTable<SourceEntry>::slotBytes(); }
std::size_t FloodLimiter::prefixEntryBytes() { return AtomicTable<PrefixEntry>::slotBytes(); }
std::size_t FloodLimiter::pathEntryBytes() { return AtomicTable<PathEntry>::slotBytes(); }

}  // namespace mamori::guard
