#pragma once

// Forward-confirmed reverse DNS (FCrDNS) for good-crawler claims: the
// client's address has a PTR name, that name ends in one of the domains
// the crawler's operator publishes, and the name's A/AAAA records contain
// the address again. A UA anyone can type becomes a claim only the
// operator's DNS can confirm.
//
// Never on the request path's critical wait: check() answers from a
// bounded cache and, on a miss, queues the lookup for the verifier's own
// thread(s) and answers Pending. The request is then treated per the
// site's policy for unverified claims; later requests see the result.
//
// DNS goes through a DnsLookup. ResolverLookup is the real one: glibc's
// res_nquery on a per-thread resolver state pointed at a configurable
// server (the e2e test runs dnsmasq), so no system-wide resolv.conf is
// needed. Tests inject a fake.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/ip_prefix.h"
#include "common/result.h"
#include "guard/bounded_mpmc_queue.h"
#include "guard/login_guard.h"
#include "guard/window_table.h"

namespace mamori::guard {

// Answers of one DNS question. Error codes: ENOENT for NXDOMAIN / no such
// record (an answer: there is none), anything else (ETIMEDOUT, EIO) for a
// failure to get an answer.
class DnsLookup {
 public:
  virtual ~DnsLookup() = default;
  // PTR names of `address` (a host address). Verifier threads only.
  virtual common::Result<std::vector<std::string>> reverse(const common::IpPrefix& address) = 0;
  // A (v6 false) or AAAA (v6 true) records of `name`, as host prefixes.
  virtual common::Result<std::vector<common::IpPrefix>> forward(const std::string& name,
                                                                bool v6) = 0;
};

// res_nquery against one server. `server` is "ip" or "ip:port" (IPv4;
// glibc's resolver state holds IPv4 server addresses), empty for the
// system's resolv.conf. Each calling thread keeps its own resolver state.
class ResolverLookup final : public DnsLookup {
 public:
  // Error{EINVAL} for a server that is not an IPv4 address[:port].
  static common::Result<std::unique_ptr<ResolverLookup>> create(const std::string& server,
                                                                std::chrono::seconds timeout);
  common::Result<std::vector<std::string>> reverse(const common::IpPrefix& address) override;
  common::Result<std::vector<common::IpPrefix>> forward(const std::string& name, bool v6) override;

 private:
  ResolverLookup() = default;
  std::string server_ip_;  // empty: resolv.conf
  std::uint16_t server_port_ = 53;
  int timeout_s_ = 2;
};

// The reverse-DNS name a PTR lookup of `address` asks for:
// "4.3.2.1.in-addr.arpa" or the 32-nibble ip6.arpa form. Any thread.
std::string reverseName(const common::IpPrefix& address);

enum class RdnsState : std::uint8_t {
  Pending,   // not asked yet, queued, or the last lookup failed to get an answer
  Verified,  // PTR in a listed domain and forward-confirmed
  Failed,    // no PTR, PTR outside the domains, or the name does not resolve back
};
const char* rdnsStateName(RdnsState state);

struct RdnsAnswer {
  RdnsState state = RdnsState::Pending;
  std::string name;    // the PTR name checked (Verified / Failed), may be empty
  std::string reason;  // Failed: "no_ptr", "ptr_outside_domains", "not_forward_confirmed"
};

struct RdnsOptions {
  std::size_t cache_entries = 16384;   // rounded up as AtomicTable does
  std::chrono::seconds positive_ttl{24h};
  std::chrono::seconds negative_ttl{1h};
  std::chrono::seconds error_ttl{60s};  // a timeout is retried after this
  std::size_t queue_max = 1024;         // lookups waiting; more are dropped (and counted)
  unsigned threads = 1;                 // 0: no thread, tests call runQueuedForTest()
};

// Every counter of the verifier in one list (STYLE.md §2).
#define MAMORI_RDNS_COUNTERS(X)                                          \
  X(hits)        /* check() answered from the cache */                   \
  X(misses)      /* check() found nothing and queued a lookup */         \
  X(dropped)     /* lookups not queued: the queue was full */            \
  X(verified)    /* lookups that confirmed the claim */                  \
  X(failed)      /* lookups that refuted it */                           \
  X(errors)      /* lookups that got no answer (timeout, SERVFAIL) */

struct RdnsStats {
#define MAMORI_RDNS_FIELD(name) std::uint64_t name = 0;
  MAMORI_RDNS_COUNTERS(MAMORI_RDNS_FIELD)
#undef MAMORI_RDNS_FIELD
  std::size_t cache_capacity = 0;
  std::size_t cache_used = 0;  // walks the table: status only
  std::size_t queued = 0;
  std::uint64_t evictions = 0;
};

class RdnsVerifier {
 public:
  // `lookup` and `clock` must outlive this. Starts options.threads threads.
  RdnsVerifier(DnsLookup& lookup, const Clock& clock, RdnsOptions options = {});
  ~RdnsVerifier();  // stops and joins the threads; queued lookups are dropped
  RdnsVerifier(const RdnsVerifier&) = delete;
  RdnsVerifier& operator=(const RdnsVerifier&) = delete;

  // The cached answer for (`address`, `bot`), or Pending after queueing a
  // lookup of it against `domains` (lower case suffixes). Never blocks on
  // DNS: the cache takes no lock; on a miss, a lock-free push onto the
  // bounded lookup queue (full: the lookup is dropped and counted) and,
  // only when a lookup thread sleeps, one futex wake. An answer being
  // written by a lookup thread at that instant reads as Pending (the next
  // request reads it; nothing waits for the writer). The answer's name and
  // reason are always those of `address`'s own lookup. Worker threads.
  RdnsAnswer check(const common::IpPrefix& address, const std::string& bot,
                   const std::vector<std::string>& domains);
  // The cached answer only (Pending, too, while it is being written); never
  // queues or waits. Any thread.
  RdnsAnswer peek(const common::IpPrefix& address, const std::string& bot);

