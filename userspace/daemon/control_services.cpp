#include "daemon/control_services.h"

#include <unistd.h>

#include <map>

#include "common/version.h"
#include "admin/commands.h"
#include "daemon/challenge_protection.h"
#include "daemon/flood_protection.h"
#include "daemon/inspection.h"
#include "daemon/bot_protection.h"
#include "daemon/login_protection.h"
#include "inspect/transform.h"
#include "net/engine.h"
#include "shield/shield.h"

namespace mamori::daemon {

using common::Error;
using common::Result;
using common::Status;

ControlServices::ControlServices(std::string pin_root, std::string config_path, unsigned workers)
    : pin_root_(std::move(pin_root)),
      config_path_(std::move(config_path)),
      workers_(workers),
      started_(std::chrono::steady_clock::now()) {}

void ControlServices::setConfig(std::shared_ptr<const config::Config> config) {
  std::lock_guard lock(mu_);
  config_ = std::move(config);
}

void ControlServices::setShield(admin::ShieldInfo info) {
  std::lock_guard lock(mu_);
  shield_ = std::move(info);
}

void ControlServices::setEngine(const net::Engine* engine) {
  std::lock_guard lock(mu_);
  engine_ = engine;
}

void ControlServices::setLogReader(std::shared_ptr<const logs::LogReader> reader) {
  std::lock_guard lock(mu_);
  log_reader_ = std::move(reader);
}

std::shared_ptr<const logs::LogReader> ControlServices::logReader() {
  std::lock_guard lock(mu_);
  return log_reader_;
}

void ControlServices::setLogin(LoginProtection* login) {
  std::lock_guard lock(mu_);
  login_ = login;
}

void ControlServices::setFlood(FloodProtection* flood) {
  std::lock_guard lock(mu_);
  flood_ = flood;
}

Result<admin::DosStatus> ControlServices::dosStatus(const std::string& site, std::size_t top) {
  FloodProtection* fp = nullptr;
  {
    std::lock_guard lock(mu_);
    fp = flood_;
  }
  if (!fp) return Error{ENOENT, "this mamorid has no L7 DoS protection (no sites)"};
  admin::DosStatus out;
  const FloodStats s = fp->stats();
  out.conn_over_source_cap = s.conn_over_source_cap;
  out.slowloris_cut = s.slowloris_cut;
  out.slow_post_cut = s.slow_post_cut;
  out.too_many_requests = s.too_many_requests;
  out.bans = s.ban;
  auto sites = fp->status(site, top);
  if (!sites) {
    // No flood section anywhere: the connection counters still mean
    // something, so only a named site is an error.
    if (!site.empty() || sites.error().code != ENOENT) return sites.error();
    return out;
  }
  for (const auto& st : *sites) {
    admin::DosSiteInfo info;
    info.site = st.config.name;
    info.detection_only = st.config.detection_only;
    for (guard::FloodLimit l : {guard::FloodLimit::PerIp, guard::FloodLimit::PerPrefix,
                                guard::FloodLimit::PerPath, guard::FloodLimit::PerSite}) {
      const guard::FloodRate& r = st.config.rate(l);
      info.limits.push_back({guard::floodLimitName(l), r.requests, r.window.count(),
                             st.counters.refused[static_cast<std::size_t>(l)]});
    }
    info.ban_after = st.config.ban_after;
    info.ban_window_s = st.config.ban_window.count();
    info.ban_ttl_s = st.config.ban_ttl.count();
    info.checked = st.counters.checked;
    info.bans = st.counters.bans;
    info.site_requests = st.site_requests;
    info.memory_bytes = st.memory_bytes;
    for (const auto& src : st.top_sources)
      info.top_sources.push_back({src.source.toString(), src.requests, src.excess, src.banned_s});
    out.sites.push_back(std::move(info));
  }
  return out;
}

LoginProtection* ControlServices::login() {
  std::lock_guard lock(mu_);
  return login_;
}

void ControlServices::setBots(BotProtection* bots) {
  std::lock_guard lock(mu_);
  bots_ = bots;
}

Result<admin::BotStatusInfo> ControlServices::botStatus(const std::string& site) {
  BotProtection* bp = nullptr;
  {
    std::lock_guard lock(mu_);
    bp = bots_;
  }
  if (!bp) return Error{ENOENT, "this mamorid runs no bot detection (no sites)"};
  auto st = bp->status(site);
  if (!st) return st.error();
  admin::BotStatusInfo out;
  out.data_dir = st->data_dir;
  out.files = st->files;
  out.user_agents = st->user_agents;
  out.fingerprints = st->fingerprints;
  out.good_bots = st->good_bots;
  out.resolver = st->resolver;
  out.rdns_hits = st->rdns.hits;
  out.rdns_misses = st->rdns.misses;
  out.rdns_verified = st->rdns.verified;
  out.rdns_failed = st->rdns.failed;
  out.rdns_errors = st->rdns.errors;
  out.rdns_dropped = st->rdns.dropped;
  out.rdns_evictions = st->rdns.evictions;
  out.rdns_cache_used = st->rdns.cache_used;
  out.rdns_cache_capacity = st->rdns.cache_capacity;
  out.rdns_queued = st->rdns.queued;
  out.sources_tracked = st->sources_tracked;
  out.sources_capacity = st->sources_capacity;
  out.bytes_per_source = st->bytes_per_source;
  out.source_evictions = st->source_evictions;
  out.records = st->stats.records;
  out.records_suppressed = st->stats.records_suppressed;
  for (const auto& s : st->sites) {
    admin::BotSiteInfo i;
    i.tenant = s.tenant;
    i.site = s.site;
    i.enabled = s.enabled;
    i.ban_ttl_s = s.policy.ban_ttl.count();
    for (std::size_t c = 1; c < guard::kBotClassCount; ++c) {
      const auto cls = static_cast<guard::BotClass>(c);
      i.actions.emplace_back(guard::botClassName(cls), guard::botActionName(s.policy.actionFor(cls)));
      for (std::size_t a = 0; a < guard::kBotActionCount; ++a)
        if (s.counts[c][a])
          i.counts.push_back({guard::botClassName(cls),
                              guard::botActionName(static_cast<guard::BotAction>(a)),
                              s.counts[c][a]});
    }
    out.sites.push_back(std::move(i));
  }
  return out;
}

Result<std::vector<admin::BotTopInfo>> ControlServices::botTop(const std::string& site,
                                                               std::size_t n) {
  BotProtection* bp = nullptr;
  {
    std::lock_guard lock(mu_);
    bp = bots_;
  }
  if (!bp) return Error{ENOENT, "this mamorid runs no bot detection (no sites)"};
  auto top = bp->top(site, n);
  if (!top) return top.error();
  std::vector<admin::BotTopInfo> out;
  for (const auto& e : *top) {
    admin::BotTopInfo i;
    i.site = e.site;
    i.source = e.summary.source.toString();
    i.bot_requests = e.summary.bot_requests;
    i.requests = e.summary.requests;
    i.paths = e.summary.paths;
    i.client_errors = e.summary.client_errors;
    i.last_class = guard::botClassName(e.summary.last_class);
    i.banned_s = e.banned_for_s;
    out.push_back(std::move(i));
  }
  return out;
}

void ControlServices::setChallenge(ChallengeProtection* challenge) {
  std::lock_guard lock(mu_);
  challenge_ = challenge;
}

ChallengeProtection* ControlServices::challenge() {
  std::lock_guard lock(mu_);
  return challenge_;
}

namespace {

admin::UnderAttackInfo underAttackInfo(const UnderAttackStatus& s) {
  admin::UnderAttackInfo i;
  i.site = s.site;
  i.on = s.on;
  i.reason = s.reason;
  i.override_state = s.override_state;
  i.auto_remaining_s = s.auto_remaining_s;
  i.auto_threshold = s.auto_threshold;
  return i;
}

}  // namespace

Result<admin::UnderAttackInfo> ControlServices::setUnderAttack(const std::string& site,
                                                               const std::string& to) {
  ChallengeProtection* cp = challenge();
  if (!cp) return Error{ENOENT, "this mamorid serves no sites"};
  auto which = parseUnderAttackSwitch(to);
  if (!which) return Error{EINVAL, "under-attack takes on, off or auto, not '" + to + "'"};
  auto st = cp->setUnderAttack(site, *which);
  if (!st) return st.error();
  return underAttackInfo(*st);
}

namespace {

admin::LoginSourceInfo sourceInfo(const guard::SourceStatus& s) {
  admin::LoginSourceInfo i;
  i.source = s.source.toString();
  i.failures = s.failures;
  i.throttled_s = s.throttled_for.count();
  i.blocked_s = s.blocked_for.count();
  i.banned_s = s.banned_for.count();
  i.bans = s.bans;
  return i;
}

// One line per guard event, for `login report`.
std::string eventLine(const guard::Event& e) {
  std::string line = loginRuleId(e) + ": " + guard::actionName(e.action) + " " +
                     e.subject.toString();
  if (!e.username.empty()) line += " username " + e.username;
  for (const auto& t : e.triggers)
    line += std::string(" ") + guard::counterName(t.counter) + "=" + std::to_string(t.value) + "/" +
            std::to_string(t.threshold);
  if (!e.enforced) line += " (detection only)";
  return line;
}

}  // namespace

Result<std::vector<admin::LoginSiteInfo>> ControlServices::loginStatus(const std::string& site,
                                                                       std::size_t top) {
  LoginProtection* lp = login();
  if (!lp) return Error{ENOENT, "this mamorid protects no logins (no sites)"};
  auto status = lp->status(site, top);
  if (!status) return status.error();
  std::vector<admin::LoginSiteInfo> out;
  for (const auto& st : *status) {
    admin::LoginSiteInfo info;
    info.site = st.site;
    for (const auto& s : st.top_sources) info.top_sources.push_back(sourceInfo(s));
    for (const auto& s : st.restricted) info.restricted.push_back(sourceInfo(s));
    for (const auto& l : st.locked) info.locked.push_back({l.username, l.remaining.count()});
    out.push_back(std::move(info));
  }
  return out;
}

Result<bool> ControlServices::loginUnlock(const std::string& site, const std::string& user) {
  LoginProtection* lp = login();
  if (!lp) return Error{ENOENT, "this mamorid protects no logins (no sites)"};
  return lp->unlock(site, user);
}

Result<admin::LoginReportResult> ControlServices::loginReport(const std::string& site,
                                                              const std::string& user,
                                                              const common::IpPrefix& ip,
                                                              bool failed) {
  LoginProtection* lp = login();
  if (!lp) return Error{ENOENT, "this mamorid protects no logins (no sites)"};
  auto d = lp->report(site, user, ip, failed ? guard::Outcome::Failed : guard::Outcome::Succeeded);
  if (!d) return d.error();
  admin::LoginReportResult out;
  out.outcome = d->outcome == guard::Outcome::Failed      ? "failed"
                : d->outcome == guard::Outcome::Succeeded ? "succeeded"
                                                          : "unknown";
  for (const auto& e : d->events) out.events.push_back(eventLine(e));
  return out;
}

void ControlServices::setInspection(Inspection* inspection) {
  std::lock_guard lock(mu_);
  inspection_ = inspection;
}

namespace {

const char* matchModeName(std::optional<inspect::MatchMode> mode) {
  if (!mode) return "off";
  switch (*mode) {
    case inspect::MatchMode::Hyperscan: return "hyperscan";
    case inspect::MatchMode::HyperscanPrefilter: return "hyperscan prefilter + pcre2";
    case inspect::MatchMode::PcreOnly: return "pcre2";
    case inspect::MatchMode::Direct: return "direct";
  }
  return "off";
}

}  // namespace

Result<std::vector<admin::RuleInfo>> ControlServices::listRules() {
  Inspection* insp;
  {
    std::lock_guard lock(mu_);
    insp = inspection_;
  }
  if (!insp) return Error{ENOENT, "this mamorid inspects nothing (no sites)"};
  auto set = insp->rules();
  std::vector<admin::RuleInfo> out;
  for (const auto& rule : set->rules()) {
    admin::RuleInfo r;
    r.id = rule.id;
    r.message = rule.message;
    r.category = inspect::categoryName(rule.category);
    r.severity = inspect::severityName(rule.severity);
    r.paranoia = rule.paranoia;
    r.score = rule.score;
    r.tags = rule.tags;
    for (const auto& t : rule.targets) {
      std::string text = inspect::targetKindName(t.kind);
      if (!t.names.empty()) {
        text += "(";
        for (size_t i = 0; i < t.names.size(); ++i) text += (i ? "," : "") + t.names[i];
        text += ")";
      }
      r.targets.push_back(text);
    }
    r.transforms = inspect::chainName(rule.transforms);
    r.op = std::string(rule.op.negate ? "not " : "") + inspect::operatorKindName(rule.op.kind);
    r.match_mode = matchModeName(set->matchMode(rule.id));
    r.enabled = rule.enabled && !insp->isDisabled(rule.id);
    r.source = rule.source;
    out.push_back(std::move(r));
  }
  return out;
}

Status ControlServices::setRuleEnabled(std::uint32_t id, bool enabled) {
  std::lock_guard lock(mu_);
  if (!inspection_) return Error{ENOENT, "this mamorid inspects nothing (no sites)"};
  return inspection_->setEnabled(id, enabled);
}

Result<std::string> ControlServices::reloadRules() {
  Inspection* insp;
  {
    std::lock_guard lock(mu_);
    insp = inspection_;
  }
  if (!insp) return Error{ENOENT, "this mamorid inspects nothing (no sites)"};
  return insp->reloadRules();
}

Result<admin::RuleTestReport> ControlServices::testRequest(std::string_view raw,
                                                          const std::string& site) {
  Inspection* insp;
  {
    std::lock_guard lock(mu_);
    insp = inspection_;
  }
  if (!insp) return Error{ENOENT, "this mamorid inspects nothing (no sites)"};
  auto result = insp->test(raw, site);
  if (!result) return result.error();
  admin::RuleTestReport report;
  report.site = result->site;
  report.parse_error = result->parse_error;
  report.score = result->score;
  report.threshold = result->threshold;
  report.would_block = result->would_block || !result->parse_error.empty();
  for (const auto& d : result->detections) {
    admin::RuleTestDetection out;
    out.rule_id = d.rule_id;
    out.message = d.message;
    out.category = inspect::categoryName(d.category);
    out.score = d.score;
    out.target = std::string(inspect::targetKindName(d.target)) +
                 (d.target_name.empty() ? "" : ":" + d.target_name);
    out.fragment = d.fragment;
    report.detections.push_back(std::move(out));
  }
  return report;
}

admin::DaemonInfo ControlServices::daemonInfo() {
  admin::DaemonInfo d;
  d.version = kVersion;
  d.pid = ::getpid();
  d.uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                              started_);
  d.config_path = config_path_;
  d.workers = workers_;
  return d;
}

