#include "admin/commands.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "logs/log_writer.h"

namespace mamori::admin {
namespace {

using common::IpPrefix;
using common::parseIpPrefix;

// A call with its output captured.
class FakeCall final : public Call {
 public:
  explicit FakeCall(std::vector<std::string> args) : args_(std::move(args)) {}
  const Caller& caller() const override { return caller_; }
  const std::vector<std::string>& args() const override { return args_; }
  bool out(std::string_view t) override { return out_ += t, true; }
  bool err(std::string_view t) override { return err_ += t, true; }
  bool cancelled() override { return false; }
  std::string out_, err_;

 private:
  Caller caller_;
  std::vector<std::string> args_;
};

class FakeServices final : public Services {
 public:
  DaemonInfo daemonInfo() override { return {"0.1.0", 42, std::chrono::seconds(7), "", 2}; }
  net::EngineStats engineStats() override {
    net::EngineStats s;
    s.requests = 10;
    s.blocked = 3;
    return s;
  }
  std::vector<SiteInfo> sites() override {
    return {{"acme", "shop", {"shop.example"}, {"0.0.0.0:443 tls"}, {"10.0.0.5:8080"}, "block", ""}};
  }
  ShieldInfo shieldInfo() override { return {shield_loaded, {"eth0 (native)"}, "/sys/fs/bpf/x"}; }
  common::Result<shield::Counters> shieldCounters() override {
    shield::Counters c;
    c.dropped[3] = {5, 300};
    return c;
  }
  common::Result<std::vector<shield::Ban>> listBans() override { return bans; }
  common::Status addBan(const IpPrefix& source, std::chrono::seconds ttl,
                        shield::BanReason reason) override {
    bans.erase(std::remove_if(bans.begin(), bans.end(),
                              [&](const shield::Ban& b) { return b.source == source; }),
               bans.end());
    bans.push_back({source, ttl, reason});
    return {};
  }
  common::Status deleteBan(const IpPrefix& source) override {
    auto before = bans.size();
    bans.erase(std::remove_if(bans.begin(), bans.end(),
                              [&](const shield::Ban& b) { return b.source == source; }),
               bans.end());
    if (before == bans.size()) return common::Error{ENOENT, source.toString() + " is not banned"};
    return {};
  }
  common::Result<std::vector<IpPrefix>> list(shield::ListKind kind) override {
    return kind == shield::ListKind::Allow ? allow : deny;
  }
  common::Status addToList(shield::ListKind kind, const IpPrefix& p) override {
    (kind == shield::ListKind::Allow ? allow : deny).push_back(p);
    return {};
  }
  common::Status deleteFromList(shield::ListKind kind, const IpPrefix& p) override {
    auto& l = kind == shield::ListKind::Allow ? allow : deny;
    auto it = std::find(l.begin(), l.end(), p);
    if (it == l.end()) return common::Error{ENOENT, p.toString() + " is not on the list"};
    l.erase(it);
    return {};
  }
  common::Result<std::string> reload() override {
    if (reload_error) return common::Error{EINVAL, "mamori.yaml:3:5: unknown key 'sitez'"};
    return std::string("reloaded: 1 site");
  }

  std::shared_ptr<const logs::LogReader> logReader() override { return reader; }
  common::Result<std::vector<RuleInfo>> listRules() override { return rules; }
  common::Status setRuleEnabled(std::uint32_t id, bool enabled) override {
    for (auto& r : rules)
      if (r.id == id) r.enabled = enabled;
    return {};
  }
  common::Result<std::string> reloadRules() override { return std::string("2 rules from /r"); }
  common::Result<RuleTestReport> testRequest(std::string_view raw,
                                             const std::string& site) override {
    RuleTestReport report;
    report.site = site.empty() ? "shop" : site;
    report.threshold = 5;
    if (raw.find("union select") != std::string_view::npos) {
      report.detections.push_back({942100, "SQL injection", "sqli", 5, "query_args:id", "1 union select"});
      report.score = 5;
      report.would_block = true;
    }
    return report;
  }

