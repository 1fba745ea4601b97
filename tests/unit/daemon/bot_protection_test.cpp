// BotProtection (daemon/bot_protection.h): the shipped data files, a fake
// DNS and a manual clock driven through the verdict hook as mamorid wires
// it; per-class actions, the injected challenge, bans through the sink,
// BOT records, metrics counts, reload, and the control services' bots calls.

#include "daemon/bot_protection.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "admin/commands.h"
#include "config/loader.h"
#include "daemon/control_services.h"
#include "daemon/login_protection.h"
#include "http/request_parser.h"

namespace mamori::daemon {
namespace {

using namespace std::chrono_literals;

const char* kChrome =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36";
const char* kGooglebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

config::Config load(const std::string& bots, const std::string& host = {}) {
  const std::string yaml = host +
                           "tenants:\n"
                           "  - id: acme\n"
                           "    sites:\n"
                           "      - name: web\n"
                           "        hosts: [www.example.com]\n"
                           "        listeners:\n"
                           "          - address: 127.0.0.1:8080\n"
                           "        upstreams:\n"
                           "          - address: 127.0.0.1:9000\n"
                           "        bots:\n" +
                           bots +
                           "      - name: other\n"
                           "        hosts: [other.example.com]\n"
                           "        listeners:\n"
                           "          - address: 127.0.0.1:8080\n"
                           "        upstreams:\n"
                           "          - address: 127.0.0.1:9000\n";
  config::LoadOptions options;
  options.check_file = nullptr;
  auto c = config::loadConfigString(yaml, "t.yaml", options);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : config::Config{};
}

struct FakeSink final : guard::BanSink {
  void ban(const common::IpPrefix& source, std::chrono::seconds ttl, guard::BanReason reason) override {
    std::lock_guard lock(mu);
    bans.push_back({source.toString(), ttl});
    reasons.push_back(reason);
  }
  std::mutex mu;
  std::vector<std::pair<std::string, std::chrono::seconds>> bans;
  std::vector<guard::BanReason> reasons;
};

class FakeDns final : public guard::DnsLookup {
 public:
  std::map<std::string, std::vector<std::string>> ptr;
  std::map<std::string, std::vector<std::string>> a;
  common::Result<std::vector<std::string>> reverse(const common::IpPrefix& address) override {
    auto it = ptr.find(address.toString());
    if (it == ptr.end()) return common::Error{ENOENT, "NXDOMAIN"};
    return it->second;
  }
  common::Result<std::vector<common::IpPrefix>> forward(const std::string& name, bool) override {
    auto it = a.find(name);
    if (it == a.end()) return common::Error{ENOENT, "NXDOMAIN"};
    std::vector<common::IpPrefix> out;
    for (const auto& t : it->second) out.push_back(*common::parseIpPrefix(t));
    return out;
  }
};

class FakeCall final : public admin::Call {
 public:
  explicit FakeCall(std::vector<std::string> args) : args_(std::move(args)) {}
  const admin::Caller& caller() const override { return caller_; }
  const std::vector<std::string>& args() const override { return args_; }
  bool out(std::string_view t) override { return out_ += t, true; }
  bool err(std::string_view t) override { return out_ += t, true; }
  bool cancelled() override { return false; }
  std::string out_;

