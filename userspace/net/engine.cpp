#include "net/engine.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "http/chunked_decoder.h"
#include "http/request_parser.h"
#include "http/response_parser.h"
#include "net/forward.h"
#include "net/timer_heap.h"
#include "net/tls_context.h"
#include "net/upstream_set.h"

namespace mamori::net {

using Clock = std::chrono::steady_clock;

// Read-only once built; shared by all workers through a Snapshot.
struct SiteRuntime {
  std::string tenant;
  config::Site site;
  std::vector<sockaddr_storage> upstream_addrs;  // one per site.upstreams entry
  std::vector<socklen_t> upstream_lens;
  std::string block_page;  // contents of site.block.page, empty for the built-in page
  http::RequestLimits limits;
};

// What a reload replaces: the sites and, per listener, the sites served
// there and its TLS context. Immutable once built and shared (shared_ptr)
// by the workers and by every connection accepted while it was current, so
// a connection finishes on the config it started with.
struct Snapshot {
  struct PerListener {
    std::vector<const SiteRuntime*> sites;  // every site listening here, config order
    // Shared by the workers (SSL_new on a shared SSL_CTX is thread-safe).
    std::unique_ptr<TlsContext> tls;
  };
  std::vector<std::unique_ptr<SiteRuntime>> sites;
  std::vector<PerListener> listeners;  // indexed like Engine::listeners_
};

// A listening address and its sockets; kept across reloads.
struct ListenerRuntime {
  std::string address;  // "ip:port"
  std::size_t index = 0;  // into Snapshot::listeners
  bool is_tls = false;
  config::Endpoint endpoint;
  // One SO_REUSEPORT socket per worker. Slot i is touched only by worker i
  // once threads run (it closes it on stop and writes -1); whatever is left
  // open is closed here.
  std::vector<int> fds;
  ~ListenerRuntime() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
};

namespace {

// A client's pending output above which we stop reading its upstream
// (back-pressure) and stop parsing its next pipelined request.
constexpr std::size_t kClientOutputBound = 256 * 1024;
constexpr std::size_t kReadChunk = 64 * 1024;
// Client bytes buffered while its request is with the upstream (the next
// pipelined request) before the engine stops reading that client.
constexpr std::size_t kClientInputBoundWhileBusy = 64 * 1024;
// Request bytes queued for an upstream connection (a streamed body) above
// which the engine stops moving the client's body to it: together with
// kClientInputBoundWhileBusy this is the most a slow upstream makes us
// hold of one client's body.
constexpr std::size_t kUpstreamOutputBound = 256 * 1024;
constexpr std::size_t kTlsRecordMax = 16 * 1024;  // plaintext of one TLS record
// Idle keep-alive upstream connections kept per upstream per worker. It must
// cover the worker's concurrent requests: with 16, 32 busy clients made
// mamorid open ~5000 upstream connections per second (bench/proxy) and run
// at 0.7x nginx; idle ones older than kUpstreamIdleMax are closed when the
// pool is next used.
constexpr std::size_t kIdlePerUpstream = 256;
// An idle upstream connection older than this is closed rather than used:
// below the 5 s keep-alive timeout of Node.js and similar servers, so we
// rarely write into a connection the upstream is closing at that moment.
constexpr auto kUpstreamIdleMax = std::chrono::seconds(4);
// A request that is not idempotent cannot be retried (the upstream may have
// acted on it), so it only reuses a connection this recently active.
constexpr auto kUnsafeReuseMax = std::chrono::seconds(1);

// RFC 9110 §9.2.2: a client (or proxy) may repeat these automatically.
bool isIdempotent(http::Method m) {
  switch (m) {
    case http::Method::Get:
    case http::Method::Head:
    case http::Method::Options:
    case http::Method::Trace:
    case http::Method::Put:
    case http::Method::Delete: return true;
    default: return false;
  }
}
constexpr auto kLingerTime = std::chrono::seconds(2);

const char* reasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 303: return "See Other";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 423: return "Locked";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return status < 500 ? "Client Error" : "Server Error";
  }
}

// True when `h` may go into a local answer: its name is an RFC 9110 token,
// its value has no CR, LF or NUL (no response splitting), and it is not a
// field the engine owns for framing.
bool isSendableHeader(const http::Header& h) {
  if (h.name.empty()) return false;
  for (char c : h.name) {
    const auto u = static_cast<unsigned char>(c);
    const bool tchar = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!tchar || u >= 0x7f) return false;
  }
  for (char c : h.value)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return !http::equalsIgnoreCase(h.name, "content-length") &&
         !http::equalsIgnoreCase(h.name, "transfer-encoding") &&
         !http::equalsIgnoreCase(h.name, "connection");
}

// A complete local answer. `body` empty: a short text naming the status and
// the request id, which is what an operator asks a user for.
// `retry_after` > 0 adds Retry-After in seconds (RFC 9110 §10.2.3).
// `extra` fields come last; a Content-Type or Cache-Control among them
// replaces the default one. Fields isSendableHeader refuses are left out
// and counted in `*dropped`.
std::string localResponse(int status, std::string_view request_id, std::string_view body,
                          bool close, bool head,
                          std::chrono::seconds retry_after = std::chrono::seconds(0),
                          const std::vector<http::Header>& extra = {},
                          std::uint64_t* dropped = nullptr) {
  std::string text;
  bool html = !body.empty();
  if (body.empty()) {
    text = std::to_string(status) + " " + reasonPhrase(status) + "\nrequest id: " +
           std::string(request_id) + "\n";
    body = text;
  }
  bool own_type = false, own_cache = false;
  for (const auto& h : extra) {
    if (!isSendableHeader(h)) continue;
    own_type = own_type || http::equalsIgnoreCase(h.name, "content-type");
    own_cache = own_cache || http::equalsIgnoreCase(h.name, "cache-control");
  }
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reasonPhrase(status) + "\r\n";
  if (!own_type)
    out += html ? "Content-Type: text/html; charset=utf-8\r\n" : "Content-Type: text/plain\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "X-Request-Id: " + std::string(request_id) + "\r\n";
  if (!own_cache) out += "Cache-Control: no-store\r\n";
  if (retry_after.count() > 0) out += "Retry-After: " + std::to_string(retry_after.count()) + "\r\n";
  if (close) out += "Connection: close\r\n";
  for (const auto& h : extra) {
    if (!isSendableHeader(h)) {
      if (dropped) ++*dropped;
      continue;
    }
    out += h.name + ": " + h.value + "\r\n";
  }
  out += "\r\n";
  if (!head) out += body;
  return out;
}

config::IpAddress ipOf(const sockaddr_storage& ss, std::uint16_t* port) {
  config::IpAddress ip;
  if (ss.ss_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    ip.family = config::AddressFamily::Ipv6;
    std::memcpy(ip.bytes.data(), &s6->sin6_addr, 16);
    *port = ntohs(s6->sin6_port);
  } else {
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
    std::memcpy(ip.bytes.data(), &s4->sin_addr, 4);
    *port = ntohs(s4->sin_port);
  }
  return ip;
}

common::Result<int> bindListener(const config::Endpoint& ep) {
  sockaddr_storage ss{};
  socklen_t len;
  int family;
  if (ep.ip->family == config::AddressFamily::Ipv6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    std::memcpy(&s6->sin6_addr, ep.ip->bytes.data(), 16);
    s6->sin6_port = htons(ep.port);
    len = sizeof(sockaddr_in6);
    family = AF_INET6;
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    std::memcpy(&s4->sin_addr, ep.ip->bytes.data(), 4);
    s4->sin_port = htons(ep.port);
    len = sizeof(sockaddr_in);
    family = AF_INET;
  }
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return common::errnoError("socket for " + ep.toString(), errno);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 1024) != 0) {
    int err = errno;
    ::close(fd);
    return common::errnoError("listen on " + ep.toString(), err);
  }
  return fd;
}

}  // namespace

// ---------------------------------------------------------------------------
// Worker: one thread, one epoll loop. Level-triggered epoll: every handler
// does one bounded read or write per event and recomputes its interest set
// afterwards (updateClient/updateUpstream), which keeps fairness between
// connections and makes a forgotten EAGAIN loop impossible. The cost is an
// epoll_ctl when interest changes, which only happens at request boundaries
// and on back-pressure.

struct Handler {
  enum class Kind { Listen, Client, Upstream, Wake } kind;
  explicit Handler(Kind k) : kind(k) {}
};

struct ListenHandler : Handler {
  ListenHandler() : Handler(Kind::Listen) {}
  int fd = -1;
  int* slot = nullptr;  // this worker's entry in listener->fds
  const ListenerRuntime* listener = nullptr;
};

struct ClientConn;
struct UpstreamConn;

// A worker's own state for one snapshot: upstream health and idle
// keep-alive pools per site. Held by the worker while current and by each
// connection accepted under it. When a reload makes it old its idle pools
// are closed, and upstream connections finishing under it are not pooled.
struct WorkerGen {
  std::shared_ptr<const Snapshot> snap;
  std::unordered_map<const SiteRuntime*, UpstreamSet> health;
  std::unordered_map<const SiteRuntime*, std::vector<std::vector<UpstreamConn*>>> idle;
};

