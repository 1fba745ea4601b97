#include "guard/login_guard.h"
#include "guard/window_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mamori::guard {
namespace {

using namespace std::chrono_literals;

common::IpPrefix ip(const std::string& text) { return common::parseIpPrefix(text).value(); }

http::Request formLogin(const std::string& user, const std::string& path = "/login") {
  http::Request r;
  r.method = http::Method::Post;
  r.method_name = "POST";
  r.target = r.path = r.decoded_path = path;
  r.headers = {{"Host", "shop.example"},
               {"Content-Type", "application/x-www-form-urlencoded"}};
  r.body = "username=" + user + "&password=correct-horse";
  return r;
}

http::Request page(const std::string& path) {
  http::Request r;
  r.method = http::Method::Get;
  r.method_name = "GET";
  r.target = r.path = r.decoded_path = path;
  r.headers = {{"Host", "shop.example"}};
  return r;
}

struct RecordedBan {
  common::IpPrefix source;
  std::chrono::seconds ttl;
  BanReason reason;
};

class RecordingSink : public BanSink {
 public:
  void ban(const common::IpPrefix& source, std::chrono::seconds ttl, BanReason reason) override {
    std::lock_guard lock(mu_);
    bans_.push_back({source, ttl, reason});
  }
  std::vector<RecordedBan> bans() const {
    std::lock_guard lock(mu_);
    return bans_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<RecordedBan> bans_;
};

CounterLimit& limitOf(Limits& l, Counter c) { return const_cast<CounterLimit&>(l.of(c)); }

// A site with the generic form route on /login and only `counters` enabled.
SiteGuardConfig site(std::initializer_list<Counter> counters = {}, bool all = false) {
  SiteGuardConfig s;
  s.site = "shop";
  s.routes = {presetRoute(Preset::GenericForm401)};
  s.tables.counters = 4096;
  s.tables.distinct = 1024;
  s.tables.blocks = 1024;
  s.tables.locks = 512;
  s.tables.offenders = 512;
  if (!all) {
    for (std::size_t i = 0; i < kCounterCount; ++i)
      limitOf(s.limits, static_cast<Counter>(i)).enabled = false;
    for (Counter c : counters) limitOf(s.limits, c).enabled = true;
  }
  return s;
}

const Event* findEvent(const std::vector<Event>& events, EventKind kind) {
  for (const auto& e : events) {
    if (e.kind == kind) return &e;
  }
  return nullptr;
}

class LoginGuardTest : public ::testing::Test {
 protected:
  void make(SiteGuardConfig config) {
    std::vector<SiteGuardConfig> sites;
    sites.push_back(std::move(config));
    GuardOptions options;
    options.hash_key = std::array<std::uint8_t, 16>{7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    auto g = LoginGuard::create(std::move(sites), clock_, &sink_, options);
    ASSERT_TRUE(g.ok()) << g.error().message;
    guard_ = std::move(*g);
  }

  // One attempt through the engine's two calls; a locally answered attempt
  // returns an Unknown decision with the PreCheck kept in last_pre_.
  Decision attempt(const std::string& user, const std::string& source, bool success,
                   const std::string& path = "/login") {
    last_pre_ = guard_->beforeUpstream(0, formLogin(user, path), ip(source));
    if (last_pre_.answerLocally()) {
      Decision d;
      d.events = last_pre_.events;
      return d;
    }
    return guard_->afterResponse(last_pre_, success ? 302 : 401,
                                 {{"Location", "/account"}}, "");
  }
  Decision fail(const std::string& user, const std::string& source) {
    return attempt(user, source, false);
  }

  ManualClock clock_;
  RecordingSink sink_;
  std::unique_ptr<LoginGuard> guard_;
  PreCheck last_pre_;
};

TEST_F(LoginGuardTest, CreateRejectsBadConfig) {
  auto s = site();
  s.username_ladder = {LadderStep{1, Action::BanSource, 0ms, 0s}};
  std::vector<SiteGuardConfig> v{s};
  auto g = LoginGuard::create(v, clock_, &sink_);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().message.find("username_ladder"), std::string::npos);

