#pragma once

// The bounded, shared tables behind the login detector's counters.
//
// WindowCount and DistinctSketch are sliding windows made of kBuckets
// buckets: a window of W seconds is cut into buckets of ceil(W / kBuckets)
// seconds and the value is the sum (or union) of the buckets of the last
// kBuckets bucket periods. An event is therefore counted for between
// W - W/kBuckets and W seconds: the whole oldest bucket leaves the window at
// once (docs/login-abuse.md, "Windows").
//
// ShardedTable is a fixed-size, set-associative hash table split into
// kShards shards, each with its own small mutex: the request path takes one
// shard lock per counter update and never a global lock. A new key that
// finds its set of kWays slots full evicts the slot with the smallest weight
// (the caller's measure: the windowed count, so heavy hitters stay while a
// spray of one-off sources evicts itself), which bounds memory under a spray
// from millions of addresses.

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace mamori::guard::detail {

inline constexpr std::size_t kBuckets = 6;
inline constexpr std::size_t kShards = 64;
inline constexpr std::size_t kWays = 8;

// Bucket arithmetic of one window length.
struct Window {
  std::uint32_t bucket_seconds = 1;

  static Window ofSeconds(std::int64_t window_seconds) {
    const std::int64_t b = (window_seconds + static_cast<std::int64_t>(kBuckets) - 1) /
                           static_cast<std::int64_t>(kBuckets);
    return Window{static_cast<std::uint32_t>(std::max<std::int64_t>(1, b))};
  }
  // Index of the bucket period containing `now_seconds` (>= 0).
  std::uint32_t epoch(std::int64_t now_seconds) const {
    return static_cast<std::uint32_t>(now_seconds / bucket_seconds);
  }
};

// Failures in a sliding window; saturates at 65535 per bucket.
struct WindowCount {
  std::uint32_t epoch = 0;  // bucket period of the newest bucket
  std::array<std::uint16_t, kBuckets> counts{};

  // Moves the newest bucket to `e`, clearing buckets that left the window.
  // An `e` older than the newest (a racing thread read the clock earlier)
  // counts into the newest bucket.
  void advance(std::uint32_t e) {
    if (e <= epoch) return;
    if (e - epoch >= kBuckets) {
      counts.fill(0);
    } else {
      for (std::uint32_t p = epoch + 1; p <= e; ++p) counts[p % kBuckets] = 0;
    }
    epoch = e;
  }
  // Adds one event at period `e` and returns the windowed count.
  std::uint32_t add(std::uint32_t e) {
    advance(e);
    std::uint16_t& c = counts[epoch % kBuckets];
    if (c != 0xffff) ++c;
    return sum(e);
  }
  // Windowed count as seen at period `e`, without modifying the cell.
  std::uint32_t sum(std::uint32_t e) const {
    std::uint32_t total = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      const std::uint32_t period = epoch - static_cast<std::uint32_t>(i);
      if (i > epoch) break;  // periods before 0 do not exist
      if (e >= period + kBuckets) continue;  // left the window
      total += counts[period % kBuckets];
    }
    return total;
  }
};

// Distinct elements (usernames, addresses) in a sliding window, by linear
// counting (Whang et al., 1990) over a 128-bit bitmap per bucket: the union
// of the live buckets' bitmaps with z zero bits estimates n = -128 ln(z/128).
// Standard error is about 7% between 10 and 100 distinct elements, growing
// towards saturation (all bits set) which is reported as kSaturated.
struct DistinctSketch {
  static constexpr std::uint32_t kSaturated = 700;  // ~128 ln 256, the estimate at z = 1/2
  std::uint32_t epoch = 0;
  std::array<std::array<std::uint64_t, 2>, kBuckets> bits{};

  void advance(std::uint32_t e) {
    if (e <= epoch) return;
    if (e - epoch >= kBuckets) {
      for (auto& b : bits) b = {0, 0};
    } else {
      for (std::uint32_t p = epoch + 1; p <= e; ++p) bits[p % kBuckets] = {0, 0};
    }
    epoch = e;
  }
  // Adds an element (a well-mixed 64-bit hash) at period `e`; returns the
  // windowed estimate.
  std::uint32_t add(std::uint32_t e, std::uint64_t element) {
    advance(e);
    const unsigned bit = static_cast<unsigned>(element >> 57);  // top 7 bits: 0..127
    bits[epoch % kBuckets][bit >> 6] |= std::uint64_t{1} << (bit & 63);
    return estimate(e);
  }
  // Bits set in the union of the live buckets: grows with the estimate,
  // without its log (the cheap eviction weight).
  std::uint32_t liveBits(std::uint32_t e) const {
    std::uint64_t lo = 0, hi = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      if (i > epoch) break;
      const std::uint32_t period = epoch - static_cast<std::uint32_t>(i);
      if (e >= period + kBuckets) continue;
      lo |= bits[period % kBuckets][0];
      hi |= bits[period % kBuckets][1];
    }
    return static_cast<std::uint32_t>(std::popcount(lo) + std::popcount(hi));
  }
  std::uint32_t estimate(std::uint32_t e) const {
    const std::uint32_t set = liveBits(e);
    if (set == 0) return 0;
    if (set == 128) return kSaturated;
    const double m = 128.0;
    const double n = -m * std::log((m - set) / m);
    return std::min<std::uint32_t>(kSaturated, static_cast<std::uint32_t>(std::lround(n)));
  }
};