  common::Result<std::vector<LoginSiteInfo>> loginStatus(const std::string& site,
                                                         std::size_t top) override {
    last_top = top;
    if (!site.empty() && site != "shop") return common::Error{ENOENT, "site '" + site + "' has no login section"};
    LoginSiteInfo info;
    info.site = "shop";
    info.top_sources.push_back({"198.51.100.7", 12, 0, 900, 600, 1});
    info.restricted = info.top_sources;
    for (const auto& u : locked) info.locked.push_back({u, 840});
    return std::vector<LoginSiteInfo>{info};
  }
  common::Result<bool> loginUnlock(const std::string& site, const std::string& user) override {
    if (site != "shop") return common::Error{ENOENT, "site '" + site + "' has no login section"};
    auto it = std::find(locked.begin(), locked.end(), user);
    if (it == locked.end()) return false;
    locked.erase(it);
    return true;
  }
  common::Result<LoginReportResult> loginReport(const std::string& site, const std::string& user,
                                                const IpPrefix& ip, bool failed) override {
    if (site != "shop") return common::Error{ENOENT, "site '" + site + "' has no login section"};
    reports.push_back(user + "@" + ip.toString() + (failed ? " failed" : " succeeded"));
    LoginReportResult r;
    r.outcome = failed ? "failed" : "succeeded";
    if (failed && reports.size() >= 2) r.events.push_back("login.brute_force: delay " + ip.toString());
    return r;
  }

  common::Result<UnderAttackInfo> setUnderAttack(const std::string& site,
                                                 const std::string& to) override {
    if (site != "shop") return common::Error{ENOENT, "no site named '" + site + "'"};
    UnderAttackInfo info;
    info.site = site;
    info.on = to == "on";
    info.reason = to == "auto" ? "" : "cli";
    info.override_state = to;
    under_attack = to;
    return info;
  }

  std::string under_attack;
  common::Result<DosStatus> dosStatus(const std::string& site, std::size_t top) override {
    last_top = top;
    if (!site.empty() && site != "shop")
      return common::Error{ENOENT, "site '" + site + "' has no flood section"};
    DosStatus st;
    st.slowloris_cut = 3;
    st.too_many_requests = 412;
    st.bans = 1;
    DosSiteInfo info;
    info.site = "shop";
    info.limits = {{"per_ip", 1200, 60, 412}, {"per_site", 0, 10, 0}};
    info.ban_after = 600;
    info.ban_window_s = 60;
    info.ban_ttl_s = 600;
    info.checked = 2113;
    info.bans = 1;
    info.top_sources.push_back({"203.0.113.9", 1613, 412, 588});
    st.sites.push_back(info);
    return st;
  }

  std::vector<std::string> locked = {"alice"};
  std::vector<std::string> reports;
  std::size_t last_top = 0;

  std::vector<RuleInfo> rules = {
      {942100, "SQL injection", "sqli", "critical", 1, 5, {"sqli"}, {"args"}, "url_decode_uni",
       "detect_sqli", "direct", true, "rules/sqli.yaml:3:5"},
      {941100, "XSS", "xss", "critical", 1, 5, {}, {"args"}, "", "pattern", "hyperscan", true,
       "rules/xss.yaml:3:5"}};