 private:
  admin::Caller caller_;
  std::vector<std::string> args_;
};

// The challenge of these tests: a recognisable 429 for anyone without the
// "passed=1" cookie.
net::Verdict testChallenge(const http::Request& r, const net::RequestContext&) {
  for (const auto& c : r.cookies)
    if (c.name == "passed" && c.value == "1") return net::Verdict::pass();
  return net::Verdict::block(429, "test-challenge");
}

http::Request request(const std::string& ua, const std::string& extra = {},
                      const std::string& path = "/") {
  std::string raw = "GET " + path + " HTTP/1.1\r\nHost: www.example.com\r\n";
  if (!ua.empty()) raw += "User-Agent: " + ua + "\r\n";
  raw += "Accept: */*\r\n" + extra + "\r\n";
  http::RequestParser parser;
  std::size_t used = 0;
  EXPECT_EQ(parser.feed(raw, &used), http::ParseStatus::Done) << raw;
  return parser.takeRequest();
}

// A browser-like request (the headers a real Chromium sends, in its order).
http::Request browser(const std::string& extra = {}, const std::string& path = "/") {
  std::string raw = "GET " + path + " HTTP/1.1\r\nHost: www.example.com\r\nConnection: keep-alive\r\n"
                    "sec-ch-ua: \"Chromium\";v=\"120\"\r\nsec-ch-ua-mobile: ?0\r\n"
                    "sec-ch-ua-platform: \"Linux\"\r\nUpgrade-Insecure-Requests: 1\r\n"
                    "User-Agent: " + std::string(kChrome) + "\r\n"
                    "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n"
                    "Sec-Fetch-Site: none\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-User: ?1\r\n"
                    "Sec-Fetch-Dest: document\r\nAccept-Encoding: gzip, deflate, br\r\n"
                    "Accept-Language: en-US,en;q=0.9\r\n" + extra + "\r\n";
  http::RequestParser parser;
  std::size_t used = 0;
  EXPECT_EQ(parser.feed(raw, &used), http::ParseStatus::Done) << raw;
  return parser.takeRequest();
}

class BotProtectionTest : public ::testing::Test {
 protected:
  void make(const std::string& bots) {
    config_ = load(bots);
    BotOptions o;
    o.lookup = &dns_;
    o.rdns_threads = 0;
    o.data_dir = MAMORI_BOTS_DATA_DIR;
    auto bp = BotProtection::create(config_, clock_, nullptr, &sink_, testChallenge, o);
    ASSERT_TRUE(bp.ok()) << bp.error().message;
    bp_ = std::move(*bp);
  }
  net::Verdict send(const http::Request& r, const std::string& ip = "192.0.2.7",
                    const std::string& site = "web") {
    net::RequestContext ctx;
    ctx.request_id = "0123456789abcdef";
    ctx.site = site;
    ctx.peer = *config::parseIpAddress(ip);
    ctx.peer_port = 40000;
    return bp_->onRequest(r, ctx);
  }
  std::uint64_t count(const char* cls, const char* action) {
    for (const auto& c : bp_->verdictCounts())
      if (c.site == "web" && c.bot_class == cls && c.action == action) return c.count;
    return 0;
  }
  // Runs the queued rDNS lookups as the verifier's thread would.
  void resolve() { bp_->verifierForTest().runQueuedForTest(); }

