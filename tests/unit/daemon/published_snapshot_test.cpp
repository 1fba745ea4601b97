#include "daemon/published_snapshot.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <latch>
#include <thread>
#include <vector>

namespace mamori::daemon {
namespace {

// A snapshot that counts its lives and can tell when it is read after
// being destroyed or torn: every word of payload holds a function of the
// generation, and the destructor scribbles over it.
struct Counted {
  static inline std::atomic<long> alive{0};
  explicit Counted(std::uint64_t g) : generation(g) {
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = g * 31 + i;
    alive.fetch_add(1);
  }
  ~Counted() {
    generation = 0;
    payload.fill(0xdeadbeef);
    alive.fetch_sub(1);
  }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  bool intact() const {
    if (generation == 0) return false;
    for (std::size_t i = 0; i < payload.size(); ++i)
      if (payload[i] != generation * 31 + i) return false;
    return true;
  }
  std::uint64_t generation;
  std::array<std::uint64_t, 16> payload{};
};

TEST(PublishedSnapshot, EmptyUntilPublished) {
  PublishedSnapshot<int> s;
  EXPECT_EQ(s.current(), nullptr);
  EXPECT_EQ(s.local(), nullptr);
  s.publish(std::make_shared<const int>(7));
  ASSERT_NE(s.local(), nullptr);
  EXPECT_EQ(*s.local(), 7);
  EXPECT_EQ(*s.current(), 7);
  s.publish(std::make_shared<const int>(8));
  EXPECT_EQ(*s.local(), 8);
}

TEST(PublishedSnapshot, LocalCopyIsKeptUntilAPublish) {
  PublishedSnapshot<int> s;
  s.publish(std::make_shared<const int>(1));
  const std::shared_ptr<const int>& first = s.local();
  const int* seen = first.get();
  EXPECT_EQ(s.local().get(), seen);  // no re-read without a publish
  // Two owners: the node and this thread's copy (`first` refers to it); the
  // steady state takes no reference per read.
  EXPECT_EQ(first.use_count(), 2);
}

TEST(PublishedSnapshot, TwoInstancesOfOneTypeDoNotShareTheThreadsCopy) {
  PublishedSnapshot<int> a, b;
  a.publish(std::make_shared<const int>(1));
  b.publish(std::make_shared<const int>(2));
  EXPECT_EQ(*a.local(), 1);
  EXPECT_EQ(*b.local(), 2);
  EXPECT_EQ(*a.local(), 1);
}

TEST(PublishedSnapshot, OldSnapshotsAreFreed) {
  const long before = Counted::alive.load();
  {
    PublishedSnapshot<Counted> s;
    for (std::uint64_t g = 1; g <= 100; ++g) {
      s.publish(std::make_shared<const Counted>(g));
      EXPECT_EQ(s.local()->generation, g);
    }
    // The published one, held by the node and this thread's copy; no
    // reader was inside, so nothing waits for reclamation.
    EXPECT_EQ(s.retiredForTest(), 0u);
    EXPECT_EQ(Counted::alive.load() - before, 1);
    s.publish(std::make_shared<const Counted>(101));
    // 100 lives on in this thread's copy until its next local().
    EXPECT_EQ(Counted::alive.load() - before, 2);
    EXPECT_EQ(s.local()->generation, 101u);
    EXPECT_EQ(Counted::alive.load() - before, 1);
  }
  // The destroyed PublishedSnapshot freed its node; this thread's copy of
  // 101 is what is left, dropped at the next local() on a Counted snapshot.
  EXPECT_EQ(Counted::alive.load() - before, 1);
  PublishedSnapshot<Counted> other;
  EXPECT_EQ(other.local(), nullptr);
  EXPECT_EQ(Counted::alive.load() - before, 0);
}

TEST(PublishedSnapshot, ReadersSeeIntactSnapshotsInOrderWhileAWriterPublishes) {
  constexpr int kReaders = 6;
  constexpr std::uint64_t kPublishes = 5000;
  const long before = Counted::alive.load();
  {
    PublishedSnapshot<Counted> s;
    s.publish(std::make_shared<const Counted>(1));
    std::atomic<bool> done{false};
    std::atomic<int> torn{0}, backwards{0};
    std::atomic<std::uint64_t> reads{0}, changes{0};
    std::latch started(kReaders + 1);
    std::vector<std::thread> readers;
    for (int r = 0; r < kReaders; ++r) {
      readers.emplace_back([&, r] {
        started.arrive_and_wait();
        std::uint64_t last = 0, n = 0, changed = 0;
        while (!done.load(std::memory_order_relaxed)) {
          // Half the readers also use current() (the control-plane read).
          const std::shared_ptr<const Counted> held = (r % 2 == 0) ? s.local() : s.current();
          if (!held || !held->intact()) {
            torn.fetch_add(1);
            continue;
          }
          if (held->generation < last) backwards.fetch_add(1);
          if (held->generation != last) ++changed;
          last = held->generation;
          ++n;
        }
        reads.fetch_add(n);
        changes.fetch_add(changed);
      });
    }
    started.arrive_and_wait();
    for (std::uint64_t g = 2; g <= kPublishes; ++g) {
      s.publish(std::make_shared<const Counted>(g));
      if (g % 256 == 0) std::this_thread::yield();  // two cores: let readers run meanwhile
    }
    done.store(true);
    for (auto& t : readers) t.join();
    EXPECT_EQ(torn.load(), 0);
    EXPECT_EQ(backwards.load(), 0);
    EXPECT_GT(reads.load(), 0u);
    EXPECT_GT(changes.load(), std::uint64_t{kReaders});  // readers did follow the publishes
    // The readers are gone (their thread copies with them): one more
    // publish with no reader inside frees every retired node, leaving the
    // current snapshot only.
    s.publish(std::make_shared<const Counted>(kPublishes + 1));
    EXPECT_EQ(s.retiredForTest(), 0u);
    EXPECT_EQ(Counted::alive.load() - before, 1);
  }
  EXPECT_EQ(Counted::alive.load() - before, 0);
}

TEST(PublishedSnapshot, AnExitingThreadReleasesItsSlot) {
  auto& readers = detail::g_snapshot_readers;
  PublishedSnapshot<int> s;
  s.publish(std::make_shared<const int>(1));
  const std::size_t before = readers.claimedSlotsForTest();
  std::latch read(1), release(1);
  std::thread t([&] {
    EXPECT_EQ(*s.local(), 1);
    read.count_down();
    release.wait();
  });
  read.wait();
  EXPECT_EQ(readers.claimedSlotsForTest(), before + 1);
  release.count_down();
  t.join();
  EXPECT_EQ(readers.claimedSlotsForTest(), before);
  // Many short-lived threads, one after another, never run out of slots.
  for (int i = 0; i < 3 * static_cast<int>(detail::SnapshotReaders::kSlots); ++i)
    std::thread([&] { EXPECT_EQ(*s.current(), 1); }).join();
  EXPECT_EQ(readers.claimedSlotsForTest(), before);
}

TEST(PublishedSnapshot, MoreReadersThanSlotsStillReadSafely) {
  // kSlots + 16 threads alive at once: the last ones find every slot taken
  // and read through the overflow counter.
  constexpr int kThreads = static_cast<int>(detail::SnapshotReaders::kSlots) + 16;
  const long before = Counted::alive.load();
  {
    PublishedSnapshot<Counted> s;
    s.publish(std::make_shared<const Counted>(1));
    std::latch all_read(kThreads), finish(1);
    std::atomic<int> torn{0};
    std::atomic<bool> writing{true};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&] {
        if (!s.local()->intact()) torn.fetch_add(1);
        all_read.count_down();
        while (writing.load()) {
          if (!s.local()->intact()) torn.fetch_add(1);
          std::this_thread::yield();
        }
        finish.wait();
      });
    }
    all_read.wait();
    EXPECT_EQ(detail::g_snapshot_readers.claimedSlotsForTest(), detail::SnapshotReaders::kSlots);
    for (std::uint64_t g = 2; g <= 300; ++g) s.publish(std::make_shared<const Counted>(g));
    writing.store(false);
    finish.count_down();
    for (auto& t : threads) t.join();
    EXPECT_EQ(torn.load(), 0);
    s.publish(std::make_shared<const Counted>(301));
    EXPECT_EQ(s.retiredForTest(), 0u);
    EXPECT_EQ(Counted::alive.load() - before, 1);
  }
  EXPECT_LT(detail::g_snapshot_readers.claimedSlotsForTest(), detail::SnapshotReaders::kSlots);
}

}  // namespace
}  // namespace mamori::daemon
