#pragma once

// mamorictl's end of the control socket (control_protocol.h): sends one
// call and relays what the daemon streams back. Control plane; one call per
// object at a time.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace mamori::admin {

struct ControlReply {
  std::function<void(std::string_view)> on_stdout;
  std::function<void(std::string_view)> on_stderr;
};

// Connects to `socket_path`, sends `args` and feeds the daemon's output to
// `reply` as it arrives. Returns the call's exit code, or an Error when the
// daemon cannot be reached or the stream breaks (ENOENT/ECONNREFUSED: no
// mamorid listening there; EACCES: not root and not in the socket's group).
common::Result<int> callDaemon(const std::string& socket_path, const std::vector<std::string>& args,
                               const ControlReply& reply);

}  // namespace mamori::admin
