#include "guard/rdns_verifier.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "guard/bot_lists.h"
#include "guard/keyed_hash.h"

namespace mamori::guard {

using common::Error;
using common::IpPrefix;
using common::Result;

// --- ResolverLookup ----------------------------------------------------------

Result<std::unique_ptr<ResolverLookup>> ResolverLookup::create(const std::string& server,
                                                               std::chrono::seconds timeout) {
  std::unique_ptr<ResolverLookup> out(new ResolverLookup());
  out->timeout_s_ = static_cast<int>(std::clamp<std::int64_t>(timeout.count(), 1, 30));
  if (server.empty()) return out;
  std::string ip = server;
  const auto colon = server.rfind(':');
  if (colon != std::string::npos) {
    ip = server.substr(0, colon);
    const std::string port = server.substr(colon + 1);
    char* end = nullptr;
    const unsigned long p = std::strtoul(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || p == 0 || p > 65535)
      return Error{EINVAL, "resolver '" + server + "': bad port"};
    out->server_port_ = static_cast<std::uint16_t>(p);
  }
  in_addr a{};
  if (inet_pton(AF_INET, ip.c_str(), &a) != 1)
    return Error{EINVAL, "resolver '" + server + "': not an IPv4 address[:port]"};
  out->server_ip_ = ip;
  return out;
}

namespace {

// One resolver state per thread, initialised once for the server it was
// first used with (a verifier uses one server for its whole life).
struct ThreadResolver {
  struct __res_state state {};
  bool ready = false;
  std::string server;  // "ip:port" the state points at ("" resolv.conf)
  ~ThreadResolver() {
    if (ready) res_nclose(&state);
  }
};

Result<res_state> threadState(const std::string& ip, std::uint16_t port, int timeout_s) {
  thread_local ThreadResolver r;
  const std::string server = ip + ":" + std::to_string(port) + "/" + std::to_string(timeout_s);
  if (r.ready && r.server != server) {
    res_nclose(&r.state);
    r.state = {};
    r.ready = false;
  }
  if (!r.ready) {
    r.server = server;
    if (res_ninit(&r.state) != 0) return Error{EIO, "res_ninit failed"};
    r.ready = true;
    if (!ip.empty()) {
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(port);
      inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
      r.state.nsaddr_list[0] = sa;
      r.state.nscount = 1;
    }
    r.state.retrans = timeout_s;
    r.state.retry = 1;
    // No search-list expansion: names are fully qualified.
    r.state.options &= ~static_cast<unsigned long>(RES_DNSRCH | RES_DEFNAMES);
  }
  return &r.state;
}

// Sends one question; returns the answer section's records of `type`.
Result<std::vector<std::vector<unsigned char>>> query(res_state st, const std::string& name,
                                                      int type, std::vector<std::string>* names) {
  unsigned char answer[4096];
  const int n = res_nquery(st, name.c_str(), ns_c_in, type, answer, sizeof(answer));
  if (n < 0) {
    // h_errno of the state: HOST_NOT_FOUND (NXDOMAIN) and NO_DATA are
    // answers; TRY_AGAIN (timeout, SERVFAIL) and NO_RECOVERY are not.
    const int h = st->res_h_errno;
    if (h == HOST_NOT_FOUND || h == NO_DATA) return Error{ENOENT, name + ": no such record"};
    return Error{ETIMEDOUT, name + ": no answer from the resolver"};
  }
  ns_msg msg;
  if (ns_initparse(answer, n, &msg) != 0) return Error{EIO, name + ": malformed DNS answer"};
  std::vector<std::vector<unsigned char>> out;
  const int count = ns_msg_count(msg, ns_s_an);
  for (int i = 0; i < count; ++i) {
    ns_rr rr;
    if (ns_parserr(&msg, ns_s_an, i, &rr) != 0) return Error{EIO, name + ": malformed record"};
    if (ns_rr_type(rr) != type) continue;  // CNAMEs on the way
    if (type == ns_t_ptr && names) {
      char expanded[NS_MAXDNAME];
      if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr), expanded,
                    sizeof(expanded)) < 0)
        return Error{EIO, name + ": malformed PTR"};
      names->emplace_back(expanded);
      continue;
    }
    out.emplace_back(ns_rr_rdata(rr), ns_rr_rdata(rr) + ns_rr_rdlen(rr));
  }
  return out;
}

}  // namespace