struct UpstreamConn : Handler {
  UpstreamConn() : Handler(Kind::Upstream) {}
  int fd = -1;
  WorkerGen* gen = nullptr;  // kept alive by the client, or current while idle
  const SiteRuntime* site = nullptr;
  std::size_t index = 0;  // into site->upstream_addrs
  ClientConn* client = nullptr;  // null while idle in the pool
  std::string out;
  std::size_t out_off = 0;
  http::ResponseParser parser{http::Method::Get};
  bool connecting = false;
  bool reused = false;    // taken from the idle pool
  std::chrono::steady_clock::time_point idle_since;  // when it went into the pool
  bool got_bytes = false;  // any response byte for the current request
  bool paused = false;     // back-pressure: the client is not keeping up
  bool closed = false;
  std::uint32_t events = 0;
};

// What the connection's one deadline currently means. Delay: a verdict's
// delay before forwarding, or a response hook's delay before the held
// response is released (ClientConn::watch says which).
enum class Phase { Idle, Header, Body, Connect, UpstreamRead, Delay, Linger };

// State of a request whose Verdict carried a watch token. Its response is
// held (not sent to the client) until the head and kWatchedBodyBytes of
// decoded body, or the end of the response, are in; then the response hook
// runs and may hold it a while longer. Held bytes are bounded by the head
// limit, the body prefix and one read chunk, so holding needs no extra
// back-pressure rule.
struct WatchState {
  std::shared_ptr<void> token;
  bool forward_pending = false;  // the verdict's delay runs; the request is not sent yet
  bool holding = false;          // response bytes go to `held`, not to the client
  bool hook_done = false;
  bool delaying = false;         // the hook's delay runs; the upstream is not read
  bool response_complete = false;  // the upstream finished while the response was held
  bool in_body = false;          // the head of the final response has been parsed
  std::string held;              // response bytes not yet released to the client
  std::string body_prefix;       // decoded, at most kWatchedBodyBytes
  std::optional<http::ChunkedDecoder> dechunk;
};

struct ClientConn : Handler {
  ClientConn() : Handler(Kind::Client) {}
  std::uint64_t id = 0;
  int fd = -1;
  std::shared_ptr<WorkerGen> gen;  // the config this connection lives under
  const Snapshot::PerListener* routes = nullptr;  // gen's sites on this listener
  const SiteRuntime* site = nullptr;  // site of the current request
  config::IpAddress peer;
  std::string peer_key;  // peer address bytes, for the per-source cap
  std::uint16_t peer_port = 0;
  std::string in;
  std::string out;
  std::size_t out_off = 0;
  std::optional<http::RequestParser> parser;
  // TLS listeners only. The want flags say which socket readiness an
  // interrupted TLS operation waits for, so updateClient() asks for it.
  std::unique_ptr<TlsConn> tls;
  mutable std::shared_ptr<void> hook_memo;  // RequestContext::connection_memo
  bool tls_handshake_wants_write = false;
  bool tls_read_wants_write = false;
  bool tls_write_wants_read = false;
  Phase phase = Phase::Header;
  std::size_t request_bytes = 0;  // received since the current request began
  bool busy = false;              // a request is with the upstream
  bool close_after = false;       // close once the current output is flushed
  bool response_started = false;  // a byte of the upstream response was forwarded
  bool sent_continue = false;
  bool lingering = false;
  bool peer_eof = false;  // the client shut down its side: answer what we have, then close
  bool closed = false;
  http::Request request;
  std::string request_id;
  std::string upstream_bytes;  // the serialized request, kept for a retry
  UpstreamConn* up = nullptr;
  std::size_t attempts = 0;  // upstream connect attempts for this request
  bool retried_stale = false;
  std::optional<Clock::time_point> deadline;
  std::optional<Clock::time_point> armed;  // deadline of the live heap entry
  std::uint32_t events = 0;
  std::optional<WatchState> watch;  // the current request was watched or delayed
  // body_over_limit: inspect_prefix. The request went upstream with its
  // head and body prefix (the parser said Prefix); the rest of the body is
  // taken from `in` through the parser (feedBody) as the upstream accepts
  // it, re-framed as chunks when the client sent chunks. Such a request is
  // never retried once connected, nor sent over a pooled connection.
  bool streaming = false;     // the current request's body streams from the client
  bool stream_done = false;   // its end was seen and queued for the upstream
  Clock::time_point body_deadline;  // body_timeout, counted from the end of the head
  // For the per-site request counters and the duration histogram.
  enum class VerdictClass : std::uint8_t { Pass, Block, DetectOnly } verdict_class = VerdictClass::Pass;
  Clock::time_point request_done;  // when the request was complete (verdict time)
  bool counted = true;             // the current request was counted (none yet)

  std::size_t pending() const { return out.size() - out_off; }
};

