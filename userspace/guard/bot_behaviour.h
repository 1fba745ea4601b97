#pragma once

// Per-source behaviour of the bot detector (issue #8): for each (site,
// source address) a sliding window of requests, answers, 4xx answers,
// requests without a Cookie after the site set one, and an estimate of
// distinct paths. Over a site's BehaviourLimits the source's requests are
// class `behaviour` (bot_types.h).
//
// One fixed-size detail::AtomicTable (window_table.h): no lock at all, and
// a full set evicts its least active entry, so a spray from millions of
// addresses costs a fixed amount of memory (entryBytes() per tracked
// source, docs/bots.md "Memory"). The table lives outside config
// snapshots, so a reload keeps the counts.
//
// Thread-safe without locks (DESIGN.md: none on the request path): every
// field of an entry is an atomic; what must happen once (a ban, the BOT
// record limiter's second) is a compare-and-swap. What that costs: a count
// racing with its entry's eviction lands in the slot's next owner or is
// lost (the windows are estimates, never a crash); a request the table
// cannot claim a slot for under extreme contention is counted nowhere and
// passes as untracked. top() and sizeSlow() walk the table reading values
// workers may be updating. Request-path methods take `now_s` from the
// caller's clock.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip_prefix.h"
#include "guard/bot_types.h"
#include "guard/window_table.h"

namespace mamori::guard {

// What the window says about a source right after counting a request.
struct BehaviourView {
  std::uint32_t requests = 0;
  std::uint32_t paths = 0;
  std::uint32_t responses = 0;
  std::uint32_t client_errors = 0;  // 4xx answers
  std::uint32_t cookieless = 0;
  std::vector<std::string> over;  // "rate", "paths", "4xx_share", "no_cookies"
  std::int64_t banned_until_s = 0;  // a ban this table remembers, 0 none
};

// One source, as `mamorictl bots top` prints it.
struct SourceSummary {
  std::uint32_t site = 0;
  common::IpPrefix source;
  std::uint32_t requests = 0;   // in the window
  std::uint32_t paths = 0;
  std::uint32_t client_errors = 0;
  std::uint64_t bot_requests = 0;  // requests put in a class other than none, ever
  BotClass last_class = BotClass::None;
  std::int64_t banned_until_s = 0;
};

class BehaviourTable {
 public:
  explicit BehaviourTable(std::size_t capacity);

  // Counts one request of `source` to `site`: `path_hash` a well-mixed hash
  // of its path, `has_cookie` whether it sent any Cookie. Returns the
  // window and the limits it is over. Worker threads.
  BehaviourView onRequest(std::uint32_t site, const common::IpPrefix& source,
                          std::uint64_t path_hash, bool has_cookie, const BehaviourLimits& limits,
                          std::int64_t now_s);
  // Counts the answer to one of its requests (`set_cookie`: the answer set
  // a cookie). An unknown source is not added. Worker threads.
  void onResponse(std::uint32_t site, const common::IpPrefix& source, int status, bool set_cookie,
                  const BehaviourLimits& limits, std::int64_t now_s);
  // Whether a BOT log record may be written for this request: at most
  // `per_second` records per source and second, so a scanner sending
  // thousands of requests a second writes a bounded log. The first record
  // after a suppressed run says how many were left out.
  struct RecordPermit {
    bool write = true;
    std::uint32_t suppressed_before = 0;  // records left out since the last written one
    // `banned_until_s` was given and this call set the ban (the source was
    // not banned at `now_s`): the caller issues it. Of racing calls for
    // one source exactly one gets true; an untracked source always does.
    bool ban = false;
  };

  // Records the class given to its last request (and, for a ban, until
  // when it is banned so the ban is not issued again), and decides whether
  // its BOT record is written and whether the caller issues the ban. An
  // untracked source is always permitted. Worker threads.
  RecordPermit noteVerdict(std::uint32_t site, const common::IpPrefix& source, BotClass cls,
                           std::int64_t banned_until_s, std::int64_t now_s,
                           std::uint32_t records_per_second);

  // The `n` sources with most bot requests, then most requests; `site`
  // nullopt for all. Control threads; walks the table.
  std::vector<SourceSummary> top(std::size_t n, std::optional<std::uint32_t> site,
                                 std::int64_t now_s) const;

  std::size_t capacity() const { return table_.capacity(); }
  std::size_t sizeSlow() const { return table_.sizeSlow(); }
  std::uint64_t evictions() const { return table_.evictions(); }
  static constexpr std::size_t entryBytes() { return detail::AtomicTable<Entry>::slotBytes(); }

 private:
  // One (site, source). The identity (addr, v6, site, and window_s, the
  // window the counts are kept in) is written by init() before the key is
  // published; every other field is updated by workers, relaxed.
  struct Entry {
    detail::AtomicBytes<16> addr;
    std::atomic<bool> v6{false};
    std::atomic<bool> cookie_set{false};  // the site set a cookie on this source
    std::atomic<std::uint8_t> last_class{0};  // a BotClass
    std::atomic<std::uint32_t> site{0};
    std::atomic<std::uint32_t> window_s{0};  // the window the counts below were counted in
    std::atomic<std::uint32_t> activity{0};  // requests in the window at the last count (eviction weight)
    std::atomic<std::uint32_t> bot_requests{0};
    std::atomic<std::uint32_t> records_suppressed{0};
    std::atomic<std::uint64_t> ban{0};  // detail::ban_word of the key; 0: none
    // BOT record limiter: second of the last written record << 32 | records
    // written in that second (seconds since 1970 fit 32 bits until 2106).
    std::atomic<std::uint64_t> records{0};
    detail::AtomicWindowCount requests;
    detail::AtomicWindowCount responses;
    detail::AtomicWindowCount client_errors;
    detail::AtomicWindowCount cookieless;
    detail::AtomicDistinctSketch paths;

    void clear();
    void clearCounts();
    bool holds(std::uint32_t site, const common::IpPrefix& source) const;
  };

  std::uint64_t keyOf(std::uint32_t site, const common::IpPrefix& source) const;
  // `e`'s counts are of `window_s`, clearing them when a reload changed it.
  static void useWindow(Entry& e, std::uint32_t window_s);
  // `source`'s entry or nullptr (absent, or the slot holds another source
  // after a key collision or an eviction).
  Entry* findEntry(std::uint32_t site, const common::IpPrefix& source);

  mutable detail::AtomicTable<Entry> table_;
  std::uint64_t seed_;
};

}  // namespace mamori::guard