  std::vector<SiteGuardConfig> twice{site(), site()};
  auto g2 = LoginGuard::create(twice, clock_, &sink_);
  ASSERT_FALSE(g2.ok());
  EXPECT_NE(g2.error().message.find("twice"), std::string::npos);
}

TEST_F(LoginGuardTest, NonLoginRequestsAreNotLoginAttempts) {
  make(site({}, true));
  PreCheck pre = guard_->beforeUpstream(0, page("/login"), ip("192.0.2.1"));
  EXPECT_FALSE(pre.login);
  EXPECT_FALSE(pre.answerLocally());
  Decision d = guard_->afterResponse(pre, 401, {}, "");
  EXPECT_EQ(d.outcome, Outcome::Unknown);
  PreCheck unknown_site = guard_->beforeUpstream(7, formLogin("a"), ip("192.0.2.1"));
  EXPECT_FALSE(unknown_site.login);
  EXPECT_EQ(guard_->findSite("shop"), 0u);
  EXPECT_FALSE(guard_->findSite("blog").has_value());
}

TEST_F(LoginGuardTest, UserIpCounterTripsAtItsThreshold) {
  make(site({Counter::FailuresPerUserIp}));
  for (int i = 0; i < 4; ++i) {
    Decision d = fail("alice", "192.0.2.1");
    EXPECT_EQ(d.outcome, Outcome::Failed);
    EXPECT_TRUE(d.events.empty()) << i;
  }
  Decision d = fail("alice", "192.0.2.1");
  ASSERT_EQ(d.events.size(), 1u);
  const Event& e = d.events[0];
  EXPECT_EQ(e.kind, EventKind::SourceAbuse);
  EXPECT_EQ(e.action, Action::Delay);
  EXPECT_EQ(e.delay, 1000ms);
  EXPECT_EQ(d.delay, 1000ms);
  ASSERT_EQ(e.triggers.size(), 1u);
  EXPECT_EQ(e.triggers[0], (Trigger{Counter::FailuresPerUserIp, 5, 5, 600s}));
  EXPECT_EQ(e.subject, ip("192.0.2.1"));
  EXPECT_EQ(e.route, "generic_form_401");
  // Another user from the same address, or the same user elsewhere: not this pair.
  EXPECT_TRUE(fail("bob", "192.0.2.1").events.empty());
  EXPECT_TRUE(fail("alice", "192.0.2.2").events.empty());
}

TEST_F(LoginGuardTest, WindowExpiryForgetsOldFailures) {
  make(site({Counter::FailuresPerUserIp}));
  for (int i = 0; i < 4; ++i) fail("alice", "192.0.2.1");
  clock_.advance(10min);  // the whole 10-minute window has passed
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(fail("alice", "192.0.2.1").events.empty());
  EXPECT_FALSE(fail("alice", "192.0.2.1").events.empty());
}

TEST_F(LoginGuardTest, FailuresJustInsideTheWindowStillCount) {
  make(site({Counter::FailuresPerUserIp}));
  for (int i = 0; i < 4; ++i) fail("alice", "192.0.2.1");
  clock_.advance(499s);  // < W - W/6 = 500 s: certainly inside
  EXPECT_FALSE(fail("alice", "192.0.2.1").events.empty());
}

TEST_F(LoginGuardTest, SuccessResetsTheUserIpCounter) {
  make(site({Counter::FailuresPerUserIp}));
  for (int i = 0; i < 4; ++i) fail("alice", "192.0.2.1");
  EXPECT_EQ(attempt("alice", "192.0.2.1", true).outcome, Outcome::Succeeded);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(fail("alice", "192.0.2.1").events.empty());
}

TEST_F(LoginGuardTest, LegitimateUserWhoMistypesTwiceIsNeverBlocked) {
  make(site({}, true));  // every counter, default thresholds and ladders
  for (int round = 0; round < 3; ++round) {
    EXPECT_TRUE(fail("alice", "198.51.100.7").events.empty());
    EXPECT_TRUE(fail("alice", "198.51.100.7").events.empty());
    Decision ok = attempt("alice", "198.51.100.7", true);
    EXPECT_EQ(ok.outcome, Outcome::Succeeded);
    EXPECT_TRUE(ok.events.empty());
    EXPECT_FALSE(last_pre_.answerLocally());
    clock_.advance(1h);
  }
  EXPECT_TRUE(sink_.bans().empty());
}

TEST_F(LoginGuardTest, FailuresPerIpCountsAcrossUsernames) {
  auto s = site({Counter::FailuresPerIp});
  s.limits.failures_per_ip.threshold = 3;
  make(s);
  EXPECT_TRUE(fail("a", "192.0.2.9").events.empty());
  EXPECT_TRUE(fail("b", "192.0.2.9").events.empty());
  Decision d = fail("", "192.0.2.9");  // no username at all still counts
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].triggers[0].counter, Counter::FailuresPerIp);
}

TEST_F(LoginGuardTest, EscalatesDelayThen429ThenBlockThenBan) {
  make(site({Counter::FailuresPerUserIp}));
  for (int i = 0; i < 4; ++i) fail("alice", "203.0.113.5");
  EXPECT_EQ(fail("alice", "203.0.113.5").events.at(0).action, Action::Delay);  // excess 1
  Decision d = fail("alice", "203.0.113.5");                                 // excess 2
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].action, Action::TooManyRequests);
  EXPECT_EQ(d.events[0].duration, 60s);

  // Throttled: login attempts are answered 429 without the upstream.
  fail("alice", "203.0.113.5");
  EXPECT_TRUE(last_pre_.answerLocally());
  EXPECT_EQ(last_pre_.answer.status, 429);
  EXPECT_EQ(last_pre_.answer.retry_after, 60s);
  // Other pages of the site still pass while only throttled.
  EXPECT_FALSE(guard_->beforeUpstream(0, page("/"), ip("203.0.113.5")).answerLocally());

  // Hammering while throttled climbs on: excess 4 ... 5 -> block.
  fail("alice", "203.0.113.5");
  d = fail("alice", "203.0.113.5");
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].action, Action::BlockSource);
  EXPECT_EQ(d.events[0].duration, 15min);
  PreCheck any = guard_->beforeUpstream(0, page("/"), ip("203.0.113.5"));
  EXPECT_TRUE(any.answerLocally());
  EXPECT_EQ(any.answer.status, 403);

  // ... 10 -> ban at XDP through the sink.
  for (int excess = 6; excess < 10; ++excess) EXPECT_TRUE(fail("alice", "203.0.113.5").events.empty());
  d = fail("alice", "203.0.113.5");
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].action, Action::BanSource);
  EXPECT_EQ(d.events[0].duration, 10min);
  auto bans = sink_.bans();
  ASSERT_EQ(bans.size(), 1u);
  EXPECT_EQ(bans[0].source, ip("203.0.113.5"));
  EXPECT_EQ(bans[0].ttl, 10min);
  EXPECT_EQ(bans[0].reason, BanReason::LoginAbuse);
  // Already banned: further attempts do not ban again.
  for (int i = 0; i < 5; ++i) fail("alice", "203.0.113.5");
  EXPECT_EQ(sink_.bans().size(), 1u);
}

