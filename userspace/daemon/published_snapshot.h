#pragma once

// How the daemon's protections (inspection, login, flood, bots, challenge)
// hand a reloaded configuration to the request path: the control thread
// publishes a new immutable snapshot; each worker keeps a shared_ptr to the
// one it last saw and re-reads it only when the generation has moved. No
// read takes a lock, not even the first one after a reload (issue #8: the
// request path is lock-free), and the steady state bumps no shared
// reference count.
//
// Reading the newest snapshot without a lock is the hard part: the reader
// must copy the shared_ptr out of a node the writer may be replacing. It is
// done with epoch-based reclamation:
//  - publish() puts the snapshot in a heap Node, swaps the atomic node
//    pointer, advances a global epoch to E and retires the old node with E;
//  - a reader announces the global epoch it read in its own slot (one per
//    thread, claimed once with a CAS, released when the thread exits), loads
//    the node pointer, copies the shared_ptr out and announces idle again;
//  - the writer frees a node retired with E only when every slot is idle or
//    announces an epoch >= E, i.e. no reader that could have loaded the old
//    pointer is still inside. It re-scans a few times (readers stay a few
//    nanoseconds) and leaves what is still in use for the next publish.
// libstdc++ 12's std::atomic<std::shared_ptr> is not used: it takes an
// internal lock bit, which is a spin lock on the request path.
//
// Memory ordering (the proof sketch the code relies on). Writer: exchange
// node (W1), fetch_add epoch (W2), load every slot (W3); reader: load epoch
// (R0), store slot (R1), load node (R2), copy, store idle (R3, release).
// All of W1-W3 and R0-R2 are seq_cst, so they sit in one total order S.
//  - If W3 reads a slot as idle (or the reader's R1 is later in S), R1
//    comes after W3 in S, so R2 comes after W1: the reader sees the new
//    node, never the retired one.
//  - If W3 reads an announced epoch >= E, the reader's R0 read W2's value
//    or later, so R0, and hence R2, come after W1 in S: again the new node.
//  - If W3 reads R3's idle (release) — or any later store of that slot,
//    which is sequenced after R3 — the copy out of the old node
//    happens-before the writer's delete.
// Threads without a slot (more than kSlots readers at once) count themselves
// in one shared overflow counter instead; while it is non-zero the writer
// frees nothing, which is safe by the same argument with the counter in
// place of the slot.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace mamori::daemon {

namespace detail {

// Process-wide, so that a PublishedSnapshot created where a destroyed one
// lived never matches a generation a thread cached from the old one.
inline std::atomic<std::uint64_t> g_snapshot_generations{0};

// The reader slots and the epoch shared by every PublishedSnapshot in the
// process: one slot per reading thread, whatever it reads.
class SnapshotReaders {
 public:
  static constexpr std::size_t kSlots = 128;
  static constexpr std::uint64_t kIdle = ~std::uint64_t{0};  // above any epoch

  constexpr SnapshotReaders() = default;

  // Announces that the calling thread is about to load a node pointer;
  // returns the slot to pass to leave() (null: counted as overflow).
  // Any thread; lock-free (the first call of a thread scans for a free slot).
  std::atomic<std::uint64_t>* enter() {
    std::atomic<std::uint64_t>* slot = threadSlot();
    if (slot) {
      slot->store(epoch_.load(std::memory_order_seq_cst), std::memory_order_seq_cst);
    } else {
      overflow_.fetch_add(1, std::memory_order_seq_cst);
    }
    return slot;
  }

  // Ends the read enter() began; everything read before is done.
  void leave(std::atomic<std::uint64_t>* slot) {
    if (slot) slot->store(kIdle, std::memory_order_release);
    else overflow_.fetch_sub(1, std::memory_order_release);
  }

  // The writer, after unlinking a node: the epoch to retire it with.
  std::uint64_t advance() { return epoch_.fetch_add(1, std::memory_order_seq_cst) + 1; }

  // The oldest epoch a reader may still be reading in: a node retired with
  // an epoch <= this is unreachable. 0 while an overflow reader is inside.
  std::uint64_t safeEpoch() const {
    if (overflow_.load(std::memory_order_seq_cst) != 0) return 0;
    std::uint64_t oldest = kIdle;
    for (const Slot& s : slots_) {
      const std::uint64_t e = s.epoch.load(std::memory_order_seq_cst);
      if (e < oldest) oldest = e;
    }
    return oldest;
  }

  // Slots held by live threads. Tests and status only.
  std::size_t claimedSlotsForTest() const {
    std::size_t n = 0;
    for (const Slot& s : slots_) n += s.claimed.load(std::memory_order_acquire) ? 1 : 0;
    return n;
  }

 private:
  struct alignas(64) Slot {  // own cache line: readers never share one
    std::atomic<std::uint64_t> epoch{kIdle};
    std::atomic<bool> claimed{false};
  };

  // Releases the thread's slot when the thread exits (thread_local
  // destructor), so a pool of short-lived threads does not run out.
  struct SlotOwner {
    Slot* slot = nullptr;
    SlotOwner() = default;
    SlotOwner(const SlotOwner&) = delete;
    SlotOwner& operator=(const SlotOwner&) = delete;
    ~SlotOwner() {
      if (!slot) return;
      slot->epoch.store(kIdle, std::memory_order_release);
      slot->claimed.store(false, std::memory_order_release);
    }
  };

