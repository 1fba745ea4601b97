#include "daemon/inspection.h"

#include <chrono>
#include <filesystem>
#include <limits>

#include "daemon/daemon_logs.h"
#include "daemon/tls_fingerprints.h"
#include "http/body_parser.h"
#include "http/request_parser.h"
#include "inspect/inspector.h"
#include "inspect/rule_loader.h"
#include "inspect/transform.h"
#include "logs/log_writer.h"

#ifndef MAMORI_INSTALLED_RULES_DIR
#define MAMORI_INSTALLED_RULES_DIR "/usr/share/mamori/rules"
#endif

namespace mamori::daemon {

using common::Error;
using common::Result;
using common::Status;

std::string resolveRulesDir(const std::optional<std::string>& flag, const config::Config& config) {
  if (flag) return *flag;
  if (!config.rules.dir.empty()) return config.rules.dir;
  // The .deb installs under /usr whatever prefix the build was configured
  // with; `make install` uses the configured prefix; a build-directory run
  // finds the source tree's set.
  const char* candidates[] = {"/usr/share/mamori/rules", MAMORI_INSTALLED_RULES_DIR,
#ifdef MAMORI_SOURCE_RULES_DIR
                              MAMORI_SOURCE_RULES_DIR
#endif
  };
  std::error_code ec;
  for (const char* dir : candidates)
    if (std::filesystem::is_directory(dir, ec)) return dir;
  return "/usr/share/mamori/rules";  // missing: the load error names it
}

namespace {

Result<std::shared_ptr<const inspect::RuleSet>> loadRuleSet(const std::string& dir) {
  auto rules = inspect::loadRulesDirectory(dir);
  if (!rules) return rules.error();
  return inspect::RuleSet::compile(std::move(*rules));
}

}  // namespace

Result<std::unique_ptr<Inspection>> Inspection::create(const config::Config& config,
                                                       const std::string& rules_dir,
                                                       DaemonLogs* logs) {
  auto rules = loadRuleSet(rules_dir);
  if (!rules) return rules.error();
  std::unique_ptr<Inspection> out(new Inspection());
  out->logs_ = logs;
  out->rules_dir_ = rules_dir;
  out->config_ = std::make_shared<const config::Config>(config);
  out->publish(out->buildSnapshot(config, *rules));
  return out;
}

std::shared_ptr<const Inspection::Snapshot> Inspection::buildSnapshot(
    const config::Config& config, std::shared_ptr<const inspect::RuleSet> rules) const {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->rules = std::move(rules);
  snapshot->reads_tls_fingerprints =
      snapshot->rules->readsTargetKind(inspect::TargetKind::TlsJa3) ||
      snapshot->rules->readsTargetKind(inspect::TargetKind::TlsJa4);
  // A new compiled set gets new counters; the same set (a rule switched on
  // or off) keeps counting where it was.
  if (auto old = snapshot_.current(); old && old->rules == snapshot->rules)
    snapshot->rule_counts = old->rule_counts;
  if (!snapshot->rule_counts)
    snapshot->rule_counts = std::make_shared<RuleCounts>(snapshot->rules->rules().size());
  std::set<std::uint32_t> disabled;
  {
    std::lock_guard lock(mu_);
    disabled = disabled_;
  }
  for (const auto& tenant : config.tenants) {
    for (const auto& site : tenant.sites) {
      SiteSettings s;
      s.tenant = tenant.id;
      s.enabled = site.inspection.enabled;
      s.detect_only = site.mode == config::SiteMode::Detect;
      s.block_status = site.block.status;
      inspect::InspectOptions& o = s.options;
      o.paranoia_level = static_cast<int>(site.inspection.paranoia);
      o.anomaly_threshold = static_cast<int>(site.inspection.threshold);
      o.on_budget_exhausted =
          site.inspection.block_on_budget ? inspect::BudgetAction::Block : inspect::BudgetAction::Pass;
      // The engine applies `mode: detect` itself, so inspection reports
      // would_block and the engine decides; logs say which happened.
      o.detection_only = false;
      o.exclusions.rule_ids = site.inspection.exclude_rules;
      o.exclusions.rule_ids.insert(o.exclusions.rule_ids.end(), disabled.begin(), disabled.end());
      o.exclusions.tags = site.inspection.exclude_tags;
      for (const auto& ex : site.inspection.exclusions) {
        for (std::uint32_t id : ex.rules) {
          if (!ex.path_prefix.empty()) o.exclusions.paths.push_back({ex.path_prefix, id});
          else o.exclusions.targets.push_back({ex.target, id});
        }
      }
      if (snapshot->first_site.empty()) snapshot->first_site = site.name;
      snapshot->sites.emplace(site.name, std::move(s));
    }
  }
  return snapshot;
}

void Inspection::publish(std::shared_ptr<const Snapshot> snapshot) {
  snapshot_.publish(std::move(snapshot));
}

std::shared_ptr<const Inspection::Snapshot> Inspection::current() const {
  return snapshot_.current();
}

Result<Inspection::PreparedRules> Inspection::prepareReload(const std::string& rules_dir) const {
  const std::string dir = rules_dir.empty() ? rules_dir_ : rules_dir;
  auto rules = loadRuleSet(dir);
  if (!rules) return Error{rules.error().code, rules.error().message +
                                                   "\nrules reload refused; the running rules stay"};
  return PreparedRules{std::move(*rules), dir};
}

std::string Inspection::commitReload(const config::Config& config, PreparedRules prepared) {
  // The snapshot is built here, not when prepared: a rule switched on or
  // off in between is in it.
  auto snapshot = buildSnapshot(config, prepared.rules);
  {
    std::lock_guard lock(mu_);
    config_ = std::make_shared<const config::Config>(config);
    rules_dir_ = prepared.dir;
  }
  publish(snapshot);
  return std::to_string(prepared.rules->rules().size()) + " rules from " + prepared.dir;
}

Result<std::string> Inspection::reload(const config::Config& config, const std::string& rules_dir) {
  auto prepared = prepareReload(rules_dir);
  if (!prepared) return prepared.error();
  return commitReload(config, std::move(*prepared));
}

Result<std::string> Inspection::reloadRules() {
  std::shared_ptr<const config::Config> config;
  std::string dir;
  {
    std::lock_guard lock(mu_);
    config = config_;
    dir = rules_dir_;
  }
  return reload(*config, dir);
}

std::shared_ptr<const inspect::RuleSet> Inspection::rules() const { return current()->rules; }

bool Inspection::isDisabled(std::uint32_t id) const {
  std::lock_guard lock(mu_);
  return disabled_.count(id) != 0;
}

Status Inspection::setEnabled(std::uint32_t id, bool enabled) {
  auto snapshot = current();
  if (!snapshot->rules->find(id)) return Error{ENOENT, "no rule " + std::to_string(id)};
  std::shared_ptr<const config::Config> config;
  {
    std::lock_guard lock(mu_);
    if (enabled) disabled_.erase(id);
    else disabled_.insert(id);
    config = config_;
  }
  // Same compiled rules; only the exclusions change, so no recompile.
  publish(buildSnapshot(*config, snapshot->rules));
  return {};
}

net::Verdict Inspection::onRequest(const http::Request& request,
                                   const net::RequestContext& context) {
  // This worker's copy of the snapshot, refreshed (lock-free) only after a
  // publish; valid until this thread's next onRequest().
  const std::shared_ptr<const Snapshot>& local = snapshot_.local();
  auto site = local->sites.find(context.site);
  if (site == local->sites.end() || !site->second.enabled) return net::Verdict::pass();

  const auto content_type = request.header("content-type");
  // A truncated body (body_over_limit: inspect_prefix) is parsed as a
  // prefix: its cut end is not an unparseable body.
  http::ParsedBody body =
      http::parseBody(content_type ? *content_type : std::string_view(), request.body, {},
                      request.body_truncated ? http::BodyExtent::Prefix : http::BodyExtent::Whole);
  if (body.error != http::BodyError::None) body_errors_.fetch_add(1, std::memory_order_relaxed);
  const auto started = std::chrono::steady_clock::now();
  // TLS fingerprints only when a rule reads them (parsed once per
  // connection, but copied per request).
  ClientFingerprints fingerprints;
  if (local->reads_tls_fingerprints) fingerprints = clientFingerprints(context);
  inspect::InspectResult result = inspect::inspect(
      *local->rules, request, body, site->second.options,
      inspect::ConnectionFacts{fingerprints.ja3, fingerprints.ja4});
  const auto ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started)
          .count());
  std::size_t bucket = 0;
  while (bucket < std::size(kDurationBoundsNs) && ns > kDurationBoundsNs[bucket]) ++bucket;
  duration_buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  duration_sum_ns_.fetch_add(ns, std::memory_order_relaxed);
  inspected_.fetch_add(1, std::memory_order_relaxed);
  for (const auto& d : result.detections) {
    by_category_[static_cast<std::size_t>(d.category)].fetch_add(1, std::memory_order_relaxed);
    if (const inspect::Rule* rule = local->rules->find(d.rule_id)) {
      const auto index = static_cast<std::size_t>(rule - local->rules->rules().data());
      local->rule_counts->matches[index].fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (result.budget_exhausted) budget_exhausted_.fetch_add(1, std::memory_order_relaxed);
  if (result.detections.empty() && !result.would_block) return net::Verdict::pass();
  with_detections_.fetch_add(1, std::memory_order_relaxed);
  if (result.would_block) would_block_.fetch_add(1, std::memory_order_relaxed);
  logDetections(request, context, site->second, result);
  if (!result.would_block) return net::Verdict::pass();
  return net::Verdict::block(site->second.block_status);
}

void Inspection::logDetections(const http::Request& request, const net::RequestContext& context,
                               const SiteSettings& site, const inspect::InspectResult& result) {
  if (!logs_) return;
  thread_local std::shared_ptr<logs::LogProducer> producer;
  thread_local const DaemonLogs* producer_owner = nullptr;
  if (producer_owner != logs_) {
    producer = logs_->registerProducer();
    producer_owner = logs_;
  }
  logs::LogRecord r;
  r.type = logs::LogType::Event;
  r.time = std::chrono::system_clock::now();
  r.kind = "alert";
  r.category = "web";
  r.event_type = result.would_block ? "denied" : "info";
  r.action = !result.would_block ? "detect" : site.detect_only ? "detect" : "block";
  r.tenant = site.tenant;
  r.site = std::string(context.site);
  r.source_ip = context.peer.toString();
  r.source_port = context.peer_port;
  r.url_path = request.path;
  r.url_query = request.query;
  r.url_original = request.target;
  r.http_method = request.method_name;
  if (result.would_block && !site.detect_only) r.http_status = site.block_status;
  r.request_id = std::string(context.request_id);
  if (auto ua = request.header("user-agent")) r.user_agent = std::string(*ua);
  const ClientFingerprints fp = clientFingerprints(context);
  r.tls_ja3 = fp.ja3;
  r.tls_ja4 = fp.ja4;
  // rule.* names the detection that weighed most; all are in mamori.detections.
  const inspect::Detection* top = &result.detections.front();
  for (const auto& d : result.detections)
    if (d.score > top->score) top = &d;
  r.rule_id = std::to_string(top->rule_id);
  r.rule_name = top->message;
  r.rule_category = inspect::categoryName(top->category);
  r.message = top->message;
  std::vector<logs::Field> detections;
  for (const auto& d : result.detections) {
    std::vector<logs::Field> f;
    f.push_back({"category", logs::Value::string(inspect::categoryName(d.category))});
    f.push_back({"score", logs::Value::integer(d.score)});
    f.push_back({"target", logs::Value::string(inspect::targetKindName(d.target))});
    if (!d.target_name.empty()) f.push_back({"name", logs::Value::string(d.target_name)});
    f.push_back({"fragment", logs::Value::string(d.fragment)});
    f.push_back({"transforms", logs::Value::string(inspect::chainName(d.transforms))});
    detections.push_back({std::to_string(d.rule_id), logs::Value::objectOf(std::move(f))});
  }
  r.details.push_back({"score", logs::Value::integer(result.score)});
  r.details.push_back({"threshold", logs::Value::integer(site.options.anomaly_threshold)});
  r.details.push_back({"paranoia", logs::Value::integer(site.options.paranoia_level)});
  r.details.push_back({"budget_exhausted", logs::Value::boolean(result.budget_exhausted)});
  r.details.push_back({"detections", logs::Value::objectOf(std::move(detections))});
  producer->submit(std::move(r));  // a full ring counts the drop, never blocks
}

Result<RuleTestResult> Inspection::test(std::string_view raw, const std::string& site_name) const {
  auto snapshot = current();
  const std::string name = site_name.empty() ? snapshot->first_site : site_name;
  auto site = snapshot->sites.find(name);
  if (site == snapshot->sites.end()) return Error{ENOENT, "no site named '" + name + "'"};
  RuleTestResult out;
  out.site = name;
  out.threshold = site->second.options.anomaly_threshold;
  // Files written by hand often end lines with LF only; the strict parser
  // would refuse that, so bare LFs become CRLF first.
  std::string text;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) text += '\r';
    text += raw[i];
  }
  http::RequestParser parser;
  size_t consumed = 0;
  auto status = parser.feed(text, &consumed);
  if (status == http::ParseStatus::NeedMore) {
    // A request without a body may simply end after its blank line.
    out.parse_error = "incomplete request (does it end with an empty line?)";
    return out;
  }
  if (status == http::ParseStatus::Reject) {
    out.parse_error = std::string("rejected by the HTTP parser: ") +
                      http::rejectReasonName(parser.rejectReason()) + " (answered " +
                      std::to_string(http::rejectReasonStatus(parser.rejectReason())) + ")";
    return out;
  }
  const http::Request& request = parser.request();
  const auto content_type = request.header("content-type");
  http::ParsedBody body =
      http::parseBody(content_type ? *content_type : std::string_view(), request.body);
  auto result = inspect::inspect(*snapshot->rules, request, body, site->second.options);
  out.detections = std::move(result.detections);
  out.score = result.score;
  out.would_block = result.would_block;
  return out;
}