net::EngineStats ControlServices::engineStats() {
  std::lock_guard lock(mu_);
  return engine_ ? engine_->stats() : net::EngineStats{};
}

std::vector<admin::SiteInfo> ControlServices::sites() {
  std::shared_ptr<const config::Config> cfg;
  {
    std::lock_guard lock(mu_);
    cfg = config_;
  }
  std::vector<admin::SiteInfo> out;
  if (!cfg) return out;
  std::map<std::string, std::string> attack;
  if (ChallengeProtection* cp = challenge())
    for (const auto& st : cp->underAttack()) attack[st.site] = admin::underAttackText(underAttackInfo(st));
  for (const auto& tenant : cfg->tenants) {
    for (const auto& site : tenant.sites) {
      admin::SiteInfo info;
      info.tenant = tenant.id;
      info.name = site.name;
      info.hosts = site.hosts;
      for (const auto& l : site.listeners)
        info.listeners.push_back(l.address.toString() + (l.tls ? " tls" : ""));
      for (const auto& u : site.upstreams) info.upstreams.push_back(u.address.toString());
      info.mode = site.mode == config::SiteMode::Detect ? "detect" : "block";
      if (auto it = attack.find(site.name); it != attack.end()) info.under_attack = it->second;
      out.push_back(std::move(info));
    }
  }
  return out;
}

