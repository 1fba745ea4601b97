#pragma once

// Types the engine's neighbours see: the verdict hook that inspect/guard
// plug into (through userspace/daemon/), and the engine's counters. Plain
// data, no sockets.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/address.h"
#include "http/types.h"

namespace mamori::net {

// What the engine knows about a request beyond the request itself. Views
// are valid only during the hook call.
struct RequestContext {
  std::string_view request_id;  // 16 lower-case hex digits, unique per request
  std::string_view site;        // config::Site::name
  config::IpAddress peer;       // the TCP peer (not X-Forwarded-For)
  std::uint16_t peer_port = 0;
  // The site's mode is detect: the engine counts a Block and forwards the
  // request anyway (so a verdict chain should let every step see it).
  bool detect_only = false;
  // TLS facts of the connection; all empty when `tls` is false.
  bool tls = false;
  std::string_view tls_version;  // "TLSv1.2" or "TLSv1.3"
  std::string_view tls_cipher;   // OpenSSL name, e.g. "TLS_AES_128_GCM_SHA256"
  std::string_view tls_sni;      // server_name sent by the client, lower case; may be empty
  std::string_view tls_alpn;     // negotiated protocol ("http/1.1"), empty without ALPN
  bool tls_resumed = false;      // the session was resumed (ticket or cache)
  // The client's first ClientHello handshake message exactly as received
  // (4-byte handshake header first), at most 16 KiB; for fingerprinting
  // (JA3/JA4), which needs the extensions in wire order.
  std::span<const std::uint8_t> client_hello;
  bool client_hello_truncated = false;  // the hello was longer than 16 KiB
  // A slot that lives as long as the connection, for what a hook derives
  // once per connection and reuses for its later requests (the daemon's
  // TLS fingerprints). Null when the caller offers none. Only the worker
  // thread serving the connection touches it.
  std::shared_ptr<void>* connection_memo = nullptr;
};

// The decision on one complete request. Block is answered locally with
// `status` and `page` (empty page: a built-in text body naming the request
// id), plus `Retry-After: retry_after` when that is non-zero (a 429 for a
// throttled source, a locked username), plus every field of `headers` (the
// browser challenge's Set-Cookie, Location, Content-Type). In a site with
// mode: detect a Block is counted and the request passes.
//
// `headers` (Block only) are sent after the engine's own fields. A
// Content-Type or Cache-Control given there replaces the engine's default
// one; fields the engine owns for framing (Content-Length,
// Transfer-Encoding, Connection) and fields whose name is not an RFC 9110
// token or whose value holds CR, LF or NUL are dropped and counted
// (bad_verdict_headers): a hook can never split the response.
//
// A Pass may also ask for
//  - `delay`: hold the request this long before forwarding it (the login
//    guard's "add delay" action). The worker arms its timer heap and serves
//    other connections meanwhile; it never sleeps.
//  - `watch`: an opaque per-request token. When set, the engine calls
//    EngineOptions::response with it once the upstream's head and the first
//    kWatchedBodyBytes of the decoded body (or the whole body, if shorter)
//    are in; it strips Accept-Encoding from the forwarded request so that
//    body is readable, and holds the response (bounded by that prefix)
//    until the hook has answered, so the hook can delay it.
struct Verdict {
  enum class Action { Pass, Block };
  Action action = Action::Pass;
  std::uint16_t status = 403;
  std::string page;
  std::chrono::seconds retry_after{0};  // Block only; 0: no Retry-After header
  std::chrono::milliseconds delay{0};   // Pass only; 0: forward at once
  std::shared_ptr<void> watch;          // Pass only; null: no response hook
  std::vector<http::Header> headers;    // Block only; extra response fields

