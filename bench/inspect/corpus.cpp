#include "corpus.h"

#include <ctime>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

#include "http/request_parser.h"

namespace mamori::bench {

namespace {

// Splits `line` at tabs into exactly `n` fields; false when the count differs.
bool splitTabs(const std::string& line, std::vector<std::string>* out, std::size_t n) {
  out->clear();
  std::size_t start = 0;
  while (true) {
    std::size_t tab = line.find('\t', start);
    out->push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  return out->size() == n;
}

}  // namespace

common::Result<std::vector<Stage>> loadCorpus(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return common::errnoError("open " + path, errno ? errno : ENOENT);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string data = buffer.str();

  std::vector<Stage> stages;
  std::size_t pos = 0;
  std::vector<std::string> fields;
  while (pos < data.size()) {
    auto bad = [&](const std::string& why) {
      return common::Error{EINVAL, path + ": offset " + std::to_string(pos) + ": " + why};
    };
    if (data.compare(pos, 7, "#stage ") != 0) return bad("expected '#stage '");
    std::size_t eol = data.find('\n', pos);
    if (eol == std::string::npos) return bad("header without newline");
    if (!splitTabs(data.substr(pos + 7, eol - pos - 7), &fields, 5)) {
      return bad("header needs 5 tab-separated fields");
    }
    Stage s;
    s.id = fields[0];
    s.cls = fields[1];
    s.kind = fields[2];
    if (fields[3] != "-") {
      auto [p, ec] = std::from_chars(fields[3].data(), fields[3].data() + fields[3].size(), s.pl);
      if (ec != std::errc() || p != fields[3].data() + fields[3].size()) return bad("bad pl");
    }
    std::size_t len = 0;
    auto [p, ec] = std::from_chars(fields[4].data(), fields[4].data() + fields[4].size(), len);
    if (ec != std::errc() || p != fields[4].data() + fields[4].size()) return bad("bad length");
    if (eol + 1 + len + 1 > data.size() || data[eol + 1 + len] != '\n') {
      return bad("request bytes run past the end of the file");
    }
    s.bytes = data.substr(eol + 1, len);
    pos = eol + 1 + len + 1;
    stages.push_back(std::move(s));
  }
  return stages;
}

ParsedRequest parseRequest(const std::string& bytes) {
  ParsedRequest out;
  http::RequestParser parser;
  std::size_t used = 0;
  switch (parser.feed(bytes, &used)) {
    case http::ParseStatus::NeedMore: out.status = Parsed::Incomplete; return out;
    case http::ParseStatus::Reject:
      out.status = Parsed::Rejected;
      out.reject_status = http::rejectReasonStatus(parser.rejectReason());
      out.reject_reason = http::rejectReasonName(parser.rejectReason());
      return out;
    case http::ParseStatus::Done: break;
    // Only with body_over_limit: inspect_prefix, which this parser does
    // not use; the prefix would be what inspection sees.
    case http::ParseStatus::Prefix: break;
  }
  out.status = Parsed::Ok;
  out.request = parser.takeRequest();
  std::string_view content_type = out.request.header("Content-Type").value_or("");
  if (!out.request.body.empty())
    out.body = http::parseBody(content_type, out.request.body, {},
                               out.request.body_truncated ? http::BodyExtent::Prefix
                                                          : http::BodyExtent::Whole);
  return out;
}

}  // namespace mamori::bench

namespace mamori::bench {

std::string fourKibRequest() {
  std::string head =
      "POST /account/profile/update?section=contact&lang=en-GB HTTP/1.1\r\n"
      "Host: shop.example.com\r\n"
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
      "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
      "Accept-Language: en-GB,en;q=0.7\r\n"
      "Accept-Encoding: gzip, deflate, br\r\n"
      "Referer: https://shop.example.com/account/profile\r\n"
      "Origin: https://shop.example.com\r\n"
      "Cookie: session=9f8e7d6c5b4a39281706f5e4d3c2b1a0; cart=3-items; theme=dark; "
      "consent=analytics%3Dno%26ads%3Dno\r\n"
      "Content-Type: application/x-www-form-urlencoded\r\n";
  std::string body =
      "first_name=Alice&last_name=Johnson&email=alice.johnson%40example.com"
      "&phone=%2B44+20+7946+0958&street=221B+Baker+Street&city=London&postcode=NW1+6XE"
      "&country=GB&newsletter=weekly&bio=";
  // Fill the free-text field with ordinary prose up to exactly 4096 bytes.
  static constexpr std::string_view kProse =
      "I+enjoy+hiking+in+the+hills+on+weekends%2C+reading+history+books+and+"
      "cooking+for+friends.+Please+deliver+parcels+to+the+side+door+after+6pm.+";
  const std::string connection = "Connection: keep-alive\r\n";
  auto total = [&](std::size_t body_size) {
    return head.size() + connection.size() + std::string("Content-Length: ").size() +
           std::to_string(body_size).size() + 4 + body_size;
  };
  while (total(body.size() + kProse.size()) <= 4096) body += kProse;
  while (total(body.size()) < 4096) body += 'x';
  return head + connection + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

double threadCpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  std::size_t rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size()));
  if (rank >= sorted.size()) rank = sorted.size() - 1;
  return sorted[rank];
}

}  // namespace mamori::bench
