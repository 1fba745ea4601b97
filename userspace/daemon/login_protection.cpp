#include "daemon/login_protection.h"

#include "daemon/tls_fingerprints.h"

#include <algorithm>
#include <cstdio>

#include "daemon/daemon_logs.h"
#include "daemon/login_settings.h"
#include "logs/log_writer.h"

namespace mamori::daemon {

using common::Error;
using common::Result;
using common::Status;

// --- ShieldBanSink ----------------------------------------------------------

Status ShieldBanSink::attach(const std::string& pin_root) {
  auto maps = shield::PinnedMaps::open(pin_root);
  if (!maps) return maps.error();
  maps_.emplace(std::move(maps.value()));
  return {};
}

void ShieldBanSink::ban(const common::IpPrefix& source, std::chrono::seconds ttl,
                        guard::BanReason reason) {
  shield::BanReason shield_reason = shield::BanReason::Login;
  if (reason == guard::BanReason::Bot) shield_reason = shield::BanReason::Bot;
  if (reason == guard::BanReason::Flood) shield_reason = shield::BanReason::Flood;
  const auto r = std::min<std::size_t>(static_cast<std::size_t>(reason), kReasons - 1);
  if (!maps_) {
    unenforced_.fetch_add(1, std::memory_order_relaxed);
    unenforced_by_[r].fetch_add(1, std::memory_order_relaxed);
    std::fprintf(stderr,
                 "mamorid: ban of %s for %llds not enforced at XDP: no shield loaded "
                 "(the source stays blocked at the site)\n",
                 source.toString().c_str(), static_cast<long long>(ttl.count()));
    return;
  }
  if (auto st = maps_->addBan(source, ttl, shield_reason); !st) {
    unenforced_.fetch_add(1, std::memory_order_relaxed);
    unenforced_by_[r].fetch_add(1, std::memory_order_relaxed);
    std::fprintf(stderr, "mamorid: ban of %s not enforced at XDP: %s\n",
                 source.toString().c_str(), st.error().message.c_str());
    return;
  }
  written_.fetch_add(1, std::memory_order_relaxed);
  written_by_[r].fetch_add(1, std::memory_order_relaxed);
}

// --- event records ------------------------------------------------------------

namespace {

bool hasTrigger(const guard::Event& e, guard::Counter c) {
  for (const auto& t : e.triggers)
    if (t.counter == c) return true;
  return false;
}

bool restricts(guard::Action a) {
  return a == guard::Action::TooManyRequests || a == guard::Action::BlockSource ||
         a == guard::Action::BanSource || a == guard::Action::LockUsername;
}

}  // namespace

std::string loginRuleId(const guard::Event& event) {
  switch (event.kind) {
    case guard::EventKind::AccountTakeover: return "login.account_takeover";
    case guard::EventKind::UsernameAbuse:
      return hasTrigger(event, guard::Counter::DistinctIpsPerUser) ? "login.distributed_attack"
                                                                   : "login.username_abuse";
    case guard::EventKind::SourceAbuse:
      if (hasTrigger(event, guard::Counter::DistinctUsersPerIp)) return "login.password_spray";
      if (hasTrigger(event, guard::Counter::FailuresPerV4Prefix24) ||
          hasTrigger(event, guard::Counter::FailuresPerV6Prefix64))
        return "login.network_abuse";
      return "login.brute_force";
  }
  return "login.unknown";
}

logs::LogRecord loginEventRecord(const guard::Event& event, const LoginEventContext& context) {
  logs::LogRecord r;
  r.type = logs::LogType::Event;
  r.time = std::chrono::system_clock::now();
  r.kind = "alert";
  r.category = "authentication";
  r.event_type = event.enforced && restricts(event.action) ? "denied" : "info";
  r.action = guard::actionName(event.action);
  r.outcome = event.kind == guard::EventKind::AccountTakeover ? "success" : "failure";
  r.tenant = context.tenant;
  r.site = context.site;
  r.source_ip = context.source_ip.empty() ? event.subject.toString() : context.source_ip;
  r.source_port = context.source_port;
  r.url_path = context.path;
  r.http_method = context.method;
  r.http_status = context.http_status;
  r.request_id = context.request_id;
  r.user_agent = context.user_agent;
  r.tls_ja3 = context.tls_ja3;
  r.tls_ja4 = context.tls_ja4;
  r.rule_id = loginRuleId(event);
  r.rule_name = r.rule_id.substr(6);  // without "login."
  r.rule_category = "login";
  std::string what = std::string(guard::eventKindName(event.kind)) + ": " +
                     guard::actionName(event.action) + " " + event.subject.toString();
  if (!event.username.empty()) what += " (username " + event.username + ")";
  if (!event.enforced) what += " [detection only]";
  r.message = what;
  std::vector<logs::Field> triggers;
  for (const auto& t : event.triggers) {
    std::vector<logs::Field> f;
    f.push_back({"value", logs::Value::unsignedInt(t.value)});
    f.push_back({"threshold", logs::Value::unsignedInt(t.threshold)});
    f.push_back({"window_s", logs::Value::integer(t.window.count())});
    triggers.push_back({guard::counterName(t.counter), logs::Value::objectOf(std::move(f))});
  }
  r.details.push_back({"kind", logs::Value::string(guard::eventKindName(event.kind))});
  r.details.push_back({"action", logs::Value::string(guard::actionName(event.action))});
  r.details.push_back({"enforced", logs::Value::boolean(event.enforced)});
  r.details.push_back({"subject", logs::Value::string(event.subject.toString())});
  if (!event.username.empty())
    r.details.push_back({"username", logs::Value::string(event.username)});
  if (!event.route.empty()) r.details.push_back({"route", logs::Value::string(event.route)});
  if (event.delay.count() > 0)
    r.details.push_back({"delay_ms", logs::Value::integer(event.delay.count())});
  if (event.duration.count() > 0)
    r.details.push_back({"duration_s", logs::Value::integer(event.duration.count())});
  r.details.push_back({"triggers", logs::Value::objectOf(std::move(triggers))});
  return r;
}

// --- LoginProtection ------------------------------------------------------------

// The watch token of one forwarded attempt: the snapshot (so the guard it
// was checked against lives until its response), the guard's PreCheck and
// what the event records need of the request.
struct LoginProtection::Watch {
  std::shared_ptr<const Snapshot> snapshot;
  guard::PreCheck pre;
  LoginEventContext context;
};

Result<std::unique_ptr<LoginProtection>> LoginProtection::create(const config::Config& config,
                                                                 const guard::Clock& clock,
                                                                 DaemonLogs* logs,
                                                                 guard::BanSink* sink) {
  std::unique_ptr<LoginProtection> out(new LoginProtection(clock, logs, sink));
  auto snap = out->build(config, nullptr);
  if (!snap) return snap.error();
  out->snapshot_.publish(std::move(*snap));
  return out;
}

Result<std::shared_ptr<const LoginProtection::Snapshot>> LoginProtection::build(
    const config::Config& config, const guard::LoginGuard* previous) const {
  auto settings = loginSettings(config);
  if (!settings) return settings.error();
  auto snap = std::make_shared<Snapshot>();
  if (settings->empty()) return std::shared_ptr<const Snapshot>(std::move(snap));
  guard::GuardOptions options;
  options.carry_over_from = previous;
  auto guard = guard::LoginGuard::create(std::move(*settings), clock_, sink_, options);
  if (!guard) return guard.error();
  snap->guard = std::shared_ptr<guard::LoginGuard>(std::move(*guard));
  for (const auto& tenant : config.tenants)
    for (const auto& site : tenant.sites) {
      auto id = snap->guard->findSite(site.name);
      if (!id) continue;
      snap->sites[site.name] = SiteEntry{*id, tenant.id};
      snap->order.push_back(site.name);
    }
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

Result<std::string> LoginProtection::reload(const config::Config& config) {
  auto old = snapshot_.current();
  auto snap = build(config, old->guard.get());
  if (!snap) return snap.error();
  const std::size_t sites = (*snap)->sites.size();
  snapshot_.publish(std::move(*snap));
  if (sites == 0) return std::string("login protection: off (no site has a login section)");
  return "login protection: " + std::to_string(sites) + " site" + (sites == 1 ? "" : "s") +
         " (counters of unchanged sites kept)";
}

bool LoginProtection::active() const { return snapshot_.current()->guard != nullptr; }

void LoginProtection::logEvents(const std::vector<guard::Event>& events,
                                const LoginEventContext& context) {
  if (events.empty()) return;
  events_.fetch_add(events.size(), std::memory_order_relaxed);
  if (!logs_) return;
  thread_local std::shared_ptr<logs::LogProducer> producer;
  thread_local const DaemonLogs* producer_owner = nullptr;
  if (producer_owner != logs_) {
    producer = logs_->registerProducer();
    producer_owner = logs_;
  }
  for (const auto& e : events) producer->submit(loginEventRecord(e, context));
}

void LoginProtection::countOutcome(guard::Outcome outcome) {
  if (outcome == guard::Outcome::Failed) failed_.fetch_add(1, std::memory_order_relaxed);
  if (outcome == guard::Outcome::Succeeded) succeeded_.fetch_add(1, std::memory_order_relaxed);
}

net::Verdict LoginProtection::onRequest(const http::Request& request,
                                        const net::RequestContext& context) {
  // This thread's cached pointer: no reference-count traffic per request.
  const std::shared_ptr<const Snapshot>& snapshot = snapshot_.local();
  const Snapshot& snap = *snapshot;
  if (!snap.guard) return net::Verdict::pass();
  auto site = snap.sites.find(context.site);
  if (site == snap.sites.end()) return net::Verdict::pass();
  guard::PreCheck pre = snap.guard->beforeUpstream(site->second.id, request, context.peer.asHostPrefix());
  if (!pre.login && pre.events.empty() && !pre.answerLocally()) return net::Verdict::pass();

  LoginEventContext ec;
  ec.tenant = site->second.tenant;
  ec.site = std::string(context.site);
  ec.source_ip = context.peer.toString();
  ec.source_port = context.peer_port;
  ec.request_id = std::string(context.request_id);
  ec.method = request.method_name;
  ec.path = request.path;
  if (auto ua = request.header("user-agent")) ec.user_agent = std::string(*ua);
  const ClientFingerprints fp = clientFingerprints(context);
  ec.tls_ja3 = fp.ja3;
  ec.tls_ja4 = fp.ja4;
  if (pre.answerLocally()) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    ec.http_status = static_cast<std::uint16_t>(pre.answer.status);
    logEvents(pre.events, ec);
    net::Verdict v = net::Verdict::block(static_cast<std::uint16_t>(pre.answer.status));
    v.retry_after = pre.answer.retry_after;
    return v;
  }
  logEvents(pre.events, ec);
  if (!pre.login) return net::Verdict::pass();
  attempts_.fetch_add(1, std::memory_order_relaxed);
  auto watch = std::make_shared<Watch>();
  watch->snapshot = snapshot;  // the guard checked against lives until the response
  watch->pre = std::move(pre);
  watch->context = std::move(ec);
  net::Verdict v;
  v.watch = std::move(watch);
  return v;
}

net::ResponseAction LoginProtection::onResponse(const std::shared_ptr<void>& token,
                                                const net::ResponseView& response,
                                                const net::RequestContext&) {
  // Only onRequest() makes watch tokens, and main wires this hook alone.
  auto* watch = static_cast<Watch*>(token.get());
  if (!watch || !watch->snapshot || !watch->snapshot->guard || !response.headers) return {};
  guard::Decision d = watch->snapshot->guard->afterResponse(watch->pre, response.status,
                                                            *response.headers, response.body_prefix);
  countOutcome(d.outcome);
  LoginEventContext ec = watch->context;
  ec.http_status = static_cast<std::uint16_t>(response.status);
  logEvents(d.events, ec);
  return net::ResponseAction{d.delay};
}

Result<std::vector<guard::SiteStatus>> LoginProtection::status(const std::string& site,
                                                               std::size_t top) const {
  auto snap = snapshot_.current();
  if (!snap->guard) return Error{ENOENT, "no site has a login section"};
  std::vector<guard::SiteStatus> out;
  if (!site.empty()) {
    if (!snap->sites.count(site)) return Error{ENOENT, "site '" + site + "' has no login section"};
    auto st = snap->guard->status(site, top);
    if (!st) return st.error();
    out.push_back(std::move(*st));
    return out;
  }
  for (const auto& name : snap->order) {
    auto st = snap->guard->status(name, top);
    if (!st) return st.error();
    out.push_back(std::move(*st));
  }
  return out;
}

Result<bool> LoginProtection::unlock(const std::string& site, const std::string& user) {
  auto snap = snapshot_.current();
  if (!snap->guard || !snap->sites.count(site))
    return Error{ENOENT, "site '" + site + "' has no login section"};
  return snap->guard->unlock(site, user);
}

std::size_t LoginProtection::liftBan(const common::IpPrefix& source) {
  auto snap = snapshot_.current();
  return snap->guard ? snap->guard->liftBan(source) : 0;
}

Result<guard::Decision> LoginProtection::report(const std::string& site, const std::string& user,
                                                const common::IpPrefix& ip, guard::Outcome outcome) {
  auto snap = snapshot_.current();
  auto entry = snap->sites.find(site);
  if (!snap->guard || entry == snap->sites.end())
    return Error{ENOENT, "site '" + site + "' has no login section"};
  auto d = snap->guard->reportOutcome(site, user, ip, outcome);
  if (!d) return d.error();
  countOutcome(d->outcome);
  LoginEventContext ec;
  ec.tenant = entry->second.tenant;
  ec.site = site;
  ec.source_ip = ip.toString();
  logEvents(d->events, ec);
  return d;
}

LoginStats LoginProtection::stats() const {
  LoginStats s;
#define MAMORI_LOGIN_READ(name) s.name = name##_.load(std::memory_order_relaxed);
  MAMORI_LOGIN_COUNTERS(MAMORI_LOGIN_READ)
#undef MAMORI_LOGIN_READ
  return s;
}

}  // namespace mamori::daemon