  config::Config config_;
  guard::ManualClock clock_;
  FakeSink sink_;
  FakeDns dns_;
  std::unique_ptr<BotProtection> bp_;
};

TEST_F(BotProtectionTest, ScannerBlockedWithABotRecordCount) {
  make("          enabled: true\n");
  net::Verdict v = send(request("sqlmap/1.7.2#stable (https://sqlmap.org)"));
  EXPECT_EQ(v.action, net::Verdict::Action::Block);
  EXPECT_EQ(v.status, 403);
  EXPECT_EQ(count("scanner", "block"), 1u);
  EXPECT_EQ(bp_->stats().records, 1u);
  EXPECT_TRUE(sink_.bans.empty());
}

TEST_F(BotProtectionTest, RecordsAreLimitedPerSourceVerdictsAreNot) {
  make("          enabled: true\n");
  for (int i = 0; i < 30; ++i)
    EXPECT_EQ(send(request("sqlmap/1.7")).action, net::Verdict::Action::Block);
  EXPECT_EQ(count("scanner", "block"), 30u);
  EXPECT_EQ(bp_->stats().records, kRecordsPerSourceSecond);
  EXPECT_EQ(bp_->stats().records_suppressed, 30u - kRecordsPerSourceSecond);
  clock_.advance(1s);
  send(request("sqlmap/1.7"));
  EXPECT_EQ(bp_->stats().records, kRecordsPerSourceSecond + 1);
}

TEST_F(BotProtectionTest, BrowserPassesAndOtherSitesAreUntouched) {
  make("          enabled: true\n");
  EXPECT_EQ(send(browser()).action, net::Verdict::Action::Pass);
  EXPECT_EQ(send(request("sqlmap/1.7"), "192.0.2.7", "other").action, net::Verdict::Action::Pass);
  EXPECT_EQ(bp_->stats().classified, 0u);
}

TEST_F(BotProtectionTest, ToolIsLoggedAndPassesByDefault) {
  make("          enabled: true\n");
  EXPECT_EQ(send(request("curl/7.88.1")).action, net::Verdict::Action::Pass);
  EXPECT_EQ(count("tool", "log"), 1u);
  EXPECT_EQ(bp_->stats().records, 1u);
}

TEST_F(BotProtectionTest, InconsistentBrowserGetsTheInjectedChallenge) {
  make("          enabled: true\n");
  net::Verdict v = send(request(kChrome));  // curl -A <Chrome UA>
  EXPECT_EQ(v.action, net::Verdict::Action::Block);
  EXPECT_EQ(v.status, 429);
  EXPECT_EQ(v.page, "test-challenge");
  EXPECT_EQ(count("inconsistent", "challenge"), 1u);
  // Once it holds the challenge's cookie the challenge lets it through.
  EXPECT_EQ(send(request(kChrome, "Cookie: passed=1\r\n")).action, net::Verdict::Action::Pass);
  EXPECT_EQ(count("inconsistent", "challenge"), 2u);
  EXPECT_EQ(bp_->stats().records, 1u);  // a passed challenge is not logged
}

TEST_F(BotProtectionTest, BanGoesToTheSinkOnceAndBlocksMeanwhile) {
  make("          ban_ttl: 10m\n          actions: {scanner: ban}\n");
  EXPECT_EQ(send(request("nikto/2.5")).status, 403);
  ASSERT_EQ(sink_.bans.size(), 1u);
  EXPECT_EQ(sink_.bans[0].first, "192.0.2.7");
  EXPECT_EQ(sink_.bans[0].second, 600s);
  EXPECT_EQ(sink_.reasons[0], guard::BanReason::Bot);
  // Until XDP drops it, even a browser-looking request from it is refused
  // without a second ban.
  EXPECT_EQ(send(browser()).action, net::Verdict::Action::Block);
  EXPECT_EQ(sink_.bans.size(), 1u);
  EXPECT_EQ(bp_->stats().refused_banned, 1u);
  auto top = bp_->top("web", 5);
  ASSERT_TRUE(top.ok());
  ASSERT_FALSE(top->empty());
  EXPECT_EQ((*top)[0].summary.last_class, guard::BotClass::Scanner);
  EXPECT_EQ((*top)[0].banned_for_s, 600);
  clock_.advance(601s);
  EXPECT_EQ(send(browser()).action, net::Verdict::Action::Pass);
}

// Four workers racing on one scanner's requests: each request is refused,
// and the ban goes to the sink once (the behaviour table's compare-and-swap
// picks the one worker that issues it).
TEST_F(BotProtectionTest, ConcurrentWorkersIssueTheBanOnce) {
  make("          ban_ttl: 10m\n          actions: {scanner: ban}\n");
  const http::Request scanner = request("nikto/2.5");
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i)
        if (send(scanner).status == 403) ++refused;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(refused.load(), 800);
  ASSERT_EQ(sink_.bans.size(), 1u);
  EXPECT_EQ(sink_.bans[0].first, "192.0.2.7");
  EXPECT_EQ(bp_->stats().bans, 1u);
}

// Behind a trusted proxy (a CDN, a load balancer) the client is the
// X-Forwarded-For address, as the flood limits count it: a banned bot is
// refused at the site, and the proxy itself is never banned at XDP, which
// would drop every client behind it. A client that is not a trusted proxy
// cannot name another source with the header.
TEST(BotProtectionProxy, ClientBehindATrustedProxyIsNeverBannedAsTheProxy) {
  config::Config c = load("          ban_ttl: 10m\n          actions: {scanner: ban}\n");
  c.tenants[0].sites[0].trusted_proxies = {common::parseIpPrefix("10.0.0.0/8").value()};
  guard::ManualClock clock;
  FakeSink sink;
  FakeDns dns;
  BotOptions o;
  o.lookup = &dns;
  o.rdns_threads = 0;
  o.data_dir = MAMORI_BOTS_DATA_DIR;
  auto bp = BotProtection::create(c, clock, nullptr, &sink, testChallenge, o);
  ASSERT_TRUE(bp.ok()) << bp.error().message;
  net::RequestContext proxy;
  proxy.site = "web";
  proxy.peer = *config::parseIpAddress("10.1.2.3");
  const std::string xff = "X-Forwarded-For: 198.51.100.9\r\n";
  EXPECT_EQ((*bp)->onRequest(request("nikto/2.5", xff), proxy).status, 403);
  EXPECT_TRUE(sink.bans.empty()) << sink.bans[0].first;
  // The scanner stays refused at the site; another client of the same
  // proxy is served.
  EXPECT_EQ((*bp)->onRequest(browser(xff), proxy).action, net::Verdict::Action::Block);
  EXPECT_EQ((*bp)->onRequest(browser("X-Forwarded-For: 198.51.100.10\r\n"), proxy).action,
            net::Verdict::Action::Pass);
  auto top = (*bp)->top("web", 5);
  ASSERT_TRUE(top.ok());
  ASSERT_FALSE(top->empty());
  EXPECT_EQ((*top)[0].summary.source.toString(), "198.51.100.9");
  // A direct client's X-Forwarded-For is not believed: it is banned itself.
  net::RequestContext direct;
  direct.site = "web";
  direct.peer = *config::parseIpAddress("192.0.2.7");
  EXPECT_EQ((*bp)->onRequest(request("nikto/2.5", "X-Forwarded-For: 10.1.2.3\r\n"), direct).status,
            403);
  ASSERT_EQ(sink.bans.size(), 1u);
  EXPECT_EQ(sink.bans[0].first, "192.0.2.7");
}

// Verified good bots behind a trusted proxy: the claim is verified for the
// client address, not for the proxy's.
TEST(BotProtectionProxy, GoodBotVerifiedForTheClientBehindTheProxy) {
  config::Config c = load("          enabled: true\n");
  c.tenants[0].sites[0].trusted_proxies = {common::parseIpPrefix("10.0.0.0/8").value()};
  guard::ManualClock clock;
  FakeSink sink;
  FakeDns dns;
  dns.ptr["66.249.66.1"] = {"crawl-66-249-66-1.googlebot.com"};
  dns.a["crawl-66-249-66-1.googlebot.com"] = {"66.249.66.1"};
  BotOptions o;
  o.lookup = &dns;
  o.rdns_threads = 0;
  o.data_dir = MAMORI_BOTS_DATA_DIR;
  auto bp = BotProtection::create(c, clock, nullptr, &sink, testChallenge, o);
  ASSERT_TRUE(bp.ok()) << bp.error().message;
  net::RequestContext proxy;
  proxy.site = "web";
  proxy.peer = *config::parseIpAddress("10.1.2.3");
  const http::Request r = request(kGooglebot, "X-Forwarded-For: 66.249.66.1\r\n");
  (*bp)->onRequest(r, proxy);
  (*bp)->verifierForTest().runQueuedForTest();
  EXPECT_TRUE((*bp)->isVerifiedGoodBot(r, proxy));
  EXPECT_FALSE(
      (*bp)->isVerifiedGoodBot(request(kGooglebot, "X-Forwarded-For: 66.249.66.2\r\n"), proxy));
}

TEST(BotProtectionDetect, DetectModeSiteIssuesNoBan) {
  config::Config c = load("          actions: {scanner: ban}\n");
  c.tenants[0].sites[0].mode = config::SiteMode::Detect;
  guard::ManualClock clock;
  FakeSink sink;
  FakeDns dns;
  BotOptions o;
  o.lookup = &dns;
  o.rdns_threads = 0;
  o.data_dir = MAMORI_BOTS_DATA_DIR;
  auto bp = BotProtection::create(c, clock, nullptr, &sink, testChallenge, o);
  ASSERT_TRUE(bp.ok());
  net::RequestContext ctx;
  ctx.site = "web";
  ctx.peer = *config::parseIpAddress("192.0.2.7");
  // The verdict says what would happen (the engine counts it and passes).
  EXPECT_EQ((*bp)->onRequest(request("nikto/2.5"), ctx).action, net::Verdict::Action::Block);
  EXPECT_TRUE(sink.bans.empty());
  EXPECT_EQ((*bp)->onRequest(request("nikto/2.5"), ctx).action, net::Verdict::Action::Block);
  EXPECT_EQ((*bp)->stats().refused_banned, 0u);
}

TEST_F(BotProtectionTest, GoodBotClaimIsVerifiedOffThePath) {
  make("          actions: {unverified_good_claim: log, fake_good_bot: block}\n");
  dns_.ptr["66.249.66.1"] = {"crawl-66-249-66-1.googlebot.com"};
  dns_.a["crawl-66-249-66-1.googlebot.com"] = {"66.249.66.1"};
  dns_.ptr["203.0.113.5"] = {"crawl-1.googlebot.com"};  // PTR set by the impostor
  dns_.a["crawl-1.googlebot.com"] = {"66.249.66.2"};    // does not resolve back
  // First requests: not verified yet, logged and let through.
  EXPECT_EQ(send(request(kGooglebot), "66.249.66.1").action, net::Verdict::Action::Pass);
  EXPECT_EQ(send(request(kGooglebot), "203.0.113.5").action, net::Verdict::Action::Pass);
  EXPECT_EQ(count("unverified_good_claim", "log"), 2u);
  net::RequestContext ctx;
  ctx.site = "web";
  ctx.peer = *config::parseIpAddress("66.249.66.1");
  EXPECT_FALSE(bp_->isVerifiedGoodBot(request(kGooglebot), ctx));
  resolve();
  EXPECT_EQ(send(request(kGooglebot), "66.249.66.1").action, net::Verdict::Action::Pass);
  EXPECT_EQ(count("verified_good", "allow"), 1u);
  EXPECT_TRUE(bp_->isVerifiedGoodBot(request(kGooglebot), ctx));
  net::Verdict fake = send(request(kGooglebot), "203.0.113.5");
  EXPECT_EQ(fake.action, net::Verdict::Action::Block);
  EXPECT_EQ(count("fake_good_bot", "block"), 1u);
  auto st = bp_->status("");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->rdns.verified, 1u);
  EXPECT_EQ(st->rdns.failed, 1u);
}

