#pragma once

// The HTTP/1.x message model shared by the parsers (http/request_parser.h,
// http/response_parser.h) and their consumers (inspect, guard, net). Plain
// data: no parsing logic beyond small lookup helpers, no I/O, no locks. A
// value is owned by one thread at a time; const access from several threads
// is safe.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mamori::http {

// Methods the rest of the engine switches on. Methods are case-sensitive
// (RFC 9110 §9.1): "get" is Method::Other with method_name "get".
enum class Method : std::uint8_t {
  Get,
  Head,
  Post,
  Put,
  Delete,
  Connect,
  Options,
  Trace,
  Patch,
  Other,
};

// Maps a method token to its enum value (exact, case-sensitive match);
// anything else is Method::Other. Never fails. Any thread.
Method methodFromToken(std::string_view token);

// Only HTTP/1.0 and HTTP/1.1 are accepted on the wire; anything else is
// rejected (RejectReason::UnsupportedVersion).
enum class Version : std::uint8_t { Http10, Http11 };

// One header (or trailer) field as received: the name keeps its original
// case, the value has its leading and trailing OWS removed (RFC 9112 §5).
struct Header {
  std::string name;
  std::string value;
  bool operator==(const Header&) const = default;
};

// One query argument, percent-decoded with '+' as space. Repeats are kept
// and order is preserved, because "a=1&a=2" is exactly what HTTP parameter
// pollution relies on and inspection must see both values.
struct QueryArg {
  std::string name;
  std::string value;
  bool operator==(const QueryArg&) const = default;
};

// One cookie-pair from a Cookie header, in order, values left as sent
// (no unquoting or decoding). A pair without '=' has an empty name and the
// whole text as value, as browsers treat it.
struct Cookie {
  std::string name;
  std::string value;
  bool operator==(const Cookie&) const = default;
};

// ASCII case-insensitive equality, for header names and tokens. Any thread.
bool equalsIgnoreCase(std::string_view a, std::string_view b);

// First value of the header called `name` (case-insensitive) in `headers`,
// or nullopt when absent. The view points into `headers`. Any thread.
std::optional<std::string_view> findHeader(const std::vector<Header>& headers,
                                           std::string_view name);

// Number of headers called `name` (case-insensitive). Any thread.
std::size_t countHeader(const std::vector<Header>& headers, std::string_view name);

// A parsed request. Filled by RequestParser; complete once the parser
// returned ParseStatus::Done.
struct Request {
  Method method = Method::Other;
  std::string method_name;  // the method token as sent ("GET", "PROPFIND")

  std::string target;        // request-target exactly as sent
  std::string path;          // path part, still percent-encoded; "*" for OPTIONS *
  std::string decoded_path;  // path percent-decoded ('+' stays '+'); may contain NUL
  std::string query;         // raw query without '?', empty when absent
  bool has_query = false;    // a '?' was present (distinguishes "/a?" from "/a")
  std::vector<QueryArg> args;

  Version version = Version::Http11;

  std::vector<Header> headers;   // in received order, original case
  std::vector<Header> trailers;  // chunked trailer fields, same rules
  std::vector<Cookie> cookies;   // from every Cookie header, in order

  // De-chunked body. With BodyLimitPolicy::InspectPrefix it holds at most
  // max_body_bytes; body_truncated says it is only the prefix of a longer
  // body (ParseStatus::Prefix), whose rest is streamed, never stored here.
  // Consumers must not treat the cut end of a truncated body as malformed
  // (parseBody() takes BodyExtent::Prefix for that).
  std::string body;
  std::uint64_t body_length = 0;  // decoded body bytes in `body`'s message so far
  bool body_truncated = false;

  bool keep_alive = true;   // connection may carry another request afterwards
  bool chunked = false;     // Transfer-Encoding: chunked
  std::optional<std::uint64_t> content_length;
  bool expect_continue = false;  // HTTP/1.1 "Expect: 100-continue"
  std::string host;  // Host header, or the absolute-form authority when no Host

  // First value of header `name` (case-insensitive), or nullopt. The view
  // is valid while this Request is alive and unmodified.
  std::optional<std::string_view> header(std::string_view name) const {
    return findHeader(headers, name);
  }
};

// How an upstream response's body is delimited (RFC 9112 §6.3).
enum class BodyFraming : std::uint8_t {
  None,           // 1xx, 204, 304, or the answer to HEAD: no body at all
  ContentLength,  // exactly content_length bytes
  Chunked,        // chunked transfer coding, ends with the last-chunk and trailers
  UntilClose,     // read until the upstream closes; the connection is not reusable
};

