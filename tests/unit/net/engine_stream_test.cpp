// body_over_limit: inspect_prefix in a real engine (issue #4): the verdict
// hook sees the first max_body_bytes, then the whole body reaches the
// upstream byte-exact, as Content-Length or re-framed chunks, with
// back-pressure from a slow upstream; a Block closes without forwarding the
// rest; reject still answers 413; a slow sender is cut by body_timeout;
// keep-alive and pipelining go on after a streamed request. Real sockets on
// 127.0.0.1, one worker.

#include "net/engine.h"

#include "net_test_util.h"

#include <fcntl.h>
#include <poll.h>

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/request_parser.h"

namespace mamori::net {
namespace {

using namespace std::chrono_literals;
using namespace test_util;

constexpr std::size_t kPrefix = 64 * 1024;

// One request as the upstream parsed it (strict parser, no prefix policy).
struct Received {
  bool chunked = false;
  std::optional<std::uint64_t> content_length;
  std::string path;
  std::string body;
};

// An upstream that parses each request with mamori's own strict parser
// (so any framing mistake of the engine shows up as a rejected or missing
// request), keeps it, and answers "ok". A connection per thread, so
// several connections may be open. `stall` delays the first read on each
// connection (a slow upstream: back-pressure); `early` answers 401 as soon
// as the head is in, without waiting for the body (an upstream that
// refuses early), then closes.
class BodyUpstream {
 public:
  explicit BodyUpstream(std::chrono::milliseconds stall = 0ms, bool early = false)
      : stall_(stall), early_(early) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int small = 64 * 1024;  // inherited by accepted sockets: keeps kernel buffering modest
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { serve(); });
  }
  ~BodyUpstream() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    acceptor_.join();
    for (auto& t : conns_) t.join();
  }
  uint16_t port() const { return port_; }
  std::vector<Received> received() {
    std::lock_guard lock(mu_);
    return received_;
  }
  int connections() const { return connections_.load(); }
  // Connections that ended in the middle of a request (the engine cut it).
  int cut() const { return cut_.load(); }
  std::uint64_t bytesRead() const { return bytes_read_.load(); }

 private:
  void serve() {
    while (true) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++connections_;
      conns_.emplace_back([this, c] { handle(c); });
    }
  }

  void handle(int c) {
    timeval tv{10, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (stall_.count() > 0) std::this_thread::sleep_for(stall_);
    http::RequestLimits limits;
    limits.max_body_bytes = 128 * 1024 * 1024;
    http::RequestParser parser(limits);
    std::string in;
    std::vector<char> buf(256 * 1024);
    bool mid_request = false;
    while (true) {
      ssize_t n = ::recv(c, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      bytes_read_ += static_cast<std::uint64_t>(n);
      in.append(buf.data(), static_cast<std::size_t>(n));
      while (!in.empty()) {
        std::size_t used = 0;
        auto st = parser.feed(in, &used);
        if (st == http::ParseStatus::NeedMore) {
          in.clear();
          mid_request = true;
          if (early_ && parser.headersComplete()) {
            std::string resp = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope";
            ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
            // Lingering close, as servers do: closing with unread input
            // would reset the connection and could destroy the answer.
            ::shutdown(c, SHUT_WR);
            while (::recv(c, buf.data(), buf.size(), 0) > 0) {
            }
            ::close(c);
            return;
          }
          break;
        }
        if (st != http::ParseStatus::Done) {
          mid_request = true;
          in.clear();
          ::close(c);
          ++cut_;
          return;
        }
        in.erase(0, used);
        mid_request = false;
        const auto& r = parser.request();
        {
          std::lock_guard lock(mu_);
          received_.push_back({r.chunked, r.content_length, r.path, r.body});
        }
        parser.reset();
        std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      }
    }
    if (mid_request) ++cut_;
    ::close(c);
  }

  std::chrono::milliseconds stall_;
  bool early_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> conns_;  // acceptor thread only, joined in the destructor
  std::mutex mu_;
  std::vector<Received> received_;
  std::atomic<int> connections_{0};
  std::atomic<int> cut_{0};
  std::atomic<std::uint64_t> bytes_read_{0};
};

std::string pattern(std::size_t n, unsigned seed = 1) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    s[i] = static_cast<char>('a' + (x >> 24) % 26);
  }
  return s;
}