  // The whole FCrDNS check, blocking on DNS: for the verifier's threads
  // and for tests. Pending means the lookup got no answer.
  RdnsAnswer verifyNow(const common::IpPrefix& address, const std::vector<std::string>& domains);

  // Runs the queued lookups on the calling thread (threads == 0 only).
  // Returns how many ran.
  std::size_t runQueuedForTest();
  // Lookup threads waiting for work (asleep or about to be). Any thread.
  unsigned idleThreadsForTest() const { return sleepers_.load(std::memory_order_seq_cst); }
  // Where a store() of an answer runs the test hook, on the storing thread:
  // Found, after finding the entry and before taking its write sequence;
  // Writing, holding the sequence, after re-checking the entry's key and
  // before writing owner, name and status.
  enum class StorePointForTest { Found, Writing };
  // Runs `hook` at both points of every store() (nullptr: none), so that a
  // test can hand the entry to another key in either window. Set it while
  // no lookup runs.
  void setStoreHookForTest(std::function<void(StorePointForTest)> hook) {
    store_hook_ = std::move(hook);
  }
  // Bytes of one cache slot (entry and the table's key word).
  static constexpr std::size_t cacheSlotBytesForTest() {
    return detail::AtomicTable<Entry>::slotBytes();
  }

  RdnsStats stats() const;

 private:
  // One cached answer, shared by every worker without a lock.
  //
  // `status` packs the expiry (clock seconds), a 20-bit tag of the key,
  // the in-flight mark, the failure reason (a code) and the state, so
  // taking the one lookup of a miss is a single CAS, and a verdict and its
  // reason are always read together. `key` is the cache key again, written
  // by the table's init when the slot is claimed: a reader checks it after
  // reading so that an entry evicted and reused under it is never taken
  // for its own answer.
  //
  // The PTR name (a truncated copy, 63 bytes, for logs) cannot go in one
  // word, so it is guarded by a sequence lock among the writers, store()
  // on the verifier threads: `seq` is odd while one of them writes `owner`
  // (its full key), the name and the status. A writer takes it by CAS and
  // re-checks `key` under it, so a writer whose slot was handed to another
  // key since it found it writes nothing. Readers (check(), peek()) read
  // seq, status, owner and name, then status, key and seq again, and take
  // the answer only when neither word moved and key, owner and the
  // status's tag all name their key.
  //
  // The table's re-keying of a slot (clear() and init, on whichever thread
  // claims it, often a request's) does not take `seq`: check() must never
  // wait on a verifier thread. It zeroes key and status before the other
  // fields, so a reader that saw any zeroed word sees the key or the status
  // changed on its second read, even when the slot came back to its key
  // meanwhile. A writer that checked its key just before a re-keying may
  // still land words in the new entry, but with its own `owner`, which no
  // reader of the new key accepts. 104 bytes a slot with the table's key.
  struct Entry {
    std::atomic<std::uint64_t> key{0};
    std::atomic<std::uint64_t> status{0};
    std::atomic<std::uint64_t> seq{0};    // never reset: a writer may hold it
    std::atomic<std::uint64_t> owner{0};  // key of the store() that wrote name and status
    detail::AtomicBytes<64> name;
    void clear() {
      key.store(0, std::memory_order_relaxed);
      status.store(0, std::memory_order_relaxed);
      // A reader that reads any word zeroed below sees key and status
      // zeroed (or later values) on its reads after its acquire fence.
      std::atomic_thread_fence(std::memory_order_release);
      owner.store(0, std::memory_order_relaxed);
      name.clear();
    }
  };
  struct Job {
    common::IpPrefix address;
    std::string bot;
    std::vector<std::string> domains;
  };

  std::uint64_t keyOf(const common::IpPrefix& address, const std::string& bot) const;
  std::int64_t nowSeconds() const;
  void store(const Job& job, const RdnsAnswer& answer);
  void runJob(const Job& job);
  bool popJob(Job& job);
  void threadMain();

  DnsLookup& lookup_;
  const Clock& clock_;
  RdnsOptions options_;
  detail::AtomicTable<Entry> cache_;
  // Lookups waiting for a thread; pushed by workers, popped by threads_.
  BoundedMpmcQueue<Job> queue_;
  // Wake-up without a lock on the producer side: a producer bumps wake_
  // after each push and futex-wakes (atomic notify) only when sleepers_
  // says a thread may be waiting; a thread reads wake_ before its last
  // look at the queue and sleeps only while wake_ still holds that value.
  // All seq_cst: the producer's (wake_ bump, sleepers_ read) and the
  // thread's (sleepers_ bump, wake_ read in wait) form a Dekker pair, so at
  // least one of them sees the other and no push is slept through.
  std::atomic<std::uint32_t> wake_{0};
  std::atomic<unsigned> sleepers_{0};
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
  std::function<void(StorePointForTest)> store_hook_;  // setStoreHookForTest()

#define MAMORI_RDNS_ATOMIC(name) std::atomic<std::uint64_t> name##_{0};
  MAMORI_RDNS_COUNTERS(MAMORI_RDNS_ATOMIC)
#undef MAMORI_RDNS_ATOMIC
};

}  // namespace mamori::guard