TEST_F(LoginGuardTest, LiftingABanByHandLetsTheSourceInAgain) {
  auto s = site({Counter::FailuresPerIp});
  s.limits.failures_per_ip.threshold = 1;
  s.source_ladder = {LadderStep{1, Action::BanSource, 0ms, 0s}};
  s.ban_ipv6_prefix64 = true;
  make(s);
  fail("x", "192.0.2.77");
  fail("x", "192.0.2.78");
  fail("x", "2001:db8:1:2:aaaa::1");
  ASSERT_EQ(sink_.bans().size(), 3u);
  EXPECT_EQ(guard_->beforeUpstream(0, page("/"), ip("192.0.2.77")).answer.status, 403);
  EXPECT_EQ(guard_->liftBan(ip("192.0.2.77")), 1u);
  EXPECT_EQ(guard_->liftBan(ip("2001:db8:1:2::/64")), 1u);
  EXPECT_EQ(guard_->liftBan(ip("203.0.113.0/24")), 0u);
  EXPECT_FALSE(guard_->beforeUpstream(0, page("/"), ip("192.0.2.77")).answerLocally());
  EXPECT_FALSE(guard_->beforeUpstream(0, page("/"), ip("2001:db8:1:2::99")).answerLocally());
  EXPECT_EQ(guard_->beforeUpstream(0, page("/"), ip("192.0.2.78")).answer.status, 403);
}

TEST_F(LoginGuardTest, BanTtlGrowsForRepeatOffendersAndIsForgotten) {
  auto s = site({Counter::FailuresPerIp});
  s.limits.failures_per_ip.threshold = 1;
  s.source_ladder = {LadderStep{1, Action::BanSource, 0ms, 0s}};
  s.offender_memory = 7 * 24h;
  make(s);
  const std::vector<std::chrono::seconds> want = {10min, 1h, 24h, 24h};
  for (std::size_t i = 0; i < want.size(); ++i) {
    Decision d = fail("x", "192.0.2.77");
    ASSERT_EQ(d.events.size(), 1u) << i;
    EXPECT_EQ(d.events[0].duration, want[i]);
    clock_.advance(want[i] + 1s);
  }
  auto bans = sink_.bans();
  ASSERT_EQ(bans.size(), 4u);
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(bans[i].ttl, want[i]);
  clock_.advance(8 * 24h);  // past offender_memory: a first offence again
  EXPECT_EQ(fail("x", "192.0.2.77").events.at(0).duration, 10min);
  auto st = guard_->status("shop");
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->restricted.size(), 1u);
  EXPECT_EQ(st->restricted[0].source, ip("192.0.2.77"));
  EXPECT_EQ(st->restricted[0].banned_for, 10min);
  EXPECT_EQ(st->restricted[0].bans, 1u);
}

TEST_F(LoginGuardTest, Ipv6BansTheSlash64WhenConfigured) {
  auto s = site({Counter::FailuresPerIp});
  s.limits.failures_per_ip.threshold = 1;
  s.source_ladder = {LadderStep{1, Action::BanSource, 0ms, 0s}};
  s.ban_ipv6_prefix64 = true;
  make(s);
  fail("x", "2001:db8:1:2:aaaa::1");
  auto bans = sink_.bans();
  ASSERT_EQ(bans.size(), 1u);
  EXPECT_EQ(bans[0].source, ip("2001:db8:1:2::/64"));
  // Any host of that /64 is now refused at the site too.
  EXPECT_EQ(guard_->beforeUpstream(0, page("/"), ip("2001:db8:1:2::99")).answer.status, 403);
}

TEST_F(LoginGuardTest, PasswordSprayFromOneAddressIsCaught) {
  make(site({Counter::DistinctUsersPerIp}));
  int caught_at = 0;
  for (int i = 1; i <= 200 && caught_at == 0; ++i) {
    Decision d = fail("user" + std::to_string(i), "192.0.2.50");
    if (!d.events.empty()) {
      caught_at = i;
      EXPECT_EQ(d.events[0].triggers[0].counter, Counter::DistinctUsersPerIp);
    }
  }
  EXPECT_GE(caught_at, 8);  // threshold 10, sketch error ~7%
  EXPECT_LE(caught_at, 12);
}

TEST_F(LoginGuardTest, DistributedAttackOnOneUsernameLocksIt) {
  make(site({Counter::FailuresPerUser, Counter::DistinctIpsPerUser}));
  int locked_at = 0;
  for (int i = 1; i <= 50 && locked_at == 0; ++i) {
    Decision d = fail("admin", "10.0." + std::to_string(i) + ".1");
    if (const Event* e = findEvent(d.events, EventKind::UsernameAbuse)) {
      locked_at = i;
      EXPECT_EQ(e->action, Action::LockUsername);
      EXPECT_EQ(e->duration, 15min);
      EXPECT_EQ(e->triggers[0].counter, Counter::DistinctIpsPerUser);
    }
  }
  EXPECT_GE(locked_at, 8);
  EXPECT_LE(locked_at, 12);
  // Further attempts on that username, from anywhere, are answered locally.
  fail("admin", "10.1.1.1");
  EXPECT_TRUE(last_pre_.answerLocally());
  EXPECT_EQ(last_pre_.answer.status, 429);
  EXPECT_EQ(last_pre_.answer.retry_after, 15min);
  // Other usernames are untouched.
  fail("alice", "10.1.1.1");
  EXPECT_FALSE(last_pre_.answerLocally());
}

