#pragma once

// The browser challenge (issue #8): a JavaScript proof of work that a real
// browser passes without any user action and that clients which cannot run
// JavaScript (curl, most scripts and scanners) never pass.
//
//  1. A client without a valid clearance cookie gets challengePage(): HTML
//     with an inline script of ours and a signed *challenge token* bound to
//     the site, the client address and a hash of its User-Agent.
//  2. The script finds a decimal counter such that
//     SHA-256(token || counter) starts with `difficulty` zero bits and
//     loads kChallengePath?t=TOKEN&n=COUNTER&r=RETURN.
//  3. checkSolution() verifies signature, expiry, address, User-Agent and
//     the work; the daemon then answers 303 to RETURN with a signed, expiring
//     *clearance* token in the kClearanceCookie cookie, which
//     checkClearance() verifies on later requests.
//
// Tokens are HMAC-SHA256 signed (OpenSSL 3, kept out of this header) with a
// per-site key ring of random keys that rotate; a token names its key, so a
// retired key keeps verifying the tokens it signed until they expire or the
// key leaves the ring (kKeySlots rotations later). Keys live in memory only:
// a restart invalidates every outstanding cookie (clients solve again).
//
// Binding: the address is the full IPv4 address, or the /64 of an IPv6
// address (privacy addresses change inside a /64); the User-Agent is bound
// through the first 16 bytes of its SHA-256. Both travel in the signed
// payload (the client knows them anyway), so a failure says which one
// differed.
//
// Threads: ChallengeAuthority is used concurrently by every worker; every
// method is lock-free (the key ring is a fixed array of seqlocked slots with
// atomic words). Pure helpers are reentrant.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/ip_prefix.h"
#include "common/result.h"
#include "guard/login_guard.h"

namespace mamori::guard {

// The reserved path the challenge page submits its answer to. Requests for
// it are answered by mamori and never forwarded upstream.
inline constexpr std::string_view kChallengePath = "/.mamori/challenge";
// The clearance cookie's name.
inline constexpr std::string_view kClearanceCookie = "mamori_clearance";

// Difficulty bounds in leading zero bits: 1 costs a browser nothing; 32 is
// about four billion hashes, far past what a page may ask of a phone.
inline constexpr unsigned kMinDifficulty = 1;
inline constexpr unsigned kMaxDifficulty = 32;

// The result of checking a token. Everything but Valid is a refusal.
enum class ChallengeCheck : std::uint8_t {
  Valid,
  Malformed,         // not a token of ours (bad encoding, size, version or kind)
  UnknownKey,        // signed by a key that has left the ring (or never existed)
  BadSignature,      // the MAC does not match: forged or altered
  Expired,           // past its expiry
  WrongAddress,      // issued to another client address
  WrongUserAgent,    // issued to another User-Agent
  InsufficientWork,  // a solution whose hash has too few leading zero bits
};

// "valid", "malformed", "unknown_key", "bad_signature", "expired",
// "wrong_address", "wrong_user_agent", "insufficient_work".
const char* challengeCheckName(ChallengeCheck check);

// Whom a token is issued to. Views must outlive the call only.
struct ChallengeBinding {
  std::string_view site;
  common::IpPrefix address;  // the client's address (a host prefix)
  std::string_view user_agent;
};

// One signing key: an id unique within its ring and 32 random bytes.
struct ChallengeKey {
  std::uint32_t id = 0;
  std::array<std::uint8_t, 32> secret{};
};

// Counters of one authority (STYLE.md §2).
#define MAMORI_CHALLENGE_AUTHORITY_COUNTERS(X)                                        \
  X(rotations)        /* keys made after the first */                                 \
  X(random_failures)  /* RAND_bytes refused: the old key or a derived nonce was kept */

struct ChallengeAuthorityStats {
#define MAMORI_CHALLENGE_AUTH_FIELD(name) std::uint64_t name = 0;
  MAMORI_CHALLENGE_AUTHORITY_COUNTERS(MAMORI_CHALLENGE_AUTH_FIELD)
#undef MAMORI_CHALLENGE_AUTH_FIELD
};

// Issues and checks challenge and clearance tokens for one site.
class ChallengeAuthority {
 public:
  // Keys kept for verification: the current one and kKeySlots - 1 retired
  // ones. A token whose key is older fails with UnknownKey, so a clearance
  // TTL longer than (kKeySlots - 1) rotation periods would be cut short; the
  // config loader refuses that.
  static constexpr std::size_t kKeySlots = 8;

  // A ring holding one random key (RAND_bytes). Error{EIO} when the random
  // generator refuses. `clock` must outlive this. Control plane.
  static common::Result<std::unique_ptr<ChallengeAuthority>> create(const Clock& clock);

  ChallengeAuthority(const ChallengeAuthority&) = delete;
  ChallengeAuthority& operator=(const ChallengeAuthority&) = delete;

