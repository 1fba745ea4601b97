#include "guard/rdns_verifier.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace mamori::guard {
namespace {

using common::Error;
using common::IpPrefix;

IpPrefix ip(const char* text) { return common::parseIpPrefix(text).value(); }

// A DNS of plain maps; counts the questions asked.
class FakeDns final : public DnsLookup {
 public:
  std::map<std::string, std::vector<std::string>> ptr;  // address text -> names
  std::map<std::string, std::vector<std::string>> a;    // name -> address texts
  bool timeout = false;
  int questions = 0;

  common::Result<std::vector<std::string>> reverse(const IpPrefix& address) override {
    ++questions;
    if (timeout) return Error{ETIMEDOUT, "timeout"};
    auto it = ptr.find(address.toString());
    if (it == ptr.end()) return Error{ENOENT, "NXDOMAIN"};
    return it->second;
  }
  common::Result<std::vector<IpPrefix>> forward(const std::string& name, bool) override {
    ++questions;
    if (timeout) return Error{ETIMEDOUT, "timeout"};
    auto it = a.find(name);
    if (it == a.end()) return Error{ENOENT, "NXDOMAIN"};
    std::vector<IpPrefix> out;
    for (const auto& t : it->second) out.push_back(ip(t.c_str()));
    return out;
  }
};

const std::vector<std::string> kGoogle = {"googlebot.com", "google.com"};

RdnsOptions noThreads() {
  RdnsOptions o;
  o.threads = 0;
  return o;
}

TEST(RdnsVerifier, ReverseNames) {
  EXPECT_EQ(reverseName(ip("66.249.66.1")), "1.66.249.66.in-addr.arpa");
  EXPECT_EQ(reverseName(ip("2001:db8::1")),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
}

TEST(RdnsVerifier, ForwardConfirmedNameVerifies) {
  FakeDns dns;
  dns.ptr["66.249.66.1"] = {"crawl-66-249-66-1.googlebot.com."};
  dns.a["crawl-66-249-66-1.googlebot.com."] = {"66.249.66.1"};
  ManualClock clock;
  RdnsVerifier v(dns, clock, noThreads());
  auto a = v.verifyNow(ip("66.249.66.1"), kGoogle);
  EXPECT_EQ(a.state, RdnsState::Verified);
  EXPECT_EQ(a.name, "crawl-66-249-66-1.googlebot.com.");
}

TEST(RdnsVerifier, PtrOutsideDomainsFails) {
  FakeDns dns;
  dns.ptr["203.0.113.9"] = {"host9.example.net"};
  ManualClock clock;
  RdnsVerifier v(dns, clock, noThreads());
  auto a = v.verifyNow(ip("203.0.113.9"), kGoogle);
  EXPECT_EQ(a.state, RdnsState::Failed);
  EXPECT_EQ(a.reason, "ptr_outside_domains");
  EXPECT_EQ(a.name, "host9.example.net");
}

TEST(RdnsVerifier, PtrThatDoesNotResolveBackFails) {
  // Anyone can put googlebot.com in the PTR of their own addresses; only
  // Google can make googlebot.com names resolve to them.
  FakeDns dns;
  dns.ptr["203.0.113.9"] = {"crawl-1.googlebot.com"};
  dns.a["crawl-1.googlebot.com"] = {"66.249.66.1"};
  ManualClock clock;
  RdnsVerifier v(dns, clock, noThreads());
  auto a = v.verifyNow(ip("203.0.113.9"), kGoogle);
  EXPECT_EQ(a.state, RdnsState::Failed);
  EXPECT_EQ(a.reason, "not_forward_confirmed");
}

TEST(RdnsVerifier, NoPtrFailsTimeoutStaysPending) {
  FakeDns dns;
  ManualClock clock;
  RdnsVerifier v(dns, clock, noThreads());
  EXPECT_EQ(v.verifyNow(ip("203.0.113.9"), kGoogle).reason, "no_ptr");
  dns.timeout = true;
  EXPECT_EQ(v.verifyNow(ip("203.0.113.9"), kGoogle).state, RdnsState::Pending);
}

TEST(RdnsVerifier, CheckNeverWaitsAndCachesTheAnswer) {
  FakeDns dns;
  dns.ptr["66.249.66.1"] = {"crawl.googlebot.com"};
  dns.a["crawl.googlebot.com"] = {"66.249.66.1"};
  ManualClock clock;
  RdnsVerifier v(dns, clock, noThreads());
  // First sight: pending, one lookup queued, DNS not asked yet.
  EXPECT_EQ(v.check(ip("66.249.66.1"), "googlebot", kGoogle).state, RdnsState::Pending);
  EXPECT_EQ(v.check(ip("66.249.66.1"), "googlebot", kGoogle).state, RdnsState::Pending);
  EXPECT_EQ(dns.questions, 0);
  EXPECT_EQ(v.runQueuedForTest(), 1u);  // queued once, not twice
  EXPECT_EQ(dns.questions, 2);
  EXPECT_EQ(v.check(ip("66.249.66.1"), "googlebot", kGoogle).state, RdnsState::Verified);
  EXPECT_EQ(v.peek(ip("66.249.66.1"), "googlebot").state, RdnsState::Verified);
  EXPECT_EQ(v.runQueuedForTest(), 0u);
  EXPECT_EQ(dns.questions, 2);
  auto s = v.stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.verified, 1u);
  EXPECT_GE(s.hits, 2u);
}

TEST(RdnsVerifier, AnswersExpireByTheirTtl) {
  FakeDns dns;
  dns.ptr["66.249.66.1"] = {"crawl.googlebot.com"};
  dns.a["crawl.googlebot.com"] = {"66.249.66.1"};
  ManualClock clock;
  RdnsOptions o = noThreads();
  o.positive_ttl = std::chrono::seconds(100);
  o.negative_ttl = std::chrono::seconds(10);
  RdnsVerifier v(dns, clock, o);
  v.check(ip("66.249.66.1"), "googlebot", kGoogle);
  v.runQueuedForTest();
  clock.advance(std::chrono::seconds(99));
  EXPECT_EQ(v.check(ip("66.249.66.1"), "googlebot", kGoogle).state, RdnsState::Verified);
  clock.advance(std::chrono::seconds(2));
  // Expired: asked again, pending meanwhile; now the PTR is gone.
  dns.ptr.clear();
  EXPECT_EQ(v.check(ip("66.249.66.1"), "googlebot", kGoogle).state, RdnsState::Pending);
  EXPECT_EQ(v.runQueuedForTest(), 1u);
  EXPECT_EQ(v.check(ip("66.249.66.1"), "googlebot", kGoogle).state, RdnsState::Failed);
  clock.advance(std::chrono::seconds(11));
  EXPECT_EQ(v.check(ip("66.249.66.1"), "googlebot", kGoogle).state, RdnsState::Pending);
}

TEST(RdnsVerifier, ErrorsAreRetriedAfterErrorTtl) {
  FakeDns dns;
  dns.timeout = true;
  ManualClock clock;
  RdnsOptions o = noThreads();
  o.error_ttl = std::chrono::seconds(60);
  RdnsVerifier v(dns, clock, o);
  v.check(ip("66.249.66.1"), "googlebot", kGoogle);
  v.runQueuedForTest();
  EXPECT_EQ(v.stats().errors, 1u);
  v.check(ip("66.249.66.1"), "googlebot", kGoogle);
  EXPECT_EQ(v.runQueuedForTest(), 0u);  // not hammered while the error is cached
  clock.advance(std::chrono::seconds(61));
  v.check(ip("66.249.66.1"), "googlebot", kGoogle);
  EXPECT_EQ(v.runQueuedForTest(), 1u);
}

TEST(RdnsVerifier, CacheAndQueueAreBounded) {
  FakeDns dns;
  ManualClock clock;
  RdnsOptions o = noThreads();
  o.cache_entries = 512;
  o.queue_max = 100;
  RdnsVerifier v(dns, clock, o);
  for (int i = 0; i < 5000; ++i) {
    IpPrefix p = ip("10.0.0.0");
    p.bytes[2] = static_cast<std::uint8_t>(i >> 8);
    p.bytes[3] = static_cast<std::uint8_t>(i);
    p.prefix_len = 32;
    v.check(p, "googlebot", kGoogle);
  }
  auto s = v.stats();
  EXPECT_EQ(s.cache_capacity, 512u);
  EXPECT_LE(s.cache_used, 512u);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_EQ(s.queued, 100u);
  EXPECT_EQ(s.dropped, 5000u - 100u);
}

TEST(RdnsVerifier, ThreadAnswersInTheBackground) {
  FakeDns dns;
  dns.ptr["66.249.66.1"] = {"crawl.googlebot.com"};
  dns.a["crawl.googlebot.com"] = {"66.249.66.1"};
  ManualClock clock;
  RdnsVerifier v(dns, clock);  // one thread
  EXPECT_EQ(v.check(ip("66.249.66.1"), "googlebot", kGoogle).state, RdnsState::Pending);
  RdnsState state = RdnsState::Pending;
  for (int i = 0; i < 2000 && state == RdnsState::Pending; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    state = v.peek(ip("66.249.66.1"), "googlebot").state;
  }
  EXPECT_EQ(state, RdnsState::Verified);
}

// The cache keeps a truncated copy of the PTR name (63 bytes) for logs;
// the verdict is whole.
TEST(RdnsVerifier, CachedNameIsTruncatedTo63Bytes) {
  FakeDns dns;
  const std::string name = std::string(80, 'a') + ".googlebot.com";
  dns.ptr["66.249.66.1"] = {name};
  dns.a[name] = {"66.249.66.1"};
  ManualClock clock;
  RdnsVerifier v(dns, clock, noThreads());
  v.check(ip("66.249.66.1"), "googlebot", kGoogle);
  ASSERT_EQ(v.runQueuedForTest(), 1u);
  const RdnsAnswer a = v.check(ip("66.249.66.1"), "googlebot", kGoogle);
  EXPECT_EQ(a.state, RdnsState::Verified);
  EXPECT_EQ(a.name, name.substr(0, 63));
  EXPECT_EQ(v.peek(ip("66.249.66.1"), "googlebot").name, name.substr(0, 63));
}

// Workers racing on one uncached claim: the one that marks the entry in
// flight queues the lookup, every other call is a hit on the mark; once
// the answer is stored, all see it.
TEST(RdnsVerifierConcurrency, RacingChecksQueueOneLookup) {
  FakeDns dns;
  dns.ptr["66.249.66.1"] = {"crawl.googlebot.com"};
  dns.a["crawl.googlebot.com"] = {"66.249.66.1"};
  ManualClock clock;
  RdnsVerifier v(dns, clock, noThreads());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t)
    workers.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i)
        EXPECT_EQ(v.check(ip("66.249.66.1"), "googlebot", kGoogle).state, RdnsState::Pending);
    });
  for (auto& w : workers) w.join();
  RdnsStats s = v.stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, static_cast<std::uint64_t>(kThreads * kPerThread - 1));
  EXPECT_EQ(s.queued, 1u);
  ASSERT_EQ(v.runQueuedForTest(), 1u);
  workers.clear();
  for (int t = 0; t < kThreads; ++t)
    workers.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        const RdnsAnswer a = v.check(ip("66.249.66.1"), "googlebot", kGoogle);
        EXPECT_EQ(a.state, RdnsState::Verified);
        EXPECT_EQ(a.name, "crawl.googlebot.com");
      }
    });
  for (auto& w : workers) w.join();
  EXPECT_EQ(v.stats().misses, 1u);
}

