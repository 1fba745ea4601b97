#include "guard/types.h"

#include <gtest/gtest.h>

namespace mamori::guard {
namespace {

SiteGuardConfig validSite() {
  SiteGuardConfig s;
  s.site = "shop";
  s.routes = {presetRoute(Preset::WordPress), presetRoute(Preset::JsonApiOkFalse, "/api/login")};
  return s;
}

void expectInvalid(const SiteGuardConfig& s, const std::string& fragment) {
  auto st = validate(s);
  ASSERT_FALSE(st.ok()) << fragment;
  EXPECT_EQ(st.error().code, EINVAL);
  EXPECT_NE(st.error().message.find(fragment), std::string::npos) << st.error().message;
}

TEST(GuardTypes, PresetsRoundTripByName) {
  for (Preset p : {Preset::GenericForm401, Preset::WordPress, Preset::JsonApiOkFalse}) {
    auto parsed = parsePreset(presetName(p));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, p);
  }
  auto bad = parsePreset("drupal");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("wordpress"), std::string::npos);
}

TEST(GuardTypes, PresetsHaveTheirShapes) {
  LoginRoute wp = presetRoute(Preset::WordPress);
  EXPECT_EQ(wp.path, "/wp-login.php");
  EXPECT_EQ(wp.method, "POST");
  EXPECT_EQ(wp.username_field, "log");
  LoginRoute json = presetRoute(Preset::JsonApiOkFalse, "/v2/auth", "/credentials/user");
  EXPECT_EQ(json.path, "/v2/auth");
  EXPECT_EQ(json.username_source, UsernameSource::JsonPointer);
  EXPECT_EQ(json.username_field, "/credentials/user");
}

TEST(GuardTypes, DefaultsAreValid) {
  EXPECT_TRUE(validate(validSite()).ok());
  SiteGuardConfig empty;
  empty.site = "x";
  EXPECT_TRUE(validate(empty).ok());
}

TEST(GuardTypes, ValidateNamesTheBadField) {
  auto s = validSite();
  s.routes[1].path = "";
  expectInvalid(s, "routes[1].path");

  s = validSite();
  s.routes[0].failure = {OutcomeRule{}};
  expectInvalid(s, "routes[0].failure[0]: the rule tests nothing");

  s = validSite();
  s.routes[0].failure[0].statuses = {200, 999};
  expectInvalid(s, "999");

  s = validSite();
  s.routes[1].username_field = "user";
  expectInvalid(s, "must start with '/'");

  s = validSite();
  s.limits.failures_per_ip.threshold = 0;
  expectInvalid(s, "limits.failures_per_ip.threshold");

  s = validSite();
  s.limits.distinct_ips_per_user.window = std::chrono::hours(48);
  expectInvalid(s, "limits.distinct_ips_per_user.window");

  s = validSite();
  s.source_ladder[1].excess = 1;
  expectInvalid(s, "source_ladder[1].excess");

  s = validSite();
  s.source_ladder[2].duration = std::chrono::seconds(0);
  expectInvalid(s, "source_ladder[2].duration");

  s = validSite();
  s.ban_ttls.clear();
  expectInvalid(s, "ban_ttls");

  s = validSite();
  s.tables.counters = 0;
  expectInvalid(s, "tables");

  s = validSite();
  s.locked_status = 200;
  expectInvalid(s, "locked_status");
}

TEST(GuardTypes, DisabledCounterNeedsNoThreshold) {
  auto s = validSite();
  s.limits.failures_per_ip = CounterLimit{0, std::chrono::seconds(0), false};
  EXPECT_TRUE(validate(s).ok());
}

TEST(GuardTypes, NamesAreStable) {
  EXPECT_STREQ(counterName(Counter::DistinctUsersPerIp), "distinct_users_per_ip");
  EXPECT_STREQ(actionName(Action::BanSource), "ban_source");
  EXPECT_STREQ(outcomeName(Outcome::Failed), "failed");
  EXPECT_STREQ(eventKindName(EventKind::AccountTakeover), "account_takeover");
  EXPECT_STREQ(counterName(static_cast<Counter>(99)), "unknown");
}

}  // namespace
}  // namespace mamori::guard
