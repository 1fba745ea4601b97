#include "daemon/flood_protection.h"

#include <cstring>

#include "daemon/daemon_logs.h"
#include "http/syntax.h"
#include "http/types.h"
#include "logs/log_writer.h"
#include "net/forward.h"

namespace mamori::daemon {

using common::Error;
using common::Result;

namespace {

void applyRate(const config::FloodRateConfig& in, guard::FloodRate& out) {
  if (in.requests) out.requests = *in.requests;
  if (in.window) out.window = *in.window;
}

}  // namespace

Result<std::vector<guard::FloodSiteConfig>> floodSettings(const config::Config& config) {
  std::vector<guard::FloodSiteConfig> out;
  for (const auto& tenant : config.tenants) {
    for (const auto& site : tenant.sites) {
      if (!site.flood || !site.flood->enabled) continue;
      const config::FloodConfig& f = *site.flood;
      guard::FloodSiteConfig c;
      c.name = site.name;
      applyRate(f.per_ip, c.per_ip);
      applyRate(f.per_prefix, c.per_prefix);
      applyRate(f.per_path, c.per_path);
      applyRate(f.per_site, c.per_site);
      if (f.ban_after) c.ban_after = *f.ban_after;
      if (f.ban_window) c.ban_window = *f.ban_window;
      if (f.ban_ttl) c.ban_ttl = *f.ban_ttl;
      c.ban_ipv6_prefix64 = f.ban_ipv6_prefix64;
      c.allow = f.allow;
      c.detection_only = f.detection_only || site.mode == config::SiteMode::Detect;
      if (f.table_sources) c.tables.sources = *f.table_sources;
      if (f.table_prefixes) c.tables.prefixes = *f.table_prefixes;
      if (f.table_paths) c.tables.paths = *f.table_paths;
      if (auto st = guard::validate(c); !st) return st.error();
      out.push_back(std::move(c));
    }
  }
  return out;
}

logs::LogRecord floodEventRecord(const guard::FloodEvent& event,
                                 const FloodRequestContext& context) {
  logs::LogRecord r;
  r.type = logs::LogType::Dos;
  r.time = std::chrono::system_clock::now();
  r.kind = "alert";
  r.category = "web";
  r.event_type = event.enforced ? "denied" : "info";
  r.action = guard::floodActionName(event.action);
  r.outcome = "failure";
  r.tenant = context.tenant;
  r.site = context.site;
  r.source_ip = context.source_ip;
  if (context.source_port) r.source_port = context.source_port;
  r.url_path = context.path;
  r.http_method = context.method;
  if (event.enforced) r.http_status = 429;
  r.request_id = context.request_id;
  r.user_agent = context.user_agent;
  const std::string limit = guard::floodLimitName(event.limit);
  r.rule_id = "dos.flood." + limit;
  r.rule_name = limit;
  r.rule_category = "dos";
  std::string what = std::string("HTTP flood: ") + limit + " " + std::to_string(event.value) + "/" +
                     std::to_string(event.threshold) + " in " +
                     std::to_string(event.window.count()) + "s from " + event.subject.toString() +
                     ", " + std::to_string(event.refused) + " refused";
  if (event.action == guard::FloodAction::Ban)
    what += "; banned for " + std::to_string(event.ban_ttl.count()) + "s";
  if (!event.enforced) what += " [detection only]";
  r.message = std::move(what);
  r.details.push_back({"layer", logs::Value::string("http")});
  r.details.push_back({"limit", logs::Value::string(limit)});
  r.details.push_back({"action", logs::Value::string(guard::floodActionName(event.action))});
  r.details.push_back({"enforced", logs::Value::boolean(event.enforced)});
  r.details.push_back({"subject", logs::Value::string(event.subject.toString())});
  r.details.push_back({"count", logs::Value::unsignedInt(event.value)});
  r.details.push_back({"threshold", logs::Value::unsignedInt(event.threshold)});
  r.details.push_back({"window_s", logs::Value::integer(event.window.count())});
  r.details.push_back({"refused", logs::Value::unsignedInt(event.refused)});
  if (event.action == guard::FloodAction::Ban) {
    r.details.push_back({"ban_ttl_s", logs::Value::integer(event.ban_ttl.count())});
    // false: seen through a trusted proxy, refused at the site only.
    r.details.push_back({"xdp", logs::Value::boolean(event.xdp)});
  }
  return r;
}

const char* connectionEventName(net::ConnectionEventKind kind) {
  switch (kind) {
    case net::ConnectionEventKind::OverSourceCap:
      return "over_source_cap";
    case net::ConnectionEventKind::HeaderTimeout:
      return "slowloris";
    case net::ConnectionEventKind::BodyTimeout:
      return "slow_post";
  }
  return "unknown";
}

logs::LogRecord connectionEventRecord(net::ConnectionEventKind kind, const std::string& tenant,
                                      const std::string& site, const std::string& source,
                                      std::uint64_t count, std::chrono::seconds interval) {
  logs::LogRecord r;
  r.type = logs::LogType::Dos;
  r.time = std::chrono::system_clock::now();
  r.kind = "alert";
  r.category = "network";
  r.event_type = "denied";
  const std::string name = connectionEventName(kind);
  r.action = kind == net::ConnectionEventKind::OverSourceCap ? "refuse" : "cut";
  r.outcome = "failure";
  r.tenant = tenant;
  r.site = site;
  r.source_ip = source;
  r.rule_id = "dos.conn." + name;
  r.rule_name = name;
  r.rule_category = "dos";
  switch (kind) {
    case net::ConnectionEventKind::OverSourceCap:
      r.message = std::to_string(count) + " connections from " + source +
                  " refused over max_conns_per_source";
      break;
    case net::ConnectionEventKind::HeaderTimeout:
      r.message = std::to_string(count) + " slow connections from " + source +
                  " cut by header_timeout (slowloris)";
      break;
    case net::ConnectionEventKind::BodyTimeout:
      r.message = std::to_string(count) + " slow bodies from " + source +
                  " cut by body_timeout (slow POST)";
      break;
  }
  r.details.push_back({"layer", logs::Value::string("connection")});
  r.details.push_back({"kind", logs::Value::string(name)});
  r.details.push_back({"count", logs::Value::unsignedInt(count)});
  r.details.push_back({"interval_s", logs::Value::integer(interval.count())});
  return r;
}

// --- FloodProtection --------------------------------------------------------

FloodProtection::FloodProtection(const guard::Clock& clock, DaemonLogs* logs, guard::BanSink* sink)
    : clock_(clock), logs_(logs), sink_(sink), hash_(guard::KeyedHash::random()) {}

Result<std::unique_ptr<FloodProtection>> FloodProtection::create(const config::Config& config,
                                                                 const guard::Clock& clock,
                                                                 DaemonLogs* logs,
                                                                 guard::BanSink* sink) {
  std::unique_ptr<FloodProtection> out(new FloodProtection(clock, logs, sink));
  auto snap = out->build(config, nullptr);
  if (!snap) return snap.error();
  out->snapshot_.publish(std::move(*snap));
  return out;
}

Result<std::shared_ptr<const FloodProtection::Snapshot>> FloodProtection::build(
    const config::Config& config, const guard::FloodLimiter* previous) const {
  auto settings = floodSettings(config);
  if (!settings) return settings.error();
  auto snap = std::make_shared<Snapshot>();
  for (const auto& tenant : config.tenants)
    for (const auto& site : tenant.sites) {
      snap->tenants[site.name] = tenant.id;
      if (!site.trusted_proxies.empty()) snap->trusted[site.name] = site.trusted_proxies;
    }
  if (settings->empty()) return std::shared_ptr<const Snapshot>(std::move(snap));
  guard::FloodOptions options;
  options.carry_over_from = previous;
  auto limiter = guard::FloodLimiter::create(std::move(*settings), clock_, sink_, options);
  if (!limiter) return limiter.error();
  snap->limiter = std::shared_ptr<guard::FloodLimiter>(std::move(*limiter));
  for (const auto& name : snap->limiter->siteNames())
    snap->sites[name] = *snap->limiter->findSite(name);
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

Result<std::string> FloodProtection::reload(const config::Config& config) {
  auto old = snapshot_.current();
  auto snap = build(config, old->limiter.get());
  if (!snap) return snap.error();
  const std::size_t sites = (*snap)->sites.size();
  snapshot_.publish(std::move(*snap));
  if (sites == 0) return std::string("flood protection: off (no site has a flood section)");
  return "flood protection: " + std::to_string(sites) + " site" + (sites == 1 ? "" : "s") +
         " (counters of sites with unchanged windows kept)";
}

bool FloodProtection::active() const { return snapshot_.current()->limiter != nullptr; }

void FloodProtection::submit(logs::LogRecord record) {
  log_records_.fetch_add(1, std::memory_order_relaxed);
  if (!logs_) return;
  thread_local std::shared_ptr<logs::LogProducer> producer;
  thread_local const DaemonLogs* producer_owner = nullptr;
  if (producer_owner != logs_) {
    producer = logs_->registerProducer();
    producer_owner = logs_;
  }
  producer->submit(std::move(record));
}

net::Verdict FloodProtection::onRequest(const http::Request& request,
                                        const net::RequestContext& context) {
  const std::shared_ptr<const Snapshot>& snapshot = snapshot_.local();
  const Snapshot& snap = *snapshot;
  if (!snap.limiter) return net::Verdict::pass();
  auto site = snap.sites.find(context.site);
  if (site == snap.sites.end()) return net::Verdict::pass();
  checked_.fetch_add(1, std::memory_order_relaxed);
  const std::string& path = request.decoded_path.empty() ? request.path : request.decoded_path;
  static const std::vector<common::IpPrefix> kNone;
  auto trusted = snap.trusted.find(context.site);
  const net::RequestClient client =
      net::requestClient(request, context.peer,
                         trusted == snap.trusted.end() ? kNone : trusted->second);
  guard::FloodDecision d =
      snap.limiter->check(site->second, client.address, path, !client.via_proxy);
  if (d.action == guard::FloodAction::Pass) return net::Verdict::pass();
  if (d.event) {
    if (d.event->action == guard::FloodAction::Ban) ban_.fetch_add(1, std::memory_order_relaxed);
    FloodRequestContext rc;
    auto tenant = snap.tenants.find(context.site);
    rc.tenant = tenant != snap.tenants.end() ? tenant->second : std::string(config::kHostTenant);
    rc.site = std::string(context.site);
    rc.source_ip = client.address.toString();
    rc.source_port = context.peer_port;
    rc.request_id = std::string(context.request_id);
    rc.method = request.method_name;
    rc.path = request.path;
    if (auto ua = request.header("user-agent")) rc.user_agent = std::string(*ua);
    submit(floodEventRecord(*d.event, rc));
  }
  if (!d.refuse()) {
    detect_only_.fetch_add(1, std::memory_order_relaxed);
    return net::Verdict::pass();
  }
  too_many_requests_.fetch_add(1, std::memory_order_relaxed);
  net::Verdict v = net::Verdict::block(429);
  v.retry_after = d.retry_after;
  return v;
}

void FloodProtection::onConnection(const net::ConnectionEvent& event) {
  switch (event.kind) {
    case net::ConnectionEventKind::OverSourceCap:
      conn_over_source_cap_.fetch_add(1, std::memory_order_relaxed);
      break;
    case net::ConnectionEventKind::HeaderTimeout:
      slowloris_cut_.fetch_add(1, std::memory_order_relaxed);
      break;
    case net::ConnectionEventKind::BodyTimeout:
      slow_post_cut_.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  std::uint8_t buf[18];
  buf[0] = static_cast<std::uint8_t>(event.kind);
  buf[1] = event.peer.family == config::AddressFamily::Ipv6 ? 6 : 4;
  std::memcpy(buf + 2, event.peer.bytes.data(), 16);
  const std::uint64_t key = hash_.hash(buf, sizeof buf);
  const std::int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(clock_.now()).count();
  const auto minute = static_cast<std::uint32_t>(now_s / kConnectionLogInterval.count());
  // A source the marks table cannot claim a slot for under extreme
  // contention is counted above but not logged this time.
  ConnMark* mark = conn_marks_.acquire(
      key, [](ConnMark&) {},
      // Evict the mark logged longest ago: a source still misbehaving
      // keeps its mark, so it is not logged again at once.
      [](const ConnMark& m) { return m.lastRecord(); });
  const std::uint32_t report = mark ? mark->note(minute) : 0;
  if (report == 0) return;
  std::string site(event.site);
  std::string tenant = config::kHostTenant;
  {
    const std::shared_ptr<const Snapshot>& snap = snapshot_.local();
    auto it = snap->tenants.find(site);
    if (it != snap->tenants.end())
      tenant = it->second;
    else
      site.clear();
  }
  submit(connectionEventRecord(event.kind, tenant, site, event.peer.toString(), report,
                               kConnectionLogInterval));
}

std::size_t FloodProtection::liftBan(const common::IpPrefix& source) {
  auto snap = snapshot_.current();
  return snap->limiter ? snap->limiter->liftBan(source) : 0;
}

Result<std::vector<guard::FloodSiteStatus>> FloodProtection::status(const std::string& site,
                                                                    std::size_t top) const {
  auto snap = snapshot_.current();
  if (!snap->limiter) return Error{ENOENT, "no site has a flood section"};
  std::vector<guard::FloodSiteStatus> out;
  if (!site.empty()) {
    if (!snap->sites.count(site)) return Error{ENOENT, "site '" + site + "' has no flood section"};
    auto st = snap->limiter->status(site, top);
    if (!st) return st.error();
    out.push_back(std::move(*st));
    return out;
  }
  for (const auto& name : snap->limiter->siteNames()) {
    auto st = snap->limiter->status(name, top);
    if (!st) return st.error();
    out.push_back(std::move(*st));
  }
  return out;
}

FloodStats FloodProtection::stats() const {
  FloodStats s;
#define MAMORI_FLOOD_READ(name) s.name = name##_.load(std::memory_order_relaxed);
  MAMORI_FLOOD_COUNTERS(MAMORI_FLOOD_READ)
#undef MAMORI_FLOOD_READ
  return s;
}

}  // namespace mamori::daemon