TEST_F(LoginGuardTest, FailuresPerUserLocksAndCliUnlocks) {
  auto s = site({Counter::FailuresPerUser});
  s.limits.failures_per_user.threshold = 3;
  s.usernames = UsernameStorage::Clear;
  make(s);
  fail("carol", "192.0.2.1");
  fail("carol", "192.0.2.2");
  EXPECT_EQ(fail("carol", "192.0.2.3").events.at(0).action, Action::LockUsername);
  fail("CAROL", "192.0.2.4");  // usernames are case-insensitive by default
  EXPECT_TRUE(last_pre_.answerLocally());

  auto st = guard_->status("shop");
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->locked.size(), 1u);
  EXPECT_EQ(st->locked[0].username, "carol");
  EXPECT_EQ(st->locked[0].remaining, 15min);

  auto unlocked = guard_->unlock("shop", "Carol");
  ASSERT_TRUE(unlocked.ok());
  EXPECT_TRUE(*unlocked);
  attempt("carol", "192.0.2.1", true);
  EXPECT_FALSE(last_pre_.answerLocally());
  // The counters were cleared too: one more mistake does not lock again.
  EXPECT_TRUE(fail("carol", "192.0.2.1").events.empty());
  EXPECT_TRUE(guard_->status("shop")->locked.empty());
  EXPECT_FALSE(*guard_->unlock("shop", "carol"));
  EXPECT_FALSE(guard_->unlock("blog", "carol").ok());
}

TEST_F(LoginGuardTest, LockExpires) {
  auto s = site({Counter::FailuresPerUser});
  s.limits.failures_per_user.threshold = 1;
  make(s);
  fail("dave", "192.0.2.1");
  fail("dave", "192.0.2.1");
  EXPECT_TRUE(last_pre_.answerLocally());
  clock_.advance(15min);
  fail("dave", "192.0.2.1");
  EXPECT_FALSE(last_pre_.answerLocally());
}

TEST_F(LoginGuardTest, SubnetCounterBlocksThePrefixButNeverBansIt) {
  auto s = site({Counter::FailuresPerV4Prefix24});
  s.limits.failures_per_v4_24.threshold = 20;
  s.source_ladder = {LadderStep{1, Action::BanSource, 0ms, 0s}};
  make(s);
  Decision d;
  for (int i = 1; i <= 20; ++i) d = fail("u" + std::to_string(i), "198.51.100." + std::to_string(i));
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].action, Action::BlockSource);  // ban is capped at block for prefixes
  EXPECT_EQ(d.events[0].subject, ip("198.51.100.0/24"));
  EXPECT_EQ(d.events[0].duration, 10min);
  EXPECT_TRUE(sink_.bans().empty());
  EXPECT_EQ(guard_->beforeUpstream(0, page("/"), ip("198.51.100.200")).answer.status, 403);
  EXPECT_EQ(guard_->beforeUpstream(0, page("/"), ip("198.51.101.1")).answer.status, 0);
}

TEST_F(LoginGuardTest, Ipv6Slash64Counter) {
  auto s = site({Counter::FailuresPerV6Prefix64});
  s.limits.failures_per_v6_64.threshold = 3;
  make(s);
  fail("a", "2001:db8::1");
  fail("b", "2001:db8::2");
  Decision d = fail("c", "2001:db8::3:4");
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].triggers[0].counter, Counter::FailuresPerV6Prefix64);
  EXPECT_EQ(d.events[0].subject, ip("2001:db8::/64"));
  EXPECT_TRUE(fail("d", "2001:db8:0:1::1").events.empty());  // another /64
}

TEST_F(LoginGuardTest, AccountTakeoverAfterManyFailures) {
  auto s = site({Counter::FailuresPerUser});
  s.limits.failures_per_user.threshold = 100;
  s.limits.takeover_after_failures = 5;
  make(s);
  for (int i = 0; i < 5; ++i) fail("erin", "10.0.0." + std::to_string(i + 1));
  Decision d = attempt("erin", "10.9.9.9", true);
  const Event* e = findEvent(d.events, EventKind::AccountTakeover);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->subject, ip("10.9.9.9"));
  EXPECT_EQ(e->triggers.at(0), (Trigger{Counter::FailuresPerUser, 5, 5, 600s}));
  // A user with fewer failures logs in quietly.
  for (int i = 0; i < 4; ++i) fail("frank", "10.0.0.1");
  EXPECT_TRUE(attempt("frank", "10.0.0.1", true).events.empty());
}

TEST_F(LoginGuardTest, AllowListAlwaysWins) {
  auto s = site({}, true);
  s.allow = {ip("10.0.0.0/8")};
  s.limits.failures_per_ip.threshold = 1;
  s.limits.failures_per_user.threshold = 1;
  make(s);
  for (int i = 0; i < 50; ++i) {
    Decision d = fail("admin", "10.1.2.3");
    EXPECT_EQ(d.outcome, Outcome::Failed);
    EXPECT_TRUE(d.events.empty());
    EXPECT_TRUE(last_pre_.allowed);
    EXPECT_FALSE(last_pre_.answerLocally());
  }
  // Lock the username from outside; the allowed office still gets through.
  fail("admin", "192.0.2.1");
  fail("admin", "192.0.2.1");
  EXPECT_TRUE(last_pre_.answerLocally());
  fail("admin", "10.1.2.3");
  EXPECT_FALSE(last_pre_.answerLocally());
  auto r = guard_->reportOutcome("shop", "admin", ip("10.1.2.3"), Outcome::Failed);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->events.empty());
}

