#include "guard/login_guard.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "guard/keyed_hash.h"
#include "guard/login_match.h"
#include "guard/window_table.h"

namespace mamori::guard {

using detail::AtomicBytes;
using detail::AtomicDistinctSketch;
using detail::AtomicTable;
using detail::AtomicWindowCount;
using detail::atomicRaise;
using detail::Window;
namespace ban_word = detail::ban_word;

std::chrono::nanoseconds SteadyClock::now() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::steady_clock::now().time_since_epoch());
}

namespace {

// The table values below are shared by every worker without a lock
// (DESIGN.md: none on the request path): each field is an atomic of its
// own, relaxed unless a comment says otherwise. Fields that say whose an
// entry is are written by the table's init, before the key is published,
// so a thread that finds the key reads them whole. Counts racing with an
// eviction or a bucket turning over may lose an event (the counters are
// windowed estimates anyway); decisions taken once (a ban) are a CAS.

// An address or prefix in atomic words: the 16 bytes and one word with
// is_v6 and prefix_len (and a "set" bit, so a cleared entry is told apart
// from 0.0.0.0/0).
struct AtomicPrefix {
  AtomicBytes<16> bytes;
  std::atomic<std::uint32_t> meta{0};  // 1 << 16 | is_v6 << 8 | prefix_len; 0: unset

  void store(const common::IpPrefix& p) {
    bytes.store(p.bytes);
    meta.store((1u << 16) | (p.is_v6 ? 1u << 8 : 0u) | p.prefix_len, std::memory_order_relaxed);
  }
  common::IpPrefix load() const {
    common::IpPrefix p;
    const std::uint32_t m = meta.load(std::memory_order_relaxed);
    p.bytes = bytes.load();
    p.is_v6 = (m >> 8) & 1u;
    p.prefix_len = static_cast<std::uint8_t>(m & 0xffu);
    return p;
  }
  // Whether this holds `p` (false once cleared or taken by another key).
  bool holds(const common::IpPrefix& p) const {
    const std::uint32_t m = meta.load(std::memory_order_relaxed);
    return (m >> 16) != 0 && load() == p;
  }
  void clear() {
    bytes.clear();
    meta.store(0, std::memory_order_relaxed);
  }
};

// A windowed count that remembers whose it is, for `login status`.
struct IpCount {
  AtomicWindowCount count;
  AtomicPrefix ip;  // written by init
  void clear() {
    count.clear();
    ip.clear();
  }
};

// What is in force against a source or prefix of a site. Times are clock
// milliseconds; 0 means never set. The "until" times only grow (atomicRaise)
// except when an operator lifts a ban (liftBan) or the one thread that won
// a ban sets its final expiry.
// What is in force against a source or prefix of a site. Each end time is
// a detail::ban_word: the clock millisecond it ends (40 bits: 34 years of
// a steady clock) and a tag of the restricted subject's key. A raise that
// lands in a slot just handed to another subject (the writer takes it back
// once its identity re-check fails) carries the writer's tag, so the
// newcomer never reads it as its own meanwhile. clear() drops the identity
// before the words and stores them with release; raises are acq_rel, so a
// re-check after a raise that read a cleared word sees the identity gone.
struct Restriction {
  AtomicPrefix subject;  // written by init
  // Highest ladder excess reached; grows with refused attempts.
  std::atomic<std::uint32_t> excess{0};
  std::atomic<std::uint64_t> throttled{0};
  std::atomic<std::uint64_t> blocked{0};
  std::atomic<std::uint64_t> banned{0};

  // The latest end, whoever's (eviction weight).
  std::int64_t latest() const {
    return std::max({ban_word::endOf(throttled.load(std::memory_order_relaxed)),
                     ban_word::endOf(blocked.load(std::memory_order_relaxed)),
                     ban_word::endOf(banned.load(std::memory_order_relaxed))});
  }
  void clear() {
    subject.clear();
    excess.store(0, std::memory_order_relaxed);
    throttled.store(0, std::memory_order_release);
    blocked.store(0, std::memory_order_release);
    banned.store(0, std::memory_order_release);
  }
};

// A Restriction's end times for the subject of tag `tag`, read once, for
// decisions on a consistent-enough copy (each field is read once; they may
// come from moments apart). Another subject's ends read as 0.
struct RestrictionView {
  common::IpPrefix subject;
  std::int64_t throttled_until_ms = 0;
  std::int64_t blocked_until_ms = 0;
  std::int64_t banned_until_ms = 0;