// Under-attack mode asks about every site, also one without a bots
// section (whose requests never reach onRequest()): the question itself
// must start the verification, or a real crawler stays challenged.
TEST_F(BotProtectionTest, GoodBotQuestionStartsTheVerificationOnAnySite) {
  make("          enabled: true\n");
  dns_.ptr["66.249.66.1"] = {"crawl-66-249-66-1.googlebot.com"};
  dns_.a["crawl-66-249-66-1.googlebot.com"] = {"66.249.66.1"};
  net::RequestContext ctx;
  ctx.site = "other";
  ctx.peer = *config::parseIpAddress("66.249.66.1");
  EXPECT_FALSE(bp_->isVerifiedGoodBot(request(kGooglebot), ctx));  // asked, not answered yet
  resolve();
  EXPECT_TRUE(bp_->isVerifiedGoodBot(request(kGooglebot), ctx));
  // An impostor is asked about and stays unverified.
  ctx.peer = *config::parseIpAddress("203.0.113.5");
  EXPECT_FALSE(bp_->isVerifiedGoodBot(request(kGooglebot), ctx));
  resolve();
  EXPECT_FALSE(bp_->isVerifiedGoodBot(request(kGooglebot), ctx));
}

TEST_F(BotProtectionTest, BehaviourOverThresholdIsItsOwnClass) {
  make("          actions: {behaviour: block}\n"
       "          behaviour: {window: 10s, max_requests: 5, max_paths: 0, max_cookieless: 0}\n");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(send(browser()).action, net::Verdict::Action::Pass);
  net::Verdict v = send(browser());
  EXPECT_EQ(v.action, net::Verdict::Action::Block);
  EXPECT_EQ(count("behaviour", "block"), 1u);
  clock_.advance(13s);  // six 2 s buckets
  EXPECT_EQ(send(browser()).action, net::Verdict::Action::Pass);
}

