#pragma once

// The bounded, shared tables behind the guard's counters (login abuse,
// HTTP floods, bot behaviour, the rDNS cache).
//
// Windows (AtomicWindowCount, AtomicDistinctSketch) are made of up to
// kBuckets buckets: a window of W seconds is cut into buckets of
// b = ceil(W / kBuckets) seconds and the value is the sum (or union) of the
// buckets of the last ceil(W / b) bucket periods (Window::span; kBuckets
// from 6 s on, one 1 s bucket for a 1 s window). An event is therefore
// counted for between span*b - b and span*b seconds, span*b being W
// rounded up to whole buckets: the whole oldest bucket leaves the window at
// once (docs/login-abuse.md, "Windows").
//
// AtomicTable is the request path's table: fixed size, set-associative,
// no lock (its comment says what that costs). A new key that finds its set
// of kWays slots full evicts the slot with the smallest weight (the
// caller's measure: the windowed count, so heavy hitters stay while a spray
// of one-off sources evicts itself), which bounds memory under a spray
// from millions of addresses.

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace mamori::guard::detail {

inline constexpr std::size_t kBuckets = 6;
inline constexpr std::size_t kWays = 8;

// Bucket arithmetic of one window length.
struct Window {
  std::uint32_t bucket_seconds = 1;
  // Bucket periods the window spans: kBuckets, or fewer when the window is
  // shorter than kBuckets seconds (a 1 s window is one 1 s bucket, not six).
  std::uint32_t span = kBuckets;

  static Window ofSeconds(std::int64_t window_seconds) {
    const std::int64_t w = std::max<std::int64_t>(1, window_seconds);
    const std::int64_t b = (w + static_cast<std::int64_t>(kBuckets) - 1) /
                           static_cast<std::int64_t>(kBuckets);
    return Window{static_cast<std::uint32_t>(b), static_cast<std::uint32_t>((w + b - 1) / b)};
  }
  // Index of the bucket period containing `now_seconds` (>= 0).
  std::uint32_t epoch(std::int64_t now_seconds) const {
    return static_cast<std::uint32_t>(now_seconds / bucket_seconds);
  }
};

// The windows, for the request path (DESIGN.md: no locks there). Every
// field is a std::atomic updated on its own, relaxed:
// the counters are estimates anyway, so a count racing with a bucket
// turning over may be lost, never a crash or a torn word.
//
// A bucket tagged with a period more than kFuturePeriods after the caller's
// cannot hold a count of a thread whose clock read was a moment apart: it
// is a count of another time scale (another window length), left by a
// thread that counted into a slot just as the slot was cleared and handed
// to a key with another window, or as a reload changed the window. Such a
// bucket is turned over like a stale one instead of being kept, since it
// would otherwise swallow every count of its bucket index for as long as
// the entry lives.
inline constexpr std::uint64_t kFuturePeriods = 4 * kBuckets;

// A windowed count: one 64-bit word per bucket holding (bucket period + 1)
// << 32 | count, so turning a bucket over and counting into it is one
// compare-and-swap. 32-bit counts per bucket (saturating).
struct AtomicWindowCount {
  std::array<std::atomic<std::uint64_t>, kBuckets> buckets{};

  // Adds one event at period `e` and returns the windowed count. A thread
  // that read the clock before a racing one moved this bucket to a newer
  // period drops its event (it belongs to a period that left the bucket).
  std::uint32_t add(std::uint32_t e, std::uint32_t span = kBuckets) {
    std::atomic<std::uint64_t>& b = buckets[e % kBuckets];
    const std::uint64_t tag = std::uint64_t{e} + 1;
    std::uint64_t cur = b.load(std::memory_order_relaxed);
    for (;;) {
      std::uint64_t next;
      if ((cur >> 32) == tag) {
        if ((cur & 0xffffffffu) == 0xffffffffu) break;  // saturated
        next = cur + 1;
      } else if ((cur >> 32) > tag && (cur >> 32) - tag <= kFuturePeriods) {
        break;
      } else {
        next = (tag << 32) | 1u;
      }
      if (b.compare_exchange_weak(cur, next, std::memory_order_relaxed)) break;
    }
    return sum(e, span);
  }
  // Windowed count as seen at period `e`: the buckets of the last `span`
  // periods (Window::span).
  std::uint32_t sum(std::uint32_t e, std::uint32_t span = kBuckets) const {
    std::uint64_t total = 0;
    for (const auto& b : buckets) {
      const std::uint64_t v = b.load(std::memory_order_relaxed);
      const std::uint64_t tag = v >> 32;
      if (tag == 0) continue;
      const std::uint64_t period = tag - 1;
      if (period > e || e >= period + span) continue;
      total += v & 0xffffffffu;
    }
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(total, 0xffffffffu));
  }
  // Periods from `e` on until the count, with nothing added, is under
  // `threshold` (at most `span`: by then the window is empty).
  std::uint32_t periodsUntilBelow(std::uint32_t e, std::uint32_t threshold,
                                  std::uint32_t span = kBuckets) const {
    for (std::uint32_t k = 1; k <= span; ++k)
      if (sum(e + k, span) < threshold) return k;
    return span;
  }
  // The newest period counted into, 0 when none (an eviction tie-break:
  // of two equal counts the staler goes).
  std::uint32_t newestPeriod() const {
    std::uint64_t newest = 0;
    for (const auto& b : buckets) newest = std::max(newest, b.load(std::memory_order_relaxed) >> 32);
    return newest == 0 ? 0 : static_cast<std::uint32_t>(newest - 1);
  }
  void clear() {
    for (auto& b : buckets) b.store(0, std::memory_order_relaxed);
  }
};

