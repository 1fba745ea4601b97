#include "http/syntax.h"

#include <cstring>

namespace mamori::http::syntax {

bool isTokenChar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!isTokenChar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool isFieldValueChar(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

bool isHexDigit(unsigned char c) { return hexValue(c) >= 0; }

int hexValue(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

namespace {

bool isHostNameChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

bool isValidPort(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

bool isValidHost(std::string_view host) {
  if (host.empty()) return false;
  std::string_view rest;
  if (host.front() == '[') {
    std::size_t close = host.find(']');
    if (close == std::string_view::npos || close < 2) return false;
    for (char c : host.substr(1, close - 1)) {
      auto u = static_cast<unsigned char>(c);
      if (!isHexDigit(u) && c != ':' && c != '.') return false;
    }
    rest = host.substr(close + 1);
  } else {
    std::size_t i = 0;
    while (i < host.size() && isHostNameChar(static_cast<unsigned char>(host[i]))) ++i;
    if (i == 0) return false;
    rest = host.substr(i);
  }
  if (rest.empty()) return true;
  if (rest.front() != ':') return false;
  return isValidPort(rest.substr(1));
}

LineReader::Status LineReader::feed(std::string_view in, std::size_t max_bytes,
                                    std::size_t* consumed) {
  line_ = {};
  const void* lf_ptr = in.empty() ? nullptr : std::memchr(in.data(), '\n', in.size());
  if (lf_ptr == nullptr) {
    // Fail early: a peer trickling an endless line must not make us buffer it.
    if (buf_.size() + in.size() >= max_bytes) {
      *consumed = max_bytes - buf_.size();
      return Status::TooLong;
    }
    buf_.append(in);
    *consumed = in.size();
    return Status::NeedMore;
  }
  std::size_t lf = static_cast<std::size_t>(static_cast<const char*>(lf_ptr) - in.data());
  if (buf_.size() + lf + 1 > max_bytes) {
    *consumed = max_bytes - buf_.size();
    return Status::TooLong;
  }
  *consumed = lf + 1;
  std::string_view full;
  if (buf_.empty()) {
    full = in.substr(0, lf);  // zero-copy fast path: the line is all in `in`
  } else {
    buf_.append(in.substr(0, lf));
    done_.swap(buf_);
    buf_.clear();
    full = done_;
  }
  if (full.empty() || full.back() != '\r') return Status::BareLf;
  full.remove_suffix(1);
  if (full.find('\r') != std::string_view::npos) return Status::BareCr;
  line_ = full;
  return Status::Line;
}

std::optional<RejectReason> parseFieldLine(std::string_view line, Header* out) {
  if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
    // obs-fold (RFC 9112 §5.2): a proxy must reject or rewrite it; we
    // forward raw bytes, so reject. A leading SP on the first field line
    // is likewise rejected (RFC 9112 §2.2).
    return RejectReason::ObsFold;
  }
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return RejectReason::HeaderMissingColon;
  std::string_view name = line.substr(0, colon);
  if (name.empty()) return RejectReason::BadHeaderName;
  // RFC 9112 §5.1: no whitespace is allowed between name and colon; servers
  // MUST reject it, since "Transfer-Encoding :" is read differently by
  // different implementations.
  if (name.back() == ' ' || name.back() == '\t') return RejectReason::WhitespaceBeforeColon;
  if (!isToken(name)) return RejectReason::BadHeaderName;
  std::string_view value = line.substr(colon + 1);
  for (char c : value) {
    if (!isFieldValueChar(static_cast<unsigned char>(c))) return RejectReason::BadHeaderValue;
  }
  out->name.assign(name);
  out->value.assign(trimOws(value));
  return std::nullopt;
}

std::optional<RejectReason> lineError(LineReader::Status status, RejectReason too_long) {
  switch (status) {
    case LineReader::Status::TooLong: return too_long;
    case LineReader::Status::BareLf: return RejectReason::BareLf;
    case LineReader::Status::BareCr: return RejectReason::BareCr;
    default: return std::nullopt;
  }
}

FieldStep readFieldLine(LineReader& line, std::string_view in, std::size_t max_section_bytes,
                        std::size_t* section_bytes, std::size_t fields_so_far,
                        std::size_t max_fields, RejectReason too_long, std::size_t* consumed,
                        Header* field, RejectReason* reason) {
  const std::size_t pending_before = line.pending();
  const auto status = line.feed(in, max_section_bytes - *section_bytes, consumed);
  if (status == LineReader::Status::NeedMore) return FieldStep::NeedMore;
  if (auto bad = lineError(status, too_long)) {
    *reason = *bad;
    return FieldStep::Reject;
  }
  *section_bytes += pending_before + *consumed;
  if (line.line().empty()) return FieldStep::End;
  if (fields_so_far >= max_fields) {
    *reason = RejectReason::TooManyHeaders;
    return FieldStep::Reject;
  }
  if (auto bad = parseFieldLine(line.line(), field)) {
    *reason = *bad;
    return FieldStep::Reject;
  }
  return FieldStep::Field;
}

}  // namespace mamori::http::syntax
