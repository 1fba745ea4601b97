// TLS: certificate and key validation (the errors --check-config prints),
// certificate choice by SNI across the sites of one listener, and real
// handshakes through the engine on 127.0.0.1 (SNI → certificate, ALPN,
// versions, the TLS facts and ClientHello bytes given to the verdict hook).
// Certificates are generated per test into a temporary directory.

#include "net/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/engine.h"
#include "net/tls.h"
#include "net_test_util.h"
#include "tls_test_certs.h"

namespace mamori::net {
namespace {

using namespace test_util;

config::Certificate certOf(const TempCerts& certs, const std::string& name,
                           std::vector<std::string> hosts = {}) {
  config::Certificate c;
  c.hosts = std::move(hosts);
  c.cert = certs.certPath(name);
  c.key = certs.keyPath(name);
  return c;
}

config::Config withCertificates(std::vector<config::Certificate> list) {
  config::Config cfg = oneSite(1, 1);
  cfg.tenants[0].sites[0].listeners[0].tls = true;
  cfg.tenants[0].sites[0].certificates = std::move(list);
  return cfg;
}

TEST(CheckTlsCertificates, AcceptsMatchingPair) {
  TempCerts certs;
  ASSERT_TRUE(certs.make("a", "a.test"));
  auto st = checkTlsCertificates(withCertificates({certOf(certs, "a")}));
  EXPECT_TRUE(st) << st.error().message;
}

TEST(CheckTlsCertificates, MissingCertificateNamesSiteAndFile) {
  TempCerts certs;
  ASSERT_TRUE(certs.make("a", "a.test"));
  auto c = certOf(certs, "a");
  c.cert = certs.dir() + "/missing.pem";
  auto st = checkTlsCertificates(withCertificates({c}));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, EINVAL);
  EXPECT_EQ(st.error().message,
            "site t: cannot open certificate " + c.cert + ": No such file or directory");
}

TEST(CheckTlsCertificates, MismatchedKeyNamesBothFiles) {
  TempCerts certs;
  ASSERT_TRUE(certs.make("a", "a.test"));
  ASSERT_TRUE(certs.make("b", "b.test"));
  auto c = certOf(certs, "a");
  c.key = certs.keyPath("b");
  auto st = checkTlsCertificates(withCertificates({c}));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message,
            "site t: key " + c.key + " does not match certificate " + c.cert);
}

TEST(CheckTlsCertificates, NonPemCertificate) {
  TempCerts certs;
  ASSERT_TRUE(certs.make("a", "a.test"));
  auto c = certOf(certs, "a");
  c.cert = certs.writeFile("junk.pem", "not a certificate\n");
  auto st = checkTlsCertificates(withCertificates({c}));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message,
            "site t: certificate " + c.cert + ": no PEM certificate in the file");
}

TEST(CheckTlsCertificates, KeyFileHoldingACertificate) {
  TempCerts certs;
  ASSERT_TRUE(certs.make("a", "a.test"));
  auto c = certOf(certs, "a");
  c.key = c.cert;  // a common slip: the same file twice
  auto st = checkTlsCertificates(withCertificates({c}));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message.rfind("site t: key " + c.cert + ": no usable PEM private key", 0),
            0u)
      << st.error().message;
}

TEST(CheckTlsCertificates, ReportsEveryBadCertificate) {
  TempCerts certs;
  ASSERT_TRUE(certs.make("a", "a.test"));
  auto bad1 = certOf(certs, "a");
  bad1.cert = certs.dir() + "/x.pem";
  auto bad2 = certOf(certs, "a");
  bad2.key = certs.dir() + "/y.key";
  auto st = checkTlsCertificates(withCertificates({bad1, certOf(certs, "a"), bad2}));
  ASSERT_FALSE(st);
  const auto& m = st.error().message;
  EXPECT_NE(m.find("x.pem"), std::string::npos) << m;
  EXPECT_NE(m.find("y.key"), std::string::npos) << m;
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 1) << m;
}

TEST(TlsContext, PicksCertificateBySniAcrossSites) {
  TempCerts certs;
  ASSERT_TRUE(certs.make("a", "a.test"));
  ASSERT_TRUE(certs.make("b", "b.test"));
  ASSERT_TRUE(certs.make("wild", "*.b.test"));
  std::vector<TlsCertificateSpec> specs = {
      {"site-a", certOf(certs, "a"), {"a.test", "www.a.test"}},  // fallback of site a
      {"site-b", certOf(certs, "b", {"b.test"}), {"b.test", "*.b.test"}},
      {"site-b", certOf(certs, "wild", {"*.b.test"}), {"b.test", "*.b.test"}},
  };
  auto ctx = TlsContext::create(specs, "127.0.0.1:443");
  ASSERT_TRUE(ctx) << ctx.error().message;
  EXPECT_EQ((*ctx)->certificateFileFor("www.a.test"), certs.certPath("a"));
  EXPECT_EQ((*ctx)->certificateFileFor("b.test"), certs.certPath("b"));
  EXPECT_EQ((*ctx)->certificateFileFor("shop.b.test"), certs.certPath("wild"));
  EXPECT_EQ((*ctx)->certificateFileFor("nobody.test"), certs.certPath("a"));
  EXPECT_EQ((*ctx)->certificateFileFor(""), certs.certPath("a"));
}