std::string chunked(std::string_view body) {
  std::string out;
  std::size_t i = 0, k = 0;
  static constexpr std::size_t kSizes[] = {1, 4000, 65536, 77, 100000, 9};
  while (i < body.size()) {
    std::string_view part = body.substr(i, kSizes[k++ % std::size(kSizes)]);
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", part.size());
    out += size;
    out += part;
    out += "\r\n";
    i += part.size();
  }
  return out + "0\r\n\r\n";
}

config::Config streamSite(uint16_t port, uint16_t up_port,
                          config::BodyOverLimit policy = config::BodyOverLimit::InspectPrefix) {
  auto cfg = oneSite(port, up_port);
  auto& limits = cfg.tenants[0].sites[0].limits;
  limits.max_body_bytes = kPrefix;
  limits.body_over_limit = policy;
  return cfg;
}

// What the verdict hook saw of each request.
struct Seen {
  std::mutex mu;
  std::vector<std::pair<std::size_t, bool>> bodies;  // (body size, truncated)
};

VerdictHook recordAndBlock(Seen* seen, std::string bad = "<script>") {
  return [seen, bad](const http::Request& r, const RequestContext&) {
    {
      std::lock_guard lock(seen->mu);
      seen->bodies.emplace_back(r.body.size(), r.body_truncated);
    }
    return r.body.find(bad) != std::string::npos ? Verdict::block(403) : Verdict::pass();
  };
}

// Sends `bytes` from a thread (blocking) while the caller reads the
// answer; returns everything received until the engine closes.
std::string sendAndRead(uint16_t port, const std::string& bytes) {
  int fd = connectTo(port);
  if (fd < 0) return "connect failed";
  std::thread sender([fd, &bytes] {
    std::size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;  // the engine answered and closed first
      off += static_cast<std::size_t>(n);
    }
  });
  std::string out = readAll(fd);
  sender.join();
  ::close(fd);
  return out;
}

std::string postHead(std::string_view path, std::string_view framing, bool close = true) {
  std::string h = "POST " + std::string(path) + " HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n";
  h += framing;
  if (close) h += "Connection: close\r\n";
  return h + "\r\n";
}

TEST(EngineStream, ContentLengthBodyReachesUpstreamByteExact) {
  BodyUpstream up;
  uint16_t port = freePort();
  Seen seen;
  auto engine = Engine::create(streamSite(port, up.port()), {1, recordAndBlock(&seen)});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  const std::string body = pattern(5 * 1024 * 1024);
  auto out = sendAndRead(port, postHead("/upload", "Content-Length: " + std::to_string(body.size()) + "\r\n") + body);
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out.substr(0, 200);
  auto got = up.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].chunked);
  EXPECT_EQ(got[0].content_length, body.size());
  EXPECT_TRUE(got[0].body == body) << "body differs, size " << got[0].body.size();
  {
    std::lock_guard lock(seen.mu);
    ASSERT_EQ(seen.bodies.size(), 1u);
    EXPECT_EQ(seen.bodies[0].first, kPrefix);
    EXPECT_TRUE(seen.bodies[0].second);
  }
  (*engine)->stop();
  EXPECT_EQ((*engine)->stats().streamed_bodies, 1u);
  EXPECT_EQ((*engine)->stats().proxied, 1u);
}

TEST(EngineStream, ChunkedBodyIsReframedAndReachesUpstreamByteExact) {
  BodyUpstream up;
  uint16_t port = freePort();
  Seen seen;
  auto engine = Engine::create(streamSite(port, up.port()), {1, recordAndBlock(&seen)});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  const std::string body = pattern(5 * 1024 * 1024, 2);
  auto out = sendAndRead(port, postHead("/chunks", "Transfer-Encoding: chunked\r\n") + chunked(body));
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out.substr(0, 200);
  auto got = up.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].chunked);
  EXPECT_FALSE(got[0].content_length.has_value());
  EXPECT_TRUE(got[0].body == body) << "body differs, size " << got[0].body.size();
  {
    std::lock_guard lock(seen.mu);
    ASSERT_EQ(seen.bodies.size(), 1u);
    EXPECT_EQ(seen.bodies[0].first, kPrefix);
  }
  (*engine)->stop();
  EXPECT_EQ((*engine)->stats().streamed_bodies, 1u);
}

