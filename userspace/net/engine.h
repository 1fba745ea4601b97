#pragma once

// The reverse-proxy engine: N worker threads, each with its own epoll loop
// and its own SO_REUSEPORT listening socket per listener address, so the
// kernel spreads connections over workers and nothing on the request path
// takes a lock. TLS listeners (OpenSSL, tls_context.h) run the handshake
// and record layer under the client connection's read and write calls.
//
// Life cycle (daemon thread): create() resolves upstreams and binds every
// socket, so address errors are reported before any thread starts; start()
// launches the workers; reload() swaps in new sites for new connections;
// stop() stops accepting, lets in-flight requests finish (bounded by a
// grace period) and joins. stats() may be called from any thread at any time.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "config/types.h"
#include "net/types.h"

namespace mamori::net {

class Worker;
struct ListenerRuntime;

struct EngineOptions {
  std::uint32_t workers = 1;  // >= 1
  VerdictHook verdict;        // empty: every request passes
  ResponseHook response{};    // empty: watch tokens are ignored
  // Called once for every request of a site that got an answer (proxied or
  // local), with the status sent; not for requests the parser rejected.
  // Worker threads, concurrently; must not block. Empty: not called.
  ResponseStatusHook response_status{};
  ConnectionHook connection{};  // empty: connection events are only counted
  // How long stop() waits for in-flight requests before closing them.
  std::chrono::milliseconds stop_grace{10000};
};

class Engine {
 public:
  // Builds the engine for every listener of every site in `config`.
  // Upstream host names are resolved here (blocking getaddrinfo), block
  // pages are read here, and each TLS listener loads the certificates and
  // keys of all its sites (see checkTlsCertificates in net/tls.h). Fails
  // with the first bind/resolve/read error, EINVAL listing every bad
  // certificate or key, or EINVAL when no listener is configured.
  static common::Result<std::unique_ptr<Engine>> create(const config::Config& config,
                                                        EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void start();

  // Replaces the sites (hosts, upstreams, limits, block pages, TLS
  // certificates) with those of `config`, built here in the calling thread
  // (getaddrinfo, file reads). Connections accepted afterwards use the new
  // sites; open connections, and requests in flight on them, finish on the
  // config they were accepted under. The listening addresses are kept, so
  // `config` must list the same ones with the same `tls` flags.
  // Out: ok, or an error (nothing changed): EINVAL for changed listeners or
  // bad certificates (one line per problem), or the build error. Any one
  // thread at a time (serialised); safe while the workers run.
  common::Status reload(const config::Config& config);
  // Idempotent; returns once every worker thread has exited.
  void stop();

  EngineStats stats() const;
  // "ip:port" of each listener address served, with " (TLS)" on TLS ones.
  const std::vector<std::string>& listenAddresses() const { return listen_addresses_; }

 private:
  Engine() = default;

  EngineOptions options_;
  std::vector<std::unique_ptr<ListenerRuntime>> listeners_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::vector<std::string> listen_addresses_;
  std::mutex reload_mu_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace mamori::net