// Distinct elements (usernames, addresses, paths) in a sliding window, by
// linear counting (Whang et al., 1990) over a 128-bit bitmap per bucket:
// the union of the live buckets' bitmaps with z zero bits estimates
// n = -128 ln(z/128). Standard error is about 7% between 10 and 100
// distinct elements, growing towards saturation (all bits set) which is
// reported as kSaturated. Per bucket a period tag and the bitmap; turning
// a bucket over is a CAS on the tag followed by clearing the bitmap, so an
// element added by another thread in that instant can be lost (an
// estimate one lower), which the sketch's error absorbs.
struct AtomicDistinctSketch {
  static constexpr std::uint32_t kSaturated = 700;  // ~128 ln 256, the estimate at z = 1/2
  struct Bucket {
    std::atomic<std::uint64_t> tag{0};  // period + 1; 0: never used
    std::array<std::atomic<std::uint64_t>, 2> bits{};
  };
  std::array<Bucket, kBuckets> buckets{};

  // Adds an element (a well-mixed 64-bit hash) at period `e`; returns the
  // windowed estimate.
  std::uint32_t add(std::uint32_t e, std::uint64_t element, std::uint32_t span = kBuckets) {
    Bucket& b = buckets[e % kBuckets];
    const std::uint64_t tag = std::uint64_t{e} + 1;
    std::uint64_t cur = b.tag.load(std::memory_order_acquire);
    while (cur < tag || cur - tag > kFuturePeriods) {
      if (b.tag.compare_exchange_weak(cur, tag, std::memory_order_acq_rel)) {
        b.bits[0].store(0, std::memory_order_relaxed);
        b.bits[1].store(0, std::memory_order_relaxed);
        cur = tag;
      }
    }
    if (cur == tag) {
      const unsigned bit = static_cast<unsigned>(element >> 57);  // top 7 bits: 0..127
      b.bits[bit >> 6].fetch_or(std::uint64_t{1} << (bit & 63), std::memory_order_relaxed);
    }
    return estimate(e, span);
  }
  std::uint32_t liveBits(std::uint32_t e, std::uint32_t span = kBuckets) const {
    std::uint64_t lo = 0, hi = 0;
    for (const auto& b : buckets) {
      const std::uint64_t tag = b.tag.load(std::memory_order_acquire);
      if (tag == 0) continue;
      const std::uint64_t period = tag - 1;
      if (period > e || e >= period + span) continue;
      lo |= b.bits[0].load(std::memory_order_relaxed);
      hi |= b.bits[1].load(std::memory_order_relaxed);
    }
    return static_cast<std::uint32_t>(std::popcount(lo) + std::popcount(hi));
  }
  std::uint32_t estimate(std::uint32_t e, std::uint32_t span = kBuckets) const {
    return estimateOf(liveBits(e, span));
  }
  // The estimate for `set` bits of 128 set.
  static std::uint32_t estimateOf(std::uint32_t set) {
    if (set == 0) return 0;
    if (set == 128) return kSaturated;
    const double m = 128.0;
    const double n = -m * std::log((m - set) / m);
    return std::min<std::uint32_t>(kSaturated, static_cast<std::uint32_t>(std::lround(n)));
  }
  std::uint32_t newestPeriod() const {
    std::uint64_t newest = 0;
    for (const auto& b : buckets) newest = std::max(newest, b.tag.load(std::memory_order_relaxed));
    return newest == 0 ? 0 : static_cast<std::uint32_t>(newest - 1);
  }
  void clear() {
    for (auto& b : buckets) {
      b.tag.store(0, std::memory_order_relaxed);
      b.bits[0].store(0, std::memory_order_relaxed);
      b.bits[1].store(0, std::memory_order_relaxed);
    }
  }
};