admin::ShieldInfo ControlServices::shieldInfo() {
  std::lock_guard lock(mu_);
  return shield_;
}

Status ControlServices::requireShield() {
  std::lock_guard lock(mu_);
  if (!shield_.loaded)
    return Error{ENOENT, "the XDP shield is not loaded in this mamorid (start it with "
                         "--xdp-iface or shield.interfaces)"};
  return {};
}

// Each call opens the pinned maps afresh: the fds are the call's own, so
// control threads never share libbpf state with the main thread.
#define MAMORI_WITH_MAPS(maps)                                 \
  if (auto st = requireShield(); !st) return st.error();       \
  auto maps = shield::PinnedMaps::open(pin_root_);             \
  if (!maps) return maps.error();

Result<shield::Counters> ControlServices::shieldCounters() {
  MAMORI_WITH_MAPS(maps)
  return maps->counters();
}

Result<std::vector<shield::Ban>> ControlServices::listBans() {
  MAMORI_WITH_MAPS(maps)
  return maps->listBans();
}

Status ControlServices::addBan(const common::IpPrefix& source, std::chrono::seconds ttl,
                               shield::BanReason reason) {
  MAMORI_WITH_MAPS(maps)
  return maps->addBan(source, ttl, reason);
}

Status ControlServices::deleteBan(const common::IpPrefix& source) {
  // A detector that bans a source also refuses it at the site until the
  // ban's TTL; lifting the ban by hand lifts that too, or the source would
  // still get 429/403 from the proxy.
  FloodProtection* fp = nullptr;
  {
    std::lock_guard lock(mu_);
    fp = flood_;
  }
  if (fp) fp->liftBan(source);
  if (LoginProtection* lp = login()) lp->liftBan(source);
  MAMORI_WITH_MAPS(maps)
  return maps->deleteBan(source);
}

