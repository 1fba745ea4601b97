#include "guard/types.h"

#include <cerrno>
#include <string>

namespace mamori::guard {

namespace {

common::Error invalid(const std::string& site, const std::string& what) {
  return common::Error{EINVAL, "site " + site + ": " + what};
}

OutcomeRule statusRule(std::vector<int> statuses) {
  OutcomeRule r;
  r.statuses = std::move(statuses);
  return r;
}

OutcomeRule jsonRule(std::string pointer, std::string equals) {
  OutcomeRule r;
  r.json = JsonTest{std::move(pointer), std::move(equals)};
  return r;
}

LadderStep step(std::uint32_t excess, Action action, std::chrono::milliseconds delay,
                std::chrono::seconds duration) {
  LadderStep s;
  s.excess = excess;
  s.action = action;
  s.delay = delay;
  s.duration = duration;
  return s;
}

bool ruleTestsSomething(const OutcomeRule& rule) {
  return !rule.statuses.empty() || !rule.location_prefix.empty() ||
         !rule.location_contains.empty() || rule.header.has_value() ||
         !rule.body_contains.empty() || rule.json.has_value();
}

common::Status validateRule(const std::string& site, const std::string& where,
                            const OutcomeRule& rule) {
  if (!ruleTestsSomething(rule)) return invalid(site, where + ": the rule tests nothing");
  for (int status : rule.statuses) {
    if (status < 100 || status > 599)
      return invalid(site, where + ".statuses: " + std::to_string(status) +
                               " is not an HTTP status (100..599)");
  }
  if (rule.header && rule.header->name.empty())
    return invalid(site, where + ".header: the header name is empty");
  if (rule.json && (rule.json->pointer.empty() || rule.json->pointer[0] != '/'))
    return invalid(site, where + ".json: pointer \"" + (rule.json ? rule.json->pointer : "") +
                             "\" must start with '/' (RFC 6901)");
  return {};
}

common::Status validateLadder(const std::string& site, const std::string& name,
                              const std::vector<LadderStep>& ladder) {
  std::uint32_t last = 0;
  for (std::size_t i = 0; i < ladder.size(); ++i) {
    const LadderStep& step = ladder[i];
    const std::string where = name + "[" + std::to_string(i) + "]";
    if (step.excess == 0) return invalid(site, where + ".excess: must be >= 1");
    if (step.excess <= last)
      return invalid(site, where + ".excess: steps must be in increasing order of excess");
    last = step.excess;
    switch (step.action) {
      case Action::Delay:
        if (step.delay <= 0ms || step.delay > 60s)
          return invalid(site, where + ".delay: must be 1 ms .. 60 s");
        break;
      case Action::TooManyRequests:
      case Action::BlockSource:
      case Action::LockUsername:
        if (step.duration <= 0s || step.duration > 365 * 24h)
          return invalid(site, where + ".duration: must be 1 s .. 365 days");
        break;
      case Action::Log:
      case Action::BanSource:
        break;
    }
  }
  return {};
}

}  // namespace

const char* presetName(Preset preset) {
  switch (preset) {
    case Preset::GenericForm401: return "generic_form_401";
    case Preset::WordPress: return "wordpress";
    case Preset::JsonApiOkFalse: return "json_api_ok_false";
  }
  return "unknown";
}

common::Result<Preset> parsePreset(std::string_view name) {
  for (Preset p : {Preset::GenericForm401, Preset::WordPress, Preset::JsonApiOkFalse}) {
    if (name == presetName(p)) return p;
  }
  return common::Error{EINVAL, "unknown login preset \"" + std::string(name) +
                                   "\" (known: generic_form_401, wordpress, json_api_ok_false)"};
}

LoginRoute presetRoute(Preset preset, std::string path, std::string username_field) {
  LoginRoute route;
  route.method = "POST";
  route.path_match = PathMatch::Exact;
  switch (preset) {
    case Preset::GenericForm401:
      route.name = "generic_form_401";
      route.path = "/login";
      route.username_source = UsernameSource::FormField;
      route.username_field = "username";
      route.failure = {statusRule({401, 403})};
      route.success = {statusRule({200, 201, 204, 301, 302, 303, 307, 308})};
      break;
    case Preset::WordPress:
      // wp-login.php answers a failed login with 200 and the form again; a
      // good one with 302 to /wp-admin/ (or redirect_to) and the
      // wordpress_logged_in_<hash> cookie.
      route.name = "wordpress";
      route.path = "/wp-login.php";
      route.username_source = UsernameSource::FormField;
      route.username_field = "log";
      route.failure = {statusRule({200})};
      route.success = {statusRule({302, 303}), statusRule({302, 303})};
      route.success[0].location_contains = "/wp-admin";
      route.success[1].header = HeaderTest{"Set-Cookie", "wordpress_logged_in_"};
      break;
    case Preset::JsonApiOkFalse:
      route.name = "json_api_ok_false";
      route.path = "/login";
      route.username_source = UsernameSource::JsonPointer;
      route.username_field = "/username";
      route.failure = {jsonRule("/ok", "false")};
      route.success = {jsonRule("/ok", "true")};
      break;
  }
  if (!path.empty()) route.path = std::move(path);
  if (!username_field.empty()) route.username_field = std::move(username_field);
  return route;
}

const char* counterName(Counter counter) {
  switch (counter) {
    case Counter::FailuresPerIp: return "failures_per_ip";
    case Counter::FailuresPerUser: return "failures_per_user";
    case Counter::FailuresPerUserIp: return "failures_per_user_ip";
    case Counter::DistinctUsersPerIp: return "distinct_users_per_ip";
    case Counter::DistinctIpsPerUser: return "distinct_ips_per_user";
    case Counter::FailuresPerV4Prefix24: return "failures_per_v4_24";
    case Counter::FailuresPerV6Prefix64: return "failures_per_v6_64";
  }
  return "unknown";
}

const CounterLimit& Limits::of(Counter counter) const {
  switch (counter) {
    case Counter::FailuresPerIp: return failures_per_ip;
    case Counter::FailuresPerUser: return failures_per_user;
    case Counter::FailuresPerUserIp: return failures_per_user_ip;
    case Counter::DistinctUsersPerIp: return distinct_users_per_ip;
    case Counter::DistinctIpsPerUser: return distinct_ips_per_user;
    case Counter::FailuresPerV4Prefix24: return failures_per_v4_24;
    case Counter::FailuresPerV6Prefix64: return failures_per_v6_64;
  }
  return failures_per_ip;
}

const char* actionName(Action action) {
  switch (action) {
    case Action::Log: return "log";
    case Action::Delay: return "delay";
    case Action::TooManyRequests: return "too_many_requests";
    case Action::BlockSource: return "block_source";
    case Action::BanSource: return "ban_source";
    case Action::LockUsername: return "lock_username";
  }
  return "unknown";
}

const char* outcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::Unknown: return "unknown";
    case Outcome::Failed: return "failed";
    case Outcome::Succeeded: return "succeeded";
  }
  return "unknown";
}

