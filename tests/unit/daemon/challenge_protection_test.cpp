// ChallengeProtection (daemon/challenge_protection.h): under-attack mode and
// require() driven as the engine's verdict chain calls them, with a manual
// clock: the challenge page, a solved submission, the clearance cookie,
// refusals, the good-bot signal, the auto threshold and the CLI switch.

#include "daemon/challenge_protection.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "config/loader.h"
#include "daemon/control_services.h"
#include "http/request_parser.h"

namespace mamori::daemon {
namespace {

using namespace std::chrono_literals;

config::Config load(const std::string& extra) {
  const std::string yaml =
      "tenants:\n"
      "  - id: acme\n"
      "    sites:\n"
      "      - name: web\n"
      "        hosts: [www.example.com]\n"
      "        listeners:\n"
      "          - address: 127.0.0.1:8080\n"
      "        upstreams:\n"
      "          - address: 127.0.0.1:9000\n"
      "        challenge: {difficulty: 4, clearance_ttl: 10m, key_rotation: 5m}\n" +
      extra;
  config::LoadOptions options;
  options.check_file = nullptr;
  auto c = config::loadConfigString(yaml, "t.yaml", options);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : config::Config{};
}

http::Request get(const std::string& target, const std::string& cookie = {},
                  const std::string& ua = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120") {
  std::string raw = "GET " + target + " HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: " + ua +
                    "\r\n" + (cookie.empty() ? "" : "Cookie: " + cookie + "\r\n") + "\r\n";
  http::RequestParser parser;
  std::size_t used = 0;
  EXPECT_EQ(parser.feed(raw, &used), http::ParseStatus::Done);
  return parser.takeRequest();
}

struct Client {
  config::IpAddress ip;
  bool tls = false;
  net::RequestContext context() const {
    net::RequestContext ctx;
    ctx.request_id = "0123456789abcdef";
    ctx.site = "web";
    ctx.peer = ip;
    ctx.peer_port = 40000;
    ctx.tls = tls;
    return ctx;
  }
};

Client client(const char* ip) { return Client{config::parseIpAddress(ip).value()}; }

std::string headerOf(const net::Verdict& v, const std::string& name) {
  for (const auto& h : v.headers)
    if (http::equalsIgnoreCase(h.name, name)) return h.value;
  return {};
}

// The token the page embeds.
std::string tokenOf(const net::Verdict& v) {
  std::smatch m;
  if (!std::regex_search(v.page, m, std::regex("var T=\"([A-Za-z0-9_.-]+)\",D=(\\d+)"))) return {};
  return m[1];
}

std::string solve(const std::string& token, unsigned difficulty) {
  for (std::uint64_t n = 0;; ++n)
    if (guard::challengeWorkBits(token, std::to_string(n)) >= difficulty) return std::to_string(n);
}

// The cookie pair ("mamori_clearance=...") from a 303's Set-Cookie.
std::string cookieOf(const net::Verdict& v) {
  std::string sc = headerOf(v, "set-cookie");
  return sc.substr(0, sc.find(';'));
}

bool isChallenge(const net::Verdict& v) {
  return v.action == net::Verdict::Action::Block && v.status == 403 && !tokenOf(v).empty() &&
         headerOf(v, "content-type") == "text/html; charset=utf-8";
}

struct ChallengeProtectionTest : ::testing::Test {
  guard::ManualClock clock;
  std::unique_ptr<ChallengeProtection> cp;
  void make(const std::string& extra = "") {
    cp = ChallengeProtection::create(load(extra), clock, nullptr).value();
  }
  // Solves the challenge `v` as the page's script would; returns the 303.
  net::Verdict submit(const net::Verdict& challenge, const Client& c, const std::string& back,
                      const std::string& ua = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120") {
    std::string t = tokenOf(challenge);
    return cp->onRequest(get("/.mamori/challenge?t=" + t + "&n=" + solve(t, 4) + "&r=" + back, "", ua),
                         c.context());
  }
};

TEST_F(ChallengeProtectionTest, PassesEverythingWhenNotUnderAttack) {
  make();
  EXPECT_EQ(cp->onRequest(get("/"), client("192.0.2.1").context()).action, net::Verdict::Action::Pass);
  EXPECT_EQ(cp->stats().issued, 0u);
}

TEST_F(ChallengeProtectionTest, UnderAttackBrowserSolvesAndGetsThrough) {
  make();
  ASSERT_TRUE(cp->setUnderAttack("web", UnderAttackSwitch::On));
  Client c = client("192.0.2.1");
  net::Verdict challenge = cp->onRequest(get("/shop?item=7"), c.context());
  ASSERT_TRUE(isChallenge(challenge)) << challenge.page;
  EXPECT_NE(challenge.page.find("R=\"/shop\\u003fitem\\u003d7\""), std::string::npos);
  EXPECT_EQ(headerOf(challenge, "cache-control"), "no-store, private");

  net::Verdict answer = submit(challenge, c, "%2Fshop%3Fitem%3D7");
  EXPECT_EQ(answer.status, 303);
  EXPECT_EQ(headerOf(answer, "location"), "/shop?item=7");
  const std::string set_cookie = headerOf(answer, "set-cookie");
  EXPECT_EQ(set_cookie.rfind("mamori_clearance=", 0), 0u);
  EXPECT_NE(set_cookie.find("; Path=/; Max-Age=600; HttpOnly; SameSite=Lax"), std::string::npos);
  EXPECT_EQ(set_cookie.find("Secure"), std::string::npos);  // plain HTTP

  EXPECT_EQ(cp->onRequest(get("/shop?item=7", cookieOf(answer)), c.context()).action,
            net::Verdict::Action::Pass);
  const ChallengeStats s = cp->stats();
  EXPECT_EQ(s.issued, 1u);
  EXPECT_EQ(s.passed, 1u);
  EXPECT_EQ(s.cleared, 1u);
}

TEST_F(ChallengeProtectionTest, CookieIsSecureOverTls) {
  make();
  Client c = client("192.0.2.1");
  c.tls = true;
  net::Verdict answer = submit(cp->require(get("/"), c.context()), c, "%2F");
  EXPECT_NE(headerOf(answer, "set-cookie").find("; Secure"), std::string::npos);
}

TEST_F(ChallengeProtectionTest, ClientWithoutJavascriptStaysOut) {
  make("        under_attack: {enabled: true}\n");
  Client c = client("192.0.2.1");
  // curl-like: asks again and again without solving.
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(isChallenge(cp->onRequest(get("/", "", "curl/8.5.0"), c.context())));
  EXPECT_EQ(cp->stats().issued, 3u);
}

TEST_F(ChallengeProtectionTest, CookieIsBoundToAddressAndUserAgent) {
  make();
  Client c = client("192.0.2.1");
  net::Verdict answer = submit(cp->require(get("/"), c.context()), c, "%2F");
  const std::string cookie = cookieOf(answer);
  EXPECT_EQ(cp->require(get("/", cookie), c.context()).action, net::Verdict::Action::Pass);
  EXPECT_TRUE(isChallenge(cp->require(get("/", cookie), client("192.0.2.2").context())));
  EXPECT_TRUE(isChallenge(cp->require(get("/", cookie, "python-requests/2.31"), c.context())));
  EXPECT_EQ(cp->stats().bad_cookies, 2u);
}

// Behind a trusted proxy every client has the proxy's TCP address: the
// cookie is bound to the X-Forwarded-For client, or one solved challenge
// would clear everyone behind the proxy who sends the same User-Agent.
TEST_F(ChallengeProtectionTest, CookieIsBoundToTheClientBehindATrustedProxy) {
  make("        trusted_proxies: [10.0.0.0/8]\n");
  const Client proxy = client("10.1.2.3");
  const std::string ua = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120";
  auto via = [&](const std::string& target, const std::string& xff,
                 const std::string& cookie = {}) {
    std::string raw = "GET " + target + " HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: " + ua +
                      "\r\nX-Forwarded-For: " + xff + "\r\n" +
                      (cookie.empty() ? "" : "Cookie: " + cookie + "\r\n") + "\r\n";
    http::RequestParser parser;
    std::size_t used = 0;
    EXPECT_EQ(parser.feed(raw, &used), http::ParseStatus::Done);
    return parser.takeRequest();
  };
  net::Verdict challenge = cp->require(via("/", "198.51.100.1"), proxy.context());
  ASSERT_TRUE(isChallenge(challenge));
  const std::string t = tokenOf(challenge);
  net::Verdict answer =
      cp->require(via("/.mamori/challenge?t=" + t + "&n=" + solve(t, 4) + "&r=%2F", "198.51.100.1"),
                  proxy.context());
  ASSERT_EQ(answer.status, 303);
  const std::string cookie = cookieOf(answer);
  EXPECT_EQ(cp->require(via("/", "198.51.100.1", cookie), proxy.context()).action,
            net::Verdict::Action::Pass);
  EXPECT_TRUE(isChallenge(cp->require(via("/", "198.51.100.2", cookie), proxy.context())));
  // A client that is not a trusted proxy cannot claim the solver's address.
  EXPECT_TRUE(
      isChallenge(cp->require(via("/", "198.51.100.1", cookie), client("192.0.2.5").context())));
}

TEST_F(ChallengeProtectionTest, ForgedAndExpiredCookiesAreRefused) {
  make();
  Client c = client("192.0.2.1");
  const std::string cookie = cookieOf(submit(cp->require(get("/"), c.context()), c, "%2F"));
  std::string forged = cookie;
  char& ch = forged[forged.find('.') + 10];  // inside the MAC (the last char has padding bits)
  ch = ch == 'A' ? 'B' : 'A';
  EXPECT_TRUE(isChallenge(cp->require(get("/", forged), c.context())));
  EXPECT_TRUE(isChallenge(cp->require(get("/", "mamori_clearance=garbage"), c.context())));
  clock.advance(601s);
  EXPECT_TRUE(isChallenge(cp->require(get("/", cookie), c.context())));
  EXPECT_EQ(cp->stats().bad_cookies, 3u);
}

TEST_F(ChallengeProtectionTest, RefusedSubmissionGetsAFreshChallenge) {
  make();
  Client c = client("192.0.2.1");
  net::Verdict challenge = cp->require(get("/"), c.context());
  std::string t = tokenOf(challenge);
  // Insufficient work: a counter whose hash misses the difficulty.
  std::string bad;
  for (std::uint64_t n = 0; bad.empty(); ++n)
    if (guard::challengeWorkBits(t, std::to_string(n)) < 4) bad = std::to_string(n);
  net::Verdict v = cp->onRequest(get("/.mamori/challenge?t=" + t + "&n=" + bad + "&r=%2F"), c.context());
  EXPECT_TRUE(isChallenge(v));
  // Another client's token.
  v = submit(challenge, client("192.0.2.99"), "%2F");
  EXPECT_TRUE(isChallenge(v));
  // No arguments at all.
  EXPECT_TRUE(isChallenge(cp->onRequest(get("/.mamori/challenge"), c.context())));
  EXPECT_EQ(cp->stats().failed, 3u);
  EXPECT_EQ(cp->stats().passed, 0u);
}

TEST_F(ChallengeProtectionTest, SubmissionPathIsNeverForwarded) {
  make();  // not under attack
  net::Verdict v = cp->onRequest(get("/.mamori/challenge?x=1"), client("192.0.2.1").context());
  EXPECT_EQ(v.action, net::Verdict::Action::Block);
}

TEST_F(ChallengeProtectionTest, ReturnPathCannotLeaveTheSite) {
  make();
  Client c = client("192.0.2.1");
  net::Verdict answer = submit(cp->require(get("/"), c.context()), c, "%2F%2Fevil.example%2F");
  EXPECT_EQ(answer.status, 303);
  EXPECT_EQ(headerOf(answer, "location"), "/");
  answer = submit(cp->require(get("/"), c.context()), c, "https%3A%2F%2Fevil.example%2F");
  EXPECT_EQ(headerOf(answer, "location"), "/");
}

TEST_F(ChallengeProtectionTest, VerifiedGoodBotsSkipUnderAttackButNotRequire) {
  make("        under_attack: {enabled: true}\n");
  cp->setGoodBotCheck([](const http::Request& r, const net::RequestContext&) {
    auto ua = r.header("user-agent");
    return ua && ua->find("Googlebot") != std::string_view::npos;
  });
  Client c = client("66.249.66.1");
  auto bot = get("/", "", "Mozilla/5.0 (compatible; Googlebot/2.1)");
  EXPECT_EQ(cp->onRequest(bot, c.context()).action, net::Verdict::Action::Pass);
  EXPECT_TRUE(isChallenge(cp->onRequest(get("/"), c.context())));
  EXPECT_EQ(cp->stats().good_bots, 1u);
}

TEST_F(ChallengeProtectionTest, CliSwitchOverridesConfigUntilAuto) {
  make("        under_attack: {enabled: true}\n");
  Client c = client("192.0.2.1");
  EXPECT_TRUE(isChallenge(cp->onRequest(get("/"), c.context())));
  auto st = cp->setUnderAttack("web", UnderAttackSwitch::Off);
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->on);
  EXPECT_EQ(st->reason, "cli");
  EXPECT_EQ(cp->onRequest(get("/"), c.context()).action, net::Verdict::Action::Pass);
  st = cp->setUnderAttack("web", UnderAttackSwitch::Auto);
  EXPECT_TRUE(st->on);
  EXPECT_EQ(st->reason, "config");
  EXPECT_FALSE(cp->setUnderAttack("nope", UnderAttackSwitch::On));
  EXPECT_EQ(parseUnderAttackSwitch("auto"), UnderAttackSwitch::Auto);
  EXPECT_FALSE(parseUnderAttackSwitch("yes"));
}

TEST_F(ChallengeProtectionTest, AutoThresholdSwitchesOnForItsDuration) {
  make("        under_attack: {auto: {requests_per_second: 5, duration: 30s}}\n");
  Client c = client("192.0.2.1");
  clock.advance(std::chrono::nanoseconds(1'000'000'000 - clock.now().count() % 1'000'000'000));
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(cp->onRequest(get("/"), c.context()).action, net::Verdict::Action::Pass);
  clock.advance(1s);  // a new second: the count starts over
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(cp->onRequest(get("/"), c.context()).action, net::Verdict::Action::Pass);
  EXPECT_FALSE(cp->underAttack()[0].on);
  // The fifth request of this second reaches the threshold: on.
  EXPECT_TRUE(isChallenge(cp->onRequest(get("/"), c.context())));
  auto st = cp->underAttack()[0];
  EXPECT_TRUE(st.on);
  EXPECT_EQ(st.reason, "auto");
  EXPECT_EQ(st.auto_remaining_s, 30);
  EXPECT_EQ(st.auto_threshold, 5u);
  EXPECT_EQ(cp->stats().auto_switches, 1u);
  clock.advance(31s);
  EXPECT_EQ(cp->onRequest(get("/"), c.context()).action, net::Verdict::Action::Pass);
  EXPECT_FALSE(cp->underAttack()[0].on);
}

// `off` from the CLI keeps the threshold from starting an episode: handing
// the site back with `auto` must not reveal one armed meanwhile, and no
// "under-attack mode on" record is written for a site held off.
TEST_F(ChallengeProtectionTest, ThresholdStartsNoEpisodeWhileHeldOff) {
  make("        under_attack: {auto: {requests_per_second: 5, duration: 30s}}\n");
  Client c = client("192.0.2.1");
  ASSERT_TRUE(cp->setUnderAttack("web", UnderAttackSwitch::Off));
  clock.advance(std::chrono::nanoseconds(1'000'000'000 - clock.now().count() % 1'000'000'000));
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(cp->onRequest(get("/"), c.context()).action, net::Verdict::Action::Pass);
  EXPECT_EQ(cp->stats().auto_switches, 0u);
  auto st = cp->setUnderAttack("web", UnderAttackSwitch::Auto);
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->on);
  EXPECT_EQ(st->auto_remaining_s, 0);
  EXPECT_EQ(cp->onRequest(get("/"), c.context()).action, net::Verdict::Action::Pass);
  // Back in auto, the next second over the threshold switches it on.
  clock.advance(1s);
  for (int i = 0; i < 4; ++i) cp->onRequest(get("/"), c.context());
  EXPECT_TRUE(isChallenge(cp->onRequest(get("/"), c.context())));
  EXPECT_EQ(cp->stats().auto_switches, 1u);
}

