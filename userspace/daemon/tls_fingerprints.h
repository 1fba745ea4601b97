#pragma once

// JA3 / JA4 of a request's TLS connection (guard/tls_fingerprint.h computes
// them from the ClientHello bytes the engine kept), for the bot detector,
// rules that read tls_ja3 / tls_ja4 and the logs' tls.client.ja3 / ja4.

#include <string>

#include "guard/tls_fingerprint.h"
#include "net/types.h"

namespace mamori::daemon {

// The connection's fingerprint, or nullptr without TLS, with a truncated
// hello or one that does not parse (fail-open: no TLS facts). Parsed once
// per connection: the result is kept in the context's connection memo and
// later requests on the connection reuse it. Without a memo (callers that
// are not the engine) it is parsed again and the pointer stays valid until
// this thread's next call. Worker threads.
const guard::TlsFingerprint* connectionFingerprint(const net::RequestContext& context);

struct ClientFingerprints {
  std::string ja3;  // MD5 hex of the JA3 string; empty without a fingerprint
  std::string ja4;
};
ClientFingerprints clientFingerprints(const net::RequestContext& context);

}  // namespace mamori::daemon
