// LoginProtection (daemon/login_protection.h): the guard driven through the
// engine's hooks as mamorid wires them, with a manual clock and a fake ban
// sink; the event records; the shield sink without a shield; the control
// services' login calls.

#include "daemon/login_protection.h"

#include <gtest/gtest.h>

#include <mutex>
#include <string>

#include "config/loader.h"
#include "daemon/control_services.h"
#include "http/request_parser.h"

namespace mamori::daemon {
namespace {

using namespace std::chrono_literals;

config::Config load(const std::string& login) {
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
      "        login:\n"
      "          usernames: clear\n"
      "          tables: {counters: 1024, distinct: 512, blocks: 512, locks: 512, offenders: 512}\n"
      "          routes:\n"
      "            - preset: generic_form_401\n" +
      login +
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
    bans.push_back({source, ttl});
    reasons.push_back(reason);
  }
  std::mutex mu;
  std::vector<std::pair<common::IpPrefix, std::chrono::seconds>> bans;
  std::vector<guard::BanReason> reasons;
};

http::Request request(const std::string& path, const std::string& body = {}) {
  std::string raw = "POST " + path + " HTTP/1.1\r\nHost: www.example.com\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  http::RequestParser parser;
  std::size_t used = 0;
  EXPECT_EQ(parser.feed(raw, &used), http::ParseStatus::Done);
  return parser.takeRequest();
}

// One attempt through both hooks as the engine makes it: the verdict, and
// for a forwarded login the response hook with the upstream's `status`.
struct Attempt {
  net::Verdict verdict;
  net::ResponseAction action;
};

Attempt attempt(LoginProtection& lp, const std::string& ip, const std::string& user, int status,
                const std::string& site = "web") {
  auto req = request("/login", "username=" + user + "&password=hunter2");
  net::RequestContext ctx;
  ctx.request_id = "0123456789abcdef";
  ctx.site = site;
  ctx.peer = *config::parseIpAddress(ip);
  ctx.peer_port = 40000;
  Attempt a;
  a.verdict = lp.onRequest(req, ctx);
  if (a.verdict.action == net::Verdict::Action::Pass && a.verdict.watch) {
    std::vector<http::Header> headers;
    net::ResponseView view;
    view.status = status;
    view.headers = &headers;
    view.body_complete = true;
    a.action = lp.onResponse(a.verdict.watch, view, ctx);
  }
  return a;
}

TEST(LoginProtection, PagesPassWithoutAWatch) {
  guard::ManualClock clock;
  FakeSink sink;
  auto lp = LoginProtection::create(load(""), clock, nullptr, &sink);
  ASSERT_TRUE(lp) << lp.error().message;
  EXPECT_TRUE((*lp)->active());
  net::RequestContext ctx;
  ctx.site = "web";
  ctx.peer = *config::parseIpAddress("192.0.2.1");
  auto v = (*lp)->onRequest(request("/about"), ctx);
  EXPECT_EQ(v.action, net::Verdict::Action::Pass);
  EXPECT_FALSE(v.watch);
  ctx.site = "other";  // a site without a login section
  v = (*lp)->onRequest(request("/login", "username=a"), ctx);
  EXPECT_FALSE(v.watch);
  EXPECT_EQ((*lp)->stats().attempts, 0u);
}

TEST(LoginProtection, BruteForceIsDelayedThenThrottledThenBanned) {
  guard::ManualClock clock;
  FakeSink sink;
  auto lp = LoginProtection::create(load(""), clock, nullptr, &sink);
  ASSERT_TRUE(lp) << lp.error().message;
  int reached_upstream = 0;
  bool delayed = false, throttled = false;
  for (int i = 0; i < 200 && sink.bans.empty(); ++i) {
    auto a = attempt(**lp, "192.0.2.1", "alice", 401);
    if (a.verdict.action == net::Verdict::Action::Pass) {
      ++reached_upstream;
      if (a.action.delay > 0ms) delayed = true;
    } else if (a.verdict.status == 429) {
      throttled = true;
      EXPECT_GT(a.verdict.retry_after, 0s);
    }
  }
  // failures_per_user_ip trips at 5 (delay 1 s), the next failure throttles
  // (429 + Retry-After): from then on nothing reaches the upstream.
  EXPECT_TRUE(delayed);
  EXPECT_TRUE(throttled);
  EXPECT_EQ(reached_upstream, 6);
  ASSERT_EQ(sink.bans.size(), 1u);
  EXPECT_EQ(sink.bans[0].first.toString(), "192.0.2.1");
  EXPECT_EQ(sink.bans[0].second, 10min);
  EXPECT_EQ(sink.reasons[0], guard::BanReason::LoginAbuse);
  // Banned (and blocked at the site): 403 for any request of the site.
  auto a = attempt(**lp, "192.0.2.1", "alice", 401);
  EXPECT_EQ(a.verdict.action, net::Verdict::Action::Block);
  EXPECT_EQ(a.verdict.status, 403);
  auto st = (*lp)->stats();
  EXPECT_EQ(st.attempts, 6u);
  EXPECT_EQ(st.failed, 6u);
  EXPECT_GT(st.refused, 0u);
  EXPECT_GT(st.events, 0u);
  // Another source is not affected.
  a = attempt(**lp, "192.0.2.2", "alice", 200);
  EXPECT_EQ(a.verdict.action, net::Verdict::Action::Pass);
  EXPECT_EQ((*lp)->stats().succeeded, 1u);
}

TEST(LoginProtection, MistypingTwiceThenSucceedingIsNeverRestricted) {
  guard::ManualClock clock;
  FakeSink sink;
  auto lp = LoginProtection::create(load(""), clock, nullptr, &sink);
  ASSERT_TRUE(lp) << lp.error().message;
  // Two rounds: 4 failures stay under takeover_after_failures (5), so not
  // even an account_takeover event is due.
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 2; ++i) {
      auto a = attempt(**lp, "192.0.2.50", "carol", 401);
      EXPECT_EQ(a.verdict.action, net::Verdict::Action::Pass);
      EXPECT_EQ(a.action.delay, 0ms);
    }
    auto a = attempt(**lp, "192.0.2.50", "carol", 302);
    EXPECT_EQ(a.verdict.action, net::Verdict::Action::Pass);
    EXPECT_EQ(a.action.delay, 0ms);
  }
  EXPECT_EQ((*lp)->stats().events, 0u);
  EXPECT_TRUE(sink.bans.empty());
}

