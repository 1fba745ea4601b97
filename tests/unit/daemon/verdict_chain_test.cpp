// runVerdictChain (daemon/verdict_chain.h): the composition mamorid gives
// the engine. The first Block ends the chain; in a detect-mode site every
// step still runs (inspection keeps logging what a bot or flood step
// flagged) and the first Block is the answer; a Pass that asks for a delay
// or a watch survives later plain Passes.

#include "daemon/verdict_chain.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "config/loader.h"
#include "daemon/bot_protection.h"
#include "daemon/challenge_protection.h"
#include "daemon/flood_protection.h"
#include "http/request_parser.h"

namespace mamori::daemon {
namespace {

using namespace std::chrono_literals;

struct Recorder {
  std::vector<std::string> ran;
  VerdictStep step(std::string name, net::Verdict v) {
    return [this, name, v](const http::Request&, const net::RequestContext&) {
      ran.push_back(name);
      return v;
    };
  }
};

TEST(VerdictChain, FirstBlockEndsTheChain) {
  Recorder r;
  std::vector<VerdictStep> steps{r.step("flood", net::Verdict::pass()),
                                 r.step("bots", net::Verdict::block(403, "bot")),
                                 r.step("inspection", net::Verdict::block(403, "sig"))};
  http::Request request;
  net::RequestContext context;
  const net::Verdict v = runVerdictChain(steps, request, context);
  EXPECT_EQ(v.action, net::Verdict::Action::Block);
  EXPECT_EQ(v.page, "bot");
  EXPECT_EQ(r.ran, (std::vector<std::string>{"flood", "bots"}));
}

TEST(VerdictChain, DetectModeRunsEveryStepAndAnswersTheFirstBlock) {
  Recorder r;
  std::vector<VerdictStep> steps{r.step("bots", net::Verdict::block(403, "bot")),
                                 r.step("challenge", net::Verdict::block(403, "page")),
                                 r.step("login", net::Verdict::pass()),
                                 r.step("inspection", net::Verdict::block(403, "sig"))};
  http::Request request;
  net::RequestContext context;
  context.detect_only = true;
  const net::Verdict v = runVerdictChain(steps, request, context);
  EXPECT_EQ(v.action, net::Verdict::Action::Block);
  EXPECT_EQ(v.page, "bot");
  EXPECT_EQ(r.ran, (std::vector<std::string>{"bots", "challenge", "login", "inspection"}));
}

TEST(VerdictChain, PassThatAsksForSomethingIsKeptUnlessSomethingBlocks) {
  Recorder r;
  net::Verdict watched = net::Verdict::pass();
  watched.watch = std::make_shared<int>(7);
  watched.delay = 250ms;
  std::vector<VerdictStep> steps{VerdictStep{}, r.step("login", watched),
                                 r.step("inspection", net::Verdict::pass())};
  http::Request request;
  net::RequestContext context;
  net::Verdict v = runVerdictChain(steps, request, context);
  EXPECT_EQ(v.action, net::Verdict::Action::Pass);
  EXPECT_EQ(v.watch, watched.watch);
  EXPECT_EQ(v.delay, 250ms);
  steps.push_back(r.step("last", net::Verdict::block(429)));
  v = runVerdictChain(steps, request, context);
  EXPECT_EQ(v.action, net::Verdict::Action::Block);
  EXPECT_EQ(v.status, 429);
  EXPECT_EQ(v.watch, nullptr);
}

TEST(VerdictChain, NoStepsIsAPlainPass) {
  http::Request request;
  net::RequestContext context;
  const net::Verdict v = runVerdictChain({}, request, context);
  EXPECT_EQ(v.action, net::Verdict::Action::Pass);
  EXPECT_EQ(v.watch, nullptr);
  EXPECT_EQ(v.delay, 0ms);
}

// --- the real steps composed as mamorid composes them ---------------------------
//
// One site with flood limits, bot detection and under-attack mode all on:
// which step answers what, and that a solved challenge and a verified
// crawler get through every step.

class OneAddressDns final : public guard::DnsLookup {
 public:
  common::Result<std::vector<std::string>> reverse(const common::IpPrefix& a) override {
    if (a.toString() == "66.249.66.1") return std::vector<std::string>{"crawl-1.googlebot.com"};
    return common::Error{ENOENT, "NXDOMAIN"};
  }
  common::Result<std::vector<common::IpPrefix>> forward(const std::string& name, bool) override {
    if (name == "crawl-1.googlebot.com")
      return std::vector<common::IpPrefix>{*common::parseIpPrefix("66.249.66.1")};
    return common::Error{ENOENT, "NXDOMAIN"};
  }
};

// Workers ban concurrently (BanSink::ban is called from any worker), so
// the record of bans is guarded as every other test sink's is.
struct NoSink final : guard::BanSink {
  void ban(const common::IpPrefix& source, std::chrono::seconds, guard::BanReason) override {
    std::lock_guard lock(mu);
    bans.push_back(source.toString());
  }
  std::mutex mu;
  std::vector<std::string> bans;
};

class ComposedChain : public ::testing::Test {
 protected:
  void SetUp() override {
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
        "        flood:\n"
        "          per_ip: {requests: 8, window: 10s}\n"
        "          per_path: {requests: 0}\n"
        "        bots:\n"
        "          actions: {inconsistent: challenge, scanner: block}\n"
        "        challenge: {difficulty: 4}\n"
        "        under_attack: {enabled: true}\n";
    config::LoadOptions options;
    options.check_file = nullptr;
    auto c = config::loadConfigString(yaml, "t.yaml", options);
    ASSERT_TRUE(c.ok()) << c.error().message;
    config_ = *c;
    flood_ = FloodProtection::create(config_, clock_, nullptr, &sink_).value();
    challenge_ = ChallengeProtection::create(config_, clock_, nullptr).value();
    BotOptions o;
    o.lookup = &dns_;
    o.rdns_threads = 0;
    o.data_dir = MAMORI_BOTS_DATA_DIR;
    ChallengeProtection* cp = challenge_.get();
    bots_ = BotProtection::create(
                config_, clock_, nullptr, &sink_,
                [cp](const http::Request& r, const net::RequestContext& ctx) {
                  return cp->require(r, ctx);
                },
                o)
                .value();
    BotProtection* bp = bots_.get();
    challenge_->setGoodBotCheck([bp](const http::Request& r, const net::RequestContext& ctx) {
      return bp->isVerifiedGoodBot(r, ctx);
    });
    FloodProtection* fp = flood_.get();
    steps_ = {[fp](const http::Request& r, const net::RequestContext& ctx) {
                return fp->onRequest(r, ctx);
              },
              [bp](const http::Request& r, const net::RequestContext& ctx) {
                return bp->onRequest(r, ctx);
              },
              [cp](const http::Request& r, const net::RequestContext& ctx) {
                return cp->onRequest(r, ctx);
              }};
  }
  net::Verdict send(const std::string& target, const std::string& ua, const std::string& ip,
                    const std::string& extra = {}) {
    std::string raw = "GET " + target + " HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: " + ua +
                      "\r\nAccept: */*\r\n" + extra + "\r\n";
    http::RequestParser parser;
    std::size_t used = 0;
    EXPECT_EQ(parser.feed(raw, &used), http::ParseStatus::Done) << raw;
    net::RequestContext ctx;
    ctx.request_id = "0123456789abcdef";
    ctx.site = "web";
    ctx.peer = *config::parseIpAddress(ip);
    ctx.peer_port = 40000;
    return runVerdictChain(steps_, parser.takeRequest(), ctx);
  }
  static std::string tokenOf(const net::Verdict& v) {
    std::smatch m;
    if (!std::regex_search(v.page, m, std::regex("var T=\"([A-Za-z0-9_.-]+)\""))) return {};
    return m[1];
  }