TEST_F(LoginGuardTest, DetectionOnlyReportsButEnforcesNothing) {
  auto s = site({Counter::FailuresPerUserIp});
  s.limits.failures_per_user_ip.threshold = 2;
  s.source_ladder = {LadderStep{1, Action::Delay, 500ms, 0s},
                     LadderStep{2, Action::BanSource, 0ms, 0s}};
  s.detection_only = true;
  make(s);
  fail("gina", "192.0.2.1");
  Decision d = fail("gina", "192.0.2.1");
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_FALSE(d.enforced);
  EXPECT_FALSE(d.events[0].enforced);
  EXPECT_EQ(d.events[0].delay, 500ms);
  EXPECT_EQ(d.delay, 0ms);
  d = fail("gina", "192.0.2.1");
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].action, Action::BanSource);
  EXPECT_TRUE(sink_.bans().empty());
  // The would-be answer is visible, but the request is forwarded.
  PreCheck pre = guard_->beforeUpstream(0, formLogin("gina"), ip("192.0.2.1"));
  EXPECT_EQ(pre.answer.status, 403);
  EXPECT_FALSE(pre.enforced);
  EXPECT_FALSE(pre.answerLocally());
}

TEST_F(LoginGuardTest, UsernamesAreHashedByDefault) {
  auto s = site({Counter::FailuresPerUser, Counter::FailuresPerUserIp});
  s.limits.failures_per_user.threshold = 2;
  s.limits.failures_per_user_ip.threshold = 2;
  make(s);
  fail("secret.person@example.com", "192.0.2.1");
  Decision d = fail("secret.person@example.com", "192.0.2.1");
  ASSERT_EQ(d.events.size(), 2u);
  const std::string shown = guard_->usernameDisplayForTest(0, "secret.person@example.com");
  EXPECT_EQ(shown.size(), 18u);
  EXPECT_EQ(shown.rfind("h:", 0), 0u);
  for (const auto& e : d.events) {
    EXPECT_EQ(e.username, shown);
    EXPECT_EQ(e.username.find("secret"), std::string::npos);
  }
  EXPECT_EQ(last_pre_.username, shown);
  auto st = guard_->status("shop");
  ASSERT_EQ(st->locked.size(), 1u);
  EXPECT_EQ(st->locked[0].username, shown);
}

TEST_F(LoginGuardTest, ReportOutcomeCountsLikeResponses) {
  auto s = site({Counter::FailuresPerUserIp});
  s.limits.failures_per_user_ip.threshold = 2;
  make(s);
  ASSERT_TRUE(guard_->reportOutcome("shop", "henry", ip("192.0.2.8"), Outcome::Failed).ok());
  auto d = guard_->reportOutcome("shop", "Henry", ip("192.0.2.8"), Outcome::Failed);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->events.size(), 1u);
  EXPECT_EQ(d->events[0].triggers[0].counter, Counter::FailuresPerUserIp);
  EXPECT_EQ(guard_->reportOutcome("blog", "x", ip("192.0.2.8"), Outcome::Failed).error().code,
            ENOENT);
  EXPECT_EQ(guard_->reportOutcome("shop", "x", ip("192.0.2.0/24"), Outcome::Failed).error().code,
            EINVAL);
}

TEST_F(LoginGuardTest, StatusListsTopSources) {
  make(site({Counter::FailuresPerIp}));
  for (int i = 0; i < 3; ++i) fail("a", "192.0.2.1");
  for (int i = 0; i < 7; ++i) fail("a", "192.0.2.2");
  fail("a", "192.0.2.3");
  auto st = guard_->status("shop", 2);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->top_sources.size(), 2u);
  EXPECT_EQ(st->top_sources[0].source, ip("192.0.2.2"));
  EXPECT_EQ(st->top_sources[0].failures, 7u);
  EXPECT_EQ(st->top_sources[1].source, ip("192.0.2.1"));
  EXPECT_FALSE(guard_->status("blog").ok());
}

TEST_F(LoginGuardTest, JsonRouteEndToEnd) {
  auto s = site({Counter::FailuresPerUserIp});
  s.routes = {presetRoute(Preset::JsonApiOkFalse, "/api/login", "/user/email")};
  s.limits.failures_per_user_ip.threshold = 2;
  s.usernames = UsernameStorage::Clear;
  make(s);
  http::Request r = page("/api/login");
  r.method = http::Method::Post;
  r.method_name = "POST";
  r.headers.push_back({"Content-Type", "application/json"});
  r.body = R"({"user":{"email":"Ivy@Example.com"},"password":"pw"})";
  PreCheck pre = guard_->beforeUpstream(0, r, ip("192.0.2.1"));
  ASSERT_TRUE(pre.login);
  EXPECT_EQ(pre.username, "ivy@example.com");
  EXPECT_EQ(guard_->afterResponse(pre, 200, {}, R"({"ok":false})").outcome, Outcome::Failed);
  Decision d = guard_->afterResponse(pre, 200, {}, R"({"ok":false})");
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].username, "ivy@example.com");
  EXPECT_EQ(guard_->afterResponse(pre, 200, {}, R"({"ok":true})").outcome, Outcome::Succeeded);
}