// The head of an upstream response plus framing state. Filled by
// ResponseParser; the body is never stored.
struct Response {
  Version version = Version::Http11;
  int status = 0;
  std::string reason;
  std::vector<Header> headers;
  std::vector<Header> trailers;

  BodyFraming framing = BodyFraming::None;
  std::uint64_t content_length = 0;  // meaningful with BodyFraming::ContentLength
  std::uint64_t body_length = 0;     // body bytes (de-chunked) seen so far
  bool keep_alive = true;            // per version and Connection header

  std::optional<std::string_view> header(std::string_view name) const {
    return findHeader(headers, name);
  }
};

// Why a message was rejected. One value per rule so that each can be
// counted (mamori_http_rejected_total{reason=...}) and regression-tested.
// Values may be added; the names returned by rejectReasonName() are stable.
enum class RejectReason : std::uint8_t {
  // Request line.
  BadRequestLine,       // not "method SP target SP version"
  RequestLineTooLong,   // over RequestLimits::max_request_line_bytes
  TooManyEmptyLines,    // more leading CRLFs than RequestLimits allows
  BadMethod,            // method is not a token
  ConnectNotSupported,  // CONNECT / authority-form: we are not a tunnel
  BadTarget,            // character outside RFC 3986, wrong form, userinfo
  TargetTooLong,        // over RequestLimits::max_target_bytes
  BadPercentEncoding,   // '%' not followed by two hex digits
  BadScheme,            // absolute-form with a scheme other than http/https
  BadVersion,           // not "HTTP/" DIGIT "." DIGIT
  UnsupportedVersion,   // well-formed but not 1.0 or 1.1
  // Line framing and field syntax (headers and trailers).
  BareLf,                 // LF not preceded by CR
  BareCr,                 // CR not followed by LF
  ObsFold,                // line starting with SP/HTAB (obsolete line folding)
  HeaderMissingColon,     // field line without ':'
  BadHeaderName,          // empty name or non-token character in the name
  WhitespaceBeforeColon,  // "Name : value"
  BadHeaderValue,         // NUL or another CTL in a value
  HeaderSectionTooLarge,  // over max_header_bytes
  TooManyHeaders,         // over max_header_count
  // Semantics of specific headers.
  MissingHost,                        // HTTP/1.1 without Host
  MultipleHost,                       // more than one Host
  BadHost,                            // empty or invalid Host / authority
  HostMismatch,                       // absolute-form authority differs from Host
  MultipleContentLength,              // repeated CL or a CL list, even equal values
  BadContentLength,                   // CL not 1*DIGIT
  ContentLengthOverflow,              // CL does not fit in 64 bits
  ContentLengthWithTransferEncoding,  // both framings present
  MultipleTransferEncoding,           // more than one Transfer-Encoding header
  UnsupportedTransferCoding,          // TE is not exactly "chunked"
  BadTransferEncoding,                // TE empty or not made of tokens
  TransferEncodingInHttp10,           // TE in an HTTP/1.0 request
  UnsupportedExpectation,             // Expect other than 100-continue
  // Chunked body.
  BadChunkSize,            // chunk-size not 1*HEXDIG
  ChunkSizeOverflow,       // chunk-size does not fit in 64 bits
  ChunkLineTooLong,        // chunk-size line (with extensions) over the limit
  BadChunkExtension,       // extension syntax or characters
  BadChunkTerminator,      // chunk data not followed by exactly CRLF
  TrailerSectionTooLarge,  // trailers over the limit
  ForbiddenTrailer,        // Content-Length / Transfer-Encoding / Host as trailer
  // Body.
  BodyTooLarge,  // over max_body_bytes with BodyLimitPolicy::Reject
  // Responses only (the proxy answers 502 to its client).
  BadStatusLine,     // response status line malformed
  TruncatedMessage,  // connection closed before the message ended
};

inline constexpr std::size_t kRejectReasonCount =
    static_cast<std::size_t>(RejectReason::TruncatedMessage) + 1;

// Stable snake_case name of `reason` ("content_length_with_transfer_encoding"),
// for metric labels and log fields. Never null; "unknown" for an out-of-range
// value. Any thread.
const char* rejectReasonName(RejectReason reason);

// HTTP status to answer a client whose request was rejected for `reason`:
// 400 for most, 413 body too large, 414 request line / target too long,
// 417 unsupported expectation, 431 header or trailer section too large,
// 501 unknown transfer-coding or CONNECT, 505 bad version; 502 for the
// response-only reasons (the upstream is at fault). Any thread.
int rejectReasonStatus(RejectReason reason);

}  // namespace mamori::http
