#include "http/response_parser.h"

#include <algorithm>
#include <limits>

namespace mamori::http {

namespace {

ChunkedLimits chunkedLimitsFor(const ResponseLimits& limits) {
  ChunkedLimits c;
  c.max_chunk_line_bytes = limits.max_chunk_line_bytes;
  c.max_trailer_bytes = limits.max_trailer_bytes;
  // The body is streamed, not stored: no data limit.
  c.max_data_bytes = std::numeric_limits<std::uint64_t>::max();
  c.truncate_over_limit = false;
  // Trailers arrive after the body is framed; a client never reframes on
  // them, so upstream trailers are passed through untouched.
  c.reject_framing_trailers = false;
  return c;
}

}  // namespace

ResponseParser::ResponseParser(Method request_method, ResponseLimits limits)
    : limits_(limits), request_method_(request_method), chunked_(chunkedLimitsFor(limits)) {}

void ResponseParser::reset(Method request_method) {
  request_method_ = request_method;
  state_ = State::StatusLine;
  reason_ = RejectReason::BadStatusLine;
  response_ = Response{};
  line_.clear();
  chunked_ = ChunkedDecoder(chunkedLimitsFor(limits_));
  body_remaining_ = 0;
  header_bytes_ = 0;
  headers_complete_ = false;
  head_reported_ = false;
}

bool ResponseParser::reject(RejectReason reason) {
  state_ = State::Rejected;
  reason_ = reason;
  return false;
}

bool ResponseParser::isInterim() const {
  return headers_complete_ && response_.status >= 100 && response_.status < 200 &&
         response_.status != 101;
}

bool ResponseParser::connectionReusable() const {
  return state_ == State::Done && response_.keep_alive &&
         response_.framing != BodyFraming::UntilClose && response_.status != 101;
}

ResponseParseStatus ResponseParser::status() const {
  switch (state_) {
    case State::Done: return ResponseParseStatus::Done;
    case State::Rejected: return ResponseParseStatus::Reject;
    default: return ResponseParseStatus::NeedMore;
  }
}

ResponseParseStatus ResponseParser::finishAtEof() {
  if (state_ == State::BodyUntilClose) state_ = State::Done;
  if (state_ == State::Done || state_ == State::Rejected) return status();
  reject(RejectReason::TruncatedMessage);
  return ResponseParseStatus::Reject;
}

ResponseParseStatus ResponseParser::feed(std::string_view bytes, std::size_t* consumed) {
  std::size_t pos = 0;
  while (true) {
    if (headers_complete_ && !head_reported_ && state_ != State::Rejected) {
      head_reported_ = true;
      if (state_ != State::Done) {
        *consumed = pos;
        return ResponseParseStatus::HeadersDone;
      }
    }
    if (state_ == State::Done || state_ == State::Rejected || pos == bytes.size()) {
      *consumed = pos;
      return status();
    }
    std::string_view rest = bytes.substr(pos);
    switch (state_) {
      case State::StatusLine: {
        std::size_t used = 0;
        auto st = line_.feed(rest, limits_.max_status_line_bytes, &used);
        pos += used;
        if (st == syntax::LineReader::Status::NeedMore) break;
        if (auto bad = syntax::lineError(st, RejectReason::BadStatusLine)) {
          reject(*bad);
          break;
        }
        if (parseStatusLine(line_.line())) state_ = State::Headers;
        break;
      }
      case State::Headers: {
        std::size_t used = 0;
        Header field;
        RejectReason bad{};
        auto step = syntax::readFieldLine(line_, rest, limits_.max_header_bytes, &header_bytes_,
                                          response_.headers.size(), limits_.max_header_count,
                                          RejectReason::HeaderSectionTooLarge, &used, &field, &bad);
        pos += used;
        if (step == syntax::FieldStep::Reject) reject(bad);
        else if (step == syntax::FieldStep::End) finishHeaders();
        else if (step == syntax::FieldStep::Field) response_.headers.push_back(std::move(field));
        break;
      }
      case State::BodyLength: {
        std::size_t take =
            static_cast<std::size_t>(std::min<std::uint64_t>(body_remaining_, rest.size()));
        body_remaining_ -= take;
        response_.body_length += take;
        pos += take;
        if (body_remaining_ == 0) state_ = State::Done;
        break;
      }
      case State::BodyChunked: {
        std::size_t used = 0;
        auto st = chunked_.feed(rest, &used, nullptr, &response_.trailers);
        pos += used;
        response_.body_length = chunked_.dataBytes();
        if (st == ChunkedDecoder::Status::Done) {
          state_ = State::Done;
        } else if (st == ChunkedDecoder::Status::Reject) {
          reject(chunked_.reason());
        }
        break;
      }
      case State::BodyUntilClose:
        response_.body_length += rest.size();
        pos = bytes.size();
        break;
      case State::Done:
      case State::Rejected:
        break;
    }
  }
}

bool ResponseParser::parseStatusLine(std::string_view line) {
  // status-line = HTTP-version SP status-code SP [ reason-phrase ]
  // (RFC 9112 §4). Accepts a missing "SP reason" too: some servers omit it.
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || line[8] != ' ') {
    return reject(RejectReason::BadStatusLine);
  }
  std::string_view version = line.substr(0, 8);
  if (version == "HTTP/1.1") {
    response_.version = Version::Http11;
  } else if (version == "HTTP/1.0") {
    response_.version = Version::Http10;
  } else {
    return reject(RejectReason::BadStatusLine);
  }
  int code = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return reject(RejectReason::BadStatusLine);
    code = code * 10 + (line[i] - '0');
  }
  if (code < 100 || code > 599) return reject(RejectReason::BadStatusLine);
  std::string_view reason = line.substr(12);
  if (!reason.empty()) {
    if (reason.front() != ' ') return reject(RejectReason::BadStatusLine);
    reason.remove_prefix(1);
    for (char c : reason) {
      if (!syntax::isFieldValueChar(static_cast<unsigned char>(c))) {
        return reject(RejectReason::BadStatusLine);
      }
    }
  }
  response_.status = code;
  response_.reason.assign(reason);
  return true;
}

