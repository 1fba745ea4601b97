#include "admin/control_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "admin/control_protocol.h"

namespace mamori::admin {

using common::Error;
using common::errnoError;
using common::Result;

Result<int> callDaemon(const std::string& socket_path, const std::vector<std::string>& args,
                       const ControlReply& reply) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof(addr.sun_path))
    return Error{ENAMETOOLONG, "control socket path '" + socket_path + "' is empty or too long"};
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());

  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errnoError("socket(AF_UNIX)", errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    Error e = errnoError("connect to " + socket_path, errno);
    if (e.code == ENOENT || e.code == ECONNREFUSED)
      e.message += " (is mamorid running? --control-socket names another socket)";
    else if (e.code == EACCES)
      e.message += " (run as root or as a member of group mamori)";
    return e;
  }
  std::string request = encodeArgs(args);
  std::string_view pending = request;
  while (!pending.empty()) {
    ssize_t n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    // The daemon may answer and close before reading the call (it refuses
    // when busy): its reply is still queued for us, so go and read it.
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) break;
    if (n < 0) return errnoError("send to " + socket_path, errno);
    pending.remove_prefix(static_cast<size_t>(n));
  }

  FrameDecoder decoder;
  char buf[65536];
  for (;;) {
    for (;;) {
      auto frame = decoder.next();
      if (!frame) return frame.error();
      if (!frame->has_value()) break;
      Frame& f = **frame;
      switch (f.type) {
        case FrameType::Stdout:
          if (reply.on_stdout) reply.on_stdout(f.payload);
          break;
        case FrameType::Stderr:
          if (reply.on_stderr) reply.on_stderr(f.payload);
          break;
        case FrameType::Exit:
          return decodeExit(f.payload);
        case FrameType::Args:
          return Error{EPROTO, "control socket: unexpected frame from mamorid"};
      }
    }
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoError("read from " + socket_path, errno);
    if (n == 0) return Error{ECONNRESET, "mamorid closed the control connection mid-call"};
    decoder.feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

}  // namespace mamori::admin
