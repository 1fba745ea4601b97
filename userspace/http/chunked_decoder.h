#pragma once

// Incremental decoder for the chunked transfer coding (RFC 9112 §7.1), used
// by RequestParser (to de-chunk request bodies) and ResponseParser (to find
// where a streamed upstream response ends without buffering it). Input may
// be split at any byte. One instance per message; owned by one thread.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "http/syntax.h"
#include "http/types.h"

namespace mamori::http {

struct ChunkedLimits {
  // chunk-size line including extensions and CRLF. Extensions are almost
  // never used legitimately; a long line is how a peer makes us buffer.
  std::size_t max_chunk_line_bytes = 1024;
  // Whole trailer section including the final CRLF.
  std::size_t max_trailer_bytes = 4096;
  // Decoded data bytes allowed in total (the message body limit).
  std::uint64_t max_data_bytes = std::numeric_limits<std::uint64_t>::max();
  // Past max_data_bytes: false = Reject with BodyTooLarge; true = keep
  // decoding, but stop appending to the sink and report truncated().
  bool truncate_over_limit = false;
  // Reject Content-Length / Transfer-Encoding / Host as trailers: a
  // recipient that merged them into the header section would reframe the
  // message or reroute it after we inspected it.
  bool reject_framing_trailers = true;
};

class ChunkedDecoder {
 public:
  enum class Status { NeedMore, Done, Reject };

  explicit ChunkedDecoder(ChunkedLimits limits = {}) : limits_(limits) {}

  // Decodes from `in`. Chunk data is appended to `sink` when it is not
  // null (up to max_data_bytes when truncating); trailer fields are
  // appended to `trailers` when it is not null. Returns:
  //   NeedMore: all of `in` consumed (*consumed == in.size()), more needed;
  //   Done: the last-chunk and trailer section ended; *consumed is the
  //         number of bytes of `in` that belong to the chunked body;
  //   Reject: malformed or over a limit; reason() says why. The caller
  //         must close the connection.
  // After Done or Reject further calls return the same status with
  // *consumed == 0.
  Status feed(std::string_view in, std::size_t* consumed, std::string* sink,
              std::vector<Header>* trailers);

  RejectReason reason() const { return reason_; }
  std::uint64_t dataBytes() const { return data_bytes_; }  // decoded so far
  bool truncated() const { return truncated_; }

  // Checks a chunk-size line (without CRLF): 1*HEXDIG then extensions
  // *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] ).
  // On success stores the size in *size and returns nullopt.
  static std::optional<RejectReason> parseChunkLine(std::string_view line, std::uint64_t* size);

 private:
  enum class State { Size, Data, DataCr, DataLf, Trailer, Done, Rejected };

  Status reject(RejectReason reason) {
    state_ = State::Rejected;
    reason_ = reason;
    return Status::Reject;
  }

  ChunkedLimits limits_;
  State state_ = State::Size;
  RejectReason reason_ = RejectReason::BadChunkSize;
  syntax::LineReader line_;
  std::uint64_t chunk_remaining_ = 0;
  std::uint64_t data_bytes_ = 0;
  std::size_t trailer_bytes_ = 0;
  bool truncated_ = false;
};

}  // namespace mamori::http
