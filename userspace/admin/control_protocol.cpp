#include "admin/control_protocol.h"

#include <cerrno>

namespace mamori::admin {

using common::Error;
using common::Result;

namespace {

void appendU32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint32_t readU32(std::string_view bytes) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[static_cast<size_t>(i)]))
         << (8 * i);
  return v;
}

bool knownType(std::uint8_t t) { return t >= 1 && t <= 4; }

}  // namespace

void appendFrame(std::string& out, FrameType type, std::string_view payload) {
  out.push_back(static_cast<char>(type));
  appendU32(out, static_cast<std::uint32_t>(payload.size()));
  out.append(payload);
}

std::string encodeArgs(const std::vector<std::string>& args) {
  std::string payload;
  for (const auto& a : args) {
    payload += a;
    payload.push_back('\0');
  }
  std::string out;
  appendFrame(out, FrameType::Args, payload);
  return out;
}

std::string encodeExit(int code) {
  std::string payload;
  appendU32(payload, static_cast<std::uint32_t>(code));
  std::string out;
  appendFrame(out, FrameType::Exit, payload);
  return out;
}

Result<std::optional<Frame>> FrameDecoder::next() {
  if (failed_) return Error{EPROTO, "control socket: stream already broken"};
  if (buffer_.size() < 5) return std::optional<Frame>{};
  const auto type = static_cast<std::uint8_t>(buffer_[0]);
  const std::uint32_t length = readU32(std::string_view(buffer_).substr(1, 4));
  if (!knownType(type)) {
    failed_ = true;
    return Error{EPROTO, "control socket: unknown frame type " + std::to_string(type)};
  }
  if (length > kMaxFramePayload) {
    failed_ = true;
    return Error{EPROTO, "control socket: frame of " + std::to_string(length) +
                             " bytes is over the limit of " + std::to_string(kMaxFramePayload)};
  }
  if (buffer_.size() < 5 + static_cast<size_t>(length)) return std::optional<Frame>{};
  Frame f{static_cast<FrameType>(type), buffer_.substr(5, length)};
  buffer_.erase(0, 5 + static_cast<size_t>(length));
  return std::optional<Frame>{std::move(f)};
}

Result<std::vector<std::string>> decodeArgs(std::string_view payload) {
  std::vector<std::string> args;
  if (payload.empty()) return args;
  if (payload.back() != '\0') return Error{EPROTO, "control socket: arguments not NUL-terminated"};
  size_t start = 0;
  while (start < payload.size()) {
    size_t end = payload.find('\0', start);
    if (args.size() == kMaxArgs)
      return Error{EPROTO, "control socket: more than " + std::to_string(kMaxArgs) + " arguments"};
    args.emplace_back(payload.substr(start, end - start));
    start = end + 1;
  }
  return args;
}

Result<int> decodeExit(std::string_view payload) {
  if (payload.size() != 4) return Error{EPROTO, "control socket: exit frame is not 4 bytes"};
  return static_cast<int>(readU32(payload));
}

}  // namespace mamori::admin