// Fixed-capacity map from a non-zero 64-bit key (already a keyed hash) to
// V. Thread-safe: every operation locks the one shard of its key; forEach
// locks shards one after the other. Callbacks run under the shard lock and
// must not call back into the same table.
template <class V>
class ShardedTable {
 public:
  // `capacity` is rounded up to a multiple of kShards * kWays.
  explicit ShardedTable(std::size_t capacity) {
    const std::size_t unit = kShards * kWays;
    const std::size_t sets_total = std::max<std::size_t>(1, (capacity + unit - 1) / unit) * kShards;
    sets_per_shard_ = sets_total / kShards;
    slots_.reset(new Slot[sets_total * kWays]);
    capacity_ = sets_total * kWays;
  }

  ShardedTable(const ShardedTable&) = delete;
  ShardedTable& operator=(const ShardedTable&) = delete;

  // Finds `key` or inserts it with a default V, evicting the slot of its set
  // with the smallest weight(const V&) when the set is full; then runs
  // fn(V&, bool inserted) under the shard lock and returns its result.
  template <class Fn, class Weight>
  auto upsert(std::uint64_t key, Fn&& fn, Weight&& weight) {
    key = fixKey(key);
    Shard& shard = shards_[key % kShards];
    std::lock_guard lock(shard.mu);
    Slot* set = setOf(key);
    Slot* empty = nullptr;
    for (std::size_t i = 0; i < kWays; ++i) {
      if (set[i].key == key) return fn(set[i].value, false);
      if (set[i].key == 0 && empty == nullptr) empty = &set[i];
    }
    Slot* victim = empty;
    if (victim == nullptr) {
      victim = &set[0];
      auto best = weight(set[0].value);
      for (std::size_t i = 1; i < kWays; ++i) {
        auto w = weight(set[i].value);
        if (w < best) {
          best = w;
          victim = &set[i];
        }
      }
      evictions_.fetch_add(1, std::memory_order_relaxed);
    }
    victim->key = key;
    victim->value = V{};
    return fn(victim->value, true);
  }

  // Runs fn(V&) on `key`'s value under the shard lock; false when absent.
  template <class Fn>
  bool find(std::uint64_t key, Fn&& fn) {
    key = fixKey(key);
    Shard& shard = shards_[key % kShards];
    std::lock_guard lock(shard.mu);
    Slot* set = setOf(key);
    for (std::size_t i = 0; i < kWays; ++i) {
      if (set[i].key == key) {
        fn(set[i].value);
        return true;
      }
    }
    return false;
  }

  // Removes `key`; false when absent.
  bool erase(std::uint64_t key) {
    key = fixKey(key);
    Shard& shard = shards_[key % kShards];
    std::lock_guard lock(shard.mu);
    Slot* set = setOf(key);
    for (std::size_t i = 0; i < kWays; ++i) {
      if (set[i].key == key) {
        set[i].key = 0;
        set[i].value = V{};
        return true;
      }
    }
    return false;
  }

  // Runs fn(const V&) on every occupied slot, one shard lock at a time.
  // Control plane (status); costs a walk of the whole table.
  template <class Fn>
  void forEach(Fn&& fn) const {
    for (std::size_t s = 0; s < kShards; ++s) {
      std::lock_guard lock(shards_[s].mu);
      const Slot* base = slots_.get() + s * sets_per_shard_ * kWays;
      for (std::size_t i = 0; i < sets_per_shard_ * kWays; ++i) {
        if (base[i].key != 0) fn(base[i].value);
      }
    }
  }

  // Runs fn(V&) on every occupied slot, one shard lock at a time.
  // Control plane (lifting a ban by hand); costs a walk of the whole table.
  template <class Fn>
  void updateEach(Fn&& fn) {
    for (std::size_t s = 0; s < kShards; ++s) {
      std::lock_guard lock(shards_[s].mu);
      Slot* base = slots_.get() + s * sets_per_shard_ * kWays;
      for (std::size_t i = 0; i < sets_per_shard_ * kWays; ++i) {
        if (base[i].key != 0) fn(base[i].value);
      }
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
  // Bytes of one entry (key and value), the cost per tracked key.
  static constexpr std::size_t slotBytes() { return sizeof(Slot); }
  // Bytes held by the slots and shard locks (the table's whole footprint
  // apart from the object header).
  std::size_t memoryBytes() const { return capacity_ * sizeof(Slot) + sizeof(shards_); }

 private:
  struct Slot {
    std::uint64_t key = 0;  // 0: empty
    V value{};
  };
  // One cache line per lock so that two shards never share a line.
  struct alignas(64) Shard {
    mutable std::mutex mu;
  };

  static std::uint64_t fixKey(std::uint64_t key) { return key == 0 ? 1 : key; }
  Slot* setOf(std::uint64_t key) {
    const std::size_t shard = key % kShards;
    const std::size_t set = (key >> 6) % sets_per_shard_;
    return slots_.get() + (shard * sets_per_shard_ + set) * kWays;
  }

  std::array<Shard, kShards> shards_;
  std::unique_ptr<Slot[]> slots_;
  std::size_t sets_per_shard_ = 1;
  std::size_t capacity_ = 0;
  std::atomic<std::uint64_t> evictions_{0};
};

}  // namespace mamori::guard::detail