// A spray of distinct addresses from four workers while a fifth stores
// answers: the cache stays within its capacity, every call is a hit, a
// miss or a drop, and no call ever gets another address's verdict (only
// the one listed crawler address can be Verified).
TEST(RdnsVerifierConcurrency, SprayFromManyThreadsStaysBounded) {
  FakeDns dns;
  dns.ptr["66.249.66.1"] = {"crawl.googlebot.com"};
  dns.a["crawl.googlebot.com"] = {"66.249.66.1"};
  for (int i = 0; i < 256; ++i) {
    const std::string name = "x" + std::to_string(i) + ".googlebot.com";
    dns.ptr["10.0.0." + std::to_string(i)] = {name};
    dns.a[name] = {"192.0.2.1"};  // does not resolve back: Failed
  }
  ManualClock clock;
  RdnsOptions o = noThreads();
  o.cache_entries = 512;
  o.queue_max = 100;
  RdnsVerifier v(dns, clock, o);
  constexpr int kThreads = 4;
  constexpr int kSpray = 20000;
  std::atomic<bool> done{false};
  std::thread resolver([&] {
    while (!done.load()) (void)v.runQueuedForTest();
  });
  std::atomic<int> wrong{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t)
    workers.emplace_back([&, t] {
      for (int i = 0; i < kSpray; ++i) {
        IpPrefix p = ip("10.0.0.0");
        const unsigned n = static_cast<unsigned>(t * kSpray + i);
        p.bytes[1] = static_cast<std::uint8_t>(n >> 16);
        p.bytes[2] = static_cast<std::uint8_t>(n >> 8);
        p.bytes[3] = static_cast<std::uint8_t>(n);
        if (v.check(p, "googlebot", kGoogle).state == RdnsState::Verified) ++wrong;
        if (v.check(ip("66.249.66.1"), "googlebot", kGoogle).state == RdnsState::Failed) ++wrong;
      }
    });
  for (auto& w : workers) w.join();
  done = true;
  resolver.join();
  EXPECT_EQ(wrong.load(), 0);
  const RdnsStats s = v.stats();
  EXPECT_EQ(s.cache_capacity, 512u);
  EXPECT_LE(s.cache_used, 512u);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_LE(s.queued, 100u);
  // A call is a hit, a miss (then queued or dropped) or, without a slot,
  // a drop alone.
  const auto calls = static_cast<std::uint64_t>(2 * kThreads * kSpray);
  EXPECT_LE(s.hits + s.misses, calls);
  EXPECT_GE(s.hits + s.misses + s.dropped, calls);
}