TEST_F(LoginGuardTest, MillionSourceSprayKeepsMemoryBoundedAndHeavyHitters) {
  auto s = site({Counter::FailuresPerIp});
  s.limits.failures_per_ip.threshold = 60000;
  make(s);
  const std::size_t memory = guard_->memoryBytes();
  const std::vector<std::string> heavy = {"192.0.2.1", "192.0.2.2", "198.51.100.3"};
  for (const auto& h : heavy)
    for (int i = 0; i < 3; ++i) guard_->reportOutcome("shop", "", ip(h), Outcome::Failed).ok();
  common::IpPrefix spray = ip("11.0.0.0");
  for (std::uint32_t i = 0; i < 1'000'000; ++i) {
    spray.bytes[1] = static_cast<std::uint8_t>(i >> 16);
    spray.bytes[2] = static_cast<std::uint8_t>(i >> 8);
    spray.bytes[3] = static_cast<std::uint8_t>(i);
    (void)guard_->reportOutcome("shop", "", spray, Outcome::Failed);
    if (i % 2000 == 0) {
      for (const auto& h : heavy) (void)guard_->reportOutcome("shop", "", ip(h), Outcome::Failed);
    }
  }
  EXPECT_EQ(guard_->memoryBytes(), memory);
  auto [used, capacity] = guard_->ipTableFillForTest(0);
  EXPECT_LE(used, capacity);
  EXPECT_EQ(capacity, 4096u);
  EXPECT_GT(guard_->ipEvictionsForTest(0), 990'000u);
  auto st = guard_->status("shop", 3);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->top_sources.size(), 3u);
  for (const auto& top : st->top_sources) {
    EXPECT_NE(std::find(heavy.begin(), heavy.end(), top.source.toString()), heavy.end())
        << top.source.toString();
    EXPECT_EQ(top.failures, 3u + 500u);  // every heavy hitter failure is still counted
  }
}

TEST_F(LoginGuardTest, ConcurrentWorkersShareCountersWithoutLoss) {
  auto s = site({Counter::FailuresPerIp, Counter::FailuresPerUser, Counter::DistinctUsersPerIp});
  s.limits.failures_per_ip.threshold = 60000;
  s.limits.failures_per_user.threshold = 60000;
  s.limits.distinct_users_per_ip.threshold = 60000;
  make(s);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 3000;
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        PreCheck pre = guard_->beforeUpstream(
            0, formLogin("user" + std::to_string(i % 50)), ip("203.0.113.1"));
        (void)guard_->afterResponse(pre, 401, {}, "");
        // Each thread also has its own sources, so shards see mixed traffic.
        (void)guard_->reportOutcome("shop", "", ip("10.0." + std::to_string(t) + "." +
                                                   std::to_string(i % 200)),
                                    Outcome::Failed);
        if (i % 500 == 0) {
          (void)guard_->status("shop");
          (void)guard_->unlock("shop", "user1");
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  auto st = guard_->status("shop", 1);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->top_sources.size(), 1u);
  EXPECT_EQ(st->top_sources[0].source, ip("203.0.113.1"));
  EXPECT_EQ(st->top_sources[0].failures, static_cast<std::uint32_t>(kThreads * kPerThread));
}

}  // namespace
}  // namespace mamori::guard

namespace mamori::guard {
namespace {

// The per-key costs quoted in docs/login-abuse.md (lock-free tables: each
// entry is its 8-byte key word and a value of atomics): 80 bytes per
// address count, 56 per prefix, username or (username, address) count, 152
// per distinct-count sketch, 64 per restriction, 80 per lock, 24 per
// offender, and nothing else (no shard locks).
TEST(LoginGuardMemory, IsTheDocumentedCostPerKey) {
  EXPECT_EQ(detail::AtomicTable<detail::AtomicWindowCount>::slotBytes(), 56u);
  EXPECT_EQ(detail::AtomicTable<detail::AtomicDistinctSketch>::slotBytes(), 152u);
  ManualClock clock;
  SiteGuardConfig s;
  s.site = "shop";
  auto g = LoginGuard::create({s}, clock, nullptr);
  ASSERT_TRUE(g.ok());
  const TableSizes& t = s.tables;
  const std::size_t expected = t.counters * 80 + 4 * t.counters * 56 + 2 * t.distinct * 152 +
                               t.blocks * 64 + t.locks * 80 + t.offenders * 24;
  EXPECT_EQ((*g)->memoryBytes(), expected);
  EXPECT_LT(expected, 13u * 1024 * 1024);  // defaults: under 13 MiB per site
}

}  // namespace
}  // namespace mamori::guard