Result<std::vector<common::IpPrefix>> ControlServices::list(shield::ListKind kind) {
  MAMORI_WITH_MAPS(maps)
  return maps->list(kind);
}

Status ControlServices::addToList(shield::ListKind kind, const common::IpPrefix& prefix) {
  MAMORI_WITH_MAPS(maps)
  return maps->addToList(kind, prefix);
}

Status ControlServices::deleteFromList(shield::ListKind kind, const common::IpPrefix& prefix) {
  MAMORI_WITH_MAPS(maps)
  return maps->deleteFromList(kind, prefix);
}

#undef MAMORI_WITH_MAPS

Result<std::string> ControlServices::reload() {
  if (config_path_.empty())
    return Error{EINVAL, "mamorid runs the quick start (no --config): nothing to reload"};
  std::unique_lock lock(mu_);
  if (stopped_) return Error{ECANCELED, "mamorid is stopping"};
  const std::uint64_t generation = reload_generation_;
  reload_wanted_ = true;
  reload_done_.wait(lock, [&] { return stopped_ || reload_generation_ != generation; });
  if (reload_generation_ == generation) return Error{ECANCELED, "mamorid is stopping"};
  return *reload_result_;
}

void ControlServices::serveReloadRequest(
    const std::function<common::Result<std::string>()>& reload) {
  {
    std::lock_guard lock(mu_);
    if (!reload_wanted_) return;
    reload_wanted_ = false;
  }
  // Outside the lock: the reload publishes a new config through setConfig.
  auto result = reload();
  {
    std::lock_guard lock(mu_);
    reload_result_ = std::move(result);
    ++reload_generation_;
  }
  reload_done_.notify_all();
}

void ControlServices::shutdown() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  reload_done_.notify_all();
}

}  // namespace mamori::daemon
