#include "guard/tls_fingerprint.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <string_view>

namespace mamori::guard {

namespace {

using common::Error;
using common::Result;

constexpr std::uint8_t kHandshakeClientHello = 1;
constexpr std::uint8_t kContentTypeHandshake = 22;
constexpr std::size_t kRandomBytes = 32;
constexpr std::size_t kMaxSessionIdBytes = 32;  // RFC 8446 §4.1.2: <0..32>

Error parseError(std::string_view what) {
  return Error{0, "client hello: " + std::string(what)};
}

// A bounds-checked read cursor over a byte span. Every read checks the
// remaining length first; a failed read leaves the cursor unchanged and
// returns false/nullopt, so callers turn it into an error naming the field.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

  std::size_t remaining() const { return bytes_.size() - pos_; }
  bool empty() const { return remaining() == 0; }

  std::optional<std::uint8_t> u8() {
    if (remaining() < 1) return std::nullopt;
    return bytes_[pos_++];
  }
  std::optional<std::uint16_t> u16() {
    if (remaining() < 2) return std::nullopt;
    std::uint16_t v = static_cast<std::uint16_t>((bytes_[pos_] << 8) | bytes_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  std::optional<std::uint32_t> u24() {
    if (remaining() < 3) return std::nullopt;
    std::uint32_t v = (std::uint32_t{bytes_[pos_]} << 16) | (std::uint32_t{bytes_[pos_ + 1]} << 8) |
                      std::uint32_t{bytes_[pos_ + 2]};
    pos_ += 3;
    return v;
  }
  std::optional<std::span<const std::uint8_t>> take(std::size_t n) {
    if (remaining() < n) return std::nullopt;
    auto out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  // A vector with an 8- or 16-bit length prefix (RFC 8446 §3.4).
  std::optional<std::span<const std::uint8_t>> vec8() {
    std::size_t save = pos_;
    auto len = u8();
    if (!len) return std::nullopt;
    auto out = take(*len);
    if (!out) pos_ = save;
    return out;
  }
  std::optional<std::span<const std::uint8_t>> vec16() {
    std::size_t save = pos_;
    auto len = u16();
    if (!len) return std::nullopt;
    auto out = take(*len);
    if (!out) pos_ = save;
    return out;
  }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 0;
};

// A list of 16-bit values filling `bytes` exactly (odd length is an error).
std::optional<std::vector<std::uint16_t>> u16List(std::span<const std::uint8_t> bytes) {
  if (bytes.size() % 2 != 0) return std::nullopt;
  std::vector<std::uint16_t> out;
  out.reserve(bytes.size() / 2);
  for (std::size_t i = 0; i < bytes.size(); i += 2) {
    out.push_back(static_cast<std::uint16_t>((bytes[i] << 8) | bytes[i + 1]));
  }
  return out;
}

// An extension whose body is one vec16 of u16 values and nothing else
// (supported_groups, signature_algorithms).
std::optional<std::vector<std::uint16_t>> u16Vec16(std::span<const std::uint8_t> body) {
  Reader r(body);
  auto list = r.vec16();
  if (!list || !r.empty()) return std::nullopt;
  return u16List(*list);
}

// RFC 6066 §3: ServerNameList <1..2^16-1> of {NameType(1), opaque <1..2^16-1>}.
// The first host_name (type 0) is kept; other name types are skipped.
Result<void> parseServerName(std::span<const std::uint8_t> body, ClientHello& hello) {
  Reader r(body);
  auto list = r.vec16();
  if (!list || !r.empty()) return parseError("malformed server_name extension");
  Reader names(*list);
  bool first = true;
  while (!names.empty()) {
    auto type = names.u8();
    auto name = type ? names.vec16() : std::nullopt;
    if (!name) return parseError("malformed server_name entry");
    if (*type == 0 && first) {
      hello.server_name.assign(name->begin(), name->end());
      first = false;
    }
  }
  return {};
}

// RFC 7301 §3.1: ProtocolNameList <2..2^16-1> of opaque <1..2^8-1>. An empty
// name is tolerated (JA4 defines its output for it) although the RFC
// forbids it.
Result<void> parseAlpn(std::span<const std::uint8_t> body, ClientHello& hello) {
  Reader r(body);
  auto list = r.vec16();
  if (!list || !r.empty()) return parseError("malformed alpn extension");
  Reader names(*list);
  while (!names.empty()) {
    auto name = names.vec8();
    if (!name) return parseError("malformed alpn protocol name");
    hello.alpn.emplace_back(name->begin(), name->end());
  }
  return {};
}

Result<void> parseExtension(std::uint16_t type, std::span<const std::uint8_t> body,
                            ClientHello& hello) {
  switch (type) {
    case kExtServerName:
      hello.has_server_name = true;
      // An empty server_name body is what a server sends back; from a
      // client it is malformed, but the presence still counts for JA4.
      if (body.empty()) return {};
      return parseServerName(body, hello);
    case kExtAlpn:
      return parseAlpn(body, hello);
    case kExtSupportedVersions: {
      // RFC 8446 §4.2.1: ClientHello form is ProtocolVersion versions<2..254>.
      Reader r(body);
      auto list = r.vec8();
      auto values = list && r.empty() ? u16List(*list) : std::nullopt;
      if (!values) return parseError("malformed supported_versions extension");
      hello.supported_versions = std::move(*values);
      return {};
    }
    case kExtSignatureAlgorithms: {
      auto values = u16Vec16(body);
      if (!values) return parseError("malformed signature_algorithms extension");
      hello.signature_algorithms = std::move(*values);
      return {};
    }
    case kExtSupportedGroups: {
      auto values = u16Vec16(body);
      if (!values) return parseError("malformed supported_groups extension");
      hello.supported_groups = std::move(*values);
      return {};
    }
    case kExtEcPointFormats: {
      Reader r(body);
      auto list = r.vec8();
      if (!list || !r.empty()) return parseError("malformed ec_point_formats extension");
      hello.ec_point_formats.assign(list->begin(), list->end());
      return {};
    }
    default:
      return {};
  }
}

std::string hexDigest(const EVP_MD* md, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  // EVP_Digest fails only when the digest is unavailable (a broken OpenSSL
  // install); the empty string then makes the fingerprint visibly absent.
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[out[i] >> 4]);
    hex.push_back(kHex[out[i] & 0x0f]);
  }
  return hex;
}

std::vector<std::uint16_t> withoutGrease(const std::vector<std::uint16_t>& values) {
  std::vector<std::uint16_t> out;
  out.reserve(values.size());
  for (auto v : values) {
    if (!isGrease(v)) out.push_back(v);
  }
  return out;
}

template <typename T>
std::string joinDecimal(const std::vector<T>& values) {
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i != 0) out.push_back('-');
    out += std::to_string(values[i]);
  }
  return out;
}

