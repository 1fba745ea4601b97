#pragma once

// Helpers shared by the engine tests (plain and TLS): loopback ports, a
// blocking client, a tiny upstream, and a one-site config. Test-only.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "config/address.h"
#include "config/types.h"

namespace mamori::net::test_util {

inline uint16_t freePort() {
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

inline int connectTo(uint16_t port) {
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

inline std::string readAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// Sends one request (Connection: close) and returns everything received.
inline std::string roundTrip(uint16_t port, const std::string& path) {
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

inline config::Config oneSite(uint16_t listen_port, uint16_t upstream_port) {
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


}  // namespace mamori::net::test_util
