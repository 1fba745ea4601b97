#pragma once

// How the daemon's protections (login, flood, bots, challenge) hand a
// reloaded configuration to the request path: the control thread publishes
// a new immutable snapshot; each worker keeps a shared_ptr to the one it
// last saw and re-reads it, under the mutex, only when the generation has
// moved. The request path therefore takes no lock and bumps no shared
// reference count, and an old snapshot lives until the last worker that
// holds it moves on.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace mamori::daemon {

namespace detail {
// Process-wide, so that a PublishedSnapshot created where a destroyed one
// lived never matches a generation a thread cached from the old one.
inline std::atomic<std::uint64_t> g_snapshot_generations{0};
}  // namespace detail

template <class T>
class PublishedSnapshot {
 public:
  PublishedSnapshot() = default;
  PublishedSnapshot(const PublishedSnapshot&) = delete;
  PublishedSnapshot& operator=(const PublishedSnapshot&) = delete;

  // Control thread (start, reload).
  void publish(std::shared_ptr<const T> snapshot) {
    std::lock_guard lock(mu_);
    snapshot_ = std::move(snapshot);
    generation_.store(detail::g_snapshot_generations.fetch_add(1, std::memory_order_relaxed) + 1,
                      std::memory_order_release);
  }

  // Any thread; takes the mutex (control plane).
  std::shared_ptr<const T> current() const {
    std::lock_guard lock(mu_);
    return snapshot_;
  }

  // Worker threads: this thread's copy of the newest snapshot. The
  // reference stays valid until this thread calls local() again on a
  // PublishedSnapshot<T>.
  const std::shared_ptr<const T>& local() const {
    thread_local std::shared_ptr<const T> cached;
    thread_local std::uint64_t cached_generation = 0;
    thread_local const PublishedSnapshot* cached_owner = nullptr;
    const std::uint64_t generation = generation_.load(std::memory_order_acquire);
    if (cached_owner != this || cached_generation != generation) {
      cached = current();
      cached_generation = generation;
      cached_owner = this;
    }
    return cached;
  }

 private:
  mutable std::mutex mu_;  // guards snapshot_; never held on the request path
  std::shared_ptr<const T> snapshot_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace mamori::daemon
