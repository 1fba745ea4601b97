// Engine behaviour that needs real sockets but no network namespace: the
// verdict hook (block, detect-only), 504 on upstream read timeout and the
// per-source connection cap. Everything runs on 127.0.0.1 with one worker.

#include "net/engine.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <regex>
#include <string>
#include <thread>

namespace mamori::net {
namespace {

using namespace std::chrono_literals;

uint16_t freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

int connectTo(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string readAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// Sends one request (Connection: close) and returns everything received.
std::string roundTrip(uint16_t port, const std::string& path) {
  int fd = connectTo(port);
  if (fd < 0) return "connect failed";
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  auto out = readAll(fd);
  ::close(fd);
  return out;
}

// A blocking one-connection-at-a-time upstream: answers "ok" to each
// request, or says nothing when `silent`.
class TestUpstream {
 public:
  explicit TestUpstream(bool silent) : silent_(silent) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TestUpstream() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  int requests() const { return requests_.load(); }

 private:
  void serve() {
    while (true) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      timeval tv{3, 0};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::string in;
      char buf[4096];
      ssize_t n;
      while ((n = ::recv(c, buf, sizeof buf, 0)) > 0) {
        in.append(buf, static_cast<size_t>(n));
        size_t end;
        while ((end = in.find("\r\n\r\n")) != std::string::npos) {
          in.erase(0, end + 4);
          ++requests_;
          if (!silent_) {
            std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
          }
        }
      }
      ::close(c);
    }
  }
  bool silent_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> requests_{0};
  std::thread thread_;
};

config::Config oneSite(uint16_t listen_port, uint16_t upstream_port) {
  config::Config cfg;
  config::Site site;
  site.name = "t";
  site.hosts = {"*"};
  config::Listener l;
  l.address = *config::parseEndpoint("127.0.0.1:" + std::to_string(listen_port), config::HostKind::IpOnly);
  site.listeners.push_back(l);
  config::Upstream u;
  u.address = *config::parseEndpoint("127.0.0.1:" + std::to_string(upstream_port), config::HostKind::IpOrName);
  site.upstreams.push_back(u);
  config::Tenant tenant;
  tenant.id = "t";
  tenant.sites.push_back(site);
  cfg.tenants.push_back(tenant);
  return cfg;
}

VerdictHook blockPath(std::string path, std::string* seen_id) {
  return [path, seen_id](const http::Request& r, const RequestContext& ctx) {
    *seen_id = std::string(ctx.request_id);
    return r.path == path ? Verdict::block(403) : Verdict::pass();
  };
}

TEST(Engine, BlockVerdictAnsweredLocally) {
  TestUpstream up(false);
  uint16_t port = freePort();
  std::string seen_id;
  auto engine = Engine::create(oneSite(port, up.port()), {1, blockPath("/admin", &seen_id)});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  auto out = roundTrip(port, "/admin");
  EXPECT_EQ(out.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << out;
  ASSERT_EQ(seen_id.size(), 16u);
  EXPECT_NE(out.find("X-Request-Id: " + seen_id), std::string::npos) << out;
  EXPECT_EQ(up.requests(), 0);
  out = roundTrip(port, "/fine");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_EQ(up.requests(), 1);
  (*engine)->stop();
  EXPECT_EQ((*engine)->stats().blocked, 1u);
  EXPECT_EQ((*engine)->stats().proxied, 1u);
}

TEST(Engine, DetectModeLetsBlockThrough) {
  TestUpstream up(false);
  uint16_t port = freePort();
  auto cfg = oneSite(port, up.port());
  cfg.tenants[0].sites[0].mode = config::SiteMode::Detect;
  std::string seen_id;
  auto engine = Engine::create(cfg, {1, blockPath("/admin", &seen_id)});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  auto out = roundTrip(port, "/admin");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_EQ(up.requests(), 1);
  (*engine)->stop();
  EXPECT_EQ((*engine)->stats().detect_only, 1u);
  EXPECT_EQ((*engine)->stats().blocked, 0u);
}

TEST(Engine, UpstreamReadTimeoutIs504) {
  TestUpstream up(true);
  uint16_t port = freePort();
  auto cfg = oneSite(port, up.port());
  cfg.tenants[0].sites[0].limits.upstream_read_timeout = 1s;
  auto engine = Engine::create(cfg, {1, {}});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  auto t0 = std::chrono::steady_clock::now();
  auto out = roundTrip(port, "/slow");
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(out.rfind("HTTP/1.1 504 Gateway Timeout\r\n", 0), 0u) << out;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 3s);
  (*engine)->stop();
  EXPECT_EQ((*engine)->stats().gateway_timeout, 1u);
}

TEST(Engine, PerSourceCap) {
  TestUpstream up(false);
  uint16_t port = freePort();
  auto cfg = oneSite(port, up.port());
  cfg.tenants[0].sites[0].limits.max_conns_per_source = 1;
  auto engine = Engine::create(cfg, {1, {}});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  int first = connectTo(port);
  ASSERT_GE(first, 0);
  std::this_thread::sleep_for(100ms);  // let the worker accept it
  auto out = roundTrip(port, "/second");
  EXPECT_EQ(out.rfind("HTTP/1.1 503", 0), 0u) << out;
  ::close(first);
  std::this_thread::sleep_for(100ms);
  out = roundTrip(port, "/third");
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
  (*engine)->stop();
  EXPECT_EQ((*engine)->stats().over_source_cap, 1u);
}

TEST(Engine, RejectedRequestCountedByReason) {
  TestUpstream up(false);
  uint16_t port = freePort();
  auto engine = Engine::create(oneSite(port, up.port()), {1, {}});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  int fd = connectTo(port);
  std::string req = "GET / HTTP/2.0\r\nHost: t\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  auto out = readAll(fd);
  ::close(fd);
  EXPECT_EQ(out.rfind("HTTP/1.1 505", 0), 0u) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("request id: [0-9a-f]{16}"))) << out;
  (*engine)->stop();
  auto st = (*engine)->stats();
  EXPECT_EQ(st.rejected, 1u);
  EXPECT_EQ(st.rejected_by_reason[static_cast<size_t>(http::RejectReason::UnsupportedVersion)], 1u);
  EXPECT_EQ(up.requests(), 0);
}

}  // namespace
}  // namespace mamori::net