  // Makes a new random current key when the current one is at least
  // `period` old. Lock-free: when another thread is rotating, returns at
  // once. When the random generator fails the current key stays (counted)
  // and the next call tries again. Any thread.
  void rotateIfDue(std::chrono::seconds period);
  // Makes a new current key now; false when the random generator failed or
  // another rotation was running. Any thread.
  bool rotate();

  // A challenge token for `who`, valid for `ttl`, asking for `difficulty`
  // (clamped to kMinDifficulty..kMaxDifficulty) leading zero bits.
  // URL-safe ASCII ([A-Za-z0-9_-] and one '.'). Any thread.
  std::string issueChallenge(const ChallengeBinding& who, unsigned difficulty,
                             std::chrono::seconds ttl);

  // Checks a submitted answer: `token` must be a challenge token of this
  // ring issued to `who` and not expired, and `counter` (1..20 decimal
  // digits) must give SHA-256(token || counter) at least the token's
  // difficulty in leading zero bits. Any thread.
  ChallengeCheck checkSolution(std::string_view token, std::string_view counter,
                               const ChallengeBinding& who) const;

  // A clearance token for `who`, valid for `ttl`; same alphabet as above,
  // so it is a valid cookie value as it is. Any thread.
  std::string issueClearance(const ChallengeBinding& who, std::chrono::seconds ttl);

  // Checks a clearance cookie value against `who`. Any thread.
  ChallengeCheck checkClearance(std::string_view token, const ChallengeBinding& who) const;

  // The id of the current key (tests, status). Any thread.
  std::uint32_t currentKeyId() const { return current_id_.load(std::memory_order_acquire); }

  ChallengeAuthorityStats stats() const;

  // Token kinds, for signForTest.
  static constexpr std::uint8_t kKindChallenge = 1;
  static constexpr std::uint8_t kKindClearance = 2;
  // The current key (tests: sign tokens the ring would accept).
  ChallengeKey currentKeyForTest() const;

  // Signs an arbitrary payload as a token of kind `kind` with key `key`:
  // lets tests build tokens the authority would never issue (an expiry in
  // the past, a foreign key). Any thread.
  std::string signForTest(const ChallengeKey& key, std::uint8_t kind, const ChallengeBinding& who,
                          std::chrono::seconds issued, std::chrono::seconds expires,
                          unsigned difficulty) const;

 private:
  // One key slot: a seqlock (odd while written) over atomic words, so a
  // reader never takes a lock and never reads a torn key.
  struct Slot {
    std::atomic<std::uint32_t> seq{0};
    std::atomic<std::uint32_t> id{0};
    std::array<std::atomic<std::uint64_t>, 4> words{};
    std::atomic<std::int64_t> created_ns{0};
  };

  explicit ChallengeAuthority(const Clock& clock) : clock_(clock) {}
  bool install(std::uint32_t id);  // writer side; false when RAND_bytes failed
  std::optional<ChallengeKey> find(std::uint32_t id) const;
  std::string sign(const ChallengeKey& key, std::uint8_t kind, const ChallengeBinding& who,
                   std::chrono::seconds issued, std::chrono::seconds expires,
                   unsigned difficulty) const;
  std::string issue(std::uint8_t kind, const ChallengeBinding& who, unsigned difficulty,
                    std::chrono::seconds ttl);
  ChallengeCheck check(std::uint8_t kind, std::string_view token, const ChallengeBinding& who,
                       unsigned* difficulty) const;
  std::int64_t nowSeconds() const;

  const Clock& clock_;
  std::array<Slot, kKeySlots> slots_;
  std::atomic<std::uint32_t> current_id_{0};
  std::atomic<bool> rotating_{false};
  mutable std::atomic<std::uint64_t> nonce_counter_{0};
  std::atomic<std::uint64_t> rotations_{0};
  mutable std::atomic<std::uint64_t> random_failures_{0};
};

// Number of leading zero bits of SHA-256(prefix || suffix): the work the
// page proves. Any thread.
unsigned challengeWorkBits(std::string_view prefix, std::string_view suffix);

// True when `path` is a safe place to send the browser back to: a
// same-origin absolute path ("/..."), not "//host" or "/\host" (which
// browsers read as another host), printable ASCII without spaces, at most
// 4096 bytes. Everything else is answered with "/" by the caller.
bool isSafeReturnPath(std::string_view path);

// The challenge page: a small self-contained HTML document (no external
// resources: the script carries its own SHA-256 because crypto.subtle is
// missing outside secure contexts) that solves `token` at `difficulty` and
// then loads kChallengePath with the answer and `return_to`. `return_to`
// must pass isSafeReturnPath (it is escaped anyway). A <noscript> text tells
// people without JavaScript why they stay here. Pure; any thread.
std::string challengePage(std::string_view token, unsigned difficulty, std::string_view return_to);

}  // namespace mamori::guard