// A DNS safe to call from several threads, where every address has no PTR
// (a quick Failed answer). Lookups can be held at a gate to keep the
// verifier's threads busy; it records which addresses were asked.
class GatedDns final : public DnsLookup {
 public:
  common::Result<std::vector<std::string>> reverse(const IpPrefix& address) override {
    std::unique_lock lock(mu_);
    asked_.insert(address.toString());
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    return Error{ENOENT, "NXDOMAIN"};
  }
  common::Result<std::vector<IpPrefix>> forward(const std::string&, bool) override {
    return Error{ENOENT, "NXDOMAIN"};
  }
  void setOpen(bool open) {
    std::lock_guard lock(mu_);
    open_ = open;
    cv_.notify_all();
  }
  // Waits (up to 10 s) until `n` lookups have started.
  bool waitEntered(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return entered_ >= n; });
  }
  int entered() {
    std::lock_guard lock(mu_);
    return entered_;
  }
  std::set<std::string> asked() {
    std::lock_guard lock(mu_);
    return asked_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int entered_ = 0;
  std::set<std::string> asked_;
};

IpPrefix nthAddress(int n) {
  IpPrefix p = ip("10.0.0.0");
  p.bytes[1] = static_cast<std::uint8_t>(n >> 16);
  p.bytes[2] = static_cast<std::uint8_t>(n >> 8);
  p.bytes[3] = static_cast<std::uint8_t>(n);
  p.prefix_len = 32;
  return p;
}

