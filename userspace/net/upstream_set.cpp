#include "net/upstream_set.h"

#include <algorithm>

namespace mamori::net {

UpstreamSet::UpstreamSet(const std::vector<std::uint32_t>& weights, Clock::duration down_for)
    : down_until_(weights.size()), down_for_(down_for) {
  // Interleave by weight (a, b, a, b, a for weights 3, 2) rather than
  // a, a, a, b, b, so that a heavy upstream does not take bursts.
  std::uint32_t max_w = 0;
  for (auto w : weights) max_w = std::max(max_w, std::clamp<std::uint32_t>(w, 1, 100));
  for (std::uint32_t round = 0; round < max_w; ++round)
    for (std::size_t i = 0; i < weights.size(); ++i)
      if (round < std::clamp<std::uint32_t>(weights[i], 1, 100)) rotation_.push_back(i);
}

std::optional<std::size_t> UpstreamSet::pick(Clock::time_point now) {
  for (std::size_t tries = 0; tries < rotation_.size(); ++tries) {
    std::size_t index = rotation_[next_];
    next_ = (next_ + 1) % rotation_.size();
    if (!isDown(index, now)) return index;
  }
  return std::nullopt;
}

void UpstreamSet::markDown(std::size_t index, Clock::time_point now) {
  if (index < down_until_.size()) down_until_[index] = now + down_for_;
}

void UpstreamSet::markUp(std::size_t index) {
  if (index < down_until_.size()) down_until_[index] = {};
}

bool UpstreamSet::isDown(std::size_t index, Clock::time_point now) const {
  return index < down_until_.size() && now < down_until_[index];
}

}  // namespace mamori::net
