#include "daemon/bot_protection.h"

#include <cerrno>
#include <filesystem>
#include <set>

#include "daemon/daemon_logs.h"
#include "daemon/flood_protection.h"
#include "daemon/tls_fingerprints.h"
#include "logs/log_writer.h"
#include "net/forward.h"

namespace mamori::daemon {

using common::Error;
using common::Result;

namespace {

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

// What the behaviour table counts a client under (BotSitePolicy::ipv6_prefix64).
common::IpPrefix behaviourSource(const guard::BotSitePolicy& policy, const common::IpPrefix& client) {
  return policy.ipv6_prefix64 && client.is_v6 ? client.network(64) : client;
}

}  // namespace

net::Verdict challengeUnavailable(const http::Request&, const net::RequestContext&) {
  return net::Verdict::block(
      403, "<!doctype html><title>Browser check required</title>"
           "<p>This site checks browsers before letting them in, and the check is not "
           "available right now. Please try again later.</p>\n");
}

std::string resolveBotsDir(const config::Config& config) {
  if (!config.bots.dir.empty()) return config.bots.dir;
  const char* candidates[] = {"/usr/share/mamori/bots", MAMORI_INSTALLED_BOTS_DIR,
#ifdef MAMORI_SOURCE_BOTS_DIR
                              MAMORI_SOURCE_BOTS_DIR
#endif
  };
  std::error_code ec;
  for (const char* dir : candidates)
    if (std::filesystem::is_directory(dir, ec)) return dir;
  return "/usr/share/mamori/bots";  // missing: the load error names it
}

guard::BotSitePolicy botSitePolicy(const config::SiteBotsConfig& bots) {
  guard::BotSitePolicy p;
  p.enabled = bots.enabled;
  // The loader has checked every name; an unknown one keeps the default.
  for (const auto& [cls, action] : bots.actions) {
    auto c = guard::parseBotClass(cls);
    auto a = guard::parseBotAction(action);
    if (c && a) p.actions[static_cast<std::size_t>(*c)] = *a;
  }
  p.ban_ttl = bots.ban_ttl;
  p.ipv6_prefix64 = bots.ipv6_prefix64;
  p.behaviour.window = bots.behaviour.window;
  p.behaviour.max_requests = bots.behaviour.max_requests;
  p.behaviour.max_paths = bots.behaviour.max_paths;
  p.behaviour.max_4xx_percent = bots.behaviour.max_4xx_percent;
  p.behaviour.min_responses = bots.behaviour.min_responses;
  p.behaviour.max_cookieless = bots.behaviour.max_cookieless;
  return p;
}

logs::LogRecord botRecord(const guard::Classification& c, guard::BotAction action,
                          const BotRecordContext& context) {
  logs::LogRecord r;
  r.type = logs::LogType::Bot;
  r.time = std::chrono::system_clock::now();
  r.kind = "alert";
  r.category = "web";
  const bool denied = action == guard::BotAction::Block || action == guard::BotAction::Ban ||
                      (action == guard::BotAction::Challenge && context.http_status);
  r.event_type = denied ? "denied" : "info";
  r.action = guard::botActionName(action);
  r.outcome = denied ? "failure" : "success";
  r.tenant = context.tenant;
  r.site = context.site;
  r.source_ip = context.source_ip;
  if (context.source_port) r.source_port = context.source_port;
  r.url_path = context.path;
  r.http_method = context.method;
  r.http_status = context.http_status;
  r.request_id = context.request_id;
  r.user_agent = context.user_agent;
  r.tls_ja3 = context.ja3;
  r.tls_ja4 = context.ja4;
  r.rule_id = std::string("bot.") + guard::botClassName(c.cls);
  r.rule_name = c.name;
  r.rule_category = "bot";
  r.message = std::string(guard::botClassName(c.cls)) + (c.name.empty() ? "" : " " + c.name) +
              ": " + guard::botActionName(action) + " " + context.source_ip;
  r.details.push_back({"class", logs::Value::string(guard::botClassName(c.cls))});
  r.details.push_back({"action", logs::Value::string(guard::botActionName(action))});
  if (!c.name.empty()) r.details.push_back({"name", logs::Value::string(c.name)});
  r.details.push_back({"signals", logs::Value::string(joined(c.signals))});
  if (c.claim) r.details.push_back({"claimed_bot", logs::Value::string(c.claim->name)});
  if (!context.rdns_name.empty())
    r.details.push_back({"rdns_name", logs::Value::string(context.rdns_name)});
  if (!context.rdns_reason.empty())
    r.details.push_back({"rdns_reason", logs::Value::string(context.rdns_reason)});
  r.details.push_back({"enforced", logs::Value::boolean(context.enforced)});
  if (context.suppressed_before)
    r.details.push_back({"suppressed_before", logs::Value::unsignedInt(context.suppressed_before)});
  if (!context.enforced) r.message += " [detection only]";
  return r;
}

// --- BotProtection ------------------------------------------------------------

Result<std::unique_ptr<BotProtection>> BotProtection::create(const config::Config& config,
                                                             const guard::Clock& clock,
                                                             DaemonLogs* logs,
                                                             guard::BanSink* sink,
                                                             BotChallenge challenge,
                                                             BotOptions options) {
  std::unique_ptr<BotProtection> out(
      new BotProtection(clock, logs, sink, challenge ? std::move(challenge) : challengeUnavailable));
  out->data_dir_override_ = options.data_dir;
  out->resolver_ = config.bots.resolver;
  guard::DnsLookup* lookup = options.lookup;
  if (!lookup) {
    auto made = guard::ResolverLookup::create(config.bots.resolver, config.bots.resolver_timeout);
    if (!made) return Error{made.error().code, "bots.resolver: " + made.error().message};
    out->owned_lookup_ = std::move(*made);
    lookup = out->owned_lookup_.get();
  }
  guard::RdnsOptions ro;
  ro.cache_entries = config.bots.rdns_cache_entries;
  ro.positive_ttl = config.bots.rdns_positive_ttl;
  ro.negative_ttl = config.bots.rdns_negative_ttl;
  ro.threads = options.rdns_threads;
  auto snap = out->build(config, options.data_dir.empty() ? resolveBotsDir(config) : options.data_dir);
  if (!snap) return snap.error();
  out->verifier_ = std::make_unique<guard::RdnsVerifier>(*lookup, clock, ro);
  out->behaviour_ = std::make_unique<guard::BehaviourTable>(config.bots.sources);
  out->snapshot_.publish(std::move(*snap));
  return out;
}

BotProtection::~BotProtection() = default;

Result<std::shared_ptr<const BotProtection::Snapshot>> BotProtection::build(
    const config::Config& config, const std::string& data_dir) {
  auto snap = std::make_shared<Snapshot>();
  snap->data_dir = data_dir;
  for (const auto& tenant : config.tenants)
    for (const auto& site : tenant.sites)
      if (!site.trusted_proxies.empty()) snap->trusted[site.name] = site.trusted_proxies;
  bool any = false;
  for (const auto& tenant : config.tenants)
    for (const auto& site : tenant.sites) any = any || site.bots.has_value();
  if (!any) return std::shared_ptr<const Snapshot>(std::move(snap));
  auto lists = guard::loadBotListsDirectory(data_dir);
  if (!lists) return lists.error();
  snap->lists = std::make_shared<const guard::BotLists>(std::move(*lists));
  std::lock_guard lock(mu_);
  for (const auto& tenant : config.tenants)
    for (const auto& site : tenant.sites) {
      if (!site.bots) continue;
      SiteEntry e;
      auto [it, inserted] =
          site_ids_.emplace(site.name, static_cast<std::uint32_t>(counters_.size()));
      if (inserted) counters_.emplace_back();
      e.id = it->second;
      e.counters = &counters_[it->second];
      e.tenant = tenant.id;
      e.name = site.name;
      e.policy = botSitePolicy(*site.bots);
      e.detect_only = site.mode == config::SiteMode::Detect;
      snap->sites[site.name] = std::move(e);
      snap->order.push_back(site.name);
    }
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

Result<std::string> BotProtection::reload(const config::Config& config) {
  const std::string dir =
      data_dir_override_.empty() ? resolveBotsDir(config) : data_dir_override_;
  auto snap = build(config, dir);
  if (!snap) return Error{snap.error().code, snap.error().message + "\nbot lists refused: the running ones stay"};
  std::string notes;
  if (config.bots.resolver != resolver_)
    notes = " (bots.resolver changed: takes a restart; still asking " +
            (resolver_.empty() ? std::string("resolv.conf") : resolver_) + ")";
  const std::size_t sites = (*snap)->sites.size();
  const std::size_t files = (*snap)->lists ? (*snap)->lists->files.size() : 0;
  snapshot_.publish(std::move(*snap));
  if (sites == 0) return "bot protection: off (no site has a bots section)" + notes;
  return "bot protection: " + std::to_string(sites) + " site" + (sites == 1 ? "" : "s") + ", " +
         std::to_string(files) + " data files from " + dir + notes;
}

common::Status BotProtection::checkReload(const config::Config& config) const {
  bool any = false;
  for (const auto& tenant : config.tenants)
    for (const auto& site : tenant.sites) any = any || site.bots.has_value();
  if (!any) return {};
  const std::string dir = data_dir_override_.empty() ? resolveBotsDir(config) : data_dir_override_;
  if (auto lists = guard::loadBotListsDirectory(dir); !lists)
    return Error{lists.error().code,
                 lists.error().message + "\nbot lists refused: the running ones stay"};
  return {};
}

bool BotProtection::active() const { return !snapshot_.current()->sites.empty(); }

std::int64_t BotProtection::nowSeconds() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock_.now()).count();
}

