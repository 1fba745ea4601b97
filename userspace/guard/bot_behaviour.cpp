#include "guard/bot_behaviour.h"

#include <algorithm>
#include <cstring>

#include "guard/keyed_hash.h"

namespace mamori::guard {

namespace {

std::uint32_t epochOf(std::uint32_t window_s, std::int64_t now_s) {
  return detail::Window::ofSeconds(window_s).epoch(std::max<std::int64_t>(0, now_s));
}

bool sameSource(const std::array<std::uint8_t, 16>& addr, bool v6, const common::IpPrefix& p) {
  return v6 == p.is_v6 && addr == p.bytes;
}

}  // namespace

BehaviourTable::BehaviourTable(std::size_t capacity)
    : table_(capacity), seed_(KeyedHash::random()("bot-behaviour")) {}

std::uint64_t BehaviourTable::keyOf(std::uint32_t site, const common::IpPrefix& source) const {
  std::uint64_t lo = 0, hi = 0;
  std::memcpy(&lo, source.bytes.data(), 8);
  std::memcpy(&hi, source.bytes.data() + 8, 8);
  return mix64(mix64(lo ^ seed_) ^ hi ^ (std::uint64_t{site} << 1) ^
                       (source.is_v6 ? 1u : 0u));
}

void BehaviourTable::resetIfWindowChanged(Entry& e, std::uint32_t window_s) {
  if (e.window_s == window_s) return;
  // A reload changed the site's window: counts of the old bucket length
  // mean nothing in the new one.
  e.window_s = window_s;
  e.requests = {};
  e.responses = {};
  e.client_errors = {};
  e.cookieless = {};
  e.paths = {};
}

BehaviourView BehaviourTable::onRequest(std::uint32_t site, const common::IpPrefix& source,
                                        std::uint64_t path_hash, bool has_cookie,
                                        const BehaviourLimits& limits, std::int64_t now_s) {
  const auto window_s = static_cast<std::uint32_t>(limits.window.count());
  const std::uint32_t e_now = epochOf(window_s, now_s);
  return table_.upsert(
      keyOf(site, source),
      [&](Entry& e, bool inserted) {
        if (inserted || !sameSource(e.addr, e.v6, source) || e.site != site) {
          e = Entry{};
          e.addr = source.bytes;
          e.v6 = source.is_v6;
          e.site = site;
          e.window_s = window_s;
        }
        resetIfWindowChanged(e, window_s);
        BehaviourView v;
        v.requests = e.requests.add(e_now);
        v.paths = e.paths.add(e_now, path_hash);
        v.responses = e.responses.sum(e_now);
        v.client_errors = e.client_errors.sum(e_now);
        if (!has_cookie && e.cookie_set) {
          v.cookieless = e.cookieless.add(e_now);
        } else {
          v.cookieless = e.cookieless.sum(e_now);
        }
        e.activity = v.requests;
        v.banned_until_s = e.banned_until_s > now_s ? e.banned_until_s : 0;
        if (limits.max_requests && v.requests > limits.max_requests) v.over.push_back("rate");
        if (limits.max_paths && v.paths > limits.max_paths) v.over.push_back("paths");
        if (limits.max_4xx_percent && v.responses >= std::max<std::uint32_t>(1, limits.min_responses) &&
            std::uint64_t{v.client_errors} * 100 > std::uint64_t{limits.max_4xx_percent} * v.responses)
          v.over.push_back("4xx_share");
        if (limits.max_cookieless && v.cookieless > limits.max_cookieless)
          v.over.push_back("no_cookies");
        return v;
      },
      // Least active first; a remembered ban outweighs any activity so
      // the ban is not re-issued by a source that got evicted.
      [&](const Entry& e) -> std::uint64_t {
        return e.activity + (e.banned_until_s > now_s ? (std::uint64_t{1} << 40) : 0);
      });
}

void BehaviourTable::onResponse(std::uint32_t site, const common::IpPrefix& source, int status,
                                bool set_cookie, const BehaviourLimits& limits,
                                std::int64_t now_s) {
  const auto window_s = static_cast<std::uint32_t>(limits.window.count());
  const std::uint32_t e_now = epochOf(window_s, now_s);
  table_.find(keyOf(site, source), [&](Entry& e) {
    if (!sameSource(e.addr, e.v6, source) || e.site != site) return;
    resetIfWindowChanged(e, window_s);
    e.responses.add(e_now);
    if (status >= 400 && status < 500) e.client_errors.add(e_now);
    if (set_cookie) e.cookie_set = true;
  });
}

BehaviourTable::RecordPermit BehaviourTable::noteVerdict(std::uint32_t site,
                                                         const common::IpPrefix& source,
                                                         BotClass cls, std::int64_t banned_until_s,
                                                         std::int64_t now_s,
                                                         std::uint32_t records_per_second) {
  RecordPermit permit;
  table_.find(keyOf(site, source), [&](Entry& e) {
    if (!sameSource(e.addr, e.v6, source) || e.site != site) return;
    e.last_class = cls;
    if (cls != BotClass::None && e.bot_requests != 0xffffffffu) ++e.bot_requests;
    if (banned_until_s > e.banned_until_s) e.banned_until_s = banned_until_s;
    if (e.record_second != now_s) {
      e.record_second = now_s;
      e.records_in_second = 0;
    }
    if (records_per_second != 0 && e.records_in_second >= records_per_second) {
      permit.write = false;
      if (e.records_suppressed != 0xffffffffu) ++e.records_suppressed;
      return;
    }
    ++e.records_in_second;
    permit.suppressed_before = e.records_suppressed;
    e.records_suppressed = 0;
  });
  return permit;
}

std::vector<SourceSummary> BehaviourTable::top(std::size_t n, std::optional<std::uint32_t> site,
                                               std::int64_t now_s) const {
  std::vector<SourceSummary> all;
  table_.forEach([&](const Entry& e) {
    if (site && e.site != *site) return;
    SourceSummary s;
    s.site = e.site;
    s.source.is_v6 = e.v6;
    s.source.bytes = e.addr;
    s.source.prefix_len = e.v6 ? 128 : 32;
    const std::uint32_t e_now = epochOf(e.window_s, now_s);
    s.requests = e.requests.sum(e_now);
    s.paths = e.paths.estimate(e_now);
    s.client_errors = e.client_errors.sum(e_now);
    s.bot_requests = e.bot_requests;
    s.last_class = e.last_class;
    s.banned_until_s = e.banned_until_s > now_s ? e.banned_until_s : 0;
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
