#include "metrics/metrics_server.h"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <cerrno>
#include <exception>
#include <limits>
#include <utility>

namespace mamori::metrics {

namespace {

prometheus::MetricFamily toPrometheus(const Family& f) {
  prometheus::MetricFamily out;
  out.name = f.name;
  out.help = f.help;
  switch (f.type) {
    case MetricType::Counter: out.type = prometheus::MetricType::Counter; break;
    case MetricType::Gauge: out.type = prometheus::MetricType::Gauge; break;
    case MetricType::Histogram: out.type = prometheus::MetricType::Histogram; break;
  }
  for (const auto& s : f.samples) {
    prometheus::ClientMetric m;
    for (const auto& l : s.labels) m.label.push_back({l.name, l.value});
    switch (f.type) {
      case MetricType::Counter: m.counter.value = s.value; break;
      case MetricType::Gauge: m.gauge.value = s.value; break;
      case MetricType::Histogram:
        m.histogram.sample_count = s.histogram.count;
        m.histogram.sample_sum = s.histogram.sum;
        for (const auto& b : s.histogram.buckets)
          m.histogram.bucket.push_back({b.cumulative_count, b.upper_bound});
        // The text format wants the +Inf bucket spelled out; it equals the count.
        m.histogram.bucket.push_back(
            {s.histogram.count, std::numeric_limits<double>::infinity()});
        break;
    }
    out.metric.push_back(std::move(m));
  }
  return out;
}

std::vector<prometheus::MetricFamily> toPrometheus(const std::vector<Family>& families) {
  std::vector<prometheus::MetricFamily> out;
  out.reserve(families.size());
  for (const auto& f : families) out.push_back(toPrometheus(f));
  return out;
}

// The bridge prometheus-cpp calls on each scrape.
class RegistryCollectable : public prometheus::Collectable {
 public:
  explicit RegistryCollectable(std::shared_ptr<Registry> registry)
      : registry_(std::move(registry)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    return toPrometheus(registry_->collect());
  }

 private:
  std::shared_ptr<Registry> registry_;
};

// Checks "ip:port" / "[v6]:port" enough to give a clear error before
// civetweb sees it (civetweb's own message is a bare "null context").
common::Status checkListen(const std::string& listen) {
  auto bad = [&](const char* why) {
    return common::Error{EINVAL, "metrics listen address '" + listen + "': " + why};
  };
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad("expected ip:port or [ipv6]:port");
  std::string port = listen.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535)
    return bad("port must be a number 0..65535");
  std::string host = listen.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) return bad("unbalanced brackets");
  } else if (host.find_first_not_of("0123456789.") != std::string::npos) {
    return bad("host must be an IP address (IPv6 in brackets)");
  }
  return {};
}

}  // namespace

struct MetricsServer::Impl {
  std::shared_ptr<RegistryCollectable> collectable;
  std::unique_ptr<prometheus::Exposer> exposer;
};

common::Result<std::unique_ptr<MetricsServer>> MetricsServer::start(
    const std::string& listen, std::shared_ptr<Registry> registry) {
  if (!registry) return common::Error{EINVAL, "metrics: no registry"};
  if (auto st = checkListen(listen); !st) return st.error();
  auto impl = std::make_unique<Impl>();
  impl->collectable = std::make_shared<RegistryCollectable>(std::move(registry));
  // civetweb (under prometheus-cpp) throws when it cannot bind; this is the
  // control plane, and the one place its exceptions are turned into a Result.
  try {
    impl->exposer = std::make_unique<prometheus::Exposer>(listen, 2);
  } catch (const std::exception& e) {
    return common::Error{EADDRINUSE,
                         "metrics: cannot listen on " + listen + ": " + e.what() +
                             " (address in use or not local?)"};
  }
  impl->exposer->RegisterCollectable(impl->collectable);
  auto ports = impl->exposer->GetListeningPorts();
  if (ports.empty() || ports[0] <= 0 || ports[0] > 65535)
    return common::Error{EADDRNOTAVAIL, "metrics: " + listen + ": no listening port"};
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->port_ = static_cast<std::uint16_t>(ports[0]);
  server->impl_ = std::move(impl);
  return server;
}

MetricsServer::~MetricsServer() = default;

std::string renderText(const std::vector<Family>& families) {
  return prometheus::TextSerializer().Serialize(toPrometheus(families));
}

}  // namespace mamori::metrics
