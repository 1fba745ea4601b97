#include "metrics/metrics_server.h"

#include <civetweb.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

namespace mamori::metrics {

namespace {

prometheus::MetricFamily toPrometheus(const Family& f) {
  prometheus::MetricFamily out;
  out.name = f.name;
  out.help = f.help;
  switch (f.type) {
    case MetricType::Counter:
      out.type = prometheus::MetricType::Counter;
      break;
    case MetricType::Gauge:
      out.type = prometheus::MetricType::Gauge;
      break;
    case MetricType::Histogram:
      out.type = prometheus::MetricType::Histogram;
      break;
  }
  for (const auto& s : f.samples) {
    prometheus::ClientMetric m;
    for (const auto& l : s.labels) m.label.push_back({l.name, l.value});
    switch (f.type) {
      case MetricType::Counter:
        m.counter.value = s.value;
        break;
      case MetricType::Gauge:
        m.gauge.value = s.value;
        break;
      case MetricType::Histogram:
        m.histogram.sample_count = s.histogram.count;
        m.histogram.sample_sum = s.histogram.sum;
        for (const auto& b : s.histogram.buckets)
          m.histogram.bucket.push_back({b.cumulative_count, b.upper_bound});
        // The text format wants the +Inf bucket spelled out; it equals the count.
        m.histogram.bucket.push_back({s.histogram.count, std::numeric_limits<double>::infinity()});
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

// Checks "ip:port" / "[v6]:port" enough to give a clear error before
// civetweb sees it (civetweb's own message is a bare "null context").
common::Status checkListen(const std::string& listen) {
  auto bad = [&](const char* why) {
    return common::Error{EINVAL, "metrics listen address '" + listen + "': " + why};
  };
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad("expected ip:port or [ipv6]:port");
  std::string port = listen.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535)
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

// civetweb runs the HTTP side; prometheus-cpp's text serializer writes the
// body. We do not use prometheus::Exposer: it adds families of its own
// (exposer_*) that break the mamori_ naming every dashboard and the lint
// rely on, and it reports bind errors as exceptions.
struct MetricsServer::Impl {
  std::shared_ptr<Registry> registry;
  mg_context* ctx = nullptr;
  std::string start_error;  // civetweb's log lines while starting
  ~Impl() {
    if (ctx) mg_stop(ctx);  // joins civetweb's threads
  }
};

namespace {

// GET or HEAD /metrics, on a civetweb worker thread.
int serveMetrics(mg_connection* conn, void* data) {
  auto* impl = static_cast<MetricsServer::Impl*>(data);
  const mg_request_info* req = mg_get_request_info(conn);
  const bool head = std::strcmp(req->request_method, "HEAD") == 0;
  if (!head && std::strcmp(req->request_method, "GET") != 0) {
    mg_printf(conn,
              "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\n"
              "Connection: close\r\n\r\n");
    return 405;
  }
  const std::string body = renderText(impl->registry->collect());
  mg_printf(conn,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: %zu\r\nConnection: close\r\n\r\n",
            body.size());
  if (!head) mg_write(conn, body.data(), body.size());
  return 200;
}

int logStartError(const mg_connection* conn, const char* message) {
  const mg_context* ctx = mg_get_context(conn);
  auto* impl = ctx ? static_cast<MetricsServer::Impl*>(mg_get_user_data(ctx)) : nullptr;
  if (impl && message)
    impl->start_error += (impl->start_error.empty() ? "" : "; ") + std::string(message);
  return 1;  // handled: civetweb prints nothing itself
}

}  // namespace

common::Result<std::unique_ptr<MetricsServer>> MetricsServer::start(
    const std::string& listen, std::shared_ptr<Registry> registry) {
  if (!registry) return common::Error{EINVAL, "metrics: no registry"};
  if (auto st = checkListen(listen); !st) return st.error();
  auto impl = std::make_unique<Impl>();
  impl->registry = std::move(registry);
  // Two threads: Prometheus plus a person with curl. Scrapes are serialised
  // by the Registry anyway. Requests that stall are cut after 10 s.
  const char* options[] = {"listening_ports",    listen.c_str(), "num_threads", "2",
                           "request_timeout_ms", "10000",        nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = logStartError;
  impl->ctx = mg_start(&callbacks, impl.get(), options);
  if (!impl->ctx)
    return common::Error{EADDRINUSE, "metrics: cannot listen on " + listen + ": " +
                                         (impl->start_error.empty() ? "civetweb failed to start"
                                                                    : impl->start_error)};
  mg_set_request_handler(impl->ctx, "/metrics$", serveMetrics, impl.get());
  mg_server_port ports[4]{};
  int n = mg_get_server_ports(impl->ctx, 4, ports);
  if (n < 1 || ports[0].port <= 0 || ports[0].port > 65535)
    return common::Error{EADDRNOTAVAIL, "metrics: " + listen + ": no listening port"};
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->port_ = static_cast<std::uint16_t>(ports[0].port);
  server->impl_ = std::move(impl);
  return server;
}

MetricsServer::~MetricsServer() = default;

std::string renderText(const std::vector<Family>& families) {
  return prometheus::TextSerializer().Serialize(toPrometheus(families));
}

}  // namespace mamori::metrics