std::string hex4(std::uint16_t v) {
  char buf[5];
  std::snprintf(buf, sizeof buf, "%04x", v);
  return std::string(buf, 4);
}

std::string joinHex4(const std::vector<std::uint16_t>& values) {
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i != 0) out.push_back(',');
    out += hex4(values[i]);
  }
  return out;
}

std::string twoDigits(std::size_t n) {
  n = std::min<std::size_t>(n, 99);
  return std::string{static_cast<char>('0' + n / 10), static_cast<char>('0' + n % 10)};
}

// JA4 spec "TLS and DTLS Version": the highest non-GREASE supported_versions
// entry, else legacy_version; the record-layer version is never used.
std::string ja4Version(const ClientHello& hello) {
  std::uint16_t version = hello.legacy_version;
  auto versions = withoutGrease(hello.supported_versions);
  if (!versions.empty()) version = *std::max_element(versions.begin(), versions.end());
  switch (version) {
    case 0x0304: return "13";
    case 0x0303: return "12";
    case 0x0302: return "11";
    case 0x0301: return "10";
    case 0x0300: return "s3";
    case 0x0002: return "s2";
    case 0xfeff: return "d1";
    case 0xfefd: return "d2";
    case 0xfefc: return "d3";
    default: return "00";
  }
}