std::string reverseName(const IpPrefix& address) {
  char buf[80];
  std::string out;
  if (!address.is_v6) {
    std::snprintf(buf, sizeof(buf), "%u.%u.%u.%u.in-addr.arpa", address.bytes[3], address.bytes[2],
                  address.bytes[1], address.bytes[0]);
    return buf;
  }
  static const char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out += kHex[address.bytes[static_cast<std::size_t>(i)] & 0xf];
    out += '.';
    out += kHex[address.bytes[static_cast<std::size_t>(i)] >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

Result<std::vector<std::string>> ResolverLookup::reverse(const IpPrefix& address) {
  auto st = threadState(server_ip_, server_port_, timeout_s_);
  if (!st) return st.error();
  std::vector<std::string> names;
  auto r = query(*st, reverseName(address), ns_t_ptr, &names);
  if (!r) return r.error();
  if (names.empty()) return Error{ENOENT, reverseName(address) + ": no PTR record"};
  return names;
}

Result<std::vector<IpPrefix>> ResolverLookup::forward(const std::string& name, bool v6) {
  auto st = threadState(server_ip_, server_port_, timeout_s_);
  if (!st) return st.error();
  auto r = query(*st, name, v6 ? ns_t_aaaa : ns_t_a, nullptr);
  if (!r) return r.error();
  std::vector<IpPrefix> out;
  for (const auto& rdata : *r) {
    if (rdata.size() != (v6 ? 16u : 4u)) continue;
    IpPrefix p;
    p.is_v6 = v6;
    std::copy(rdata.begin(), rdata.end(), p.bytes.begin());
    p.prefix_len = v6 ? 128 : 32;
    out.push_back(p);
  }
  return out;
}

// --- RdnsVerifier --------------------------------------------------------------

const char* rdnsStateName(RdnsState state) {
  switch (state) {
    case RdnsState::Pending: return "pending";
    case RdnsState::Verified: return "verified";
    case RdnsState::Failed: return "failed";
  }
  return "unknown";
}

namespace {

// One key for the process: the cache is not attacker-keyed beyond the
// address, but a keyed hash keeps a spray from aiming at one set.
const KeyedHash& cacheHash() {
  static const KeyedHash h = KeyedHash::random();
  return h;
}

// Entry::status: expiry (clock seconds, 36 bits) << 28 | tag << 8 |
// reason << 5 | in_flight << 4 | state. The tag (20 bits of the key) says
// whose status it is: store() and check() can write the status of a slot
// that was handed to another key after they found it (no lock between
// finding and writing), and without the tag the other key would read that
// answer, e.g. a crawler's Verified, as its own. A status with another
// key's tag counts as no answer (and is overwritten by the key's own
// lookup). The reason is one of kReasons, so it is written and read with
// the verdict it explains.
constexpr std::uint64_t kInFlight = 1u << 4;
constexpr int kReasonShift = 5;
constexpr std::uint64_t kReasonMask = 0x7;
constexpr int kTagShift = 8;
constexpr std::uint64_t kTagMask = 0xfffff;
constexpr int kExpiryShift = 28;
constexpr std::int64_t kMaxExpiry = (std::int64_t{1} << 36) - 1;

// The reasons verifyNow() gives, by their code in the status word (0: none).
constexpr std::array<const char*, 4> kReasons = {"", "no_ptr", "ptr_outside_domains",
                                                 "not_forward_confirmed"};
constexpr std::uint64_t kNoPtr = 1;
constexpr std::uint64_t kPtrOutsideDomains = 2;
constexpr std::uint64_t kNotForwardConfirmed = 3;
static_assert(kReasons.size() <= kReasonMask + 1);

// The code of `reason`; 0 (none) for a string that is not one of
// kReasons, which only verifyNow() produces.
std::uint64_t reasonCode(const std::string& reason) {
  for (std::size_t i = 1; i < kReasons.size(); ++i)
    if (reason == kReasons[i]) return i;
  return 0;
}

std::uint64_t tagOfKey(std::uint64_t key) { return (key >> 40) & kTagMask; }
std::uint64_t packStatus(std::int64_t expires_s, bool in_flight, RdnsState state, std::uint64_t tag,
                         std::uint64_t reason = 0) {
  return (static_cast<std::uint64_t>(std::clamp<std::int64_t>(expires_s, 0, kMaxExpiry))
          << kExpiryShift) |
         (tag << kTagShift) | ((reason & kReasonMask) << kReasonShift) |
         (in_flight ? kInFlight : 0) | static_cast<std::uint64_t>(state);
}
// Expiry whoever's the status is (the eviction weight).
std::int64_t expiresOf(std::uint64_t status) {
  return static_cast<std::int64_t>(status >> kExpiryShift);
}
// Expiry of `tag`'s status; 0 (expired) when the status is another key's.
std::int64_t expiresFor(std::uint64_t status, std::uint64_t tag) {
  return ((status >> kTagShift) & kTagMask) == tag ? expiresOf(status) : 0;
}
bool inFlightOf(std::uint64_t status) { return (status & kInFlight) != 0; }
RdnsState stateOf(std::uint64_t status) { return static_cast<RdnsState>(status & 0xf); }
const char* reasonOf(std::uint64_t status) {
  const std::uint64_t code = (status >> kReasonShift) & kReasonMask;
  return code < kReasons.size() ? kReasons[code] : "";
}

// `src` truncated to N - 1 bytes, NUL-padded.
template <std::size_t N>
void storeTruncated(detail::AtomicBytes<N>& dst, const std::string& src) {
  std::array<std::uint8_t, N> bytes{};
  std::memcpy(bytes.data(), src.data(), std::min(N - 1, src.size()));
  dst.store(bytes);
}
template <std::size_t N>
std::string bytesToString(const std::array<std::uint8_t, N>& bytes) {
  const std::size_t n = std::find(bytes.begin(), bytes.end(), 0) - bytes.begin();
  return std::string(reinterpret_cast<const char*>(bytes.data()), n);
}

// Takes an entry's write sequence (even to odd) for a store(); returns the
// odd value to release with + 1, or 0 when another store() held it for
// longer than a bounded wait (a few stores' time, unless that thread was
// preempted). Verifier threads only: this may wait, the request path may
// not.
template <class Entry>
std::uint64_t lockForWrite(Entry& e) {
  constexpr int kSpins = 64;
  constexpr int kYields = 64;
  std::uint64_t seq = e.seq.load(std::memory_order_relaxed);
  for (int i = 0; i < kSpins + kYields; ++i) {
    if ((seq & 1) == 0 && e.seq.compare_exchange_weak(seq, seq + 1, std::memory_order_acquire,
                                                      std::memory_order_relaxed)) {
      // The seqlock writer's fence: a reader that sees any word written
      // after it sees the odd sequence on its second read.
      std::atomic_thread_fence(std::memory_order_release);
      return seq + 1;
    }
    if (i < kSpins) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      std::this_thread::yield();
    }
    seq = e.seq.load(std::memory_order_relaxed);
  }
  return 0;
}

// What a reader got from an entry.
enum class Read {
  Answer,  // `key`'s own answer, consistent with its name
  Busy,    // a store() was writing, or the status is an in-flight mark
  NotOwn,  // no answer of `key`'s (another key's, expired, or never stored)
};

// Reads `key`'s answer from `e` at clock second `now`, the seqlock reader's
// way: the sequence (even), the status, owner and name; then the status,
// the key and the sequence again. The answer counts only if the sequence
// and the status did not move and key, owner and the status's tag all name
// `key`: then every word read was written by `key`'s last store() (a
// store() in progress moves the sequence, a re-keying zeroes the status
// first, and only a store() writes a status that is not an in-flight mark,
// moving the sequence as it does). Never waits: a store() in progress is
// Busy, and so is an in-flight mark. Any thread.
template <class Entry>
Read readAnswer(const Entry& e, std::uint64_t key, std::int64_t now, RdnsAnswer& out) {
  const std::uint64_t seq = e.seq.load(std::memory_order_acquire);
  if ((seq & 1) != 0) return Read::Busy;
  const std::uint64_t status = e.status.load(std::memory_order_relaxed);
  const std::uint64_t owner = e.owner.load(std::memory_order_relaxed);
  const auto name = e.name.load();
  // Pairs with Entry::clear()'s release fence: a zeroed word read above
  // means the zeroed status and key are seen below.
  std::atomic_thread_fence(std::memory_order_acquire);
  const std::uint64_t status_again = e.status.load(std::memory_order_relaxed);
  const std::uint64_t key_again = e.key.load(std::memory_order_relaxed);
  // Pairs with a store()'s release fence after taking the sequence: a
  // status written by it, read just above, means its odd sequence below.
  std::atomic_thread_fence(std::memory_order_acquire);
  if (e.seq.load(std::memory_order_relaxed) != seq || status_again != status) return Read::Busy;
  if (key_again != key) return Read::NotOwn;
  if (expiresFor(status, tagOfKey(key)) <= now) return Read::NotOwn;
  if (inFlightOf(status)) return Read::Busy;
  if (owner != key) return Read::NotOwn;
  out.state = stateOf(status);
  out.name = bytesToString(name);
  out.reason = reasonOf(status);
  return Read::Answer;
}

}  // namespace

RdnsVerifier::RdnsVerifier(DnsLookup& lookup, const Clock& clock, RdnsOptions options)
    : lookup_(lookup),
      clock_(clock),
      options_(options),
      cache_(options.cache_entries),
      queue_(options.queue_max) {
  for (unsigned i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { threadMain(); });
}

RdnsVerifier::~RdnsVerifier() {
  // Threads see stopping_ at their next look (the wake_ bump makes a
  // sleeping one return from wait); a thread inside a lookup finishes it
  // first. Queued lookups are dropped: taken off here, so nothing runs them.
  stopping_.store(true, std::memory_order_seq_cst);
  wake_.fetch_add(1, std::memory_order_seq_cst);
  wake_.notify_all();
  Job dropped;
  while (queue_.tryPop([&](Job& cell) { std::swap(dropped, cell); })) {
  }
  for (auto& t : threads_) t.join();
}

std::uint64_t RdnsVerifier::keyOf(const IpPrefix& address, const std::string& bot) const {
  std::string buf(reinterpret_cast<const char*>(address.bytes.data()), address.bytes.size());
  buf += static_cast<char>(address.is_v6);
  buf += bot;
  return cacheHash()(buf);
}

std::int64_t RdnsVerifier::nowSeconds() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock_.now()).count();
}