TEST_F(ChallengeProtectionTest, ReloadKeepsKeysAndSwitches) {
  make();
  Client c = client("192.0.2.1");
  const std::string cookie = cookieOf(submit(cp->require(get("/"), c.context()), c, "%2F"));
  ASSERT_TRUE(cp->setUnderAttack("web", UnderAttackSwitch::On));
  auto summary = cp->reload(load(""));
  ASSERT_TRUE(summary) << summary.error().message;
  EXPECT_TRUE(cp->underAttack()[0].on);
  EXPECT_EQ(cp->onRequest(get("/", cookie), c.context()).action, net::Verdict::Action::Pass);
}

TEST_F(ChallengeProtectionTest, KeyRotationKeepsRecentCookiesValid) {
  make();  // key_rotation: 5m, clearance_ttl: 10m
  Client c = client("192.0.2.1");
  const std::string cookie = cookieOf(submit(cp->require(get("/"), c.context()), c, "%2F"));
  clock.advance(301s);  // the next request rotates the key
  EXPECT_EQ(cp->require(get("/", cookie), c.context()).action, net::Verdict::Action::Pass);
  clock.advance(301s);
  EXPECT_TRUE(isChallenge(cp->require(get("/", cookie), c.context())));  // expired by now
}

TEST(ChallengeRefusalRecord, IsABotRecordNamingTheCheck) {
  Client c = client("192.0.2.7");
  auto req = get("/.mamori/challenge?t=x&n=1", "", "curl/8.5.0");
  logs::LogRecord r = challengeRefusalRecord("acme", "web", c.ip.asHostPrefix(), req, c.context(),
                                             ChallengeRefusal::Answer,
                                             guard::ChallengeCheck::BadSignature, 16);
  EXPECT_EQ(r.type, logs::LogType::Bot);
  EXPECT_EQ(r.rule_id, "bot.challenge_failed");
  EXPECT_EQ(r.rule_category, "bot");
  EXPECT_EQ(r.action, "challenge");
  EXPECT_EQ(r.outcome, "failure");
  EXPECT_EQ(r.tenant, "acme");
  EXPECT_EQ(r.site, "web");
  EXPECT_EQ(r.source_ip, "192.0.2.7");
  EXPECT_EQ(r.url_path, "/.mamori/challenge");
  EXPECT_EQ(r.user_agent, "curl/8.5.0");
  EXPECT_EQ(r.request_id, "0123456789abcdef");
  EXPECT_EQ(r.message, "challenge answer refused: bad_signature");
  ASSERT_EQ(r.details.size(), 2u);
  EXPECT_EQ(r.details[0].key, "check");
  EXPECT_EQ(r.details[0].value.s, "bad_signature");
  r = challengeRefusalRecord("acme", "web", c.ip.asHostPrefix(), req, c.context(),
                             ChallengeRefusal::Cookie,
                             guard::ChallengeCheck::WrongAddress, 16);
  EXPECT_EQ(r.rule_id, "bot.clearance_refused");
  EXPECT_EQ(r.message, "clearance cookie refused: wrong_address");
}

