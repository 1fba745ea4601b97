#include "guard/challenge.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace mamori::guard {
namespace {

using std::chrono::seconds;

common::IpPrefix ip(const char* text) { return common::parseIpPrefix(text).value(); }

ChallengeBinding client(const char* addr = "192.0.2.10", const char* ua = "Mozilla/5.0 test") {
  return ChallengeBinding{"shop", ip(addr), ua};
}

// Finds a counter for `token` the way the page's script does.
std::string solve(const std::string& token, unsigned difficulty) {
  for (std::uint64_t n = 0;; ++n) {
    std::string s = std::to_string(n);
    if (challengeWorkBits(token, s) >= difficulty) return s;
  }
}

// A counter whose hash does NOT reach `difficulty`.
std::string nonSolution(const std::string& token, unsigned difficulty) {
  for (std::uint64_t n = 0;; ++n) {
    std::string s = std::to_string(n);
    if (challengeWorkBits(token, s) < difficulty) return s;
  }
}

struct ChallengeTest : ::testing::Test {
  ManualClock clock;
  std::unique_ptr<ChallengeAuthority> auth = ChallengeAuthority::create(clock).value();
};

TEST(ChallengeWork, CountsLeadingZeroBitsOfSha256) {
  // SHA-256("abc") = ba7816bf...: first bit set, no leading zeros.
  EXPECT_EQ(challengeWorkBits("ab", "c"), 0u);
  // SHA-256(96 x 'A' "." 43 x 'A' "73233") = 000025a4...: 18 zero bits
  // (computed independently with Node's crypto module).
  std::string token = std::string(96, 'A') + "." + std::string(43, 'A');
  EXPECT_EQ(challengeWorkBits(token, "73233"), 18u);
}

TEST_F(ChallengeTest, ValidSolutionIsAccepted) {
  std::string token = auth->issueChallenge(client(), 8, seconds(300));
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(auth->checkSolution(token, solve(token, 8), client()), ChallengeCheck::Valid);
}

TEST_F(ChallengeTest, TokenIsUrlAndCookieSafe) {
  std::string token = auth->issueChallenge(client(), 8, seconds(300));
  for (char c : token)
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')
        << token;
  std::string cookie = auth->issueClearance(client(), seconds(60));
  for (char c : cookie)
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
}

TEST_F(ChallengeTest, InsufficientWorkIsRefused) {
  std::string token = auth->issueChallenge(client(), 10, seconds(300));
  EXPECT_EQ(auth->checkSolution(token, nonSolution(token, 10), client()),
            ChallengeCheck::InsufficientWork);
}

TEST_F(ChallengeTest, NonDecimalCounterIsMalformed) {
  std::string token = auth->issueChallenge(client(), 1, seconds(300));
  EXPECT_EQ(auth->checkSolution(token, "", client()), ChallengeCheck::Malformed);
  EXPECT_EQ(auth->checkSolution(token, "12a", client()), ChallengeCheck::Malformed);
  EXPECT_EQ(auth->checkSolution(token, "123456789012345678901", client()), ChallengeCheck::Malformed);
}

TEST_F(ChallengeTest, ExpiredChallengeIsRefused) {
  std::string token = auth->issueChallenge(client(), 4, seconds(300));
  std::string n = solve(token, 4);
  clock.advance(seconds(301));
  EXPECT_EQ(auth->checkSolution(token, n, client()), ChallengeCheck::Expired);
}

TEST_F(ChallengeTest, SolutionFromAnotherAddressIsRefused) {
  std::string token = auth->issueChallenge(client("192.0.2.10"), 4, seconds(300));
  EXPECT_EQ(auth->checkSolution(token, solve(token, 4), client("192.0.2.11")),
            ChallengeCheck::WrongAddress);
}

TEST_F(ChallengeTest, SolutionWithAnotherUserAgentIsRefused) {
  std::string token = auth->issueChallenge(client("192.0.2.10", "Mozilla/5.0 A"), 4, seconds(300));
  EXPECT_EQ(auth->checkSolution(token, solve(token, 4), client("192.0.2.10", "curl/8.0")),
            ChallengeCheck::WrongUserAgent);
}

TEST_F(ChallengeTest, Ipv6IsBoundToItsSlash64) {
  std::string cookie = auth->issueClearance(client("2001:db8:1:2::10"), seconds(60));
  EXPECT_EQ(auth->checkClearance(cookie, client("2001:db8:1:2:aaaa::99")), ChallengeCheck::Valid);
  EXPECT_EQ(auth->checkClearance(cookie, client("2001:db8:1:3::10")), ChallengeCheck::WrongAddress);
  EXPECT_EQ(auth->checkClearance(cookie, client("192.0.2.10")), ChallengeCheck::WrongAddress);
}

TEST_F(ChallengeTest, ForgedSignatureIsRefused) {
  std::string token = auth->issueChallenge(client(), 4, seconds(300));
  std::string n = solve(token, 4);
  // Change one character inside the MAC, keeping the alphabet. (Not the
  // last one: its two low bits are padding, and setting them makes the
  // token malformed rather than forged.)
  std::string forged = token;
  char& c = forged[token.find('.') + 10];
  c = c == 'A' ? 'B' : 'A';
  EXPECT_EQ(auth->checkSolution(forged, n, client()), ChallengeCheck::BadSignature);
  // A token signed with a key the ring does not hold, under the right id.
  ChallengeKey other = auth->currentKeyForTest();
  other.secret[0] ^= 1;
  std::string foreign = auth->signForTest(other, ChallengeAuthority::kKindClearance, client(),
                                          seconds(0), seconds(1'000'000'000), 0);
  EXPECT_EQ(auth->checkClearance(foreign, client()), ChallengeCheck::BadSignature);
}

TEST_F(ChallengeTest, AlteredPayloadIsRefused) {
  std::string cookie = auth->issueClearance(client(), seconds(60));
  // Change one payload character (the expiry or address region).
  std::string altered = cookie;
  altered[20] = altered[20] == 'A' ? 'B' : 'A';
  EXPECT_EQ(auth->checkClearance(altered, client()), ChallengeCheck::BadSignature);
}

TEST_F(ChallengeTest, GarbageIsMalformed) {
  EXPECT_EQ(auth->checkClearance("", client()), ChallengeCheck::Malformed);
  EXPECT_EQ(auth->checkClearance("abc.def", client()), ChallengeCheck::Malformed);
  EXPECT_EQ(auth->checkClearance(std::string(140, '!'), client()), ChallengeCheck::Malformed);
  std::string cookie = auth->issueClearance(client(), seconds(60));
  EXPECT_EQ(auth->checkClearance(cookie + "A", client()), ChallengeCheck::Malformed);
}

TEST_F(ChallengeTest, ChallengeTokenIsNotAClearanceCookie) {
  std::string token = auth->issueChallenge(client(), 4, seconds(300));
  EXPECT_EQ(auth->checkClearance(token, client()), ChallengeCheck::Malformed);
  std::string cookie = auth->issueClearance(client(), seconds(60));
  EXPECT_EQ(auth->checkSolution(cookie, "1", client()), ChallengeCheck::Malformed);
}

TEST_F(ChallengeTest, ClearanceExpires) {
  std::string cookie = auth->issueClearance(client(), seconds(60));
  clock.advance(seconds(59));
  EXPECT_EQ(auth->checkClearance(cookie, client()), ChallengeCheck::Valid);
  clock.advance(seconds(1));
  EXPECT_EQ(auth->checkClearance(cookie, client()), ChallengeCheck::Expired);
}

TEST_F(ChallengeTest, ExpiredButSignedTokenIsExpired) {
  ChallengeKey key = auth->currentKeyForTest();
  std::string old = auth->signForTest(key, ChallengeAuthority::kKindClearance, client(), seconds(0),
                                      seconds(10), 0);
  EXPECT_EQ(auth->checkClearance(old, client()), ChallengeCheck::Expired);
}

TEST_F(ChallengeTest, OtherSiteCannotUseTheToken) {
  std::string cookie = auth->issueClearance(client(), seconds(60));
  ChallengeBinding other = client();
  other.site = "blog";
  EXPECT_EQ(auth->checkClearance(cookie, other), ChallengeCheck::BadSignature);
}

TEST_F(ChallengeTest, RotatedKeyStillVerifiesUntilItLeavesTheRing) {
  std::string cookie = auth->issueClearance(client(), seconds(1'000'000));
  const std::uint32_t first = auth->currentKeyId();
  ASSERT_TRUE(auth->rotate());
  EXPECT_NE(auth->currentKeyId(), first);
  EXPECT_EQ(auth->checkClearance(cookie, client()), ChallengeCheck::Valid);
  // New tokens use the new key and verify too.
  std::string fresh = auth->issueClearance(client(), seconds(60));
  EXPECT_EQ(auth->checkClearance(fresh, client()), ChallengeCheck::Valid);
  for (std::size_t i = 2; i < ChallengeAuthority::kKeySlots; ++i) ASSERT_TRUE(auth->rotate());
  EXPECT_EQ(auth->checkClearance(cookie, client()), ChallengeCheck::Valid);  // still in the ring
  ASSERT_TRUE(auth->rotate());
  EXPECT_EQ(auth->checkClearance(cookie, client()), ChallengeCheck::UnknownKey);
  EXPECT_EQ(auth->checkClearance(fresh, client()), ChallengeCheck::Valid);
  EXPECT_EQ(auth->stats().rotations, ChallengeAuthority::kKeySlots);
}

TEST_F(ChallengeTest, RotateIfDueFollowsThePeriod) {
  const std::uint32_t first = auth->currentKeyId();
  clock.advance(seconds(59));
  auth->rotateIfDue(seconds(60));
  EXPECT_EQ(auth->currentKeyId(), first);
  clock.advance(seconds(1));
  auth->rotateIfDue(seconds(60));
  EXPECT_EQ(auth->currentKeyId(), first + 1);
  auth->rotateIfDue(seconds(60));
  EXPECT_EQ(auth->currentKeyId(), first + 1);
}

TEST_F(ChallengeTest, TokenOfAnotherRingIsRefused) {
  auto other = ChallengeAuthority::create(clock).value();
  std::string cookie = other->issueClearance(client(), seconds(60));
  // Same key id (1), different random key.
  EXPECT_EQ(auth->checkClearance(cookie, client()), ChallengeCheck::BadSignature);
}

// Readers never see a torn key while another thread rotates: a token is
// either verified or (once its key left the ring) UnknownKey, never a
// signature mismatch.
TEST_F(ChallengeTest, RotationUnderConcurrentUseNeverTearsAKey) {
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0}, checked{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::string ua = "reader" + std::to_string(t);
      ChallengeBinding who{"shop", ip("192.0.2.10"), ua};
      while (!stop.load()) {
        std::string cookie = auth->issueClearance(who, seconds(60));
        if (cookie.empty()) continue;
        ChallengeCheck c = auth->checkClearance(cookie, who);
        if (c != ChallengeCheck::Valid && c != ChallengeCheck::UnknownKey) ++torn;
        ++checked;
      }
    });
  }
  // Rotate while the readers run: at least 2000 times and until they have
  // made 1000 checks (bounded, should a reader never get scheduled).
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (checked.load() == 0 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  for (int i = 0; (i < 2000 || checked.load() < 1000) && i < 10'000'000; ++i) auth->rotate();
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GE(checked.load(), 1000);
  EXPECT_GT(auth->currentKeyId(), 1000u);
}

TEST(ChallengeReturnPath, AcceptsOnlySameOriginPaths) {
  EXPECT_TRUE(isSafeReturnPath("/"));
  EXPECT_TRUE(isSafeReturnPath("/shop/cart?id=1&x=%20"));
  EXPECT_FALSE(isSafeReturnPath(""));
  EXPECT_FALSE(isSafeReturnPath("https://evil.example/"));
  EXPECT_FALSE(isSafeReturnPath("//evil.example/"));
  EXPECT_FALSE(isSafeReturnPath("/\\evil.example/"));
  EXPECT_FALSE(isSafeReturnPath("/a b"));
  EXPECT_FALSE(isSafeReturnPath("/a\r\nSet-Cookie: x=1"));
  EXPECT_FALSE(isSafeReturnPath("/" + std::string(5000, 'a')));
}

TEST(ChallengePage, EmbedsTokenDifficultyAndEscapedReturnPath) {
  std::string page = challengePage("tok.en", 16, "/a?b=\"</script>");
  EXPECT_NE(page.find("var T=\"tok.en\",D=16"), std::string::npos);
  EXPECT_NE(page.find("/.mamori/challenge"), std::string::npos);
  EXPECT_EQ(page.find("\"</script>"), std::string::npos);  // escaped, cannot close the script
  EXPECT_NE(page.find("\\u0022\\u003c/script\\u003e"), std::string::npos);
  EXPECT_NE(page.find("<noscript>"), std::string::npos);
  EXPECT_EQ(page.find("src="), std::string::npos);  // no external resources
}

}  // namespace
}  // namespace mamori::guard
