#include "daemon/login_settings.h"

#include <gtest/gtest.h>

#include <string>

#include "config/loader.h"

namespace mamori::daemon {
namespace {

using namespace std::chrono_literals;

config::Config load(const std::string& login, const std::string& mode = "block") {
  const std::string yaml =
      "tenants:\n"
      "  - id: acme\n"
      "    sites:\n"
      "      - name: web\n"
      "        hosts: [www.example.com]\n"
      "        mode: " + mode + "\n"
      "        listeners:\n"
      "          - address: 127.0.0.1:8080\n"
      "        upstreams:\n"
      "          - address: 127.0.0.1:9000\n"
      "        login:\n" + login +
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

TEST(LoginSettings, PresetWithOverridesAndDefaults) {
  auto c = load(
      "          allow: [10.0.0.0/8]\n"
      "          usernames: clear\n"
      "          routes:\n"
      "            - preset: wordpress\n"
      "            - preset: json_api_ok_false\n"
      "              path: /api/v1/login\n"
      "              username: {json: /user/email}\n"
      "          limits:\n"
      "            failures_per_ip: {threshold: 7, window: 5m}\n"
      "            failures_per_v6_64: {enabled: false}\n"
      "          ban_ttls: [5m, 2h]\n"
      "          tables: {counters: 1024}\n");
  auto sites = loginSettings(c);
  ASSERT_TRUE(sites.ok()) << sites.error().message;
  ASSERT_EQ(sites->size(), 1u);  // "other" has no login section
  const guard::SiteGuardConfig& s = (*sites)[0];
  EXPECT_EQ(s.site, "web");
  EXPECT_FALSE(s.detection_only);
  EXPECT_EQ(s.usernames, guard::UsernameStorage::Clear);
  ASSERT_EQ(s.allow.size(), 1u);
  ASSERT_EQ(s.routes.size(), 2u);
  EXPECT_EQ(s.routes[0], guard::presetRoute(guard::Preset::WordPress));
  guard::LoginRoute want =
      guard::presetRoute(guard::Preset::JsonApiOkFalse, "/api/v1/login", "/user/email");
  EXPECT_EQ(s.routes[1], want);
  EXPECT_EQ(s.limits.failures_per_ip.threshold, 7u);
  EXPECT_EQ(s.limits.failures_per_ip.window, 300s);
  EXPECT_FALSE(s.limits.failures_per_v6_64.enabled);
  EXPECT_EQ(s.limits.failures_per_user, guard::Limits{}.failures_per_user);  // default kept
  EXPECT_EQ(s.ban_ttls, (std::vector<std::chrono::seconds>{300s, 7200s}));
  EXPECT_EQ(s.tables.counters, 1024u);
  EXPECT_EQ(s.tables.distinct, guard::TableSizes{}.distinct);
  EXPECT_EQ(s.source_ladder, guard::defaultSourceLadder());
}

TEST(LoginSettings, CustomRouteAndLadders) {
  auto c = load(
      "          routes:\n"
      "            - name: api\n"
      "              path: /api/*/login\n"
      "              match: glob\n"
      "              username: {basic: true}\n"
      "              failure:\n"
      "                - {status: 200, body_contains: Invalid password}\n"
      "                - {status: [302], location_prefix: '/login?error'}\n"
      "              success:\n"
      "                - {header: {name: Set-Cookie, contains: session=}}\n"
      "          source_ladder:\n"
      "            - {excess: 1, action: delay, delay_ms: 250}\n"
      "            - {excess: 3, action: block_source, duration: 1h}\n"
      "            - {excess: 6, action: ban_source}\n"
      "          username_ladder:\n"
      "            - {excess: 2, action: lock_username, duration: 5m}\n",
      "detect");
  auto sites = loginSettings(c);
  ASSERT_TRUE(sites.ok()) << sites.error().message;
  const guard::SiteGuardConfig& s = sites->at(0);
  EXPECT_TRUE(s.detection_only);  // site mode detect
  const guard::LoginRoute& r = s.routes.at(0);
  EXPECT_EQ(r.name, "api");
  EXPECT_EQ(r.path_match, guard::PathMatch::Glob);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.username_source, guard::UsernameSource::BasicAuth);
  ASSERT_EQ(r.failure.size(), 2u);
  EXPECT_EQ(r.failure[0].statuses, std::vector<int>{200});
  EXPECT_EQ(r.failure[0].body_contains, "Invalid password");
  EXPECT_EQ(r.failure[1].location_prefix, "/login?error");
  ASSERT_EQ(r.success.size(), 1u);
  EXPECT_EQ(r.success[0].header, (guard::HeaderTest{"Set-Cookie", "session="}));
  ASSERT_EQ(s.source_ladder.size(), 3u);
  EXPECT_EQ(s.source_ladder[0], (guard::LadderStep{1, guard::Action::Delay, 250ms, 0s}));
  EXPECT_EQ(s.source_ladder[1], (guard::LadderStep{3, guard::Action::BlockSource, 0ms, 3600s}));
  EXPECT_EQ(s.source_ladder[2], (guard::LadderStep{6, guard::Action::BanSource, 0ms, 0s}));
  ASSERT_EQ(s.username_ladder.size(), 1u);
  EXPECT_EQ(s.username_ladder[0],
            (guard::LadderStep{2, guard::Action::LockUsername, 0ms, 300s}));
}

// The loader keeps its own list of preset names (config does not link
// guard); every name it accepts must be one guard knows.
TEST(LoginSettings, LoaderPresetNamesAreGuards) {
  for (const char* name : {"generic_form_401", "wordpress", "json_api_ok_false"}) {
    auto c = load("          routes:\n            - preset: " + std::string(name) + "\n");
    auto sites = loginSettings(c);
    ASSERT_TRUE(sites.ok()) << name;
    EXPECT_TRUE(guard::parsePreset(name).ok());
  }
}

TEST(LoginSettings, SiteWithoutLoginIsRefused) {
  config::Site site;
  site.name = "x";
  EXPECT_FALSE(loginSettings(site).ok());
}

}  // namespace
}  // namespace mamori::daemon
