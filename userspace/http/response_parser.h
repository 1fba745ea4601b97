#pragma once

// Streaming HTTP/1.x response parser for upstream responses. It parses and
// keeps the status line and header fields, decides the body framing
// (RFC 9112 §6.3), then tracks body bytes as they stream through without
// storing them, so the proxy knows exactly where each response ends and
// whether the upstream connection can carry the next request.
//
// Stricter than most clients on anything that affects framing (bare LF,
// obs-fold, CL+TE, conflicting Content-Length), because a response the
// proxy frames differently from the upstream desynchronises the pooled
// connection (response queue poisoning). Lenient where real servers vary
// and framing is not at stake: an absent or empty reason phrase, repeated
// identical Content-Length values, transfer-coding lists ending in chunked.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/chunked_decoder.h"
#include "http/syntax.h"
#include "http/types.h"

namespace mamori::http {

enum class ResponseParseStatus {
  NeedMore,     // all bytes consumed; the response is not complete
  HeadersDone,  // the head is complete and a body follows; *consumed ends
                // at the end of the head. Inspect response(), then feed on.
  Done,         // the response is complete; *consumed ends at its last byte
  Reject,       // malformed; rejectReason() says why. Answer 502, close.
};

struct ResponseLimits {
  std::size_t max_status_line_bytes = 8 * 1024;
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_header_count = 200;
  std::size_t max_chunk_line_bytes = 4 * 1024;
  std::size_t max_trailer_bytes = 16 * 1024;
};

// One parser per upstream connection, used by the thread that owns the
// connection. Input may be split at any byte offset.
class ResponseParser {
 public:
  // `request_method` is the method of the request this response answers:
  // a response to HEAD never has a body, whatever its headers say.
  explicit ResponseParser(Method request_method, ResponseLimits limits = {});

  // Consumes bytes of the response. *consumed (never null) is set to the
  // bytes used: all of them for NeedMore; up to the end of the head for
  // HeadersDone; up to the end of the response for Done (bytes after it are
  // not part of this response); the error offset for Reject. Never throws.
  // With BodyFraming::UntilClose the body only ends at EOF: feed() keeps
  // returning NeedMore and the caller calls finishAtEof().
  ResponseParseStatus feed(std::string_view bytes, std::size_t* consumed);

  // Tells the parser the upstream closed the connection. Returns Done when
  // that legitimately ends the response (BodyFraming::UntilClose, or a
  // response already Done), Reject with TruncatedMessage otherwise.
  ResponseParseStatus finishAtEof();

  // Starts over for the next response on the connection. After an interim
  // 1xx response (isInterim()) call reset() with the same method: the final
  // response to the same request follows.
  void reset(Method request_method);

  const Response& response() const { return response_; }
  RejectReason rejectReason() const { return reason_; }
  bool headersComplete() const { return headers_complete_; }

  // 100-199 except 101: forward it, then parse the final response.
  bool isInterim() const;

  // After Done: the upstream connection may be reused for another request
  // (keep-alive by version and Connection, framing not UntilClose, not a
  // 101 protocol switch). False in every other state.
  bool connectionReusable() const;

 private:
  enum class State { StatusLine, Headers, BodyLength, BodyChunked, BodyUntilClose, Done, Rejected };

  bool reject(RejectReason reason);
  bool parseStatusLine(std::string_view line);
  bool finishHeaders();
  ResponseParseStatus status() const;

  ResponseLimits limits_;
  Method request_method_;
  State state_ = State::StatusLine;
  RejectReason reason_ = RejectReason::BadStatusLine;
  Response response_;
  syntax::LineReader line_;
  ChunkedDecoder chunked_;
  std::uint64_t body_remaining_ = 0;
  std::size_t header_bytes_ = 0;
  bool headers_complete_ = false;
  bool head_reported_ = false;
};

}  // namespace mamori::http
