#include "net/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "net/tls.h"

namespace mamori::net {

namespace {

constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:P-256:P-384";
constexpr std::string_view kAlpnHttp11 = "http/1.1";

// The last OpenSSL error of this thread as text, and the queue cleared.
std::string takeOpensslError() {
  unsigned long e = ERR_peek_last_error();
  std::string out;
  if (e != 0) {
    const char* reason = ERR_reason_error_string(e);
    out = reason ? reason : "OpenSSL error " + std::to_string(e);
  }
  ERR_clear_error();
  return out.empty() ? "unknown OpenSSL error" : out;
}

// Session ticket keys (16-byte name, 32-byte HMAC key, 32-byte AES key),
// drawn once per process and shared by every listener: a restart makes all
// outstanding tickets useless, which bounds what a stolen key could open.
struct TicketKeys {
  unsigned char bytes[80];
  bool ok = false;
};
const TicketKeys& processTicketKeys() {
  static TicketKeys keys;
  static std::once_flag once;
  std::call_once(once, [] { keys.ok = RAND_bytes(keys.bytes, sizeof keys.bytes) == 1; });
  return keys;
}

}  // namespace

// A certificate chain and key as loaded from disk.
struct TlsContext::Loaded {
  std::string cert_path;
  X509* leaf = nullptr;
  STACK_OF(X509)* chain = nullptr;  // intermediates, may be empty
  EVP_PKEY* key = nullptr;
  ~Loaded() {
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
  }
};

namespace {

// Reads `spec`'s PEM chain and key and checks they belong together. On
// failure returns null and appends one line to `errors`.
std::unique_ptr<TlsContext::Loaded> loadCertificate(const TlsCertificateSpec& spec,
                                                    std::vector<std::string>& errors);

}  // namespace

// Callbacks OpenSSL calls on the worker thread running the handshake.
struct TlsCallbacks {
  // Keeps the first ClientHello as received, before OpenSSL acts on it.
  static void onMessage(int write_p, int /*version*/, int content_type, const void* buf,
                        std::size_t len, SSL* ssl, void* /*arg*/) {
    if (write_p || content_type != SSL3_RT_HANDSHAKE || len == 0) return;
    if (static_cast<const unsigned char*>(buf)[0] != SSL3_MT_CLIENT_HELLO) return;
    auto* conn = static_cast<TlsConn*>(SSL_get_app_data(ssl));
    if (!conn || !conn->hello_.empty()) return;  // a retried hello (after HRR) is not kept
    std::size_t keep = std::min(len, kClientHelloCap);
    conn->hello_.assign(static_cast<const char*>(buf), keep);
    conn->hello_truncated_ = keep < len;
  }

  // Picks http/1.1 from the client's ALPN list, or refuses the handshake.
  static int onAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                    const unsigned char* in, unsigned int inlen, void* /*arg*/) {
    unsigned int i = 0;
    while (i < inlen) {
      unsigned int n = in[i];
      if (n == 0 || i + 1 + n > inlen) break;  // malformed list: no match
      if (std::string_view(reinterpret_cast<const char*>(in + i + 1), n) == kAlpnHttp11) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(n);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + n;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // no_application_protocol
  }
};

namespace {

// The host_name entry of a server_name extension body (RFC 6066 §3), or
// empty when absent or malformed (OpenSSL rejects malformed ones itself).
std::string_view sniFromExtension(const unsigned char* p, std::size_t len) {
  if (len < 2) return {};
  std::size_t list = (std::size_t{p[0]} << 8) | p[1];
  if (list + 2 != len) return {};
  std::size_t i = 2;
  while (i + 3 <= len) {
    unsigned type = p[i];
    std::size_t n = (std::size_t{p[i + 1]} << 8) | p[i + 2];
    i += 3;
    if (i + n > len) return {};
    if (type == TLSEXT_NAMETYPE_host_name) {
      std::string_view name(reinterpret_cast<const char*>(p + i), n);
      if (name.empty() || name.size() > 255 || name.find('\0') != std::string_view::npos) return {};
      return name;
    }
    i += n;
  }
  return {};
}

std::unique_ptr<TlsContext::Loaded> loadCertificate(const TlsCertificateSpec& spec,
                                                    std::vector<std::string>& errors) {
  const auto& cert_path = spec.certificate.cert;
  const auto& key_path = spec.certificate.key;
  const std::string where = "site " + spec.site + ": ";
  auto loaded = std::make_unique<TlsContext::Loaded>();
  loaded->cert_path = cert_path;
  ERR_clear_error();

  BIO* bio = BIO_new_file(cert_path.c_str(), "r");
  if (!bio) {
    errors.push_back(where + "cannot open certificate " + cert_path + ": " + std::strerror(errno));
    ERR_clear_error();
    return nullptr;
  }
  loaded->leaf = PEM_read_bio_X509_AUX(bio, nullptr, nullptr, nullptr);
  if (!loaded->leaf) {
    BIO_free(bio);
    ERR_clear_error();
    errors.push_back(where + "certificate " + cert_path + ": no PEM certificate in the file");
    return nullptr;
  }
  loaded->chain = sk_X509_new_null();
  while (X509* extra = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (!loaded->chain || sk_X509_push(loaded->chain, extra) == 0) {
      X509_free(extra);
      BIO_free(bio);
      errors.push_back(where + "certificate " + cert_path + ": out of memory");
      return nullptr;
    }
  }
  // The loop ends on "no start line" at the end of the file, which is not an
  // error; anything else (a corrupt block) is.
  unsigned long e = ERR_peek_last_error();
  BIO_free(bio);
  if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
    errors.push_back(where + "certificate " + cert_path + ": bad chain: " + takeOpensslError());
    return nullptr;
  }
  ERR_clear_error();