// Polls `done` (yielding) for up to 10 s; the threads under test run on
// their own schedule, so a test can only wait for what they do.
template <class Done>
bool eventually(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// A DNS where every address has a googlebot.com PTR but only 66.249.0.0/16
// resolves back: any 66.249 address verifies, any other fails. Stateless,
// so any thread may ask.
class PatternDns final : public DnsLookup {
 public:
  common::Result<std::vector<std::string>> reverse(const IpPrefix& address) override {
    return std::vector<std::string>{"crawl-" + address.toString() + ".googlebot.com"};
  }
  common::Result<std::vector<IpPrefix>> forward(const std::string& name, bool) override {
    const std::string text = name.substr(6, name.size() - 6 - 14);
    if (text.rfind("66.249.", 0) != 0) return Error{ENOENT, "NXDOMAIN"};
    return std::vector<IpPrefix>{ip(text.c_str())};
  }
};

// A Verified answer stored for one address must never be read as the
// answer of another whose entry took the slot over while the answer was
// being written (a fake crawler would skip the under-attack challenge).
// One thread runs lookups of genuine crawler addresses while another
// sprays checks of other addresses through the same single set of eight
// slots, so slots are evicted under the storing thread.
TEST(RdnsVerifierConcurrency, AnswerNeverLandsInAnotherAddressEntry) {
  PatternDns dns;
  ManualClock clock;
  RdnsOptions o = noThreads();
  o.cache_entries = 8;  // one set: every new address evicts
  // Failed answers outweigh lookups in flight, which outweigh Verified
  // ones: the slot of a lookup being answered is the one evicted.
  o.positive_ttl = std::chrono::seconds(1);
  o.negative_ttl = std::chrono::seconds(3600);
  o.queue_max = 64;
  RdnsVerifier v(dns, clock, o);
  // The race is a window of a few stores: before the fix about one run in
  // five of this length saw a fake crawler verified. Bounded in time too,
  // so that the sanitizer builds (many times slower) stay quick.
  constexpr int kRounds = 400000;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  std::atomic<bool> done{false};
  std::atomic<int> verified_good{0};
  std::thread storer([&] {
    IpPrefix good = ip("66.249.0.0");
    for (int i = 0; i < kRounds && (i % 1024 != 0 || std::chrono::steady_clock::now() < deadline);
         ++i) {
      good.bytes[2] = static_cast<std::uint8_t>(i >> 8);
      good.bytes[3] = static_cast<std::uint8_t>(i);
      v.check(good, "googlebot", kGoogle);
      v.runQueuedForTest();
      if (v.peek(good, "googlebot").state == RdnsState::Verified) ++verified_good;
    }
    done = true;
  });
  IpPrefix fake = ip("172.16.0.0");
  std::uint32_t n = 0, wrongly_verified = 0;
  while (!done.load()) {
    fake.bytes[1] = static_cast<std::uint8_t>(16 + ((n >> 16) & 15));
    fake.bytes[2] = static_cast<std::uint8_t>(n >> 8);
    fake.bytes[3] = static_cast<std::uint8_t>(n);
    ++n;
    if (v.check(fake, "googlebot", kGoogle).state == RdnsState::Verified) ++wrongly_verified;
    if (v.peek(fake, "googlebot").state == RdnsState::Verified) ++wrongly_verified;
  }
  storer.join();
  EXPECT_GT(verified_good.load(), 0);  // the storing side did store answers
  EXPECT_EQ(wrongly_verified, 0u) << "of " << n << " fake crawler addresses";
}

// A DNS whose every answer names its address, so that a reader can tell
// whose name it was given: by the address's last byte mod 4, a PTR
// "crawl-<address>.googlebot.com" that resolves back (Verified), a PTR
// "crawl-<address>.example.net" outside the domains, no PTR, or a
// googlebot.com PTR that resolves elsewhere. Stateless: any thread.
class NamedDns final : public DnsLookup {
 public:
  common::Result<std::vector<std::string>> reverse(const IpPrefix& address) override {
    switch (address.bytes[3] % 4) {
      case 1:
        return std::vector<std::string>{"crawl-" + address.toString() + ".example.net"};
      case 2:
        return Error{ENOENT, "NXDOMAIN"};
      default:
        return std::vector<std::string>{"crawl-" + address.toString() + ".googlebot.com"};
    }
  }
  common::Result<std::vector<IpPrefix>> forward(const std::string& name, bool) override {
    const std::string text = name.substr(6, name.size() - 6 - 14);
    const IpPrefix back = ip(text.c_str());
    if (back.bytes[3] % 4 == 0) return std::vector<IpPrefix>{back};
    return std::vector<IpPrefix>{ip("192.0.2.1")};
  }
  // The answer a verifier must give for `address` once it has one.
  static RdnsAnswer expected(const IpPrefix& address) {
    const std::string a = address.toString();
    switch (address.bytes[3] % 4) {
      case 0:
        return {RdnsState::Verified, "crawl-" + a + ".googlebot.com", ""};
      case 1:
        return {RdnsState::Failed, "crawl-" + a + ".example.net", "ptr_outside_domains"};
      case 2:
        return {RdnsState::Failed, "", "no_ptr"};
      default:
        return {RdnsState::Failed, "crawl-" + a + ".googlebot.com", "not_forward_confirmed"};
    }
  }
};

// Every answer read for an address is that address's own: its verdict,
// its PTR name and its reason, never another address's name or reason that
// a store landed in the slot after the slot was handed over (the name and
// reason are only logged, but a BOT record naming another crawler host is
// wrong), nor a name torn or zeroed by the slot's re-keying. Two threads
// store answers while two read them, for 12 addresses through one set of
// eight slots, so slots change hands under the storers and readers and come
// back to the same address while an answer is being read; answers outlive
// in-flight marks, so the slot of a lookup being answered is the one
// evicted. Before the fix 3 runs of 12 on a quiet 2-core machine, 19 of 40
// with a build running beside them, read an answer with a name or reason
// not its own (zeroed or torn: the slot was re-keyed under the reader).
// Bounded in time for the sanitizer builds.
TEST(RdnsVerifierConcurrency, AnswerNameAndReasonAreTheAddressOwn) {
  NamedDns dns;
  ManualClock clock;
  RdnsOptions o = noThreads();
  o.cache_entries = 8;
  o.positive_ttl = std::chrono::seconds(3600);
  o.negative_ttl = std::chrono::seconds(3600);
  o.queue_max = 256;
  RdnsVerifier v(dns, clock, o);
  constexpr int kAddresses = 12;
  constexpr int kStorers = 2;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> answers{0}, wrong{0}, stored{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kStorers; ++t)
    threads.emplace_back([&] {
      while (!done.load(std::memory_order_relaxed))
        stored.fetch_add(v.runQueuedForTest(), std::memory_order_relaxed);
    });
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      std::uint32_t n = static_cast<std::uint32_t>(t) * 7919u;
      for (std::uint64_t i = 0;; ++i) {
        if (i % 1024 == 0 && std::chrono::steady_clock::now() > deadline) break;
        const IpPrefix p = nthAddress(static_cast<int>(n++ % kAddresses));
        const RdnsAnswer want = NamedDns::expected(p);
        for (const RdnsAnswer& got : {v.check(p, "googlebot", kGoogle), v.peek(p, "googlebot")}) {
          if (got.state == RdnsState::Pending) {
            if (!got.name.empty() || !got.reason.empty()) wrong.fetch_add(1);
            continue;
          }
          answers.fetch_add(1, std::memory_order_relaxed);
          if (got.state != want.state || got.name != want.name || got.reason != want.reason) {
            if (wrong.fetch_add(1) < 5)
              ADD_FAILURE() << p.toString() << " read " << rdnsStateName(got.state) << " '"
                            << got.name << "' '" << got.reason << "'";
          }
        }
      }
    });
  for (std::size_t i = kStorers; i < threads.size(); ++i) threads[i].join();
  done = true;
  for (int i = 0; i < kStorers; ++i) threads[i].join();
  EXPECT_GT(stored.load(), 0u);
  EXPECT_GT(answers.load(), 0u);  // the readers did read answers
  EXPECT_EQ(wrong.load(), 0u) << "of " << answers.load() << " answers read";
}

