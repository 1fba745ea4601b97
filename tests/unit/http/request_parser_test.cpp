// Raw bytes in, outcome out. Each smuggling vector is its own test, in the
// style of HAProxy's reg-tests/http-messaging.

#include "http/request_parser.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <optional>
#include <utility>
#include <vector>
#include <string>
#include <string_view>

namespace mamori::http {
namespace {

// Test helpers: feed raw bytes, get the outcome.

struct Outcome {
  ParseStatus status = ParseStatus::NeedMore;
  RejectReason reason = RejectReason::BadRequestLine;
  std::size_t consumed = 0;
  Request request;
};

// Feeds `raw` in one call.
Outcome parseWhole(std::string_view raw, RequestLimits limits = {}) {
  RequestParser parser(limits);
  Outcome out;
  out.status = parser.feed(raw, &out.consumed);
  out.reason = parser.rejectReason();
  out.request = parser.request();
  return out;
}

// Feeds `raw` in pieces of `piece` bytes; `consumed` is the total offset.
Outcome parseInPieces(std::string_view raw, std::size_t piece, RequestLimits limits = {}) {
  RequestParser parser(limits);
  Outcome out;
  std::size_t offset = 0;
  while (true) {
    std::string_view chunk = raw.substr(offset, piece);
    std::size_t used = 0;
    out.status = parser.feed(chunk, &used);
    offset += used;
    if (out.status != ParseStatus::NeedMore || offset >= raw.size()) break;
  }
  out.consumed = offset;
  out.reason = parser.rejectReason();
  out.request = parser.request();
  return out;
}


// The reason `raw` is rejected for, or nullopt when it is not rejected.
std::optional<RejectReason> rejectOf(std::string_view raw, RequestLimits limits = {}) {
  Outcome out = parseWhole(raw, limits);
  if (out.status != ParseStatus::Reject) return std::nullopt;
  return out.reason;
}

Request parseOk(std::string_view raw, RequestLimits limits = {}) {
  Outcome out = parseWhole(raw, limits);
  EXPECT_EQ(out.status, ParseStatus::Done) << rejectReasonName(out.reason);
  EXPECT_EQ(out.consumed, raw.size());
  return out.request;
}

// Builds a request with the given header lines (each without CRLF).
std::string withHeaders(std::string_view head_lines, std::string_view body = "",
                        std::string_view request_line = "POST / HTTP/1.1") {
  std::string s(request_line);
  s += "\r\nHost: example.com\r\n";
  s += head_lines;
  s += "\r\n";
  s += body;
  return s;
}

// ---- Basics -------------------------------------------------------------

TEST(RequestParser, ParsesSimpleGet) {
  Request r = parseOk("GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n");
  EXPECT_EQ(r.method, Method::Get);
  EXPECT_EQ(r.method_name, "GET");
  EXPECT_EQ(r.target, "/index.html");
  EXPECT_EQ(r.path, "/index.html");
  EXPECT_EQ(r.version, Version::Http11);
  EXPECT_EQ(r.host, "example.com");
  ASSERT_EQ(r.headers.size(), 2u);
  EXPECT_EQ(r.headers[1].name, "User-Agent");
  EXPECT_TRUE(r.keep_alive);
  EXPECT_FALSE(r.chunked);
  EXPECT_FALSE(r.content_length.has_value());
  EXPECT_TRUE(r.body.empty());
}

TEST(RequestParser, KeepsHeaderOrderAndCaseAndLooksUpCaseInsensitively) {
  Request r = parseOk("GET / HTTP/1.1\r\nhOsT: a\r\nX-B: 1\r\nx-a: 2\r\nX-B: 3\r\n\r\n");
  ASSERT_EQ(r.headers.size(), 4u);
  EXPECT_EQ(r.headers[0].name, "hOsT");
  EXPECT_EQ(r.headers[2].name, "x-a");
  EXPECT_EQ(r.header("x-b").value_or(""), "1");
  EXPECT_EQ(countHeader(r.headers, "X-b"), 2u);
  EXPECT_FALSE(r.header("missing").has_value());
}

TEST(RequestParser, TrimsOwsAroundHeaderValues) {
  Request r = parseOk("GET / HTTP/1.1\r\nHost: a\r\nX-A: \t v a l \t\r\nX-Empty:\r\n\r\n");
  EXPECT_EQ(r.header("X-A").value_or("?"), "v a l");
  EXPECT_EQ(r.header("X-Empty").value_or("?"), "");
}

TEST(RequestParser, AcceptsObsTextInHeaderValue) {
  Request r = parseOk("GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\r\n\r\n");
  EXPECT_EQ(r.header("x-name").value_or(""), "caf\xc3\xa9");
}

TEST(RequestParser, ParsesPostWithContentLength) {
  Request r = parseOk(withHeaders("Content-Length: 5\r\n", "hello"));
  EXPECT_EQ(r.content_length, 5u);
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.body_length, 5u);
}

TEST(RequestParser, AcceptsContentLengthWithLeadingZeros) {
  Request r = parseOk(withHeaders("Content-Length: 005\r\n", "hello"));
  EXPECT_EQ(r.content_length, 5u);
}

TEST(RequestParser, ParsesZeroContentLength) {
  Request r = parseOk(withHeaders("Content-Length: 0\r\n"));
  EXPECT_EQ(r.content_length, 0u);
  EXPECT_TRUE(r.body.empty());
}

TEST(RequestParser, MapsMethodsCaseSensitively) {
  EXPECT_EQ(parseOk("DELETE / HTTP/1.1\r\nHost: a\r\n\r\n").method, Method::Delete);
  Request lower = parseOk("get / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(lower.method, Method::Other);
  EXPECT_EQ(lower.method_name, "get");
  EXPECT_EQ(parseOk("PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n").method, Method::Other);
}

TEST(RequestParser, HttpTenNeedsNoHost) {
  Request r = parseOk("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(r.version, Version::Http10);
  EXPECT_TRUE(r.host.empty());
}

TEST(RequestParser, FeedAfterDoneConsumesNothing) {
  RequestParser parser;
  std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  std::size_t used = 0;
  ASSERT_EQ(parser.feed(raw, &used), ParseStatus::Done);
  EXPECT_EQ(parser.feed("GET", &used), ParseStatus::Done);
  EXPECT_EQ(used, 0u);
}

TEST(RequestParser, NeedMoreConsumesEverything) {
  RequestParser parser;
  std::size_t used = 0;
  std::string_view partial = "GET / HTTP/1.1\r\nHo";
  EXPECT_EQ(parser.feed(partial, &used), ParseStatus::NeedMore);
  EXPECT_EQ(used, partial.size());
}

TEST(RequestParser, ResetAllowsNextRequest) {
  RequestParser parser;
  std::size_t used = 0;
  ASSERT_EQ(parser.feed("GET /a HTTP/1.1\r\nHost: a\r\n\r\n", &used), ParseStatus::Done);
  parser.reset();
  ASSERT_EQ(parser.feed("GET /b HTTP/1.1\r\nHost: b\r\n\r\n", &used), ParseStatus::Done);
  EXPECT_EQ(parser.request().path, "/b");
  EXPECT_EQ(parser.request().headers.size(), 1u);
}

// ---- Content-Length / Transfer-Encoding smuggling -----------------------

TEST(RequestParser, RejectsTeWithContentLength) {
  EXPECT_EQ(rejectOf(withHeaders("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
                                 "0\r\n\r\n")),
            RejectReason::ContentLengthWithTransferEncoding);
}

TEST(RequestParser, RejectsContentLengthAfterTe) {
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
                                 "0\r\n\r\n")),
            RejectReason::ContentLengthWithTransferEncoding);
}