RdnsAnswer RdnsVerifier::peek(const IpPrefix& address, const std::string& bot) {
  const std::int64_t now = nowSeconds();
  const std::uint64_t key = keyOf(address, bot);
  const Entry* e = cache_.find(key);
  RdnsAnswer out;
  if (e == nullptr || readAnswer(*e, key, now, out) != Read::Answer ||
      out.state == RdnsState::Pending)
    return RdnsAnswer{};
  return out;
}

RdnsAnswer RdnsVerifier::check(const IpPrefix& address, const std::string& bot,
                               const std::vector<std::string>& domains) {
  RdnsAnswer out;
  const std::int64_t now = nowSeconds();
  // In-flight entries older than this are asked again (a lookup lost to a
  // full queue or to a reload).
  constexpr std::int64_t kInFlightLimit = 30;
  const std::uint64_t key = keyOf(address, bot);
  // Evict the entry that expires first: it is the least worth keeping.
  Entry* e = cache_.acquire(
      key, [&](Entry& fresh) { fresh.key.store(key, std::memory_order_release); },
      [](const Entry& old) { return expiresOf(old.status.load(std::memory_order_relaxed)); });
  if (e == nullptr) {
    // No slot (every claim in the set lost a race): unanswered, and asked
    // again on a later request, as when the queue is full.
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return out;
  }
  bool enqueue = false;
  const std::uint64_t tag = tagOfKey(key);
  std::uint64_t status = e->status.load(std::memory_order_acquire);
  for (;;) {
    if (expiresFor(status, tag) > now) {
      // An answer (or a cached failure to get one, retried after
      // error_ttl), or a lookup already on its way. A store() caught
      // writing leaves this request Pending (the next one reads it); a
      // status of our tag that another key's store() wrote (a 20-bit tag
      // collision) is no answer and is asked for again.
      if (inFlightOf(status)) break;
      const Read r = readAnswer(*e, key, now, out);
      if (r == Read::Answer) break;
      out = RdnsAnswer{};
      if (r == Read::Busy) break;
    }
    // Taken by another key since acquire: leave it to that key.
    if (e->key.load(std::memory_order_relaxed) != key) break;
    // Of racing workers, the one whose CAS marks the entry in flight queues
    // the lookup; the others see the mark.
    if (e->status.compare_exchange_weak(status,
                                        packStatus(now + kInFlightLimit, true, RdnsState::Pending, tag),
                                        std::memory_order_acq_rel)) {
      enqueue = true;
      break;
    }
  }
  if (!enqueue) {
    hits_.fetch_add(1, std::memory_order_relaxed);
    return out;
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  if (stopping_.load(std::memory_order_relaxed)) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return out;
  }
  // Filled in place: the cell's strings keep their buffers from earlier
  // laps, so this allocates only for a longer name or domain list than the
  // cell held before (most bot names and domains fit the short-string
  // buffer anyway).
  const bool queued = queue_.tryPush([&](Job& job) {
    job.address = address;
    job.bot.assign(bot);
    job.domains.assign(domains.begin(), domains.end());
  });
  if (!queued) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return out;  // the in-flight mark expires and the next request asks again
  }
  // Dekker pair with threadMain(): bump, then look for sleepers.
  wake_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) != 0) wake_.notify_one();
  return out;
}