  static RestrictionView of(const Restriction& r, std::uint64_t tag) {
    return RestrictionView{r.subject.load(),
                           ban_word::endFor(r.throttled.load(std::memory_order_acquire), tag),
                           ban_word::endFor(r.blocked.load(std::memory_order_acquire), tag),
                           ban_word::endFor(r.banned.load(std::memory_order_acquire), tag)};
  }
};

// Raises `tag`'s end in `word` to `until_ms`. Returns whether it did, and
// in `*before` the word it replaced (for taking the raise back).
bool raiseEnd(std::atomic<std::uint64_t>& word, std::uint64_t tag, std::int64_t until_ms,
              std::uint64_t* before) {
  std::uint64_t cur = word.load(std::memory_order_acquire);
  const std::uint64_t mine = ban_word::make(tag, until_ms);
  while (ban_word::endFor(cur, tag) < until_ms) {
    if (word.compare_exchange_weak(cur, mine, std::memory_order_acq_rel,
                                   std::memory_order_acquire)) {
      *before = cur;
      return true;
    }
  }
  return false;
}

struct Lock {
  std::atomic<std::int64_t> until_ms{0};
  AtomicBytes<64> display;  // NUL-padded display form, truncated to 63 bytes; written by init
  void clear() {
    until_ms.store(0, std::memory_order_relaxed);
    display.clear();
  }
};

// Ban history of a source. Updated only by the thread that won a ban of
// the source (the CAS on its Restriction::banned), so the
// read-reset-increment below does not race with another ban of the same
// source; an eviction under it costs the history (a shorter next TTL).
struct Offender {
  std::atomic<std::uint32_t> bans{0};
  std::atomic<std::int64_t> last_ban_ms{0};
  void clear() {
    bans.store(0, std::memory_order_relaxed);
    last_ban_ms.store(0, std::memory_order_relaxed);
  }
};

// Table key kinds, hashed in so equal addresses in different roles differ.
enum KeyKind : std::uint8_t { kKeyIp = 1, kKeyPrefix = 2, kKeyRestriction = 3, kKeyOffender = 4 };

int rank(Action action) {
  switch (action) {
    case Action::TooManyRequests: return 1;
    case Action::BlockSource: return 2;
    case Action::BanSource: return 3;
    default: return 0;
  }
}

int currentRank(const RestrictionView& r, std::int64_t now_ms) {
  if (r.banned_until_ms > now_ms) return 3;
  if (r.blocked_until_ms > now_ms) return 2;
  if (r.throttled_until_ms > now_ms) return 1;
  return 0;
}

const LadderStep* stepFor(const std::vector<LadderStep>& ladder, std::uint32_t excess) {
  const LadderStep* found = nullptr;
  for (const auto& step : ladder) {
    if (step.excess <= excess) found = &step;
  }
  return found;
}

common::IpPrefix maskTo(const common::IpPrefix& ip, std::uint8_t len) {
  common::IpPrefix out = ip;
  out.prefix_len = len;
  for (int bit = len; bit < (ip.is_v6 ? 128 : 32); ++bit)
    out.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  return out;
}

// The client as a host address. An IPv4-mapped IPv6 address (::ffff:a.b.c.d,
// what a dual-stack listener reports for IPv4 clients) becomes plain IPv4:
// otherwise every IPv4 client would share one IPv6 /64 and one prefix block
// would shut them all out.
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

std::chrono::seconds ceilSeconds(std::int64_t ms) {
  return std::chrono::seconds((std::max<std::int64_t>(0, ms) + 999) / 1000);
}

// Whether `subject` may be banned at XDP: hosts, and IPv6 /64s when the
// site bans v6 sources by /64. Other prefixes (the /24 and /64 counters)
// stop at a site-level block.
bool prefixMayBan(const SiteGuardConfig& cfg, const common::IpPrefix& subject) {
  return subject.isHost() || (subject.is_v6 && subject.prefix_len == 64 && cfg.ban_ipv6_prefix64);
}

// Eviction weight of a count: the windowed count, then the newest period
// (of two equal counts the staler goes).
std::uint64_t countWeight(const AtomicWindowCount& c, std::uint32_t e, std::uint32_t span) {
  return (static_cast<std::uint64_t>(c.sum(e, span)) << 32) | c.newestPeriod();
}

}  // namespace

struct LoginSiteState {
  explicit LoginSiteState(SiteGuardConfig config)
      : cfg(std::move(config)),
        per_ip(cfg.tables.counters),
        per_v4_24(cfg.tables.counters),
        per_v6_64(cfg.tables.counters),
        per_user(cfg.tables.counters),
        per_user_ip(cfg.tables.counters),
        users_per_ip(cfg.tables.distinct),
        ips_per_user(cfg.tables.distinct),
        restrictions(cfg.tables.blocks),
        locks(cfg.tables.locks),
        offenders(cfg.tables.offenders) {
    for (std::size_t i = 0; i < kCounterCount; ++i)
      windows[i] = Window::ofSeconds(cfg.limits.of(static_cast<Counter>(i)).window.count());
  }

  const CounterLimit& limit(Counter c) const { return cfg.limits.of(c); }
  std::uint32_t epoch(Counter c, std::int64_t now_s) const {
    return windows[static_cast<std::size_t>(c)].epoch(now_s);
  }
  std::uint32_t span(Counter c) const { return windows[static_cast<std::size_t>(c)].span; }
  std::size_t memoryBytes() const {
    return per_ip.memoryBytes() + per_v4_24.memoryBytes() + per_v6_64.memoryBytes() +
           per_user.memoryBytes() + per_user_ip.memoryBytes() + users_per_ip.memoryBytes() +
           ips_per_user.memoryBytes() + restrictions.memoryBytes() + locks.memoryBytes() +
           offenders.memoryBytes();
  }

