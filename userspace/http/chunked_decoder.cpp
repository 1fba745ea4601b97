#include "http/chunked_decoder.h"

#include <algorithm>
#include <limits>

namespace mamori::http {

namespace {

bool isQdText(unsigned char c) {
  return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
         (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

void skipBws(std::string_view s, std::size_t* pos) {
  while (*pos < s.size() && (s[*pos] == ' ' || s[*pos] == '\t')) ++*pos;
}

bool parseToken(std::string_view s, std::size_t* pos) {
  std::size_t start = *pos;
  while (*pos < s.size() && syntax::isTokenChar(static_cast<unsigned char>(s[*pos]))) ++*pos;
  return *pos > start;
}

bool parseQuotedString(std::string_view s, std::size_t* pos) {
  // s[*pos] == '"'
  ++*pos;
  while (*pos < s.size()) {
    auto c = static_cast<unsigned char>(s[*pos]);
    if (c == '"') {
      ++*pos;
      return true;
    }
    if (c == '\\') {
      if (*pos + 1 >= s.size()) return false;
      auto q = static_cast<unsigned char>(s[*pos + 1]);
      if (!(q == '\t' || q == ' ' || (q >= 0x21 && q != 0x7f))) return false;
      *pos += 2;
      continue;
    }
    if (!isQdText(c)) return false;
    ++*pos;
  }
  return false;
}

}  // namespace

std::optional<RejectReason> ChunkedDecoder::parseChunkLine(std::string_view line,
                                                           std::uint64_t* size) {
  std::size_t pos = 0;
  std::uint64_t value = 0;
  while (pos < line.size()) {
    int digit = syntax::hexValue(static_cast<unsigned char>(line[pos]));
    if (digit < 0) break;
    // Overflow check before the shift: a wrapped size is a classic way to
    // make two parsers disagree on where the chunk ends.
    if (value > (std::numeric_limits<std::uint64_t>::max() >> 4)) {
      return RejectReason::ChunkSizeOverflow;
    }
    value = (value << 4) | static_cast<std::uint64_t>(digit);
    ++pos;
  }
  if (pos == 0) return RejectReason::BadChunkSize;  // also rejects "-1", " 1", ";x"
  if (pos < line.size() && line[pos] != ';' && line[pos] != ' ' && line[pos] != '\t') {
    return RejectReason::BadChunkSize;  // "5x", "0x10", "1.5"
  }
  // Extensions. Whitespace is only allowed around ';' and '=' (BWS), so
  // "5 \r\n" is rejected rather than read as "5".
  while (pos < line.size()) {
    skipBws(line, &pos);
    if (pos == line.size() || line[pos] != ';') return RejectReason::BadChunkExtension;
    ++pos;
    skipBws(line, &pos);
    if (!parseToken(line, &pos)) return RejectReason::BadChunkExtension;
    std::size_t after_name = pos;
    skipBws(line, &pos);
    if (pos < line.size() && line[pos] == '=') {
      ++pos;
      skipBws(line, &pos);
      if (pos < line.size() && line[pos] == '"') {
        if (!parseQuotedString(line, &pos)) return RejectReason::BadChunkExtension;
      } else if (!parseToken(line, &pos)) {
        return RejectReason::BadChunkExtension;
      }
    } else {
      pos = after_name;
    }
  }
  *size = value;
  return std::nullopt;
}

ChunkedDecoder::Status ChunkedDecoder::feed(std::string_view in, std::size_t* consumed,
                                            std::string* sink, std::vector<Header>* trailers) {
  std::size_t pos = 0;
  *consumed = 0;
  while (true) {
    switch (state_) {
      case State::Done:
        *consumed = pos;
        return Status::Done;
      case State::Rejected:
        *consumed = pos;
        return Status::Reject;
      default:
        break;
    }
    if (pos == in.size()) {
      *consumed = pos;
      return Status::NeedMore;
    }
    std::string_view rest = in.substr(pos);
    switch (state_) {
      case State::Size: {
        std::size_t used = 0;
        auto st = line_.feed(rest, limits_.max_chunk_line_bytes, &used);
        pos += used;
        if (st == syntax::LineReader::Status::NeedMore) break;
        if (auto bad = syntax::lineError(st, RejectReason::ChunkLineTooLong)) {
          reject(*bad);
          break;
        }
        std::uint64_t size = 0;
        if (auto bad = parseChunkLine(line_.line(), &size)) {
          reject(*bad);
          break;
        }
        if (size > std::numeric_limits<std::uint64_t>::max() - data_bytes_) {
          reject(RejectReason::ChunkSizeOverflow);
          break;
        }
        // Reject as soon as the announced size passes the limit, before
        // reading the data.
        if (!limits_.truncate_over_limit && data_bytes_ + size > limits_.max_data_bytes) {
          reject(RejectReason::BodyTooLarge);
          break;
        }
        if (size == 0) {
          state_ = State::Trailer;
        } else {
          chunk_remaining_ = size;
          state_ = State::Data;
        }
        break;
      }
      case State::Data: {
        std::size_t take = static_cast<std::size_t>(
            std::min<std::uint64_t>(chunk_remaining_, rest.size()));
        if (sink != nullptr) {
          std::uint64_t room = data_bytes_ < limits_.max_data_bytes
                                   ? limits_.max_data_bytes - data_bytes_
                                   : 0;
          std::size_t keep = static_cast<std::size_t>(std::min<std::uint64_t>(take, room));
          sink->append(rest.substr(0, keep));
        }
        if (data_bytes_ + take > limits_.max_data_bytes) truncated_ = true;
        data_bytes_ += take;
        chunk_remaining_ -= take;
        pos += take;
        if (chunk_remaining_ == 0) state_ = State::DataCr;
        break;
      }
      case State::DataCr:
        // The chunk data must be followed by exactly CRLF (RFC 9112 §7.1):
        // anything else means the sizes lied, and a parser that skips
        // ahead to the next CRLF would see a different next chunk.
        if (rest[0] != '\r') {
          reject(RejectReason::BadChunkTerminator);
          break;
        }
        ++pos;
        state_ = State::DataLf;
        break;
      case State::DataLf:
        if (rest[0] != '\n') {
          reject(RejectReason::BadChunkTerminator);
          break;
        }
        ++pos;
        state_ = State::Size;
        break;
      case State::Trailer: {
        std::size_t used = 0;
        Header field;
        RejectReason bad{};
        // Trailers are bounded by bytes (max_trailer_bytes), not by count.
        auto step = syntax::readFieldLine(line_, rest, limits_.max_trailer_bytes, &trailer_bytes_,
                                          0, std::numeric_limits<std::size_t>::max(),
                                          RejectReason::TrailerSectionTooLarge, &used, &field, &bad);
        pos += used;
        if (step == syntax::FieldStep::NeedMore) break;
        if (step == syntax::FieldStep::Reject) {
          reject(bad);
          break;
        }
        if (step == syntax::FieldStep::End) {
          state_ = State::Done;
          break;
        }
        if (limits_.reject_framing_trailers &&
            (equalsIgnoreCase(field.name, "content-length") ||
             equalsIgnoreCase(field.name, "transfer-encoding") ||
             equalsIgnoreCase(field.name, "host"))) {
          reject(RejectReason::ForbiddenTrailer);
          break;
        }
        if (trailers != nullptr) trailers->push_back(std::move(field));
        break;
      }
      case State::Done:
      case State::Rejected:
        break;
    }
  }
}

}  // namespace mamori::http
