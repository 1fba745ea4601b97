#include "guard/bot_behaviour.h"

#include <algorithm>
#include <cstring>

#include "guard/keyed_hash.h"

namespace mamori::guard {

namespace {

// The bucket period of `now_s` in a window of `window_s` seconds, and the
// periods the window spans.
struct WindowAt {
  std::uint32_t e;
  std::uint32_t span;
};
WindowAt windowAt(std::uint32_t window_s, std::int64_t now_s) {
  const detail::Window w = detail::Window::ofSeconds(window_s);
  return {w.epoch(std::max<std::int64_t>(0, now_s)), w.span};
}

}  // namespace

void BehaviourTable::Entry::clearCounts() {
  requests.clear();
  responses.clear();
  client_errors.clear();
  cookieless.clear();
  paths.clear();
  activity.store(0, std::memory_order_relaxed);
}

// The identity (addr, v6, site) first, the ban word last with release
// (window_table.h, ban_word): noteVerdict()'s re-check after its ban CAS.
void BehaviourTable::Entry::clear() {
  addr.clear();
  v6.store(false, std::memory_order_relaxed);
  site.store(0, std::memory_order_relaxed);
  cookie_set.store(false, std::memory_order_relaxed);
  last_class.store(static_cast<std::uint8_t>(BotClass::None), std::memory_order_relaxed);
  window_s.store(0, std::memory_order_relaxed);
  bot_requests.store(0, std::memory_order_relaxed);
  records_suppressed.store(0, std::memory_order_relaxed);
  records.store(0, std::memory_order_relaxed);
  clearCounts();
  ban.store(0, std::memory_order_release);
}

bool BehaviourTable::Entry::holds(std::uint32_t s, const common::IpPrefix& source) const {
  return site.load(std::memory_order_relaxed) == s &&
         v6.load(std::memory_order_relaxed) == source.is_v6 && addr.load() == source.bytes;
}

BehaviourTable::BehaviourTable(std::size_t capacity)
    : table_(capacity), seed_(KeyedHash::random()("bot-behaviour")) {}

std::uint64_t BehaviourTable::keyOf(std::uint32_t site, const common::IpPrefix& source) const {
  std::uint64_t lo = 0, hi = 0;
  std::memcpy(&lo, source.bytes.data(), 8);
  std::memcpy(&hi, source.bytes.data() + 8, 8);
  return mix64(mix64(lo ^ seed_) ^ hi ^ (std::uint64_t{site} << 1) ^
                       (source.is_v6 ? 1u : 0u));
}

void BehaviourTable::useWindow(Entry& e, std::uint32_t window_s) {
  std::uint32_t cur = e.window_s.load(std::memory_order_relaxed);
  if (cur == window_s) return;
  // A reload changed the site's window: counts of the old bucket length
  // mean nothing in the new one. The one worker whose compare-and-swap
  // moves window_s clears them; a count racing with that clear is lost.
  if (e.window_s.compare_exchange_strong(cur, window_s, std::memory_order_relaxed))
    e.clearCounts();
}

BehaviourTable::Entry* BehaviourTable::findEntry(std::uint32_t site,
                                                 const common::IpPrefix& source) {
  Entry* e = table_.find(keyOf(site, source));
  return e != nullptr && e->holds(site, source) ? e : nullptr;
}

BehaviourView BehaviourTable::onRequest(std::uint32_t site, const common::IpPrefix& source,
                                        std::uint64_t path_hash, bool has_cookie,
                                        const BehaviourLimits& limits, std::int64_t now_s) {
  const auto window_s = static_cast<std::uint32_t>(limits.window.count());
  const auto [e_now, span] = windowAt(window_s, now_s);
  BehaviourView v;
  const std::uint64_t key = keyOf(site, source);
  Entry* e = table_.acquire(
      key,
      [&](Entry& fresh) {
        fresh.addr.store(source.bytes);
        fresh.v6.store(source.is_v6, std::memory_order_relaxed);
        fresh.site.store(site, std::memory_order_relaxed);
        fresh.window_s.store(window_s, std::memory_order_relaxed);
      },
      // Least active first; a remembered ban outweighs any activity so
      // the ban is not re-issued by a source that got evicted.
      [&](const Entry& old) -> std::uint64_t {
        return old.activity.load(std::memory_order_relaxed) +
               (detail::ban_word::endOf(old.ban.load(std::memory_order_relaxed)) > now_s
                    ? (std::uint64_t{1} << 40)
                    : 0);
      });
  // No slot (every claim of its set lost a race), or the slot was taken
  // over by another source since it was found (a 64-bit key collision, or
  // an eviction in between): this request is not tracked.
  if (e == nullptr || !e->holds(site, source)) return v;
  useWindow(*e, window_s);
  v.requests = e->requests.add(e_now, span);
  v.paths = e->paths.add(e_now, path_hash, span);
  v.responses = e->responses.sum(e_now, span);
  v.client_errors = e->client_errors.sum(e_now, span);
  if (!has_cookie && e->cookie_set.load(std::memory_order_relaxed)) {
    v.cookieless = e->cookieless.add(e_now, span);
  } else {
    v.cookieless = e->cookieless.sum(e_now, span);
  }
  e->activity.store(v.requests, std::memory_order_relaxed);
  // Only a ban of this key counts (one of another source may sit in the
  // slot for a moment after an eviction: window_table.h, ban_word).
  const std::int64_t banned = detail::ban_word::endFor(e->ban.load(std::memory_order_relaxed),
                                                       detail::ban_word::tagOf(key));
  v.banned_until_s = banned > now_s ? banned : 0;
  if (limits.max_requests && v.requests > limits.max_requests) v.over.push_back("rate");
  if (limits.max_paths && v.paths > limits.max_paths) v.over.push_back("paths");
  if (limits.max_4xx_percent && v.responses >= std::max<std::uint32_t>(1, limits.min_responses) &&
      std::uint64_t{v.client_errors} * 100 > std::uint64_t{limits.max_4xx_percent} * v.responses)
    v.over.push_back("4xx_share");
  if (limits.max_cookieless && v.cookieless > limits.max_cookieless)
    v.over.push_back("no_cookies");
  return v;
}

void BehaviourTable::onResponse(std::uint32_t site, const common::IpPrefix& source, int status,
                                bool set_cookie, const BehaviourLimits& limits,
                                std::int64_t now_s) {
  const auto window_s = static_cast<std::uint32_t>(limits.window.count());
  const auto [e_now, span] = windowAt(window_s, now_s);
  Entry* e = findEntry(site, source);
  if (e == nullptr) return;
  useWindow(*e, window_s);
  e->responses.add(e_now, span);
  if (status >= 400 && status < 500) e->client_errors.add(e_now, span);
  if (set_cookie) e->cookie_set.store(true, std::memory_order_relaxed);
}

BehaviourTable::RecordPermit BehaviourTable::noteVerdict(std::uint32_t site,
                                                         const common::IpPrefix& source,
                                                         BotClass cls, std::int64_t banned_until_s,
                                                         std::int64_t now_s,
                                                         std::uint32_t records_per_second) {
  RecordPermit permit;
  const std::uint64_t key = keyOf(site, source);
  Entry* e = findEntry(site, source);
  if (e == nullptr) {
    // Untracked: nothing remembers the ban, so this caller issues it.
    permit.ban = banned_until_s > 0;
    return permit;
  }
  e->last_class.store(static_cast<std::uint8_t>(cls), std::memory_order_relaxed);
  if (cls != BotClass::None) {
    std::uint32_t n = e->bot_requests.load(std::memory_order_relaxed);
    while (n != 0xffffffffu &&
           !e->bot_requests.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) {
    }
  }
  if (banned_until_s > 0) {
    // The ban is set by whoever moves the ban word from "not banned now":
    // workers racing on the same source's requests issue it once. A slot
    // handed to another source in between gives the ban back (the caller
    // still issues it for `source`); the key's tag in the word keeps the
    // new owner from reading it as its own meanwhile (window_table.h).
    const std::uint64_t tag = detail::ban_word::tagOf(key);
    const std::uint64_t mine = detail::ban_word::make(tag, banned_until_s);
    std::uint64_t cur = e->ban.load(std::memory_order_relaxed);
    while (detail::ban_word::endFor(cur, tag) <= now_s) {
      if (e->ban.compare_exchange_weak(cur, mine, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
        permit.ban = true;
        if (!e->holds(site, source)) {
          std::uint64_t expected = mine;
          e->ban.compare_exchange_strong(expected, 0, std::memory_order_relaxed);
        }
        break;
      }
    }
  }
  // At most records_per_second records per second (0: no limit); the
  // second and its count share one word so that racing workers agree.
  const std::uint64_t second = static_cast<std::uint32_t>(now_s);
  std::uint64_t cur = e->records.load(std::memory_order_relaxed);
  for (;;) {
    std::uint64_t next;
    if ((cur >> 32) != second) {
      next = (second << 32) | 1u;
    } else if (records_per_second != 0 && (cur & 0xffffffffu) >= records_per_second) {
      permit.write = false;
      break;
    } else {
      next = (cur & 0xffffffffu) == 0xffffffffu ? cur : cur + 1;
    }
    if (e->records.compare_exchange_weak(cur, next, std::memory_order_relaxed)) break;
  }
  if (!permit.write) {
    std::uint32_t n = e->records_suppressed.load(std::memory_order_relaxed);
    while (n != 0xffffffffu &&
           !e->records_suppressed.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) {
    }
    return permit;
  }
  permit.suppressed_before = e->records_suppressed.exchange(0, std::memory_order_relaxed);
  return permit;
}

std::vector<SourceSummary> BehaviourTable::top(std::size_t n, std::optional<std::uint32_t> site,
                                               std::int64_t now_s) const {
  std::vector<SourceSummary> all;
  table_.forEach([&](const Entry& e) {
    const std::uint32_t entry_site = e.site.load(std::memory_order_relaxed);
    if (site && entry_site != *site) return;
    SourceSummary s;
    s.site = entry_site;
    s.source.is_v6 = e.v6.load(std::memory_order_relaxed);
    s.source.bytes = e.addr.load();
    s.source.prefix_len = s.source.is_v6 ? 128 : 32;
    const auto [e_now, span] = windowAt(e.window_s.load(std::memory_order_relaxed), now_s);
    s.requests = e.requests.sum(e_now, span);
    s.paths = e.paths.estimate(e_now, span);
    s.client_errors = e.client_errors.sum(e_now, span);
    s.bot_requests = e.bot_requests.load(std::memory_order_relaxed);
    s.last_class = static_cast<BotClass>(e.last_class.load(std::memory_order_relaxed));
    const std::int64_t banned = detail::ban_word::endOf(e.ban.load(std::memory_order_relaxed));
    s.banned_until_s = banned > now_s ? banned : 0;
    all.push_back(s);
  });
  std::sort(all.begin(), all.end(), [](const SourceSummary& a, const SourceSummary& b) {
    if (a.bot_requests != b.bot_requests) return a.bot_requests > b.bot_requests;
    return a.requests > b.requests;
  });
  if (all.size() > n) all.resize(n);
  return all;
}

}  // namespace mamori::guard
