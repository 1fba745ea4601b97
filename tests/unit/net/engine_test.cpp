// Engine behaviour that needs real sockets but no network namespace: the
// verdict hook (block, detect-only), 504 on upstream read timeout and the
// per-source connection cap. Everything runs on 127.0.0.1 with one worker.

#include "net/engine.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "net_test_util.h"

namespace mamori::net {
namespace {

using namespace std::chrono_literals;
using namespace test_util;

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

// A Block verdict's extra header fields go out with the answer; its own
// Content-Type and Cache-Control replace the engine's defaults; framing
// fields and fields with CR/LF are dropped and counted.
TEST(Engine, BlockVerdictSendsItsHeaders) {
  TestUpstream up(false);
  uint16_t port = freePort();
  VerdictHook hook = [](const http::Request& r, const RequestContext&) {
    if (r.path != "/challenge") return Verdict::pass();
    Verdict v = Verdict::block(303, "<p>see other</p>");
    v.headers = {{"Location", "/next"},
                 {"Set-Cookie", "c=1; Path=/; HttpOnly"},
                 {"Content-Type", "text/html; charset=utf-8"},
                 {"Cache-Control", "private, no-store"},
                 {"Content-Length", "0"},
                 {"X-Split", "a\r\nSet-Cookie: evil=1"},
                 {"Bad Name", "x"}};
    return v;
  };
  auto engine = Engine::create(oneSite(port, up.port()), {1, hook});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  auto out = roundTrip(port, "/challenge");
  EXPECT_EQ(out.rfind("HTTP/1.1 303 See Other\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("\r\nLocation: /next\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nSet-Cookie: c=1; Path=/; HttpOnly\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nCache-Control: private, no-store\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("Cache-Control: no-store"), std::string::npos) << out;
  EXPECT_EQ(out.find("Content-Type: text/plain"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nContent-Length: 16\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("Content-Length: 0"), std::string::npos) << out;
  EXPECT_EQ(out.find("evil"), std::string::npos) << out;
  EXPECT_EQ(out.find("Bad Name"), std::string::npos) << out;
  EXPECT_NE(out.find("<p>see other</p>"), std::string::npos) << out;
  EXPECT_EQ(up.requests(), 0);
  (*engine)->stop();
  EXPECT_EQ((*engine)->stats().bad_verdict_headers, 3u);
}

// mamori_http_requests_total and friends: each answered request is counted
// once under its site, method class, status class and verdict; the
// duration histogram sees each; the connection gauge returns to zero.
TEST(Engine, CountsRequestsPerSiteStatusAndVerdict) {
  TestUpstream up(false);
  uint16_t port = freePort();
  std::string seen_id;
  auto cfg = oneSite(port, up.port());
  auto engine = Engine::create(cfg, {1, blockPath("/admin", &seen_id)});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  roundTrip(port, "/admin");
  roundTrip(port, "/fine");
  roundTrip(port, "/fine");
  (*engine)->stop();
  const EngineStats s = (*engine)->stats();
  const std::string& tenant = cfg.tenants[0].id;
  const std::string& site = cfg.tenants[0].sites[0].name;
  auto count = [&](const char* status_class, const char* verdict) {
    std::uint64_t n = 0;
    for (const auto& r : s.requests_by_site)
      if (r.tenant == tenant && r.site == site && r.method_class == "get" &&
          r.status_class == status_class && r.verdict == verdict)
        n += r.count;
    return n;
  };
  EXPECT_EQ(count("4xx", "block"), 1u);
  EXPECT_EQ(count("2xx", "pass"), 2u);
  EXPECT_EQ(s.requests_by_site.size(), 2u);
  std::uint64_t timed = 0;
  for (auto n : s.duration_buckets) timed += n;
  EXPECT_EQ(timed, 3u);
  EXPECT_GT(s.duration_sum_seconds, 0.0);
  EXPECT_EQ(s.active_connections, 0u);
}

// The status observer (bot behaviour's 4xx share) sees every answered
// request once: local answers and proxied ones, with site and peer.
TEST(Engine, ResponseStatusObserverSeesEveryAnswer) {
  TestUpstream up(false);
  uint16_t port = freePort();
  std::string seen_id;
  auto cfg = oneSite(port, up.port());
  EngineOptions options{1, blockPath("/admin", &seen_id)};
  std::mutex mu;
  std::vector<std::string> seen;
  options.response_status = [&](const RequestContext& ctx, int status, bool set_cookie) {
    std::lock_guard lock(mu);
    seen.push_back(std::string(ctx.site) + " " + ctx.peer.toString() + " " +
                   std::to_string(status) + (set_cookie ? " cookie" : ""));
  };
  auto engine = Engine::create(cfg, options);
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  roundTrip(port, "/admin");
  roundTrip(port, "/fine");
  (*engine)->stop();
  const std::string site = cfg.tenants[0].sites[0].name;
  std::lock_guard lock(mu);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], site + " 127.0.0.1 403");
  EXPECT_EQ(seen[1], site + " 127.0.0.1 200");
}

TEST(Engine, DetectModeLetsBlockThrough) {
  TestUpstream up(false);
  uint16_t port = freePort();
  auto cfg = oneSite(port, up.port());
  cfg.tenants[0].sites[0].mode = config::SiteMode::Detect;
  std::string seen_id;
  // The hook is told (a chain of steps runs them all in detect mode).
  std::atomic<bool> told_detect{false};
  VerdictHook block = blockPath("/admin", &seen_id);
  auto engine = Engine::create(cfg, {1, [&](const http::Request& r, const RequestContext& ctx) {
                                       told_detect = ctx.detect_only;
                                       return block(r, ctx);
                                     }});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  auto out = roundTrip(port, "/admin");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_EQ(up.requests(), 1);
  EXPECT_TRUE(told_detect.load());
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

// The connection hook (EngineOptions::connection) hears who was refused
// over the source cap and who was cut by header_timeout after some bytes
// (slowloris) or by body_timeout (slow POST); a silent connection that
// times out before sending anything is not an event.
TEST(Engine, ConnectionHookReportsSourceCapAndSlowClients) {
  TestUpstream up(false);
  uint16_t port = freePort();
  auto cfg = oneSite(port, up.port());
  cfg.tenants[0].sites[0].limits.max_conns_per_source = 1;
  cfg.tenants[0].sites[0].limits.header_timeout = 1s;
  cfg.tenants[0].sites[0].limits.body_timeout = 1s;
  std::mutex mu;
  std::vector<std::pair<ConnectionEventKind, std::string>> events;
  EngineOptions options;
  options.workers = 1;
  options.connection = [&](const ConnectionEvent& e) {
    std::lock_guard lock(mu);
    events.emplace_back(e.kind, e.peer.toString() + " " + std::string(e.site));
  };
  auto engine = Engine::create(cfg, options);
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  auto count = [&](ConnectionEventKind kind) {
    std::lock_guard lock(mu);
    int n = 0;
    for (const auto& [k, who] : events) {
      if (k != kind) continue;
      EXPECT_EQ(who, "127.0.0.1 t");
      ++n;
    }
    return n;
  };
  // Slowloris: part of a head, then nothing; it also holds the one slot.
  int slow = connectTo(port);
  ASSERT_GE(slow, 0);
  const std::string partial = "GET / HTTP/1.1\r\nHost: t\r\nX-A: b\r\n";
  ASSERT_EQ(::send(slow, partial.data(), partial.size(), 0), static_cast<ssize_t>(partial.size()));
  std::this_thread::sleep_for(100ms);
  auto out = roundTrip(port, "/second");
  EXPECT_EQ(out.rfind("HTTP/1.1 503", 0), 0u) << out;
  EXPECT_EQ(count(ConnectionEventKind::OverSourceCap), 1);
  out = readAll(slow);  // until header_timeout answers 408 and closes
  ::close(slow);
  EXPECT_EQ(out.rfind("HTTP/1.1 408", 0), 0u) << out;
  EXPECT_EQ(count(ConnectionEventKind::HeaderTimeout), 1);
  // Slow POST: the head, then 3 of 100 body bytes.
  int post = connectTo(port);
  ASSERT_GE(post, 0);
  const std::string head = "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc";
  ASSERT_EQ(::send(post, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
  out = readAll(post);
  ::close(post);
  EXPECT_EQ(out.rfind("HTTP/1.1 408", 0), 0u) << out;
  EXPECT_EQ(count(ConnectionEventKind::BodyTimeout), 1);
  // A connection that never sends a byte is closed quietly: no event.
  int idle = connectTo(port);
  ASSERT_GE(idle, 0);
  readAll(idle);
  ::close(idle);
  (*engine)->stop();
  std::lock_guard lock(mu);
  EXPECT_EQ(events.size(), 3u);
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

// Sends one keep-alive request on `fd` and reads its "ok" answer.
bool keepAliveRequest(int fd, const std::string& path) {
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
    return false;
  std::string in;
  char buf[1024];
  while (in.find("\r\n\r\nok") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    in.append(buf, static_cast<size_t>(n));
  }
  return in.rfind("HTTP/1.1 200 OK\r\n", 0) == 0;
}

// RequestContext::connection_memo lives as long as the connection: what the
// hook leaves there on the first request is there on the next one, and a
// new connection starts with an empty memo.
TEST(Engine, ConnectionMemoLastsForTheConnection) {
  TestUpstream up(false);
  uint16_t port = freePort();
  std::vector<std::string> seen;  // per request: the memo's value before the hook set it
  std::mutex mu;
  int connection = 0;
  auto hook = [&](const http::Request&, const RequestContext& ctx) {
    std::lock_guard lock(mu);
    if (ctx.connection_memo == nullptr) {
      seen.push_back("no memo");
      return Verdict::pass();
    }
    auto& memo = *ctx.connection_memo;
    seen.push_back(memo ? *static_cast<std::string*>(memo.get()) : "empty");
    if (!memo) memo = std::make_shared<std::string>("conn" + std::to_string(++connection));
    return Verdict::pass();
  };
  auto engine = Engine::create(oneSite(port, up.port()), {1, hook});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  int a = connectTo(port);
  ASSERT_GE(a, 0);
  ASSERT_TRUE(keepAliveRequest(a, "/1"));
  ASSERT_TRUE(keepAliveRequest(a, "/2"));
  int b = connectTo(port);
  ASSERT_GE(b, 0);
  ASSERT_TRUE(keepAliveRequest(b, "/3"));
  ASSERT_TRUE(keepAliveRequest(a, "/4"));
  ::close(a);
  ::close(b);
  (*engine)->stop();
  EXPECT_EQ(seen, (std::vector<std::string>{"empty", "conn1", "empty", "conn1"}));
}

TEST(Engine, ReloadSendsNewConnectionsToNewSitesAndOldOnesFinish) {
  TestUpstream first(false);
  TestUpstream second(false);
  uint16_t port = freePort();
  auto engine = Engine::create(oneSite(port, first.port()), {});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  int old_conn = connectTo(port);
  ASSERT_GE(old_conn, 0);
  ASSERT_TRUE(keepAliveRequest(old_conn, "/before"));
  EXPECT_EQ(first.requests(), 1);

  auto st = (*engine)->reload(oneSite(port, second.port()));
  ASSERT_TRUE(st) << st.error().message;
  // The swap happens at the worker's next wake-up; a new connection made
  // after reload() returns may race it, so wait for the new upstream.
  for (int i = 0; i < 50 && second.requests() == 0; ++i) {
    auto out = roundTrip(port, "/after");
    ASSERT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
    if (second.requests() == 0) std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(second.requests(), 1);
  int before_old = first.requests();
  // The connection accepted before the reload stays on the old site.
  ASSERT_TRUE(keepAliveRequest(old_conn, "/still-old"));
  EXPECT_EQ(first.requests(), before_old + 1);
  EXPECT_EQ(second.requests(), 1);
  ::close(old_conn);
  (*engine)->stop();
}

TEST(Engine, ReloadRefusesChangedListeners) {
  TestUpstream up(false);
  uint16_t port = freePort();
  auto engine = Engine::create(oneSite(port, up.port()), {});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  uint16_t other = freePort();
  auto st = (*engine)->reload(oneSite(other, up.port()));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, EINVAL);
  EXPECT_NE(st.error().message.find("needs a restart"), std::string::npos) << st.error().message;
  auto out = roundTrip(port, "/ok");  // still serving the running config
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  (*engine)->stop();
}

// An upstream that answers the first request on each connection with
// keep-alive, then closes the connection when the second request arrives
// without answering it: what an upstream timing out an idle connection
// looks like to a proxy that wrote into it at that moment.
class DropSecondUpstream {
 public:
  DropSecondUpstream() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (true) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        timeval tv{3, 0};
        ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        std::string in;
        char buf[4096];
        int seen = 0;
        ssize_t n;
        while (seen < 2 && (n = ::recv(c, buf, sizeof buf, 0)) > 0) {
          in.append(buf, static_cast<size_t>(n));
          size_t end;
          while (seen < 2 && (end = in.find("\r\n\r\n")) != std::string::npos) {
            in.erase(0, end + 4);
            ++requests_;
            if (++seen == 1) {
              std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
              ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
            }
          }
        }
        ::close(c);
      }
    });
  }
  ~DropSecondUpstream() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  int requests() const { return requests_.load(); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// Sends `method` /path with keep-alive and returns the status line.
std::string statusOf(int fd, const std::string& method, const std::string& path) {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string in;
  char buf[2048];
  while (true) {
    auto head_end = in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      auto cl = in.find("Content-Length: ");
      size_t body = cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16));
      if (in.size() >= head_end + 4 + body) break;
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  return in.substr(0, in.find("\r\n"));
}

TEST(Engine, StalePooledConnectionRetriesIdempotentRequestOnFreshOne) {
  DropSecondUpstream up;
  uint16_t port = freePort();
  auto engine = Engine::create(oneSite(port, up.port()), {});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  int fd = connectTo(port);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(statusOf(fd, "GET", "/1"), "HTTP/1.1 200 OK");
  EXPECT_EQ(statusOf(fd, "GET", "/2"), "HTTP/1.1 200 OK");  // pooled one dropped it: retried
  EXPECT_EQ(up.requests(), 3);
  ::close(fd);
  (*engine)->stop();
  EXPECT_EQ((*engine)->stats().bad_gateway, 0u);
}

TEST(Engine, StalePooledConnectionDoesNotRetryPost) {
  DropSecondUpstream up;
  uint16_t port = freePort();
  auto engine = Engine::create(oneSite(port, up.port()), {});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  int fd = connectTo(port);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(statusOf(fd, "GET", "/1"), "HTTP/1.1 200 OK");
  // Within kUnsafeReuseMax the POST may take the pooled connection; the
  // upstream may have acted on it, so it is not sent twice.
  EXPECT_EQ(statusOf(fd, "POST", "/2"), "HTTP/1.1 502 Bad Gateway");
  EXPECT_EQ(up.requests(), 2);
  ::close(fd);
  (*engine)->stop();
}

}  // namespace
}  // namespace mamori::net