  bio = BIO_new_file(key_path.c_str(), "r");
  if (!bio) {
    errors.push_back(where + "cannot open key " + key_path + ": " + std::strerror(errno));
    ERR_clear_error();
    return nullptr;
  }
  // No passphrase callback: an encrypted key fails here instead of
  // prompting on a terminal the daemon does not have.
  loaded->key = PEM_read_bio_PrivateKey(bio, nullptr, [](char*, int, int, void*) { return 0; },
                                        nullptr);
  BIO_free(bio);
  if (!loaded->key) {
    errors.push_back(where + "key " + key_path + ": no usable PEM private key (" +
                     takeOpensslError() + ")");
    return nullptr;
  }
  if (X509_check_private_key(loaded->leaf, loaded->key) != 1) {
    ERR_clear_error();
    errors.push_back(where + "key " + key_path + " does not match certificate " + cert_path);
    return nullptr;
  }
  return loaded;
}

}  // namespace

TlsContext::TlsContext() = default;

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

common::Result<std::unique_ptr<TlsContext>> TlsContext::create(
    const std::vector<TlsCertificateSpec>& specs, const std::string& listener) {
  if (specs.empty())
    return common::Error{EINVAL, "TLS listener " + listener + " has no certificate"};
  std::unique_ptr<TlsContext> tls(new TlsContext());
  std::vector<std::string> errors;
  for (const auto& spec : specs) {
    auto loaded = loadCertificate(spec, errors);
    if (!loaded) continue;
    tls->sni_.add(tls->certs_.size(), spec.certificate.hosts, spec.site_hosts);
    tls->certs_.push_back(std::move(loaded));
  }
  if (!errors.empty()) {
    std::string joined;
    for (const auto& e : errors) joined += (joined.empty() ? "" : "\n") + e;
    return common::Error{EINVAL, joined};
  }

  const auto& keys = processTicketKeys();
  if (!keys.ok) return common::Error{EIO, "TLS: no randomness for session ticket keys"};
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return common::Error{ENOMEM, "TLS: SSL_CTX_new: " + takeOpensslError()};
  tls->ctx_ = ctx;
  auto fail = [&](const char* what) {
    return common::Error{EINVAL, "TLS listener " + listener + ": " + what + ": " +
                                     takeOpensslError()};
  };
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
    return fail("protocol versions");
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) return fail("TLS 1.2 cipher list");
  if (SSL_CTX_set_ciphersuites(ctx, kTls13Suites) != 1) return fail("TLS 1.3 suites");
  if (SSL_CTX_set1_groups_list(ctx, kGroups) != 1) return fail("groups");
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Partial writes and a moving buffer: the engine's output buffer grows
  // while a write waits for the socket (see TlsConn::write). Released
  // buffers: an idle keep-alive connection holds no 34 KiB record buffers.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  std::string sid = "mamori " + listener;
  sid.resize(std::min<std::size_t>(sid.size(), SSL_MAX_SID_CTX_LENGTH));
  if (SSL_CTX_set_session_id_context(ctx, reinterpret_cast<const unsigned char*>(sid.data()),
                                     static_cast<unsigned int>(sid.size())) != 1)
    return fail("session id context");
  if (SSL_CTX_set_tlsext_ticket_keys(ctx, const_cast<unsigned char*>(keys.bytes),
                                     sizeof keys.bytes) != 1)
    return fail("session ticket keys");
  SSL_CTX_set_msg_callback(ctx, TlsCallbacks::onMessage);
  SSL_CTX_set_alpn_select_cb(ctx, TlsCallbacks::onAlpn, nullptr);
  SSL_CTX_set_client_hello_cb(ctx, &TlsContext::onClientHello, tls.get());
  return tls;
}