TEST(ChallengeRefusalRecord, NamesTheClientItIsGiven) {
  // Behind a trusted proxy the caller passes the X-Forwarded-For client;
  // the record names it, not the proxy it came through.
  Client proxy = client("10.1.2.3");
  auto req = get("/.mamori/challenge?t=x&n=1");
  const common::IpPrefix behind = client("198.51.100.1").ip.asHostPrefix();
  logs::LogRecord r = challengeRefusalRecord("acme", "web", behind, req, proxy.context(),
                                             ChallengeRefusal::Answer,
                                             guard::ChallengeCheck::BadSignature, 16);
  EXPECT_EQ(r.source_ip, "198.51.100.1");
}

TEST(UnderAttackAutoRecord, IsADosStartRecordOfTheClient) {
  logs::LogRecord r = underAttackAutoRecord("acme", "web", client("198.51.100.9").ip.asHostPrefix(),
                                            5, 5, 30s);
  EXPECT_EQ(r.type, logs::LogType::Dos);
  EXPECT_EQ(r.rule_id, "dos.under_attack_auto");
  EXPECT_EQ(r.event_type, "start");
  EXPECT_EQ(r.source_ip, "198.51.100.9");
  EXPECT_EQ(r.message,
            "under-attack mode on for site web: 5 requests within one second (threshold 5), for 30s");
}