TEST(RequestParser, RejectsRepeatedEqualContentLength) {
  EXPECT_EQ(rejectOf(withHeaders("Content-Length: 5\r\nContent-Length: 5\r\n", "hello")),
            RejectReason::MultipleContentLength);
}

TEST(RequestParser, RejectsConflictingContentLength) {
  EXPECT_EQ(rejectOf(withHeaders("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!")),
            RejectReason::MultipleContentLength);
}

TEST(RequestParser, RejectsContentLengthList) {
  EXPECT_EQ(rejectOf(withHeaders("Content-Length: 5, 5\r\n", "hello")),
            RejectReason::MultipleContentLength);
  EXPECT_EQ(rejectOf(withHeaders("Content-Length: 5,\r\n", "hello")),
            RejectReason::MultipleContentLength);
}

TEST(RequestParser, RejectsNonDigitContentLength) {
  for (const char* value : {"+5", "-1", "0x5", "5 5", "5a", "5.0", "\"5\""}) {
    EXPECT_EQ(rejectOf(withHeaders(std::string("Content-Length: ") + value + "\r\n", "hello")),
              RejectReason::BadContentLength)
        << value;
  }
}

TEST(RequestParser, RejectsEmptyContentLength) {
  EXPECT_EQ(rejectOf(withHeaders("Content-Length:\r\n")), RejectReason::BadContentLength);
}

TEST(RequestParser, RejectsOverflowingContentLength) {
  // 2^64 would wrap to 0 in a naive parser and expose the body as a request.
  EXPECT_EQ(rejectOf(withHeaders("Content-Length: 18446744073709551616\r\n")),
            RejectReason::ContentLengthOverflow);
  EXPECT_EQ(rejectOf(withHeaders("Content-Length: 99999999999999999999999\r\n")),
            RejectReason::ContentLengthOverflow);
}

TEST(RequestParser, MaxUint64ContentLengthIsOnlyTooLarge) {
  EXPECT_EQ(rejectOf(withHeaders("Content-Length: 18446744073709551615\r\n")),
            RejectReason::BodyTooLarge);
}

TEST(RequestParser, AcceptsChunkedCaseInsensitively) {
  Request r = parseOk(withHeaders("Transfer-Encoding: ChUnKeD\r\n", "0\r\n\r\n"));
  EXPECT_TRUE(r.chunked);
}

TEST(RequestParser, RejectsTeListEndingInChunked) {
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n")),
            RejectReason::UnsupportedTransferCoding);
}

TEST(RequestParser, RejectsRepeatedChunkedInOneHeader) {
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n")),
            RejectReason::UnsupportedTransferCoding);
}

TEST(RequestParser, RejectsUnknownTransferCoding) {
  auto reason = rejectOf(withHeaders("Transfer-Encoding: identity\r\n"));
  EXPECT_EQ(reason, RejectReason::UnsupportedTransferCoding);
  EXPECT_EQ(rejectReasonStatus(*reason), 501);
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: xchunked\r\n")),
            RejectReason::UnsupportedTransferCoding);
}

TEST(RequestParser, RejectsMalformedTransferEncoding) {
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding:\r\n")), RejectReason::BadTransferEncoding);
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked;q=1\r\n")),
            RejectReason::BadTransferEncoding);
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: \"chunked\"\r\n")),
            RejectReason::BadTransferEncoding);
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked,\r\n")),
            RejectReason::BadTransferEncoding);
}

TEST(RequestParser, RejectsRepeatedTeHeaders) {
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                                 "0\r\n\r\n")),
            RejectReason::MultipleTransferEncoding);
}

TEST(RequestParser, RejectsTeAndIdentityHeaders) {
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
                                 "0\r\n\r\n")),
            RejectReason::MultipleTransferEncoding);
}

TEST(RequestParser, RejectsTeInHttp10) {
  EXPECT_EQ(rejectOf("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            RejectReason::TransferEncodingInHttp10);
}

TEST(RequestParser, RejectsTeWithVerticalTabPrefix) {
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: \x0b" "chunked\r\n", "0\r\n\r\n")),
            RejectReason::BadHeaderValue);
}

TEST(RequestParser, RejectsTeNameWithTrailingSpace) {
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding : chunked\r\n", "0\r\n\r\n")),
            RejectReason::WhitespaceBeforeColon);
}

// ---- Field syntax -------------------------------------------------------

TEST(RequestParser, RejectsWhitespaceBeforeColon) {
  EXPECT_EQ(rejectOf(withHeaders("Content-Length : 5\r\n", "hello")),
            RejectReason::WhitespaceBeforeColon);
}

TEST(RequestParser, RejectsTabBeforeColon) {
  EXPECT_EQ(rejectOf(withHeaders("Content-Length\t: 5\r\n", "hello")),
            RejectReason::WhitespaceBeforeColon);
}

TEST(RequestParser, RejectsObsFold) {
  EXPECT_EQ(rejectOf(withHeaders("X-A: a\r\n b\r\n")), RejectReason::ObsFold);
  EXPECT_EQ(rejectOf(withHeaders("X-A: a\r\n\tb\r\n")), RejectReason::ObsFold);
}

