#pragma once

// The metric model other modules see: plain families, samples and
// histograms, with no prometheus-cpp type in sight (STYLE.md §1: the
// third-party header stays inside this module). A Collector is a function
// that appends the families of one source (engine, shield, process, host) to
// a vector; the Registry calls every collector when Prometheus scrapes, so
// the request path never touches a metric object and never takes a lock:
// modules keep their own counters (per worker, per CPU) and hand over a
// summed snapshot only when asked.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"

namespace mamori::metrics {

enum class MetricType { Counter, Gauge, Histogram };

struct Label {
  std::string name;
  std::string value;
  bool operator==(const Label&) const = default;
};

// One histogram series. `buckets` holds cumulative counts for increasing
// upper bounds; the +Inf bucket is implied by `count`.
struct HistogramValue {
  struct Bucket {
    double upper_bound = 0;
    std::uint64_t cumulative_count = 0;
  };
  std::vector<Bucket> buckets;
  std::uint64_t count = 0;
  double sum = 0;
};

// One series: its labels and its value (counter or gauge) or histogram.
struct Sample {
  std::vector<Label> labels;
  double value = 0;
  HistogramValue histogram;  // MetricType::Histogram only

  // The value of label `name`, or "" when the series has no such label.
  const std::string& label(const std::string& name) const;
};

// A metric family: every series of one name. Names follow STYLE.md §2
// (mamori_<module>_<what>_<unit>, counters end in _total); lintFamilies()
// in metrics/lint.h checks them.
struct Family {
  std::string name;
  std::string help;
  MetricType type = MetricType::Gauge;
  std::vector<Sample> samples;

  Family& add(double value, std::vector<Label> labels = {});
  Family& addHistogram(HistogramValue histogram, std::vector<Label> labels = {});
};

Family counter(std::string name, std::string help);
Family gauge(std::string name, std::string help);
Family histogram(std::string name, std::string help);

// Appends one source's families to `out`. Called on the scrape thread (one
// scrape at a time, see Registry), never on a worker. A failure (a /proc
// file that cannot be read, pinned maps gone) returns an Error; families
// already appended by a failing call are kept only if the collector chose
// to append them before failing.
using Collector = std::function<common::Status(std::vector<Family>& out)>;

// The set of collectors served on /metrics.
//
// Thread-safety: add() and collect() may be called from any thread; they
// share one mutex, which is a control-plane lock (scrape thread and daemon
// start-up), never taken on the request path. Collectors run one scrape at
// a time, so they need not be thread-safe with respect to each other.
class Registry {
 public:
  // Registers `collector` under `name` (a short bounded word such as
  // "engine", "xdp", "process", "host": it becomes a label value of
  // mamori_metrics_collector_up). A second collector with the same name is
  // refused with EEXIST.
  common::Status add(const std::string& name, Collector collector);

  // Runs every collector in registration order and returns their families,
  // followed by the registry's own: mamori_metrics_collector_up{collector}
  // (1 if the last run succeeded), mamori_metrics_collector_errors_total
  // {collector} and mamori_build_info{version}. A collector's error never
  // fails the scrape: the other collectors' families are still returned.
  std::vector<Family> collect();

  // The last error message of collector `name` ("" if none): for logs and tests.
  std::string lastError(const std::string& name) const;

 private:
  struct Entry {
    std::string name;
    Collector collector;
    std::uint64_t errors = 0;
    bool up = false;
    std::string last_error;
  };
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
};

}  // namespace mamori::metrics