// A bot rotating through its IPv6 /64 stays one source when the site says
// ipv6_prefix64, and the ban names the /64; without it, each address is
// its own source.
TEST_F(BotProtectionTest, Ipv6SourcesByPrefix64WhenTheSiteSaysSo) {
  const std::string behaviour =
      "          actions: {behaviour: ban}\n"
      "          behaviour: {window: 10s, max_requests: 5, max_paths: 0, max_cookieless: 0}\n";
  auto address = [](int i) { return "2001:db8:1:2::" + std::to_string(i + 1); };
  make(behaviour);
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(send(browser(), address(i)).action, net::Verdict::Action::Pass) << i;
  EXPECT_TRUE(sink_.bans.empty());

  sink_.bans.clear();
  make(behaviour + "          ipv6_prefix64: true\n");
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(send(browser(), address(i)).action, net::Verdict::Action::Pass) << i;
  EXPECT_EQ(send(browser(), address(5)).action, net::Verdict::Action::Block);
  ASSERT_EQ(sink_.bans.size(), 1u);
  EXPECT_EQ(sink_.bans[0].first, "2001:db8:1:2::/64");
  // The rest of the /64 is refused with it; another /64 is not.
  EXPECT_EQ(send(browser(), "2001:db8:1:2::99").action, net::Verdict::Action::Block);
  EXPECT_EQ(send(browser(), "2001:db8:1:3::1").action, net::Verdict::Action::Pass);
  auto top = bp_->top("web", 5);
  ASSERT_TRUE(top.ok());
  ASSERT_FALSE(top->empty());
  EXPECT_EQ((*top)[0].summary.source.toString(), "2001:db8:1:2::/64");
}