  const SiteGuardConfig cfg;
  std::array<Window, kCounterCount> windows{};
  AtomicTable<IpCount> per_ip;
  // The prefix counts are never listed, so they keep no address.
  AtomicTable<AtomicWindowCount> per_v4_24;
  AtomicTable<AtomicWindowCount> per_v6_64;
  AtomicTable<AtomicWindowCount> per_user;
  AtomicTable<AtomicWindowCount> per_user_ip;
  AtomicTable<AtomicDistinctSketch> users_per_ip;
  AtomicTable<AtomicDistinctSketch> ips_per_user;
  AtomicTable<Restriction> restrictions;
  AtomicTable<Lock> locks;
  AtomicTable<Offender> offenders;
  // Latest expiry of any restriction / lock ever set: while the clock is
  // past it, nothing is in force and the lookups are skipped.
  std::atomic<std::int64_t> restriction_horizon_ms{0};
  std::atomic<std::int64_t> lock_horizon_ms{0};
};

// One login attempt as the counters see it.
struct LoginAttempt {
  common::IpPrefix source;  // host
  bool has_user = false;
  std::uint64_t user_hash = 0;
  std::string_view display;
  std::string_view route;
};

struct LoginGuard::Impl {
  Impl(const Clock& c, BanSink* s, KeyedHash h) : clock(c), sink(s), hash(h) {}

  const Clock& clock;
  BanSink* sink;
  KeyedHash hash;
  std::vector<std::shared_ptr<LoginSiteState>> sites;