TEST(EngineStream, AttackInPrefixIsBlockedAndRestNotForwarded) {
  BodyUpstream up;
  uint16_t port = freePort();
  Seen seen;
  auto engine = Engine::create(streamSite(port, up.port()), {1, recordAndBlock(&seen)});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  std::string body = pattern(1024 * 1024, 3);
  body.replace(1000, 8, "<script>");
  auto out = sendAndRead(port, postHead("/x", "Content-Length: " + std::to_string(body.size()) + "\r\n", false) + body);
  EXPECT_EQ(out.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << out.substr(0, 200);
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos) << out;
  (*engine)->stop();
  EXPECT_EQ(up.connections(), 0);
  EXPECT_EQ((*engine)->stats().blocked, 1u);
  EXPECT_EQ((*engine)->stats().streamed_bodies, 0u);
}

TEST(EngineStream, RejectPolicyStillAnswers413) {
  BodyUpstream up;
  uint16_t port = freePort();
  auto engine = Engine::create(streamSite(port, up.port(), config::BodyOverLimit::Reject), {1, {}});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  const std::string body = pattern(kPrefix + 1);
  auto out = sendAndRead(port, postHead("/x", "Content-Length: " + std::to_string(body.size()) + "\r\n") + body);
  EXPECT_EQ(out.rfind("HTTP/1.1 413 ", 0), 0u) << out.substr(0, 200);
  out = sendAndRead(port, postHead("/x", "Transfer-Encoding: chunked\r\n") + chunked(body));
  EXPECT_EQ(out.rfind("HTTP/1.1 413 ", 0), 0u) << out.substr(0, 200);
  (*engine)->stop();
  EXPECT_EQ(up.connections(), 0);
}

TEST(EngineStream, SlowSenderIsCutByBodyTimeout) {
  BodyUpstream up;
  uint16_t port = freePort();
  auto cfg = streamSite(port, up.port());
  cfg.tenants[0].sites[0].limits.body_timeout = 1s;
  auto engine = Engine::create(cfg, {1, {}});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  int fd = connectTo(port);
  ASSERT_GE(fd, 0);
  // Head, the prefix and a little more, then a trickle that never ends in time.
  std::string start = postHead("/slow", "Content-Length: 1000000\r\n") + pattern(kPrefix + 1000);
  ASSERT_EQ(::send(fd, start.data(), start.size(), MSG_NOSIGNAL), static_cast<ssize_t>(start.size()));
  auto t0 = std::chrono::steady_clock::now();
  std::string out;
  for (int i = 0; i < 40 && out.empty(); ++i) {
    ::send(fd, "abcd", 4, MSG_NOSIGNAL);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) out = readAll(fd);
  }
  auto took = std::chrono::steady_clock::now() - t0;
  ::close(fd);
  EXPECT_EQ(out.rfind("HTTP/1.1 408 ", 0), 0u) << out;
  EXPECT_GE(took, 800ms);
  EXPECT_LT(took, 3s);
  (*engine)->stop();
  EXPECT_EQ(up.received().size(), 0u);  // the upstream never saw a whole request
  EXPECT_EQ((*engine)->stats().client_timeouts, 1u);
}

