#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "admin/control_client.h"
#include "admin/control_protocol.h"
#include "admin/control_server.h"

namespace mamori::admin {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/mamori-admin-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct AuditRecord {
  Caller caller;
  std::vector<std::string> args;
  int code = -1;
  std::string before, after;
};

// Collects audit calls; wait() blocks until `n` arrived (audit runs on the
// call's thread, after the client already has its exit code).
class AuditLog {
 public:
  AuditHook hook() {
    return [this](const Caller& c, const std::vector<std::string>& a, int code,
                  const std::string& before, const std::string& after) {
      std::lock_guard lock(mu_);
      records_.push_back({c, a, code, before, after});
      cv_.notify_all();
    };
  }
  std::vector<AuditRecord> wait(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return records_.size() >= n; });
    return records_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<AuditRecord> records_;
};

struct Captured {
  std::string out, err;
  ControlReply reply() {
    return {[this](std::string_view s) { out += s; }, [this](std::string_view s) { err += s; }};
  }
};

int rawConnect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads frames until the Exit frame or EOF; returns the exit code (-1: none).
int readExit(int fd, std::string* err_text = nullptr) {
  FrameDecoder d;
  char buf[4096];
  for (;;) {
    auto f = d.next();
    if (!f) return -1;
    if (f->has_value()) {
      if ((*f)->type == FrameType::Stderr && err_text) *err_text += (*f)->payload;
      if ((*f)->type == FrameType::Exit) return *decodeExit((*f)->payload);
      continue;
    }
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return -1;
    d.feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

TEST(ControlProtocol, ArgsSurviveByteByByteDelivery) {
  std::vector<std::string> args = {"bans", "add", "192.0.2.1", "", "--ttl", "10m"};
  std::string wire = encodeArgs(args) + encodeExit(7);
  FrameDecoder d;
  std::vector<Frame> frames;
  for (char c : wire) {
    d.feed(std::string_view(&c, 1));
    auto f = d.next();
    ASSERT_TRUE(f.ok());
    if (f->has_value()) frames.push_back(**f);
  }
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].type, FrameType::Args);
  EXPECT_EQ(*decodeArgs(frames[0].payload), args);
  EXPECT_EQ(*decodeExit(frames[1].payload), 7);
}

TEST(ControlProtocol, RefusesUnknownTypesOversizedFramesAndBadArgs) {
  FrameDecoder unknown;
  unknown.feed(std::string("\x09\x00\x00\x00\x00", 5));
  EXPECT_FALSE(unknown.next().ok());
  EXPECT_FALSE(unknown.next().ok()) << "a broken stream stays broken";

  FrameDecoder huge;
  huge.feed(std::string("\x01\xff\xff\xff\x7f", 5));
  auto r = huge.next();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("over the limit"), std::string::npos);

  EXPECT_FALSE(decodeArgs(std::string("abc", 3)).ok()) << "missing final NUL";
  EXPECT_FALSE(decodeExit("12").ok());
  std::string many;
  for (size_t i = 0; i <= kMaxArgs; ++i) many += std::string("x") + '\0';
  EXPECT_FALSE(decodeArgs(many).ok());
}

TEST(ControlServer, RunsTheCallAndAuditsIt) {
  TempDir dir;
  AuditLog audit;
  ControlServerOptions opt;
  opt.path = dir.file("run/control.sock");  // the directory is created
  auto server = ControlServer::start(
      opt,
      [](Call& call) {
        std::string joined;
        for (const auto& a : call.args()) joined += "[" + a + "]";
        call.out(joined + "\n");
        call.err("uid " + std::to_string(call.caller().uid) + "\n");
        call.audit_before = "before";
        call.audit_after = "after";
        return 3;
      },
      audit.hook());
  ASSERT_TRUE(server.ok()) << server.error().message;

  Captured got;
  auto code = callDaemon(opt.path, {"bans", "add", "192.0.2.1"}, got.reply());
  ASSERT_TRUE(code.ok()) << code.error().message;
  EXPECT_EQ(*code, 3);
  EXPECT_EQ(got.out, "[bans][add][192.0.2.1]\n");
  EXPECT_EQ(got.err, "uid " + std::to_string(::getuid()) + "\n");

  auto records = audit.wait(1);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].caller.uid, ::getuid());
  EXPECT_EQ(records[0].caller.pid, ::getpid());
  EXPECT_EQ(records[0].args, (std::vector<std::string>{"bans", "add", "192.0.2.1"}));
  EXPECT_EQ(records[0].code, 3);
  EXPECT_EQ(records[0].before, "before");
  EXPECT_EQ(records[0].after, "after");
}

TEST(ControlServer, LargeOutputArrivesWhole) {
  TempDir dir;
  ControlServerOptions opt;
  opt.path = dir.file("c.sock");
  std::string big(3 * kMaxFramePayload + 17, 'x');
  auto server = ControlServer::start(opt, [&](Call& call) { return call.out(big) ? 0 : 1; }, {});
  ASSERT_TRUE(server.ok());
  Captured got;
  auto code = callDaemon(opt.path, {"logs", "export"}, got.reply());
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
  EXPECT_EQ(got.out, big);
}

TEST(ControlServer, SocketIsPrivateWithoutTheGroup) {
  TempDir dir;
  ControlServerOptions opt;
  opt.path = dir.file("c.sock");
  opt.group = "mamori-no-such-group-for-test";
  auto server = ControlServer::start(opt, [](Call&) { return 0; }, {});
  ASSERT_TRUE(server.ok());
  struct stat sb {};
  ASSERT_EQ(::stat(opt.path.c_str(), &sb), 0);
  EXPECT_TRUE(S_ISSOCK(sb.st_mode));
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  EXPECT_NE((*server)->note().find("does not exist"), std::string::npos);
}

