#include "daemon/login_settings.h"

#include <cerrno>
#include <string>

namespace mamori::daemon {

namespace {

guard::PathMatch pathMatch(config::LoginPathMatch m) {
  switch (m) {
    case config::LoginPathMatch::Exact: return guard::PathMatch::Exact;
    case config::LoginPathMatch::Prefix: return guard::PathMatch::Prefix;
    case config::LoginPathMatch::Glob: return guard::PathMatch::Glob;
  }
  return guard::PathMatch::Exact;
}

guard::UsernameSource usernameSource(config::LoginUsernameSource s) {
  switch (s) {
    case config::LoginUsernameSource::None: return guard::UsernameSource::None;
    case config::LoginUsernameSource::Form: return guard::UsernameSource::FormField;
    case config::LoginUsernameSource::Json: return guard::UsernameSource::JsonPointer;
    case config::LoginUsernameSource::Basic: return guard::UsernameSource::BasicAuth;
  }
  return guard::UsernameSource::None;
}

guard::Action action(config::LoginAction a) {
  switch (a) {
    case config::LoginAction::Log: return guard::Action::Log;
    case config::LoginAction::Delay: return guard::Action::Delay;
    case config::LoginAction::TooManyRequests: return guard::Action::TooManyRequests;
    case config::LoginAction::BlockSource: return guard::Action::BlockSource;
    case config::LoginAction::BanSource: return guard::Action::BanSource;
    case config::LoginAction::LockUsername: return guard::Action::LockUsername;
  }
  return guard::Action::Log;
}

std::vector<guard::OutcomeRule> rules(const std::vector<config::LoginOutcomeRule>& in) {
  std::vector<guard::OutcomeRule> out;
  for (const auto& r : in) {
    guard::OutcomeRule rule;
    rule.statuses.assign(r.status.begin(), r.status.end());
    rule.location_prefix = r.location_prefix;
    rule.location_contains = r.location_contains;
    if (r.header) rule.header = guard::HeaderTest{r.header->name, r.header->contains};
    rule.body_contains = r.body_contains;
    if (r.json) rule.json = guard::JsonTest{r.json->pointer, r.json->equals};
    out.push_back(std::move(rule));
  }
  return out;
}

std::vector<guard::LadderStep> ladder(const std::vector<config::LoginLadderStep>& in) {
  std::vector<guard::LadderStep> out;
  for (const auto& s : in) out.push_back({s.excess, action(s.action), s.delay, s.duration});
  return out;
}

guard::CounterLimit* limitByName(guard::Limits& limits, const std::string& name) {
  for (std::size_t i = 0; i < guard::kCounterCount; ++i) {
    const auto c = static_cast<guard::Counter>(i);
    if (name == guard::counterName(c)) return const_cast<guard::CounterLimit*>(&limits.of(c));
  }
  return nullptr;
}

}  // namespace

common::Result<guard::SiteGuardConfig> loginSettings(const config::Site& site) {
  if (!site.login) return common::Error{EINVAL, "site " + site.name + ": no login section"};
  const config::LoginConfig& in = *site.login;
  guard::SiteGuardConfig out;
  out.site = site.name;
  out.detection_only = in.detection_only || site.mode == config::SiteMode::Detect;
  out.allow = in.allow;
  for (std::size_t i = 0; i < in.routes.size(); ++i) {
    const config::LoginRoute& r = in.routes[i];
    guard::LoginRoute route;
    if (!r.preset.empty()) {
      auto preset = guard::parsePreset(r.preset);
      if (!preset) return common::Error{EINVAL, "site " + site.name + ": " + preset.error().message};
      route = guard::presetRoute(*preset);
    } else {
      route.name = "route" + std::to_string(i);
      route.success.clear();
    }
    if (!r.name.empty()) route.name = r.name;
    if (r.path) route.path = *r.path;
    if (r.match) route.path_match = pathMatch(*r.match);
    if (r.method) route.method = *r.method;
    if (r.username_source) route.username_source = usernameSource(*r.username_source);
    if (!r.username_field.empty()) route.username_field = r.username_field;
    if (r.failure) route.failure = rules(*r.failure);
    if (r.success) route.success = rules(*r.success);
    out.routes.push_back(std::move(route));
  }
  for (const auto& [name, limit] : in.limits) {
    guard::CounterLimit* l = limitByName(out.limits, name);
    if (l == nullptr)
      return common::Error{EINVAL, "site " + site.name + ": unknown login counter " + name};
    if (limit.threshold) l->threshold = *limit.threshold;
    if (limit.window) l->window = *limit.window;
    if (limit.enabled) l->enabled = *limit.enabled;
  }
  if (in.takeover_after_failures) out.limits.takeover_after_failures = *in.takeover_after_failures;
  if (in.source_ladder) out.source_ladder = ladder(*in.source_ladder);
  if (in.username_ladder) out.username_ladder = ladder(*in.username_ladder);
  if (in.ban_ttls) out.ban_ttls = *in.ban_ttls;
  if (in.offender_memory) out.offender_memory = *in.offender_memory;
  out.ban_ipv6_prefix64 = in.ban_ipv6_prefix64;
  out.usernames = in.usernames_clear ? guard::UsernameStorage::Clear : guard::UsernameStorage::Hashed;
  out.username_case_insensitive = in.username_case_insensitive;
  out.locked_status = in.locked_status;
  if (in.tables.counters) out.tables.counters = *in.tables.counters;
  if (in.tables.distinct) out.tables.distinct = *in.tables.distinct;
  if (in.tables.blocks) out.tables.blocks = *in.tables.blocks;
  if (in.tables.locks) out.tables.locks = *in.tables.locks;
  if (in.tables.offenders) out.tables.offenders = *in.tables.offenders;
  if (auto st = guard::validate(out); !st) return st.error();
  return out;
}

common::Result<std::vector<guard::SiteGuardConfig>> loginSettings(const config::Config& config) {
  std::vector<guard::SiteGuardConfig> out;
  for (const auto& tenant : config.tenants) {
    for (const auto& site : tenant.sites) {
      if (!site.login) continue;
      auto s = loginSettings(site);
      if (!s) return s.error();
      out.push_back(std::move(*s));
    }
  }
  return out;
}

}  // namespace mamori::daemon
