#pragma once

// A min-heap of (deadline, key) used by each worker for every timeout
// (header, body, idle, upstream connect and read). Cancelling is lazy: the
// owner of a key remembers which deadline it armed and ignores entries that
// no longer match (see Worker::armTimer), so a connection that pushes its
// deadline forward on every read costs no heap surgery. Not thread-safe:
// one heap per worker thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace mamori::net {

class TimerHeap {
 public:
  using Clock = std::chrono::steady_clock;

  struct Entry {
    Clock::time_point deadline;
    std::uint64_t key = 0;
  };

  void push(Clock::time_point deadline, std::uint64_t key);

  // Earliest deadline, or nullopt when empty.
  std::optional<Clock::time_point> next() const;

  // Removes and returns every entry whose deadline is <= now, earliest first.
  std::vector<Entry> popExpired(Clock::time_point now);

  // Milliseconds until the earliest deadline, clamped to [0, cap_ms]; cap_ms
  // when empty. For epoll_wait's timeout.
  int waitMs(Clock::time_point now, int cap_ms) const;

  std::size_t size() const { return heap_.size(); }

 private:
  std::vector<Entry> heap_;
};

}  // namespace mamori::net