TEST(LoginProtection, DistributedAttackLocksTheUsernameAndUnlockLiftsIt) {
  guard::ManualClock clock;
  FakeSink sink;
  auto lp = LoginProtection::create(load("          limits:\n"
                                         "            failures_per_user: {threshold: 3, window: 10m}\n"
                                         "          locked_status: 423\n"),
                                    clock, nullptr, &sink);
  ASSERT_TRUE(lp) << lp.error().message;
  for (int i = 1; i <= 3; ++i)
    EXPECT_EQ(attempt(**lp, "198.51.100." + std::to_string(i), "dave", 401).verdict.action,
              net::Verdict::Action::Pass);
  auto a = attempt(**lp, "198.51.100.99", "dave", 401);
  EXPECT_EQ(a.verdict.action, net::Verdict::Action::Block);
  EXPECT_EQ(a.verdict.status, 423);
  EXPECT_GT(a.verdict.retry_after, 0s);
  auto st = (*lp)->status("web", 10);
  ASSERT_TRUE(st) << st.error().message;
  ASSERT_EQ(st->size(), 1u);
  ASSERT_EQ((*st)[0].locked.size(), 1u);
  EXPECT_EQ((*st)[0].locked[0].username, "dave");
  auto was = (*lp)->unlock("web", "dave");
  ASSERT_TRUE(was) << was.error().message;
  EXPECT_TRUE(*was);
  EXPECT_EQ(attempt(**lp, "198.51.100.99", "dave", 302).verdict.action, net::Verdict::Action::Pass);
  EXPECT_FALSE(*(*lp)->unlock("web", "dave"));
}