// Raises `a` to `v` if it is lower; returns true when this call raised it
// (so of racing callers exactly one acts on a new maximum).
inline bool atomicRaise(std::atomic<std::int64_t>& a, std::int64_t v) {
  std::int64_t cur = a.load(std::memory_order_relaxed);
  while (cur < v) {
    if (a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) return true;
  }
  return false;
}

// A ban in one atomic word: the clock second it ends (low 40 bits) and a
// 24-bit tag of the banned key (the rest). A worker that found a key's
// slot just before the slot was handed to another key can still land its
// ban compare-and-swap in the new key's entry (it takes it back a moment
// later when its identity re-check fails); the tag is what keeps the new
// key from being refused by that ban in the meantime: a ban whose tag is
// not the reader's own is no ban of the reader's. Entries whose identity
// a ban depends on clear that identity before their ban word, and store
// the empty word with release; ban CASes are acq_rel, so the re-check
// after a CAS that read the cleared word sees the identity gone.
namespace ban_word {
inline constexpr int kUntilBits = 40;
inline constexpr std::uint64_t kUntilMask = (std::uint64_t{1} << kUntilBits) - 1;
inline std::uint64_t tagOf(std::uint64_t key) { return key >> kUntilBits; }
inline std::uint64_t make(std::uint64_t tag, std::int64_t until_s) {
  return tag << kUntilBits |
         (static_cast<std::uint64_t>(std::max<std::int64_t>(0, until_s)) & kUntilMask);
}
// The end of the ban in `word`, whoever's it is (eviction weight, status).
inline std::int64_t endOf(std::uint64_t word) { return static_cast<std::int64_t>(word & kUntilMask); }
// The end of `tag`'s ban in `word`, 0 when the word holds none of its.
inline std::int64_t endFor(std::uint64_t word, std::uint64_t tag) {
  return word != 0 && (word >> kUntilBits) == tag ? endOf(word) : 0;
}
}  // namespace ban_word

// "Write a log record once per period" in one word: (period + 1) << 32 |
// events since the last record, so that of racing workers exactly one
// writes a period's record. Used for the flood limits' per-window records
// and the per-minute connection-event records.
struct RecordMark {
  std::atomic<std::uint64_t> word{0};

