#pragma once

// The daemon's end of the control socket (DESIGN.md "Modules": admin). It
// listens on a Unix socket, takes one call per connection (the CLI's
// argument vector, control_protocol.h), hands it to the command handler on
// a thread of its own, streams the handler's output back and reports every
// finished call to the audit hook, whatever the handler did.
//
// Access control is the socket file: owned by root, group `mamori` (when
// that group exists), mode 0660, so only root and members of the group can
// connect. The kernel's SO_PEERCRED says who is calling (Caller).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace mamori::admin {

// Who made a call, from the kernel (SO_PEERCRED): cannot be forged.
struct Caller {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::int32_t pid = 0;
};

// One call in progress. Methods are for the handler, on its own thread.
class Call {
 public:
  virtual ~Call() = default;
  virtual const Caller& caller() const = 0;
  virtual const std::vector<std::string>& args() const = 0;
  // Stream text to the client's stdout / stderr. Returns false once the
  // client has gone; a handler should then stop.
  virtual bool out(std::string_view text) = 0;
  virtual bool err(std::string_view text) = 0;
  // True when the client hung up or the server is stopping: the signal for
  // long-running calls such as `logs tail -f` to return.
  virtual bool cancelled() = 0;
  // What the call changed, for the audit log: state before and after (free
  // text or JSON, short). Calls that change nothing leave them empty.
  std::string audit_before;
  std::string audit_after;
};

// Runs one command; returns the exit code (0 ok, 1 failure, 2 usage).
using CommandHandler = std::function<int(Call&)>;
// Told about every finished call (also failed and refused ones).
using AuditHook = std::function<void(const Caller&, const std::vector<std::string>& args,
                                     int exit_code, const std::string& before,
                                     const std::string& after)>;

struct ControlServerOptions {
  std::string path = "/run/mamori/control.sock";
  std::string group = "mamori";  // the socket's group; missing group: mode 0600
  unsigned max_clients = 16;     // concurrent calls; more are refused with exit 1
  int request_timeout_ms = 5000; // a client must send its call within this
};

class ControlServer {
 public:
  // Binds the socket (creating its directory, replacing a stale socket file
  // that nobody listens on; refusing one that a live daemon owns) and
  // starts the accept thread. Control plane; call from the main thread.
  static common::Result<std::unique_ptr<ControlServer>> start(const ControlServerOptions& options,
                                                              CommandHandler handler,
                                                              AuditHook audit);
  // Stops accepting, cancels running calls, joins every thread and removes
  // the socket file.
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Note about how the socket was set up ("group mamori missing: mode
  // 0600"), empty when as documented.
  const std::string& note() const { return note_; }
  const std::string& path() const { return path_; }

 private:
  ControlServer() = default;
  struct State;
  std::shared_ptr<State> state_;
  std::string note_;
  std::string path_;
};

}  // namespace mamori::admin