// The cached answer of each outcome carries its own name and reason (the
// reason is kept as a code in the status word), through check() and peek().
TEST(RdnsVerifier, CachedAnswersKeepTheirNameAndReason) {
  NamedDns dns;
  ManualClock clock;
  RdnsVerifier v(dns, clock, noThreads());
  for (int i = 4; i < 8; ++i)
    EXPECT_EQ(v.check(nthAddress(i), "googlebot", kGoogle).state, RdnsState::Pending);
  ASSERT_EQ(v.runQueuedForTest(), 4u);
  for (int i = 4; i < 8; ++i) {
    const IpPrefix p = nthAddress(i);
    const RdnsAnswer want = NamedDns::expected(p);
    for (const RdnsAnswer& got : {v.check(p, "googlebot", kGoogle), v.peek(p, "googlebot")}) {
      EXPECT_EQ(got.state, want.state) << p.toString();
      EXPECT_EQ(got.name, want.name) << p.toString();
      EXPECT_EQ(got.reason, want.reason) << p.toString();
    }
  }
}

// The figure docs/bots.md ("Memory") and docs/config.md give per entry.
TEST(RdnsVerifier, CacheSlotIs104Bytes) { EXPECT_EQ(RdnsVerifier::cacheSlotBytesForTest(), 104u); }