  // Counts one event at `period`; returns the events to report (this one
  // included) when a record is due now, to exactly one caller per period,
  // else 0. A caller whose clock is behind a racing one's counts into the
  // newer period. Saturates at 2^32 - 1 events.
  std::uint32_t note(std::uint32_t period) {
    const std::uint64_t tag = std::uint64_t{period} + 1;
    std::uint64_t cur = word.load(std::memory_order_relaxed);
    for (;;) {
      const std::uint64_t n = (cur & 0xffffffffu) + ((cur & 0xffffffffu) != 0xffffffffu);
      if ((cur >> 32) >= tag) {
        if (word.compare_exchange_weak(cur, (cur & ~std::uint64_t{0xffffffffu}) | n,
                                       std::memory_order_relaxed))
          return 0;
      } else if (word.compare_exchange_weak(cur, tag << 32, std::memory_order_relaxed)) {
        return static_cast<std::uint32_t>(n);
      }
    }
  }
  // Period + 1 of the last record, 0 for none (an eviction weight: the
  // mark recorded longest ago goes first).
  std::uint32_t lastRecord() const {
    return static_cast<std::uint32_t>(word.load(std::memory_order_relaxed) >> 32);
  }
  void clear() { word.store(0, std::memory_order_relaxed); }
};

// N bytes (a multiple of 8) kept in relaxed atomic words: an address or a
// short display name written when a slot is claimed and read by status
// walks. Two racing stores may interleave words; callers store the same
// bytes for one key.
template <std::size_t N>
struct AtomicBytes {
  static_assert(N % 8 == 0);
  std::array<std::atomic<std::uint64_t>, N / 8> words{};

  void store(const std::array<std::uint8_t, N>& bytes) {
    for (std::size_t i = 0; i < N / 8; ++i) {
      std::uint64_t w;
      std::memcpy(&w, bytes.data() + 8 * i, 8);
      words[i].store(w, std::memory_order_relaxed);
    }
  }
  std::array<std::uint8_t, N> load() const {
    std::array<std::uint8_t, N> out{};
    for (std::size_t i = 0; i < N / 8; ++i) {
      const std::uint64_t w = words[i].load(std::memory_order_relaxed);
      std::memcpy(out.data() + 8 * i, &w, 8);
    }
    return out;
  }
  void clear() {
    for (auto& w : words) w.store(0, std::memory_order_relaxed);
  }
};

// Fixed-capacity, set-associative map from a 64-bit key (already a keyed
// hash) to V, with no lock: the request path's table. V is a struct of
// atomics with a clear() that stores its empty state.
//
// A slot's key word is the only synchronisation: 0 (empty), the key with
// its top bit set (published), or the key with its top bit clear (being
// claimed for that key). acquire() finds the key in its set of kWays
// slots, or claims one: an empty slot, else the one with the smallest
// weight(const V&), by a compare-and-swap of its key word to the claim;
// the claimer clears V, runs init(V&) (fields that identify the entry) and
// publishes the key with a release store, so a thread that finds the key
// sees init's writes. Threads inserting other keys skip a claimed slot.
// Two threads inserting the same key at once must not both be handed a
// slot (their updates would split, and a decision taken by CAS on the
// value, such as a ban, would be taken twice): because the claim names
// the key, a claimer sees the other's claim (both CAS and scan seq_cst,
// so at least one of two sees the other) and the lower-indexed claim
// wins; a thread that sees its key being claimed waits for it: a few
// stores' time, unless the claimer is preempted, and at most kWaitLimit
// (a scheduler slice or two, so a preempted claimer normally finishes);
// then it gives up with nullptr rather than wait on a stalled thread.
// What the absence of locks costs, by design (counters here are
// estimates): an update by a thread that found a key just before its slot
// was evicted lands in the slot's new key or is cleared. Slots are never
// freed while the table lives, so a V* stays valid memory; callers use it
// for the request at hand only.
template <class V>
class AtomicTable {
 public:
  // `capacity` is rounded up to a power-of-two number of sets of kWays.
  explicit AtomicTable(std::size_t capacity) {
    const std::size_t sets = std::bit_ceil(std::max<std::size_t>(1, (capacity + kWays - 1) / kWays));
    set_mask_ = sets - 1;
    capacity_ = sets * kWays;
    slots_.reset(new Slot[capacity_]);
  }