TEST(LoginProtection, ReloadKeepsCountersOfAnUnchangedSite) {
  guard::ManualClock clock;
  FakeSink sink;
  const std::string extra = "          source_ladder: [{excess: 1, action: too_many_requests, duration: 60s}]\n";
  auto lp = LoginProtection::create(load(extra), clock, nullptr, &sink);
  ASSERT_TRUE(lp) << lp.error().message;
  for (int i = 0; i < 4; ++i) attempt(**lp, "192.0.2.7", "erin", 401);
  auto summary = (*lp)->reload(load(extra));
  ASSERT_TRUE(summary) << summary.error().message;
  EXPECT_NE(summary->find("1 site"), std::string::npos) << *summary;
  attempt(**lp, "192.0.2.7", "erin", 401);  // the 5th failure trips failures_per_user_ip
  EXPECT_EQ(attempt(**lp, "192.0.2.7", "erin", 401).verdict.status, 429);

  // A changed site starts empty.
  summary = (*lp)->reload(load(extra + "          locked_status: 423\n"));
  ASSERT_TRUE(summary) << summary.error().message;
  EXPECT_EQ(attempt(**lp, "192.0.2.7", "erin", 401).verdict.action, net::Verdict::Action::Pass);
}

TEST(LoginProtection, ReportedFailuresCountLikeObservedOnes) {
  guard::ManualClock clock;
  FakeSink sink;
  auto lp = LoginProtection::create(load(""), clock, nullptr, &sink);
  ASSERT_TRUE(lp) << lp.error().message;
  auto ip = *common::parseIpPrefix("203.0.113.5");
  std::size_t events = 0;
  for (int i = 0; i < 5; ++i) {
    auto d = (*lp)->report("web", "frank", ip, guard::Outcome::Failed);
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->outcome, guard::Outcome::Failed);
    events += d->events.size();
  }
  EXPECT_GE(events, 1u);
  EXPECT_EQ((*lp)->stats().failed, 5u);
  auto top = (*lp)->status("", 10);
  ASSERT_TRUE(top);
  ASSERT_EQ(top->size(), 1u);
  ASSERT_FALSE((*top)[0].top_sources.empty());
  EXPECT_EQ((*top)[0].top_sources[0].source.toString(), "203.0.113.5");
  EXPECT_EQ((*top)[0].top_sources[0].failures, 5u);
}

TEST(LoginProtection, UnknownSitesAreENOENT) {
  guard::ManualClock clock;
  auto lp = LoginProtection::create(load(""), clock, nullptr, nullptr);
  ASSERT_TRUE(lp);
  EXPECT_EQ((*lp)->status("other", 10).error().code, ENOENT);
  EXPECT_EQ((*lp)->unlock("nope", "a").error().code, ENOENT);
  EXPECT_EQ((*lp)->report("other", "a", *common::parseIpPrefix("192.0.2.1"), guard::Outcome::Failed)
                .error()
                .code,
            ENOENT);
}

TEST(LoginProtection, NoLoginSectionMeansInactive) {
  guard::ManualClock clock;
  config::Config cfg = load("");
  cfg.tenants[0].sites[0].login.reset();
  auto lp = LoginProtection::create(cfg, clock, nullptr, nullptr);
  ASSERT_TRUE(lp) << lp.error().message;
  EXPECT_FALSE((*lp)->active());
  EXPECT_FALSE(attempt(**lp, "192.0.2.1", "a", 401).verdict.watch);
  EXPECT_EQ((*lp)->status("", 10).error().code, ENOENT);
  // A reload can switch it on.
  auto summary = (*lp)->reload(load(""));
  ASSERT_TRUE(summary);
  EXPECT_TRUE((*lp)->active());
}