class Worker {
 public:
  Worker(std::size_t index, const EngineOptions& options,
         const std::vector<std::unique_ptr<ListenerRuntime>>& listeners,
         std::shared_ptr<const Snapshot> snapshot)
      : options_(options) {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wakefd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    addFd(wakefd_, EPOLLIN, &wake_);
    for (const auto& l : listeners) {
      auto h = std::make_unique<ListenHandler>();
      h->fd = l->fds[index];
      h->slot = &l->fds[index];
      h->listener = l.get();
      addFd(h->fd, EPOLLIN, h.get());
      listen_.push_back(std::move(h));
    }
    install(std::move(snapshot));
    std::uint64_t seed = 0;
    if (::getrandom(&seed, sizeof seed, 0) != sizeof seed)
      seed = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count()) ^ (index << 56);
    ids_.emplace(seed);
  }

  ~Worker() {
    for (auto& [id, c] : clients_) ::close(c->fd);
    for (auto& [p, u] : upstreams_) ::close(u->fd);
    ::close(wakefd_);  // listening sockets belong to ListenerRuntime
    ::close(epfd_);
  }

  // Any thread. The worker begins its graceful stop at its next wake-up.
  void requestStop() {
    stop_requested_.store(true);
    wake();
  }

  // Any thread. The worker switches to `snapshot` for connections it
  // accepts from its next wake-up on; open connections keep theirs.
  void offer(std::shared_ptr<const Snapshot> snapshot) {
    {
      std::lock_guard lock(offer_mu_);
      offered_ = std::move(snapshot);
    }
    wake();
  }

  EngineStats stats() const {
    EngineStats s;
#define MAMORI_NET_LOAD(name) s.name = counters_.name.load(std::memory_order_relaxed);
    MAMORI_NET_COUNTERS(MAMORI_NET_LOAD)
#undef MAMORI_NET_LOAD
    for (std::size_t i = 0; i < s.rejected_by_reason.size(); ++i)
      s.rejected_by_reason[i] = counters_.rejected_by_reason[i].load(std::memory_order_relaxed);
    s.active_connections = counters_.active.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < s.duration_buckets.size(); ++i)
      s.duration_buckets[i] = counters_.duration[i].load(std::memory_order_relaxed);
    s.duration_sum_seconds =
        static_cast<double>(counters_.duration_sum_ns.load(std::memory_order_relaxed)) / 1e9;
    static constexpr const char* kMethodNames[] = {"get", "head", "post", "put", "delete", "other"};
    static constexpr const char* kVerdictNames[] = {"pass", "block", "detect_only"};
    const std::size_t used = site_counts_used_.load(std::memory_order_acquire);
    for (std::size_t slot = 0; slot < used; ++slot) {
      const SiteCounts& sc = site_counts_[slot];
      for (std::size_t i = 0; i < sc.n.size(); ++i) {
        const std::uint64_t n = sc.n[i].load(std::memory_order_relaxed);
        if (n == 0) continue;
        const std::size_t verdict = i % kVerdictClasses;
        const std::size_t status = (i / kVerdictClasses) % kStatusClasses;
        const std::size_t method = i / (kVerdictClasses * kStatusClasses);
        s.requests_by_site.push_back({sc.tenant, sc.site, kMethodNames[method],
                                      std::to_string(status + 1) + "xx", kVerdictNames[verdict], n});
      }
    }
    return s;
  }

  void run() {
    // OpenSSL writes to the socket with write(2), not send(MSG_NOSIGNAL):
    // a client that resets mid-write would raise SIGPIPE and kill the
    // process. Blocked in this thread only, the signal stays pending and
    // the write fails with EPIPE instead.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    epoll_event events[128];
    while (true) {
      int timeout = timers_.waitMs(Clock::now(), 1000);
      int n = ::epoll_wait(epfd_, events, 128, timeout);
      if (n < 0 && errno != EINTR) break;
      for (int i = 0; i < n; ++i) dispatch(static_cast<Handler*>(events[i].data.ptr), events[i].events);
      runTimers();
      graveyard_clients_.clear();
      graveyard_upstreams_.clear();
      if (stopping_) {
        closeIdleClients();
        if (clients_.empty() || Clock::now() >= stop_deadline_) break;
      }
    }
  }

 private:
  // Relaxed atomics: written by this worker only, read by stats().
  struct Counters {
#define MAMORI_NET_ATOMIC(name) std::atomic<std::uint64_t> name{0};
    MAMORI_NET_COUNTERS(MAMORI_NET_ATOMIC)
#undef MAMORI_NET_ATOMIC
    std::array<std::atomic<std::uint64_t>, http::kRejectReasonCount> rejected_by_reason{};
    std::atomic<std::uint64_t> active{0};
    std::array<std::atomic<std::uint64_t>, kRequestDurationBounds.size() + 1> duration{};
    std::atomic<std::uint64_t> duration_sum_ns{0};
  };

  // Requests per (site, method class, status class, verdict). Written by
  // this worker only; read by stats() from any thread. Entries live in a
  // fixed array so that a reader never sees one move: the worker fills an
  // entry's names, then publishes it by raising `used` (release).
  static constexpr std::size_t kMethodClasses = 6, kStatusClasses = 5, kVerdictClasses = 3;
  static constexpr std::size_t kSiteSlots = 256;  // sites beyond it share the last slot
  struct SiteCounts {
    std::string tenant, site;
    std::array<std::atomic<std::uint64_t>, kMethodClasses * kStatusClasses * kVerdictClasses> n{};
  };
  std::unique_ptr<SiteCounts[]> site_counts_ = std::make_unique<SiteCounts[]>(kSiteSlots);
  std::atomic<std::size_t> site_counts_used_{0};
  std::unordered_map<std::string, std::size_t> site_slot_;  // worker thread only

  static std::size_t methodClass(http::Method m) {
    switch (m) {
      case http::Method::Get: return 0;
      case http::Method::Head: return 1;
      case http::Method::Post: return 2;
      case http::Method::Put: return 3;
      case http::Method::Delete: return 4;
      default: return 5;
    }
  }

  std::size_t siteSlot(const SiteRuntime* site) {
    const std::string key = site->tenant + '\0' + site->site.name;
    if (auto it = site_slot_.find(key); it != site_slot_.end()) return it->second;
    std::size_t used = site_counts_used_.load(std::memory_order_relaxed);
    std::size_t slot = used;
    if (used < kSiteSlots) {
      site_counts_[used].tenant = site->tenant;
      site_counts_[used].site = used + 1 == kSiteSlots ? "_other" : site->site.name;
      site_counts_used_.store(used + 1, std::memory_order_release);
    } else {
      slot = kSiteSlots - 1;
    }
    site_slot_.emplace(key, slot);
    return slot;
  }

  // Counts the current request of `c` once, answered with `status`.
  void countRequest(ClientConn* c, int status, bool set_cookie = false) {
    if (c->counted || !c->site) return;
    c->counted = true;
    // The status observer (bot behaviour: share of 4xx per source) sees
    // every request answered on a site, local answers included.
    if (options_.response_status) options_.response_status(basicContext(c), status, set_cookie);
    const std::size_t status_class =
        static_cast<std::size_t>(std::clamp(status / 100, 1, 5) - 1);
    const std::size_t index =
        (methodClass(c->request.method) * kStatusClasses + status_class) * kVerdictClasses +
        static_cast<std::size_t>(c->verdict_class);
    site_counts_[siteSlot(c->site)].n[index].fetch_add(1, std::memory_order_relaxed);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - c->request_done);
    const double seconds = static_cast<double>(ns.count()) / 1e9;
    std::size_t bucket = 0;
    while (bucket < kRequestDurationBounds.size() && seconds > kRequestDurationBounds[bucket]) ++bucket;
    counters_.duration[bucket].fetch_add(1, std::memory_order_relaxed);
    counters_.duration_sum_ns.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(ns.count(), 0)),
                                        std::memory_order_relaxed);
  }
  static void bump(std::atomic<std::uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }
  static void bump(std::atomic<std::uint64_t>& c, std::uint64_t n) {
    c.fetch_add(n, std::memory_order_relaxed);
  }

  void addFd(int fd, std::uint32_t ev, Handler* h) {
    epoll_event e{};
    e.events = ev;
    e.data.ptr = h;
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &e);
  }
  void modFd(int fd, std::uint32_t ev, Handler* h) {
    epoll_event e{};
    e.events = ev;
    e.data.ptr = h;
    ::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &e);
  }

  void dispatch(Handler* h, std::uint32_t ev) {
    switch (h->kind) {
      case Handler::Kind::Wake: onWake(); break;
      case Handler::Kind::Listen: onAccept(static_cast<ListenHandler*>(h)); break;
      case Handler::Kind::Client: {
        auto* c = static_cast<ClientConn*>(h);
        if (!c->closed) onClient(c, ev);
        break;
      }
      case Handler::Kind::Upstream: {
        auto* u = static_cast<UpstreamConn*>(h);
        if (!u->closed) onUpstream(u, ev);
        break;
      }
    }
  }

  // --- stop ----------------------------------------------------------------

  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wakefd_, &one, sizeof one);
  }

  // Makes `snapshot` current. The old generation's idle upstream
  // connections are closed (they belong to sites that may be gone); its
  // busy ones finish and are then closed instead of pooled (finish()).
  void install(std::shared_ptr<const Snapshot> snapshot) {
    if (gen_) {
      std::vector<UpstreamConn*> idle;
      for (auto& [site, pools] : gen_->idle)
        for (auto& pool : pools) {
          idle.insert(idle.end(), pool.begin(), pool.end());
          pool.clear();
        }
      for (auto* u : idle) closeUpstream(u);
    }
    auto g = std::make_shared<WorkerGen>();
    for (const auto& s : snapshot->sites) {
      std::vector<std::uint32_t> weights;
      for (const auto& u : s->site.upstreams) weights.push_back(u.weight);
      g->health.emplace(s.get(), UpstreamSet(weights));
      g->idle[s.get()].resize(s->site.upstreams.size());
    }
    g->snap = std::move(snapshot);
    gen_ = std::move(g);
  }

  void onWake() {
    std::uint64_t v;
    [[maybe_unused]] auto n = ::read(wakefd_, &v, sizeof v);
    std::shared_ptr<const Snapshot> offered;
    {
      std::lock_guard lock(offer_mu_);
      offered = std::move(offered_);
      offered_.reset();
    }
    if (offered) install(std::move(offered));
    if (stopping_ || !stop_requested_.load()) return;
    stopping_ = true;
    stop_deadline_ = Clock::now() + options_.stop_grace;
    for (auto& l : listen_) {
      ::epoll_ctl(epfd_, EPOLL_CTL_DEL, l->fd, nullptr);
      ::close(l->fd);
      l->fd = -1;
      *l->slot = -1;
    }
  }

  // While stopping: a connection between requests is closed now; one with
  // a request in flight finishes it (close_after is forced in finish()).
  void closeIdleClients() {
    std::vector<ClientConn*> idle;
    for (auto& [id, c] : clients_)
      if (!c->busy && c->pending() == 0 && c->request_bytes == 0 && !c->lingering) idle.push_back(c.get());
    for (auto* c : idle) closeClient(c);
  }

  // --- accept --------------------------------------------------------------

  void onAccept(ListenHandler* l) {
    for (int i = 0; i < 64 && l->fd >= 0; ++i) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      int fd = ::accept4(l->fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or EMFILE and friends: try again on the next event
      bump(counters_.accepted);
      auto c = std::make_unique<ClientConn>();
      c->fd = fd;
      c->id = ++next_id_;
      c->gen = gen_;
      c->routes = &gen_->snap->listeners[l->listener->index];
      c->site = c->routes->sites.front();
      c->peer = ipOf(ss, &c->peer_port);
      c->peer_key.assign(reinterpret_cast<const char*>(c->peer.bytes.data()), c->peer.bits() / 8);
      // The cap is enforced per worker: with N workers a source may hold up
      // to N times max_conns_per_source. Exact would need a shared counter
      // on the accept path; the shield's SYN rate limit bounds the rest.
      auto& count = per_source_[c->peer_key];
      if (count >= c->site->site.limits.max_conns_per_source) {
        bump(counters_.over_source_cap);
        reportConnection(ConnectionEventKind::OverSourceCap, c.get(), c->routes->sites.size() == 1);
        auto resp = localResponse(503, ids_->next(), {}, true, false);
        [[maybe_unused]] auto n = ::send(fd, resp.data(), resp.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        ::close(fd);
        if (count == 0) per_source_.erase(c->peer_key);
        continue;
      }
      ++count;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (c->routes->tls) {
        c->tls = TlsConn::create(*c->routes->tls, fd);
        if (!c->tls) {  // out of memory: refuse this one connection
          bump(counters_.tls_handshake_failures);
          ::close(fd);
          if (--count == 0) per_source_.erase(c->peer_key);
          continue;
        }
      }
      c->parser.emplace(c->site->limits);
      c->events = EPOLLIN;
      addFd(fd, c->events, c.get());
      setDeadline(c.get(), Phase::Header, c->site->site.limits.header_timeout);
      counters_.active.fetch_add(1, std::memory_order_relaxed);  // closeClient() takes it back
      clients_.emplace(c->id, std::move(c));
    }
  }

  // --- timers --------------------------------------------------------------

  void setDeadline(ClientConn* c, Phase phase, Clock::duration after) {
    c->phase = phase;
    auto d = Clock::now() + after;
    c->deadline = d;
    if (!c->armed || d < *c->armed) {
      timers_.push(d, c->id);
      c->armed = d;
    }
  }

  void runTimers() {
    auto now = Clock::now();
    for (const auto& e : timers_.popExpired(now)) {
      auto it = clients_.find(e.key);
      if (it == clients_.end()) continue;
      ClientConn* c = it->second.get();
      if (!c->armed || *c->armed != e.deadline) continue;  // superseded entry
      c->armed.reset();
      if (!c->deadline) continue;
      if (*c->deadline > now) {  // pushed forward since: re-arm
        timers_.push(*c->deadline, c->id);
        c->armed = c->deadline;
        continue;
      }
      c->deadline.reset();
      onTimeout(c);
    }
  }

  void onTimeout(ClientConn* c) {
    switch (c->phase) {
      case Phase::Idle: closeClient(c); return;
      case Phase::Body:
        if (c->streaming && c->busy) {
          streamTimedOut(c);
          return;
        }
        [[fallthrough]];
      case Phase::Header:
        bump(counters_.client_timeouts);
        // Nothing received yet (a preconnect, a keep-alive lull, a TLS
        // handshake that stalled: header_timeout bounds the handshake too):
        // close quietly.
        if (c->request_bytes == 0 && c->phase == Phase::Header) {
          closeClient(c);
          return;
        }
        // Some bytes but not the whole head (slowloris), or a body that
        // trickles (slow POST): the DoS log wants to know who.
        if (c->phase == Phase::Header)
          reportConnection(ConnectionEventKind::HeaderTimeout, c, c->routes->sites.size() == 1);
        else
          reportConnection(ConnectionEventKind::BodyTimeout, c, true);
        answerAndClose(c, 408);
        return;
      case Phase::Connect: {
        UpstreamConn* u = c->up;
        if (u) {
          bump(counters_.upstream_connect_failures);
          u->gen->health.at(u->site).markDown(u->index, Clock::now());
          closeUpstream(u);
        }
        c->up = nullptr;
        ++c->attempts;
        retryOrFail(c, 502);
        return;
      }
      case Phase::UpstreamRead:
        if (c->up) closeUpstream(c->up);
        c->up = nullptr;
        if (c->response_started) {
          bump(counters_.aborted_responses);
          closeClient(c);
          return;
        }
        bump(counters_.gateway_timeout);
        c->busy = false;
        answerAndClose(c, 504);
        return;
      case Phase::Delay: endDelay(c); return;
      case Phase::Linger: closeClient(c); return;
    }
  }

  // A delay armed by the verdict (forward now) or by the response hook
  // (release the held response now) is over.
  void endDelay(ClientConn* c) {
    if (!c->watch) {  // cannot happen: every Delay deadline belongs to a watch
      closeClient(c);
      return;
    }
    WatchState& w = *c->watch;
    if (w.forward_pending) {
      w.forward_pending = false;
      startUpstream(c);
      return;
    }
    w.delaying = false;
    releaseHeld(c);
    if (w.response_complete) {
      finishClient(c);
      return;
    }
    if (c->up) {
      c->up->paused = c->pending() > kClientOutputBound;
      updateUpstream(c->up);
      setExchangeDeadline(c);
    }
    if (flushClient(c)) updateClient(c);
  }

  // --- client side ---------------------------------------------------------

  void onClient(ClientConn* c, std::uint32_t ev) {
    if (ev & (EPOLLERR | EPOLLHUP)) {
      abortClient(c);
      return;
    }
    bool readable = (ev & EPOLLIN) && (c->events & EPOLLIN);
    if (c->tls && !c->tls->handshakeDone()) {
      if (!advanceHandshake(c)) return;
      readable = true;  // the first request may already be waiting in the socket
    }
    if (c->tls_read_wants_write && (ev & EPOLLOUT)) readable = true;
    if ((ev & EPOLLOUT) || (c->tls_write_wants_read && (ev & EPOLLIN))) {
      if (!flushClient(c)) return;
    }
    if (readable && !c->closed && (c->events & EPOLLIN || c->tls_read_wants_write)) {
      char buf[kReadChunk];
      std::size_t n = 0;
      auto rd = clientRead(c, buf, sizeof buf, &n);
      if (rd == ReadResult::Broken) {
        abortClient(c);
        return;
      }
      if (rd == ReadResult::Eof) {
        // A half-close (shutdown(SHUT_WR) after the request, as `nc -N`
        // does) still deserves its answer: finish what is in flight.
        c->peer_eof = true;
        if (c->lingering || (!c->busy && c->pending() == 0)) {
          closeClient(c);
          return;
        }
        if (c->streaming) {
          pumpBody(c);  // what is buffered may still end the body; if not, it never will
          if (c->closed) return;
        }
        if (!flushClient(c)) return;
        updateClient(c);
        return;
      }
      if (rd == ReadResult::Data) {
        if (c->lingering) return;  // discarding until EOF
        if (c->phase == Phase::Idle)  // first byte of the next request
          setDeadline(c, Phase::Header, c->site->site.limits.header_timeout);
        c->request_bytes += n;
        c->in.append(buf, n);
        processInput(c);
        if (c->closed) return;
        if (c->streaming) {
          pumpBody(c);
          if (c->closed) return;
        }
        if (!flushClient(c)) return;
      }
    }
    updateClient(c);
  }

  // One step of the TLS handshake. Returns true once it is complete (the
  // caller goes on to read), false while it waits or after closing `c`.
  bool advanceHandshake(ClientConn* c) {
    auto io = c->tls->handshake();
    c->tls_handshake_wants_write = io == TlsConn::Io::WantWrite;
    if (io == TlsConn::Io::WantRead || io == TlsConn::Io::WantWrite) {
      updateClient(c);
      return false;
    }
    if (io != TlsConn::Io::Ok) {
      // Wrong version, no common suite, ALPN without http/1.1, or bytes
      // that are not TLS at all: OpenSSL has queued its alert, if any.
      bump(counters_.tls_handshake_failures);
      closeClient(c);
      return false;
    }
    bump(counters_.tls_handshakes);
    if (c->tls->resumed()) bump(counters_.tls_resumed);
    // The handshake used the first header_timeout; the request gets its own.
    setDeadline(c, Phase::Header, c->site->site.limits.header_timeout);
    return true;
  }

  enum class ReadResult { Data, Again, Eof, Broken };

  // One read from the client, decrypted on TLS listeners (up to four
  // records, stopping while a whole record still fits so that no plaintext
  // is left inside OpenSSL where level-triggered epoll cannot see it).
  ReadResult clientRead(ClientConn* c, char* buf, std::size_t len, std::size_t* n) {
    *n = 0;
    if (!c->tls || c->lingering) {  // lingering: the bytes are discarded, TLS or not
      ssize_t r = ::recv(c->fd, buf, len, 0);
      if (r > 0) {
        *n = static_cast<std::size_t>(r);
        return ReadResult::Data;
      }
      if (r == 0) return ReadResult::Eof;
      return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? ReadResult::Again
                                                                         : ReadResult::Broken;
    }
    c->tls_read_wants_write = false;
    while (len - *n >= kTlsRecordMax) {
      std::size_t got = 0;
      auto io = c->tls->read(buf + *n, len - *n, &got);
      if (io == TlsConn::Io::Ok) {
        *n += got;
        continue;
      }
      if (*n > 0) break;  // report the data; the condition repeats on the next call
      switch (io) {
        case TlsConn::Io::WantWrite: c->tls_read_wants_write = true; return ReadResult::Again;
        case TlsConn::Io::WantRead: return ReadResult::Again;
        case TlsConn::Io::Eof: return ReadResult::Eof;
        default: return ReadResult::Broken;
      }
    }
    return *n > 0 ? ReadResult::Data : ReadResult::Again;
  }

  // One write to the client, encrypted on TLS listeners. Returns the bytes
  // taken (0: the socket is full, try on EPOLLOUT), or -1 when broken.
  ssize_t clientWrite(ClientConn* c, const char* data, std::size_t len) {
    if (!c->tls) {
      while (true) {
        ssize_t n = ::send(c->fd, data, len, MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
      }
    }
    std::size_t n = 0;
    auto io = c->tls->write(data, len, &n);
    c->tls_write_wants_read = io == TlsConn::Io::WantRead;
    if (io == TlsConn::Io::Ok) return static_cast<ssize_t>(n);
    return (io == TlsConn::Io::WantRead || io == TlsConn::Io::WantWrite) ? 0 : -1;
  }

  // Parses and handles buffered requests one at a time, in order.
  void processInput(ClientConn* c) {
    while (!c->busy && !c->close_after && !c->closed && !c->in.empty() &&
           c->pending() < kClientOutputBound) {
      std::size_t used = 0;
      auto st = c->parser->feed(c->in, &used);
      if (st == http::ParseStatus::NeedMore) {
        c->in.clear();
        if (c->parser->headersComplete() && c->phase == Phase::Header)
          setDeadline(c, Phase::Body, c->site->site.limits.body_timeout);
        const auto& req = c->parser->request();
        if (c->parser->headersComplete() && req.expect_continue && !c->sent_continue) {
          c->sent_continue = true;  // the client waits for this before sending the body
          c->out += "HTTP/1.1 100 Continue\r\n\r\n";
        }
        return;
      }
      if (st == http::ParseStatus::Reject) {
        auto reason = c->parser->rejectReason();
        bump(counters_.rejected);
        bump(counters_.rejected_by_reason[static_cast<std::size_t>(reason)]);
        c->request_id = ids_->next();
        c->in.clear();
        answerAndClose(c, http::rejectReasonStatus(reason));
        return;
      }
      c->in.erase(0, used);
      c->request = c->parser->takeRequest();
      c->sent_continue = false;
      if (st == http::ParseStatus::Prefix) {
        // The parser keeps its place in the body; it is reset when the
        // body ends (pumpBody). The body timeout started with the head.
        c->streaming = true;
        c->stream_done = false;
        c->body_deadline = c->phase == Phase::Body && c->deadline
                               ? *c->deadline
                               : Clock::now() + c->site->site.limits.body_timeout;
      } else {
        c->parser->reset();
      }
      handleRequest(c);
    }
  }

  const SiteRuntime* route(const ClientConn* c) const {
    const auto& sites = c->routes->sites;
    if (sites.size() == 1) return sites.front();
    std::string host = routingHost(c->request.host);
    const SiteRuntime* wildcard = nullptr;
    const SiteRuntime* any = nullptr;
    for (const auto* s : sites)
      for (const auto& pattern : s->site.hosts) {
        if (pattern == host) return s;
        if (pattern == "*") any = any ? any : s;
        else if (hostMatches(pattern, host)) wildcard = wildcard ? wildcard : s;
      }
    return wildcard ? wildcard : any;
  }

  // The request facts the hooks see, without the TLS ones.
  // Hands a connection-level event to EngineOptions::connection; the site
  // is named only when `site_known` (see net::ConnectionEvent).
  void reportConnection(ConnectionEventKind kind, const ClientConn* c, bool site_known) {
    if (!options_.connection) return;
    ConnectionEvent ev;
    ev.kind = kind;
    if (site_known && c->site) ev.site = c->site->site.name;
    ev.peer = c->peer;
    ev.peer_port = c->peer_port;
    options_.connection(ev);
  }

  static RequestContext basicContext(const ClientConn* c) {
    RequestContext ctx;
    ctx.request_id = c->request_id;
    ctx.site = c->site->site.name;
    ctx.peer = c->peer;
    ctx.peer_port = c->peer_port;
    ctx.detect_only = c->site->site.mode == config::SiteMode::Detect;
    ctx.connection_memo = &c->hook_memo;
    return ctx;
  }

  void handleRequest(ClientConn* c) {
    bump(counters_.requests);
    c->counted = false;
    c->verdict_class = ClientConn::VerdictClass::Pass;
    c->request_done = Clock::now();
    c->request_id = ids_->next();
    c->request_bytes = 0;
    c->watch.reset();
    std::shared_ptr<void> watch_token;
    std::chrono::milliseconds forward_delay{0};
    const bool head = c->request.method == http::Method::Head;
    const SiteRuntime* site = route(c);
    if (!site) {
      c->counted = true;  // no site to count it under (421 is in the verdicts total)
      answerLocal(c, 421, {}, !c->request.keep_alive, head);
      return;
    }
    c->site = site;
    if (options_.verdict) {
      RequestContext ctx = basicContext(c);
      if (c->tls) {
        const TlsConn& t = *c->tls;
        ctx.tls = true;
        ctx.tls_version = t.version();
        ctx.tls_cipher = t.cipher();
        ctx.tls_sni = t.sni();
        ctx.tls_alpn = t.alpn();
        ctx.tls_resumed = t.resumed();
        ctx.client_hello = t.clientHello();
        ctx.client_hello_truncated = t.clientHelloTruncated();
      }
      Verdict v = options_.verdict(c->request, ctx);
      if (v.action == Verdict::Action::Block) {
        if (site->site.mode == config::SiteMode::Detect) {
          bump(counters_.detect_only);
          c->verdict_class = ClientConn::VerdictClass::DetectOnly;
        } else {
          bump(counters_.blocked);
          c->verdict_class = ClientConn::VerdictClass::Block;
          std::string page = v.page.empty() ? site->block_page : v.page;
          answerLocal(c, v.status, page, !c->request.keep_alive, head, v.retry_after, v.headers);
          return;
        }
      } else {
        forward_delay = std::max(v.delay, std::chrono::milliseconds(0));
        if (options_.response) watch_token = std::move(v.watch);
      }
    }
    if (c->streaming) bump(counters_.streamed_bodies);
    if (watch_token || forward_delay.count() > 0) {
      c->watch.emplace();
      if (watch_token) {
        c->watch->token = std::move(watch_token);
        c->watch->holding = true;
        // The hook reads the body prefix as text: ask for it uncompressed.
        // Upstreams that compress anyway are seen compressed (documented).
        auto& hs = c->request.headers;
        hs.erase(std::remove_if(hs.begin(), hs.end(),
                                [](const http::Header& h) {
                                  return http::equalsIgnoreCase(h.name, "accept-encoding");
                                }),
                 hs.end());
      }
    }
    ForwardContext fwd{c->peer, isTrustedPeer(site->site.trusted_proxies, c->peer),
                       c->tls ? "https" : "http"};
    c->upstream_bytes = serializeUpstreamRequest(c->request, fwd);
    c->busy = true;
    c->response_started = false;
    c->attempts = 0;
    c->retried_stale = false;
    c->close_after = !c->request.keep_alive;
    if (forward_delay.count() > 0) {
      // The client's input is not read while busy, so nothing else happens
      // on this connection until the timer fires (endDelay).
      bump(counters_.delayed);
      c->watch->forward_pending = true;
      setDeadline(c, Phase::Delay, forward_delay);
      return;
    }
    startUpstream(c);
  }

  // Queues a local answer; the connection stays open unless `close`.
  void answerLocal(ClientConn* c, int status, std::string_view body, bool close, bool head,
                   std::chrono::seconds retry_after = std::chrono::seconds(0),
                   const std::vector<http::Header>& headers = {}) {
    if (stopping_) close = true;
    if (c->streaming) {
      // The rest of the body was not read: the connection cannot carry
      // another request (the lingering close discards what still comes).
      if (!c->stream_done) close = true;
      c->streaming = false;
    }
    c->watch.reset();  // whatever was held is replaced by this answer
    countRequest(c, status);
    std::uint64_t dropped = 0;
    c->out += localResponse(status, c->request_id, body, close, head, retry_after, headers, &dropped);
    if (dropped) bump(counters_.bad_verdict_headers, dropped);
    c->busy = false;
    c->request_bytes = 0;
    if (close) {
      c->close_after = true;
    } else {
      setDeadline(c, c->in.empty() ? Phase::Idle : Phase::Header,
                  c->in.empty() ? c->site->site.limits.idle_timeout
                                : c->site->site.limits.header_timeout);
    }
  }

  void answerAndClose(ClientConn* c, int status) {
    if (c->request_id.empty()) c->request_id = ids_->next();
    if (status == 502) bump(counters_.bad_gateway);
    answerLocal(c, status, {}, true, c->request.method == http::Method::Head && status >= 500);
    if (flushClient(c)) updateClient(c);
  }

  // Writes what it can. Returns false when the connection was closed.
  bool flushClient(ClientConn* c) {
    while (c->pending() > 0) {
      ssize_t n = clientWrite(c, c->out.data() + c->out_off, c->pending());
      if (n < 0) {
        abortClient(c);
        return false;
      }
      if (n == 0) break;
      c->out_off += static_cast<std::size_t>(n);
      if (c->up && c->phase == Phase::UpstreamRead)  // progress: the exchange is alive
        setDeadline(c, Phase::UpstreamRead, c->site->site.limits.upstream_read_timeout);
    }
    if (c->out_off == c->out.size()) {
      c->out.clear();
      c->out_off = 0;
    } else if (c->out_off > (1 << 20)) {
      c->out.erase(0, c->out_off);
      c->out_off = 0;
    }
    if (c->up && c->up->paused && c->pending() < kClientOutputBound / 2 &&
        !(c->watch && c->watch->delaying)) {
      c->up->paused = false;
      updateUpstream(c->up);
    }
    if (!c->busy && !c->close_after && c->pending() < kClientOutputBound && !c->in.empty()) {
      processInput(c);  // a pipelined request waiting for room
      if (c->closed) return false;
      if (c->pending() > 0 && !c->busy) return flushClient(c);
    }
    if (c->peer_eof && !c->busy) c->close_after = true;  // nothing more can arrive
    if (c->pending() == 0 && c->close_after && !c->busy && !c->lingering) {
      if (c->peer_eof) {
        closeClient(c);
        return false;
      }
      // Half-close and drain before closing: closing with unread input makes
      // the kernel send RST, which can destroy the answer before the client
      // reads it (a rejected request often has body bytes still arriving).
      if (c->tls) c->tls->shutdown();  // close_notify first: a TLS client sees a clean end
      ::shutdown(c->fd, SHUT_WR);
      c->lingering = true;
      c->in.clear();
      setDeadline(c, Phase::Linger, std::chrono::duration_cast<std::chrono::seconds>(kLingerTime));
    }
    return true;
  }

  void updateClient(ClientConn* c) {
    if (c->closed) return;
    std::uint32_t ev = 0;
    if (c->tls && !c->tls->handshakeDone()) {
      ev = c->tls_handshake_wants_write ? EPOLLOUT : EPOLLIN;
    } else {
      // EPOLLIN stays armed while a request is with the upstream, as long
      // as little is buffered: turning it off and on again cost two
      // epoll_ctl per request (bench/proxy). Bytes read meanwhile (a
      // pipelined request, or EOF) wait in `in` until the response is done.
      // A streamed body is read whatever the response does (the upstream
      // may wait for the whole body before answering), bounded by what
      // sits in `in` because the upstream has not taken it yet.
      const bool body_wanted =
          c->streaming && !c->stream_done && c->in.size() < kClientInputBoundWhileBusy;
      if (!c->peer_eof &&
          (c->lingering || body_wanted ||
           (!c->close_after && c->pending() < kClientOutputBound &&
            (!c->busy || c->in.size() < kClientInputBoundWhileBusy))))
        ev |= EPOLLIN;
      if (c->pending() > 0 || c->tls_read_wants_write) ev |= EPOLLOUT;
      if (c->tls_write_wants_read && c->pending() > 0) ev |= EPOLLIN;
    }
    if (ev != c->events) {
      c->events = ev;
      modFd(c->fd, ev, c);
    }
  }

  // The client went away or broke: drop its upstream exchange too (the
  // upstream connection is mid-response and cannot be reused).
  void abortClient(ClientConn* c) {
    if (c->up) {
      closeUpstream(c->up);
      c->up = nullptr;
    }
    closeClient(c);
  }

  void closeClient(ClientConn* c) {
    if (c->closed) return;
    if (c->up) {
      closeUpstream(c->up);
      c->up = nullptr;
    }
    c->closed = true;
    counters_.active.fetch_sub(1, std::memory_order_relaxed);
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, c->fd, nullptr);
    if (c->tls) c->tls->shutdown();  // close_notify, once, if the handshake finished
    ::close(c->fd);
    if (auto it = per_source_.find(c->peer_key); it != per_source_.end() && --it->second == 0)
      per_source_.erase(it);
    auto it = clients_.find(c->id);
    if (it != clients_.end()) {
      graveyard_clients_.push_back(std::move(it->second));
      clients_.erase(it);
    }
  }

  // --- upstream side -------------------------------------------------------

  // Sends the current request to an upstream: a pooled connection when a
  // usable one exists (and `fresh` is false), else a new one.
  void startUpstream(ClientConn* c, bool fresh = false) {
    // A streamed body cannot be replayed, so it never risks a pooled
    // connection the upstream may be closing (the stale-connection retry).
    if (c->streaming) fresh = true;
    const SiteRuntime* site = c->site;
    auto& health = c->gen->health.at(site);
    auto now = Clock::now();
    auto index = health.pick(now);
    if (!index) {
      failBeforeResponse(c, 502);
      return;
    }
    auto& pool = c->gen->idle.at(site)[*index];
    while (!pool.empty() && now - pool.front()->idle_since > kUpstreamIdleMax) {
      UpstreamConn* old = pool.front();  // oldest first: the pool is used LIFO
      pool.erase(pool.begin());
      closeUpstream(old);
    }
    const bool safe = isIdempotent(c->request.method);
    if (!fresh && !pool.empty() && (safe || now - pool.back()->idle_since <= kUnsafeReuseMax)) {
      UpstreamConn* u = pool.back();
      pool.pop_back();
      u->reused = true;
      attach(c, u);
      setDeadline(c, Phase::UpstreamRead, site->site.limits.upstream_read_timeout);
      flushUpstream(u);
      return;
    }
    const auto& addr = site->upstream_addrs[*index];
    int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      failBeforeResponse(c, 502);
      return;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), site->upstream_lens[*index]);
    if (rc != 0 && errno != EINPROGRESS) {
      ::close(fd);
      bump(counters_.upstream_connect_failures);
      health.markDown(*index, now);
      ++c->attempts;
      retryOrFail(c, 502);
      return;
    }
    auto u = std::make_unique<UpstreamConn>();
    u->fd = fd;
    u->gen = c->gen.get();
    u->site = site;
    u->index = *index;
    u->connecting = true;
    u->events = EPOLLOUT;
    addFd(fd, u->events, u.get());
    UpstreamConn* raw = u.get();
    upstreams_.emplace(raw, std::move(u));
    attach(c, raw);
    setDeadline(c, Phase::Connect, site->site.limits.upstream_connect_timeout);
  }

  void attach(ClientConn* c, UpstreamConn* u) {
    c->up = u;
    u->client = c;
    u->out = c->upstream_bytes;
    u->out_off = 0;
    u->got_bytes = false;
    u->paused = false;
    u->parser.reset(c->request.method);
  }

  // Another upstream if one is left untried, else `status`.
  void retryOrFail(ClientConn* c, int status) {
    c->up = nullptr;
    if (c->attempts < c->site->site.upstreams.size()) {
      startUpstream(c);
      return;
    }
    failBeforeResponse(c, status);
  }

  void failBeforeResponse(ClientConn* c, int status) {
    c->up = nullptr;
    c->busy = false;
    if (status == 502) bump(counters_.bad_gateway);
    if (status == 504) bump(counters_.gateway_timeout);
    answerLocal(c, status, {}, c->close_after, c->request.method == http::Method::Head);
    if (flushClient(c)) updateClient(c);
  }

  // --- streamed request bodies (body_over_limit: inspect_prefix) ----------

  // The deadline of a request that is with its upstream: the body timeout
  // while its body still streams from the client (a slow sender is cut as
  // if nothing were streamed), else upstream_read_timeout from now.
  void setExchangeDeadline(ClientConn* c) {
    if (c->streaming && !c->stream_done) {
      setDeadline(c, Phase::Body, c->body_deadline - Clock::now());
      return;
    }
    setDeadline(c, Phase::UpstreamRead, c->site->site.limits.upstream_read_timeout);
  }

  // Moves the client's body bytes in `in` through the parser to the
  // upstream, until `in` is empty, the body ends, or kUpstreamOutputBound
  // bytes wait for the upstream (back-pressure: the rest stays in `in`,
  // and updateClient() stops reading once that is full). Only once the
  // upstream is connected, so that a connect failure can still try another
  // upstream with the head and prefix alone. May close `c` and its upstream.
  void pumpBody(ClientConn* c) {
    UpstreamConn* u = c->up;
    if (!c->streaming || c->stream_done || !u || u->connecting) return;
    // Fill, send, and fill again while the socket takes everything: with
    // the output drained there is no EPOLLOUT to come back on.
    while (!fillUpstream(c, u)) {
      if (c->closed || u->closed) return;
      if (!flushUpstream(u)) return;
      if (c->stream_done || c->in.empty() || u->out.size() - u->out_off >= kUpstreamOutputBound)
        break;
    }
    if (c->closed || u->closed) return;
    if (!c->stream_done && c->in.empty() && c->peer_eof) {
      clientEndedMidBody(c);
      return;
    }
    updateClient(c);
  }

  // pumpBody's inner step: moves what fits from `in` into u->out. Returns
  // true when it closed `c` (a framing error in the body), else false.
  bool fillUpstream(ClientConn* c, UpstreamConn* u) {
    while (!c->stream_done && !c->in.empty() &&
           u->out.size() - u->out_off < kUpstreamOutputBound) {
      if (u->out_off > 0) {  // keep only unsent bytes: the buffer is refilled while it drains
        u->out.erase(0, u->out_off);
        u->out_off = 0;
      }
      std::size_t used = 0;
      body_scratch_.clear();
      auto st = c->parser->feedBody(std::string_view(c->in).substr(0, kReadChunk), &used,
                                    &body_scratch_);
      c->in.erase(0, used);
      if (st == http::ParseStatus::Reject) {
        streamRejected(c, c->parser->rejectReason());
        return true;
      }
      if (c->request.chunked)
        appendBodyChunk(body_scratch_, &u->out);
      else
        u->out += body_scratch_;
      if (st == http::ParseStatus::Done) {
        if (c->request.chunked) u->out += kLastChunk;
        c->stream_done = true;
        c->parser->reset();  // what is left in `in` is the next request
        if (c->phase == Phase::Body) setExchangeDeadline(c);
      }
    }
    return false;
  }

  // The streamed part of the body broke its framing (a chunk-size that
  // lies, a bare LF, a forbidden trailer): the upstream got part of a
  // request and never its end, so its connection is dropped; the client
  // gets the parser's answer, or a cut connection if its response started.
  void streamRejected(ClientConn* c, http::RejectReason reason) {
    bump(counters_.rejected);
    bump(counters_.rejected_by_reason[static_cast<std::size_t>(reason)]);
    abandonStream(c, http::rejectReasonStatus(reason));
  }

  // The client closed its side before the end of the body it announced.
  void clientEndedMidBody(ClientConn* c) { abandonStream(c, 400); }

  // The body timeout fired while the body streamed. When bytes wait for
  // the upstream, the upstream is the slow side (504); else the client (408).
  void streamTimedOut(ClientConn* c) {
    const bool upstream_slow = c->up && c->up->out.size() > c->up->out_off;
    if (upstream_slow)
      bump(counters_.gateway_timeout);
    else
      bump(counters_.client_timeouts);
    abandonStream(c, upstream_slow ? 504 : 408);
  }

  // Drops the upstream exchange of a streamed request that cannot finish
  // and answers `status` (then closes), or closes at once when the response
  // has already started.
  void abandonStream(ClientConn* c, int status) {
    if (c->up) closeUpstream(c->up);
    c->up = nullptr;
    c->in.clear();
    if (c->response_started) {
      bump(counters_.aborted_responses);
      closeClient(c);
      return;
    }
    c->busy = false;
    answerAndClose(c, status);
  }

  void onUpstream(UpstreamConn* u, std::uint32_t ev) {
    if (!u->client) {  // idle in the pool: data or EOF means it is unusable now
      dropIdle(u);
      return;
    }
    ClientConn* c = u->client;
    if (u->connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        bump(counters_.upstream_connect_failures);
        u->gen->health.at(u->site).markDown(u->index, Clock::now());
        closeUpstream(u);
        ++c->attempts;
        retryOrFail(c, 502);
        return;
      }
      if (!(ev & EPOLLOUT)) return;
      u->connecting = false;
      u->gen->health.at(u->site).markUp(u->index);
      setExchangeDeadline(c);
      if (!flushUpstream(u)) return;
      if (c->streaming) pumpBody(c);
      return;
    }
    if (ev & EPOLLOUT) {
      if (!flushUpstream(u)) return;
      if (c->streaming && !c->stream_done) {
        pumpBody(c);  // the upstream took bytes: room for more of the body
        if (u->closed || c->closed) return;
      }
    }
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) readUpstream(u);
  }

  bool flushUpstream(UpstreamConn* u) {
    while (u->out_off < u->out.size()) {
      ssize_t n = ::send(u->fd, u->out.data() + u->out_off, u->out.size() - u->out_off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        upstreamBroken(u);
        return false;
      }
      u->out_off += static_cast<std::size_t>(n);
    }
    if (u->out_off == u->out.size()) {
      u->out.clear();
      u->out_off = 0;
    }
    updateUpstream(u);
    return true;
  }

  void updateUpstream(UpstreamConn* u) {
    if (u->closed) return;
    std::uint32_t ev = 0;
    if (u->connecting || !u->out.empty()) ev |= EPOLLOUT;
    if (!u->connecting && !u->paused) ev |= EPOLLIN;
    if (ev != u->events) {
      u->events = ev;
      modFd(u->fd, ev, u);
    }
  }

  void readUpstream(UpstreamConn* u) {
    ClientConn* c = u->client;
    char buf[kReadChunk];
    ssize_t n = ::recv(u->fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      upstreamBroken(u);
      return;
    }
    if (n == 0) {
      if (u->parser.finishAtEof() == http::ResponseParseStatus::Done && u->got_bytes) {
        finish(c, u, false);
      } else {
        upstreamBroken(u);
      }
      return;
    }
    u->got_bytes = true;
    setExchangeDeadline(c);
    std::string_view data(buf, static_cast<std::size_t>(n));
    while (!data.empty()) {
      std::size_t used = 0;
      auto st = u->parser.feed(data, &used);
      if (st == http::ResponseParseStatus::Reject) {
        upstreamBroken(u);
        return;
      }
      if (c->watch && c->watch->holding) {
        holdPart(c, u, data.substr(0, used), st);
      } else {
        c->out.append(data.substr(0, used));
        if (used > 0) c->response_started = true;
      }
      data.remove_prefix(used);
      if (st == http::ResponseParseStatus::Done) {
        if (u->parser.isInterim()) {  // 1xx relayed; the final response follows
          u->parser.reset(c->request.method);
          continue;
        }
        // Bytes after the end of the response were never asked for: the
        // connection is out of step and must not be reused.
        finish(c, u, u->parser.connectionReusable() && data.empty());
        return;
      }
      if (st == http::ResponseParseStatus::NeedMore) break;
    }
    if (c->watch && c->watch->holding && !c->watch->hook_done && c->watch->in_body &&
        c->watch->body_prefix.size() >= kWatchedBodyBytes) {
      // The prefix is full before the end of the response: decide now and
      // stream the rest.
      auto delay = runResponseHook(c, u->parser.response(), false);
      if (delay.count() > 0) {
        startHoldDelay(c, delay);
        return;
      }
      releaseHeld(c);
    }
    if (c->pending() > kClientOutputBound) {
      u->paused = true;  // resumed by flushClient once the client drains
      updateUpstream(u);
    }
    if (flushClient(c)) updateClient(c);
  }

  // --- watched responses ---------------------------------------------------

  // Keeps `part` (bytes of the response to a watched request) in the held
  // buffer and copies the decoded body into the prefix the hook sees.
  void holdPart(ClientConn* c, UpstreamConn* u, std::string_view part,
                http::ResponseParseStatus st) {
    WatchState& w = *c->watch;
    w.held.append(part);
    if (!w.in_body) {
      // Head bytes (or a whole 1xx / body-less response): nothing to decode.
      if (st == http::ResponseParseStatus::HeadersDone) {
        w.in_body = true;
        w.body_prefix.clear();
        if (u->parser.response().framing == http::BodyFraming::Chunked) {
          http::ChunkedLimits lim;
          lim.max_chunk_line_bytes = 4 * 1024;  // as the response parser's limits
          lim.max_trailer_bytes = 16 * 1024;
          lim.max_data_bytes = kWatchedBodyBytes;
          lim.truncate_over_limit = true;
          lim.reject_framing_trailers = false;  // the response parser judges framing
          w.dechunk.emplace(lim);
        }
      }
      return;
    }
    if (w.body_prefix.size() >= kWatchedBodyBytes) return;
    if (w.dechunk) {
      std::size_t used = 0;
      // A Reject here is the response parser's to report; the prefix keeps
      // what was decoded before it.
      w.dechunk->feed(part, &used, &w.body_prefix, nullptr);
    } else {
      w.body_prefix.append(part.substr(0, kWatchedBodyBytes - w.body_prefix.size()));
    }
  }

  // Calls the response hook on the held response; returns the delay it asks for.
  std::chrono::milliseconds runResponseHook(ClientConn* c, const http::Response& resp,
                                            bool complete) {
    WatchState& w = *c->watch;
    w.hook_done = true;
    bump(counters_.watched);
    ResponseView view;
    view.status = resp.status;
    view.headers = &resp.headers;
    view.body_prefix = w.body_prefix;
    view.body_complete = complete;
    auto action = options_.response(w.token, view, basicContext(c));
    w.body_prefix.clear();
    w.body_prefix.shrink_to_fit();
    w.dechunk.reset();
    return std::max(action.delay, std::chrono::milliseconds(0));
  }

  // Holds the response `delay` longer; the upstream is not read meanwhile.
  void startHoldDelay(ClientConn* c, std::chrono::milliseconds delay) {
    bump(counters_.delayed);
    c->watch->delaying = true;
    if (c->up) {
      c->up->paused = true;
      updateUpstream(c->up);
    }
    setDeadline(c, Phase::Delay, delay);
  }

  // Sends what was held to the client; later bytes stream as usual.
  void releaseHeld(ClientConn* c) {
    WatchState& w = *c->watch;
    w.holding = false;
    if (!w.held.empty()) {
      c->out += w.held;
      c->response_started = true;
      w.held.clear();
      w.held.shrink_to_fit();
    }
  }

  // The response to the current request has been relayed in full (or, for
  // a held one, received in full).
  void finish(ClientConn* c, UpstreamConn* u, bool reusable) {
    bump(counters_.proxied);
    if (c->streaming) {
      if (!c->stream_done) {
        // The upstream answered before the body ended (an early 413 or
        // 401): its connection holds half a request and the client's holds
        // the rest of the body, so neither carries another request.
        reusable = false;
        c->close_after = true;
      }
      c->streaming = false;
    }
    const auto& resp = u->parser.response();
    countRequest(c, resp.status, resp.header("set-cookie").has_value());
    // The upstream's own Connection: close (or close-delimited body) went to
    // the client verbatim, so the client expects the connection to end.
    if (!resp.keep_alive || resp.framing == http::BodyFraming::UntilClose || stopping_)
      c->close_after = true;
    bool release_later = false;
    if (c->watch && c->watch->holding) {
      std::chrono::milliseconds delay{0};
      if (!c->watch->hook_done) delay = runResponseHook(c, resp, true);
      if (c->watch->delaying) {
        release_later = true;  // the delay already runs (EOF arrived during it)
      } else if (delay.count() > 0) {
        release_later = true;
        c->up = nullptr;  // detached below; startHoldDelay must not pause it
        startHoldDelay(c, delay);
      } else {
        releaseHeld(c);
      }
      if (release_later) c->watch->response_complete = true;
    }
    c->up = nullptr;
    u->client = nullptr;
    auto& pool = u->gen->idle.at(u->site)[u->index];
    // Only the current generation pools: an old one's sites may be gone.
    if (reusable && u->gen == gen_.get() && pool.size() < kIdlePerUpstream) {
      u->reused = false;
      u->paused = false;
      u->idle_since = Clock::now();
      pool.push_back(u);
      updateUpstream(u);
    } else {
      closeUpstream(u);
    }
    if (release_later) return;  // endDelay finishes the client side
    finishClient(c);
  }

  // The client side of the end of a response: ready for the next request.
  void finishClient(ClientConn* c) {
    c->busy = false;
    c->request_bytes = 0;
    if (!c->close_after)
      setDeadline(c, c->in.empty() ? Phase::Idle : Phase::Header,
                  c->in.empty() ? c->site->site.limits.idle_timeout
                                : c->site->site.limits.header_timeout);
    if (flushClient(c)) updateClient(c);
  }

  // The upstream connection failed (reset, EOF mid-response, malformed).
  void upstreamBroken(UpstreamConn* u) {
    ClientConn* c = u->client;
    bool stale = u->reused && !u->got_bytes;
    closeUpstream(u);
    if (!c) return;
    c->up = nullptr;
    if (c->response_started) {
      bump(counters_.aborted_responses);
      closeClient(c);
      return;
    }
    if (stale && !c->retried_stale && isIdempotent(c->request.method)) {
      // A pooled connection that closed before any response byte: most
      // likely the upstream timed it out as we wrote, but it may have
      // received the request, so only an idempotent one is sent again,
      // once, on a fresh connection (RFC 9110 §9.2.2). Others get 502.
      c->retried_stale = true;
      startUpstream(c, /*fresh=*/true);
      return;
    }
    failBeforeResponse(c, 502);
  }

  void dropIdle(UpstreamConn* u) {
    auto& pool = u->gen->idle.at(u->site)[u->index];
    pool.erase(std::remove(pool.begin(), pool.end(), u), pool.end());
    closeUpstream(u);
  }

  void closeUpstream(UpstreamConn* u) {
    if (u->closed) return;
    u->closed = true;
    if (u->client && u->client->up == u) u->client->up = nullptr;
    u->client = nullptr;
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, u->fd, nullptr);
    ::close(u->fd);
    auto it = upstreams_.find(u);
    if (it != upstreams_.end()) {
      graveyard_upstreams_.push_back(std::move(it->second));
      upstreams_.erase(it);
    }
  }

  const EngineOptions& options_;
  int epfd_ = -1;
  int wakefd_ = -1;
  Handler wake_{Handler::Kind::Wake};
  std::vector<std::unique_ptr<ListenHandler>> listen_;
  std::unordered_map<std::uint64_t, std::unique_ptr<ClientConn>> clients_;
  std::unordered_map<UpstreamConn*, std::unique_ptr<UpstreamConn>> upstreams_;
  std::vector<std::unique_ptr<ClientConn>> graveyard_clients_;  // freed after each batch
  std::vector<std::unique_ptr<UpstreamConn>> graveyard_upstreams_;
  std::shared_ptr<WorkerGen> gen_;  // current: new connections join it
  std::atomic<bool> stop_requested_{false};
  std::mutex offer_mu_;  // guards offered_; taken on wake-ups only, never per request
  std::shared_ptr<const Snapshot> offered_;
  std::unordered_map<std::string, std::uint32_t> per_source_;
  TimerHeap timers_;
  std::optional<RequestIdGenerator> ids_;
  std::string body_scratch_;  // pumpBody's decoded bytes, reused
  std::uint64_t next_id_ = 0;
  bool stopping_ = false;
  Clock::time_point stop_deadline_;
  Counters counters_;
};

