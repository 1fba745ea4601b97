#pragma once

// Round-robin choice among a site's upstreams with passive health: an
// upstream whose connect was refused or timed out is marked down and
// skipped for a while (10 s by default), then tried again. Weights repeat an
// upstream in the rotation. Each worker owns its own UpstreamSet (no locks
// on the request path), so health is learned per worker. Not thread-safe.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace mamori::net {

class UpstreamSet {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kDefaultDownFor = std::chrono::seconds(10);

  // `weights[i]` is upstream i's weight (0 counts as 1; capped at 100 to
  // bound the rotation). Must not be empty.
  explicit UpstreamSet(const std::vector<std::uint32_t>& weights,
                       Clock::duration down_for = kDefaultDownFor);

  // The next upstream in the rotation that is not down at `now`, or nullopt
  // when all are down.
  std::optional<std::size_t> pick(Clock::time_point now);

  void markDown(std::size_t index, Clock::time_point now);
  void markUp(std::size_t index);
  bool isDown(std::size_t index, Clock::time_point now) const;
  std::size_t size() const { return down_until_.size(); }

 private:
  std::vector<std::size_t> rotation_;
  std::size_t next_ = 0;
  std::vector<Clock::time_point> down_until_;
  Clock::duration down_for_;
};

}  // namespace mamori::net
