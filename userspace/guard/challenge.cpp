#include "guard/challenge.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

namespace mamori::guard {

namespace {

// Token payload, signed as is (all integers big-endian):
//   0 version  1 kind  2..5 key id  6..13 issued (s)  14..21 expires (s)
//   22 difficulty  23 address family (4 or 6)  24..39 address (IPv6: /64)
//   40..55 first 16 bytes of SHA-256(User-Agent)  56..71 nonce
constexpr std::uint8_t kVersion = 1;
constexpr std::size_t kPayloadSize = 72;
constexpr std::size_t kMacSize = 32;
constexpr std::uint8_t kKindChallenge = ChallengeAuthority::kKindChallenge;
constexpr std::uint8_t kKindClearance = ChallengeAuthority::kKindClearance;
// Domain separation: a MAC of ours over anything else can never be a token.
constexpr std::string_view kMacLabel = "mamori-challenge-v1";

using Payload = std::array<std::uint8_t, kPayloadSize>;
using Mac = std::array<std::uint8_t, kMacSize>;

void putBe(std::uint8_t* p, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    p[i] = static_cast<std::uint8_t>(v & 0xff);
    v >>= 8;
  }
}

std::uint64_t getBe(const std::uint8_t* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// RFC 4648 §5 base64url without padding.
std::string base64url(const std::uint8_t* data, std::size_t n) {
  std::string out;
  out.reserve((n * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (n - i == 1) {
    std::uint32_t v = std::uint32_t{data[i]} << 16;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
  } else if (n - i == 2) {
    std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
  }
  return out;
}

int b64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Decodes exactly `out.size()` bytes; false on any other length, a foreign
// character or non-zero trailing bits (one token, one spelling).
template <std::size_t N>
bool unbase64url(std::string_view in, std::array<std::uint8_t, N>& out) {
  if (in.size() != (N * 4 + 2) / 3) return false;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t o = 0;
  for (char c : in) {
    int v = b64Value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o < N) out[o++] = static_cast<std::uint8_t>((acc >> bits) & 0xff);
    }
  }
  if (o != N) return false;
  return (acc & ((1u << bits) - 1)) == 0;
}

std::array<std::uint8_t, 32> sha256(std::string_view a, std::string_view b = {}) {
  std::array<std::uint8_t, 32> out{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned len = 0;
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, a.data(), a.size()) == 1 &&
            EVP_DigestUpdate(ctx, b.data(), b.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, out.data(), &len) == 1;
  EVP_MD_CTX_free(ctx);
  // A digest that cannot be computed (allocation failure) must not verify
  // anything: all-ones has no leading zero bits and matches no UA hash of ours.
  if (!ok) out.fill(0xff);
  return out;
}

// The address bytes a token is bound to: IPv4 whole, IPv6 its /64.
void bindAddress(const common::IpPrefix& a, std::uint8_t* family, std::uint8_t* bytes16) {
  std::memset(bytes16, 0, 16);
  if (a.is_v6) {
    *family = 6;
    std::memcpy(bytes16, a.bytes.data(), 8);
  } else {
    *family = 4;
    std::memcpy(bytes16, a.bytes.data(), 4);
  }
}

Mac mac(const ChallengeKey& key, std::string_view site, const Payload& payload) {
  // HMAC-SHA256 over label || site || NUL || payload: the site keeps a token
  // of one site from being replayed on another that shares nothing else.
  std::string input;
  input.reserve(kMacLabel.size() + site.size() + 1 + payload.size());
  input.append(kMacLabel);
  input.append(site);
  input.push_back('\0');
  input.append(reinterpret_cast<const char*>(payload.data()), payload.size());
  Mac out{};
  unsigned len = 0;
  if (HMAC(EVP_sha256(), key.secret.data(), static_cast<int>(key.secret.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), out.data(),
           &len) == nullptr ||
      len != kMacSize) {
    // No MAC: a value no honest token carries (and the comparison still
    // runs in constant time), so nothing verifies while HMAC is broken.
    out.fill(0);
    out[0] = 1;
  }
  return out;
}

std::string encode(const Payload& payload, const Mac& m) {
  return base64url(payload.data(), payload.size()) + "." + base64url(m.data(), m.size());
}

unsigned leadingZeroBits(const std::array<std::uint8_t, 32>& d) {
  unsigned bits = 0;
  for (std::uint8_t b : d) {
    if (b == 0) {
      bits += 8;
      continue;
    }
    for (int i = 7; i >= 0 && !(b & (1u << i)); --i) ++bits;
    break;
  }
  return bits;
}

}  // namespace

const char* challengeCheckName(ChallengeCheck check) {
  switch (check) {
    case ChallengeCheck::Valid: return "valid";
    case ChallengeCheck::Malformed: return "malformed";
    case ChallengeCheck::UnknownKey: return "unknown_key";
    case ChallengeCheck::BadSignature: return "bad_signature";
    case ChallengeCheck::Expired: return "expired";
    case ChallengeCheck::WrongAddress: return "wrong_address";
    case ChallengeCheck::WrongUserAgent: return "wrong_user_agent";
    case ChallengeCheck::InsufficientWork: return "insufficient_work";
  }
  return "unknown";
}

common::Result<std::unique_ptr<ChallengeAuthority>> ChallengeAuthority::create(const Clock& clock) {
  std::unique_ptr<ChallengeAuthority> out(new ChallengeAuthority(clock));
  if (!out->install(1))
    return common::Error{EIO, "challenge: the random generator refused to make a key"};
  out->current_id_.store(1, std::memory_order_release);
  return out;
}

std::int64_t ChallengeAuthority::nowSeconds() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock_.now()).count();
}

