// Engine features the login guard needs (issue #7): local answers with
// Retry-After, a delay before forwarding on the worker's timer heap, and the
// response hook on watched requests (status, headers, decoded body prefix,
// Accept-Encoding stripped, the response held for the hook's delay). Real
// sockets on 127.0.0.1, one worker.

#include "net/engine.h"

#include "net_test_util.h"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <thread>

namespace mamori::net {
namespace {

using namespace std::chrono_literals;
using namespace test_util;

// Answers every request on a connection with `response`, and keeps the
// text of each request head it got. One connection at a time.
class ScriptedUpstream {
 public:
  // `close_after`: close the connection after each answer (a response cut
  // short when its framing promised more).
  explicit ScriptedUpstream(std::string response, bool close_after = false)
      : response_(std::move(response)), close_after_(close_after) {
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
  ~ScriptedUpstream() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::vector<std::string> heads() {
    std::lock_guard lock(mu_);
    return heads_;
  }
  std::vector<std::chrono::steady_clock::time_point> arrivals() {
    std::lock_guard lock(mu_);
    return arrivals_;
  }

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
          {
            std::lock_guard lock(mu_);
            heads_.push_back(in.substr(0, end));
            arrivals_.push_back(std::chrono::steady_clock::now());
          }
          in.erase(0, end + 4);  // test requests carry no body
          ::send(c, response_.data(), response_.size(), MSG_NOSIGNAL);
        }
        if (close_after_ && !heads().empty()) break;
      }
      ::close(c);
    }
  }
  std::string response_;
  bool close_after_ = false;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<std::string> heads_;
  std::vector<std::chrono::steady_clock::time_point> arrivals_;
  std::thread thread_;
};

std::string get(uint16_t port, const std::string& path, const std::string& extra = {}) {
  int fd = connectTo(port);
  if (fd < 0) return "connect failed";
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: t\r\n" + extra + "Connection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  auto out = readAll(fd);
  ::close(fd);
  return out;
}

// What the response hook saw, copied out of the worker thread.
struct Seen {
  std::mutex mu;
  int calls = 0;
  int status = 0;
  std::string marker_header;
  std::string body;
  bool complete = false;
  std::string token;
  std::string site;
};

EngineOptions watchAll(Seen* seen, std::chrono::milliseconds hold = 0ms) {
  EngineOptions o;
  o.workers = 1;
  o.verdict = [](const http::Request& r, const RequestContext&) {
    Verdict v;
    if (r.path == "/login") v.watch = std::make_shared<std::string>("token-" + r.path);
    return v;
  };
  o.response = [seen, hold](const std::shared_ptr<void>& watch, const ResponseView& resp,
                            const RequestContext& ctx) {
    std::lock_guard lock(seen->mu);
    ++seen->calls;
    seen->status = resp.status;
    auto h = http::findHeader(*resp.headers, "x-marker");
    seen->marker_header = h ? std::string(*h) : "";
    seen->body = std::string(resp.body_prefix);
    seen->complete = resp.body_complete;
    seen->token = *static_cast<std::string*>(watch.get());
    seen->site = std::string(ctx.site);
    return ResponseAction{hold};
  };
  return o;
}