bool isAlnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// JA4 spec "ALPN Extension Value": first and last character of the first
// ALPN name; "00" without one; the hex form's first and last digit when
// either end byte is not alphanumeric.
std::string ja4Alpn(const ClientHello& hello) {
  if (hello.alpn.empty() || hello.alpn.front().empty()) return "00";
  const std::string& first = hello.alpn.front();
  unsigned char a = static_cast<unsigned char>(first.front());
  unsigned char b = static_cast<unsigned char>(first.back());
  if (isAlnum(a) && isAlnum(b)) return std::string{static_cast<char>(a), static_cast<char>(b)};
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string{kHex[a >> 4], kHex[b & 0x0f]};
}

constexpr std::string_view kEmptyHash = "000000000000";

std::string truncatedSha256(std::string_view text) {
  return hexDigest(EVP_sha256(), text).substr(0, 12);
}

}  // namespace

bool isGrease(std::uint16_t value) {
  // RFC 8701 §2: both bytes equal and of the form 0x?A.
  return (value & 0x0f0f) == 0x0a0a && (value >> 8) == (value & 0xff);
}

Result<ClientHello> parseClientHello(std::span<const std::uint8_t> handshake) {
  if (handshake.size() > kMaxClientHelloBytes + 4) return parseError("message too large");
  Reader msg(handshake);
  auto type = msg.u8();
  auto length = type ? msg.u24() : std::nullopt;
  if (!length) return parseError("short handshake header");
  if (*type != kHandshakeClientHello) return parseError("not a ClientHello handshake message");
  if (*length > msg.remaining()) return parseError("truncated message");
  if (*length < msg.remaining()) return parseError("trailing bytes after the message");

  ClientHello hello;
  Reader r(*msg.take(*length));
  auto version = r.u16();
  if (!version) return parseError("missing legacy_version");
  hello.legacy_version = *version;
  if (!r.take(kRandomBytes)) return parseError("missing random");
  auto session_id = r.vec8();
  if (!session_id) return parseError("malformed legacy_session_id");
  if (session_id->size() > kMaxSessionIdBytes) return parseError("legacy_session_id over 32 bytes");
  hello.session_id_length = session_id->size();

  auto ciphers = r.vec16();
  auto cipher_values = ciphers ? u16List(*ciphers) : std::nullopt;
  if (!cipher_values) return parseError("malformed cipher_suites");
  hello.cipher_suites = std::move(*cipher_values);

  auto compression = r.vec8();
  if (!compression) return parseError("malformed legacy_compression_methods");
  hello.compression_methods.assign(compression->begin(), compression->end());

  // Extensions are optional in a TLS 1.0-1.2 hello (RFC 5246 §7.4.1.2):
  // the body may end right after the compression methods.
  if (r.empty()) return hello;
  auto extensions = r.vec16();
  if (!extensions) return parseError("malformed extensions block");
  if (!r.empty()) return parseError("bytes after the extensions block");

  Reader ext(*extensions);
  while (!ext.empty()) {
    auto ext_type = ext.u16();
    auto body = ext_type ? ext.vec16() : std::nullopt;
    if (!body) return parseError("malformed extension header");
    hello.extensions.push_back(*ext_type);
    auto status = parseExtension(*ext_type, *body, hello);
    if (!status) return status.error();
  }
  return hello;
}

Result<std::vector<std::uint8_t>> handshakeFromRecords(std::span<const std::uint8_t> records) {
  std::vector<std::uint8_t> message;
  Reader r(records);
  while (true) {
    if (message.size() >= 4) {
      std::size_t want =
          4 + ((std::size_t{message[1]} << 16) | (std::size_t{message[2]} << 8) | message[3]);
      if (want > kMaxClientHelloBytes + 4) return parseError("message too large");
      if (message.size() >= want) {
        message.resize(want);  // a following handshake message is not ours
        return message;
      }
    }
    if (r.empty()) return parseError("records end before the handshake message");
    auto content_type = r.u8();
    auto record_version = content_type ? r.u16() : std::nullopt;
    auto fragment = record_version ? r.vec16() : std::nullopt;
    if (!fragment) return parseError("truncated TLS record");
    if (*content_type != kContentTypeHandshake) return parseError("not a handshake record");
    if (fragment->empty()) return parseError("empty handshake record");
    message.insert(message.end(), fragment->begin(), fragment->end());
  }
}