InspectionMetrics Inspection::metrics() const {
  InspectionMetrics m;
  for (std::size_t c = 0; c < kCategories; ++c)
    m.by_category.emplace_back(inspect::categoryName(static_cast<inspect::Category>(c)),
                               by_category_[c].load(std::memory_order_relaxed));
  auto snapshot = current();
  const auto& rules = snapshot->rules->rules();
  for (std::size_t i = 0; i < rules.size(); ++i)
    m.by_rule.emplace_back(std::to_string(rules[i].id),
                           snapshot->rule_counts->matches[i].load(std::memory_order_relaxed));
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b < kDurationBuckets; ++b) {
    cumulative += duration_buckets_[b].load(std::memory_order_relaxed);
    const double bound = b < std::size(kDurationBoundsNs)
                             ? static_cast<double>(kDurationBoundsNs[b]) / 1e9
                             : std::numeric_limits<double>::infinity();
    m.duration_buckets.emplace_back(bound, cumulative);
  }
  m.duration_count = cumulative;
  m.duration_sum_seconds = static_cast<double>(duration_sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return m;
}

InspectionStats Inspection::stats() const {
  InspectionStats s;
#define MAMORI_INSPECTION_READ(name) s.name = name##_.load(std::memory_order_relaxed);
  MAMORI_INSPECTION_COUNTERS(MAMORI_INSPECTION_READ)
#undef MAMORI_INSPECTION_READ
  return s;
}

}  // namespace mamori::daemon
