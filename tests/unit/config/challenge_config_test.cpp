// The site keys `challenge:` and `under_attack:` (issue #8, docs/challenge.md).

#include "config/loader.h"

#include <gtest/gtest.h>

#include <string>

namespace mamori::config {
namespace {

using namespace std::chrono_literals;

LoadOptions noFileChecks() {
  LoadOptions options;
  options.check_file = nullptr;
  return options;
}

std::string errorsOf(const std::string& yaml) {
  auto result = loadConfigString(yaml, "t.yaml", noFileChecks());
  return result.ok() ? "<ok>" : result.error().message;
}

// A valid one-site config with `extra` spliced into the site (line 10 on).
std::string siteYaml(const std::string& extra) {
  return "tenants:\n"
         "  - id: acme\n"
         "    sites:\n"
         "      - name: web\n"
         "        hosts: [www.example.com]\n"
         "        listeners:\n"
         "          - address: 127.0.0.1:8080\n"
         "        upstreams:\n"
         "          - address: 127.0.0.1:9000\n" +
         extra;
}

TEST(ChallengeConfig, AbsentSectionsLeaveTheDefaults) {
  auto result = loadConfigString(siteYaml(""), "t.yaml", noFileChecks());
  ASSERT_TRUE(result.ok()) << result.error().message;
  const Site& site = result->tenants[0].sites[0];
  EXPECT_FALSE(site.challenge.has_value());
  EXPECT_FALSE(site.under_attack.has_value());
  ChallengeConfig defaults;
  EXPECT_EQ(defaults.difficulty, 16u);
  EXPECT_EQ(defaults.clearance_ttl, 3600s);
  EXPECT_EQ(defaults.key_rotation, 3600s);
}

TEST(ChallengeConfig, ReadsEveryKey) {
  auto result = loadConfigString(siteYaml("        challenge:\n"
                                          "          difficulty: 20\n"
                                          "          clearance_ttl: 2h\n"
                                          "          key_rotation: 30m\n"
                                          "        under_attack:\n"
                                          "          enabled: true\n"
                                          "          auto:\n"
                                          "            requests_per_second: 500\n"
                                          "            duration: 15m\n"),
                                 "t.yaml", noFileChecks());
  ASSERT_TRUE(result.ok()) << result.error().message;
  const Site& site = result->tenants[0].sites[0];
  ASSERT_TRUE(site.challenge.has_value());
  EXPECT_EQ(site.challenge->difficulty, 20u);
  EXPECT_EQ(site.challenge->clearance_ttl, 7200s);
  EXPECT_EQ(site.challenge->key_rotation, 1800s);
  ASSERT_TRUE(site.under_attack.has_value());
  EXPECT_TRUE(site.under_attack->enabled);
  ASSERT_TRUE(site.under_attack->automatic.has_value());
  EXPECT_EQ(site.under_attack->automatic->requests_per_second, 500u);
  EXPECT_EQ(site.under_attack->automatic->duration, 900s);
}

TEST(ChallengeConfig, AutoDurationHasADefault) {
  auto result = loadConfigString(
      siteYaml("        under_attack: {auto: {requests_per_second: 100}}\n"), "t.yaml",
      noFileChecks());
  ASSERT_TRUE(result.ok()) << result.error().message;
  const auto& ua = result->tenants[0].sites[0].under_attack;
  ASSERT_TRUE(ua && ua->automatic);
  EXPECT_FALSE(ua->enabled);
  EXPECT_EQ(ua->automatic->duration, 600s);
}

TEST(ChallengeConfig, RefusesOutOfRangeValuesWithPosition) {
  EXPECT_EQ(errorsOf(siteYaml("        challenge: {difficulty: 33}\n")),
            "t.yaml:10:33: 'difficulty' out of range: 33 (allowed 1..32)");
  EXPECT_EQ(errorsOf(siteYaml("        challenge: {difficulty: 0}\n")),
            "t.yaml:10:33: 'difficulty' out of range: 0 (allowed 1..32)");
  EXPECT_EQ(errorsOf(siteYaml("        challenge: {key_rotation: 10s}\n")),
            "t.yaml:10:35: 'key_rotation' out of range: 10s (allowed 60s..2592000s)");
  EXPECT_EQ(errorsOf(siteYaml("        under_attack: {auto: {requests_per_second: 0}}\n")),
            "t.yaml:10:52: 'requests_per_second' out of range: 0 (allowed 1..1000000000)");
}

TEST(ChallengeConfig, RefusesClearanceOutlivingTheKeys) {
  EXPECT_EQ(errorsOf(siteYaml("        challenge:\n"
                              "          key_rotation: 1m\n"
                              "          clearance_ttl: 8m\n")),
            "t.yaml:12:26: clearance_ttl 480s outlives the signing keys: at most 7 x key_rotation "
            "(420s) is kept (shorten clearance_ttl or lengthen key_rotation)");
  EXPECT_EQ(errorsOf(siteYaml("        challenge: {key_rotation: 1m, clearance_ttl: 7m}\n")), "<ok>");
}

TEST(ChallengeConfig, RefusesUnknownKeysAndWrongTypes) {
  EXPECT_EQ(errorsOf(siteYaml("        challenge: {dificulty: 3}\n")),
            "t.yaml:10:21: unknown key 'dificulty' (did you mean 'difficulty'?)");
  EXPECT_EQ(errorsOf(siteYaml("        under_attack: {enabled: maybe}\n")),
            "t.yaml:10:33: expected true or false for 'enabled', got 'maybe'");
  EXPECT_EQ(errorsOf(siteYaml("        under_attack: {auto: {duration: 1m}}\n")),
            "t.yaml:10:30: missing required key 'requests_per_second'");
}

}  // namespace
}  // namespace mamori::config