namespace mamori::guard {
namespace {

TEST(LoginGuardReload, UnchangedSitesKeepTheirCountersAndLocks) {
  ManualClock clock;
  RecordingSink sink;
  auto shop = site({Counter::FailuresPerUser});
  shop.limits.failures_per_user.threshold = 3;
  auto blog = shop;
  blog.site = "blog";
  auto first = LoginGuard::create({shop, blog}, clock, &sink);
  ASSERT_TRUE(first.ok());
  for (const char* s : {"shop", "blog"}) {
    ASSERT_TRUE((*first)->reportOutcome(s, "kim", ip("192.0.2.1"), Outcome::Failed).ok());
    ASSERT_TRUE((*first)->reportOutcome(s, "kim", ip("192.0.2.2"), Outcome::Failed).ok());
  }
  // Reload: blog's settings change, shop's do not; the site order changes too.
  auto blog2 = blog;
  blog2.limits.failures_per_user.threshold = 4;
  GuardOptions options;
  options.carry_over_from = first->get();
  auto second = LoginGuard::create({blog2, shop}, clock, &sink, options);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->findSite("shop"), 1u);
  auto d = (*second)->reportOutcome("shop", "kim", ip("192.0.2.3"), Outcome::Failed);
  ASSERT_EQ(d->events.size(), 1u);  // 3rd failure: counted across the reload
  EXPECT_EQ(d->events[0].action, Action::LockUsername);
  EXPECT_EQ(d->events[0].username, (*first)->usernameDisplayForTest(0, "kim"));
  auto b = (*second)->reportOutcome("blog", "kim", ip("192.0.2.3"), Outcome::Failed);
  EXPECT_TRUE(b->events.empty());  // changed site: started empty
  // The old guard still works and sees the shared lock.
  EXPECT_EQ((*first)->status("shop")->locked.size(), 1u);
  first->reset();
  EXPECT_EQ((*second)->status("shop")->locked.size(), 1u);
}

}  // namespace
}  // namespace mamori::guard

namespace mamori::guard {
namespace {

TEST(LoginGuardSources, Ipv4MappedClientsAreIpv4) {
  ManualClock clock;
  RecordingSink sink;
  auto s = site({Counter::FailuresPerIp});
  s.limits.failures_per_ip.threshold = 1;
  s.source_ladder = {LadderStep{1, Action::BanSource, 0ms, 0s}};
  auto g = LoginGuard::create({s}, clock, &sink);
  ASSERT_TRUE(g.ok());
  PreCheck pre = (*g)->beforeUpstream(0, formLogin("x"), ip("::ffff:192.0.2.10"));
  EXPECT_EQ(pre.source, ip("192.0.2.10"));
  (void)(*g)->afterResponse(pre, 401, {}, "");
  auto bans = sink.bans();
  ASSERT_EQ(bans.size(), 1u);
  EXPECT_EQ(bans[0].source, ip("192.0.2.10"));
  // Seen either way, it is the same blocked source; other IPv4 clients are not.
  EXPECT_EQ((*g)->beforeUpstream(0, page("/"), ip("192.0.2.10")).answer.status, 403);
  EXPECT_EQ((*g)->beforeUpstream(0, page("/"), ip("::ffff:192.0.2.11")).answer.status, 0);
  auto r = (*g)->reportOutcome("shop", "", ip("::ffff:192.0.2.10"), Outcome::Failed);
  ASSERT_TRUE(r.ok());
}

}  // namespace
}  // namespace mamori::guard

namespace mamori::guard {
namespace {

// Lock-free request path (issue #8): workers racing on one source.

// One failed login through the engine's two calls, safe to run from many
// threads (no shared fixture state).
void failedAttempt(LoginGuard& g, const std::string& user, const common::IpPrefix& source) {
  PreCheck pre = g.beforeUpstream(0, formLogin(user), source);
  if (!pre.answerLocally()) (void)g.afterResponse(pre, 401, {}, "");
}

// The ladder's first rung bans: every worker crosses the threshold at
// about the same time, on a restriction entry they all create at once.
TEST(LoginGuardConcurrency, RacingWorkersOverTheLimitIssueExactlyOneBan) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  for (int round = 0; round < 20; ++round) {
    ManualClock clock;
    RecordingSink sink;
    auto s = site({Counter::FailuresPerIp});
    s.limits.failures_per_ip.threshold = 3;
    s.source_ladder = {LadderStep{1, Action::BanSource, 0ms, 0s}};
    auto g = LoginGuard::create({s}, clock, &sink);
    ASSERT_TRUE(g.ok());
    const common::IpPrefix source = ip("198.51.100." + std::to_string(round + 1));
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t)
      workers.emplace_back([&] {
        for (int i = 0; i < kPerThread; ++i) failedAttempt(**g, "kim", source);
      });
    for (auto& w : workers) w.join();
    const auto bans = sink.bans();
    ASSERT_EQ(bans.size(), 1u) << "round " << round;
    EXPECT_EQ(bans[0].source, source);
    EXPECT_EQ(bans[0].ttl, s.ban_ttls.front());
    // Every attempt was counted once: before the ban through afterResponse,
    // after it as a refused attempt in beforeUpstream.
    auto st = (*g)->status("shop", 1);
    ASSERT_TRUE(st.ok());
    ASSERT_EQ(st->top_sources.size(), 1u);
    EXPECT_EQ(st->top_sources[0].failures, static_cast<std::uint32_t>(kThreads * kPerThread));
    EXPECT_EQ(st->top_sources[0].bans, 1u);
    ASSERT_EQ(st->restricted.size(), 1u);
    EXPECT_GT(st->restricted[0].banned_for.count(), 0);
    EXPECT_EQ((*g)->beforeUpstream(0, page("/"), source).answer.status, 403);
  }
}