// The race a reviewer found, made deterministic: a store() finds its
// address's entry, and before it writes, the slot is evicted, handed to
// another address and given that address's answer. The store must write
// nothing there: before the fix it wrote its PTR name (and its status,
// which hid the other address's answer until asked again), so a reader
// between its name and its status read the other address's verdict with
// this address's name.
TEST(RdnsVerifierConcurrency, StoreIntoASlotHandedToAnotherAddressWritesNothing) {
  NamedDns dns;
  ManualClock clock;
  RdnsOptions o = noThreads();
  o.cache_entries = 8;  // one set
  o.positive_ttl = std::chrono::seconds(3600);
  o.negative_ttl = std::chrono::seconds(3600);
  RdnsVerifier v(dns, clock, o);
  for (int i = 1; i <= 7; ++i) v.check(nthAddress(i), "googlebot", kGoogle);
  ASSERT_EQ(v.runQueuedForTest(), 7u);
  // The eighth slot, in flight: the one that expires first, so evicted next.
  const IpPrefix mine = nthAddress(8);    // Verified, crawl-10.0.0.8.googlebot.com
  const IpPrefix other = nthAddress(13);  // Failed, ptr_outside_domains, its own name
  ASSERT_EQ(v.check(mine, "googlebot", kGoogle).state, RdnsState::Pending);
  int fired = 0;
  v.setStoreHookForTest([&](RdnsVerifier::StorePointForTest point) {
    if (point != RdnsVerifier::StorePointForTest::Found || fired++ != 0)
      return;  // only where mine's store found its entry
    EXPECT_EQ(v.check(other, "googlebot", kGoogle).state, RdnsState::Pending);
    EXPECT_EQ(v.runQueuedForTest(), 1u);  // other's answer, stored in mine's old slot
    EXPECT_EQ(v.peek(other, "googlebot").name, NamedDns::expected(other).name);
  });
  ASSERT_EQ(v.runQueuedForTest(), 1u);
  ASSERT_EQ(fired, 2);
  const RdnsAnswer want = NamedDns::expected(other);
  for (const RdnsAnswer& got : {v.peek(other, "googlebot"), v.check(other, "googlebot", kGoogle)}) {
    EXPECT_EQ(got.state, want.state);
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.reason, want.reason);
  }
  // Mine's answer went with its slot: it is asked for again, and then read.
  v.setStoreHookForTest(nullptr);
  EXPECT_EQ(v.peek(mine, "googlebot").state, RdnsState::Pending);
  EXPECT_EQ(v.check(mine, "googlebot", kGoogle).state, RdnsState::Pending);
  ASSERT_EQ(v.runQueuedForTest(), 1u);
  EXPECT_EQ(v.peek(mine, "googlebot").name, NamedDns::expected(mine).name);
  EXPECT_EQ(v.peek(mine, "googlebot").state, RdnsState::Verified);
}

// The other window: a store() holds the entry's write sequence, having
// checked that the entry is still its address's, when a request hands the
// slot to another address. The request must not wait for the writer (the
// re-keying does not take the sequence); the other address's own answer,
// stored meanwhile, finds the sequence held and is dropped after a bounded
// wait (asked for again); and what the first store then writes into the
// slot, with its own key as owner and its own tag, is never read as the
// other address's answer or name.
TEST(RdnsVerifierConcurrency, StoreWritingWhileItsSlotIsHandedOverLendsNothing) {
  NamedDns dns;
  ManualClock clock;
  RdnsOptions o = noThreads();
  o.cache_entries = 8;  // one set
  o.positive_ttl = std::chrono::seconds(3600);
  o.negative_ttl = std::chrono::seconds(3600);
  RdnsVerifier v(dns, clock, o);
  for (int i = 1; i <= 7; ++i) v.check(nthAddress(i), "googlebot", kGoogle);
  ASSERT_EQ(v.runQueuedForTest(), 7u);
  const IpPrefix mine = nthAddress(8);    // Verified, crawl-10.0.0.8.googlebot.com
  const IpPrefix other = nthAddress(13);  // Failed, ptr_outside_domains, its own name
  ASSERT_EQ(v.check(mine, "googlebot", kGoogle).state, RdnsState::Pending);
  int fired = 0;
  v.setStoreHookForTest([&](RdnsVerifier::StorePointForTest point) {
    if (point != RdnsVerifier::StorePointForTest::Writing || fired++ != 0) return;
    // Mine's slot (in flight: it expires first) goes to other; this
    // returns without waiting on the held sequence.
    EXPECT_EQ(v.check(other, "googlebot", kGoogle).state, RdnsState::Pending);
    EXPECT_EQ(v.runQueuedForTest(), 1u);  // other's lookup: its store gives up
    EXPECT_EQ(v.peek(other, "googlebot").state, RdnsState::Pending);
  });
  ASSERT_EQ(v.runQueuedForTest(), 1u);
  ASSERT_EQ(fired, 1);  // other's store never reached Writing
  v.setStoreHookForTest(nullptr);
  // Mine's words now sit in other's slot: no reader of other takes them.
  const RdnsAnswer peeked = v.peek(other, "googlebot");
  EXPECT_EQ(peeked.state, RdnsState::Pending);
  EXPECT_EQ(peeked.name, "");
  const RdnsAnswer checked = v.check(other, "googlebot", kGoogle);  // asks again
  EXPECT_EQ(checked.state, RdnsState::Pending);
  EXPECT_EQ(checked.name, "");
  ASSERT_EQ(v.runQueuedForTest(), 1u);
  const RdnsAnswer want = NamedDns::expected(other);
  for (const RdnsAnswer& got : {v.peek(other, "googlebot"), v.check(other, "googlebot", kGoogle)}) {
    EXPECT_EQ(got.state, want.state);
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.reason, want.reason);
  }
}

