#pragma once

// JA3 / JA4 of a request's TLS connection, for the event log's
// tls.client.ja3 / tls.client.ja4 fields (guard/tls_fingerprint.h computes
// them from the ClientHello bytes the engine kept).

#include <string>

#include "net/types.h"

namespace mamori::daemon {

struct ClientFingerprints {
  std::string ja3;  // MD5 hex of the JA3 string; empty without TLS or on a bad hello
  std::string ja4;
};

// Computed only when the connection is TLS and its whole ClientHello was
// kept; a hello that does not parse gives empty fields (fail-open: the
// event is logged without them). Any worker thread; costs a parse and two
// hashes, so callers use it when they log, not on every request.
ClientFingerprints clientFingerprints(const net::RequestContext& context);

}  // namespace mamori::daemon