TEST(ControlServer, SocketIsGroupReadableWithTheGroup) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown the socket";
  group* g = ::getgrgid(::getegid());
  ASSERT_NE(g, nullptr);
  TempDir dir;
  ControlServerOptions opt;
  opt.path = dir.file("c.sock");
  opt.group = g->gr_name;
  auto server = ControlServer::start(opt, [](Call&) { return 0; }, {});
  ASSERT_TRUE(server.ok());
  struct stat sb {};
  ASSERT_EQ(::stat(opt.path.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0660u);
  EXPECT_EQ(sb.st_uid, 0u);
  EXPECT_EQ(sb.st_gid, g->gr_gid);
  EXPECT_TRUE((*server)->note().empty());
}

TEST(ControlServer, RefusesALiveSocketReplacesAStaleOneRemovesItsOwn) {
  TempDir dir;
  ControlServerOptions opt;
  opt.path = dir.file("c.sock");
  {
    auto first = ControlServer::start(opt, [](Call&) { return 0; }, {});
    ASSERT_TRUE(first.ok());
    auto second = ControlServer::start(opt, [](Call&) { return 0; }, {});
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, EADDRINUSE);
  }
  EXPECT_FALSE(std::filesystem::exists(opt.path)) << "a stopped server removes its socket";

  // A socket file left by a killed daemon: bound, never listened on.
  int stale = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, opt.path.c_str());
  ASSERT_EQ(::bind(stale, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(stale);
  auto third = ControlServer::start(opt, [](Call&) { return 0; }, {});
  EXPECT_TRUE(third.ok()) << third.error().message;

  std::string regular = dir.file("plain");
  std::FILE* f = std::fopen(regular.c_str(), "w");
  std::fclose(f);
  opt.path = regular;
  auto fourth = ControlServer::start(opt, [](Call&) { return 0; }, {});
  ASSERT_FALSE(fourth.ok());
  EXPECT_TRUE(std::filesystem::exists(regular)) << "never deletes a file that is not a socket";
}

TEST(ControlServer, GarbageAndSilentClientsAreRefusedAndAudited) {
  TempDir dir;
  AuditLog audit;
  ControlServerOptions opt;
  opt.path = dir.file("c.sock");
  opt.request_timeout_ms = 200;
  std::atomic<int> handled{0};
  auto server = ControlServer::start(opt, [&](Call&) { return ++handled, 0; }, audit.hook());
  ASSERT_TRUE(server.ok());

  int bad = rawConnect(opt.path);
  ASSERT_GE(bad, 0);
  ASSERT_EQ(::send(bad, "\x07garbage", 8, MSG_NOSIGNAL), 8);
  std::string err;
  EXPECT_EQ(readExit(bad, &err), 2);
  EXPECT_NE(err.find("unknown frame type"), std::string::npos) << err;
  ::close(bad);

  int silent = rawConnect(opt.path);
  ASSERT_GE(silent, 0);
  err.clear();
  EXPECT_EQ(readExit(silent, &err), 2);
  EXPECT_NE(err.find("timeout"), std::string::npos) << err;
  ::close(silent);

  // A probe (connect, then close without a byte) is not a call: no audit.
  int probe = rawConnect(opt.path);
  ASSERT_GE(probe, 0);
  ::close(probe);

  Captured got;
  auto code = callDaemon(opt.path, {"status"}, got.reply());
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
  EXPECT_EQ(handled.load(), 1);
  auto records = audit.wait(3);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].code, 2);
  EXPECT_TRUE(records[0].args.empty());
}

TEST(ControlServer, StreamingCallEndsWhenTheClientLeaves) {
  TempDir dir;
  AuditLog audit;
  ControlServerOptions opt;
  opt.path = dir.file("c.sock");
  auto server = ControlServer::start(
      opt,
      [](Call& call) {
        while (!call.cancelled()) {
          call.out("line\n");
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return 0;
      },
      audit.hook());
  ASSERT_TRUE(server.ok());
  int fd = rawConnect(opt.path);
  ASSERT_GE(fd, 0);
  std::string req = encodeArgs({"logs", "tail", "-f"});
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  char buf[64];
  ASSERT_GT(::recv(fd, buf, sizeof(buf), 0), 0) << "the call streams";
  ::close(fd);
  auto records = audit.wait(1);
  ASSERT_EQ(records.size(), 1u) << "the handler returned after the client left";
  EXPECT_EQ(records[0].args[1], "tail");
}

TEST(ControlServer, StoppingCancelsRunningCallsAndCapsConcurrency) {
  TempDir dir;
  ControlServerOptions opt;
  opt.path = dir.file("c.sock");
  opt.max_clients = 1;
  std::atomic<bool> running{false};
  auto server = ControlServer::start(
      opt,
      [&](Call& call) {
        running = true;
        while (!call.cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return 0;
      },
      {});
  ASSERT_TRUE(server.ok());
  int fd = rawConnect(opt.path);
  std::string req = encodeArgs({"logs", "tail", "-f"});
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  while (!running) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  Captured got;
  auto code = callDaemon(opt.path, {"status"}, got.reply());
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 1);
  EXPECT_NE(got.err.find("too many"), std::string::npos);

  server->reset();  // must return although the tail call never ends by itself
  EXPECT_EQ(readExit(fd), 0);
  ::close(fd);
}

TEST(ControlClient, SaysWhenNoDaemonListens) {
  TempDir dir;
  Captured got;
  auto code = callDaemon(dir.file("none.sock"), {"status"}, got.reply());
  ASSERT_FALSE(code.ok());
  EXPECT_EQ(code.error().code, ENOENT);
  EXPECT_NE(code.error().message.find("is mamorid running"), std::string::npos);
}

}  // namespace
}  // namespace mamori::admin