  std::shared_ptr<const logs::LogReader> reader;
  bool shield_loaded = true;
  bool reload_error = false;
  std::vector<shield::Ban> bans;
  std::vector<IpPrefix> allow, deny;
};

struct Outcome {
  int code;
  std::string out, err, before, after;
};

Outcome run(FakeServices& sv, std::vector<std::string> args) {
  FakeCall call(std::move(args));
  int code = runCommand(call, sv);
  return {code, call.out_, call.err_, call.audit_before, call.audit_after};
}

TEST(Commands, UsageErrorsExitTwoWithOneShortReason) {
  FakeServices sv;
  for (const auto& args : std::vector<std::vector<std::string>>{
           {},
           {"frobnicate"},
           {"bans"},
           {"bans", "add"},
           {"bans", "add", "not-an-ip"},
           {"bans", "add", "192.0.2.1", "--ttl", "ten minutes"},
           {"bans", "add", "192.0.2.1", "--reason", "grumpy"},
           {"lists", "maybe", "list"},
           {"status", "extra"},
           {"--output", "yaml", "status"},
           {"--output"}}) {
    Outcome r = run(sv, args);
    EXPECT_EQ(r.code, 2) << ::testing::PrintToString(args);
    EXPECT_TRUE(r.out.empty());
    EXPECT_EQ(r.err.rfind("mamorictl: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 2) << r.err;
  }
}

TEST(Commands, BanAddListDelWithAuditTrail) {
  FakeServices sv;
  Outcome add = run(sv, {"bans", "add", "192.0.2.7", "--ttl", "1h", "--reason", "login"});
  EXPECT_EQ(add.code, 0) << add.err;
  EXPECT_EQ(add.out, "banned 192.0.2.7 for 3600s (login)\n");
  EXPECT_EQ(add.before, "192.0.2.7: not banned");
  EXPECT_EQ(add.after, "192.0.2.7: banned 3600s (login)");

  Outcome list = run(sv, {"bans", "list", "--output", "json"});
  EXPECT_EQ(list.code, 0);
  EXPECT_EQ(list.out, "[{\"source\":\"192.0.2.7\",\"remaining_seconds\":3600,\"reason\":\"login\"}]\n");

  Outcome del = run(sv, {"--output", "json", "bans", "del", "192.0.2.7"});
  EXPECT_EQ(del.code, 0);
  EXPECT_EQ(del.out, "{\"ok\":true,\"message\":\"ban lifted: 192.0.2.7\"}\n");
  EXPECT_EQ(del.before, "192.0.2.7: banned 3600s more (login)");
  EXPECT_EQ(del.after, "192.0.2.7: not banned");

  Outcome again = run(sv, {"bans", "del", "192.0.2.7"});
  EXPECT_EQ(again.code, 1);
  EXPECT_EQ(again.err, "mamorictl: 192.0.2.7 is not banned\n");
}

TEST(Commands, ListsAddListDel) {
  FakeServices sv;
  EXPECT_EQ(run(sv, {"lists", "deny", "add", "198.51.100.0/24"}).code, 0);
  Outcome list = run(sv, {"lists", "deny", "list"});
  EXPECT_EQ(list.out, "198.51.100.0/24\n");
  Outcome del = run(sv, {"lists", "deny", "del", "198.51.100.0/24"});
  EXPECT_EQ(del.code, 0);
  EXPECT_EQ(del.before, "198.51.100.0/24 on the deny list");
  EXPECT_EQ(del.after, "198.51.100.0/24 not on the deny list");
  EXPECT_EQ(run(sv, {"lists", "allow", "list", "--output", "json"}).out, "[]\n");
}

TEST(Commands, StatusStatsAndSites) {
  FakeServices sv;
  Outcome status = run(sv, {"status", "--output", "json"});
  EXPECT_EQ(status.code, 0);
  EXPECT_NE(status.out.find("\"pid\":42"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("\"blocked\":3"), std::string::npos);
  EXPECT_NE(status.out.find("\"interfaces\":[\"eth0 (native)\"]"), std::string::npos);

  Outcome stats = run(sv, {"stats", "--output", "json"});
  EXPECT_NE(stats.out.find("\"requests\":10"), std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find("\"verdict\":\"drop\",\"packets\":5"), std::string::npos);
  sv.shield_loaded = false;
  EXPECT_NE(run(sv, {"stats", "--output", "json"}).out.find("\"shield\":null"), std::string::npos);
  EXPECT_EQ(run(sv, {"shield", "status"}).code, 1);

  Outcome sites = run(sv, {"sites", "list"});
  EXPECT_NE(sites.out.find("shop.example"), std::string::npos);
  Outcome show = run(sv, {"sites", "show", "shop", "--output", "json"});
  EXPECT_EQ(show.out,
            "{\"tenant\":\"acme\",\"name\":\"shop\",\"hosts\":[\"shop.example\"],"
            "\"listeners\":[\"0.0.0.0:443 tls\"],\"upstreams\":[\"10.0.0.5:8080\"],"
            "\"mode\":\"block\"}\n");
  EXPECT_EQ(run(sv, {"sites", "show", "nope"}).code, 1);
}

TEST(Commands, SiteUnderAttackSwitchesAndIsAudited) {
  FakeServices sv;
  Outcome on = run(sv, {"site", "under-attack", "on", "--site", "shop"});
  EXPECT_EQ(on.code, 0) << on.err;
  EXPECT_EQ(on.out, "site shop under attack: on (cli)\n");
  EXPECT_EQ(on.after, "site shop under attack: on (cli)");
  EXPECT_EQ(sv.under_attack, "on");
  Outcome off = run(sv, {"site", "under-attack", "--site", "shop", "off", "--output", "json"});
  EXPECT_EQ(off.code, 0) << off.err;
  EXPECT_EQ(off.out,
            "{\"ok\":true,\"site\":\"shop\",\"under_attack\":false,\"reason\":\"cli\","
            "\"override\":\"off\",\"auto_remaining_seconds\":0,\"auto_threshold\":0}\n");
  EXPECT_EQ(run(sv, {"site", "under-attack", "auto", "--site", "shop"}).out,
            "site shop under attack: off\n");
  Outcome unknown = run(sv, {"site", "under-attack", "on", "--site", "nope"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_EQ(unknown.err, "mamorictl: no site named 'nope'\n");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"site"},
           {"site", "under-attack"},
           {"site", "under-attack", "on"},
           {"site", "under-attack", "maybe", "--site", "shop"},
           {"site", "under-attack", "on", "off", "--site"},
           {"site", "frob", "on", "--site", "shop"}}) {
    EXPECT_EQ(run(sv, args).code, 2) << args.size();
  }
}

TEST(Commands, UnderAttackTextSaysWhy) {
  UnderAttackInfo u;
  EXPECT_EQ(underAttackText(u), "off");
  u.reason = "cli";
  EXPECT_EQ(underAttackText(u), "off (cli)");
  u.on = true;
  EXPECT_EQ(underAttackText(u), "on (cli)");
  u.reason = "auto";
  u.auto_remaining_s = 120;
  EXPECT_EQ(underAttackText(u), "on (auto, 120s left)");
}

TEST(Commands, ConfigReloadReportsTheRefusal) {
  FakeServices sv;
  Outcome ok = run(sv, {"config", "reload"});
  EXPECT_EQ(ok.code, 0);
  EXPECT_EQ(ok.after, "reloaded: 1 site");
  sv.reload_error = true;
  Outcome bad = run(sv, {"config", "reload"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.err, "mamorictl: mamori.yaml:3:5: unknown key 'sitez'\n");
}

// A log directory with three event lines and one audit line, written by the
// real writer.
class LogsCommands : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mamori-admin-logs-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    logs::WriterOptions wo;
    wo.dir = dir_;
    auto writer = logs::LogWriter::create(wo);
    ASSERT_TRUE(writer.ok()) << writer.error().message;
    auto producer = (*writer)->registerProducer();
    auto now = std::chrono::system_clock::now();
    int i = 0;
    for (const char* ip : {"192.0.2.1", "192.0.2.2", "198.51.100.9"}) {
      logs::LogRecord r;
      r.type = logs::LogType::Event;
      r.time = now - std::chrono::seconds(10 - i++);
      r.tenant = "acme";
      r.site = "shop";
      r.source_ip = ip;
      r.action = "block";
      r.rule_id = std::string("9420") + std::to_string(i);
      r.message = std::string("attack, \"quoted\" from ") + ip;
      ASSERT_TRUE(producer->submit(std::move(r)));
    }
    logs::LogRecord audit;
    audit.type = logs::LogType::Audit;
    audit.time = now;
    audit.tenant = "mamori";
    audit.message = "bans add";
    ASSERT_TRUE(producer->submit(std::move(audit)));
    (*writer)->pump();
    (*writer)->stop();
    logs::ReaderOptions ro;
    ro.dir = dir_;
    sv_.reader = std::make_shared<logs::LogReader>(ro);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  FakeServices sv_;
};

TEST_F(LogsCommands, QueryFiltersAndPrints) {
  Outcome all = run(sv_, {"logs", "query", "--type", "event"});
  EXPECT_EQ(all.code, 0) << all.err;
  EXPECT_EQ(std::count(all.out.begin(), all.out.end(), '\n'), 3) << all.out;
  EXPECT_LT(all.out.find("192.0.2.1"), all.out.find("198.51.100.9")) << "oldest first";

  Outcome by_ip = run(sv_, {"logs", "query", "--type", "event", "--ip", "198.51.100.0/24"});
  EXPECT_EQ(std::count(by_ip.out.begin(), by_ip.out.end(), '\n'), 1) << by_ip.out;
  EXPECT_NE(by_ip.out.find("94203"), std::string::npos);

  Outcome limited = run(sv_, {"logs", "query", "--type", "event", "--limit", "1", "--output", "json"});
  ASSERT_EQ(limited.code, 0);
  EXPECT_EQ(limited.out.front(), '[');
  EXPECT_NE(limited.out.find("198.51.100.9"), std::string::npos) << "the newest one";
  EXPECT_EQ(limited.out.find("192.0.2.1"), std::string::npos);

  Outcome audit = run(sv_, {"logs", "query", "--type", "audit", "--tenant", "mamori"});
  EXPECT_NE(audit.out.find("bans add"), std::string::npos) << audit.out;
}

TEST_F(LogsCommands, ExportCsvAndJsonl) {
  Outcome csv = run(sv_, {"logs", "export", "--type", "event", "--format", "csv"});
  ASSERT_EQ(csv.code, 0) << csv.err;
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 4) << "header + 3 rows";
  EXPECT_NE(csv.out.find("\"attack, \"\"quoted\"\" from 192.0.2.1\""), std::string::npos) << csv.out;
  Outcome jsonl = run(sv_, {"logs", "export", "--type", "event", "--site", "shop"});
  EXPECT_EQ(std::count(jsonl.out.begin(), jsonl.out.end(), '\n'), 3);
}

TEST_F(LogsCommands, BadArgumentsAreUsageErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"logs"},
           {"logs", "query"},
           {"logs", "query", "--type", "evnt"},
           {"logs", "query", "--type", "event", "--since", "yesterday"},
           {"logs", "query", "--type", "event", "--limit", "-3"},
           {"logs", "query", "--type", "event", "-f"},
           {"logs", "export", "--type", "event", "--format", "xml"},
           {"logs", "rotate", "--type", "event"}}) {
    EXPECT_EQ(run(sv_, args).code, 2) << ::testing::PrintToString(args);
  }
  EXPECT_EQ(run(sv_, {"logs", "query", "--type", "event", "--ip", "not-an-ip"}).code, 1);
  sv_.reader.reset();
  EXPECT_EQ(run(sv_, {"logs", "query", "--type", "event"}).code, 1);
}