TEST(EngineStream, KeepAliveAndPipeliningAfterStreamedRequest) {
  BodyUpstream up;
  uint16_t port = freePort();
  auto engine = Engine::create(streamSite(port, up.port()), {1, {}});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  const std::string a = pattern(300 * 1024, 4);
  const std::string b = pattern(200 * 1024, 5);
  // Three requests in one stream: streamed CL body, streamed chunked body,
  // then a GET that closes.
  std::string bytes = postHead("/a", "Content-Length: " + std::to_string(a.size()) + "\r\n", false) + a +
                      postHead("/b", "Transfer-Encoding: chunked\r\n", false) + chunked(b) +
                      "GET /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  auto out = sendAndRead(port, bytes);
  std::size_t oks = 0;
  for (std::size_t at = 0; (at = out.find("HTTP/1.1 200 OK\r\n", at)) != std::string::npos; ++at) ++oks;
  EXPECT_EQ(oks, 3u) << out;
  auto got = up.received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].path, "/a");
  EXPECT_TRUE(got[0].body == a);
  EXPECT_EQ(got[1].path, "/b");
  EXPECT_TRUE(got[1].body == b);
  EXPECT_EQ(got[2].path, "/c");
  (*engine)->stop();
  EXPECT_EQ((*engine)->stats().streamed_bodies, 2u);
}

TEST(EngineStream, SlowUpstreamHoldsBackTheClient) {
  // The upstream reads nothing for 1.5 s. Without back-pressure the engine
  // would swallow the whole 48 MiB; with it, the client can only fill the
  // kernel buffers and the engine's small bounds (about 5 MB here).
  BodyUpstream up(1500ms);
  uint16_t port = freePort();
  auto engine = Engine::create(streamSite(port, up.port()), {1, {}});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  const std::string body = pattern(48 * 1024 * 1024, 6);
  const std::string bytes = postHead("/big", "Content-Length: " + std::to_string(body.size()) + "\r\n") + body;
  int fd = connectTo(port);
  ASSERT_GE(fd, 0);
  int small = 64 * 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  std::size_t off = 0;
  auto until = std::chrono::steady_clock::now() + 1s;
  while (std::chrono::steady_clock::now() < until && off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) off += static_cast<std::size_t>(n);
    else std::this_thread::sleep_for(5ms);
  }
  EXPECT_LT(off, 16u * 1024 * 1024) << "the engine read far ahead of its upstream";
  while (off < bytes.size()) {  // now the upstream reads: the rest flows
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    ASSERT_GT(n, 0);
    off += static_cast<std::size_t>(n);
  }
  auto out = readAll(fd);
  ::close(fd);
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out.substr(0, 200);
  auto got = up.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].body == body) << "body differs, size " << got[0].body.size();
  (*engine)->stop();
}

TEST(EngineStream, BadChunkAfterPrefixIsRejectedAndUpstreamCut) {
  BodyUpstream up;
  uint16_t port = freePort();
  auto engine = Engine::create(streamSite(port, up.port()), {1, {}});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  std::string good = chunked(pattern(200 * 1024, 7));
  good.resize(good.size() - 5);  // drop the last-chunk
  // A chunk whose data is longer than its size says: the smuggling shape.
  std::string bytes = postHead("/x", "Transfer-Encoding: chunked\r\n") + good +
                      "3\r\nabcGET /evil HTTP/1.1\r\n\r\n0\r\n\r\n";
  auto out = sendAndRead(port, bytes);
  EXPECT_EQ(out.rfind("HTTP/1.1 400 ", 0), 0u) << out.substr(0, 200);
  (*engine)->stop();
  EXPECT_EQ(up.received().size(), 0u);
  EXPECT_EQ((*engine)->stats().rejected, 1u);
}

TEST(EngineStream, UpstreamAnsweringEarlyEndsTheConnection) {
  BodyUpstream up(0ms, /*early=*/true);
  uint16_t port = freePort();
  auto engine = Engine::create(streamSite(port, up.port()), {1, {}});
  ASSERT_TRUE(engine) << engine.error().message;
  (*engine)->start();
  const std::string body = pattern(8 * 1024 * 1024, 8);
  auto out = sendAndRead(port, postHead("/x", "Content-Length: " + std::to_string(body.size()) + "\r\n", false) + body);
  EXPECT_EQ(out.rfind("HTTP/1.1 401 Unauthorized\r\n", 0), 0u) << out.substr(0, 200);
  EXPECT_NE(out.find("nope"), std::string::npos);
  (*engine)->stop();
}

}  // namespace
}  // namespace mamori::net