// ---------------------------------------------------------------------------

namespace {

// The listening addresses `config` asks for, in order of first mention,
// with whether each is TLS. EINVAL when sites disagree on TLS for one
// address (the loader refuses that; a hand-built Config may not).
struct ListenerPlan {
  std::string address;
  config::Endpoint endpoint;
  bool tls = false;
};
common::Result<std::vector<ListenerPlan>> planListeners(const config::Config& config) {
  std::vector<ListenerPlan> plan;
  std::map<std::string, std::size_t> seen;
  for (const auto& tenant : config.tenants)
    for (const auto& site : tenant.sites)
      for (const auto& listener : site.listeners) {
        std::string addr = listener.address.toString();
        auto [it, inserted] = seen.emplace(addr, plan.size());
        if (inserted) {
          plan.push_back({addr, listener.address, listener.tls});
        } else if (plan[it->second].tls != listener.tls) {
          return common::Error{EINVAL,
                               "listener " + addr + " is TLS for one site and plain for another"};
        }
      }
  if (plan.empty()) return common::Error{EINVAL, "no listener configured"};
  return plan;
}

std::string joinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "\n") + l;
  return out;
}

// Builds the sites of `config` for the listeners `listeners` (whose
// addresses are exactly those planListeners(config) gives): resolves
// upstreams, reads block pages, loads every TLS listener's certificates.
// Blocking; control plane only.
common::Result<std::shared_ptr<const Snapshot>> buildSnapshot(
    const config::Config& config, const std::vector<std::unique_ptr<ListenerRuntime>>& listeners) {
  auto snap = std::make_shared<Snapshot>();
  snap->listeners.resize(listeners.size());
  std::map<std::string, std::size_t> index;
  for (const auto& l : listeners) index[l->address] = l->index;
  for (const auto& tenant : config.tenants) {
    for (const auto& site : tenant.sites) {
      auto rt = std::make_unique<SiteRuntime>();
      rt->tenant = tenant.id;
      rt->site = site;
      for (const auto& up : site.upstreams) {
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        std::string port = std::to_string(up.address.port);
        int rc = ::getaddrinfo(up.address.host.c_str(), port.c_str(), &hints, &res);
        if (rc != 0 || !res)
          return common::Error{EINVAL, "site " + site.name + ": cannot resolve upstream " +
                                           up.address.toString() + ": " + ::gai_strerror(rc)};
        sockaddr_storage ss{};
        std::memcpy(&ss, res->ai_addr, res->ai_addrlen);
        rt->upstream_addrs.push_back(ss);
        rt->upstream_lens.push_back(res->ai_addrlen);
        ::freeaddrinfo(res);
      }
      if (site.block.page) {
        std::ifstream f(*site.block.page, std::ios::binary);
        if (!f) return common::errnoError("site " + site.name + ": block page " + *site.block.page, errno);
        std::ostringstream text;
        text << f.rdbuf();
        rt->block_page = text.str();
      }
      auto& l = rt->limits;
      l.max_request_line_bytes = site.limits.max_request_line;
      l.max_header_bytes = site.limits.max_header_bytes;
      l.max_header_count = site.limits.max_headers;
      l.max_body_bytes = site.limits.max_body_bytes;
      l.body_policy = site.limits.body_over_limit == config::BodyOverLimit::Reject
                          ? http::BodyLimitPolicy::Reject
                          : http::BodyLimitPolicy::InspectPrefix;
      for (const auto& listener : site.listeners)
        snap->listeners.at(index.at(listener.address.toString())).sites.push_back(rt.get());
      snap->sites.push_back(std::move(rt));
    }
  }
  // TLS contexts once every site is known: a listener serves the
  // certificates of all its sites, the first site's first one by default.
  std::vector<std::string> tls_errors;
  for (const auto& lr : listeners) {
    if (!lr->is_tls) continue;
    auto& per = snap->listeners[lr->index];
    std::vector<TlsCertificateSpec> specs;
    for (const SiteRuntime* s : per.sites)
      for (const auto& cert : s->site.certificates)
        specs.push_back(TlsCertificateSpec{s->site.name, cert, s->site.hosts});
    auto ctx = TlsContext::create(specs, lr->address);
    if (!ctx) {
      tls_errors.push_back(ctx.error().message);
      continue;
    }
    per.tls = std::move(ctx.value());
  }
  if (!tls_errors.empty()) return common::Error{EINVAL, joinLines(tls_errors)};
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

}  // namespace