int TlsContext::onClientHello(SSL* ssl, int* alert, void* arg) {
  auto* self = static_cast<TlsContext*>(arg);
  auto* conn = static_cast<TlsConn*>(SSL_get_app_data(ssl));
  const unsigned char* ext = nullptr;
  std::size_t ext_len = 0;
  std::string_view name;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &ext_len) == 1)
    name = sniFromExtension(ext, ext_len);
  if (conn) conn->sni_ = SniMap::normalise(name);
  const Loaded& chosen = *self->certs_[self->sni_.pick(name)];
  if (SSL_use_cert_and_key(ssl, chosen.leaf, chosen.key, chosen.chain, 1) != 1) {
    ERR_clear_error();
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

const std::string& TlsContext::certificateFileFor(std::string_view sni) const {
  return certs_[sni_.pick(sni)]->cert_path;
}

// --- TlsConn -----------------------------------------------------------------

std::unique_ptr<TlsConn> TlsConn::create(const TlsContext& ctx, int fd) {
  std::unique_ptr<TlsConn> conn(new TlsConn());
  conn->ssl_ = SSL_new(ctx.raw());
  if (!conn->ssl_ || SSL_set_fd(conn->ssl_, fd) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  SSL_set_app_data(conn->ssl_, conn.get());
  SSL_set_accept_state(conn->ssl_);
  return conn;
}

TlsConn::~TlsConn() { SSL_free(ssl_); }

TlsConn::Io TlsConn::classify(int rc) {
  int err = SSL_get_error(ssl_, rc);
  ERR_clear_error();  // the worker's error queue must not leak into the next connection
  switch (err) {
    case SSL_ERROR_WANT_READ: return Io::WantRead;
    case SSL_ERROR_WANT_WRITE: return Io::WantWrite;
    case SSL_ERROR_ZERO_RETURN: return Io::Eof;
    case SSL_ERROR_SYSCALL:
      if (errno == 0) return Io::Eof;
      broken_ = true;
      return Io::Error;
    default: broken_ = true; return Io::Error;
  }
}

TlsConn::Io TlsConn::handshake() {
  if (done_) return Io::Ok;
  ERR_clear_error();
  errno = 0;
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    done_ = true;
    SSL_set_msg_callback(ssl_, nullptr);  // only the ClientHello was wanted
    return Io::Ok;
  }
  Io io = classify(rc);
  return io == Io::Eof ? Io::Error : io;  // EOF mid-handshake is a failed handshake
}

TlsConn::Io TlsConn::read(char* buf, std::size_t len, std::size_t* n) {
  ERR_clear_error();
  errno = 0;
  if (SSL_read_ex(ssl_, buf, len, n) == 1) return Io::Ok;
  return classify(0);
}

TlsConn::Io TlsConn::write(const char* data, std::size_t len, std::size_t* n) {
  ERR_clear_error();
  errno = 0;
  if (SSL_write_ex(ssl_, data, len, n) == 1) return Io::Ok;
  return classify(0);
}

void TlsConn::shutdown() {
  if (shut_ || !done_ || broken_) return;
  shut_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

std::string_view TlsConn::version() const { return SSL_get_version(ssl_); }

std::string_view TlsConn::cipher() const {
  const char* name = SSL_get_cipher_name(ssl_);
  return name ? name : "";
}

std::string_view TlsConn::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &data, &len);
  return data ? std::string_view(reinterpret_cast<const char*>(data), len) : std::string_view{};
}

bool TlsConn::resumed() const { return SSL_session_reused(ssl_) == 1; }

// --- checkTlsCertificates (net/tls.h) ------------------------------------------

common::Status checkTlsCertificates(const config::Config& config) {
  std::vector<std::string> errors;
  for (const auto& tenant : config.tenants)
    for (const auto& site : tenant.sites)
      for (const auto& cert : site.certificates)
        loadCertificate(TlsCertificateSpec{site.name, cert, site.hosts}, errors);
  if (errors.empty()) return {};
  std::string joined;
  for (const auto& e : errors) joined += (joined.empty() ? "" : "\n") + e;
  return common::Error{EINVAL, joined};
}

}  // namespace mamori::net
