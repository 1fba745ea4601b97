#pragma once

// net-internal (included by engine.cpp and net's tests, never by another
// module): the OpenSSL server context of one TLS listener and the
// per-connection TLS state. OpenSSL types are only forward-declared here;
// <openssl/*.h> is included by tls_context.cpp alone.
//
// Policy (why): TLS 1.2 and 1.3 only (1.0/1.1 are deprecated by RFC 8996);
// TLS 1.2 suites are ECDHE + AEAD only (forward secrecy, no CBC padding
// oracles); the server's suite order wins; no renegotiation (a cheap
// CPU-exhaustion lever for clients); ALPN offers http/1.1 only until h2
// lands, and a client that offers ALPN without http/1.1 gets the
// no_application_protocol alert (RFC 7301 §3.2) instead of a protocol it
// did not ask for. Session resumption: stateless tickets under a key drawn
// at random once per process (so a restart invalidates every ticket) and a
// server-side session cache keyed by a per-listener session id context.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "config/types.h"
#include "net/sni_map.h"

struct ssl_ctx_st;
struct ssl_st;

namespace mamori::net {

// The raw ClientHello is kept up to this many bytes (JA3/JA4 need the
// extension list in wire order, which OpenSSL does not expose). Real hellos
// are well under 2 KiB; a larger one is cut and flagged.
inline constexpr std::size_t kClientHelloCap = 16 * 1024;

// One certificate a listener may serve, with what is needed to choose it.
struct TlsCertificateSpec {
  std::string site;                      // for error messages
  config::Certificate certificate;       // hosts, cert and key paths
  std::vector<std::string> site_hosts;   // used when certificate.hosts is empty
};

class TlsContext {
 public:
  // Loads every certificate and key (each checked against the other) and
  // builds the SSL_CTX. `listener` ("ip:port") keys the session cache so a
  // session from one listener does not resume on another. The first spec
  // is the default certificate (unknown or absent SNI).
  // Out: the context, or EINVAL naming the site and file of each bad
  // certificate or key (one line each). Control plane; any thread.
  static common::Result<std::unique_ptr<TlsContext>> create(
      const std::vector<TlsCertificateSpec>& specs, const std::string& listener);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  ssl_ctx_st* raw() const { return ctx_; }
  // Certificate file served for `sni` (as SniMap::pick chooses). Any thread.
  const std::string& certificateFileFor(std::string_view sni) const;

 // A loaded chain and key (defined in tls_context.cpp).
  struct Loaded;

 private:
  TlsContext();
  static int onClientHello(ssl_st* ssl, int* alert, void* arg);

  ssl_ctx_st* ctx_ = nullptr;
  std::vector<std::unique_ptr<Loaded>> certs_;
  SniMap sni_;
};

// The TLS side of one client connection: a non-blocking SSL over the
// connection's socket. Owned and used by one worker thread only.
class TlsConn {
 public:
  enum class Io {
    Ok,         // progress (handshake finished, or *n bytes moved)
    WantRead,   // retry when the socket is readable
    WantWrite,  // retry when the socket is writable
    Eof,        // the peer closed (close_notify or TCP EOF)
    Error,      // protocol error or reset: close the connection
  };

  // Null when OpenSSL cannot allocate (the caller closes the socket).
  static std::unique_ptr<TlsConn> create(const TlsContext& ctx, int fd);
  ~TlsConn();
  TlsConn(const TlsConn&) = delete;
  TlsConn& operator=(const TlsConn&) = delete;

  // Drives the server handshake one step. Ok once it is complete.
  Io handshake();
  bool handshakeDone() const { return done_; }

  // SSL_read / SSL_write: on Ok, *n > 0 bytes were read or written (a
  // write may be partial). A write that returned WantWrite must be retried
  // with the same leading bytes (it may be longer).
  Io read(char* buf, std::size_t len, std::size_t* n);
  Io write(const char* data, std::size_t len, std::size_t* n);

  // Sends close_notify once, best effort (never blocks, never fails).
  void shutdown();

  // Facts of the finished handshake; views live as long as this object.
  std::string_view version() const;  // "TLSv1.3"
  std::string_view cipher() const;   // "TLS_AES_128_GCM_SHA256"
  std::string_view alpn() const;     // "http/1.1", or empty
  std::string_view sni() const { return sni_; }
  bool resumed() const;
  // The first ClientHello handshake message as received (4-byte handshake
  // header included), at most kClientHelloCap bytes.
  std::span<const std::uint8_t> clientHello() const {
    return {reinterpret_cast<const std::uint8_t*>(hello_.data()), hello_.size()};
  }
  bool clientHelloTruncated() const { return hello_truncated_; }

 private:
  friend class TlsContext;
  friend struct TlsCallbacks;
  TlsConn() = default;
  Io classify(int rc);

  ssl_st* ssl_ = nullptr;
  std::string hello_;
  std::string sni_;
  bool hello_truncated_ = false;
  bool done_ = false;
  bool shut_ = false;
  bool broken_ = false;  // a fatal error: OpenSSL forbids SSL_shutdown after one
};

}  // namespace mamori::net