const char* eventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::SourceAbuse: return "source_abuse";
    case EventKind::UsernameAbuse: return "username_abuse";
    case EventKind::AccountTakeover: return "account_takeover";
  }
  return "unknown";
}

std::vector<LadderStep> defaultSourceLadder() {
  return {
      step(1, Action::Delay, 1000ms, 0s),
      step(2, Action::TooManyRequests, 0ms, 60s),
      step(5, Action::BlockSource, 0ms, 15min),
      step(10, Action::BanSource, 0ms, 0s),
  };
}

std::vector<LadderStep> defaultUsernameLadder() {
  return {step(1, Action::LockUsername, 0ms, 15min)};
}

common::Status validate(const SiteGuardConfig& site) {
  const std::string& s = site.site;
  if (s.empty()) return common::Error{EINVAL, "login guard: site name is empty"};
  for (std::size_t i = 0; i < site.routes.size(); ++i) {
    const LoginRoute& r = site.routes[i];
    const std::string where = "routes[" + std::to_string(i) + "]";
    if (r.path.empty()) return invalid(s, where + ".path: empty");
    if (r.path_match != PathMatch::Glob && r.path[0] != '/')
      return invalid(s, where + ".path: \"" + r.path + "\" must start with '/'");
    if (r.method.empty()) return invalid(s, where + ".method: empty");
    if (r.username_source == UsernameSource::FormField && r.username_field.empty())
      return invalid(s, where + ".username: form field name is empty");
    if (r.username_source == UsernameSource::JsonPointer &&
        (r.username_field.empty() || r.username_field[0] != '/'))
      return invalid(s, where + ".username: JSON pointer \"" + r.username_field +
                            "\" must start with '/' (RFC 6901)");
    if (r.failure.empty())
      return invalid(s, where + ".failure: at least one failure rule is needed");
    for (std::size_t j = 0; j < r.failure.size(); ++j) {
      auto st = validateRule(s, where + ".failure[" + std::to_string(j) + "]", r.failure[j]);
      if (!st) return st;
    }
    for (std::size_t j = 0; j < r.success.size(); ++j) {
      auto st = validateRule(s, where + ".success[" + std::to_string(j) + "]", r.success[j]);
      if (!st) return st;
    }
  }
  for (std::size_t i = 0; i < kCounterCount; ++i) {
    const auto c = static_cast<Counter>(i);
    const CounterLimit& l = site.limits.of(c);
    if (!l.enabled) continue;
    if (l.threshold == 0) return invalid(s, std::string("limits.") + counterName(c) +
                                                ".threshold: must be >= 1");
    if (l.threshold > 60000)
      return invalid(s, std::string("limits.") + counterName(c) + ".threshold: must be <= 60000");
    if (l.window < 1s || l.window > 24h)
      return invalid(s, std::string("limits.") + counterName(c) + ".window: must be 1 s .. 1 day");
  }
  if (auto st = validateLadder(s, "source_ladder", site.source_ladder); !st) return st;
  if (auto st = validateLadder(s, "username_ladder", site.username_ladder); !st) return st;
  if (site.ban_ttls.empty()) return invalid(s, "ban_ttls: at least one TTL is needed");
  for (auto ttl : site.ban_ttls) {
    if (ttl <= 0s) return invalid(s, "ban_ttls: every TTL must be > 0");
  }
  if (site.offender_memory <= 0s) return invalid(s, "offender_memory: must be > 0");
  if (site.locked_status < 400 || site.locked_status > 599)
    return invalid(s, "locked_status: must be 400..599");
  const TableSizes& t = site.tables;
  if (t.counters == 0 || t.distinct == 0 || t.blocks == 0 || t.locks == 0 || t.offenders == 0)
    return invalid(s, "tables: every size must be >= 1");
  constexpr std::size_t kMaxEntries = std::size_t{1} << 26;
  if (t.counters > kMaxEntries || t.distinct > kMaxEntries || t.blocks > kMaxEntries ||
      t.locks > kMaxEntries || t.offenders > kMaxEntries)
    return invalid(s, "tables: a size is over 67108864 entries");
  return {};
}

}  // namespace mamori::guard
