#include "daemon/tls_fingerprints.h"

#include "guard/tls_fingerprint.h"

namespace mamori::daemon {

ClientFingerprints clientFingerprints(const net::RequestContext& context) {
  ClientFingerprints out;
  if (!context.tls || context.client_hello.empty() || context.client_hello_truncated) return out;
  auto fp = guard::fingerprintClientHello(context.client_hello);
  if (!fp) return out;
  out.ja3 = std::move(fp->ja3.hash);
  out.ja4 = std::move(fp->ja4.ja4);
  return out;
}

}  // namespace mamori::daemon
