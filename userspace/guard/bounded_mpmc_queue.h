#pragma once

// A fixed-capacity multi-producer multi-consumer queue that takes no lock:
// the request path hands work (an rDNS lookup) to background threads
// through it, and DESIGN.md allows no lock there.
//
// The shape is Dmitry Vyukov's bounded MPMC ring: each cell carries a
// sequence number that says whose turn it is. A producer that reads
// enqueue position p owns cell p % capacity when the cell's sequence is p;
// it claims p with one CAS on the position, fills the cell and publishes it
// by storing p + 1. A consumer at dequeue position p takes the cell when its
// sequence is p + 1 and hands it back to the producer of lap p + capacity
// by storing that. Positions are 64-bit and never wrap in practice (2^64
// pushes), so any capacity works, not only powers of two.
//
// Memory ordering: the cell's sequence store (release) after writing the
// value pairs with the other side's sequence load (acquire) before touching
// it, so the value's bytes are handed over with the turn. The position CASes
// are relaxed: they only arbitrate which thread owns a cell; the hand-over
// of data is through the sequence numbers.
//
// Values are filled and taken in place (callables get a T&), so a T holding
// strings and vectors reuses the cell's buffers: a producer that assigns into
// them allocates only when a value is longer than any the cell held before,
// and a consumer that swaps the cell with its own T allocates nothing.
//
// A cell a consumer is still copying out of counts as full for that moment,
// so a producer racing a consumer can see "full" with capacity - 1 values
// queued; with no consumer running, exactly `capacity` pushes succeed.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace mamori::guard {

template <class T>
class BoundedMpmcQueue {
 public:
  // Room for `capacity` values (0: every push fails). Allocates every cell
  // up front; T must be default-constructible. Any thread, once.
  explicit BoundedMpmcQueue(std::size_t capacity)
      : capacity_(capacity), cells_(capacity ? new Cell[capacity] : nullptr) {
    for (std::size_t i = 0; i < capacity_; ++i) cells_[i].sequence.store(i, std::memory_order_relaxed);
  }
  BoundedMpmcQueue(const BoundedMpmcQueue&) = delete;
  BoundedMpmcQueue& operator=(const BoundedMpmcQueue&) = delete;

  // Claims a free cell and calls fill(T&) on it, then publishes it. Returns
  // false (fill not called) when the queue is full. fill must not throw and
  // must not touch this queue. Any thread; lock-free, no allocation of its
  // own.
  template <class Fill>
  bool tryPush(Fill&& fill) {
    if (capacity_ == 0) return false;
    std::uint64_t pos = enqueue_pos_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& cell = cells_[pos % capacity_];
      const std::uint64_t seq = cell.sequence.load(std::memory_order_acquire);
      const auto diff = static_cast<std::int64_t>(seq - pos);
      if (diff == 0) {
        // Our turn if no other producer claims p first; a failed CAS
        // reloads pos and we try the next position.
        if (enqueue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          fill(cell.value);
          cell.sequence.store(pos + 1, std::memory_order_release);
          return true;
        }
      } else if (diff < 0) {
        return false;  // the cell still holds the value of the previous lap: full
      } else {
        pos = enqueue_pos_.load(std::memory_order_relaxed);  // another producer moved on
      }
    }
  }

  // Takes the oldest published value: calls take(T&) on its cell, then frees
  // the cell. Returns false (take not called) when nothing is published at
  // the head (empty, or the head's producer is still filling it). take must
  // leave the cell's T valid (swap or copy out of it). Any thread; lock-free.
  template <class Take>
  bool tryPop(Take&& take) {
    if (capacity_ == 0) return false;
    std::uint64_t pos = dequeue_pos_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& cell = cells_[pos % capacity_];
      const std::uint64_t seq = cell.sequence.load(std::memory_order_acquire);
      const auto diff = static_cast<std::int64_t>(seq - (pos + 1));
      if (diff == 0) {
        if (dequeue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          take(cell.value);
          cell.sequence.store(pos + capacity_, std::memory_order_release);
          return true;
        }
      } else if (diff < 0) {
        return false;  // not published yet: empty
      } else {
        pos = dequeue_pos_.load(std::memory_order_relaxed);
      }
    }
  }

  // Values pushed and not yet popped, at some moment during the call
  // (positions read one after the other, so approximate under traffic).
  // Any thread; for status output.
  std::size_t sizeApprox() const {
    const std::uint64_t tail = dequeue_pos_.load(std::memory_order_relaxed);
    const std::uint64_t head = enqueue_pos_.load(std::memory_order_relaxed);
    if (head <= tail) return 0;
    const std::uint64_t n = head - tail;
    return n > capacity_ ? capacity_ : static_cast<std::size_t>(n);
  }

  std::size_t capacity() const { return capacity_; }

 private:
  // One cache line per cell's sequence where the value is small, so two
  // threads working on neighbouring cells do not share a line.
  struct alignas(64) Cell {
    std::atomic<std::uint64_t> sequence{0};
    T value{};
  };

  const std::size_t capacity_;
  std::unique_ptr<Cell[]> cells_;
  alignas(64) std::atomic<std::uint64_t> enqueue_pos_{0};  // producers' line
  alignas(64) std::atomic<std::uint64_t> dequeue_pos_{0};  // consumers' line
};

}  // namespace mamori::guard