common::Result<std::unique_ptr<Engine>> Engine::create(const config::Config& config,
                                                       EngineOptions options) {
  std::unique_ptr<Engine> engine(new Engine());
  if (options.workers == 0) options.workers = 1;
  engine->options_ = std::move(options);
  auto plan = planListeners(config);
  if (!plan) return plan.error();
  for (const auto& p : plan.value()) {
    auto lr = std::make_unique<ListenerRuntime>();
    lr->address = p.address;
    lr->index = engine->listeners_.size();
    lr->is_tls = p.tls;
    lr->endpoint = p.endpoint;
    for (std::uint32_t w = 0; w < engine->options_.workers; ++w) {
      auto fd = bindListener(p.endpoint);
      if (!fd) return fd.error();  // ~ListenerRuntime closes what was bound
      lr->fds.push_back(fd.value());
    }
    engine->listen_addresses_.push_back(p.tls ? p.address + " (TLS)" : p.address);
    engine->listeners_.push_back(std::move(lr));
  }
  auto snap = buildSnapshot(config, engine->listeners_);
  if (!snap) return snap.error();
  for (std::uint32_t w = 0; w < engine->options_.workers; ++w)
    engine->workers_.push_back(
        std::make_unique<Worker>(w, engine->options_, engine->listeners_, snap.value()));
  return engine;
}