  std::int64_t nowMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock.now()).count();
  }

  std::uint64_t ipKey(std::uint8_t kind, const common::IpPrefix& ip) const {
    std::uint8_t buf[19];
    buf[0] = kind;
    buf[1] = ip.is_v6 ? 6 : 4;
    buf[2] = ip.prefix_len;
    std::memcpy(buf + 3, ip.bytes.data(), 16);
    return hash.hash(buf, sizeof buf);
  }
  std::uint64_t userIpKey(std::uint64_t user_hash, const common::IpPrefix& ip) const {
    std::uint8_t buf[25];
    std::memcpy(buf, &user_hash, 8);
    buf[8] = ip.is_v6 ? 6 : 4;
    std::memcpy(buf + 9, ip.bytes.data(), 16);
    return hash.hash(buf, sizeof buf);
  }
  // Usernames are hashed with the site name in front, so one person's hash
  // differs between tenants' logs (and stays the same across a reload).
  std::uint64_t userHash(const LoginSiteState& s, std::string_view user) const {
    std::string buf = s.cfg.site;
    buf.push_back('\0');
    buf.append(user);
    return hash(buf);
  }
  std::string display(const LoginSiteState& s, std::uint64_t user_hash, std::string_view user) const {
    if (s.cfg.usernames == UsernameStorage::Clear) return std::string(user);
    static const char kHex[] = "0123456789abcdef";
    std::string out = "h:";
    for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kHex[(user_hash >> shift) & 0xf]);
    return out;
  }

  static bool allowed(const LoginSiteState& s, const common::IpPrefix& source) {
    for (const auto& p : s.cfg.allow) {
      if (p.contains(source)) return true;
    }
    return false;
  }

  // The count helpers return the windowed count after adding one event,
  // or 0 when the table gave no slot (acquire lost every race for the
  // set): that request is then untracked by this counter, which errs
  // towards passing it.
  std::uint32_t countIp(LoginSiteState& s, AtomicTable<IpCount>& table, Counter c,
                        const common::IpPrefix& subject, std::uint8_t kind, std::int64_t now_s) {
    const std::uint32_t e = s.epoch(c, now_s);
    const std::uint32_t span = s.span(c);
    IpCount* v = table.acquire(
        ipKey(kind, subject), [&](IpCount& fresh) { fresh.ip.store(subject); },
        [&](const IpCount& old) { return countWeight(old.count, e, span); });
    return v == nullptr ? 0 : v->count.add(e, span);
  }
  std::uint32_t countKey(LoginSiteState& s, AtomicTable<AtomicWindowCount>& table, Counter c,
                         std::uint64_t key, std::int64_t now_s) {
    const std::uint32_t e = s.epoch(c, now_s);
    const std::uint32_t span = s.span(c);
    AtomicWindowCount* v = table.acquire(
        key, [](AtomicWindowCount&) {},
        [&](const AtomicWindowCount& old) { return countWeight(old, e, span); });
    return v == nullptr ? 0 : v->add(e, span);
  }
  std::uint32_t countDistinct(LoginSiteState& s, AtomicTable<AtomicDistinctSketch>& table,
                              Counter c, std::uint64_t key, std::uint64_t element,
                              std::int64_t now_s) {
    const std::uint32_t e = s.epoch(c, now_s);
    const std::uint32_t span = s.span(c);
    AtomicDistinctSketch* v = table.acquire(
        key, [](AtomicDistinctSketch&) {},
        [&](const AtomicDistinctSketch& old) {
          return (static_cast<std::uint64_t>(old.liveBits(e, span)) << 32) | old.newestPeriod();
        });
    return v == nullptr ? 0 : v->add(e, element, span);
  }

  // The restriction entry of `subject`, created when absent; nullptr when
  // the table gave no slot (the caller then leaves the source unrestricted
  // for this request). Evicts the entry whose restrictions ran out first:
  // one in force (a ban above all, the longest) outweighs expired ones.
  Restriction* restrictionOf(LoginSiteState& s, const common::IpPrefix& subject) {
    return s.restrictions.acquire(
        ipKey(kKeyRestriction, subject), [&](Restriction& r) { r.subject.store(subject); },
        [](const Restriction& r) { return r.latest(); });
  }

  // Raises `field` of `subject`'s restriction to `until_ms` (and its excess
  // to `excess`) and moves the horizon. If the slot was taken by another
  // subject between lookup and write, the raise is taken back so that the
  // newcomer is not restricted in our place.
  void restrict(LoginSiteState& s, const common::IpPrefix& subject,
                std::atomic<std::uint64_t> Restriction::*field, std::int64_t until_ms,
                std::uint32_t excess) {
    Restriction* r = restrictionOf(s, subject);
    if (r == nullptr) return;
    std::atomic<std::uint64_t>& f = r->*field;
    const std::uint64_t tag = restrictionTag(subject);
    std::uint64_t before = 0;
    const bool raised = raiseEnd(f, tag, until_ms, &before);
    raiseExcess(*r, excess);
    atomicRaise(s.restriction_horizon_ms, until_ms);
    if (raised && !r->subject.holds(subject)) {
      std::uint64_t mine = ban_word::make(tag, until_ms);
      f.compare_exchange_strong(mine, before, std::memory_order_acq_rel);
    }
  }
  // The tag of `subject`'s restriction words (ban_word).
  std::uint64_t restrictionTag(const common::IpPrefix& subject) const {
    return ban_word::tagOf(ipKey(kKeyRestriction, subject));
  }
  static void raiseExcess(Restriction& r, std::uint32_t excess) {
    std::uint32_t cur = r.excess.load(std::memory_order_relaxed);
    while (cur < excess &&
           !r.excess.compare_exchange_weak(cur, excess, std::memory_order_relaxed)) {
    }
  }

  // Applies the source ladder rung for `excess` to `subject` (a host, its
  // /64 when banning v6 by prefix, or a /24 or /64 for the prefix counters,
  // which never ban at XDP: a ban of a whole network is left to operators).
  // With `escalate_only`, nothing happens unless the rung is stronger than
  // what is in force (refused attempts). Appends the event to `events`.
  void applySource(LoginSiteState& s, common::IpPrefix subject, bool is_prefix, std::uint32_t excess,
                   std::vector<Trigger> triggers, const LoginAttempt& a, bool escalate_only,
                   std::int64_t now_ms, std::chrono::milliseconds* delay,
                   std::vector<Event>* events) {
    const LadderStep* step = stepFor(s.cfg.source_ladder, excess);
    if (step == nullptr) return;
    const bool enforced = !s.cfg.detection_only;
    Event ev;
    ev.kind = EventKind::SourceAbuse;
    ev.action = step->action;
    ev.duration = step->duration;
    ev.subject = subject;
    ev.username = std::string(a.display);
    ev.route = std::string(a.route);
    ev.triggers = std::move(triggers);
    ev.enforced = enforced;
    if (is_prefix && ev.action == Action::BanSource) {
      ev.action = Action::BlockSource;
      ev.duration = s.cfg.ban_ttls.front();
    }
    if (!is_prefix && ev.action == Action::BanSource && s.cfg.ban_ipv6_prefix64 &&
        subject.is_v6)
      ev.subject = subject = maskTo(subject, 64);

    // The escalation check reads the restriction as it is now.
    RestrictionView current;
    if (const Restriction* r = s.restrictions.find(ipKey(kKeyRestriction, subject));
        r != nullptr && r->subject.holds(subject))
      current = RestrictionView::of(*r, restrictionTag(subject));
    if (escalate_only && rank(ev.action) <= currentRank(current, now_ms)) return;

    switch (ev.action) {
      case Action::Log:
        break;
      case Action::Delay:
        ev.delay = step->delay;
        if (enforced && delay != nullptr) *delay = std::max(*delay, step->delay);
        break;
      case Action::TooManyRequests: {
        const std::int64_t until = now_ms + ev.duration.count() * 1000;
        restrict(s, subject, &Restriction::throttled, until, excess);
        break;
      }
      case Action::BlockSource: {
        const std::int64_t until = now_ms + ev.duration.count() * 1000;
        restrict(s, subject, &Restriction::blocked, until, excess);
        break;
      }
      case Action::BanSource: {
        if (!banOnce(s, subject, excess, now_ms, &ev.duration)) return;
        if (enforced && sink != nullptr) sink->ban(subject, ev.duration, BanReason::LoginAbuse);
        break;
      }
      case Action::LockUsername:
        break;  // not a source action; validate() keeps it off the source ladder
    }
    events->push_back(std::move(ev));
  }

  // Takes the decision to ban `subject` now, once: of racing threads that
  // all see it unbanned, the one whose CAS moves its ban word past now
  // wins; the others return false ("banned already: nothing new to say"),
  // as does a thread that finds no slot or whose slot was taken by another
  // subject under it (the next failure decides again). The winner counts
  // the ban in the offender table, sets `*ttl` (growing with past bans) and
  // the expiry, and blocks the source for the site until then.
  bool banOnce(LoginSiteState& s, const common::IpPrefix& subject, std::uint32_t excess,
               std::int64_t now_ms, std::chrono::seconds* ttl) {
    Restriction* r = restrictionOf(s, subject);
    if (r == nullptr) return false;
    const auto& ttls = s.cfg.ban_ttls;
    const std::uint64_t tag = restrictionTag(subject);
    // Claimed with the shortest TTL; the winner sets the real one below.
    const std::uint64_t claim = ban_word::make(tag, now_ms + ttls.front().count() * 1000);
    std::uint64_t cur = r->banned.load(std::memory_order_acquire);
    do {
      if (ban_word::endFor(cur, tag) > now_ms) return false;
    } while (!r->banned.compare_exchange_weak(cur, claim, std::memory_order_acq_rel,
                                              std::memory_order_acquire));
    if (!r->subject.holds(subject)) {
      std::uint64_t mine = claim;
      r->banned.compare_exchange_strong(mine, cur, std::memory_order_acq_rel);
      return false;
    }
    std::uint32_t previous = 0;
    const std::int64_t memory_ms = s.cfg.offender_memory.count() * 1000;
    Offender* o = s.offenders.acquire(
        ipKey(kKeyOffender, subject), [](Offender&) {},
        [](const Offender& x) { return x.last_ban_ms.load(std::memory_order_relaxed); });
    if (o != nullptr) {
      const std::int64_t last = o->last_ban_ms.load(std::memory_order_relaxed);
      if (last != 0 && now_ms - last > memory_ms) o->bans.store(0, std::memory_order_relaxed);
      previous = o->bans.fetch_add(1, std::memory_order_relaxed);
      o->last_ban_ms.store(now_ms, std::memory_order_relaxed);
    }
    *ttl = ttls[std::min<std::size_t>(previous, ttls.size() - 1)];
    const std::int64_t until = now_ms + ttl->count() * 1000;
    std::uint64_t claimed = claim;
    r->banned.compare_exchange_strong(claimed, ban_word::make(tag, until),
                                      std::memory_order_acq_rel);
    std::uint64_t before_block = 0;
    raiseEnd(r->blocked, tag, until, &before_block);
    raiseExcess(*r, excess);
    atomicRaise(s.restriction_horizon_ms, until);
    return true;
  }

  void applyUser(LoginSiteState& s, std::uint32_t excess, std::vector<Trigger> triggers,
                 const LoginAttempt& a, std::int64_t now_ms, Decision& d) {
    const LadderStep* step = stepFor(s.cfg.username_ladder, excess);
    if (step == nullptr) return;
    Event ev;
    ev.kind = EventKind::UsernameAbuse;
    ev.action = step->action;
    ev.duration = step->duration;
    ev.subject = a.source;
    ev.username = std::string(a.display);
    ev.route = std::string(a.route);
    ev.triggers = std::move(triggers);
    ev.enforced = d.enforced;
    if (step->action == Action::Delay) {
      ev.delay = step->delay;
      if (d.enforced) d.delay = std::max(d.delay, step->delay);
    } else if (step->action == Action::LockUsername) {
      const std::int64_t until = now_ms + step->duration.count() * 1000;
      Lock* l = s.locks.acquire(
          a.user_hash,
          [&](Lock& fresh) {
            std::array<std::uint8_t, 64> shown{};
            std::memcpy(shown.data(), a.display.data(),
                        std::min(a.display.size(), shown.size() - 1));
            fresh.display.store(shown);
          },
          [](const Lock& old) { return old.until_ms.load(std::memory_order_relaxed); });
      if (l != nullptr) atomicRaise(l->until_ms, until);
      atomicRaise(s.lock_horizon_ms, until);
    }
    d.events.push_back(std::move(ev));
  }

  static std::uint32_t excessOf(const std::vector<Trigger>& triggers) {
    std::uint32_t e = 0;
    for (const auto& t : triggers) e = std::max(e, t.value - t.threshold + 1);
    return e;
  }

  void record(LoginSiteState& s, const LoginAttempt& a, Outcome outcome, Decision& d) {
    const std::int64_t now_ms = nowMs();
    const std::int64_t now_s = now_ms / 1000;
    if (outcome == Outcome::Succeeded) {
      if (!a.has_user) return;
      s.per_user_ip.erase(userIpKey(a.user_hash, a.source));
      const std::uint32_t after = s.cfg.limits.takeover_after_failures;
      if (after == 0 || !s.limit(Counter::FailuresPerUser).enabled) return;
      std::uint32_t failures = 0;
      const std::uint32_t e = s.epoch(Counter::FailuresPerUser, now_s);
      if (const AtomicWindowCount* c = s.per_user.find(a.user_hash))
        failures = c->sum(e, s.span(Counter::FailuresPerUser));
      if (failures >= after) {
        Event ev;
        ev.kind = EventKind::AccountTakeover;
        ev.action = Action::Log;
        ev.subject = a.source;
        ev.username = std::string(a.display);
        ev.route = std::string(a.route);
        ev.triggers = {Trigger{Counter::FailuresPerUser, failures, after,
                               s.limit(Counter::FailuresPerUser).window}};
        ev.enforced = d.enforced;
        d.events.push_back(std::move(ev));
      }
      return;
    }
    if (outcome != Outcome::Failed) return;

    std::vector<Trigger> source_triggers, prefix_triggers, user_triggers;
    auto check = [&](Counter c, std::uint32_t value, std::vector<Trigger>& into) {
      const CounterLimit& l = s.limit(c);
      if (value >= l.threshold) into.push_back(Trigger{c, value, l.threshold, l.window});
    };
    if (s.limit(Counter::FailuresPerIp).enabled)
      check(Counter::FailuresPerIp,
            countIp(s, s.per_ip, Counter::FailuresPerIp, a.source, kKeyIp, now_s),
            source_triggers);
    const Counter prefix_counter =
        a.source.is_v6 ? Counter::FailuresPerV6Prefix64 : Counter::FailuresPerV4Prefix24;
    const common::IpPrefix prefix = maskTo(a.source, a.source.is_v6 ? 64 : 24);
    if (s.limit(prefix_counter).enabled)
      check(prefix_counter,
            countKey(s, a.source.is_v6 ? s.per_v6_64 : s.per_v4_24, prefix_counter,
                     ipKey(kKeyPrefix, prefix), now_s),
            prefix_triggers);
    if (a.has_user) {
      if (s.limit(Counter::FailuresPerUserIp).enabled)
        check(Counter::FailuresPerUserIp,
              countKey(s, s.per_user_ip, Counter::FailuresPerUserIp,
                       userIpKey(a.user_hash, a.source), now_s),
              source_triggers);
      if (s.limit(Counter::DistinctUsersPerIp).enabled)
        check(Counter::DistinctUsersPerIp,
              countDistinct(s, s.users_per_ip, Counter::DistinctUsersPerIp,
                            ipKey(kKeyIp, a.source), mix64(a.user_hash), now_s),
              source_triggers);
      if (s.limit(Counter::FailuresPerUser).enabled)
        check(Counter::FailuresPerUser,
              countKey(s, s.per_user, Counter::FailuresPerUser, a.user_hash, now_s),
              user_triggers);
      if (s.limit(Counter::DistinctIpsPerUser).enabled)
        check(Counter::DistinctIpsPerUser,
              countDistinct(s, s.ips_per_user, Counter::DistinctIpsPerUser, a.user_hash,
                            ipKey(kKeyIp, a.source), now_s),
              user_triggers);
    }
    if (!source_triggers.empty()) {
      const std::uint32_t excess = excessOf(source_triggers);
      applySource(s, a.source, false, excess, std::move(source_triggers), a, false, now_ms,
                  &d.delay, &d.events);
    }
    if (!prefix_triggers.empty()) {
      const std::uint32_t excess = excessOf(prefix_triggers);
      applySource(s, prefix, !prefixMayBan(s.cfg, prefix), excess, std::move(prefix_triggers), a, false, now_ms,
                  &d.delay, &d.events);
    }
    if (!user_triggers.empty()) {
      const std::uint32_t excess = excessOf(user_triggers);
      applyUser(s, excess, std::move(user_triggers), a, now_ms, d);
    }
  }

  LoginSiteState* byName(std::string_view name) const {
    for (const auto& s : sites) {
      if (s->cfg.site == name) return s.get();
    }
    return nullptr;
  }
};