void BotProtection::submit(logs::LogRecord record) {
  records_.fetch_add(1, std::memory_order_relaxed);
  if (!logs_) return;
  thread_local std::shared_ptr<logs::LogProducer> producer;
  thread_local const DaemonLogs* producer_owner = nullptr;
  if (producer_owner != logs_) {
    producer = logs_->registerProducer();
    producer_owner = logs_;
  }
  producer->submit(std::move(record));
}

BotProtection::Source BotProtection::sourceOf(const Snapshot& snap, const http::Request& request,
                                              const net::RequestContext& context) {
  static const std::vector<common::IpPrefix> kNone;
  auto trusted = snap.trusted.find(context.site);
  const net::RequestClient client =
      net::requestClient(request, context.peer,
                         trusted == snap.trusted.end() ? kNone : trusted->second);
  return Source{client.address, client.via_proxy};
}

net::Verdict BotProtection::onRequest(const http::Request& request,
                                      const net::RequestContext& context) {
  const std::shared_ptr<const Snapshot>& snapshot = snapshot_.local();
  const Snapshot& snap = *snapshot;
  if (snap.sites.empty()) return net::Verdict::pass();
  auto it = snap.sites.find(context.site);
  if (it == snap.sites.end() || !it->second.policy.enabled) return net::Verdict::pass();
  const SiteEntry& site = it->second;
  requests_.fetch_add(1, std::memory_order_relaxed);
  const Source from = sourceOf(snap, request, context);
  // The source the behaviour table counts and a ban names: the client, or
  // its /64 when the site says so. rDNS verifies the address itself.
  const common::IpPrefix source = behaviourSource(site.policy, from.address);
  const std::int64_t now = nowSeconds();

  // Behaviour first: every request counts, whatever its class.
  const bool has_cookie = !request.cookies.empty();
  const guard::BehaviourView view = behaviour_->onRequest(
      site.id, source, path_hash_(request.path), has_cookie, site.policy.behaviour, now);
  if (view.banned_until_s > 0) {
    // Banned by us a moment ago; the XDP drop (or, without a shield, this
    // answer) keeps it out until the ban ends.
    refused_banned_.fetch_add(1, std::memory_order_relaxed);
    return net::Verdict::block(403);
  }

  // TLS fingerprint: a parse and two hashes once per connection; a hello
  // that does not parse counts as no TLS facts.
  guard::ClassifyInput in;
  in.request = &request;
  in.http2 = context.tls_alpn == "h2";
  const guard::TlsFingerprint* tls = connectionFingerprint(context);
  if (tls) {
    in.tls = &tls->traits;
    in.ja3 = tls->ja3.hash;
    in.ja4 = tls->ja4.ja4;
  }
  in.behaviour_over = !view.over.empty();

  // A crawler claim asks the verifier: a cached answer, or Pending while
  // the lookup runs on the verifier's thread.
  guard::RdnsAnswer rdns;
  std::string ua_lower;
  if (auto ua = request.header("user-agent")) ua_lower = guard::asciiLower(*ua);
  if (const guard::GoodBot* claim = ua_lower.empty() ? nullptr : snap.lists->claimedGoodBot(ua_lower)) {
    rdns = verifier_->check(from.address, claim->name, claim->domains);
    in.claim = rdns.state == guard::RdnsState::Verified ? guard::ClassifyInput::ClaimState::Verified
               : rdns.state == guard::RdnsState::Failed ? guard::ClassifyInput::ClaimState::Failed
                                                         : guard::ClassifyInput::ClaimState::Pending;
  }
  guard::Classification c = guard::classifyRequest(*snap.lists, in);
  for (const auto& o : view.over) c.signals.push_back("behaviour:" + o);
  if (c.cls == guard::BotClass::None) return net::Verdict::pass();

  classified_.fetch_add(1, std::memory_order_relaxed);
  const guard::BotAction action = site.policy.actionFor(c.cls);
  site.counters->n[static_cast<std::size_t>(c.cls)][static_cast<std::size_t>(action)].fetch_add(
      1, std::memory_order_relaxed);
  std::int64_t banned_until = 0;
  net::Verdict verdict = net::Verdict::pass();
  switch (action) {
    case guard::BotAction::Allow:
    case guard::BotAction::Log: break;
    case guard::BotAction::Challenge: verdict = challenge_(request, context); break;
    case guard::BotAction::Block: verdict = net::Verdict::block(403); break;
    case guard::BotAction::Ban:
      verdict = net::Verdict::block(403);
      if (site.detect_only) break;  // the engine passes the 403; no ban either
      banned_until = now + site.policy.ban_ttl.count();
      break;
  }
  const guard::BehaviourTable::RecordPermit permit = behaviour_->noteVerdict(
      site.id, source, c.cls, banned_until, now, kRecordsPerSourceSecond);
  if (permit.ban) {
    // Of workers racing on one source's requests, only the one whose
    // noteVerdict() set the remembered ban issues it. The sink writes the
    // XDP map, or counts and reports that it could not (no shield): the
    // 403 and the remembered ban keep the source out of this site either
    // way. A client seen through a trusted proxy is refused here only: XDP
    // sees the proxy's address, not its.
    bans_.fetch_add(1, std::memory_order_relaxed);
    if (sink_ && !from.via_proxy) sink_->ban(source, site.policy.ban_ttl, guard::BanReason::Bot);
  }
  // Allow is silent; a challenge the client already passed is not news.
  const bool answered = verdict.action == net::Verdict::Action::Block;
  if (action == guard::BotAction::Allow || (action == guard::BotAction::Challenge && !answered))
    return verdict;
  if (!permit.write) {
    records_suppressed_.fetch_add(1, std::memory_order_relaxed);
    return verdict;
  }

  BotRecordContext rc;
  rc.tenant = site.tenant;
  rc.site = site.name;
  rc.source_ip = from.address.toString();
  rc.source_port = context.peer_port;
  rc.request_id = std::string(context.request_id);
  rc.method = request.method_name;
  rc.path = request.path;
  if (auto ua = request.header("user-agent")) rc.user_agent = std::string(*ua);
  rc.ja3 = std::string(in.ja3);
  rc.ja4 = std::string(in.ja4);
  if (answered) rc.http_status = verdict.status;
  rc.rdns_name = rdns.name;
  rc.rdns_reason = rdns.reason;
  rc.enforced = !site.detect_only;
  rc.suppressed_before = permit.suppressed_before;
  submit(botRecord(c, action, rc));
  return verdict;
}

