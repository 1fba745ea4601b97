#include "daemon/tls_fingerprints.h"

#include <optional>

namespace mamori::daemon {

namespace {

// What the daemon keeps in RequestContext::connection_memo; this file is
// its only reader and writer.
struct ConnectionFacts {
  std::optional<guard::TlsFingerprint> tls;
};

std::optional<guard::TlsFingerprint> parse(const net::RequestContext& context) {
  if (!context.tls || context.client_hello.empty() || context.client_hello_truncated)
    return std::nullopt;
  auto fp = guard::fingerprintClientHello(context.client_hello);
  if (!fp) return std::nullopt;
  return std::move(*fp);
}

}  // namespace

const guard::TlsFingerprint* connectionFingerprint(const net::RequestContext& context) {
  if (context.connection_memo == nullptr) {
    thread_local std::optional<guard::TlsFingerprint> last;
    last = parse(context);
    return last ? &*last : nullptr;
  }
  std::shared_ptr<void>& memo = *context.connection_memo;
  if (!memo) memo = std::make_shared<ConnectionFacts>(ConnectionFacts{parse(context)});
  const auto& facts = *static_cast<const ConnectionFacts*>(memo.get());
  return facts.tls ? &*facts.tls : nullptr;
}

ClientFingerprints clientFingerprints(const net::RequestContext& context) {
  ClientFingerprints out;
  if (const guard::TlsFingerprint* fp = connectionFingerprint(context)) {
    out.ja3 = fp->ja3.hash;
    out.ja4 = fp->ja4.ja4;
  }
  return out;
}

}  // namespace mamori::daemon
