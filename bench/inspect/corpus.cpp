#include "corpus.h"

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
  }
  out.status = Parsed::Ok;
  out.request = parser.takeRequest();
  std::string_view content_type = out.request.header("Content-Type").value_or("");
  if (!out.request.body.empty()) out.body = http::parseBody(content_type, out.request.body);
  return out;
}

}  // namespace mamori::bench
