#include "http/request_parser.h"

#include <algorithm>
#include <limits>

#include "http/url.h"

namespace mamori::http {

namespace {

ChunkedLimits chunkedLimitsFor(const RequestLimits& limits) {
  ChunkedLimits c;
  c.max_chunk_line_bytes = limits.max_chunk_line_bytes;
  c.max_trailer_bytes = limits.max_trailer_bytes;
  // With InspectPrefix the body has no size limit (only the first
  // max_body_bytes are kept, the rest streams through feedBody()); the
  // decoder still checks every chunk's framing.
  c.max_data_bytes = limits.body_policy == BodyLimitPolicy::InspectPrefix
                         ? std::numeric_limits<std::uint64_t>::max()
                         : limits.max_body_bytes;
  c.truncate_over_limit = false;
  c.reject_framing_trailers = true;
  return c;
}

bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool isSchemeChar(char c) {
  return isAlpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

}  // namespace

RequestParser::RequestParser(RequestLimits limits)
    : limits_(limits), chunked_(chunkedLimitsFor(limits)) {}

void RequestParser::reset() {
  state_ = State::RequestLine;
  reason_ = RejectReason::BadRequestLine;
  request_ = Request{};
  line_.clear();
  chunked_ = ChunkedDecoder(chunkedLimitsFor(limits_));
  absolute_authority_.clear();
  absolute_form_ = false;
  body_remaining_ = 0;
  header_bytes_ = 0;
  empty_lines_ = 0;
  headers_complete_ = false;
  streaming_ = false;
  overflow_.clear();
}

ParseStatus RequestParser::status() const {
  if (state_ == State::Rejected) return ParseStatus::Reject;
  if (streaming_) return ParseStatus::Prefix;
  return state_ == State::Done ? ParseStatus::Done : ParseStatus::NeedMore;
}

bool RequestParser::reject(RejectReason reason) {
  state_ = State::Rejected;
  reason_ = reason;
  return false;
}

ParseStatus RequestParser::feed(std::string_view bytes, std::size_t* consumed) {
  std::size_t pos = 0;
  while (true) {
    if (state_ == State::Done || state_ == State::Rejected || streaming_ || pos == bytes.size()) {
      *consumed = pos;
      return status();
    }
    std::string_view rest = bytes.substr(pos);
    switch (state_) {
      case State::RequestLine: {
        std::size_t used = 0;
        auto st = line_.feed(rest, limits_.max_request_line_bytes, &used);
        pos += used;
        if (st == syntax::LineReader::Status::NeedMore) break;
        if (auto bad = syntax::lineError(st, RejectReason::RequestLineTooLong)) {
          reject(*bad);
          break;
        }
        if (line_.line().empty()) {
          if (++empty_lines_ > limits_.max_leading_empty_lines) {
            reject(RejectReason::TooManyEmptyLines);
          }
          break;
        }
        if (parseRequestLine(line_.line())) state_ = State::Headers;
        break;
      }
      case State::Headers: {
        std::size_t used = 0;
        Header field;
        RejectReason bad{};
        auto step = syntax::readFieldLine(line_, rest, limits_.max_header_bytes, &header_bytes_,
                                          request_.headers.size(), limits_.max_header_count,
                                          RejectReason::HeaderSectionTooLarge, &used, &field, &bad);
        pos += used;
        if (step == syntax::FieldStep::Reject) reject(bad);
        else if (step == syntax::FieldStep::End) finishHeaders();
        else if (step == syntax::FieldStep::Field) request_.headers.push_back(std::move(field));
        break;
      }
      case State::BodyIdentity: {
        // Only the prefix is read here: a body longer than max_body_bytes
        // (InspectPrefix; Reject refused it in finishHeaders) stops at the
        // limit and the rest goes through feedBody().
        std::uint64_t want = std::min<std::uint64_t>(
            body_remaining_, limits_.max_body_bytes - request_.body.size());
        std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(want, rest.size()));
        request_.body.append(rest.substr(0, take));
        request_.body_length += take;
        body_remaining_ -= take;
        pos += take;
        if (body_remaining_ == 0) {
          state_ = State::Done;
        } else if (request_.body.size() == limits_.max_body_bytes) {
          streaming_ = true;
          request_.body_truncated = true;
        }
        break;
      }
      case State::BodyChunked: {
        std::size_t used = 0;
        auto st = chunked_.feed(rest, &used, &request_.body, &request_.trailers);
        pos += used;
        if (st == ChunkedDecoder::Status::Reject) {
          reject(chunked_.reason());
          break;
        }
        // Bytes decoded past the limit in this call wait in overflow_; the
        // end of the body may even be among them (then feedBody() hands them
        // out and returns Done at once).
        // Trailers of a streamed body are dropped, however the input was
        // split (feedBody() drops those it decodes).
        if (startStreamIfOver()) request_.trailers.clear();
        request_.body_length = request_.body.size();
        if (st == ChunkedDecoder::Status::Done) state_ = State::Done;
        break;
      }
      case State::Done:
      case State::Rejected:
        break;
    }
  }
}

bool RequestParser::startStreamIfOver() {
  if (limits_.body_policy != BodyLimitPolicy::InspectPrefix ||
      request_.body.size() <= limits_.max_body_bytes) {
    return false;
  }
  const auto keep = static_cast<std::size_t>(limits_.max_body_bytes);
  overflow_.assign(request_.body, keep, std::string::npos);
  request_.body.resize(keep);
  request_.body_truncated = true;
  streaming_ = true;
  return true;
}

ParseStatus RequestParser::feedBody(std::string_view bytes, std::size_t* consumed,
                                    std::string* body) {
  *consumed = 0;
  if (!streaming_) return status();
  body->append(overflow_);
  overflow_.clear();
  std::size_t pos = 0;
  if (state_ == State::BodyIdentity) {
    std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(body_remaining_, bytes.size()));
    body->append(bytes.substr(0, take));
    body_remaining_ -= take;
    pos = take;
    if (body_remaining_ == 0) state_ = State::Done;
  } else if (state_ == State::BodyChunked) {
    // Trailer fields of a streamed body are checked (framing ones are
    // refused) and dropped: the request they would belong to is gone.
    std::vector<Header> trailers;
    auto st = chunked_.feed(bytes, &pos, body, &trailers);
    if (st == ChunkedDecoder::Status::Reject) reject(chunked_.reason());
    if (st == ChunkedDecoder::Status::Done) state_ = State::Done;
  }
  *consumed = pos;
  if (state_ == State::Rejected || state_ == State::Done) streaming_ = false;
  if (state_ == State::Rejected) return ParseStatus::Reject;
  return state_ == State::Done ? ParseStatus::Done : ParseStatus::NeedMore;
}