TEST(RequestParser, RejectsWhitespaceBeforeFirstHeader) {
  EXPECT_EQ(rejectOf("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), RejectReason::ObsFold);
}

TEST(RequestParser, RejectsBareLfInRequestLine) {
  EXPECT_EQ(rejectOf("GET / HTTP/1.1\nHost: a\r\n\r\n"), RejectReason::BareLf);
}

TEST(RequestParser, RejectsBareLfAfterHeader) {
  EXPECT_EQ(rejectOf("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"), RejectReason::BareLf);
}

TEST(RequestParser, RejectsBareLfEndingHeaderSection) {
  EXPECT_EQ(rejectOf("GET / HTTP/1.1\r\nHost: a\r\n\n"), RejectReason::BareLf);
}

TEST(RequestParser, RejectsBareCrInHeaderValue) {
  EXPECT_EQ(rejectOf(withHeaders("X-A: a\rTransfer-Encoding: chunked\r\n")), RejectReason::BareCr);
}

TEST(RequestParser, RejectsBareCrInRequestLine) {
  EXPECT_EQ(rejectOf("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n"), RejectReason::BareCr);
}

TEST(RequestParser, RejectsCrCrLf) {
  EXPECT_EQ(rejectOf("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n"), RejectReason::BareCr);
}

TEST(RequestParser, RejectsNulInHeaderValue) {
  EXPECT_EQ(rejectOf(withHeaders(std::string("X-A: a\0b\r\n", 10))), RejectReason::BadHeaderValue);
}

TEST(RequestParser, RejectsNulInHeaderName) {
  EXPECT_EQ(rejectOf(withHeaders(std::string("X\0A: b\r\n", 8))), RejectReason::BadHeaderName);
}

TEST(RequestParser, RejectsCtlInHeaderValue) {
  EXPECT_EQ(rejectOf(withHeaders("X-A: a\x01" "b\r\n")), RejectReason::BadHeaderValue);
  EXPECT_EQ(rejectOf(withHeaders("X-A: a\x7f" "b\r\n")), RejectReason::BadHeaderValue);
}

TEST(RequestParser, RejectsNonTokenHeaderName) {
  for (const char* line : {"X(A): b\r\n", "X@A: b\r\n", "X\"A: b\r\n", "X/A: b\r\n",
                           "X\xc3\xa9: b\r\n", "X\tA: b\r\n"}) {
    EXPECT_EQ(rejectOf(withHeaders(line)), RejectReason::BadHeaderName) << line;
  }
}

TEST(RequestParser, RejectsHeaderWithoutColon) {
  EXPECT_EQ(rejectOf(withHeaders("X-A b\r\n")), RejectReason::HeaderMissingColon);
}

TEST(RequestParser, RejectsEmptyHeaderName) {
  EXPECT_EQ(rejectOf(withHeaders(": b\r\n")), RejectReason::BadHeaderName);
}

// ---- Request line -------------------------------------------------------

TEST(RequestParser, RejectsNonTokenMethod) {
  EXPECT_EQ(rejectOf("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), RejectReason::BadMethod);
  EXPECT_EQ(rejectOf("G\tT / HTTP/1.1\r\nHost: a\r\n\r\n"), RejectReason::BadMethod);
}

TEST(RequestParser, RejectsMissingVersion) {
  EXPECT_EQ(rejectOf("GET /\r\n\r\n"), RejectReason::BadRequestLine);
}

TEST(RequestParser, RejectsDoubleSpaceInRequestLine) {
  EXPECT_EQ(rejectOf("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), RejectReason::BadRequestLine);
  EXPECT_EQ(rejectOf("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), RejectReason::BadRequestLine);
}

TEST(RequestParser, RejectsTabSeparatedRequestLine) {
  EXPECT_EQ(rejectOf("GET\t/\tHTTP/1.1\r\nHost: a\r\n\r\n"), RejectReason::BadRequestLine);
}

TEST(RequestParser, RejectsMalformedVersion) {
  for (const char* v : {"http/1.1", "HTTP/1.1 ", "HTTP/11", "HTTP/1.10", "HTTP/ 1.1", "HTTP/a.b"}) {
    std::string raw = std::string("GET / ") + v + "\r\nHost: a\r\n\r\n";
    auto reason = rejectOf(raw);
    ASSERT_TRUE(reason.has_value()) << v;
    EXPECT_TRUE(*reason == RejectReason::BadVersion || *reason == RejectReason::BadRequestLine) << v;
  }
}

TEST(RequestParser, RejectsUnsupportedVersionWith505) {
  for (const char* v : {"HTTP/0.9", "HTTP/1.2", "HTTP/2.0", "HTTP/9.9"}) {
    std::string raw = std::string("GET / ") + v + "\r\nHost: a\r\n\r\n";
    EXPECT_EQ(rejectOf(raw), RejectReason::UnsupportedVersion) << v;
  }
  EXPECT_EQ(rejectReasonStatus(RejectReason::UnsupportedVersion), 505);
}

TEST(RequestParser, RejectsSpaceInTarget) {
  EXPECT_EQ(rejectOf("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), RejectReason::BadTarget);
}

TEST(RequestParser, RejectsInvalidTargetChars) {
  for (const char* t : {"/a#frag", "/a\tb", "/caf\xc3\xa9", "/a\"b", "/a<b", "/a\\b", "/a{b",
                        "/a|b", "/a^b", "/a`b", "/a\x01"}) {
    std::string raw = std::string("GET ") + t + " HTTP/1.1\r\nHost: a\r\n\r\n";
    EXPECT_EQ(rejectOf(raw), RejectReason::BadTarget) << t;
  }
}

TEST(RequestParser, RejectsMalformedPercentEncoding) {
  for (const char* t : {"/%zz", "/a%4", "/a%", "/?q=%g1", "/%%41"}) {
    std::string raw = std::string("GET ") + t + " HTTP/1.1\r\nHost: a\r\n\r\n";
    EXPECT_EQ(rejectOf(raw), RejectReason::BadPercentEncoding) << t;
  }
}

TEST(RequestParser, DecodesPathButKeepsRaw) {
  Request r = parseOk("GET /a%20b/%2e%2E/c+d HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.path, "/a%20b/%2e%2E/c+d");
  EXPECT_EQ(r.decoded_path, "/a b/../c+d");
  EXPECT_FALSE(r.has_query);
}

TEST(RequestParser, AcceptsAllRfc3986Chars) {
  std::string target = "/AZaz09-._~:@!$&'()*+,;=/x?y=/?:@[]";
  Request r = parseOk("GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.target, target);
}

TEST(RequestParser, RejectsTargetNotStartingWithSlash) {
  EXPECT_EQ(rejectOf("GET index.html HTTP/1.1\r\nHost: a\r\n\r\n"), RejectReason::BadTarget);
}

TEST(RequestParser, AcceptsAsteriskFormForOptions) {
  Request r = parseOk("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.path, "*");
}

TEST(RequestParser, RejectsAsteriskFormForGet) {
  EXPECT_EQ(rejectOf("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), RejectReason::BadTarget);
}

TEST(RequestParser, RejectsConnect) {
  auto reason = rejectOf("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
  EXPECT_EQ(reason, RejectReason::ConnectNotSupported);
  EXPECT_EQ(rejectReasonStatus(*reason), 501);
}

TEST(RequestParser, RejectsAuthorityFormForGet) {
  EXPECT_EQ(rejectOf("GET example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n"), RejectReason::BadTarget);
}

// ---- Absolute-form and Host ---------------------------------------------

TEST(RequestParser, AcceptsAbsoluteFormWithMatchingHost) {
  Request r = parseOk("GET http://Example.com:8080/p?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");
  EXPECT_EQ(r.path, "/p");
  EXPECT_EQ(r.query, "q=1");
  EXPECT_EQ(r.host, "example.com:8080");
}

TEST(RequestParser, AbsoluteFormWithoutPathHasRootPath) {
  Request r = parseOk("GET https://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
  EXPECT_EQ(r.path, "/");
  Request q = parseOk("GET http://example.com?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
  EXPECT_EQ(q.path, "/");
  EXPECT_EQ(q.query, "x=1");
}

TEST(RequestParser, RejectsAbsoluteFormHostMismatch) {
  EXPECT_EQ(rejectOf("GET http://internal.example/admin HTTP/1.1\r\nHost: public.example\r\n\r\n"),
            RejectReason::HostMismatch);
}

TEST(RequestParser, RejectsAbsoluteFormPortMismatch) {
  EXPECT_EQ(rejectOf("GET http://a.example:81/ HTTP/1.1\r\nHost: a.example\r\n\r\n"),
            RejectReason::HostMismatch);
}

TEST(RequestParser, AbsoluteFormSuppliesHostInHttp10) {
  Request r = parseOk("GET http://a.example/x HTTP/1.0\r\n\r\n");
  EXPECT_EQ(r.host, "a.example");
}

TEST(RequestParser, RejectsAbsoluteFormWithOtherScheme) {
  EXPECT_EQ(rejectOf("GET ftp://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n"),
            RejectReason::BadScheme);
  EXPECT_EQ(rejectOf("GET file:///etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n"), RejectReason::BadScheme);
}

TEST(RequestParser, RejectsAbsoluteFormWithUserinfo) {
  EXPECT_EQ(rejectOf("GET http://a.example@evil.example/ HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
            RejectReason::BadTarget);
}

TEST(RequestParser, RejectsAbsoluteFormWithEmptyAuthority) {
  EXPECT_EQ(rejectOf("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), RejectReason::BadHost);
}

TEST(RequestParser, RejectsMissingHostInHttp11) {
  EXPECT_EQ(rejectOf("GET / HTTP/1.1\r\n\r\n"), RejectReason::MissingHost);
}

TEST(RequestParser, RejectsMultipleHost) {
  EXPECT_EQ(rejectOf("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), RejectReason::MultipleHost);
  EXPECT_EQ(rejectOf("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"), RejectReason::MultipleHost);
}

TEST(RequestParser, RejectsInvalidHost) {
  for (const char* h : {"", "a b", "a@b", "a,b", "a/b", "a:b:c", "a:", "a:123456", "[zz]",
                        "a%2fb"}) {
    std::string raw = std::string("GET / HTTP/1.1\r\nHost: ") + h + "\r\n\r\n";
    EXPECT_EQ(rejectOf(raw), RejectReason::BadHost) << h;
  }
}

TEST(RequestParser, AcceptsIpv6AndPortHost) {
  EXPECT_EQ(parseOk("GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n").host, "[::1]:8443");
  EXPECT_EQ(parseOk("GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n").host, "10.0.0.1");
}

// ---- Leading empty lines ------------------------------------------------

TEST(RequestParser, ToleratesFewLeadingCrlf) {
  Request r = parseOk("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.method, Method::Get);
}

TEST(RequestParser, RejectsTooManyLeadingCrlf) {
  EXPECT_EQ(rejectOf("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            RejectReason::TooManyEmptyLines);
}

TEST(RequestParser, RejectsLeadingBareLf) {
  EXPECT_EQ(rejectOf("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), RejectReason::BareLf);
}

TEST(RequestParser, LeadingCrlfCanBeDisabled) {
  RequestLimits limits;
  limits.max_leading_empty_lines = 0;
  EXPECT_EQ(rejectOf("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", limits),
            RejectReason::TooManyEmptyLines);
}

// ---- Connection, Expect -------------------------------------------------

TEST(RequestParser, Http11KeepsAliveByDefault) {
  EXPECT_TRUE(parseOk("GET / HTTP/1.1\r\nHost: a\r\n\r\n").keep_alive);
}

TEST(RequestParser, Http11ConnectionCloseDisablesKeepAlive) {
  EXPECT_FALSE(parseOk("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n").keep_alive);
  EXPECT_FALSE(
      parseOk("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
}

TEST(RequestParser, Http10ClosesByDefault) {
  EXPECT_FALSE(parseOk("GET / HTTP/1.0\r\n\r\n").keep_alive);
}

TEST(RequestParser, Http10KeepAliveHeaderEnablesKeepAlive) {
  EXPECT_TRUE(parseOk("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
}

TEST(RequestParser, SetsExpectContinueWithHeadersBeforeBody) {
  RequestParser parser;
  std::size_t used = 0;
  std::string head = withHeaders("Content-Length: 3\r\nExpect: 100-continue\r\n");
  ASSERT_EQ(parser.feed(head, &used), ParseStatus::NeedMore);
  EXPECT_TRUE(parser.headersComplete());
  EXPECT_TRUE(parser.request().expect_continue);
  ASSERT_EQ(parser.feed("abc", &used), ParseStatus::Done);
  EXPECT_EQ(parser.request().body, "abc");
}

TEST(RequestParser, RejectsUnsupportedExpectation) {
  auto reason = rejectOf(withHeaders("Expect: 200-ok\r\n"));
  EXPECT_EQ(reason, RejectReason::UnsupportedExpectation);
  EXPECT_EQ(rejectReasonStatus(*reason), 417);
}

TEST(RequestParser, IgnoresExpectInHttp10) {
  Request r = parseOk("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
  EXPECT_FALSE(r.expect_continue);
}

// ---- Query and cookies --------------------------------------------------

TEST(RequestParser, ParsesQueryArgsKeepingRepeatsAndOrder) {
  Request r = parseOk("GET /s?b=2&a=1&b=3&c&&d=x%20y+z&e= HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_TRUE(r.has_query);
  EXPECT_EQ(r.query, "b=2&a=1&b=3&c&&d=x%20y+z&e=");
  std::vector<QueryArg> want = {{"b", "2"}, {"a", "1"}, {"b", "3"}, {"c", ""},
                                {"d", "x y z"}, {"e", ""}};
  EXPECT_EQ(r.args, want);
}

TEST(RequestParser, EmptyQueryIsDistinguishedFromNone) {
  Request r = parseOk("GET /a? HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_TRUE(r.has_query);
  EXPECT_TRUE(r.query.empty());
  EXPECT_TRUE(r.args.empty());
}

TEST(RequestParser, ParsesCookiesFromAllCookieHeadersInOrder) {
  Request r = parseOk(
      "GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; b=2;c=3\r\nX: y\r\nCookie: a=4; flag; e=\"q\"\r\n\r\n");
  std::vector<Cookie> want = {{"a", "1"}, {"b", "2"}, {"c", "3"},
                              {"a", "4"}, {"", "flag"}, {"e", "\"q\""}};
  EXPECT_EQ(r.cookies, want);
}

TEST(RequestParser, CookieValueMayContainEquals) {
  Request r = parseOk("GET / HTTP/1.1\r\nHost: a\r\nCookie: t=a=b==\r\n\r\n");
  ASSERT_EQ(r.cookies.size(), 1u);
  EXPECT_EQ(r.cookies[0].value, "a=b==");
}

// ---- Chunked ------------------------------------------------------------

TEST(RequestParser, DecodesChunkedBody) {
  Request r = parseOk(withHeaders("Transfer-Encoding: chunked\r\n",
                                  "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"));
  EXPECT_TRUE(r.chunked);
  EXPECT_EQ(r.body, "hello, world");
  EXPECT_EQ(r.body_length, 12u);
}

TEST(RequestParser, AcceptsUpperAndLowerHexChunkSizes) {
  std::string data(26, 'x');
  Request r = parseOk(withHeaders("Transfer-Encoding: chunked\r\n",
                                  "1a\r\n" + data + "\r\n1A\r\n" + data + "\r\n0\r\n\r\n"));
  EXPECT_EQ(r.body.size(), 52u);
}

TEST(RequestParser, AcceptsChunkSizeWithLeadingZeros) {
  Request r = parseOk(withHeaders("Transfer-Encoding: chunked\r\n",
                                  "00000000000000000000003\r\nabc\r\n000\r\n\r\n"));
  EXPECT_EQ(r.body, "abc");
}

TEST(RequestParser, AcceptsChunkExtensions) {
  Request r = parseOk(withHeaders("Transfer-Encoding: chunked\r\n",
                                  "3;a=b;c ; d = \"x;y\\\"z\"\r\nabc\r\n0;last\r\n\r\n"));
  EXPECT_EQ(r.body, "abc");
}

TEST(RequestParser, RejectsMalformedChunkExtension) {
  for (const char* line : {"3;\r\n", "3;=x\r\n", "3;a=\r\n", "3;a=\"x\r\n", "3;a b\r\n",
                           "3;a=\x01\r\n"}) {
    auto reason =
        rejectOf(withHeaders("Transfer-Encoding: chunked\r\n", std::string(line) + "abc\r\n0\r\n\r\n"));
    EXPECT_EQ(reason, RejectReason::BadChunkExtension) << line;
  }
}

TEST(RequestParser, RejectsWhitespaceAfterChunkSize) {
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked\r\n", "3 \r\nabc\r\n0\r\n\r\n")),
            RejectReason::BadChunkExtension);
}

TEST(RequestParser, RejectsNonHexChunkSize) {
  for (const char* line : {"g\r\n", "0x3\r\n", "-3\r\n", "+3\r\n", " 3\r\n", "\r\n", "3.0\r\n"}) {
    EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked\r\n",
                                   std::string(line) + "abc\r\n0\r\n\r\n")),
              RejectReason::BadChunkSize)
        << line;
  }
}

TEST(RequestParser, RejectsOverflowingChunkSize) {
  // 2^64 + 3 would wrap to 3 in a naive parser.
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked\r\n",
                                 "10000000000000003\r\nabc\r\n0\r\n\r\n")),
            RejectReason::ChunkSizeOverflow);
}

TEST(RequestParser, RejectsChunkLineTooLong) {
  std::string ext = "1;" + std::string(2000, 'a') + "\r\nx\r\n0\r\n\r\n";
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked\r\n", ext)),
            RejectReason::ChunkLineTooLong);
}

TEST(RequestParser, RejectsChunkDataLongerThanSize) {
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked\r\n", "3\r\nabcd\r\n0\r\n\r\n")),
            RejectReason::BadChunkTerminator);
}

TEST(RequestParser, RejectsChunkDataFollowedByBareLf) {
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked\r\n", "3\r\nabc\n0\r\n\r\n")),
            RejectReason::BadChunkTerminator);
}

TEST(RequestParser, RejectsBareLfAfterChunkSize) {
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked\r\n", "3\nabc\r\n0\r\n\r\n")),
            RejectReason::BareLf);
}

TEST(RequestParser, RejectsBareLfAfterLastChunk) {
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked\r\n", "0\r\n\n")),
            RejectReason::BareLf);
}

TEST(RequestParser, WaitsForLastChunk) {
  Outcome out = parseWhole(withHeaders("Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n"));
  EXPECT_EQ(out.status, ParseStatus::NeedMore);
}

TEST(RequestParser, WaitsForTrailerTerminator) {
  Outcome out = parseWhole(withHeaders("Transfer-Encoding: chunked\r\n", "0\r\n"));
  EXPECT_EQ(out.status, ParseStatus::NeedMore);
}

TEST(RequestParser, ParsesTrailers) {
  Request r = parseOk(withHeaders("Transfer-Encoding: chunked\r\n",
                                  "3\r\nabc\r\n0\r\nX-Checksum: 1\r\nX-Other:  v \r\n\r\n"));
  std::vector<Header> want = {{"X-Checksum", "1"}, {"X-Other", "v"}};
  EXPECT_EQ(r.trailers, want);
  EXPECT_EQ(r.headers.size(), 2u);  // trailers are not merged into headers
}

TEST(RequestParser, RejectsFramingTrailers) {
  for (const char* t : {"Content-Length: 5\r\n", "Transfer-Encoding: chunked\r\n",
                        "host: evil\r\n"}) {
    EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked\r\n", std::string("0\r\n") + t + "\r\n")),
              RejectReason::ForbiddenTrailer)
        << t;
  }
}

TEST(RequestParser, RejectsMalformedTrailers) {
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked\r\n", "0\r\nX: a\r\n b\r\n\r\n")),
            RejectReason::ObsFold);
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked\r\n", "0\r\nX : a\r\n\r\n")),
            RejectReason::WhitespaceBeforeColon);
}

TEST(RequestParser, RejectsTrailersTooLarge) {
  std::string trailers = "0\r\n";
  for (int i = 0; i < 100; ++i) trailers += "X-T: " + std::string(50, 'v') + "\r\n";
  trailers += "\r\n";
  auto reason = rejectOf(withHeaders("Transfer-Encoding: chunked\r\n", trailers));
  EXPECT_EQ(reason, RejectReason::TrailerSectionTooLarge);
  EXPECT_EQ(rejectReasonStatus(*reason), 431);
}

// ---- Limits -------------------------------------------------------------

TEST(RequestParser, RejectsRequestLineTooLongWith414) {
  std::string raw = "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n";
  auto reason = rejectOf(raw);
  EXPECT_EQ(reason, RejectReason::RequestLineTooLong);
  EXPECT_EQ(rejectReasonStatus(*reason), 414);
}

TEST(RequestParser, RejectsRequestLineTooLongBeforeItsEnd) {
  // No LF ever arrives: the parser must not keep buffering.
  Outcome out = parseWhole("GET /" + std::string(9000, 'a'));
  EXPECT_EQ(out.status, ParseStatus::Reject);
  EXPECT_EQ(out.reason, RejectReason::RequestLineTooLong);
}

TEST(RequestParser, RejectsTargetTooLong) {
  RequestLimits limits;
  limits.max_target_bytes = 16;
  EXPECT_EQ(rejectOf("GET /" + std::string(16, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", limits),
            RejectReason::TargetTooLong);
  EXPECT_TRUE(parseWhole("GET /" + std::string(15, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", limits)
                  .status == ParseStatus::Done);
}

TEST(RequestParser, RejectsHeaderSectionTooLargeWith431) {
  std::string raw = withHeaders("X-Big: " + std::string(33 * 1024, 'a') + "\r\n");
  auto reason = rejectOf(raw);
  EXPECT_EQ(reason, RejectReason::HeaderSectionTooLarge);
  EXPECT_EQ(rejectReasonStatus(*reason), 431);
}

TEST(RequestParser, HeaderSectionLimitCountsAllLines) {
  std::string lines;
  for (int i = 0; i < 60; ++i) lines += "X-H" + std::to_string(i) + ": " + std::string(600, 'v') + "\r\n";
  EXPECT_EQ(rejectOf(withHeaders(lines)), RejectReason::HeaderSectionTooLarge);
}

TEST(RequestParser, RejectsTooManyHeaders) {
  std::string lines;
  for (int i = 0; i < 100; ++i) lines += "X-H" + std::to_string(i) + ": v\r\n";
  // Host plus 100 more is 101.
  EXPECT_EQ(rejectOf(withHeaders(lines)), RejectReason::TooManyHeaders);
}

TEST(RequestParser, AcceptsExactlyMaxHeaders) {
  std::string lines;
  for (int i = 0; i < 99; ++i) lines += "X-H" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(parseOk(withHeaders(lines)).headers.size(), 100u);
}

TEST(RequestParser, RejectsContentLengthOverLimitBeforeBody) {
  RequestLimits limits;
  limits.max_body_bytes = 10;
  Outcome out = parseWhole(withHeaders("Content-Length: 11\r\n"), limits);
  EXPECT_EQ(out.status, ParseStatus::Reject);
  EXPECT_EQ(out.reason, RejectReason::BodyTooLarge);
  EXPECT_EQ(rejectReasonStatus(out.reason), 413);
}

TEST(RequestParser, AcceptsBodyAtLimit) {
  RequestLimits limits;
  limits.max_body_bytes = 5;
  EXPECT_EQ(parseOk(withHeaders("Content-Length: 5\r\n", "hello"), limits).body, "hello");
}

TEST(RequestParser, RejectsChunkedBodyOverLimit) {
  RequestLimits limits;
  limits.max_body_bytes = 5;
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"),
                     limits),
            RejectReason::BodyTooLarge);
}

// What an InspectPrefix parse of one request gives: the request as of
// Prefix (or Done), the streamed rest of the body, the final status and
// where the request ended.
struct Streamed {
  ParseStatus first = ParseStatus::NeedMore;  // what feed() ended with
  ParseStatus last = ParseStatus::NeedMore;   // what feedBody() ended with
  RejectReason reason = RejectReason::BadRequestLine;
  Request request;
  std::string rest;       // body bytes from feedBody()
  std::size_t end = 0;    // offset where the request ended (or was rejected)
};

// Feeds `raw` in pieces of `piece` bytes through feed() and, after Prefix,
// feedBody(), the way the engine does.
Streamed parseStreamed(std::string_view raw, std::size_t piece, RequestLimits limits) {
  limits.body_policy = BodyLimitPolicy::InspectPrefix;
  RequestParser parser(limits);
  Streamed out;
  std::size_t offset = 0;
  while (true) {
    std::size_t used = 0;
    out.first = parser.feed(raw.substr(offset, piece), &used);
    offset += used;
    if (out.first != ParseStatus::NeedMore || offset >= raw.size()) break;
  }
  out.request = parser.request();
  if (out.first == ParseStatus::Prefix) {
    EXPECT_TRUE(parser.streaming());
    while (true) {
      std::size_t used = 0;
      out.last = parser.feedBody(raw.substr(offset, piece), &used, &out.rest);
      offset += used;
      if (out.last != ParseStatus::NeedMore || offset >= raw.size()) break;
    }
    EXPECT_FALSE(parser.streaming() && out.last != ParseStatus::NeedMore);
  }
  out.reason = parser.rejectReason();
  out.end = offset;
  return out;
}

std::string chunkedOf(std::string_view body, std::size_t chunk) {
  std::string out;
  for (std::size_t i = 0; i < body.size(); i += chunk) {
    std::string_view part = body.substr(i, chunk);
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", part.size());
    out += size;
    out += part;
    out += "\r\n";
  }
  return out + "0\r\n\r\n";
}

std::string pattern(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<char>('a' + (i * 7) % 26);
  return s;
}

TEST(RequestParser, InspectPrefixStreamsRestOfContentLengthBody) {
  RequestLimits limits;
  limits.max_body_bytes = 4;
  const std::string body = pattern(1000);
  std::string first = withHeaders("Content-Length: 1000\r\n", body);
  std::string raw = first + "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
  for (std::size_t piece : {raw.size(), std::size_t{1}, std::size_t{7}, std::size_t{300}}) {
    Streamed out = parseStreamed(raw, piece, limits);
    ASSERT_EQ(out.first, ParseStatus::Prefix) << piece;
    EXPECT_EQ(out.request.body, body.substr(0, 4));
    EXPECT_TRUE(out.request.body_truncated);
    EXPECT_EQ(out.request.content_length, 1000u);
    ASSERT_EQ(out.last, ParseStatus::Done) << piece;
    EXPECT_EQ(out.rest, body.substr(4)) << piece;
    EXPECT_EQ(out.end, first.size()) << piece;  // the pipelined GET is left alone
  }
}

TEST(RequestParser, InspectPrefixReturnsPrefixOnlyOnceItIsComplete) {
  RequestLimits limits;
  limits.max_body_bytes = 10;
  limits.body_policy = BodyLimitPolicy::InspectPrefix;
  RequestParser parser(limits);
  std::string head = withHeaders("Content-Length: 20\r\n");
  std::size_t used = 0;
  EXPECT_EQ(parser.feed(head + "01234", &used), ParseStatus::NeedMore);
  EXPECT_TRUE(parser.headersComplete());
  EXPECT_EQ(parser.feed("56789ABC", &used), ParseStatus::Prefix);
  EXPECT_EQ(used, 5u);  // exactly up to the end of the prefix
  EXPECT_EQ(parser.request().body, "0123456789");
  std::string rest;
  EXPECT_EQ(parser.feedBody("ABC", &used, &rest), ParseStatus::NeedMore);
  EXPECT_EQ(used, 3u);
  EXPECT_EQ(parser.feedBody("DEFGHIJXYZ", &used, &rest), ParseStatus::Done);
  EXPECT_EQ(used, 7u);
  EXPECT_EQ(rest, "ABCDEFGHIJ");
}

TEST(RequestParser, InspectPrefixStreamsRestOfChunkedBody) {
  RequestLimits limits;
  limits.max_body_bytes = 64;
  const std::string body = pattern(5000);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{63}, std::size_t{64}, std::size_t{700}}) {
    std::string first = withHeaders("Transfer-Encoding: chunked\r\n", chunkedOf(body, chunk));
    std::string raw = first + "GET / HTTP/1.1\r\n";
    for (std::size_t piece : {raw.size(), std::size_t{1}, std::size_t{13}, std::size_t{4096}}) {
      Streamed out = parseStreamed(raw, piece, limits);
      ASSERT_EQ(out.first, ParseStatus::Prefix) << chunk << "/" << piece;
      EXPECT_EQ(out.request.body, body.substr(0, 64));
      EXPECT_TRUE(out.request.body_truncated);
      ASSERT_EQ(out.last, ParseStatus::Done) << chunk << "/" << piece;
      EXPECT_EQ(out.rest, body.substr(64)) << chunk << "/" << piece;
      EXPECT_EQ(out.end, first.size()) << chunk << "/" << piece;
    }
  }
}

TEST(RequestParser, InspectPrefixBodyAtLimitIsDoneNotStreamed) {
  RequestLimits limits;
  limits.max_body_bytes = 6;
  for (const std::string& raw :
       {withHeaders("Content-Length: 6\r\n", "abcdef"),
        withHeaders("Transfer-Encoding: chunked\r\n", chunkedOf("abcdef", 3))}) {
    for (std::size_t piece : {raw.size(), std::size_t{1}}) {
      Streamed out = parseStreamed(raw, piece, limits);
      ASSERT_EQ(out.first, ParseStatus::Done);
      EXPECT_EQ(out.request.body, "abcdef");
      EXPECT_FALSE(out.request.body_truncated);
      EXPECT_EQ(out.end, raw.size());
    }
  }
}

TEST(RequestParser, InspectPrefixWithZeroLimitStreamsWholeBody) {
  RequestLimits limits;
  limits.max_body_bytes = 0;
  Streamed out = parseStreamed(withHeaders("Content-Length: 3\r\n", "xyz"), 1, limits);
  ASSERT_EQ(out.first, ParseStatus::Prefix);
  EXPECT_EQ(out.request.body, "");
  EXPECT_EQ(out.last, ParseStatus::Done);
  EXPECT_EQ(out.rest, "xyz");
}

TEST(RequestParser, InspectPrefixWholeChunkedBodyInFirstFeedStillStreams) {
  // The chunked decoder may run past the prefix and even to the end of the
  // body in one call; the bytes past the prefix come out of feedBody().
  RequestLimits limits;
  limits.max_body_bytes = 2;
  limits.body_policy = BodyLimitPolicy::InspectPrefix;
  RequestParser parser(limits);
  std::string raw = withHeaders("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n");
  std::size_t used = 0;
  ASSERT_EQ(parser.feed(raw + "GET", &used), ParseStatus::Prefix);
  EXPECT_EQ(used, raw.size());
  EXPECT_EQ(parser.request().body, "he");
  EXPECT_EQ(parser.feed("GET", &used), ParseStatus::Prefix);  // feed() waits for feedBody()
  EXPECT_EQ(used, 0u);
  std::string rest;
  EXPECT_EQ(parser.feedBody("GET", &used, &rest), ParseStatus::Done);
  EXPECT_EQ(used, 0u);
  EXPECT_EQ(rest, "llo");
  EXPECT_FALSE(parser.streaming());
}

TEST(RequestParser, InspectPrefixDoesNotLimitStreamedSize) {
  RequestLimits limits;
  limits.max_body_bytes = 8;
  const std::string body = pattern(3 * 1024 * 1024);
  Streamed out = parseStreamed(
      withHeaders("Content-Length: " + std::to_string(body.size()) + "\r\n", body), 65536, limits);
  EXPECT_EQ(out.last, ParseStatus::Done);
  EXPECT_EQ(out.rest.size(), body.size() - 8);
}

TEST(RequestParser, InspectPrefixStillRejectsBadChunkInStreamedPart) {
  RequestLimits limits;
  limits.max_body_bytes = 4;
  // Chunk sizes that lie, a bad size line, a framing trailer, a bare LF:
  // each after the prefix, each still refused, at any split.
  for (const auto& [tail, reason] : std::vector<std::pair<std::string, RejectReason>>{
           {"3\r\nabcX\r\n0\r\n\r\n", RejectReason::BadChunkTerminator},
           {"zz\r\nab\r\n0\r\n\r\n", RejectReason::BadChunkSize},
           {"ffffffffffffffffff\r\n", RejectReason::ChunkSizeOverflow},
           {"2\r\nab\r\n0\r\nContent-Length: 5\r\n\r\n", RejectReason::ForbiddenTrailer},
           {"2\nab\r\n0\r\n\r\n", RejectReason::BareLf}}) {
    std::string raw = withHeaders("Transfer-Encoding: chunked\r\n", "6\r\nabcdef\r\n" + tail);
    for (std::size_t piece : {raw.size(), std::size_t{1}, std::size_t{5}}) {
      // When the bad bytes arrive with the prefix, feed() rejects at once;
      // later, feedBody() does.
      Streamed out = parseStreamed(raw, piece, limits);
      EXPECT_TRUE(out.first == ParseStatus::Reject ||
                  (out.first == ParseStatus::Prefix && out.last == ParseStatus::Reject))
          << tail << "/" << piece;
      EXPECT_EQ(out.reason, reason) << tail << "/" << piece;
    }
  }
}

TEST(RequestParser, InspectPrefixStillRejectsSmugglingInHead) {
  RequestLimits limits;
  limits.max_body_bytes = 1;
  limits.body_policy = BodyLimitPolicy::InspectPrefix;
  EXPECT_EQ(rejectOf(withHeaders("Content-Length: 10\r\nTransfer-Encoding: chunked\r\n",
                                 "0\r\n\r\n"),
                     limits),
            RejectReason::ContentLengthWithTransferEncoding);
  EXPECT_EQ(rejectOf(withHeaders("Content-Length: 10\r\nContent-Length: 10\r\n", "x"), limits),
            RejectReason::MultipleContentLength);
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked\r\n", "3\r\nabcX\r\n0\r\n\r\n"),
                     limits),
            RejectReason::BadChunkTerminator);
}

TEST(RequestParser, RejectPolicyStillAnswers413) {
  RequestLimits limits;
  limits.max_body_bytes = 4;
  EXPECT_EQ(rejectOf(withHeaders("Content-Length: 5\r\n", "abcde"), limits),
            RejectReason::BodyTooLarge);
  EXPECT_EQ(rejectOf(withHeaders("Transfer-Encoding: chunked\r\n", chunkedOf("abcde", 5)), limits),
            RejectReason::BodyTooLarge);
}

TEST(RequestParser, FeedBodyOutsideStreamingConsumesNothing) {
  RequestParser parser;
  std::size_t used = 7;
  std::string out;
  EXPECT_EQ(parser.feedBody("GET / HTTP/1.1\r\n", &used, &out), ParseStatus::NeedMore);
  EXPECT_EQ(used, 0u);
  EXPECT_TRUE(out.empty());
}

TEST(RequestParser, InspectPrefixDoesNotTruncateSmallBody) {
  RequestLimits limits;
  limits.max_body_bytes = 10;
  limits.body_policy = BodyLimitPolicy::InspectPrefix;
  Request r = parseOk(withHeaders("Content-Length: 3\r\n", "abc"), limits);
  EXPECT_FALSE(r.body_truncated);
}

// ---- Pipelining ---------------------------------------------------------

TEST(RequestParser, ConsumesExactlyOneOfTwoPipelinedRequests) {
  std::string a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string b = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string buf = a + b;
  RequestParser parser;
  std::size_t used = 0;
  ASSERT_EQ(parser.feed(buf, &used), ParseStatus::Done);
  EXPECT_EQ(used, a.size());
  EXPECT_EQ(parser.request().path, "/a");
  parser.reset();
  ASSERT_EQ(parser.feed(std::string_view(buf).substr(used), &used), ParseStatus::Done);
  EXPECT_EQ(used, b.size());
  EXPECT_EQ(parser.request().path, "/b");
}

TEST(RequestParser, ParsesThreePipelinedRequestsWithBodies) {
  std::string a = withHeaders("Content-Length: 3\r\n", "abc", "POST /a HTTP/1.1");
  std::string b = withHeaders("Transfer-Encoding: chunked\r\n", "2\r\nde\r\n0\r\n\r\n",
                              "POST /b HTTP/1.1");
  std::string c = "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string buf = a + b + c;
  RequestParser parser;
  std::string_view rest = buf;
  std::vector<std::string> paths, bodies;
  while (!rest.empty()) {
    std::size_t used = 0;
    ASSERT_EQ(parser.feed(rest, &used), ParseStatus::Done);
    paths.push_back(parser.request().path);
    bodies.push_back(parser.request().body);
    rest.remove_prefix(used);
    parser.reset();
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"/a", "/b", "/c"}));
  EXPECT_EQ(bodies, (std::vector<std::string>{"abc", "de", ""}));
}

TEST(RequestParser, SmuggledRequestInBodyStaysBody) {
  // Classic CL.TE: with CL only, "0\r\n\r\nGET /admin" is body, not a request.
  std::string body = "0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string raw = withHeaders("Content-Length: " + std::to_string(body.size()) + "\r\n", body);
  Request r = parseOk(raw);
  EXPECT_EQ(r.body, body);
}

// ---- Split invariance ---------------------------------------------------

bool sameRequest(const Request& a, const Request& b) {
  return a.method == b.method && a.method_name == b.method_name && a.target == b.target &&
         a.path == b.path && a.decoded_path == b.decoded_path && a.query == b.query &&
         a.has_query == b.has_query && a.args == b.args && a.version == b.version &&
         a.headers == b.headers && a.trailers == b.trailers && a.cookies == b.cookies &&
         a.body == b.body && a.body_length == b.body_length &&
         a.body_truncated == b.body_truncated && a.keep_alive == b.keep_alive &&
         a.chunked == b.chunked && a.content_length == b.content_length &&
         a.expect_continue == b.expect_continue && a.host == b.host;
}

const std::string kComplexRequest =
    "\r\nPOST /p%20a/th?x=1&y=%41+b&x=2 HTTP/1.1\r\n"
    "Host: example.com:8080\r\n"
    "Cookie: s=abc; t=1\r\n"
    "Expect: 100-continue\r\n"
    "Transfer-Encoding: chunked\r\n"
    "X-Folded-Not:  value with  spaces \r\n"
    "\r\n"
    "4;ext=\"a;b\"\r\nWiki\r\n"
    "5\r\npedia\r\n"
    "e\r\n in\r\n\r\nchunks.\r\n"
    "0\r\n"
    "X-Trailer: yes\r\n"
    "\r\n";

TEST(RequestParser, SplitAtEveryOffsetParsesIdentically) {
  std::string next = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string raw = kComplexRequest + next;
  Outcome whole = parseWhole(raw);
  ASSERT_EQ(whole.status, ParseStatus::Done) << rejectReasonName(whole.reason);
  ASSERT_EQ(whole.consumed, kComplexRequest.size());
  EXPECT_EQ(whole.request.body, "Wikipedia in\r\n\r\nchunks.");
  for (std::size_t split = 0; split <= raw.size(); ++split) {
    RequestParser parser;
    std::size_t used1 = 0, used2 = 0;
    ParseStatus st = parser.feed(std::string_view(raw).substr(0, split), &used1);
    if (st == ParseStatus::NeedMore) {
      ASSERT_EQ(used1, split);
      st = parser.feed(std::string_view(raw).substr(split), &used2);
    }
    ASSERT_EQ(st, ParseStatus::Done) << "split " << split;
    EXPECT_EQ(used1 + used2, kComplexRequest.size()) << "split " << split;
    EXPECT_TRUE(sameRequest(parser.request(), whole.request)) << "split " << split;
  }
}

TEST(RequestParser, ByteAtATimeParsesIdentically) {
  Outcome whole = parseWhole(kComplexRequest);
  for (std::size_t piece : {1u, 2u, 3u, 7u, 13u}) {
    Outcome pieces = parseInPieces(kComplexRequest, piece);
    ASSERT_EQ(pieces.status, ParseStatus::Done) << piece;
    EXPECT_EQ(pieces.consumed, kComplexRequest.size());
    EXPECT_TRUE(sameRequest(pieces.request, whole.request)) << piece;
  }
}

TEST(RequestParser, RejectionDoesNotDependOnSplit) {
  const std::string attacks[] = {
      withHeaders("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
      withHeaders("Transfer-Encoding: chunked\r\n", "3\nabc\r\n0\r\n\r\n"),
      withHeaders("X: a\rb\r\n"),
      withHeaders("Transfer-Encoding: chunked\r\n", "3\r\nabc\r0\r\n\r\n"),
      withHeaders("Transfer-Encoding: chunked\r\n", "0\r\nContent-Length: 1\r\n\r\n"),
      withHeaders("Transfer-Encoding: chunked\r\n", "1;" + std::string(1100, 'e') + "\r\nx\r\n"),
      "GET /" + std::string(9000, 'a'),
  };
  for (const std::string& raw : attacks) {
    Outcome whole = parseWhole(raw);
    ASSERT_EQ(whole.status, ParseStatus::Reject);
    for (std::size_t piece = 1; piece <= raw.size(); ++piece) {
      Outcome pieces = parseInPieces(raw, piece);
      EXPECT_EQ(pieces.status, ParseStatus::Reject) << piece;
      EXPECT_EQ(pieces.reason, whole.reason) << piece;
      EXPECT_EQ(pieces.consumed, whole.consumed) << piece;  // reject offset is split-independent
    }
  }
}

}  // namespace
}  // namespace mamori::http