TEST(Commands, RulesListShowToggleReloadTest) {
  FakeServices sv;
  Outcome list = run(sv, {"rules", "list"});
  EXPECT_EQ(list.code, 0);
  EXPECT_NE(list.out.find("942100"), std::string::npos);
  Outcome show = run(sv, {"rules", "show", "942100", "--output", "json"});
  EXPECT_NE(show.out.find("\"operator\":\"detect_sqli\""), std::string::npos) << show.out;
  Outcome off = run(sv, {"rules", "disable", "941100"});
  EXPECT_EQ(off.code, 0);
  EXPECT_EQ(off.before, "rule 941100 on");
  EXPECT_EQ(off.after, "rule 941100 off");
  EXPECT_FALSE(sv.rules[1].enabled);
  EXPECT_EQ(run(sv, {"rules", "show", "123"}).code, 1);
  EXPECT_EQ(run(sv, {"rules", "show", "abc"}).code, 2);
  EXPECT_EQ(run(sv, {"rules", "reload"}).out, "reloaded 2 rules from /r\n");
  Outcome test = run(sv, {"rules", "test", "--request", "GET /?id=1 union select HTTP/1.1\r\n"});
  EXPECT_EQ(test.code, 0);
  EXPECT_NE(test.out.find("942100"), std::string::npos);
  EXPECT_NE(test.out.find("verdict: block"), std::string::npos) << test.out;
  EXPECT_EQ(run(sv, {"rules", "test"}).code, 2);
}