bool RequestParser::parseRequestLine(std::string_view line) {
  // request-line = method SP request-target SP HTTP-version (RFC 9112 §3).
  // Exactly one SP between parts: RFC 9112 §3 allows lenient whitespace
  // parsing, but a target containing a space or tab is how a request is
  // made to look different to a lenient parser behind us.
  std::size_t sp1 = line.find(' ');
  std::size_t sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp1 == sp2) return reject(RejectReason::BadRequestLine);
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);

  if (!syntax::isToken(method)) return reject(RejectReason::BadMethod);
  request_.method_name.assign(method);
  request_.method = methodFromToken(method);

  // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3).
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[5] < '0' ||
      version[5] > '9' || version[6] != '.' || version[7] < '0' || version[7] > '9') {
    return reject(RejectReason::BadVersion);
  }
  if (version == "HTTP/1.1") {
    request_.version = Version::Http11;
  } else if (version == "HTTP/1.0") {
    request_.version = Version::Http10;
  } else {
    return reject(RejectReason::UnsupportedVersion);
  }

  if (target.empty() || target.front() == ' ' || target.back() == ' ') {
    return reject(RejectReason::BadRequestLine);
  }
  return parseTarget(target);
}

bool RequestParser::parseTarget(std::string_view target) {
  if (target.size() > limits_.max_target_bytes) return reject(RejectReason::TargetTooLong);
  for (char c : target) {
    if (!isTargetChar(static_cast<unsigned char>(c))) return reject(RejectReason::BadTarget);
  }
  if (!isValidPercentEncoding(target)) return reject(RejectReason::BadPercentEncoding);
  request_.target.assign(target);

  // A reverse proxy is not a tunnel; authority-form exists only for CONNECT
  // (RFC 9112 §3.2.3).
  if (request_.method == Method::Connect) return reject(RejectReason::ConnectNotSupported);

  std::string_view path_and_query;
  if (target.front() == '/') {
    path_and_query = target;  // origin-form
  } else if (target == "*") {
    // asterisk-form is only for a server-wide OPTIONS (RFC 9112 §3.2.4).
    if (request_.method != Method::Options) return reject(RejectReason::BadTarget);
    request_.path = "*";
    request_.decoded_path = "*";
    return true;
  } else {
    // absolute-form (RFC 9112 §3.2.2): scheme "://" authority [path-abempty] [?query]
    std::size_t sep = target.find("://");
    if (sep == std::string_view::npos || sep == 0 || !isAlpha(target[0])) {
      return reject(RejectReason::BadTarget);
    }
    std::string_view scheme = target.substr(0, sep);
    for (char c : scheme) {
      if (!isSchemeChar(c)) return reject(RejectReason::BadTarget);
    }
    if (!equalsIgnoreCase(scheme, "http") && !equalsIgnoreCase(scheme, "https")) {
      return reject(RejectReason::BadScheme);
    }
    std::string_view after = target.substr(sep + 3);
    std::size_t auth_end = after.find_first_of("/?");
    std::string_view authority = after.substr(0, auth_end);
    // userinfo ("http://user@host/") is deprecated for http(s) (RFC 9110
    // §4.2.4) and is a host-confusion vector.
    if (authority.find('@') != std::string_view::npos) return reject(RejectReason::BadTarget);
    if (!syntax::isValidHost(authority)) return reject(RejectReason::BadHost);
    absolute_form_ = true;
    absolute_authority_.assign(authority);
    path_and_query = auth_end == std::string_view::npos ? std::string_view() : after.substr(auth_end);
  }

  std::size_t q = path_and_query.find('?');
  std::string_view path = path_and_query.substr(0, q);
  if (q != std::string_view::npos) {
    request_.has_query = true;
    request_.query.assign(path_and_query.substr(q + 1));
    request_.args = parseQuery(request_.query);
  }
  request_.path.assign(path.empty() ? std::string_view("/") : path);
  // Validated above, so strict decoding cannot fail.
  request_.decoded_path = percentDecodeLenient(request_.path, /*plus_as_space=*/false);
  return true;
}

