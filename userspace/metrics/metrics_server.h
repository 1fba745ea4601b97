#pragma once

// The /metrics HTTP endpoint: a small civetweb server with its own threads,
// writing the Prometheus text format with prometheus-cpp's serializer.
// Everything else in mamori sees only this header and metrics/family.h.
//
// Life cycle (daemon thread): start() binds and starts serving; collectors
// are added to the Registry before or after; destruction stops the server
// and joins its threads. The request path is never involved: a scrape runs
// Registry::collect() on a civetweb thread.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "metrics/family.h"

namespace mamori::metrics {

class MetricsServer {
 public:
  // Serves `registry` as GET /metrics on `listen`, "ip:port" or
  // "[ipv6]:port" (an IP literal: we never resolve a name to bind). Port 0
  // takes a free port (see port()). Fails with EINVAL for a malformed
  // address and EADDRINUSE (or the bind error) when the address cannot be
  // bound; nothing is left running on failure.
  static common::Result<std::unique_ptr<MetricsServer>> start(const std::string& listen,
                                                              std::shared_ptr<Registry> registry);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port actually bound (the chosen one when started with port 0).
  std::uint16_t port() const { return port_; }

  struct Impl;  // public so civetweb's C callbacks can name it; defined in the .cpp

 private:
  MetricsServer() = default;
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
};

// The Prometheus text exposition format (version 0.0.4) of `families`, as
// /metrics serves it: for tests, and for tools that print metrics. Pure.
std::string renderText(const std::vector<Family>& families);

}  // namespace mamori::metrics