common::Status Engine::reload(const config::Config& config) {
  std::lock_guard lock(reload_mu_);
  auto plan = planListeners(config);
  if (!plan) return plan.error();
  // The sockets stay: binding new ones would race the old ones for the
  // port and leave clients of a removed address hanging.
  bool same = plan->size() == listeners_.size();
  for (std::size_t i = 0; same && i < plan->size(); ++i)
    same = (*plan)[i].address == listeners_[i]->address && (*plan)[i].tls == listeners_[i]->is_tls;
  if (!same) {
    std::string want;
    for (const auto& p : plan.value()) want += (want.empty() ? "" : ", ") + p.address + (p.tls ? " (TLS)" : "");
    std::string have;
    for (const auto& a : listen_addresses_) have += (have.empty() ? "" : ", ") + a;
    return common::Error{EINVAL, "listener addresses changed (running: " + have + "; new: " +
                                     want + "): that needs a restart"};
  }
  auto snap = buildSnapshot(config, listeners_);
  if (!snap) return snap.error();
  for (auto& w : workers_) w->offer(snap.value());
  return {};
}

Engine::~Engine() {
  stop();
  workers_.clear();  // before listeners_, whose sockets the workers point at
}

void Engine::start() {
  if (started_) return;
  started_ = true;
  for (auto& w : workers_) threads_.emplace_back([worker = w.get()] { worker->run(); });
}

