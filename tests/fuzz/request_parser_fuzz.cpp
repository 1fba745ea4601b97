// Fuzz target for the HTTP/1.1 request parser (and, on the same bytes, the
// response parser). Besides "does not crash", it checks the properties the
// proxy relies on:
//   - consumed never exceeds the input, and NeedMore consumes everything;
//   - the outcome does not depend on how the input is split (the first
//     byte chooses a piece size), which is what keeps us in step with the
//     upstream whatever TCP segmentation an attacker picks;
//   - a Done request has sane fields (framing flags consistent, body within
//     limits, Host present in HTTP/1.1);
//   - with InspectPrefix, a Prefix request carries exactly max_body_bytes
//     and the streamed rest (feedBody) is the same however it is split (a
//     framing error just past the prefix may come from feed() or from
//     feedBody(), with the same reason at the same offset).
// Violations abort, so libFuzzer and the corpus replay both report them.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/request_parser.h"
#include "http/response_parser.h"
#include "http/syntax.h"

namespace {

using mamori::http::BodyLimitPolicy;
using mamori::http::Method;
using mamori::http::ParseStatus;
using mamori::http::RejectReason;
using mamori::http::Request;
using mamori::http::RequestLimits;
using mamori::http::RequestParser;
using mamori::http::ResponseParser;
using mamori::http::ResponseParseStatus;
using mamori::http::Version;

void check(bool ok) {
  if (!ok) std::abort();
}

struct Step {
  ParseStatus status;
  RejectReason reason;
  std::size_t end;  // absolute offset where the request ended
  Request request;
  bool streamed = false;  // feed() said Prefix; `rest` came from feedBody()
  std::string rest;
};

bool sameRequest(const Request& a, const Request& b) {
  return a.method == b.method && a.method_name == b.method_name && a.target == b.target &&
         a.path == b.path && a.decoded_path == b.decoded_path && a.query == b.query &&
         a.args == b.args && a.version == b.version && a.headers == b.headers &&
         a.trailers == b.trailers && a.cookies == b.cookies && a.body == b.body &&
         a.body_length == b.body_length && a.body_truncated == b.body_truncated &&
         a.keep_alive == b.keep_alive && a.chunked == b.chunked &&
         a.content_length == b.content_length && a.expect_continue == b.expect_continue &&
         a.host == b.host;
}

void checkDoneRequest(const Request& r, const RequestLimits& limits) {
  check(mamori::http::syntax::isToken(r.method_name));
  check(!r.path.empty() && (r.path[0] == '/' || r.path == "*"));
  check(!(r.chunked && r.content_length.has_value()));
  if (r.version == Version::Http11) check(!r.host.empty());
  if (r.chunked) check(r.version == Version::Http11);
  check(r.body.size() <= limits.max_body_bytes);
  check(r.body.size() == r.body_length);
  check(!r.body_truncated);
  if (r.content_length.has_value()) check(r.body_length == *r.content_length);
  if (!r.chunked && !r.content_length.has_value()) check(r.body_length == 0);
  if (!r.chunked) check(r.trailers.empty());
}

// Parses up to 8 pipelined requests from `in`, feeding `piece` bytes at a time.
std::vector<Step> parseAll(std::string_view in, std::size_t piece, const RequestLimits& limits) {
  std::vector<Step> steps;
  RequestParser parser(limits);
  std::size_t offset = 0;
  while (steps.size() < 8 && offset < in.size()) {
    std::string_view chunk = in.substr(offset, piece);
    std::size_t used = 0;
    ParseStatus st = parser.feed(chunk, &used);
    check(used <= chunk.size());
    if (st == ParseStatus::NeedMore) check(used == chunk.size());
    offset += used;
    if (st == ParseStatus::NeedMore) {
      if (offset >= in.size()) steps.push_back({st, parser.rejectReason(), offset, Request{}, false, {}});
      continue;
    }
    Step step{st, parser.rejectReason(), offset, Request{}, false, {}};
    if (st == ParseStatus::Prefix) {
      check(limits.body_policy == BodyLimitPolicy::InspectPrefix);
      check(parser.request().body.size() == limits.max_body_bytes);
      check(parser.request().body_truncated);
      step.request = parser.takeRequest();
      step.streamed = true;
      while (true) {
        std::string_view rest = in.substr(offset, piece);
        std::size_t body_used = 0;
        std::size_t before = step.rest.size();
        st = parser.feedBody(rest, &body_used, &step.rest);
        check(body_used <= rest.size());
        check(step.rest.size() - before <= body_used + in.size());
        if (st == ParseStatus::NeedMore) check(body_used == rest.size());
        offset += body_used;
        if (st != ParseStatus::NeedMore || offset >= in.size()) break;
      }
      step.status = st;
      step.reason = parser.rejectReason();
      step.end = offset;
      if (st == ParseStatus::NeedMore) {
        steps.push_back(std::move(step));
        break;
      }
    } else if (st == ParseStatus::Done) {
      checkDoneRequest(parser.request(), limits);
      step.request = parser.takeRequest();
    }
    steps.push_back(std::move(step));
    if (st == ParseStatus::Reject) break;
    parser.reset();
  }
  return steps;
}

void compareSteps(const std::vector<Step>& a, const std::vector<Step>& b) {
  check(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    check(a[i].status == b[i].status);
    if (a[i].status == ParseStatus::Reject) {
      // A framing error just past the prefix is found by feed() when it
      // arrives with the prefix's last bytes, else by feedBody(): whether
      // Prefix came first depends on the split, the reason and offset not.
      check(a[i].end == b[i].end);
      check(a[i].reason == b[i].reason);
      continue;
    }
    check(a[i].streamed == b[i].streamed);
    if (a[i].streamed) check(sameRequest(a[i].request, b[i].request));
    if (a[i].status == ParseStatus::NeedMore) {
      if (a[i].streamed) check(a[i].rest == b[i].rest);  // all input was body
      continue;  // end offset is the input size
    }
    if (a[i].streamed) check(a[i].rest == b[i].rest);
    check(a[i].end == b[i].end);
    if (a[i].status == ParseStatus::Reject) check(a[i].reason == b[i].reason);
    if (a[i].status == ParseStatus::Done) check(sameRequest(a[i].request, b[i].request));
  }
}

// Streams `in` through a ResponseParser; returns where the response ended
// (or in.size()) and the final status.
std::pair<ResponseParseStatus, std::size_t> runResponse(std::string_view in, std::size_t piece,
                                                        Method method) {
  ResponseParser parser(method);
  std::size_t offset = 0;
  ResponseParseStatus st = ResponseParseStatus::NeedMore;
  while (offset < in.size()) {
    std::string_view chunk = in.substr(offset, piece);
    std::size_t used = 0;
    st = parser.feed(chunk, &used);
    check(used <= chunk.size());
    if (st == ResponseParseStatus::NeedMore) check(used == chunk.size());
    offset += used;
    if (st == ResponseParseStatus::Done || st == ResponseParseStatus::Reject) break;
  }
  if (st == ResponseParseStatus::Done) check(parser.headersComplete());
  if (st == ResponseParseStatus::HeadersDone) st = ResponseParseStatus::NeedMore;
  return {st, offset};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::size_t piece = size == 0 ? 1 : static_cast<std::size_t>(data[0] % 61) + 1;

  RequestLimits strict;
  strict.max_body_bytes = 4096;
  compareSteps(parseAll(in, in.size() + 1, strict), parseAll(in, piece, strict));

  RequestLimits prefix;
  prefix.max_body_bytes = 7;
  prefix.body_policy = BodyLimitPolicy::InspectPrefix;
  prefix.max_header_count = 8;
  compareSteps(parseAll(in, in.size() + 1, prefix), parseAll(in, piece, prefix));

  for (Method method : {Method::Get, Method::Head}) {
    auto whole = runResponse(in, in.size() + 1, method);
    auto split = runResponse(in, piece, method);
    check(whole.first == split.first);
    if (whole.first != ResponseParseStatus::NeedMore) check(whole.second == split.second);
  }
  return 0;
}
