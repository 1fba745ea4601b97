#pragma once

// The control socket's wire format, shared by mamorid (ControlServer) and
// mamorictl (ControlClient). A call is the CLI's own argument vector: the
// client sends it in one Args frame, the daemon runs the command and streams
// Stdout / Stderr frames back, then one Exit frame with the exit code. The
// daemon parses the command, so mamorictl stays a thin client and every
// call, whatever its shape, reaches the one place that audits it.
//
// Frame: 1 byte type, 4 bytes payload length (little-endian), payload.
// Args payload: the arguments, each followed by a NUL. Exit payload: the
// code as 4 bytes little-endian. Pure functions; any thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace mamori::admin {

enum class FrameType : std::uint8_t { Args = 1, Stdout = 2, Stderr = 3, Exit = 4 };

// Largest payload either side accepts; a bigger length is a protocol error,
// so a hostile peer cannot make the other side allocate without bound.
inline constexpr std::size_t kMaxFramePayload = 1 << 20;
inline constexpr std::size_t kMaxArgs = 256;

struct Frame {
  FrameType type = FrameType::Stdout;
  std::string payload;
};

// Appends the encoding of one frame to `out`.
void appendFrame(std::string& out, FrameType type, std::string_view payload);
std::string encodeArgs(const std::vector<std::string>& args);
std::string encodeExit(int code);

// Incremental decoder: feed bytes as they arrive, take frames as they
// complete. A malformed stream (unknown type, oversized length) makes
// next() return an Error and the decoder stays failed.
class FrameDecoder {
 public:
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  // A complete frame, nullopt when more bytes are needed, or an Error.
  common::Result<std::optional<Frame>> next();
  bool empty() const { return buffer_.empty(); }

 private:
  std::string buffer_;
  bool failed_ = false;
};

// Splits an Args payload; fails on a missing final NUL or too many args.
common::Result<std::vector<std::string>> decodeArgs(std::string_view payload);
common::Result<int> decodeExit(std::string_view payload);

}  // namespace mamori::admin
