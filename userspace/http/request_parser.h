#pragma once

// Strict, incremental HTTP/1.1 request parser (RFC 9112). This is the
// engine's request-smuggling defence: every construct that two HTTP
// implementations could frame differently is rejected, never normalised,
// so that mamori and the upstream always agree on where a request ends.
// The parser sees bytes only: no sockets, no TLS, no clock.
//
// Usage, per connection (pipelining keeps the unconsumed tail):
//
//   RequestParser parser(limits);
//   size_t used = 0;
//   switch (parser.feed(buffer, &used)) {
//     case ParseStatus::NeedMore: buffer.clear(); read more; break;  // used == size
//     case ParseStatus::Done: handle(parser.takeRequest());
//                             buffer.erase(0, used); parser.reset(); break;
//     case ParseStatus::Reject: answer rejectReasonStatus(parser.rejectReason());
//                               close the connection; break;
//     case ParseStatus::Prefix: inspect(parser.takeRequest()); buffer.erase(0, used);
//                               then stream the rest of the body:
//                               parser.feedBody(buffer, &used, &out) until Done,
//                               then parser.reset(); break;
//   }

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/chunked_decoder.h"
#include "http/syntax.h"
#include "http/types.h"

namespace mamori::http {

enum class ParseStatus {
  NeedMore,  // every byte given was consumed; the request is not complete
  Done,      // one full request parsed; *consumed says where it ended
  Reject,    // the request is invalid; rejectReason() says why
  // BodyLimitPolicy::InspectPrefix only: the head and the first
  // max_body_bytes of a longer body are in request() (body_truncated is
  // set); the rest of the body has not been returned yet and is read with
  // feedBody(). *consumed says where the parsed part ends.
  Prefix,
};

// What to do with a body larger than RequestLimits::max_body_bytes.
enum class BodyLimitPolicy {
  Reject,         // fail with RejectReason::BodyTooLarge (413)
  InspectPrefix,  // keep the first max_body_bytes in Request::body, set
                  // Request::body_truncated, return ParseStatus::Prefix and
                  // hand the rest of the body out through feedBody() as a
                  // stream (its total size is then not limited)
};

// Bounds on everything the parser buffers. Defaults suit a public site;
// max_body_bytes and body_policy are site-configurable.
struct RequestLimits {
  std::size_t max_request_line_bytes = 8 * 1024;  // incl. CRLF; over it: 414
  std::size_t max_target_bytes = 8000;            // over it: 414
  // Empty lines (CRLF) tolerated before the request line. RFC 9112 §2.2
  // says a server SHOULD ignore at least one; some old clients send a
  // CRLF after a POST body. Bounded so it cannot be used to keep a
  // connection busy. 0 rejects any.
  std::size_t max_leading_empty_lines = 4;
  std::size_t max_header_bytes = 32 * 1024;  // header section after the request line; 431
  std::size_t max_header_count = 100;        // 431
  std::size_t max_chunk_line_bytes = 1024;   // chunk-size line incl. extensions and CRLF
  std::size_t max_trailer_bytes = 4 * 1024;  // 431
  std::uint64_t max_body_bytes = 1024 * 1024;  // decoded body; 413 with Reject
  BodyLimitPolicy body_policy = BodyLimitPolicy::Reject;
};

// Parses one request at a time from bytes that may arrive in pieces split
// at any offset; the result does not depend on how input is split. Memory is
// bounded by RequestLimits (plus the body up to max_body_bytes). Not
// thread-safe: one parser per connection, used by the thread that owns it.
class RequestParser {
 public:
  explicit RequestParser(RequestLimits limits = {});

  // Parses as much of `bytes` as belongs to the current request.
  // In: the next bytes received on the connection (any length, may be
  // empty). Out: *consumed (never null) is the number of bytes of `bytes`
  // used: all of them for NeedMore; exactly the bytes up to the end of the
  // request for Done (the rest belongs to the next pipelined request, which
  // the caller feeds after reset()); for Reject, the offset where the error
  // was found. Fails by returning Reject; never throws. After Done or Reject,
  // calls return the same status with *consumed == 0 until reset().
  ParseStatus feed(std::string_view bytes, std::size_t* consumed);

  // Streams the body of a request after feed() returned Prefix. The
  // request may have been taken (takeRequest()) meanwhile.
  // In: the next bytes received on the connection. Out: the decoded
  // (de-chunked) body bytes found in them are appended to *body (never
  // null); *consumed (never null) as for feed(): all of `bytes` for
  // NeedMore, exactly up to the end of the request for Done (the rest is
  // the next pipelined request: reset() first), the error offset for Reject.
  // Framing is checked as strictly as in feed() (chunk syntax, terminators,
  // trailers; trailer fields are dropped). Output never exceeds the input
  // size plus, on the first call, the few decoded bytes feed() read past the
  // prefix, so the caller bounds memory by how much it passes in. Called in
  // any other state it returns status() and consumes nothing.
  ParseStatus feedBody(std::string_view bytes, std::size_t* consumed, std::string* body);

  // True after feed() returned Prefix, until the body ends (feedBody()
  // returns Done) or reset().
  bool streaming() const { return streaming_; }

  // Prepares for the next request on the same connection (keeps limits).
  void reset();

  // The request being parsed. Complete after Done; after NeedMore with
  // headersComplete() the head (method, target, headers, flags such as
  // expect_continue) is final and the body is still arriving.
  const Request& request() const { return request_; }

  // Moves the request out (after Done); the parser must be reset() before
  // it is used again.
  Request takeRequest() { return std::move(request_); }

  ParseStatus status() const;
  // Meaningful after Reject.
  RejectReason rejectReason() const { return reason_; }
  // The header section has been received and validated.
  bool headersComplete() const { return headers_complete_; }

  const RequestLimits& limits() const { return limits_; }

 private:
  enum class State { RequestLine, Headers, BodyIdentity, BodyChunked, Done, Rejected };

  bool reject(RejectReason reason);
  bool parseRequestLine(std::string_view line);
  bool parseTarget(std::string_view target);
  bool finishHeaders();

  // Moves the body bytes past max_body_bytes out of request_.body into
  // overflow_ and enters streaming; true when it did (feed() returns Prefix).
  bool startStreamIfOver();

  RequestLimits limits_;
  State state_ = State::RequestLine;
  RejectReason reason_ = RejectReason::BadRequestLine;
  Request request_;
  syntax::LineReader line_;
  ChunkedDecoder chunked_;
  std::string absolute_authority_;  // set for absolute-form targets
  bool absolute_form_ = false;
  std::uint64_t body_remaining_ = 0;
  std::size_t header_bytes_ = 0;
  std::size_t empty_lines_ = 0;
  bool headers_complete_ = false;
  bool streaming_ = false;   // Prefix returned; the body continues in feedBody()
  std::string overflow_;     // decoded body bytes past the prefix, not yet handed out
};

}  // namespace mamori::http