TEST(RdnsVerifier, ManyProducersOverCapacityExactlyCapacityAccepted) {
  GatedDns dns;
  ManualClock clock;
  RdnsOptions o = noThreads();
  o.cache_entries = 8192;  // every address fits: each check is a miss
  o.queue_max = 100;
  RdnsVerifier v(dns, clock, o);
  constexpr int kThreads = 8, kPerThread = 500;
  std::atomic<bool> go{false};
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) v.check(nthAddress(t * kPerThread + i), "googlebot", kGoogle);
    });
  }
  go.store(true);
  for (auto& p : producers) p.join();
  auto s = v.stats();
  EXPECT_EQ(s.misses, std::uint64_t{kThreads * kPerThread});
  EXPECT_EQ(s.queued, 100u);
  EXPECT_EQ(s.dropped, std::uint64_t{kThreads * kPerThread - 100});
  EXPECT_EQ(v.runQueuedForTest(), 100u);
  EXPECT_EQ(dns.asked().size(), 100u);  // 100 different addresses, each intact
  EXPECT_EQ(v.stats().failed, 100u);
  EXPECT_EQ(v.stats().queued, 0u);
}

TEST(RdnsVerifier, ProducersAndLookupThreadsTogetherLoseNoJob) {
  GatedDns dns;
  ManualClock clock;
  RdnsOptions o;
  o.threads = 2;
  o.cache_entries = 8192;
  o.queue_max = 16;  // small: producers overrun it while the threads drain it
  RdnsVerifier v(dns, clock, o);
  constexpr int kThreads = 4, kPerThread = 1000;
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) v.check(nthAddress(t * kPerThread + i), "googlebot", kGoogle);
    });
  }
  for (auto& p : producers) p.join();
  const auto s = v.stats();
  EXPECT_EQ(s.misses, std::uint64_t{kThreads * kPerThread});
  const std::uint64_t accepted = s.misses - s.dropped;
  EXPECT_GE(accepted, 16u);
  // Every accepted lookup runs, once.
  ASSERT_TRUE(eventually([&] { return v.stats().failed == accepted; }));
  EXPECT_EQ(dns.asked().size(), accepted);
}

TEST(RdnsVerifier, ShutdownWithAFullQueueDropsItAndJoins) {
  GatedDns dns;
  dns.setOpen(false);
  ManualClock clock;
  RdnsOptions o;
  o.threads = 1;
  o.queue_max = 4;
  auto* v = new RdnsVerifier(dns, clock, o);
  v->check(nthAddress(0), "googlebot", kGoogle);
  ASSERT_TRUE(dns.waitEntered(1));  // the thread is inside that lookup, held
  for (int i = 1; i <= 5; ++i) v->check(nthAddress(i), "googlebot", kGoogle);
  EXPECT_EQ(v->stats().queued, 4u);
  EXPECT_EQ(v->stats().dropped, 1u);
  std::thread destroyer([v] { delete v; });
  // The destructor takes the queued lookups off before it joins; the thread
  // is still held, so an empty queue means the destructor got that far.
  // (v stays valid: its destructor cannot finish while the lookup is held.)
  EXPECT_TRUE(eventually([&] { return v->stats().queued == 0; }));
  dns.setOpen(true);
  destroyer.join();
  EXPECT_EQ(dns.entered(), 1);  // the four queued lookups never ran
}