TEST(LoginEventRecord, NamesTheAttackAndCarriesTheTriggers) {
  guard::Event e;
  e.kind = guard::EventKind::SourceAbuse;
  e.action = guard::Action::BanSource;
  e.duration = 600s;
  e.subject = *common::parseIpPrefix("192.0.2.1");
  e.username = "h:0123456789abcdef";
  e.route = "login";
  e.triggers.push_back({guard::Counter::FailuresPerUserIp, 5, 5, 600s});
  LoginEventContext ctx;
  ctx.tenant = "acme";
  ctx.site = "web";
  ctx.source_ip = "192.0.2.1";
  ctx.http_status = 403;
  auto r = loginEventRecord(e, ctx);
  EXPECT_EQ(r.type, logs::LogType::Event);
  EXPECT_EQ(r.category, "authentication");
  EXPECT_EQ(r.rule_id, "login.brute_force");
  EXPECT_EQ(r.action, "ban_source");
  EXPECT_EQ(r.event_type, "denied");
  EXPECT_EQ(r.tenant, "acme");
  EXPECT_EQ(r.http_status, 403);
  bool saw_user = false, saw_triggers = false;
  for (const auto& f : r.details) {
    if (f.key == "username") {
      saw_user = true;
      EXPECT_EQ(f.value.s, "h:0123456789abcdef");
    }
    if (f.key == "triggers") {
      saw_triggers = true;
      ASSERT_EQ(f.value.object.size(), 1u);
      EXPECT_EQ(f.value.object[0].key, "failures_per_user_ip");
    }
  }
  EXPECT_TRUE(saw_user);
  EXPECT_TRUE(saw_triggers);

  e.triggers = {{guard::Counter::DistinctUsersPerIp, 10, 10, 600s}};
  EXPECT_EQ(loginRuleId(e), "login.password_spray");
  e.triggers = {{guard::Counter::FailuresPerV4Prefix24, 50, 50, 600s}};
  EXPECT_EQ(loginRuleId(e), "login.network_abuse");
  e.kind = guard::EventKind::UsernameAbuse;
  e.triggers = {{guard::Counter::DistinctIpsPerUser, 10, 10, 600s}};
  EXPECT_EQ(loginRuleId(e), "login.distributed_attack");
  e.triggers = {{guard::Counter::FailuresPerUser, 20, 20, 600s}};
  EXPECT_EQ(loginRuleId(e), "login.username_abuse");
  e.kind = guard::EventKind::AccountTakeover;
  EXPECT_EQ(loginRuleId(e), "login.account_takeover");
  e.action = guard::Action::Log;
  EXPECT_EQ(loginEventRecord(e, ctx).event_type, "info");
}

TEST(ShieldBanSink, WithoutAShieldBansAreCountedAsUnenforced) {
  ShieldBanSink sink;
  EXPECT_FALSE(sink.attach("/nonexistent/mamori-pins"));
  EXPECT_FALSE(sink.attached());
  sink.ban(*common::parseIpPrefix("192.0.2.1"), 600s, guard::BanReason::LoginAbuse);
  EXPECT_EQ(sink.unenforced(), 1u);
  EXPECT_EQ(sink.written(), 0u);
}

TEST(ControlServicesLogin, StatusUnlockAndReportGoThroughTheGuard) {
  guard::ManualClock clock;
  auto lp = LoginProtection::create(load(""), clock, nullptr, nullptr);
  ASSERT_TRUE(lp);
  ControlServices services("/nonexistent", "", 1);
  EXPECT_EQ(services.loginStatus("", 10).error().code, ENOENT);  // not wired yet
  services.setLogin(lp->get());
  for (int i = 0; i < 3; ++i) {
    auto r = services.loginReport("web", "gina", *common::parseIpPrefix("192.0.2.33"), true);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->outcome, "failed");
  }
  auto st = services.loginStatus("web", 5);
  ASSERT_TRUE(st) << st.error().message;
  ASSERT_EQ(st->size(), 1u);
  EXPECT_EQ((*st)[0].site, "web");
  ASSERT_EQ((*st)[0].top_sources.size(), 1u);
  EXPECT_EQ((*st)[0].top_sources[0].source, "192.0.2.33");
  EXPECT_EQ((*st)[0].top_sources[0].failures, 3u);
  auto was = services.loginUnlock("web", "gina");
  ASSERT_TRUE(was);
  EXPECT_FALSE(*was);
  EXPECT_EQ(services.loginUnlock("other", "gina").error().code, ENOENT);
}

}  // namespace
}  // namespace mamori::daemon
