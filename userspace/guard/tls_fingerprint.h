#pragma once

// TLS client fingerprints (JA3 and JA4) computed from the raw ClientHello
// bytes the engine captured (net::RequestContext::client_hello), not from
// OpenSSL's getters: those skip extensions OpenSSL does not know and drop
// GREASE values, which changes the hashes.
//
// Everything here is a pure function over byte spans: no I/O, no locks, no
// state. Any thread may call any function at any time. Hostile input gives
// a Result error, never a crash or an out-of-bounds read (the parser is
// fuzzed by tests/fuzz/client_hello_fuzz.cpp).
//
// Formats and sources are in docs/fingerprints.md.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace mamori::guard {

// TLS extension types this file cares about (IANA "TLS ExtensionType Values").
inline constexpr std::uint16_t kExtServerName = 0x0000;
inline constexpr std::uint16_t kExtSupportedGroups = 0x000a;
inline constexpr std::uint16_t kExtEcPointFormats = 0x000b;
inline constexpr std::uint16_t kExtSignatureAlgorithms = 0x000d;
inline constexpr std::uint16_t kExtAlpn = 0x0010;
inline constexpr std::uint16_t kExtCompressCertificate = 0x001b;  // RFC 8879
inline constexpr std::uint16_t kExtRecordSizeLimit = 0x001c;      // RFC 8449
inline constexpr std::uint16_t kExtSupportedVersions = 0x002b;
inline constexpr std::uint16_t kExtAlpsOld = 0x4469;  // Chrome's ALPS codepoint until 2024
inline constexpr std::uint16_t kExtAlpsNew = 0x44cd;  // Chrome's ALPS codepoint since 2024

// The largest handshake message accepted: the engine keeps at most 16 KiB
// of a ClientHello (net/tls_context.cpp), and TLS caps a handshake message
// at 2^24-1 bytes anyway.
inline constexpr std::size_t kMaxClientHelloBytes = 16 * 1024;

// True for the 16 reserved GREASE values of RFC 8701 §2 (0x0a0a, 0x1a1a,
// ..., 0xfafa). Clients insert them at random to keep servers tolerant of
// unknown values; fingerprints must ignore them or every connection of the
// same client would hash differently.
bool isGrease(std::uint16_t value);

// The fields of one ClientHello that fingerprints and bot checks use. All
// lists keep wire order and still contain GREASE values (the fingerprint
// functions drop them), so a debug dump shows exactly what was sent.
struct ClientHello {
  std::uint16_t legacy_version = 0;        // ClientHello.legacy_version (0x0303 for TLS 1.2/1.3)
  std::size_t session_id_length = 0;       // 0..32
  std::vector<std::uint16_t> cipher_suites;
  std::vector<std::uint8_t> compression_methods;
  std::vector<std::uint16_t> extensions;  // extension types, in order; repeats kept
  bool has_server_name = false;           // the server_name extension was present
  std::string server_name;                // first host_name entry, as sent (may be empty)
  std::vector<std::string> alpn;          // protocol names, in order, raw bytes
  std::vector<std::uint16_t> supported_versions;
  std::vector<std::uint16_t> signature_algorithms;
  std::vector<std::uint16_t> supported_groups;
  std::vector<std::uint8_t> ec_point_formats;
};

// Parses one ClientHello handshake message: the 4-byte handshake header
// (type 1, 24-bit length) followed by exactly that many body bytes, which is
// what net::RequestContext::client_hello holds. Strict and bounds-checked:
// every length must fit inside its parent, lists of 16-bit values must have
// even lengths, and the six extensions decoded here (server_name, ALPN,
// supported_versions, signature_algorithms, supported_groups,
// ec_point_formats) must be well-formed. Other extensions are recorded by
// type only. Errors (Error::code 0, message naming the field) for: another
// handshake type, a body shorter than its header says (a truncated capture),
// trailing bytes, more than kMaxClientHelloBytes, or any malformed field.
// Allowed on purpose, because they still identify a client: empty cipher or
// compression lists, an empty ALPN name, repeated extensions.
common::Result<ClientHello> parseClientHello(std::span<const std::uint8_t> handshake);

// Reassembles the first handshake message from raw TLS records (5-byte
// record headers, content type 22) as they appear on the wire, for test
// captures and tools that see records rather than messages. Returns the
// handshake message bytes (header included). Errors on a non-handshake
// record, a record cut short, a message that does not end within the given
// records, or more than kMaxClientHelloBytes.
common::Result<std::vector<std::uint8_t>> handshakeFromRecords(
    std::span<const std::uint8_t> records);

// JA3 (Salesforce, 2017): "SSLVersion,Ciphers,Extensions,EllipticCurves,
// EllipticCurvePointFormats", every number in decimal, list items joined by
// '-', GREASE values left out, an absent list is an empty field; `hash` is
// its MD5 in lower-case hex.
struct Ja3 {
  std::string text;
  std::string hash;
};
Ja3 computeJa3(const ClientHello& hello);

// How the hello travelled; JA4's first character. DTLS hellos have a
// different layout (a cookie field) and are not parsed here.
enum class TlsTransport : std::uint8_t { Tcp, Quic };

// JA4 (FoxIO, BSD-3-Clause part of JA4+), exactly per
// technical_details/JA4.md of github.com/FoxIO-LLC/ja4:
//   ja4    "t13d1516h2_8daaf6152771_e5627efa2ab1"
//   ja4_r  the same with the sorted, unhashed lists ("a_ciphers_exts_sigalgs")
//   ja4_o  hashes over the lists in wire order, SNI and ALPN kept
//   ja4_ro the unhashed wire-order form
struct Ja4 {
  std::string ja4;
  std::string ja4_r;
  std::string ja4_o;
  std::string ja4_ro;
};
Ja4 computeJa4(const ClientHello& hello, TlsTransport transport = TlsTransport::Tcp);

// Coarse facts about the client's TLS stack that browsers are known to
// show, for the User-Agent consistency check in http_fingerprint.h.
struct TlsTraits {
  bool grease = false;                // GREASE in ciphers or extensions (Chromium, Safari)
  bool offers_tls13 = false;          // supported_versions lists 0x0304
  bool alpn_h2 = false;               // ALPN offers "h2"
  bool has_alpn = false;              // ALPN extension present with at least one name
  bool compress_certificate = false;  // RFC 8879 (Chromium, Safari, Firefox)
  bool record_size_limit = false;     // RFC 8449 (Firefox)
  bool alps = false;                  // Chromium's application settings extension
};
TlsTraits tlsTraits(const ClientHello& hello);

// Everything above in one go, for the engine's per-connection path:
// parses `handshake` and fills the four JA4 forms and JA3. Error as
// parseClientHello.
struct TlsFingerprint {
  Ja3 ja3;
  Ja4 ja4;
  TlsTraits traits;
};
common::Result<TlsFingerprint> fingerprintClientHello(std::span<const std::uint8_t> handshake,
                                                      TlsTransport transport = TlsTransport::Tcp);

}  // namespace mamori::guard