LoginGuard::LoginGuard(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LoginGuard::~LoginGuard() = default;

common::Result<std::unique_ptr<LoginGuard>> LoginGuard::create(std::vector<SiteGuardConfig> sites,
                                                               const Clock& clock,
                                                               BanSink* ban_sink,
                                                               GuardOptions options) {
  std::unordered_set<std::string> names;
  for (const auto& site : sites) {
    if (auto st = validate(site); !st) return st.error();
    if (!names.insert(site.site).second)
      return common::Error{EINVAL, "login guard: site " + site.site + " is configured twice"};
    for (const auto& r : site.username_ladder) {
      if (r.action != Action::Log && r.action != Action::Delay && r.action != Action::LockUsername)
        return common::Error{EINVAL, "site " + site.site + ": username_ladder: action " +
                                         actionName(r.action) +
                                         " acts on a source; use log, delay or lock_username"};
    }
    for (const auto& r : site.source_ladder) {
      if (r.action == Action::LockUsername)
        return common::Error{EINVAL, "site " + site.site +
                                         ": source_ladder: lock_username acts on a username; "
                                         "put it in username_ladder"};
    }
  }
  const Impl* previous = options.carry_over_from ? options.carry_over_from->impl_.get() : nullptr;
  KeyedHash hash = previous             ? previous->hash
                   : options.hash_key ? KeyedHash(*options.hash_key)
                                      : KeyedHash::random();
  auto impl = std::make_unique<Impl>(clock, ban_sink, hash);
  for (auto& site : sites) {
    std::shared_ptr<LoginSiteState> kept;
    if (previous != nullptr) {
      for (const auto& old : previous->sites) {
        if (old->cfg == site) kept = old;  // same settings: share its tables
      }
    }
    impl->sites.push_back(kept ? kept : std::make_shared<LoginSiteState>(std::move(site)));
  }
  return std::unique_ptr<LoginGuard>(new LoginGuard(std::move(impl)));
}

std::optional<SiteId> LoginGuard::findSite(std::string_view name) const {
  for (std::size_t i = 0; i < impl_->sites.size(); ++i) {
    if (impl_->sites[i]->cfg.site == name) return static_cast<SiteId>(i);
  }
  return std::nullopt;
}

PreCheck LoginGuard::beforeUpstream(SiteId site, const http::Request& request,
                                    const common::IpPrefix& client,
                                    const http::ParsedBody* parsed) {
  PreCheck pre;
  pre.site = site;
  pre.source = hostOf(client);
  if (site >= impl_->sites.size()) return pre;
  LoginSiteState& s = *impl_->sites[site];
  pre.enforced = !s.cfg.detection_only;
  const auto route = matchRoute(s.cfg.routes, request);
  if (route) pre.route = static_cast<std::uint32_t>(*route);
  pre.login = route.has_value();
  if (Impl::allowed(s, pre.source)) {
    pre.allowed = true;
    return pre;
  }
  const std::int64_t now_ms = impl_->nowMs();

  // Site-level restrictions: the host's own, then its /24 or /64's.
  RestrictionView found;
  bool restricted = false;
  if (now_ms < s.restriction_horizon_ms.load(std::memory_order_relaxed)) {
    const common::IpPrefix keys[2] = {pre.source, maskTo(pre.source, pre.source.is_v6 ? 64 : 24)};
    for (const auto& k : keys) {
      const Restriction* r = s.restrictions.find(impl_->ipKey(kKeyRestriction, k));
      if (r == nullptr) continue;
      const RestrictionView v = RestrictionView::of(*r, impl_->restrictionTag(k));
      // A slot taken over by another subject since the lookup is not ours.
      if (v.subject != k) continue;
      if (currentRank(v, now_ms) > currentRank(found, now_ms)) {
        found = v;
        restricted = true;
      }
    }
    if (restricted) {
      const std::int64_t blocked = std::max(found.blocked_until_ms, found.banned_until_ms);
      if (blocked > now_ms) {
        pre.answer = LocalAnswer{403, std::chrono::seconds(0)};
      } else if (found.throttled_until_ms > now_ms && pre.login) {
        pre.answer = LocalAnswer{429, ceilSeconds(found.throttled_until_ms - now_ms)};
      }
    }
  }
  if (!pre.login) return pre;
  const LoginRoute& r = s.cfg.routes[pre.route];

  if (pre.answer.status != 0 && pre.enforced) {
    // A refused login attempt from a restricted source: it never reaches the
    // upstream, so it is counted here and climbs the ladder of the entry
    // that refused it (rung excess + 1 per attempt, escalating only).
    LoginAttempt a{pre.source, false, 0, {}, r.name};
    const std::uint32_t value = impl_->countIp(s, s.per_ip, Counter::FailuresPerIp, pre.source,
                                               kKeyIp, now_ms / 1000);
    Restriction* x = impl_->restrictionOf(s, found.subject);
    if (x == nullptr) return pre;  // no slot: refused, not escalated this time
    const std::uint32_t excess = x->excess.fetch_add(1, std::memory_order_relaxed) + 1;
    const CounterLimit& l = s.limit(Counter::FailuresPerIp);
    const bool is_prefix = !prefixMayBan(s.cfg, found.subject);
    impl_->applySource(s, found.subject, is_prefix, excess,
                       {Trigger{Counter::FailuresPerIp, value, l.threshold, l.window}}, a, true,
                       now_ms, nullptr, &pre.events);
    return pre;
  }

  if (auto user = extractUsername(r, request, s.cfg.username_case_insensitive, parsed)) {
    pre.has_username = true;
    pre.user_hash = impl_->userHash(s, *user);
    pre.username = impl_->display(s, pre.user_hash, *user);
    if (pre.answer.status == 0 && now_ms < s.lock_horizon_ms.load(std::memory_order_relaxed)) {
      std::int64_t until = 0;
      if (const Lock* l = s.locks.find(pre.user_hash))
        until = l->until_ms.load(std::memory_order_relaxed);
      if (until > now_ms)
        pre.answer = LocalAnswer{s.cfg.locked_status, ceilSeconds(until - now_ms)};
    }
  }
  return pre;
}

Decision LoginGuard::afterResponse(const PreCheck& pre, int status,
                                   const std::vector<http::Header>& headers,
                                   std::string_view body_prefix) {
  Decision d;
  if (!pre.login || pre.site >= impl_->sites.size()) return d;
  LoginSiteState& s = *impl_->sites[pre.site];
  if (pre.route >= s.cfg.routes.size()) return d;
  const LoginRoute& route = s.cfg.routes[pre.route];
  d.enforced = !s.cfg.detection_only;
  d.outcome = classifyResponse(route, status, headers, body_prefix);
  if (pre.allowed) return d;
  LoginAttempt a{pre.source, pre.has_username, pre.user_hash, pre.username, route.name};
  impl_->record(s, a, d.outcome, d);
  return d;
}

common::Result<Decision> LoginGuard::reportOutcome(std::string_view site, std::string_view user,
                                                   const common::IpPrefix& ip, Outcome outcome) {
  const auto id = findSite(site);
  if (!id) return common::Error{ENOENT, "login report: unknown site \"" + std::string(site) + "\""};
  if (!ip.isHost())
    return common::Error{EINVAL, "login report: " + ip.toString() + " is not a host address"};
  const common::IpPrefix source = hostOf(ip);
  LoginSiteState& s = *impl_->sites[*id];
  Decision d;
  d.enforced = !s.cfg.detection_only;
  d.outcome = outcome;
  if (Impl::allowed(s, source)) return d;
  std::string normal(user);
  while (!normal.empty() && (normal.front() == ' ' || normal.front() == '\t')) normal.erase(0, 1);
  while (!normal.empty() && (normal.back() == ' ' || normal.back() == '\t')) normal.pop_back();
  if (s.cfg.username_case_insensitive) {
    for (char& c : normal) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
  }
  LoginAttempt a{source, !normal.empty(), 0, {}, {}};
  std::string shown;
  if (a.has_user) {
    a.user_hash = impl_->userHash(s, normal);
    shown = impl_->display(s, a.user_hash, normal);
    a.display = shown;
  }
  impl_->record(s, a, outcome, d);
  return d;
}

common::Result<SiteStatus> LoginGuard::status(std::string_view site, std::size_t top) const {
  LoginSiteState* s = impl_->byName(site);
  if (s == nullptr)
    return common::Error{ENOENT, "login status: unknown site \"" + std::string(site) + "\""};
  const std::int64_t now_ms = impl_->nowMs();
  SiteStatus out;
  out.site = s->cfg.site;
  const std::uint32_t e = s->epoch(Counter::FailuresPerIp, now_ms / 1000);
  const std::uint32_t span = s->span(Counter::FailuresPerIp);
  s->per_ip.forEach([&](const IpCount& v) {
    const std::uint32_t n = v.count.sum(e, span);
    if (n > 0) out.top_sources.push_back(SourceStatus{v.ip.load(), n, {}, {}, {}, 0});
  });
  std::sort(out.top_sources.begin(), out.top_sources.end(),
            [](const SourceStatus& a, const SourceStatus& b) { return a.failures > b.failures; });
  if (out.top_sources.size() > top) out.top_sources.resize(top);

  s->restrictions.forEach([&](const Restriction& entry) {
    const RestrictionView r =
        RestrictionView::of(entry, impl_->restrictionTag(entry.subject.load()));
    if (currentRank(r, now_ms) == 0) return;
    SourceStatus st;
    st.source = r.subject;
    st.throttled_for = ceilSeconds(r.throttled_until_ms - now_ms);
    st.blocked_for = ceilSeconds(r.blocked_until_ms - now_ms);
    st.banned_for = ceilSeconds(r.banned_until_ms - now_ms);
    out.restricted.push_back(st);
  });
  auto fill = [&](SourceStatus& st) {
    if (const Offender* o = s->offenders.find(impl_->ipKey(kKeyOffender, st.source)))
      st.bans = o->bans.load(std::memory_order_relaxed);
    if (st.failures == 0 && st.source.isHost()) {
      if (const IpCount* v = s->per_ip.find(impl_->ipKey(kKeyIp, st.source)))
        st.failures = v->count.sum(e, span);
    }
  };
  for (auto& st : out.top_sources) fill(st);
  for (auto& st : out.restricted) fill(st);
  std::sort(out.restricted.begin(), out.restricted.end(),
            [](const SourceStatus& a, const SourceStatus& b) { return a.failures > b.failures; });

  s->locks.forEach([&](const Lock& l) {
    const std::int64_t until = l.until_ms.load(std::memory_order_relaxed);
    if (until <= now_ms) return;
    const std::array<std::uint8_t, 64> shown = l.display.load();
    const std::size_t n = std::find(shown.begin(), shown.end(), 0) - shown.begin();
    out.locked.push_back(LockedUser{std::string(reinterpret_cast<const char*>(shown.data()), n),
                                    ceilSeconds(until - now_ms)});
  });
  std::sort(out.locked.begin(), out.locked.end(),
            [](const LockedUser& a, const LockedUser& b) { return a.username < b.username; });
  return out;
}

common::Result<bool> LoginGuard::unlock(std::string_view site, std::string_view user) {
  const auto id = findSite(site);
  if (!id) return common::Error{ENOENT, "login unlock: unknown site \"" + std::string(site) + "\""};
  LoginSiteState& s = *impl_->sites[*id];
  std::string normal(user);
  if (s.cfg.username_case_insensitive) {
    for (char& c : normal) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
  }
  const std::uint64_t h = impl_->userHash(s, normal);
  const std::int64_t now_ms = impl_->nowMs();
  bool was_locked = false;
  if (const Lock* l = s.locks.find(h))
    was_locked = l->until_ms.load(std::memory_order_relaxed) > now_ms;
  s.locks.erase(h);
  s.per_user.erase(h);
  s.ips_per_user.erase(h);
  return was_locked;
}

std::size_t LoginGuard::liftBan(const common::IpPrefix& source) {
  const std::int64_t now_ms = impl_->nowMs();
  std::size_t lifted = 0;
  for (const auto& s : impl_->sites) {
    s->restrictions.updateEach([&](Restriction& r) {
      if (!source.contains(r.subject.load())) return;
      if (r.latest() <= now_ms) return;
      r.throttled.store(0, std::memory_order_release);
      r.blocked.store(0, std::memory_order_release);
      r.banned.store(0, std::memory_order_release);
      ++lifted;
    });
  }
  return lifted;
}

std::size_t LoginGuard::memoryBytes() const {
  std::size_t n = 0;
  for (const auto& s : impl_->sites) n += s->memoryBytes();
  return n;
}

std::string LoginGuard::usernameDisplayForTest(SiteId site, std::string_view user) const {
  const LoginSiteState& s = *impl_->sites.at(site);
  return impl_->display(s, impl_->userHash(s, user), user);
}

std::uint64_t LoginGuard::ipEvictionsForTest(SiteId site) const {
  return impl_->sites.at(site)->per_ip.evictions();
}

std::pair<std::size_t, std::size_t> LoginGuard::ipTableFillForTest(SiteId site) const {
  const auto& t = impl_->sites.at(site)->per_ip;
  return {t.sizeSlow(), t.capacity()};
}

}  // namespace mamori::guard