  AtomicTable(const AtomicTable&) = delete;
  AtomicTable& operator=(const AtomicTable&) = delete;

  // `key`'s value, or nullptr.
  V* find(std::uint64_t key) {
    key = fixKey(key);
    Slot* set = setOf(key);
    for (std::size_t i = 0; i < kWays; ++i)
      if (set[i].key.load(std::memory_order_acquire) == key) return &set[i].value;
    return nullptr;
  }
  const V* find(std::uint64_t key) const { return const_cast<AtomicTable*>(this)->find(key); }

  // `key`'s value, inserting it (see the class comment) when absent;
  // `*inserted` says which. nullptr only when every claim in kClaimTries
  // lost a race with other threads claiming the same set's slots, or
  // another thread's insert of the same key did not finish within
  // kWaitLimit; the caller then handles the request as if untracked.
  template <class Init, class Weight>
  V* acquire(std::uint64_t key, Init&& init, Weight&& weight, bool* inserted = nullptr) {
    key = fixKey(key);
    const std::uint64_t claim = claimOf(key);
    Slot* set = setOf(key);
    if (inserted) *inserted = false;
    Wait waits;
    for (int attempt = 0; attempt < kClaimTries;) {
      Slot* target = nullptr;
      std::uint64_t expected = kEmpty;
      bool pending = false;  // another thread is inserting `key`
      for (std::size_t i = 0; i < kWays; ++i) {
        const std::uint64_t k = set[i].key.load(std::memory_order_acquire);
        if (k == key) return &set[i].value;
        if (k == claim) pending = true;
        if (k == kEmpty && target == nullptr) target = &set[i];
      }
      if (pending) {
        if (!pause(waits)) break;
        continue;
      }
      if (target == nullptr) {
        bool first = true;
        decltype(weight(set[0].value)) best{};
        for (std::size_t i = 0; i < kWays; ++i) {
          const std::uint64_t k = set[i].key.load(std::memory_order_acquire);
          if (!isPublished(k)) continue;  // empty or being claimed
          auto w = weight(static_cast<const V&>(set[i].value));
          if (first || w < best) {
            first = false;
            best = w;
            target = &set[i];
            expected = k;
          }
        }
        if (target == nullptr) {  // every slot is being claimed
          ++attempt;
          continue;
        }
      }
      if (!target->key.compare_exchange_strong(expected, claim, std::memory_order_seq_cst)) {
        ++attempt;
        continue;
      }
      if (expected != kEmpty) evictions_.fetch_add(1, std::memory_order_relaxed);
      // Another claim or copy of `key` in the set: a published copy or a
      // lower claim wins and ours is given up; a higher claim is waited on
      // (it sees ours and gives up, or publishes first and wins).
      bool give_up = false;
      Slot* winner = nullptr;
      for (bool again = true; again;) {
        again = false;
        for (std::size_t i = 0; i < kWays; ++i) {
          Slot* s = &set[i];
          if (s == target) continue;
          const std::uint64_t k = s->key.load(std::memory_order_seq_cst);
          if (k == key) {
            give_up = true;
            winner = s;
            break;
          }
          if (k != claim) continue;
          if (s < target) {
            give_up = true;
            break;
          }
          if (!pause(waits)) {
            target->key.store(kEmpty, std::memory_order_release);
            contended_.fetch_add(1, std::memory_order_relaxed);
            return nullptr;
          }
          again = true;
          break;
        }
      }
      if (give_up) {
        target->key.store(kEmpty, std::memory_order_release);
        if (winner != nullptr) return &winner->value;
        if (!pause(waits)) break;
        continue;  // the lower claim publishes soon: wait for it above
      }
      target->value.clear();
      init(target->value);
      target->key.store(key, std::memory_order_release);
      if (inserted) *inserted = true;
      return &target->value;
    }
    contended_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }

  // Removes `key`; false when absent.
  bool erase(std::uint64_t key) {
    key = fixKey(key);
    Slot* set = setOf(key);
    for (std::size_t i = 0; i < kWays; ++i) {
      std::uint64_t k = key;
      if (set[i].key.compare_exchange_strong(k, kEmpty, std::memory_order_acq_rel)) return true;
    }
    return false;
  }

  // Runs fn(const V&) on every occupied slot. Control plane (status); a
  // walk of the whole table, reading values that workers may be updating.
  template <class Fn>
  void forEach(Fn&& fn) const {
    for (std::size_t i = 0; i < capacity_; ++i) {
      const std::uint64_t k = slots_[i].key.load(std::memory_order_acquire);
      if (isPublished(k)) fn(static_cast<const V&>(slots_[i].value));
    }
  }
  // Runs fn(V&) on every occupied slot (control plane: lifting a ban).
  template <class Fn>
  void updateEach(Fn&& fn) {
    for (std::size_t i = 0; i < capacity_; ++i) {
      const std::uint64_t k = slots_[i].key.load(std::memory_order_acquire);
      if (isPublished(k)) fn(slots_[i].value);
    }
  }

  std::size_t capacity() const { return capacity_; }
  // Occupied slots; walks the table (tests and status only).
  std::size_t sizeSlow() const {
    std::size_t n = 0;
    forEach([&](const V&) { ++n; });
    return n;
  }
  std::uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }
  // acquire() calls that gave up after kClaimTries lost races.
  std::uint64_t contended() const { return contended_.load(std::memory_order_relaxed); }
  // Bytes of one entry (key and value), the cost per tracked key.
  static constexpr std::size_t slotBytes() { return sizeof(Slot); }
  std::size_t memoryBytes() const { return capacity_ * sizeof(Slot); }

 private:
  static constexpr std::uint64_t kEmpty = 0;
  static constexpr std::uint64_t kPublished = std::uint64_t{1} << 63;
  static constexpr int kClaimTries = 4;
  // Waits on another thread's insert of the same key: spins first, then
  // yields the CPU (the claimer may be preempted on a busy core), for at
  // most kWaitLimit in all.
  static constexpr int kSpinWaits = 64;
  static constexpr std::chrono::milliseconds kWaitLimit{5};
  struct Wait {
    int spins = 0;
    std::chrono::steady_clock::time_point since{};
  };
  struct Slot {
    std::atomic<std::uint64_t> key{kEmpty};
    V value{};
  };

  // The key word of a published key: the top bit set, the other 63 bits of
  // the key, never all zero (keys 0 and 1 << 63 map onto 2 | 1 << 63: a
  // collision of 64-bit keyed hashes, as likely as any other).
  static std::uint64_t fixKey(std::uint64_t key) {
    key |= kPublished;
    return key == kPublished ? kPublished | 2 : key;
  }
  // The key word while a thread claims a slot for `key` (fixKey'd).
  static std::uint64_t claimOf(std::uint64_t key) { return key & ~kPublished; }
  static bool isPublished(std::uint64_t word) { return (word & kPublished) != 0; }
  // One wait for another thread's claim; false once kWaitLimit is spent.
  static bool pause(Wait& w) {
    if (++w.spins <= kSpinWaits) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      return true;
    }
    const auto now = std::chrono::steady_clock::now();
    if (w.spins == kSpinWaits + 1) w.since = now;
    else if (now - w.since > kWaitLimit) return false;
    std::this_thread::yield();
    return true;
  }
  Slot* setOf(std::uint64_t key) { return slots_.get() + (key & set_mask_) * kWays; }

  std::unique_ptr<Slot[]> slots_;
  std::size_t set_mask_ = 0;
  std::size_t capacity_ = 0;
  std::atomic<std::uint64_t> evictions_{0};
  std::atomic<std::uint64_t> contended_{0};
};

}  // namespace mamori::guard::detail
