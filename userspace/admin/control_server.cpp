#include "admin/control_server.h"

#include <grp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <list>
#include <mutex>
#include <thread>

#include "admin/control_protocol.h"

namespace mamori::admin {

using common::Error;
using common::errnoError;
using common::Result;

namespace {

bool sendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

Result<sockaddr_un> unixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return Error{ENAMETOOLONG, "control socket path '" + path + "' is empty or too long"};
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// True when some process accepts connections on the socket at `path`.
bool someoneListens(const sockaddr_un& addr) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return live;
}

}  // namespace

struct ControlServer::State {
  int listen_fd = -1;
  int stop_fd = -1;  // eventfd, readable once stopping
  std::atomic<bool> stopping{false};
  CommandHandler handler;
  AuditHook audit;
  ControlServerOptions options;
  std::thread acceptor;

  struct Connection {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  std::mutex mu;  // guards connections (control plane only)
  std::list<Connection> connections;

  ~State() {
    if (listen_fd >= 0) ::close(listen_fd);
    if (stop_fd >= 0) ::close(stop_fd);
  }

  void reapFinished() {
    std::lock_guard lock(mu);
    for (auto it = connections.begin(); it != connections.end();) {
      if (it->done.load()) {
        it->thread.join();
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
  }

  void acceptLoop();
  void serve(int fd, std::atomic<bool>& done);
};

namespace {

class SocketCall final : public Call {
 public:
  SocketCall(int fd, int stop_fd, const std::atomic<bool>& stopping, Caller caller,
             std::vector<std::string> args)
      : fd_(fd), stop_fd_(stop_fd), stopping_(stopping), caller_(caller), args_(std::move(args)) {}

  const Caller& caller() const override { return caller_; }
  const std::vector<std::string>& args() const override { return args_; }
  bool out(std::string_view text) override { return write(FrameType::Stdout, text); }
  bool err(std::string_view text) override { return write(FrameType::Stderr, text); }

  bool cancelled() override {
    if (gone_ || stopping_.load()) return true;
    // The client sends nothing after its call: readable means it hung up.
    pollfd p[2] = {{fd_, POLLIN | POLLRDHUP, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(p, 2, 0) > 0 && (p[0].revents || p[1].revents)) gone_ = true;
    return gone_;
  }

  bool write(FrameType type, std::string_view text) {
    if (gone_) return false;
    while (!text.empty()) {
      std::string_view chunk = text.substr(0, kMaxFramePayload);
      std::string frame;
      appendFrame(frame, type, chunk);
      if (!sendAll(fd_, frame)) {
        gone_ = true;
        return false;
      }
      text.remove_prefix(chunk.size());
    }
    return true;
  }

 private:
  int fd_;
  int stop_fd_;
  const std::atomic<bool>& stopping_;
  Caller caller_;
  std::vector<std::string> args_;
  bool gone_ = false;
};

// Reads the one Args frame of a call, waiting at most `timeout_ms` overall.
Result<std::vector<std::string>> readCall(int fd, int stop_fd, int timeout_ms) {
  FrameDecoder decoder;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  bool got_bytes = false;
  for (;;) {
    auto frame = decoder.next();
    if (!frame) return frame.error();
    if (frame->has_value()) {
      if ((*frame)->type != FrameType::Args)
        return Error{EPROTO, "control socket: expected the call's arguments first"};
      return decodeArgs((*frame)->payload);
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return Error{ETIMEDOUT, "control socket: no call within the timeout"};
    pollfd p[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int r = ::poll(p, 2, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errnoError("poll control connection", errno);
    if (p[1].revents) return Error{ECANCELED, "control socket: server stopping"};
    if (r == 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoError("read control connection", errno);
    if (n == 0 && !got_bytes)
      return Error{ECONNRESET, "control socket: client closed before its call"};
    if (n == 0) return Error{EPROTO, "control socket: client closed in the middle of its call"};
    got_bytes = true;
    decoder.feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

}  // namespace

void ControlServer::State::serve(int fd, std::atomic<bool>& done) {
  Caller caller;
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    caller.uid = cred.uid;
    caller.gid = cred.gid;
    caller.pid = cred.pid;
  }
  auto args = readCall(fd, stop_fd, options.request_timeout_ms);
  if (!args && args.error().code == ECONNRESET) {
    // Connected and left without a byte: a liveness probe (a starting
    // mamorid checking whether the socket is in use), not a call.
  } else if (!args) {
    // A broken or silent client gets a reason if it is still there; it is
    // audited too, because a refused call is an admin action attempt.
    std::string reply;
    appendFrame(reply, FrameType::Stderr, "mamorid: " + args.error().message + "\n");
    reply += encodeExit(2);
    sendAll(fd, reply);
    if (audit) audit(caller, {}, 2, "", "");
  } else {
    SocketCall call(fd, stop_fd, stopping, caller, std::move(*args));
    int code = handler ? handler(call) : 1;
    sendAll(fd, encodeExit(code));  // fails harmlessly if the client is gone
    if (audit) audit(caller, call.args(), code, call.audit_before, call.audit_after);
  }
  ::close(fd);
  done.store(true);
}

void ControlServer::State::acceptLoop() {
  while (!stopping.load()) {
    pollfd p[2] = {{listen_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int r = ::poll(p, 2, 1000);
    if (r < 0 && errno != EINTR) break;
    reapFinished();
    if (r <= 0 || p[1].revents) continue;
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lock(mu);
    if (connections.size() >= options.max_clients) {
      std::string reply;
      appendFrame(reply, FrameType::Stderr, "mamorid: too many control connections, try again\n");
      reply += encodeExit(1);
      sendAll(fd, reply);
      ::close(fd);
      continue;
    }
    auto& c = connections.emplace_back();
    c.thread = std::thread([this, fd, &done = c.done] { serve(fd, done); });
  }
}

Result<std::unique_ptr<ControlServer>> ControlServer::start(const ControlServerOptions& options,
                                                            CommandHandler handler,
                                                            AuditHook audit) {
  auto addr = unixAddress(options.path);
  if (!addr) return addr.error();
  std::unique_ptr<ControlServer> server(new ControlServer());
  server->path_ = options.path;
  auto st = std::make_shared<State>();
  st->options = options;
  st->handler = std::move(handler);
  st->audit = std::move(audit);

  const std::filesystem::path dir = std::filesystem::path(options.path).parent_path();
  std::error_code ec;
  if (!dir.empty()) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return Error{ec.value(), "create " + dir.string() + ": " + ec.message()};
  }
  struct stat sb {};
  if (::lstat(options.path.c_str(), &sb) == 0) {
    if (!S_ISSOCK(sb.st_mode))
      return Error{EEXIST, options.path + " exists and is not a socket; not replacing it"};
    if (someoneListens(*addr))
      return Error{EADDRINUSE, options.path + " is in use by a running mamorid"};
    ::unlink(options.path.c_str());  // stale: its daemon is gone
  }

  st->listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (st->listen_fd < 0) return errnoError("socket(AF_UNIX)", errno);
  // Bind with a restrictive umask so the socket is never briefly open to
  // everyone before the chmod below.
  mode_t old_mask = ::umask(0177);
  int bound = ::bind(st->listen_fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr));
  int bind_errno = errno;
  ::umask(old_mask);
  if (bound != 0) return errnoError("bind " + options.path, bind_errno);

  mode_t mode = 0600;
  if (!options.group.empty()) {
    group gr{}, *found = nullptr;
    std::vector<char> buf(16384);
    if (::getgrnam_r(options.group.c_str(), &gr, buf.data(), buf.size(), &found) == 0 && found) {
      if (::chown(options.path.c_str(), 0, found->gr_gid) == 0) mode = 0660;
      else server->note_ = "cannot give " + options.path + " to group " + options.group + ": " +
                           std::strerror(errno) + "; mode 0600 (root only)";
    } else {
      server->note_ = "group " + options.group + " does not exist; " + options.path +
                      " is mode 0600 (root only)";
    }
  }
  if (::chmod(options.path.c_str(), mode) != 0) {
    int e = errno;
    ::unlink(options.path.c_str());
    return errnoError("chmod " + options.path, e);
  }
  if (::listen(st->listen_fd, 64) != 0) {
    int e = errno;
    ::unlink(options.path.c_str());
    return errnoError("listen " + options.path, e);
  }
  st->stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (st->stop_fd < 0) {
    int e = errno;
    ::unlink(options.path.c_str());
    return errnoError("eventfd", e);
  }
  st->acceptor = std::thread([raw = st.get()] { raw->acceptLoop(); });
  server->state_ = std::move(st);
  return server;
}

ControlServer::~ControlServer() {
  if (!state_) return;
  state_->stopping.store(true);
  std::uint64_t one = 1;
  (void)!::write(state_->stop_fd, &one, sizeof(one));
  if (state_->acceptor.joinable()) state_->acceptor.join();
  {
    std::lock_guard lock(state_->mu);
    for (auto& c : state_->connections) c.thread.join();
    state_->connections.clear();
  }
  ::unlink(path_.c_str());
}

}  // namespace mamori::admin