TEST(TlsContext, CreateFailsOnBadKey) {
  TempCerts certs;
  ASSERT_TRUE(certs.make("a", "a.test"));
  ASSERT_TRUE(certs.make("b", "b.test"));
  auto c = certOf(certs, "a");
  c.key = certs.keyPath("b");
  auto ctx = TlsContext::create({{"s", c, {"*"}}}, "127.0.0.1:443");
  ASSERT_FALSE(ctx);
  EXPECT_NE(ctx.error().message.find("does not match"), std::string::npos);
}

// --- through the engine -------------------------------------------------------

struct ClientOutcome {
  bool handshake = false;
  std::string subject_cn;
  std::string version;
  std::string alpn;
  std::string response;
};

// A blocking TLS client: connects, handshakes with `sni` and `alpn`
// (wire format, empty: none), sends one GET with Connection: close and
// reads the answer.
ClientOutcome tlsGet(uint16_t port, const std::string& sni, const std::string& alpn = {},
                     int only_version = 0) {
  ClientOutcome out;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (only_version) {
    SSL_CTX_set_security_level(ctx, 0);  // let the client offer old versions
    SSL_CTX_set_min_proto_version(ctx, only_version);
    SSL_CTX_set_max_proto_version(ctx, only_version);
    SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
  }
  int fd = connectTo(port);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
  if (!alpn.empty())
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(alpn.data()),
                        static_cast<unsigned>(alpn.size()));
  if (fd >= 0 && SSL_connect(ssl) == 1) {
    out.handshake = true;
    out.version = SSL_get_version(ssl);
    const unsigned char* p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl, &p, &len);
    if (p) out.alpn.assign(reinterpret_cast<const char*>(p), len);
    if (X509* peer = SSL_get0_peer_certificate(ssl)) {
      char cn[256] = {};
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
      out.subject_cn = cn;
    }
    std::string req = "GET /x HTTP/1.1\r\nHost: " + (sni.empty() ? "a.test" : sni) +
                      "\r\nConnection: close\r\n\r\n";
    SSL_write(ssl, req.data(), static_cast<int>(req.size()));
    char buf[4096];
    int n;
    while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) out.response.append(buf, static_cast<size_t>(n));
  }
  ERR_clear_error();
  SSL_free(ssl);
  if (fd >= 0) ::close(fd);
  SSL_CTX_free(ctx);
  return out;
}

// What the verdict hook saw, copied out of the views.
struct SeenTls {
  std::mutex mu;
  bool tls = false;
  std::string version, cipher, sni, alpn;
  std::vector<std::uint8_t> hello;
};

class TlsEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(certs_.make("a", "a.test"));
    ASSERT_TRUE(certs_.make("b", "b.test"));
    port_ = freePort();
    // Two sites on one TLS listener: a.test with a fallback certificate,
    // *.b.test with a certificate naming its hosts.
    config::Config cfg = oneSite(port_, up_.port());
    auto& a = cfg.tenants[0].sites[0];
    a.name = "a";
    a.hosts = {"a.test"};
    a.listeners[0].tls = true;
    a.certificates = {certOf(certs_, "a")};
    config::Site b = a;
    b.name = "b";
    b.hosts = {"b.test", "*.b.test"};
    b.certificates = {certOf(certs_, "b", {"b.test", "*.b.test"})};
    cfg.tenants[0].sites.push_back(b);
    EngineOptions options;
    options.workers = 1;
    options.verdict = [this](const http::Request&, const RequestContext& ctx) {
      std::lock_guard lock(seen_.mu);
      seen_.tls = ctx.tls;
      seen_.version = ctx.tls_version;
      seen_.cipher = ctx.tls_cipher;
      seen_.sni = ctx.tls_sni;
      seen_.alpn = ctx.tls_alpn;
      seen_.hello.assign(ctx.client_hello.begin(), ctx.client_hello.end());
      return Verdict::pass();
    };
    auto engine = Engine::create(cfg, options);
    ASSERT_TRUE(engine) << engine.error().message;
    engine_ = std::move(engine.value());
    engine_->start();
  }
  void TearDown() override {
    if (engine_) engine_->stop();
  }

  TempCerts certs_;
  TestUpstream up_{false};
  uint16_t port_ = 0;
  SeenTls seen_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(TlsEngine, SniChoosesTheSiteCertificate) {
  auto a = tlsGet(port_, "a.test");
  ASSERT_TRUE(a.handshake);
  EXPECT_EQ(a.subject_cn, "a.test");
  EXPECT_EQ(a.response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << a.response;
  auto b = tlsGet(port_, "shop.b.test");
  ASSERT_TRUE(b.handshake);
  EXPECT_EQ(b.subject_cn, "b.test");
  auto none = tlsGet(port_, "");
  ASSERT_TRUE(none.handshake);
  EXPECT_EQ(none.subject_cn, "a.test");  // the listener's default
  EXPECT_EQ(up_.requests(), 3);
}

TEST_F(TlsEngine, VerdictHookSeesTlsFactsAndClientHello) {
  auto r = tlsGet(port_, "b.test", std::string("\x08http/1.1", 9));
  ASSERT_TRUE(r.handshake);
  EXPECT_EQ(r.alpn, "http/1.1");
  std::lock_guard lock(seen_.mu);
  EXPECT_TRUE(seen_.tls);
  EXPECT_EQ(seen_.version, r.version);
  EXPECT_FALSE(seen_.cipher.empty());
  EXPECT_EQ(seen_.sni, "b.test");
  EXPECT_EQ(seen_.alpn, "http/1.1");
  ASSERT_GT(seen_.hello.size(), 4u);
  EXPECT_EQ(seen_.hello[0], 1);  // handshake type client_hello
  std::size_t body = (std::size_t{seen_.hello[1]} << 16) | (std::size_t{seen_.hello[2]} << 8) |
                     seen_.hello[3];
  EXPECT_EQ(body + 4, seen_.hello.size());
  std::string bytes(seen_.hello.begin(), seen_.hello.end());
  EXPECT_NE(bytes.find("b.test"), std::string::npos);  // the SNI extension is in there
  EXPECT_NE(bytes.find("http/1.1"), std::string::npos);  // and the ALPN one
}

TEST_F(TlsEngine, AlpnWithoutHttp11IsRefused) {
  auto r = tlsGet(port_, "a.test", std::string("\x02h2", 3));
  EXPECT_FALSE(r.handshake);
  engine_->stop();
  EXPECT_EQ(engine_->stats().tls_handshake_failures, 1u);
  EXPECT_EQ(up_.requests(), 0);
}

TEST_F(TlsEngine, Tls11IsRefused) {
  EXPECT_FALSE(tlsGet(port_, "a.test", {}, TLS1_1_VERSION).handshake);
  auto r12 = tlsGet(port_, "a.test", {}, TLS1_2_VERSION);
  ASSERT_TRUE(r12.handshake);
  EXPECT_EQ(r12.version, "TLSv1.2");
  engine_->stop();
  EXPECT_EQ(engine_->stats().tls_handshake_failures, 1u);
  EXPECT_EQ(engine_->stats().tls_handshakes, 1u);
}

TEST_F(TlsEngine, PlaintextOnTlsPortIsClosed) {
  std::string out = roundTrip(port_, "/plain");
  EXPECT_EQ(out.find("HTTP/1.1 200"), std::string::npos) << out;
  EXPECT_EQ(tlsGet(port_, "a.test").subject_cn, "a.test");  // still serving
  engine_->stop();
  EXPECT_EQ(engine_->stats().tls_handshake_failures, 1u);
  EXPECT_EQ(up_.requests(), 1);
}

TEST_F(TlsEngine, ReloadWithBadKeyIsRefusedAndOldCertificatesStay) {
  ASSERT_TRUE(certs_.make("c", "c.test"));
  config::Config cfg = oneSite(port_, up_.port());
  auto& site = cfg.tenants[0].sites[0];
  site.listeners[0].tls = true;
  site.certificates = {certOf(certs_, "c")};
  site.certificates[0].key = certs_.keyPath("a");
  auto st = engine_->reload(cfg);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("does not match"), std::string::npos) << st.error().message;
  EXPECT_EQ(tlsGet(port_, "a.test").subject_cn, "a.test");
}

TEST_F(TlsEngine, ReloadSwapsCertificatesForNewConnections) {
  ASSERT_TRUE(certs_.make("c", "c.test"));
  config::Config cfg = oneSite(port_, up_.port());
  auto& site = cfg.tenants[0].sites[0];
  site.hosts = {"a.test"};
  site.listeners[0].tls = true;
  site.certificates = {certOf(certs_, "c")};
  auto st = engine_->reload(cfg);
  ASSERT_TRUE(st) << st.error().message;
  std::string cn;
  for (int i = 0; i < 50 && cn != "c.test"; ++i) {
    cn = tlsGet(port_, "a.test").subject_cn;
    if (cn != "c.test") std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(cn, "c.test");
}

}  // namespace
}  // namespace mamori::net