void BotProtection::onResponseStatus(const net::RequestContext& context, int status,
                                     bool set_cookie) {
  const Snapshot& snap = *snapshot_.local();
  auto it = snap.sites.find(context.site);
  if (it == snap.sites.end() || !it->second.policy.enabled) return;
  if (auto trusted = snap.trusted.find(context.site);
      trusted != snap.trusted.end() && net::isTrustedPeer(trusted->second, context.peer))
    return;
  behaviour_->onResponse(it->second.id,
                         behaviourSource(it->second.policy, context.peer.asHostPrefix()), status,
                         set_cookie, it->second.policy.behaviour, nowSeconds());
}

bool BotProtection::isVerifiedGoodBot(const http::Request& request,
                                      const net::RequestContext& context) {
  const Snapshot& snap = *snapshot_.local();
  if (!snap.lists) return false;
  auto ua = request.header("user-agent");
  if (!ua) return false;
  const guard::GoodBot* claim = snap.lists->claimedGoodBot(guard::asciiLower(*ua));
  if (!claim) return false;
  // check(), not peek(): under attack a site without a bots section never
  // runs onRequest(), and a crawler nobody asked about would stay
  // unverified (and challenged) for the whole attack. A miss queues the
  // lookup and answers Pending at once, as onRequest() does.
  return verifier_->check(sourceOf(snap, request, context).address, claim->name, claim->domains)
             .state == guard::RdnsState::Verified;
}

