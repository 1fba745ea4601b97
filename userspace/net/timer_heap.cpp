#include "net/timer_heap.h"

#include <algorithm>

namespace mamori::net {
namespace {
// std::push_heap builds a max-heap; invert to get the earliest on top.
bool later(const TimerHeap::Entry& a, const TimerHeap::Entry& b) { return a.deadline > b.deadline; }
}  // namespace

void TimerHeap::push(Clock::time_point deadline, std::uint64_t key) {
  heap_.push_back({deadline, key});
  std::push_heap(heap_.begin(), heap_.end(), later);
}

std::optional<TimerHeap::Clock::time_point> TimerHeap::next() const {
  if (heap_.empty()) return std::nullopt;
  return heap_.front().deadline;
}

std::vector<TimerHeap::Entry> TimerHeap::popExpired(Clock::time_point now) {
  std::vector<Entry> out;
  while (!heap_.empty() && heap_.front().deadline <= now) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    out.push_back(heap_.back());
    heap_.pop_back();
  }
  return out;
}

int TimerHeap::waitMs(Clock::time_point now, int cap_ms) const {
  if (heap_.empty()) return cap_ms;
  auto d = heap_.front().deadline;
  if (d <= now) return 0;
  // Round up so that we never wake a millisecond early and spin.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(d - now).count();
  return static_cast<int>(std::min<long long>(ms, cap_ms));
}

}  // namespace mamori::net