  config::Config config_;
  guard::ManualClock clock_;
  NoSink sink_;
  OneAddressDns dns_;
  std::unique_ptr<FloodProtection> flood_;
  std::unique_ptr<ChallengeProtection> challenge_;
  std::unique_ptr<BotProtection> bots_;
  std::vector<VerdictStep> steps_;
};

const char* kChromeUa =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36";
const char* kGooglebotUa =
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

TEST_F(ComposedChain, ScriptGetsThePageSolverGetsThroughEveryStep) {
  // curl with a browser's UA: the bot step's challenge (inconsistent).
  net::Verdict page = send("/shop", kChromeUa, "192.0.2.1");
  ASSERT_EQ(page.action, net::Verdict::Action::Block);
  ASSERT_EQ(page.status, 403);
  const std::string t = tokenOf(page);
  ASSERT_FALSE(t.empty()) << page.page;
  std::string n;
  for (std::uint64_t i = 0; n.empty(); ++i)
    if (guard::challengeWorkBits(t, std::to_string(i)) >= 4) n = std::to_string(i);
  net::Verdict answer =
      send("/.mamori/challenge?t=" + t + "&n=" + n + "&r=%2Fshop", kChromeUa, "192.0.2.1");
  ASSERT_EQ(answer.status, 303);
  std::string cookie;
  for (const auto& h : answer.headers)
    if (h.name == "Set-Cookie") cookie = h.value.substr(0, h.value.find(';'));
  ASSERT_FALSE(cookie.empty());
  // With the cookie both the bot step and under-attack mode let it through.
  EXPECT_EQ(send("/shop", kChromeUa, "192.0.2.1", "Cookie: " + cookie + "\r\n").action,
            net::Verdict::Action::Pass);
  // A scanner is blocked by the bot step whatever it holds.
  EXPECT_EQ(send("/", "sqlmap/1.7", "192.0.2.1", "Cookie: " + cookie + "\r\n").status, 403);
}

TEST_F(ComposedChain, UnderAttackOnlyVerifiedCrawlersSkipTheChallenge) {
  // First request of a crawler: not verified yet, challenged; the
  // question started the lookup.
  EXPECT_EQ(send("/", kGooglebotUa, "66.249.66.1").status, 403);
  bots_->verifierForTest().runQueuedForTest();
  EXPECT_EQ(send("/", kGooglebotUa, "66.249.66.1").action, net::Verdict::Action::Pass);
  // The same UA from an address whose PTR is not Google's: refuted, and
  // never let through.
  EXPECT_EQ(send("/", kGooglebotUa, "203.0.113.5").status, 403);
  bots_->verifierForTest().runQueuedForTest();
  EXPECT_EQ(send("/", kGooglebotUa, "203.0.113.5").status, 403);
  EXPECT_EQ(challenge_->stats().good_bots, 1u);
}

TEST_F(ComposedChain, FloodAnswersBeforeBotsAndChallenge) {
  for (int i = 0; i < 8; ++i) EXPECT_NE(send("/", kChromeUa, "192.0.2.9").status, 429);
  const std::uint64_t issued = challenge_->stats().issued;
  const net::Verdict v = send("/", kChromeUa, "192.0.2.9");
  EXPECT_EQ(v.status, 429);
  EXPECT_EQ(challenge_->stats().issued, issued);              // no page signed for a flooder
  EXPECT_EQ(send("/", kChromeUa, "192.0.2.10").status, 403);  // another client: the page
}

// Workers run the chain while the main thread reloads every step and a
// control thread flips under-attack mode and reads status: nothing may
// race (run this under -fsanitize=thread), and state survives.
TEST_F(ComposedChain, ReloadWhileWorkersRunIsRaceFree) {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> answered{0};
  auto worker = [&](int w) {
    for (int i = 0; !stop.load(); ++i) {
      const std::string ip = "192.0.2." + std::to_string(1 + (i + w * 7) % 50);
      const net::Verdict v =
          send("/p" + std::to_string(i % 9), i % 3 ? kChromeUa : "curl/8.5.0", ip);
      if (v.action == net::Verdict::Action::Block) answered.fetch_add(1);
      if (i % 64 == 0) bots_->onResponseStatus(net::RequestContext{}, 404, false);
    }
  };
  std::thread w1(worker, 1), w2(worker, 2);
  std::thread control([&] {
    for (int i = 0; !stop.load(); ++i) {
      (void)challenge_->setUnderAttack("web",
                                       i % 2 ? UnderAttackSwitch::On : UnderAttackSwitch::Auto);
      (void)challenge_->underAttack();
      (void)challenge_->stats();
      (void)bots_->status("");
      (void)bots_->verdictCounts();
      (void)flood_->status("", 5);
    }
  });
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(flood_->reload(config_).ok());
    ASSERT_TRUE(bots_->reload(config_).ok());
    ASSERT_TRUE(challenge_->reload(config_).ok());
    clock_.advance(100ms);
  }
  stop = true;
  w1.join();
  w2.join();
  control.join();
  EXPECT_GT(answered.load(), 0u);
  EXPECT_TRUE(flood_->active());
  EXPECT_TRUE(bots_->active());
}

}  // namespace
}  // namespace mamori::daemon