Ja3 computeJa3(const ClientHello& hello) {
  Ja3 out;
  out.text = std::to_string(hello.legacy_version);
  out.text += ',' + joinDecimal(withoutGrease(hello.cipher_suites));
  out.text += ',' + joinDecimal(withoutGrease(hello.extensions));
  out.text += ',' + joinDecimal(withoutGrease(hello.supported_groups));
  // Point formats are single bytes; none of them is a GREASE value.
  out.text += ',' + joinDecimal(hello.ec_point_formats);
  out.hash = hexDigest(EVP_md5(), out.text);
  return out;
}

Ja4 computeJa4(const ClientHello& hello, TlsTransport transport) {
  auto ciphers = withoutGrease(hello.cipher_suites);
  auto extensions = withoutGrease(hello.extensions);
  auto sigalgs = withoutGrease(hello.signature_algorithms);

  std::string a;
  a.push_back(transport == TlsTransport::Quic ? 'q' : 't');
  a += ja4Version(hello);
  a.push_back(hello.has_server_name ? 'd' : 'i');
  a += twoDigits(ciphers.size());
  a += twoDigits(extensions.size());  // SNI and ALPN included
  a += ja4Alpn(hello);

  std::string sigalg_text = joinHex4(sigalgs);

  // Sorted form: ciphers sorted; extensions sorted without SNI and ALPN
  // (already in part a), then '_' and the signature algorithms in wire
  // order, the '_' left out when there are none.
  auto sorted_ciphers = ciphers;
  std::sort(sorted_ciphers.begin(), sorted_ciphers.end());
  std::vector<std::uint16_t> sorted_exts;
  for (auto e : extensions) {
    if (e != kExtServerName && e != kExtAlpn) sorted_exts.push_back(e);
  }
  std::sort(sorted_exts.begin(), sorted_exts.end());

  std::string b_raw = joinHex4(sorted_ciphers);
  std::string c_raw = joinHex4(sorted_exts);
  if (!sigalgs.empty()) c_raw += '_' + sigalg_text;
  std::string b = sorted_ciphers.empty() ? std::string(kEmptyHash) : truncatedSha256(b_raw);
  std::string c = sorted_exts.empty() ? std::string(kEmptyHash) : truncatedSha256(c_raw);

  // Original order: wire order, SNI and ALPN kept.
  std::string bo_raw = joinHex4(ciphers);
  std::string co_raw = joinHex4(extensions);
  if (!sigalgs.empty()) co_raw += '_' + sigalg_text;
  std::string bo = ciphers.empty() ? std::string(kEmptyHash) : truncatedSha256(bo_raw);
  std::string co = extensions.empty() ? std::string(kEmptyHash) : truncatedSha256(co_raw);

  Ja4 out;
  out.ja4 = a + '_' + b + '_' + c;
  out.ja4_r = a + '_' + b_raw + '_' + c_raw;
  out.ja4_o = a + '_' + bo + '_' + co;
  out.ja4_ro = a + '_' + bo_raw + '_' + co_raw;
  return out;
}

TlsTraits tlsTraits(const ClientHello& hello) {
  TlsTraits t;
  auto has = [](const auto& list, auto value) {
    return std::find(list.begin(), list.end(), value) != list.end();
  };
  t.grease = std::any_of(hello.cipher_suites.begin(), hello.cipher_suites.end(), isGrease) ||
             std::any_of(hello.extensions.begin(), hello.extensions.end(), isGrease);
  t.offers_tls13 = has(hello.supported_versions, std::uint16_t{0x0304});
  t.has_alpn = !hello.alpn.empty();
  t.alpn_h2 = has(hello.alpn, std::string("h2"));
  t.compress_certificate = has(hello.extensions, kExtCompressCertificate);
  t.record_size_limit = has(hello.extensions, kExtRecordSizeLimit);
  t.alps = has(hello.extensions, kExtAlpsOld) || has(hello.extensions, kExtAlpsNew);
  return t;
}

Result<TlsFingerprint> fingerprintClientHello(std::span<const std::uint8_t> handshake,
                                              TlsTransport transport) {
  auto hello = parseClientHello(handshake);
  if (!hello) return hello.error();
  TlsFingerprint fp;
  fp.ja3 = computeJa3(*hello);
  fp.ja4 = computeJa4(*hello, transport);
  fp.traits = tlsTraits(*hello);
  return fp;
}

}  // namespace mamori::guard