RdnsAnswer RdnsVerifier::verifyNow(const IpPrefix& address,
                                   const std::vector<std::string>& domains) {
  RdnsAnswer out;
  auto names = lookup_.reverse(address);
  if (!names) {
    if (names.error().code == ENOENT) {
      out.state = RdnsState::Failed;
      out.reason = kReasons[kNoPtr];
    }
    return out;  // Pending: no answer
  }
  bool any_in_domain = false;
  bool any_error = false;
  for (const auto& name : *names) {
    const bool in_domain = std::any_of(domains.begin(), domains.end(),
                                       [&](const std::string& d) { return nameInDomain(name, d); });
    if (!in_domain) continue;
    any_in_domain = true;
    out.name = name;
    auto addrs = lookup_.forward(name, address.is_v6);
    if (!addrs) {
      if (addrs.error().code != ENOENT) any_error = true;
      continue;
    }
    IpPrefix host = address;
    host.prefix_len = address.is_v6 ? 128 : 32;
    if (std::find(addrs->begin(), addrs->end(), host) != addrs->end()) {
      out.state = RdnsState::Verified;
      out.reason.clear();
      return out;
    }
  }
  if (any_error) return RdnsAnswer{RdnsState::Pending, out.name, {}};
  out.state = RdnsState::Failed;
  if (!any_in_domain) {
    out.name = names->empty() ? std::string() : names->front();
    out.reason = kReasons[kPtrOutsideDomains];
  } else {
    out.reason = kReasons[kNotForwardConfirmed];
  }
  return out;
}

