#include "http/response_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace mamori::http {
namespace {

struct FeedResult {
  ResponseParseStatus last = ResponseParseStatus::NeedMore;
  bool saw_headers_done = false;
  std::size_t consumed = 0;  // total bytes of input used
  RejectReason reason = RejectReason::BadStatusLine;
};

// Feeds `raw` in pieces of `piece` bytes until Done/Reject or input ends,
// continuing past HeadersDone the way the proxy would.
FeedResult feedAll(ResponseParser& parser, std::string_view raw, std::size_t piece = 0) {
  FeedResult run;
  if (piece == 0) piece = raw.size() == 0 ? 1 : raw.size();
  std::size_t offset = 0;
  while (true) {
    std::string_view chunk = raw.substr(offset, piece);
    std::size_t used = 0;
    run.last = parser.feed(chunk, &used);
    offset += used;
    if (run.last == ResponseParseStatus::HeadersDone) {
      run.saw_headers_done = true;
      continue;
    }
    if (run.last != ResponseParseStatus::NeedMore || offset >= raw.size()) break;
  }
  run.consumed = offset;
  run.reason = parser.rejectReason();
  return run;
}

TEST(ResponseParser, ParsesContentLengthResponse) {
  ResponseParser parser(Method::Get);
  std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
  std::size_t used = 0;
  ASSERT_EQ(parser.feed(raw, &used), ResponseParseStatus::HeadersDone);
  EXPECT_EQ(used, raw.size() - 5);
  EXPECT_EQ(parser.response().status, 200);
  EXPECT_EQ(parser.response().reason, "OK");
  EXPECT_EQ(parser.response().framing, BodyFraming::ContentLength);
  EXPECT_EQ(parser.response().content_length, 5u);
  EXPECT_EQ(parser.response().header("server").value_or(""), "x");
  ASSERT_EQ(parser.feed(std::string_view(raw).substr(used), &used), ResponseParseStatus::Done);
  EXPECT_EQ(used, 5u);
  EXPECT_TRUE(parser.connectionReusable());
}

TEST(ResponseParser, StopsAtEndOfResponse) {
  ResponseParser parser(Method::Get);
  std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
  FeedResult run = feedAll(parser, first + "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(run.last, ResponseParseStatus::Done);
  EXPECT_EQ(run.consumed, first.size());
}

TEST(ResponseParser, TracksChunkedBodyWithoutStoringIt) {
  ResponseParser parser(Method::Get);
  std::string raw =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n"
      "X-T: 1\r\n\r\n";
  FeedResult run = feedAll(parser, raw + "junk");
  ASSERT_EQ(run.last, ResponseParseStatus::Done);
  EXPECT_EQ(run.consumed, raw.size());
  EXPECT_EQ(parser.response().framing, BodyFraming::Chunked);
  EXPECT_EQ(parser.response().body_length, 9u);
  ASSERT_EQ(parser.response().trailers.size(), 1u);
  EXPECT_TRUE(parser.connectionReusable());
}

TEST(ResponseParser, ChunkedSplitAtEveryOffsetEndsAtSamePlace) {
  std::string raw =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n"
      "a;n=\"v\"\r\n0123456789\r\n1\r\n\n\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n";
  std::string tail = "HTTP/1.1 200 OK\r\n";
  std::string all = raw + tail;
  for (std::size_t split = 0; split <= all.size(); ++split) {
    ResponseParser parser(Method::Get);
    std::size_t total = 0;
    std::string_view parts[2] = {std::string_view(all).substr(0, split),
                                 std::string_view(all).substr(split)};
    ResponseParseStatus st = ResponseParseStatus::NeedMore;
    for (std::string_view part : parts) {
      while (true) {
        std::size_t used = 0;
        st = parser.feed(part, &used);
        total += used;
        part.remove_prefix(used);
        if (st != ResponseParseStatus::HeadersDone) break;
      }
      if (st != ResponseParseStatus::NeedMore) break;
    }
    ASSERT_EQ(st, ResponseParseStatus::Done) << "split " << split;
    EXPECT_EQ(total, raw.size()) << "split " << split;
    EXPECT_EQ(parser.response().body_length, 27u) << "split " << split;
  }
}

TEST(ResponseParser, ContentLengthSplitAtEveryOffsetEndsAtSamePlace) {
  std::string raw = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 12\r\n\r\nhello world!";
  std::string all = raw + "HTTP/1.0";
  for (std::size_t piece = 1; piece <= all.size(); ++piece) {
    ResponseParser parser(Method::Post);
    FeedResult run = feedAll(parser, all, piece);
    ASSERT_EQ(run.last, ResponseParseStatus::Done) << piece;
    EXPECT_EQ(run.consumed, raw.size()) << piece;
    EXPECT_TRUE(parser.connectionReusable()) << piece;
  }
}

TEST(ResponseParser, ResponseToHeadHasNoBody) {
  ResponseParser parser(Method::Head);
  std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  FeedResult run = feedAll(parser, raw + "HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(run.last, ResponseParseStatus::Done);
  EXPECT_FALSE(run.saw_headers_done);
  EXPECT_EQ(run.consumed, raw.size());
  EXPECT_EQ(parser.response().framing, BodyFraming::None);
  EXPECT_TRUE(parser.connectionReusable());
}

TEST(ResponseParser, NoContentAndNotModifiedHaveNoBody) {
  for (const char* line : {"HTTP/1.1 204 No Content", "HTTP/1.1 304 Not Modified"}) {
    ResponseParser parser(Method::Get);
    std::string raw = std::string(line) + "\r\nContent-Length: 10\r\n\r\n";
    FeedResult run = feedAll(parser, raw);
    EXPECT_EQ(run.last, ResponseParseStatus::Done) << line;
    EXPECT_EQ(parser.response().framing, BodyFraming::None) << line;
  }
}

TEST(ResponseParser, InterimResponseThenFinal) {
  ResponseParser parser(Method::Post);
  std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  std::string final_resp = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
  std::string all = interim + final_resp;
  FeedResult run = feedAll(parser, all);
  ASSERT_EQ(run.last, ResponseParseStatus::Done);
  EXPECT_EQ(run.consumed, interim.size());
  EXPECT_TRUE(parser.isInterim());
  parser.reset(Method::Post);
  FeedResult second = feedAll(parser, std::string_view(all).substr(run.consumed));
  ASSERT_EQ(second.last, ResponseParseStatus::Done);
  EXPECT_EQ(parser.response().status, 201);
  EXPECT_FALSE(parser.isInterim());
}

TEST(ResponseParser, SwitchingProtocolsIsNotReusable) {
  ResponseParser parser(Method::Get);
  FeedResult run = feedAll(parser, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
  ASSERT_EQ(run.last, ResponseParseStatus::Done);
  EXPECT_FALSE(parser.isInterim());
  EXPECT_FALSE(parser.connectionReusable());
}

TEST(ResponseParser, NoFramingMeansUntilClose) {
  ResponseParser parser(Method::Get);
  FeedResult run = feedAll(parser, "HTTP/1.1 200 OK\r\n\r\nsome body");
  EXPECT_EQ(run.last, ResponseParseStatus::NeedMore);
  EXPECT_EQ(parser.response().framing, BodyFraming::UntilClose);
  EXPECT_EQ(parser.response().body_length, 9u);
  EXPECT_EQ(parser.finishAtEof(), ResponseParseStatus::Done);
  EXPECT_FALSE(parser.connectionReusable());
}

TEST(ResponseParser, TeWithoutFinalChunkedMeansUntilClose) {
  ResponseParser parser(Method::Get);
  FeedResult run = feedAll(parser, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx");
  EXPECT_EQ(run.last, ResponseParseStatus::NeedMore);
  EXPECT_EQ(parser.response().framing, BodyFraming::UntilClose);
}

TEST(ResponseParser, AcceptsCodingListEndingInChunked) {
  ResponseParser parser(Method::Get);
  FeedResult run = feedAll(parser, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(run.last, ResponseParseStatus::Done);
  EXPECT_EQ(parser.response().framing, BodyFraming::Chunked);
}

TEST(ResponseParser, RejectsChunkedTwice) {
  ResponseParser parser(Method::Get);
  FeedResult run = feedAll(parser,
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(run.last, ResponseParseStatus::Reject);
  EXPECT_EQ(run.reason, RejectReason::BadTransferEncoding);
}

TEST(ResponseParser, EofInsideContentLengthBodyIsTruncation) {
  ResponseParser parser(Method::Get);
  feedAll(parser, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(parser.finishAtEof(), ResponseParseStatus::Reject);
  EXPECT_EQ(parser.rejectReason(), RejectReason::TruncatedMessage);
}

TEST(ResponseParser, Http10WithoutKeepAliveIsNotReusable) {
  ResponseParser parser(Method::Get);
  FeedResult run = feedAll(parser, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(run.last, ResponseParseStatus::Done);
  EXPECT_FALSE(parser.connectionReusable());
}

TEST(ResponseParser, ConnectionCloseIsNotReusable) {
  ResponseParser parser(Method::Get);
  FeedResult run = feedAll(parser, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(run.last, ResponseParseStatus::Done);
  EXPECT_FALSE(parser.connectionReusable());
}

TEST(ResponseParser, AcceptsMissingReasonPhrase) {
  for (const char* line : {"HTTP/1.1 200", "HTTP/1.1 200 "}) {
    ResponseParser parser(Method::Get);
    FeedResult run = feedAll(parser, std::string(line) + "\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(run.last, ResponseParseStatus::Done) << line;
    EXPECT_EQ(parser.response().status, 200);
  }
}

TEST(ResponseParser, AcceptsRepeatedIdenticalContentLength) {
  ResponseParser parser(Method::Get);
  FeedResult run = feedAll(parser, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nhi");
  EXPECT_EQ(run.last, ResponseParseStatus::Done);
}

TEST(ResponseParser, RejectsConflictingContentLength) {
  ResponseParser parser(Method::Get);
  FeedResult run = feedAll(parser, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi");
  EXPECT_EQ(run.last, ResponseParseStatus::Reject);
  EXPECT_EQ(run.reason, RejectReason::MultipleContentLength);
}

TEST(ResponseParser, RejectsContentLengthWithTransferEncoding) {
  ResponseParser parser(Method::Get);
  FeedResult run = feedAll(parser,
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(run.reason, RejectReason::ContentLengthWithTransferEncoding);
}

TEST(ResponseParser, RejectsBadContentLength) {
  ResponseParser parser(Method::Get);
  FeedResult run = feedAll(parser, "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n");
  EXPECT_EQ(run.reason, RejectReason::BadContentLength);
}

TEST(ResponseParser, RejectsMalformedStatusLines) {
  for (const char* line : {"HTTP/1.1 20 OK", "HTTP/2.0 200 OK", "http/1.1 200 OK", "HTTP/1.1  200 OK",
                           "HTTP/1.1 099 X", "HTTP/1.1 600 X", "HTTP/1.1 200OK", "ICY 200 OK",
                           "HTTP/1.1 200 O\x01K"}) {
    ResponseParser parser(Method::Get);
    FeedResult run = feedAll(parser, std::string(line) + "\r\n\r\n");
    EXPECT_EQ(run.last, ResponseParseStatus::Reject) << line;
    EXPECT_EQ(run.reason, RejectReason::BadStatusLine) << line;
  }
}

TEST(ResponseParser, RejectsBareLfAndObsFold) {
  {
    ResponseParser parser(Method::Get);
    EXPECT_EQ(feedAll(parser, "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n").reason,
              RejectReason::BareLf);
  }
  {
    ResponseParser parser(Method::Get);
    EXPECT_EQ(feedAll(parser, "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n").reason,
              RejectReason::ObsFold);
  }
}

TEST(ResponseParser, RejectsBadChunkInBody) {
  ResponseParser parser(Method::Get);
  FeedResult run = feedAll(parser, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n");
  EXPECT_EQ(run.reason, RejectReason::BadChunkTerminator);
}

TEST(ResponseParser, RejectsHeaderSectionTooLarge) {
  ResponseLimits limits;
  limits.max_header_bytes = 64;
  ResponseParser parser(Method::Get, limits);
  FeedResult run = feedAll(parser, "HTTP/1.1 200 OK\r\nX: " + std::string(100, 'a') + "\r\n\r\n");
  EXPECT_EQ(run.reason, RejectReason::HeaderSectionTooLarge);
}

TEST(ResponseParser, ResetClearsState) {
  ResponseParser parser(Method::Head);
  feedAll(parser, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
  parser.reset(Method::Get);
  FeedResult run = feedAll(parser, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(run.last, ResponseParseStatus::Done);
  EXPECT_TRUE(run.saw_headers_done);
  EXPECT_EQ(parser.response().headers.size(), 1u);
}

}  // namespace
}  // namespace mamori::http