Result<BotStatus> BotProtection::status(const std::string& site) const {
  auto snap = snapshot_.current();
  if (!site.empty() && !snap->sites.count(site))
    return Error{ENOENT, "site '" + site + "' has no bots section"};
  if (snap->sites.empty()) return Error{ENOENT, "no site has a bots section"};
  BotStatus s;
  s.data_dir = snap->data_dir;
  if (snap->lists) {
    s.files = snap->lists->files;
    s.user_agents = snap->lists->user_agents.size();
    s.fingerprints = snap->lists->fingerprints.size();
    s.good_bots = snap->lists->good_bots.size();
  }
  s.resolver = resolver_;
  s.rdns = verifier_->stats();
  s.sources_tracked = behaviour_->sizeSlow();
  s.sources_capacity = behaviour_->capacity();
  s.source_evictions = behaviour_->evictions();
  s.bytes_per_source = guard::BehaviourTable::entryBytes();
  s.stats = stats();
  for (const auto& name : snap->order) {
    if (!site.empty() && name != site) continue;
    const SiteEntry& e = snap->sites.at(name);
    BotSiteStatus st;
    st.tenant = e.tenant;
    st.site = e.name;
    st.enabled = e.policy.enabled;
    st.policy = e.policy;
    for (std::size_t c = 0; c < guard::kBotClassCount; ++c)
      for (std::size_t a = 0; a < guard::kBotActionCount; ++a)
        st.counts[c][a] = e.counters->n[c][a].load(std::memory_order_relaxed);
    s.sites.push_back(std::move(st));
  }
  return s;
}

