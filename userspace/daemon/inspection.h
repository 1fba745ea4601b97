#pragma once

// mamorid's signature inspection: the rule set (userspace/inspect), each
// site's inspection settings from the config, and the verdict hook the
// engine calls on every complete request. Detections go to the event log.
//
// Threads: onRequest() runs on the engine's workers, concurrently, without
// a lock: each worker keeps its own copy of the current snapshot and only
// re-reads it (lock-free, daemon/published_snapshot.h) when a reload has
// published a new one. reload() and the rule commands run on control or
// main threads.

#include <array>
#include <atomic>
#include <iterator>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/types.h"
#include "daemon/published_snapshot.h"
#include "inspect/rule_set.h"
#include "inspect/types.h"
#include "net/types.h"

namespace mamori::logs {
class LogProducer;
}

namespace mamori::daemon {

class DaemonLogs;

// Every counter of inspection in one list (STYLE.md §2).
#define MAMORI_INSPECTION_COUNTERS(X)                                          \
  X(inspected)        /* requests inspected */                                 \
  X(with_detections)  /* requests with at least one detection */              \
  X(would_block)      /* requests at or over their site's threshold */        \
  X(budget_exhausted) /* requests whose inspection budget ran out */          \
  X(body_errors)      /* bodies that could not be parsed (detected as such) */

struct InspectionStats {
#define MAMORI_INSPECTION_FIELD(name) std::uint64_t name = 0;
  MAMORI_INSPECTION_COUNTERS(MAMORI_INSPECTION_FIELD)
#undef MAMORI_INSPECTION_FIELD
};

// Per-category and per-rule detection counts and the inspection-time
// histogram, for /metrics (daemon/main.cpp feeds them to metrics).
struct InspectionMetrics {
  std::vector<std::pair<std::string, std::uint64_t>> by_category;  // every category, zeros too
  std::vector<std::pair<std::string, std::uint64_t>> by_rule;      // every loaded rule id
  std::vector<std::pair<double, std::uint64_t>> duration_buckets;  // (upper bound s, cumulative)
  std::uint64_t duration_count = 0;
  double duration_sum_seconds = 0;
};

// What `mamorictl rules test` prints.
struct RuleTestResult {
  std::string site;
  std::vector<inspect::Detection> detections;
  int score = 0;
  int threshold = 0;
  bool would_block = false;
  std::string parse_error;  // the request itself was rejected by the HTTP parser
};

class Inspection {
 public:
  // Loads and compiles the rules in `rules_dir` and takes each site's
  // settings from `config`. Fails with the loader's FILE:LINE:COL errors.
  // `logs` may be null (no event log). Main thread.
  static common::Result<std::unique_ptr<Inspection>> create(const config::Config& config,
                                                            const std::string& rules_dir,
                                                            DaemonLogs* logs);

  // A new rule set from `rules_dir` (or the current directory when empty)
  // and new site settings; on any error nothing changes. Returns a summary.
  common::Result<std::string> reload(const config::Config& config, const std::string& rules_dir);

  // reload() in two steps, so that the daemon can check every part of a
  // config reload before any part changes: prepareReload() loads and
  // compiles the rules (every error, and the slow part) and changes
  // nothing; commitReload() publishes them with `config`'s site settings
  // and cannot fail. Main thread.
  struct PreparedRules {
    std::shared_ptr<const inspect::RuleSet> rules;
    std::string dir;
  };
  common::Result<PreparedRules> prepareReload(const std::string& rules_dir) const;
  std::string commitReload(const config::Config& config, PreparedRules prepared);
  common::Result<std::string> reloadRules();  // same config, rules re-read

  // The engine's verdict hook. Worker threads.
  net::Verdict onRequest(const http::Request& request, const net::RequestContext& context);

  // For the CLI: the current rules, runtime enable/disable (kept across
  // rule reloads until mamorid restarts), and a dry run of one raw request
  // against a site's settings (`site` empty: the first site).
  std::shared_ptr<const inspect::RuleSet> rules() const;
  bool isDisabled(std::uint32_t id) const;
  common::Status setEnabled(std::uint32_t id, bool enabled);
  common::Result<RuleTestResult> test(std::string_view raw_request, const std::string& site) const;

  InspectionStats stats() const;
  InspectionMetrics metrics() const;
  const std::string& rulesDir() const { return rules_dir_; }

 private:
  struct SiteSettings {
    std::string tenant;
    bool enabled = true;
    bool detect_only = false;
    std::uint16_t block_status = 403;
    inspect::InspectOptions options;
  };
  // Matches per rule, indexed like rules->rules(); reset when a reload
  // compiles a new set (Prometheus' rate() treats that as a counter reset).
  struct RuleCounts {
    explicit RuleCounts(std::size_t n) : matches(n) {}
    std::vector<std::atomic<std::uint64_t>> matches;
  };
  struct Snapshot {
    std::shared_ptr<const inspect::RuleSet> rules;
    std::shared_ptr<RuleCounts> rule_counts;
    bool reads_tls_fingerprints = false;  // a rule targets tls_ja3 or tls_ja4
    std::map<std::string, SiteSettings, std::less<>> sites;
    std::string first_site;
  };

  Inspection() = default;
  std::shared_ptr<const Snapshot> buildSnapshot(const config::Config& config,
                                                std::shared_ptr<const inspect::RuleSet> rules) const;
  void publish(std::shared_ptr<const Snapshot> snapshot);
  std::shared_ptr<const Snapshot> current() const;
  void logDetections(const http::Request& request, const net::RequestContext& context,
                     const SiteSettings& site, const inspect::InspectResult& result);

  DaemonLogs* logs_ = nullptr;
  std::string rules_dir_;
  std::shared_ptr<const config::Config> config_;  // the last applied, for rule-only reloads

  PublishedSnapshot<Snapshot> snapshot_;  // what onRequest() reads
  mutable std::mutex mu_;  // guards disabled_, config_, rules_dir_ updates; control plane only
  std::set<std::uint32_t> disabled_;

  // Detections by inspect::Category, and inspection time (ns buckets).
  static constexpr std::size_t kCategories = static_cast<std::size_t>(inspect::Category::Generic) + 1;
  static constexpr std::uint64_t kDurationBoundsNs[] = {10'000,    25'000,    50'000,   100'000,
                                                        250'000,   500'000,   1'000'000, 2'500'000,
                                                        5'000'000, 10'000'000, 25'000'000};
  static constexpr std::size_t kDurationBuckets = std::size(kDurationBoundsNs) + 1;  // + +Inf
  std::array<std::atomic<std::uint64_t>, kCategories> by_category_{};
  std::array<std::atomic<std::uint64_t>, kDurationBuckets> duration_buckets_{};
  std::atomic<std::uint64_t> duration_sum_ns_{0};

#define MAMORI_INSPECTION_ATOMIC(name) std::atomic<std::uint64_t> name##_{0};
  MAMORI_INSPECTION_COUNTERS(MAMORI_INSPECTION_ATOMIC)
#undef MAMORI_INSPECTION_ATOMIC
};

// The rules directory to use: `flag` when given, else the config's
// rules.dir, else the installed default set, else the source tree's rules/
// (a build directory run). Main thread.
std::string resolveRulesDir(const std::optional<std::string>& flag, const config::Config& config);

}  // namespace mamori::daemon
