#include "http/types.h"

namespace mamori::http {

namespace {

char asciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

}  // namespace

Method methodFromToken(std::string_view token) {
  struct Entry {
    std::string_view name;
    Method method;
  };
  static constexpr Entry kMethods[] = {
      {"GET", Method::Get},         {"HEAD", Method::Head},       {"POST", Method::Post},
      {"PUT", Method::Put},         {"DELETE", Method::Delete},   {"CONNECT", Method::Connect},
      {"OPTIONS", Method::Options}, {"TRACE", Method::Trace},     {"PATCH", Method::Patch},
  };
  for (const Entry& e : kMethods) {
    if (e.name == token) return e.method;
  }
  return Method::Other;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (asciiLower(a[i]) != asciiLower(b[i])) return false;
  }
  return true;
}

std::optional<std::string_view> findHeader(const std::vector<Header>& headers,
                                           std::string_view name) {
  for (const Header& h : headers) {
    if (equalsIgnoreCase(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

std::size_t countHeader(const std::vector<Header>& headers, std::string_view name) {
  std::size_t n = 0;
  for (const Header& h : headers) {
    if (equalsIgnoreCase(h.name, name)) ++n;
  }
  return n;
}

const char* rejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::BadRequestLine: return "bad_request_line";
    case RejectReason::RequestLineTooLong: return "request_line_too_long";
    case RejectReason::TooManyEmptyLines: return "too_many_empty_lines";
    case RejectReason::BadMethod: return "bad_method";
    case RejectReason::ConnectNotSupported: return "connect_not_supported";
    case RejectReason::BadTarget: return "bad_target";
    case RejectReason::TargetTooLong: return "target_too_long";
    case RejectReason::BadPercentEncoding: return "bad_percent_encoding";
    case RejectReason::BadScheme: return "bad_scheme";
    case RejectReason::BadVersion: return "bad_version";
    case RejectReason::UnsupportedVersion: return "unsupported_version";
    case RejectReason::BareLf: return "bare_lf";
    case RejectReason::BareCr: return "bare_cr";
    case RejectReason::ObsFold: return "obs_fold";
    case RejectReason::HeaderMissingColon: return "header_missing_colon";
    case RejectReason::BadHeaderName: return "bad_header_name";
    case RejectReason::WhitespaceBeforeColon: return "whitespace_before_colon";
    case RejectReason::BadHeaderValue: return "bad_header_value";
    case RejectReason::HeaderSectionTooLarge: return "header_section_too_large";
    case RejectReason::TooManyHeaders: return "too_many_headers";
    case RejectReason::MissingHost: return "missing_host";
    case RejectReason::MultipleHost: return "multiple_host";
    case RejectReason::BadHost: return "bad_host";
    case RejectReason::HostMismatch: return "host_mismatch";
    case RejectReason::MultipleContentLength: return "multiple_content_length";
    case RejectReason::BadContentLength: return "bad_content_length";
    case RejectReason::ContentLengthOverflow: return "content_length_overflow";
    case RejectReason::ContentLengthWithTransferEncoding:
      return "content_length_with_transfer_encoding";
    case RejectReason::MultipleTransferEncoding: return "multiple_transfer_encoding";
    case RejectReason::UnsupportedTransferCoding: return "unsupported_transfer_coding";
    case RejectReason::BadTransferEncoding: return "bad_transfer_encoding";
    case RejectReason::TransferEncodingInHttp10: return "transfer_encoding_in_http10";
    case RejectReason::UnsupportedExpectation: return "unsupported_expectation";
    case RejectReason::BadChunkSize: return "bad_chunk_size";
    case RejectReason::ChunkSizeOverflow: return "chunk_size_overflow";
    case RejectReason::ChunkLineTooLong: return "chunk_line_too_long";
    case RejectReason::BadChunkExtension: return "bad_chunk_extension";
    case RejectReason::BadChunkTerminator: return "bad_chunk_terminator";
    case RejectReason::TrailerSectionTooLarge: return "trailer_section_too_large";
    case RejectReason::ForbiddenTrailer: return "forbidden_trailer";
    case RejectReason::BodyTooLarge: return "body_too_large";
    case RejectReason::BadStatusLine: return "bad_status_line";
    case RejectReason::TruncatedMessage: return "truncated_message";
  }
  return "unknown";
}

int rejectReasonStatus(RejectReason reason) {
  switch (reason) {
    case RejectReason::BodyTooLarge: return 413;
    case RejectReason::RequestLineTooLong:
    case RejectReason::TargetTooLong: return 414;
    case RejectReason::UnsupportedExpectation: return 417;
    case RejectReason::HeaderSectionTooLarge:
    case RejectReason::TooManyHeaders:
    case RejectReason::TrailerSectionTooLarge: return 431;
    case RejectReason::UnsupportedTransferCoding:
    case RejectReason::ConnectNotSupported: return 501;
    case RejectReason::UnsupportedVersion: return 505;
    case RejectReason::BadStatusLine:
    case RejectReason::TruncatedMessage: return 502;
    default: return 400;
  }
}

}  // namespace mamori::http