// In a mode: detect site the engine forwards a Block: the challenge is
// counted as detect_only, and no token is signed for a page never served.
TEST_F(ChallengeProtectionTest, DetectModeCountsWithoutIssuing) {
  make("        mode: detect\n");
  ASSERT_TRUE(cp->setUnderAttack("web", UnderAttackSwitch::On));
  Client c = client("192.0.2.1");
  net::RequestContext ctx = c.context();
  ctx.detect_only = true;
  net::Verdict v = cp->onRequest(get("/"), ctx);
  EXPECT_EQ(v.action, net::Verdict::Action::Block);
  EXPECT_TRUE(tokenOf(v).empty());
  EXPECT_EQ(cp->stats().issued, 0u);
  EXPECT_EQ(cp->stats().detect_only, 1u);
  // The same site enforced serves the page and counts it issued.
  EXPECT_TRUE(isChallenge(cp->onRequest(get("/"), c.context())));
  EXPECT_EQ(cp->stats().issued, 1u);
}

TEST_F(ChallengeProtectionTest, ControlServicesSwitchAndShowTheState) {
  make();
  ControlServices sv("/nonexistent/pins", "", 1);
  sv.setConfig(std::make_shared<const config::Config>(load("")));
  EXPECT_FALSE(sv.setUnderAttack("web", "on")) << "no challenge attached yet";
  sv.setChallenge(cp.get());
  ASSERT_EQ(sv.sites().size(), 1u);
  EXPECT_EQ(sv.sites()[0].under_attack, "off");
  auto on = sv.setUnderAttack("web", "on");
  ASSERT_TRUE(on) << on.error().message;
  EXPECT_TRUE(on->on);
  EXPECT_EQ(sv.sites()[0].under_attack, "on (cli)");
  EXPECT_TRUE(isChallenge(cp->onRequest(get("/"), client("192.0.2.1").context())));
  auto bad = sv.setUnderAttack("web", "maybe");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, EINVAL);
  auto unknown = sv.setUnderAttack("nope", "on");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ENOENT);
  ASSERT_TRUE(sv.setUnderAttack("web", "off"));
  EXPECT_EQ(sv.sites()[0].under_attack, "off (cli)");
}

}  // namespace
}  // namespace mamori::daemon