bool ChallengeAuthority::install(std::uint32_t id) {
  std::array<std::uint8_t, 32> secret{};
  if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1) {
    random_failures_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  Slot& s = slots_[id % kKeySlots];
  // Seqlock write (one writer at a time: create() or the rotating_ holder).
  const std::uint32_t seq = s.seq.load(std::memory_order_relaxed);
  s.seq.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  s.id.store(id, std::memory_order_relaxed);
  for (std::size_t w = 0; w < 4; ++w) {
    std::uint64_t v = 0;
    std::memcpy(&v, secret.data() + w * 8, 8);
    s.words[w].store(v, std::memory_order_relaxed);
  }
  s.created_ns.store(clock_.now().count(), std::memory_order_relaxed);
  s.seq.store(seq + 2, std::memory_order_release);
  OPENSSL_cleanse(secret.data(), secret.size());
  return true;
}

std::optional<ChallengeKey> ChallengeAuthority::find(std::uint32_t id) const {
  if (id == 0) return std::nullopt;
  const std::uint32_t current = current_id_.load(std::memory_order_acquire);
  // Only ids in the ring window: a slot may still hold an older key that
  // was never overwritten, which must not verify once out of the window.
  if (id > current || current - id >= kKeySlots) return std::nullopt;
  const Slot& s = slots_[id % kKeySlots];
  // Seqlock read; a writer overwriting this very slot is rotating past the
  // key we want, so retrying a few times and then refusing is right.
  for (int attempt = 0; attempt < 4; ++attempt) {
    const std::uint32_t before = s.seq.load(std::memory_order_acquire);
    if (before & 1u) continue;
    ChallengeKey key;
    key.id = s.id.load(std::memory_order_relaxed);
    for (std::size_t w = 0; w < 4; ++w) {
      const std::uint64_t v = s.words[w].load(std::memory_order_relaxed);
      std::memcpy(key.secret.data() + w * 8, &v, 8);
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.seq.load(std::memory_order_relaxed) != before) continue;
    if (key.id != id) return std::nullopt;
    return key;
  }
  return std::nullopt;
}