void RdnsVerifier::store(const Job& job, const RdnsAnswer& answer) {
  const std::int64_t now = nowSeconds();
  std::chrono::seconds ttl = options_.error_ttl;
  if (answer.state == RdnsState::Verified) ttl = options_.positive_ttl;
  if (answer.state == RdnsState::Failed) ttl = options_.negative_ttl;
  const std::uint64_t key = keyOf(job.address, job.bot);
  Entry* e = cache_.acquire(
      key, [&](Entry& fresh) { fresh.key.store(key, std::memory_order_release); },
      [](const Entry& old) { return expiresOf(old.status.load(std::memory_order_relaxed)); });
  if (e == nullptr) return;  // no slot: the answer is lost and asked for again later
  if (store_hook_) store_hook_(StorePointForTest::Found);
  // Another store() holding the entry past the bounded wait: the answer is
  // lost as above (the in-flight mark expires and a later request asks
  // again).
  const std::uint64_t seq = lockForWrite(*e);
  if (seq == 0) return;
  // Acquire: pairs with init's release, so the zeroing of a re-keyed
  // entry is ordered before these writes. The entry was handed to another
  // key since acquire(): write nothing into that key's entry.
  if (e->key.load(std::memory_order_acquire) == key) {
    if (store_hook_) store_hook_(StorePointForTest::Writing);
    e->owner.store(key, std::memory_order_relaxed);
    storeTruncated(e->name, answer.name);
    e->status.store(packStatus(now + ttl.count(), false, answer.state, tagOfKey(key),
                               reasonCode(answer.reason)),
                    std::memory_order_relaxed);
  }
  e->seq.store(seq + 1, std::memory_order_release);
}