TEST(EngineWatch, BlockCarriesRetryAfter) {
  ScriptedUpstream up("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  uint16_t port = freePort();
  EngineOptions o;
  o.workers = 1;
  o.verdict = [](const http::Request&, const RequestContext&) {
    Verdict v = Verdict::block(429);
    v.retry_after = 60s;
    return v;
  };
  auto engine = Engine::create(oneSite(port, up.port()), o);
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  auto out = get(port, "/login");
  EXPECT_EQ(out.rfind("HTTP/1.1 429 Too Many Requests\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("\r\nRetry-After: 60\r\n"), std::string::npos) << out;
  EXPECT_TRUE(up.heads().empty());
  (*engine)->stop();
}

TEST(EngineWatch, BlockWithoutRetryAfterHasNoHeader) {
  ScriptedUpstream up("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  uint16_t port = freePort();
  EngineOptions o;
  o.workers = 1;
  o.verdict = [](const http::Request&, const RequestContext&) { return Verdict::block(403); };
  auto engine = Engine::create(oneSite(port, up.port()), o);
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  auto out = get(port, "/x");
  EXPECT_EQ(out.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << out;
  EXPECT_EQ(out.find("Retry-After"), std::string::npos) << out;
  (*engine)->stop();
}

TEST(EngineWatch, VerdictDelayHoldsForwardingWithoutStallingTheWorker) {
  ScriptedUpstream up("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  uint16_t port = freePort();
  EngineOptions o;
  o.workers = 1;
  o.verdict = [](const http::Request& r, const RequestContext&) {
    Verdict v;
    if (r.path == "/slow") v.delay = 400ms;
    return v;
  };
  auto engine = Engine::create(oneSite(port, up.port()), o);
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  auto t0 = std::chrono::steady_clock::now();
  std::string slow;
  std::thread delayed([&] { slow = get(port, "/slow"); });
  std::this_thread::sleep_for(50ms);  // the delayed request is waiting now
  // The one worker still answers others while the delay runs.
  auto fast = get(port, "/fast");
  auto fast_took = std::chrono::steady_clock::now() - t0;
  delayed.join();
  auto slow_took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(fast.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << fast;
  EXPECT_EQ(slow.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << slow;
  EXPECT_LT(fast_took, 350ms);
  EXPECT_GE(slow_took, 400ms);
  EXPECT_LT(slow_took, 3s);
  auto heads = up.heads();
  ASSERT_EQ(heads.size(), 2u);
  EXPECT_EQ(heads[0].rfind("GET /fast ", 0), 0u);  // the delayed one reached the upstream last
  EXPECT_EQ(heads[1].rfind("GET /slow ", 0), 0u);
  (*engine)->stop();
  EXPECT_EQ((*engine)->stats().delayed, 1u);
}

TEST(EngineWatch, ResponseHookSeesStatusHeadersAndDechunkedBody) {
  const std::string resp =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Marker: login-form\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  ScriptedUpstream up(resp);
  uint16_t port = freePort();
  Seen seen;
  auto engine = Engine::create(oneSite(port, up.port()), watchAll(&seen));
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  auto out = get(port, "/login", "Accept-Encoding: gzip, br\r\n");
  // The client gets the upstream's bytes unchanged.
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), std::string::npos) << out;
  {
    std::lock_guard lock(seen.mu);
    EXPECT_EQ(seen.calls, 1);
    EXPECT_EQ(seen.status, 200);
    EXPECT_EQ(seen.marker_header, "login-form");
    EXPECT_EQ(seen.body, "hello world");
    EXPECT_TRUE(seen.complete);
    EXPECT_EQ(seen.token, "token-/login");
    EXPECT_EQ(seen.site, "t");
  }
  // Unwatched requests keep Accept-Encoding and do not call the hook.
  out = get(port, "/page", "Accept-Encoding: gzip\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  auto heads = up.heads();
  ASSERT_EQ(heads.size(), 2u);
  EXPECT_EQ(heads[0].find("Accept-Encoding"), std::string::npos) << heads[0];
  EXPECT_NE(heads[1].find("Accept-Encoding: gzip"), std::string::npos) << heads[1];
  (*engine)->stop();
  std::lock_guard lock(seen.mu);
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ((*engine)->stats().watched, 1u);
}

TEST(EngineWatch, HookSeesAtMost64KiBAndTheClientGetsTheWholeBody) {
  std::string body(200 * 1024, 'x');
  for (std::size_t i = 0; i < body.size(); i += 1000) body[i] = static_cast<char>('a' + (i / 1000) % 26);
  ScriptedUpstream up("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\n\r\n" + body);
  uint16_t port = freePort();
  Seen seen;
  auto engine = Engine::create(oneSite(port, up.port()), watchAll(&seen));
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  auto out = get(port, "/login");
  auto at = out.find("\r\n\r\n");
  ASSERT_NE(at, std::string::npos) << out.substr(0, 200);
  EXPECT_EQ(out.substr(at + 4), body);
  std::lock_guard lock(seen.mu);
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ(seen.body, body.substr(0, kWatchedBodyBytes));
  EXPECT_FALSE(seen.complete);
  (*engine)->stop();
}

TEST(EngineWatch, HookDelayHoldsTheResponse) {
  ScriptedUpstream up("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfail");
  uint16_t port = freePort();
  Seen seen;
  auto engine = Engine::create(oneSite(port, up.port()), watchAll(&seen, 400ms));
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  auto t0 = std::chrono::steady_clock::now();
  auto out = get(port, "/login");
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("\r\n\r\nfail"), std::string::npos) << out;
  EXPECT_GE(took, 400ms);
  EXPECT_LT(took, 3s);
  // An unwatched request is not held.
  t0 = std::chrono::steady_clock::now();
  out = get(port, "/page");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 350ms);
  (*engine)->stop();
  EXPECT_EQ((*engine)->stats().delayed, 1u);
}

TEST(EngineWatch, KeepAliveConnectionCarriesWatchedThenPlainRequests) {
  ScriptedUpstream up("HTTP/1.1 401 Unauthorized\r\nContent-Length: 3\r\n\r\nbad");
  uint16_t port = freePort();
  Seen seen;
  auto engine = Engine::create(oneSite(port, up.port()), watchAll(&seen, 100ms));
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  int fd = connectTo(port);
  ASSERT_GE(fd, 0);
  // Pipelined: the second request waits until the held first answer is out.
  std::string req = "GET /login HTTP/1.1\r\nHost: t\r\n\r\nGET /page HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  auto out = readAll(fd);
  ::close(fd);
  auto first = out.find("HTTP/1.1 401");
  auto second = out.find("HTTP/1.1 401", first + 1);
  EXPECT_EQ(first, 0u) << out;
  EXPECT_NE(second, std::string::npos) << out;
  std::lock_guard lock(seen.mu);
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ(seen.status, 401);
  EXPECT_EQ(seen.body, "bad");
  (*engine)->stop();
}

TEST(EngineWatch, UpstreamCutWhileHeldIs502WithoutAHookCall) {
  // Promises 100 bytes, sends 10, closes: nothing was relayed yet, so the
  // client gets a clean 502 rather than half a response.
  ScriptedUpstream up("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", true);
  uint16_t port = freePort();
  Seen seen;
  auto engine = Engine::create(oneSite(port, up.port()), watchAll(&seen));
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  auto out = get(port, "/login");
  EXPECT_EQ(out.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0), 0u) << out;
  EXPECT_EQ(out.find("0123456789"), std::string::npos) << out;
  (*engine)->stop();
  std::lock_guard lock(seen.mu);
  EXPECT_EQ(seen.calls, 0);
  EXPECT_EQ((*engine)->stats().bad_gateway, 1u);
}

TEST(EngineWatch, BodylessResponseStillCallsTheHook) {
  ScriptedUpstream up("HTTP/1.1 204 No Content\r\nX-Marker: empty\r\n\r\n");
  uint16_t port = freePort();
  Seen seen;
  auto engine = Engine::create(oneSite(port, up.port()), watchAll(&seen));
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  auto out = get(port, "/login");
  EXPECT_EQ(out.rfind("HTTP/1.1 204 No Content\r\n", 0), 0u) << out;
  (*engine)->stop();
  std::lock_guard lock(seen.mu);
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ(seen.status, 204);
  EXPECT_EQ(seen.marker_header, "empty");
  EXPECT_TRUE(seen.body.empty());
  EXPECT_TRUE(seen.complete);
}

}  // namespace
}  // namespace mamori::net