  static Verdict pass() { return {}; }
  static Verdict block(std::uint16_t status = 403, std::string page = {}) {
    Verdict v;
    v.action = Action::Block;
    v.status = status;
    v.page = std::move(page);
    return v;
  }
};

// Called by a worker thread on every complete request before it is
// proxied, concurrently from all workers: it must be thread-safe and must
// not block (it runs on the event loop). Never called for rejected requests.
// In a site with body_over_limit: inspect_prefix a body longer than
// max_body_bytes is not complete yet: the hook gets the head and the first
// max_body_bytes (Request::body_truncated set), and the rest streams to the
// upstream uninspected after a Pass.
using VerdictHook = std::function<Verdict(const http::Request&, const RequestContext&)>;

// Body bytes (decoded: de-chunked, but not decompressed) handed to the
// response hook at most; the login guard reads no more than this.
inline constexpr std::size_t kWatchedBodyBytes = 64 * 1024;

// What the response hook sees of the upstream's answer to a watched
// request. Views are valid only during the hook call.
struct ResponseView {
  int status = 0;
  const std::vector<http::Header>* headers = nullptr;  // never null in a call
  std::string_view body_prefix;  // first <= kWatchedBodyBytes decoded body bytes
  bool body_complete = false;    // body_prefix is the whole body
};

// The response hook's answer: hold the response this long before sending
// it to the client (0: send at once). The upstream is not read meanwhile.
struct ResponseAction {
  std::chrono::milliseconds delay{0};
};

// Called by the worker thread that proxied a request whose Verdict carried
// a `watch` token, once per request that got a final upstream response (not
// for 502/504 answered locally, nor when the client left first). Same rules
// as VerdictHook: thread-safe, never blocking. `ctx` describes the request
// (its TLS fields are left empty).
using ResponseHook = std::function<ResponseAction(const std::shared_ptr<void>& watch,
                                                  const ResponseView& response,
                                                  const RequestContext& ctx)>;

// Observes the status of every answered request of a site (proxied or
// answered locally), e.g. for per-source behaviour counters (share of 4xx).
// `ctx` carries request id, site and peer only (no TLS fields);
// `set_cookie` is true when the answer carried a Set-Cookie header (a
// client that never sends it back is a bot signal). Worker threads,
// concurrently: thread-safe, never blocking.
using ResponseStatusHook =
    std::function<void(const RequestContext& ctx, int status, bool set_cookie)>;
// A connection-level event the L7 DoS protection logs and counts
// (docs/l7-dos.md): connection floods and slow clients that the engine cut.
enum class ConnectionEventKind : std::uint8_t {
  OverSourceCap,  // refused: the source already holds max_conns_per_source
  HeaderTimeout,  // cut: header_timeout fired after some bytes (slowloris)
  BodyTimeout,    // cut: body_timeout fired (slow POST)
};

struct ConnectionEvent {
  ConnectionEventKind kind = ConnectionEventKind::OverSourceCap;
  // The site, when the engine knows it for sure: always for BodyTimeout;
  // for the others only when the listener serves one site (the Host header
  // has not been read yet). Empty otherwise.
  std::string_view site;
  config::IpAddress peer;
  std::uint16_t peer_port = 0;
};

// Called by the worker thread that saw the event, concurrently from all
// workers; thread-safe and never blocking, like VerdictHook.
using ConnectionHook = std::function<void(const ConnectionEvent&)>;

// Every counter the engine keeps, in one list (STYLE.md §2).
#define MAMORI_NET_COUNTERS(X)                                                      \
  X(accepted)            /* client connections accepted */                          \
  X(over_source_cap)     /* connections refused: max_conns_per_source */            \
  X(requests)            /* complete requests parsed */                             \
  X(rejected)            /* requests the parser rejected (4xx/5xx, closed) */       \
  X(blocked)             /* answered locally by a Block verdict */                  \
  X(delayed)             /* requests or responses held by a delay */                \
  X(watched)             /* responses handed to the response hook */                \
  X(detect_only)         /* Block verdicts let through by mode: detect */           \
  X(streamed_bodies)     /* requests whose body past the prefix was streamed */     \
  X(proxied)             /* responses relayed from an upstream to the end */        \
  X(upstream_connect_failures) /* refused or timed out; the upstream goes down */   \
  X(bad_gateway)         /* 502 answered */                                         \
  X(gateway_timeout)     /* 504 answered */                                         \
  X(client_timeouts)     /* header, body or idle timeout fired */                   \
  X(aborted_responses)   /* client closed because a started response broke */        \
  X(tls_handshakes)      /* TLS handshakes completed */                             \
  X(tls_resumed)         /* of which resumed a session (ticket or cache) */         \
  X(tls_handshake_failures) /* handshakes refused or broken (version, ALPN, junk) */ \
  X(bad_verdict_headers) /* Block verdict header fields dropped (framing, CR/LF) */

// Requests answered for one (tenant, site, method class, status class,
// verdict), summed over workers: mamori_http_requests_total. Method classes:
// get, head, post, put, delete, other; status classes 1xx..5xx; verdicts
// pass, block, detect_only. Requests the parser rejected have no site and
// are counted only by reason.
struct SiteRequestCount {
  std::string tenant;
  std::string site;
  std::string method_class;
  std::string status_class;
  std::string verdict;
  std::uint64_t count = 0;
};

// Upper bounds (seconds) of the request duration histogram: from the
// complete request to the end of its response from the upstream, or to the
// local answer. Time the client takes to send or read is not in it.
inline constexpr std::array<double, 12> kRequestDurationBounds = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0};

// Snapshot of the counters, summed over workers.
struct EngineStats {
#define MAMORI_NET_FIELD(name) std::uint64_t name = 0;
  MAMORI_NET_COUNTERS(MAMORI_NET_FIELD)
#undef MAMORI_NET_FIELD
  std::array<std::uint64_t, http::kRejectReasonCount> rejected_by_reason{};
  std::vector<SiteRequestCount> requests_by_site;  // non-zero entries only
  std::uint64_t active_connections = 0;            // client connections open now
  // Per bucket of kRequestDurationBounds (not cumulative); the last one is
  // everything above the largest bound.
  std::array<std::uint64_t, kRequestDurationBounds.size() + 1> duration_buckets{};
  double duration_sum_seconds = 0;
};

}  // namespace mamori::net