void RdnsVerifier::runJob(const Job& job) {
  const RdnsAnswer answer = verifyNow(job.address, job.domains);
  switch (answer.state) {
    case RdnsState::Verified: verified_.fetch_add(1, std::memory_order_relaxed); break;
    case RdnsState::Failed: failed_.fetch_add(1, std::memory_order_relaxed); break;
    case RdnsState::Pending: errors_.fetch_add(1, std::memory_order_relaxed); break;
  }
  store(job, answer);
}

bool RdnsVerifier::popJob(Job& job) {
  // Swap, not copy: the cell gets this thread's old buffers back for the
  // next producer to fill.
  return queue_.tryPop([&](Job& cell) { std::swap(job, cell); });
}

void RdnsVerifier::threadMain() {
  Job job;
  for (;;) {
    if (stopping_.load(std::memory_order_seq_cst)) return;
    if (popJob(job)) {
      runJob(job);
      continue;
    }
    // Going to sleep. Announce it first, then read the wake counter and look
    // once more: a push after that look bumps wake_ past `seen` and, seeing
    // sleepers_ != 0, notifies; a push before it is found by the look. A
    // push whose producer is still filling the head cell (tryPop answers
    // empty) bumps wake_ when it is done, so that one is not missed either.
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    const std::uint32_t seen = wake_.load(std::memory_order_seq_cst);
    if (!stopping_.load(std::memory_order_seq_cst) && !popJob(job)) {
      wake_.wait(seen, std::memory_order_seq_cst);
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      continue;
    }
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    if (stopping_.load(std::memory_order_seq_cst)) return;
    runJob(job);
  }
}

std::size_t RdnsVerifier::runQueuedForTest() {
  std::size_t n = 0;
  Job job;
  while (popJob(job)) {
    runJob(job);
    ++n;
  }
  return n;
}

RdnsStats RdnsVerifier::stats() const {
  RdnsStats s;
#define MAMORI_RDNS_READ(name) s.name = name##_.load(std::memory_order_relaxed);
  MAMORI_RDNS_COUNTERS(MAMORI_RDNS_READ)
#undef MAMORI_RDNS_READ
  s.cache_capacity = cache_.capacity();
  s.cache_used = cache_.sizeSlow();
  s.evictions = cache_.evictions();
  s.queued = queue_.sizeApprox();
  return s;
}

}  // namespace mamori::guard