bool ChallengeAuthority::rotate() {
  bool expected = false;
  if (!rotating_.compare_exchange_strong(expected, true, std::memory_order_acquire)) return false;
  const std::uint32_t next = current_id_.load(std::memory_order_relaxed) + 1;
  const bool ok = next != 0 && install(next);  // 2^32 rotations: keep the last key
  if (ok) {
    current_id_.store(next, std::memory_order_release);
    rotations_.fetch_add(1, std::memory_order_relaxed);
  }
  rotating_.store(false, std::memory_order_release);
  return ok;
}

void ChallengeAuthority::rotateIfDue(std::chrono::seconds period) {
  const std::uint32_t id = current_id_.load(std::memory_order_acquire);
  const std::int64_t created = slots_[id % kKeySlots].created_ns.load(std::memory_order_relaxed);
  const auto age = clock_.now() - std::chrono::nanoseconds(created);
  if (age < period) return;
  rotate();
}

std::string ChallengeAuthority::signForTest(const ChallengeKey& key, std::uint8_t kind,
                                            const ChallengeBinding& who, std::chrono::seconds issued,
                                            std::chrono::seconds expires,
                                            unsigned difficulty) const {
  return sign(key, kind, who, issued, expires, difficulty);
}

std::string ChallengeAuthority::sign(const ChallengeKey& key, std::uint8_t kind,
                                     const ChallengeBinding& who, std::chrono::seconds issued,
                                     std::chrono::seconds expires, unsigned difficulty) const {
  Payload p{};
  p[0] = kVersion;
  p[1] = kind;
  putBe(&p[2], key.id, 4);
  putBe(&p[6], static_cast<std::uint64_t>(issued.count()), 8);
  putBe(&p[14], static_cast<std::uint64_t>(expires.count()), 8);
  p[22] = static_cast<std::uint8_t>(difficulty);
  bindAddress(who.address, &p[23], &p[24]);
  const auto ua = sha256(who.user_agent);
  std::memcpy(&p[40], ua.data(), 16);
  // Nonce: random; when the generator fails, a per-ring counter and the
  // time (unique, not secret: the nonce only makes tokens distinct).
  if (RAND_bytes(&p[56], 16) != 1) {
    random_failures_.fetch_add(1, std::memory_order_relaxed);
    putBe(&p[56], nonce_counter_.fetch_add(1, std::memory_order_relaxed), 8);
    putBe(&p[64], static_cast<std::uint64_t>(clock_.now().count()), 8);
  }
  return encode(p, mac(key, who.site, p));
}

std::string ChallengeAuthority::issue(std::uint8_t kind, const ChallengeBinding& who,
                                      unsigned difficulty, std::chrono::seconds ttl) {
  std::optional<ChallengeKey> key;
  // The current key can be replaced between reading its id and its slot;
  // the next id is then current.
  for (int attempt = 0; attempt < 4 && !key; ++attempt)
    key = find(current_id_.load(std::memory_order_acquire));
  if (!key) {
    // Cannot happen while the ring holds its current key (a writer fills a
    // different slot from the current one); refuse to sign rather than sign
    // with a zero key.
    random_failures_.fetch_add(1, std::memory_order_relaxed);
    return std::string();
  }
  const std::int64_t now = nowSeconds();
  return sign(*key, kind, who, std::chrono::seconds(now), std::chrono::seconds(now) + ttl,
                     difficulty);
}

std::string ChallengeAuthority::issueChallenge(const ChallengeBinding& who, unsigned difficulty,
                                               std::chrono::seconds ttl) {
  return issue(kKindChallenge, who, std::clamp(difficulty, kMinDifficulty, kMaxDifficulty), ttl);
}

std::string ChallengeAuthority::issueClearance(const ChallengeBinding& who,
                                               std::chrono::seconds ttl) {
  return issue(kKindClearance, who, 0, ttl);
}

