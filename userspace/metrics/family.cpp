#include "metrics/family.h"

#include <cerrno>
#include <utility>

#include "common/version.h"

namespace mamori::metrics {

const std::string& Sample::label(const std::string& name) const {
  static const std::string kEmpty;
  for (const auto& l : labels)
    if (l.name == name) return l.value;
  return kEmpty;
}

Family& Family::add(double value, std::vector<Label> labels) {
  Sample s;
  s.labels = std::move(labels);
  s.value = value;
  samples.push_back(std::move(s));
  return *this;
}

Family& Family::addHistogram(HistogramValue value, std::vector<Label> labels) {
  Sample s;
  s.labels = std::move(labels);
  s.histogram = std::move(value);
  samples.push_back(std::move(s));
  return *this;
}

namespace {
Family make(std::string name, std::string help, MetricType type) {
  Family f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}
}  // namespace

Family counter(std::string name, std::string help) {
  return make(std::move(name), std::move(help), MetricType::Counter);
}
Family gauge(std::string name, std::string help) {
  return make(std::move(name), std::move(help), MetricType::Gauge);
}
Family histogram(std::string name, std::string help) {
  return make(std::move(name), std::move(help), MetricType::Histogram);
}

common::Status Registry::add(const std::string& name, Collector collector) {
  if (name.empty() || !collector) return common::Error{EINVAL, "metrics: empty collector"};
  std::lock_guard lock(mutex_);
  for (const auto& e : entries_)
    if (e.name == name) return common::Error{EEXIST, "metrics: collector '" + name + "' exists"};
  entries_.push_back(Entry{name, std::move(collector), 0, false, {}});
  return {};
}

std::vector<Family> Registry::collect() {
  std::lock_guard lock(mutex_);
  std::vector<Family> out;
  for (auto& e : entries_) {
    std::vector<Family> part;
    auto st = e.collector(part);
    e.up = st.ok();
    if (!st) {
      ++e.errors;
      e.last_error = st.error().message;
    }
    for (auto& f : part) out.push_back(std::move(f));
  }
  auto up = gauge("mamori_metrics_collector_up",
                  "1 if the collector's last run succeeded, 0 if it failed");
  auto errors = counter("mamori_metrics_collector_errors_total",
                        "Collector runs that failed (a source could not be read)");
  for (const auto& e : entries_) {
    up.add(e.up ? 1 : 0, {{"collector", e.name}});
    errors.add(static_cast<double>(e.errors), {{"collector", e.name}});
  }
  out.push_back(std::move(up));
  out.push_back(std::move(errors));
  out.push_back(gauge("mamori_build_info", "Always 1; the version label says which mamori runs")
                    .add(1, {{"version", kVersion}}));
  return out;
}

std::string Registry::lastError(const std::string& name) const {
  std::lock_guard lock(mutex_);
  for (const auto& e : entries_)
    if (e.name == name) return e.last_error;
  return {};
}

}  // namespace mamori::metrics