TEST(RdnsVerifier, NoLostWakeUpForAJobAfterTheThreadsWentIdle) {
  GatedDns dns;
  ManualClock clock;
  RdnsOptions o;
  o.threads = 2;
  RdnsVerifier v(dns, clock, o);
  // Each round: both threads asleep (or about to be), then exactly one job.
  // A wake-up lost to the push/sleep race shows as a round that never ends.
  for (int round = 0; round < 200; ++round) {
    ASSERT_TRUE(eventually([&] { return v.idleThreadsForTest() == 2; })) << "round " << round;
    // Push right away (the threads may still be spinning before the futex
    // wait) or, every fourth round, once they are surely in the kernel.
    if (round % 4 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const IpPrefix address = nthAddress(round);
    EXPECT_EQ(v.check(address, "googlebot", kGoogle).state, RdnsState::Pending);
    ASSERT_TRUE(eventually([&] { return v.peek(address, "googlebot").state == RdnsState::Failed; }))
        << "round " << round << ": the queued lookup was never run";
  }
  EXPECT_EQ(v.stats().failed, 200u);
  EXPECT_EQ(v.stats().dropped, 0u);
}

TEST(ResolverLookup, RefusesBadServers) {
  EXPECT_FALSE(ResolverLookup::create("dns.example", std::chrono::seconds(1)).ok());
  EXPECT_FALSE(ResolverLookup::create("127.0.0.1:0", std::chrono::seconds(1)).ok());
  EXPECT_FALSE(ResolverLookup::create("127.0.0.1:x", std::chrono::seconds(1)).ok());
  EXPECT_TRUE(ResolverLookup::create("127.0.0.1:5353", std::chrono::seconds(1)).ok());
}

// A tiny DNS server on loopback port 0 answering one PTR and one A
// question, so ResolverLookup's wire path (res_nquery, ns_parserr,
// dn_expand) runs for real without any outside DNS.
class OneShotDns {
 public:
  OneShotDns() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~OneShotDns() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    // Join before close: the server thread may be inside recvfrom(fd_), and
    // a closed number can be handed to the next open() (TSan reports it).
    thread_.join();
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }

 private:
  static void name(std::string& out, const std::string& dotted) {
    std::size_t start = 0;
    while (start < dotted.size()) {
      std::size_t dot = dotted.find('.', start);
      if (dot == std::string::npos) dot = dotted.size();
      out += static_cast<char>(dot - start);
      out += dotted.substr(start, dot - start);
      start = dot + 1;
    }
    out += '\0';
  }
  void serve() {
    timeval tv{0, 100000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (!stop_) {
      unsigned char q[512];
      sockaddr_in from{};
      socklen_t flen = sizeof(from);
      const ssize_t n = ::recvfrom(fd_, q, sizeof(q), 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n < 12) continue;
      // Question name ends at the first zero label after offset 12.
      std::size_t p = 12;
      while (p < static_cast<std::size_t>(n) && q[p] != 0) p += q[p] + 1;
      const std::size_t qend = p + 5;  // zero byte, qtype, qclass
      if (qend > static_cast<std::size_t>(n)) continue;
      const int qtype = (q[p + 1] << 8) | q[p + 2];
      std::string r(reinterpret_cast<char*>(q), qend);
      r[2] = static_cast<char>(0x81);  // QR, RD
      r[3] = static_cast<char>(0x80);  // RA, NOERROR
      r[6] = 0;
      r[7] = 1;  // one answer
      r += "\xc0\x0c";  // pointer to the question name
      r += static_cast<char>(0);
      r += static_cast<char>(qtype);
      r += std::string("\x00\x01\x00\x00\x00\x3c", 6);  // IN, TTL 60
      std::string rdata;
      if (qtype == 12) name(rdata, "crawl-1.googlebot.com");
      else rdata = std::string("\x42\xf9\x42\x01", 4);  // 66.249.66.1
      r += static_cast<char>(rdata.size() >> 8);
      r += static_cast<char>(rdata.size() & 0xff);
      r += rdata;
      ::sendto(fd_, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
    }
  }
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(ResolverLookup, AsksTheConfiguredServer) {
  OneShotDns server;
  auto lookup = ResolverLookup::create("127.0.0.1:" + std::to_string(server.port()),
                                       std::chrono::seconds(2));
  ASSERT_TRUE(lookup.ok());
  auto names = (*lookup)->reverse(ip("66.249.66.1"));
  ASSERT_TRUE(names.ok()) << names.error().message;
  ASSERT_EQ(names->size(), 1u);
  EXPECT_EQ(names->front(), "crawl-1.googlebot.com");
  auto addrs = (*lookup)->forward("crawl-1.googlebot.com", false);
  ASSERT_TRUE(addrs.ok()) << addrs.error().message;
  ASSERT_EQ(addrs->size(), 1u);
  EXPECT_EQ(addrs->front().toString(), "66.249.66.1");
  ManualClock clock;
  RdnsOptions o;
  o.threads = 0;
  RdnsVerifier v(**lookup, clock, o);
  EXPECT_EQ(v.verifyNow(ip("66.249.66.1"), kGoogle).state, RdnsState::Verified);
}

}  // namespace
}  // namespace mamori::guard