ChallengeCheck ChallengeAuthority::check(std::uint8_t kind, std::string_view token,
                                         const ChallengeBinding& who, unsigned* difficulty) const {
  const std::size_t dot = token.find('.');
  if (dot == std::string_view::npos) return ChallengeCheck::Malformed;
  Payload p{};
  Mac m{};
  if (!unbase64url(token.substr(0, dot), p) || !unbase64url(token.substr(dot + 1), m))
    return ChallengeCheck::Malformed;
  if (p[0] != kVersion || p[1] != kind) return ChallengeCheck::Malformed;
  auto key = find(static_cast<std::uint32_t>(getBe(&p[2], 4)));
  if (!key) return ChallengeCheck::UnknownKey;
  const Mac expected = mac(*key, who.site, p);
  if (CRYPTO_memcmp(expected.data(), m.data(), kMacSize) != 0) return ChallengeCheck::BadSignature;
  // From here on the payload is ours.
  const auto expires = static_cast<std::int64_t>(getBe(&p[14], 8));
  if (nowSeconds() >= expires) return ChallengeCheck::Expired;
  std::uint8_t family = 0;
  std::array<std::uint8_t, 16> addr{};
  bindAddress(who.address, &family, addr.data());
  if (p[23] != family || std::memcmp(&p[24], addr.data(), 16) != 0)
    return ChallengeCheck::WrongAddress;
  const auto ua = sha256(who.user_agent);
  if (std::memcmp(&p[40], ua.data(), 16) != 0) return ChallengeCheck::WrongUserAgent;
  if (difficulty) *difficulty = p[22];
  return ChallengeCheck::Valid;
}