Result<std::vector<BotTopEntry>> BotProtection::top(const std::string& site, std::size_t n) const {
  auto snap = snapshot_.current();
  if (snap->sites.empty()) return Error{ENOENT, "no site has a bots section"};
  std::optional<std::uint32_t> id;
  if (!site.empty()) {
    auto it = snap->sites.find(site);
    if (it == snap->sites.end()) return Error{ENOENT, "site '" + site + "' has no bots section"};
    id = it->second.id;
  }
  std::map<std::uint32_t, std::string> names;
  std::set<std::uint32_t> by_prefix64;  // sites whose IPv6 sources are /64s
  for (const auto& [name, e] : snap->sites) {
    names[e.id] = name;
    if (e.policy.ipv6_prefix64) by_prefix64.insert(e.id);
  }
  std::vector<BotTopEntry> out;
  const std::int64_t now = nowSeconds();
  for (auto& s : behaviour_->top(n, id, now)) {
    if (s.source.is_v6 && by_prefix64.count(s.site)) s.source = s.source.network(64);
    auto it = names.find(s.site);
    out.push_back(BotTopEntry{it == names.end() ? std::string("(removed)") : it->second, s,
                              s.banned_until_s > now ? s.banned_until_s - now : 0});
  }
  return out;
}

std::vector<metrics::BotVerdictCount> BotProtection::verdictCounts() const {
  auto snap = snapshot_.current();
  std::vector<metrics::BotVerdictCount> out;
  for (const auto& name : snap->order) {
    const SiteEntry& e = snap->sites.at(name);
    // Classes that are bots (not none), every action: a panel shows a
    // zero line rather than nothing until the first bot arrives.
    for (std::size_t c = 1; c < guard::kBotClassCount; ++c)
      for (std::size_t a = 0; a < guard::kBotActionCount; ++a) {
        const std::uint64_t v = e.counters->n[c][a].load(std::memory_order_relaxed);
        if (v == 0 && static_cast<std::size_t>(e.policy.actions[c]) != a) continue;
        out.push_back({name, guard::botClassName(static_cast<guard::BotClass>(c)),
                       guard::botActionName(static_cast<guard::BotAction>(a)), v});
      }
  }
  return out;
}

BotStats BotProtection::stats() const {
  BotStats s;
#define MAMORI_BOT_READ(name) s.name = name##_.load(std::memory_order_relaxed);
  MAMORI_BOT_COUNTERS(MAMORI_BOT_READ)
#undef MAMORI_BOT_READ
  return s;
}

}  // namespace mamori::daemon