  // The calling thread's slot, claimed on its first read. There is one
  // registry (g_snapshot_readers), so one owner per thread suffices.
  std::atomic<std::uint64_t>* threadSlot() {
    thread_local SlotOwner owner;
    if (owner.slot) return &owner.slot->epoch;
    for (Slot& s : slots_) {
      bool free = false;
      if (!s.claimed.load(std::memory_order_relaxed) &&
          s.claimed.compare_exchange_strong(free, true, std::memory_order_acq_rel)) {
        owner.slot = &s;
        return &s.epoch;
      }
    }
    return nullptr;  // all taken: overflow; the next read tries again
  }

  std::atomic<std::uint64_t> epoch_{1};
  std::atomic<std::uint64_t> overflow_{0};
  Slot slots_[kSlots];
};

// Constant-initialised and trivially destructible, so thread exits during
// static destruction still find it.
inline constinit SnapshotReaders g_snapshot_readers;

}  // namespace detail

template <class T>
class PublishedSnapshot {
 public:
  PublishedSnapshot() = default;
  PublishedSnapshot(const PublishedSnapshot&) = delete;
  PublishedSnapshot& operator=(const PublishedSnapshot&) = delete;
  // No reader may be inside current() or local() of this object (workers
  // stopped); snapshots workers still hold in their local() copies live on.
  ~PublishedSnapshot() {
    delete node_.load(std::memory_order_relaxed);
    for (const auto& r : retired_) delete r.node;
  }

  // Makes `snapshot` the one current() and local() return, then frees the
  // nodes of earlier snapshots no reader can still be reading (a node a
  // reader is inside of waits for the next publish; no sleeping). Control thread (start, reload); serialised by a mutex that no
  // reader takes. Allocates one node (std::bad_alloc: control plane).
  void publish(std::shared_ptr<const T> snapshot) {
    std::lock_guard lock(publish_mu_);
    auto* node = new Node{std::move(snapshot),
                          detail::g_snapshot_generations.fetch_add(1, std::memory_order_relaxed) + 1};
    Node* old = node_.exchange(node, std::memory_order_seq_cst);
    generation_.store(node->generation, std::memory_order_release);
    if (old) retired_.push_back({old, detail::g_snapshot_readers.advance()});
    reclaim();
  }

  // The newest snapshot (null before the first publish). Any thread; no lock.
  std::shared_ptr<const T> current() const { return read().first; }

  // Worker threads: this thread's copy of the newest snapshot. The
  // reference stays valid until this thread calls local() again on a
  // PublishedSnapshot<T>. No lock; a shared reference count is touched only
  // on the first call after a publish.
  const std::shared_ptr<const T>& local() const {
    thread_local Cached cached;
    if (cached.owner != this || cached.generation != generation_.load(std::memory_order_acquire)) {
      auto [snapshot, generation] = read();
      cached.snapshot = std::move(snapshot);
      cached.generation = generation;
      cached.owner = this;
    }
    return cached.snapshot;
  }

  // Retired nodes not yet freed (a reader was inside). Tests.
  std::size_t retiredForTest() const {
    std::lock_guard lock(publish_mu_);
    return retired_.size();
  }

 private:
  struct Node {
    std::shared_ptr<const T> snapshot;  // immutable once published
    std::uint64_t generation = 0;
  };
  struct Retired {
    Node* node;
    std::uint64_t epoch;  // the epoch advance() returned after unlinking it
  };
  struct Cached {
    std::shared_ptr<const T> snapshot;
    std::uint64_t generation = 0;
    const PublishedSnapshot* owner = nullptr;
  };
  // A reader stays inside for one shared_ptr copy, so re-scanning a few
  // times (about a microsecond each) usually sees a running reader out. One
  // descheduled inside is not waited for (yielding to it costs milliseconds
  // on a loaded machine): its node stays retired until a later publish() or
  // the destructor, which is rare as workers read right after a publish,
  // not during one.
  static constexpr int kReclaimScans = 32;

  // The newest node's snapshot and generation, copied out under an epoch
  // announcement (see the file comment).
  std::pair<std::shared_ptr<const T>, std::uint64_t> read() const {
    std::atomic<std::uint64_t>* slot = detail::g_snapshot_readers.enter();
    std::pair<std::shared_ptr<const T>, std::uint64_t> out;
    if (const Node* node = node_.load(std::memory_order_seq_cst)) {
      out.first = node->snapshot;
      out.second = node->generation;
    }
    detail::g_snapshot_readers.leave(slot);
    return out;
  }

  // Frees retired nodes that no reader can reach. publish_mu_ held.
  void reclaim() {
    for (int scan = 0; !retired_.empty() && scan < kReclaimScans; ++scan) {
      const std::uint64_t safe = detail::g_snapshot_readers.safeEpoch();
      std::erase_if(retired_, [&](const Retired& r) {
        if (r.epoch > safe) return false;
        delete r.node;
        return true;
      });
    }
  }

  std::atomic<Node*> node_{nullptr};
  std::atomic<std::uint64_t> generation_{0};  // node_'s, for local()'s fast check
  mutable std::mutex publish_mu_;  // serialises publish(); guards retired_; never taken by readers
  std::vector<Retired> retired_;
};

}  // namespace mamori::daemon