TEST(Commands, JsonStringsEscapeControlBytes) {
  EXPECT_EQ(jsonString("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
}

TEST(Commands, LoginStatusPrintsSourcesAndLocks) {
  FakeServices sv;
  auto r = run(sv, {"login", "status"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("site shop"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("198.51.100.7"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("banned 600s blocked 900s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("alice"), std::string::npos) << r.out;
  EXPECT_EQ(sv.last_top, 10u);
  r = run(sv, {"--output", "json", "login", "status", "--site", "shop", "--top", "3"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(sv.last_top, 3u);
  EXPECT_NE(r.out.find("\"top_sources\":[{\"source\":\"198.51.100.7\",\"failures\":12,"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"banned_seconds\":600"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"locked\":[{\"username\":\"alice\",\"remaining_seconds\":840}]"),
            std::string::npos)
      << r.out;
}

TEST(Commands, DosStatusPrintsLimitsSourcesAndConnections) {
  FakeServices sv;
  auto r = run(sv, {"dos", "status"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("connections: 0 refused over source cap, 3 slowloris cut, 0 slow POST cut"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("flood: 412 answered 429, 1 bans issued"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  per_ip      1200      60s      412\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  per_site    off       10s      0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ban: after 600 excess in 60s, ttl 600s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("203.0.113.9"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("588s"), std::string::npos) << r.out;
  r = run(sv, {"--output", "json", "dos", "status", "--site", "shop", "--top", "5"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(sv.last_top, 5u);
  EXPECT_NE(r.out.find("\"connections\":{\"over_source_cap\":0,\"slowloris_cut\":3,"
                       "\"slow_post_cut\":0},\"too_many_requests\":412,\"bans\":1"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("{\"name\":\"per_ip\",\"requests\":1200,\"window_seconds\":60,"
                       "\"refused\":412}"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"top_sources\":[{\"source\":\"203.0.113.9\",\"requests\":1613,"
                       "\"excess\":412,\"banned_seconds\":588}]"),
            std::string::npos)
      << r.out;
}

TEST(Commands, DosUsageErrorsAndUnknownSite) {
  FakeServices sv;
  EXPECT_EQ(run(sv, {"dos"}).code, 2);
  EXPECT_EQ(run(sv, {"dos", "stats"}).code, 2);
  EXPECT_EQ(run(sv, {"dos", "status", "--top", "0"}).code, 2);
  EXPECT_EQ(run(sv, {"dos", "status", "--bogus", "1"}).code, 2);
  auto r = run(sv, {"dos", "status", "--site", "blog"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("has no flood section"), std::string::npos) << r.err;
}

TEST(Commands, LoginStatusOfUnknownSiteFails) {
  FakeServices sv;
  auto r = run(sv, {"login", "status", "--site", "blog"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("has no login section"), std::string::npos) << r.err;
}

TEST(Commands, LoginUnlockSaysWhetherTheUserWasLockedAndAudits) {
  FakeServices sv;
  auto r = run(sv, {"login", "unlock", "--site", "shop", "--user", "alice"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "unlocked alice on site shop\n");
  EXPECT_EQ(r.before, "site shop user alice: locked");
  EXPECT_EQ(r.after, "site shop user alice: not locked");
  EXPECT_TRUE(sv.locked.empty());
  r = run(sv, {"--output", "json", "login", "unlock", "--site", "shop", "--user", "alice"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"ok\":true,\"was_locked\":false}\n");
}

TEST(Commands, LoginReportCountsAndPrintsEvents) {
  FakeServices sv;
  auto r = run(sv, {"login", "report", "--site", "shop", "--user", "bob", "--ip", "192.0.2.9",
                    "--result", "failed"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "counted: failed\n");
  r = run(sv, {"--output", "json", "login", "report", "--site", "shop", "--user", "bob", "--ip",
               "192.0.2.9", "--result", "failed"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "{\"ok\":true,\"outcome\":\"failed\",\"events\":[\"login.brute_force: delay "
            "192.0.2.9\"]}\n");
  EXPECT_EQ(r.after, "site shop 192.0.2.9: failed");
  ASSERT_EQ(sv.reports.size(), 2u);
  EXPECT_EQ(sv.reports[0], "bob@192.0.2.9 failed");
}

TEST(Commands, LoginUsageErrors) {
  FakeServices sv;
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"login"},
           {"login", "frob"},
           {"login", "status", "--site"},
           {"login", "status", "--top", "0"},
           {"login", "status", "--bogus", "x"},
           {"login", "unlock", "--site", "shop"},
           {"login", "unlock", "--user", "alice"},
           {"login", "unlock", "--site", "shop", "--user", "a", "--user", "b"},
           {"login", "report", "--site", "shop", "--ip", "192.0.2.1"},
           {"login", "report", "--site", "shop", "--ip", "192.0.2.1", "--result", "maybe"},
           {"login", "report", "--site", "shop", "--ip", "nope", "--result", "failed"},
           {"login", "report", "--site", "shop", "--ip", "192.0.2.0/24", "--result", "failed"},
       }) {
    auto r = run(sv, args);
    EXPECT_EQ(r.code, 2) << args.size();
    EXPECT_NE(r.err.find("mamorictl: "), std::string::npos);
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  EXPECT_TRUE(sv.reports.empty());
  EXPECT_EQ(sv.locked.size(), 1u);
}

}  // namespace
}  // namespace mamori::admin