bool RequestParser::finishHeaders() {
  bool have_cl = false;
  bool have_te = false;
  bool have_host = false;
  bool conn_close = false;
  bool conn_keep_alive = false;
  std::uint64_t content_length = 0;
  const bool http11 = request_.version == Version::Http11;

  for (const Header& h : request_.headers) {
    if (equalsIgnoreCase(h.name, "content-length")) {
      // RFC 9112 §6.3 lets a recipient accept repeated identical values;
      // we do not, since a peer that takes the first and one that takes the
      // last of "Content-Length: 5, 50" frame the body differently.
      if (have_cl || h.value.find(',') != std::string::npos) {
        return reject(RejectReason::MultipleContentLength);
      }
      have_cl = true;
      if (h.value.empty()) return reject(RejectReason::BadContentLength);
      for (char c : h.value) {
        if (c < '0' || c > '9') return reject(RejectReason::BadContentLength);  // "+5", "0x5", "5 5"
        auto digit = static_cast<std::uint64_t>(c - '0');
        if (content_length > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
          return reject(RejectReason::ContentLengthOverflow);
        }
        content_length = content_length * 10 + digit;
      }
    } else if (equalsIgnoreCase(h.name, "transfer-encoding")) {
      if (have_te) return reject(RejectReason::MultipleTransferEncoding);
      have_te = true;
      // Only a lone "chunked" is accepted: "gzip, chunked" or
      // "chunked, identity" would need us to decode codings, and parsers
      // disagree on lists, duplicates and odd spellings ("chunked ,", "xchunked").
      if (!equalsIgnoreCase(h.value, "chunked")) {
        bool tokens = !h.value.empty() &&
                      syntax::forEachListElement(h.value, [](std::string_view e) {
                        return syntax::isToken(e);
                      });
        return reject(tokens ? RejectReason::UnsupportedTransferCoding
                             : RejectReason::BadTransferEncoding);
      }
    } else if (equalsIgnoreCase(h.name, "host")) {
      // RFC 9112 §3.2: more than one Host, or an invalid one, gets a 400.
      if (have_host) return reject(RejectReason::MultipleHost);
      have_host = true;
      if (!syntax::isValidHost(h.value)) return reject(RejectReason::BadHost);
      request_.host = h.value;
    } else if (equalsIgnoreCase(h.name, "connection")) {
      syntax::forEachListElement(h.value, [&](std::string_view e) {
        if (equalsIgnoreCase(e, "close")) conn_close = true;
        if (equalsIgnoreCase(e, "keep-alive")) conn_keep_alive = true;
        return true;
      });
    } else if (equalsIgnoreCase(h.name, "expect")) {
      // RFC 9110 §10.1.1: only 100-continue is defined (417 otherwise), and
      // it is ignored in HTTP/1.0 requests.
      if (http11) {
        if (!equalsIgnoreCase(h.value, "100-continue")) {
          return reject(RejectReason::UnsupportedExpectation);
        }
        request_.expect_continue = true;
      }
    } else if (equalsIgnoreCase(h.name, "cookie")) {
      parseCookieHeader(h.value, &request_.cookies);
    }
  }

  // RFC 9112 §6.1: a message with both is a smuggling attempt or a broken
  // client; either way forwarding it is unsafe.
  if (have_cl && have_te) return reject(RejectReason::ContentLengthWithTransferEncoding);
  // HTTP/1.0 has no chunked coding; a 1.0 hop behind us would read the body
  // as the next request (RFC 9112 §6.1 allows treating it as faulty).
  if (have_te && !http11) return reject(RejectReason::TransferEncodingInHttp10);
  if (http11 && !have_host) return reject(RejectReason::MissingHost);
  if (absolute_form_) {
    // RFC 9112 §3.2.2 says to ignore Host in favour of the authority; we
    // reject a mismatch instead, because the upstream may route on Host.
    if (have_host && !equalsIgnoreCase(request_.host, absolute_authority_)) {
      return reject(RejectReason::HostMismatch);
    }
    if (!have_host) request_.host = absolute_authority_;
  }

  request_.keep_alive = http11 ? !conn_close : (conn_keep_alive && !conn_close);
  request_.chunked = have_te;
  if (have_cl) request_.content_length = content_length;
  headers_complete_ = true;

  if (have_te) {
    state_ = State::BodyChunked;
    return true;
  }
  if (content_length > limits_.max_body_bytes &&
      limits_.body_policy == BodyLimitPolicy::Reject) {
    // Refuse before reading a byte of the body.
    return reject(RejectReason::BodyTooLarge);
  }
  body_remaining_ = content_length;
  // A request without CL or TE has no body (RFC 9112 §6.3 rule 6).
  state_ = content_length == 0 ? State::Done : State::BodyIdentity;
  if (state_ == State::BodyIdentity && limits_.max_body_bytes == 0) {
    // InspectPrefix with an empty prefix: the whole body streams.
    streaming_ = true;
    request_.body_truncated = true;
  }
  return true;
}

}  // namespace mamori::http