void Engine::stop() {
  if (stopped_ || !started_) return;
  stopped_ = true;
  for (auto& w : workers_) w->requestStop();
  for (auto& t : threads_) t.join();
}

EngineStats Engine::stats() const {
  EngineStats total;
  for (const auto& w : workers_) {
    auto s = w->stats();
#define MAMORI_NET_SUM(name) total.name += s.name;
    MAMORI_NET_COUNTERS(MAMORI_NET_SUM)
#undef MAMORI_NET_SUM
    for (std::size_t i = 0; i < total.rejected_by_reason.size(); ++i)
      total.rejected_by_reason[i] += s.rejected_by_reason[i];
    total.active_connections += s.active_connections;
    for (std::size_t i = 0; i < total.duration_buckets.size(); ++i)
      total.duration_buckets[i] += s.duration_buckets[i];
    total.duration_sum_seconds += s.duration_sum_seconds;
    // Workers count the same sites: merge equal label sets.
    for (auto& r : s.requests_by_site) {
      auto it = std::find_if(total.requests_by_site.begin(), total.requests_by_site.end(),
                             [&](const SiteRequestCount& t) {
                               return t.tenant == r.tenant && t.site == r.site &&
                                      t.method_class == r.method_class &&
                                      t.status_class == r.status_class && t.verdict == r.verdict;
                             });
      if (it == total.requests_by_site.end()) total.requests_by_site.push_back(std::move(r));
      else it->count += r.count;
    }
  }
  return total;
}

}  // namespace mamori::net