TEST_F(BotProtectionTest, ShareOf4xxFromTheStatusObserver) {
  make("          actions: {behaviour: block}\n"
       "          behaviour: {max_4xx_percent: 50, min_responses: 5, max_paths: 0}\n");
  net::RequestContext ctx;
  ctx.site = "web";
  ctx.peer = *config::parseIpAddress("192.0.2.7");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(send(browser({}, "/p" + std::to_string(i))).action, net::Verdict::Action::Pass);
    bp_->onResponseStatus(ctx, 404, false);
  }
  EXPECT_EQ(send(browser()).action, net::Verdict::Action::Block);
}

TEST_F(BotProtectionTest, ReloadKeepsCountsAndRefusesBadFiles) {
  make("          enabled: true\n");
  send(request("sqlmap/1.7"));
  // Policy change: scanners now only logged; the count survives.
  auto next = load("          actions: {scanner: log}\n");
  auto summary = bp_->reload(next);
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(send(request("sqlmap/1.7")).action, net::Verdict::Action::Pass);
  EXPECT_EQ(count("scanner", "block"), 1u);
  EXPECT_EQ(count("scanner", "log"), 1u);
  // A bad data file: refused with its position, the old lists stay.
  const auto dir = std::filesystem::temp_directory_path() / "mamori_bot_protection_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "bad.yaml") << "user_agents:\n  - {name: x, class: wrong, contains: x}\n";
  auto bad = load("          enabled: true\n", "bots:\n  dir: " + dir.string() + "\n");
  BotOptions o;
  o.lookup = &dns_;
  o.rdns_threads = 0;
  auto created = BotProtection::create(bad, clock_, nullptr, &sink_, testChallenge, o);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().message.find("bad.yaml:2:22: invalid class 'wrong'"), std::string::npos)
      << created.error().message;
  std::filesystem::remove_all(dir);
}

// checkReload() reads the data files a reload would use and changes
// nothing: mamorid asks it before reloading the engine and reloads the bot
// policy after, so a reload the engine refuses keeps the running policy.
TEST(BotProtectionCheckReload, ChecksTheFilesAndChangesNothing) {
  const auto dir = std::filesystem::temp_directory_path() / "mamori_bot_check_reload_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::filesystem::copy(MAMORI_BOTS_DATA_DIR, dir, std::filesystem::copy_options::recursive);
  const std::string host = "bots:\n  dir: " + dir.string() + "\n";
  guard::ManualClock clock;
  FakeSink sink;
  FakeDns dns;
  BotOptions o;
  o.lookup = &dns;
  o.rdns_threads = 0;
  auto bp = BotProtection::create(load("          enabled: true\n", host), clock, nullptr, &sink,
                                  testChallenge, o);
  ASSERT_TRUE(bp.ok()) << bp.error().message;
  net::RequestContext ctx;
  ctx.site = "web";
  ctx.peer = *config::parseIpAddress("192.0.2.7");
  // A new policy that checks out is not applied by the check.
  const config::Config next = load("          actions: {scanner: log}\n", host);
  ASSERT_TRUE((*bp)->checkReload(next).ok());
  EXPECT_EQ((*bp)->onRequest(request("sqlmap/1.7"), ctx).action, net::Verdict::Action::Block);
  // A broken file is reported with its position.
  std::ofstream(dir / "zz_bad.yaml") << "user_agents:\n  - {name: x, class: wrong, contains: x}\n";
  auto checked = (*bp)->checkReload(next);
  ASSERT_FALSE(checked.ok());
  EXPECT_NE(checked.error().message.find("zz_bad.yaml:2:22: invalid class 'wrong'"),
            std::string::npos)
      << checked.error().message;
  EXPECT_EQ((*bp)->onRequest(request("sqlmap/1.7"), ctx).action, net::Verdict::Action::Block);
  // A config without any bots section needs no files.
  config::Config none = next;
  none.tenants[0].sites[0].bots.reset();
  EXPECT_TRUE((*bp)->checkReload(none).ok());
  std::filesystem::remove_all(dir);
}