// One thread bans a stream of new sources through a one-set restriction
// table (every new restriction evicts one) while another sends one-off
// sources: a ban written into a slot just handed to one of them (and taken
// back a moment later) must never refuse it, since its tag is not theirs.
TEST(LoginGuardConcurrency, ABanNeverRefusesTheSourceItsSlotWasHandedTo) {
  ManualClock clock;
  RecordingSink sink;
  auto s = site({Counter::FailuresPerIp});
  s.limits.failures_per_ip.threshold = 1;
  s.source_ladder = {LadderStep{1, Action::BanSource, 0ms, 0s}};
  s.tables.blocks = 8;  // one set
  auto g = LoginGuard::create({s}, clock, &sink);
  ASSERT_TRUE(g.ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  std::atomic<bool> done{false};
  std::thread banner([&] {
    common::IpPrefix p = ip("10.1.0.0");
    for (int i = 0; i < 200000 && std::chrono::steady_clock::now() < deadline; ++i) {
      p.bytes[1] = static_cast<std::uint8_t>(1 + (i >> 16));
      p.bytes[2] = static_cast<std::uint8_t>(i >> 8);
      p.bytes[3] = static_cast<std::uint8_t>(i);
      failedAttempt(**g, "kim", p);
      failedAttempt(**g, "kim", p);  // over the threshold: banned
    }
    done = true;
  });
  common::IpPrefix v = ip("172.16.0.0");
  std::uint32_t n = 0, refused = 0;
  while (!done.load()) {
    v.bytes[1] = static_cast<std::uint8_t>(16 + ((n >> 16) & 15));
    v.bytes[2] = static_cast<std::uint8_t>(n >> 8);
    v.bytes[3] = static_cast<std::uint8_t>(n);
    ++n;
    if ((*g)->beforeUpstream(0, page("/"), v).answer.status != 0) ++refused;
  }
  banner.join();
  EXPECT_GT(sink.bans().size(), 0u);
  EXPECT_EQ(refused, 0u) << "of " << n << " one-off sources";
}

// The default ladder (delay, 429, block, ban) climbed by four workers at
// once: one ban, and the source stays blocked.
TEST(LoginGuardConcurrency, RacingWorkersClimbTheLadderToOneBan) {
  ManualClock clock;
  RecordingSink sink;
  auto s = site({Counter::FailuresPerIp});
  s.limits.failures_per_ip.threshold = 5;
  auto g = LoginGuard::create({s}, clock, &sink);
  ASSERT_TRUE(g.ok());
  const common::IpPrefix source = ip("2001:db8::7");
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t)
    workers.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) failedAttempt(**g, "user" + std::to_string(i % 7), source);
    });
  for (auto& w : workers) w.join();
  const auto bans = sink.bans();
  ASSERT_EQ(bans.size(), 1u);
  EXPECT_EQ(bans[0].reason, BanReason::LoginAbuse);
  EXPECT_EQ((*g)->beforeUpstream(0, page("/"), source).answer.status, 403);
  auto st = (*g)->status("shop", 1);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->top_sources.size(), 1u);
  EXPECT_EQ(st->top_sources[0].failures, 8000u);
}

// Many threads spraying one-off sources through small tables while heavy
// hitters keep failing: memory stays what create() allocated, the tables
// stay within capacity, and the heavy hitters are neither evicted nor
// miscounted.
TEST(LoginGuardConcurrency, SprayFromManyThreadsStaysBounded) {
  ManualClock clock;
  RecordingSink sink;
  auto s =
      site({Counter::FailuresPerIp, Counter::FailuresPerV4Prefix24, Counter::FailuresPerUser,
            Counter::DistinctUsersPerIp, Counter::DistinctIpsPerUser, Counter::FailuresPerUserIp});
  for (std::size_t i = 0; i < kCounterCount; ++i)
    limitOf(s.limits, static_cast<Counter>(i)).threshold = 60000;
  s.tables.counters = 512;
  s.tables.distinct = 128;
  s.tables.blocks = 64;
  s.tables.locks = 64;
  s.tables.offenders = 64;
  auto g = LoginGuard::create({s}, clock, &sink);
  ASSERT_TRUE(g.ok());
  const std::size_t memory = (*g)->memoryBytes();
  constexpr int kThreads = 4;
  // The heavy hitters start with a few failures, so that a one-off source
  // (one failure) always weighs less.
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < 3; ++i)
      failedAttempt(**g, "admin", ip("203.0.113." + std::to_string(t + 1)));
  constexpr int kSpray = 20000;
  constexpr int kHeavy = 200;
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t)
    workers.emplace_back([&, t] {
      const common::IpPrefix heavy = ip("203.0.113." + std::to_string(t + 1));
      for (int i = 0; i < kSpray; ++i) {
        const unsigned n = static_cast<unsigned>(t * kSpray + i);
        common::IpPrefix one_off = ip("10.0.0.0");
        one_off.bytes[1] = static_cast<std::uint8_t>(n >> 16);
        one_off.bytes[2] = static_cast<std::uint8_t>(n >> 8);
        one_off.bytes[3] = static_cast<std::uint8_t>(n);
        failedAttempt(**g, "u" + std::to_string(n), one_off);
        if (i % (kSpray / kHeavy) == 0) failedAttempt(**g, "admin", heavy);
      }
    });
  for (auto& w : workers) w.join();
  EXPECT_EQ((*g)->memoryBytes(), memory);
  const auto fill = (*g)->ipTableFillForTest(0);
  EXPECT_LE(fill.first, fill.second);
  EXPECT_GT((*g)->ipEvictionsForTest(0), 0u);
  EXPECT_TRUE(sink.bans().empty());
  auto st = (*g)->status("shop", kThreads);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->top_sources.size(), static_cast<std::size_t>(kThreads));
  for (const auto& top : st->top_sources) {
    EXPECT_EQ(top.source.toString().rfind("203.0.113.", 0), 0u) << top.source.toString();
    EXPECT_EQ(top.failures, static_cast<std::uint32_t>(3 + kHeavy));
  }
}

}  // namespace
}  // namespace mamori::guard