ChallengeCheck ChallengeAuthority::checkSolution(std::string_view token, std::string_view counter,
                                                 const ChallengeBinding& who) const {
  unsigned difficulty = 0;
  const ChallengeCheck c = check(kKindChallenge, token, who, &difficulty);
  if (c != ChallengeCheck::Valid) return c;
  if (counter.empty() || counter.size() > 20 ||
      !std::all_of(counter.begin(), counter.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
    return ChallengeCheck::Malformed;
  if (challengeWorkBits(token, counter) < difficulty) return ChallengeCheck::InsufficientWork;
  return ChallengeCheck::Valid;
}

ChallengeCheck ChallengeAuthority::checkClearance(std::string_view token,
                                                  const ChallengeBinding& who) const {
  return check(kKindClearance, token, who, nullptr);
}

ChallengeKey ChallengeAuthority::currentKeyForTest() const {
  return find(currentKeyId()).value_or(ChallengeKey{});
}

ChallengeAuthorityStats ChallengeAuthority::stats() const {
  ChallengeAuthorityStats s;
  s.rotations = rotations_.load(std::memory_order_relaxed);
  s.random_failures = random_failures_.load(std::memory_order_relaxed);
  return s;
}

unsigned challengeWorkBits(std::string_view prefix, std::string_view suffix) {
  return leadingZeroBits(sha256(prefix, suffix));
}

bool isSafeReturnPath(std::string_view path) {
  if (path.empty() || path.size() > 4096 || path[0] != '/') return false;
  if (path.size() >= 2 && (path[1] == '/' || path[1] == '\\')) return false;
  return std::all_of(path.begin(), path.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f && c != '\\';
  });
}

namespace {

// `text` as the inside of a JavaScript string literal that is also safe in
// an HTML <script> element: everything but [A-Za-z0-9./_~-] becomes \uXXXX,
// so no quote, backslash, '<' or line break survives.
std::string jsString(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
        c == '/' || c == '_' || c == '~' || c == '-') {
      out += c;
    } else {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

// The page around the script. Kept small (about 3 KiB): it is what every
// client of a site under attack gets first.
constexpr std::string_view kPageHead =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
    "<meta name=\"robots\" content=\"noindex,nofollow\">"
    "<title>Checking your browser</title>"
    "<style>body{font-family:sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}"
    "</style></head><body><h1>Checking your browser</h1>"
    "<p id=\"mamori-status\">This takes a moment and needs no action from you.</p>"
    "<noscript><p>This site is protecting itself from automated traffic. Please enable "
    "JavaScript and reload the page to continue.</p></noscript>\n<script>\n";

// Our own SHA-256 (FIPS 180-4): crypto.subtle exists only in secure
// contexts, so plain-HTTP sites could not use it. The token's whole 64-byte
// blocks are hashed once (mid-state); each attempt then hashes only the last
// block or two with the decimal counter.
constexpr std::string_view kPageScript = R"JS((function(){
var K=[0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,
0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,
0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,
0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,
0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,
0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2];
var W=new Int32Array(64);
function block(h,b,o){
  var i,x,y;
  for(i=0;i<16;i++)W[i]=(b[o+4*i]<<24)|(b[o+4*i+1]<<16)|(b[o+4*i+2]<<8)|b[o+4*i+3];
  for(i=16;i<64;i++){x=W[i-15];y=W[i-2];
    W[i]=(W[i-16]+((x>>>7|x<<25)^(x>>>18|x<<14)^(x>>>3))+W[i-7]+((y>>>17|y<<15)^(y>>>19|y<<13)^(y>>>10)))|0;}
  var a=h[0],c1=h[1],c2=h[2],d=h[3],e=h[4],f=h[5],g=h[6],k=h[7],t,u;
  for(i=0;i<64;i++){
    t=(k+((e>>>6|e<<26)^(e>>>11|e<<21)^(e>>>25|e<<7))+((e&f)^(~e&g))+K[i]+W[i])|0;
    u=(((a>>>2|a<<30)^(a>>>13|a<<19)^(a>>>22|a<<10))+((a&c1)^(a&c2)^(c1&c2)))|0;
    k=g;g=f;f=e;e=(d+t)|0;d=c2;c2=c1;c1=a;a=(t+u)|0;}
  h[0]=(h[0]+a)|0;h[1]=(h[1]+c1)|0;h[2]=(h[2]+c2)|0;h[3]=(h[3]+d)|0;
  h[4]=(h[4]+e)|0;h[5]=(h[5]+f)|0;h[6]=(h[6]+g)|0;h[7]=(h[7]+k)|0;
}
function bytes(s){var b=new Uint8Array(s.length);for(var i=0;i<s.length;i++)b[i]=s.charCodeAt(i)&255;return b;}
var tb=bytes(T),full=Math.floor(tb.length/64)*64;
var mid=new Int32Array([0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19]);
for(var o=0;o<full;o+=64)block(mid,tb,o);
var rest=tb.subarray(full),tail=new Uint8Array(192),h=new Int32Array(8);
tail.set(rest);
function zeroBits(n){
  var s=String(n),len=rest.length+s.length,i;
  for(i=0;i<s.length;i++)tail[rest.length+i]=s.charCodeAt(i);
  var total=len+9<=64?64:128;
  for(i=len;i<total;i++)tail[i]=0;
  tail[len]=0x80;
  var bits=(full+len)*8;
  tail[total-4]=(bits>>>24)&255;tail[total-3]=(bits>>>16)&255;tail[total-2]=(bits>>>8)&255;tail[total-1]=bits&255;
  h.set(mid);block(h,tail,0);if(total===128)block(h,tail,64);
  return D>=32?h[0]===0:(h[0]>>>(32-D))===0;
}
var n=0,st=document.getElementById("mamori-status");
function step(){
  for(var end=n+20000;n<end;n++){
    if(zeroBits(n)){
      if(st)st.textContent="Done, loading the page.";
      location.replace(P+"?t="+T+"&n="+n+"&r="+encodeURIComponent(R));
      return;
    }
  }
  setTimeout(step,0);
}
setTimeout(step,0);
})();
</script></body></html>
)JS";

}  // namespace

std::string challengePage(std::string_view token, unsigned difficulty, std::string_view return_to) {
  std::string out(kPageHead);
  out += "var T=\"" + jsString(token) + "\",D=" +
         std::to_string(std::clamp(difficulty, kMinDifficulty, kMaxDifficulty)) + ",R=\"" +
         jsString(return_to) + "\",P=\"" + jsString(kChallengePath) + "\";\n";
  out += kPageScript;
  return out;
}

}  // namespace mamori::guard