TEST_F(BotProtectionTest, MetricsListEveryConfiguredActionWithZeros) {
  make("          enabled: true\n");
  auto counts = bp_->verdictCounts();
  EXPECT_FALSE(counts.empty());
  EXPECT_EQ(count("scanner", "block"), 0u);
  bool has = false;
  for (const auto& c : counts) has = has || (c.bot_class == "scanner" && c.action == "block");
  EXPECT_TRUE(has);
}

TEST_F(BotProtectionTest, RecordCarriesClassSignalsAndRdns) {
  guard::Classification c;
  c.cls = guard::BotClass::FakeGoodBot;
  c.name = "googlebot";
  c.signals = {"claim:googlebot:failed"};
  BotRecordContext rc;
  rc.tenant = "acme";
  rc.site = "web";
  rc.source_ip = "203.0.113.5";
  rc.http_status = 403;
  rc.rdns_name = "host.example.net";
  rc.rdns_reason = "ptr_outside_domains";
  auto r = botRecord(c, guard::BotAction::Block, rc);
  EXPECT_EQ(r.type, logs::LogType::Bot);
  EXPECT_EQ(r.rule_id, "bot.fake_good_bot");
  EXPECT_EQ(r.event_type, "denied");
  EXPECT_EQ(r.action, "block");
  std::map<std::string, std::string> d;
  for (const auto& f : r.details)
    if (f.value.kind == logs::Value::Kind::String) d[f.key] = f.value.s;
  EXPECT_EQ(d["class"], "fake_good_bot");
  EXPECT_EQ(d["signals"], "claim:googlebot:failed");
  EXPECT_EQ(d["rdns_reason"], "ptr_outside_domains");
}

TEST(ShieldBanSinkBots, CountsBansByReason) {
  // Without a shield the ban cannot reach XDP: counted as unenforced, under
  // the detector that asked (mamori_guard_bans_total{reason="bot_unenforced"}).
  ShieldBanSink sink;
  sink.ban(*common::parseIpPrefix("192.0.2.1"), 60s, guard::BanReason::Bot);
  EXPECT_EQ(sink.unenforced(guard::BanReason::Bot), 1u);
  EXPECT_EQ(sink.unenforced(guard::BanReason::LoginAbuse), 0u);
  EXPECT_EQ(sink.written(guard::BanReason::Bot), 0u);
  EXPECT_EQ(sink.unenforced(), 1u);
}

TEST_F(BotProtectionTest, ControlCommandsPrintStatusAndTop) {
  make("          enabled: true\n");
  send(request("sqlmap/1.7"));
  ControlServices services("/nonexistent", "", 1);
  services.setBots(bp_.get());
  auto run = [&](std::vector<std::string> args) {
    FakeCall call(std::move(args));
    const int code = admin::runCommand(call, services);
    return std::make_pair(code, call.out_);
  };
  auto [code, text] = run({"bots", "status"});
  EXPECT_EQ(code, 0) << text;
  EXPECT_NE(text.find("scanner=block"), std::string::npos) << text;
  EXPECT_NE(text.find("scanner"), std::string::npos);
  auto [jcode, json] = run({"bots", "status", "--output", "json"});
  EXPECT_EQ(jcode, 0);
  EXPECT_NE(json.find("\"class\":\"scanner\",\"action\":\"block\",\"count\":1"), std::string::npos)
      << json;
  auto [tcode, top] = run({"bots", "top", "--output", "json"});
  EXPECT_EQ(tcode, 0);
  EXPECT_NE(top.find("\"source\":\"192.0.2.7\""), std::string::npos) << top;
  EXPECT_NE(run({"bots", "status", "--site", "nope"}).first, 0);
  EXPECT_NE(run({"bots", "frob"}).first, 0);
}

}  // namespace
}  // namespace mamori::daemon
