#pragma once

// Test-only: throwaway self-signed certificates and keys, generated with the
// OpenSSL API into a fresh temporary directory at test time (nothing secret
// is checked in). The directory is removed when the TempCerts goes away.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace mamori::net::test_util {

class TempCerts {
 public:
  TempCerts() {
    char tmpl[] = "/tmp/mamori-tls-test.XXXXXX";
    dir_ = ::mkdtemp(tmpl) ? tmpl : "";
  }
  ~TempCerts() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  const std::string& dir() const { return dir_; }

  // Writes <name>.pem (certificate, CN = `cn`, subjectAltName = DNS:`cn`)
  // and <name>.key (P-256 key). Returns false on any OpenSSL failure.
  bool make(const std::string& name, const std::string& cn) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* x = X509_new();
    bool ok = key && x;
    if (ok) {
      ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial_);
      X509_gmtime_adj(X509_getm_notBefore(x), -60);
      X509_gmtime_adj(X509_getm_notAfter(x), 3600);
      X509_set_pubkey(x, key);
      X509_NAME* subject = X509_get_subject_name(x);
      X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
      X509_set_issuer_name(x, subject);
      std::string san = "DNS:" + cn;
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
      ok = ext && X509_add_ext(x, ext, -1) == 1;
      X509_EXTENSION_free(ext);
      ok = ok && X509_sign(x, key, EVP_sha256()) > 0;
    }
    if (ok) ok = writePem(certPath(name), [&](FILE* f) { return PEM_write_X509(f, x) == 1; });
    if (ok)
      ok = writePem(keyPath(name), [&](FILE* f) {
        return PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
      });
    X509_free(x);
    EVP_PKEY_free(key);
    return ok;
  }

  // Writes `text` to <dir>/<file> and returns the path.
  std::string writeFile(const std::string& file, const std::string& text) {
    std::string path = dir_ + "/" + file;
    FILE* f = std::fopen(path.c_str(), "w");
    if (f) {
      std::fputs(text.c_str(), f);
      std::fclose(f);
    }
    return path;
  }

  std::string certPath(const std::string& name) const { return dir_ + "/" + name + ".pem"; }
  std::string keyPath(const std::string& name) const { return dir_ + "/" + name + ".key"; }

 private:
  template <typename F>
  static bool writePem(const std::string& path, F write) {
    FILE* f = std::fopen(path.c_str(), "w");
    if (!f) return false;
    bool ok = write(f);
    return std::fclose(f) == 0 && ok;
  }

  std::string dir_;
  long serial_ = 0;
};

}  // namespace mamori::net::test_util