bool ResponseParser::finishHeaders() {
  bool have_cl = false;
  std::uint64_t content_length = 0;
  bool have_te = false;
  bool te_chunked_last = false;
  int chunked_count = 0;
  bool conn_close = false;
  bool conn_keep_alive = false;

  for (const Header& h : response_.headers) {
    if (equalsIgnoreCase(h.name, "content-length")) {
      // RFC 9110 §8.6: identical repeated values may be accepted; different
      // ones are an unrecoverable framing error.
      bool ok = syntax::forEachListElement(h.value, [&](std::string_view e) {
        if (e.empty()) return reject(RejectReason::BadContentLength);
        std::uint64_t v = 0;
        for (char c : e) {
          if (c < '0' || c > '9') return reject(RejectReason::BadContentLength);
          auto digit = static_cast<std::uint64_t>(c - '0');
          if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
            return reject(RejectReason::ContentLengthOverflow);
          }
          v = v * 10 + digit;
        }
        if (have_cl && v != content_length) return reject(RejectReason::MultipleContentLength);
        have_cl = true;
        content_length = v;
        return true;
      });
      if (!ok) return false;
    } else if (equalsIgnoreCase(h.name, "transfer-encoding")) {
      have_te = true;
      bool ok = syntax::forEachListElement(h.value, [&](std::string_view e) {
        // Coding parameters (";q=...") are not allowed in Transfer-Encoding
        // codings we could act on; a non-token element is malformed.
        if (!syntax::isToken(e)) return reject(RejectReason::BadTransferEncoding);
        te_chunked_last = equalsIgnoreCase(e, "chunked");
        if (te_chunked_last) ++chunked_count;
        return true;
      });
      if (!ok) return false;
    } else if (equalsIgnoreCase(h.name, "connection")) {
      syntax::forEachListElement(h.value, [&](std::string_view e) {
        if (equalsIgnoreCase(e, "close")) conn_close = true;
        if (equalsIgnoreCase(e, "keep-alive")) conn_keep_alive = true;
        return true;
      });
    }
  }

  const bool http11 = response_.version == Version::Http11;
  response_.keep_alive = http11 ? !conn_close : (conn_keep_alive && !conn_close);
  headers_complete_ = true;

  const int code = response_.status;
  // RFC 9112 §6.3 rule 1: these never have a body, whatever the headers say.
  if (request_method_ == Method::Head || (code >= 100 && code < 200) || code == 204 ||
      code == 304) {
    response_.framing = BodyFraming::None;
    state_ = State::Done;
    return true;
  }
  if (have_te) {
    // RFC 9112 §6.3 rule 3 says TE overrides CL and the connection must be
    // closed; a proxy forwarding such a response would pass the ambiguity
    // on to its client, so treat it as an upstream error instead.
    if (have_cl) return reject(RejectReason::ContentLengthWithTransferEncoding);
    // chunked applied twice is an error (RFC 9112 §6.1).
    if (chunked_count > 1) return reject(RejectReason::BadTransferEncoding);
    if (te_chunked_last) {
      response_.framing = BodyFraming::Chunked;
      state_ = State::BodyChunked;
    } else {
      // Rule 4: chunked is not final, so the body runs until close.
      response_.framing = BodyFraming::UntilClose;
      state_ = State::BodyUntilClose;
    }
    return true;
  }
  if (have_cl) {
    response_.framing = BodyFraming::ContentLength;
    response_.content_length = content_length;
    body_remaining_ = content_length;
    state_ = content_length == 0 ? State::Done : State::BodyLength;
    return true;
  }
  // Rule 7: no framing headers, so the body is delimited by close.
  response_.framing = BodyFraming::UntilClose;
  state_ = State::BodyUntilClose;
  return true;
}

}  // namespace mamori::http
