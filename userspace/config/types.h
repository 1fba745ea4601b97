#pragma once

// The typed configuration every module receives (STYLE.md §1: modules get
// structs, never YAML nodes). Plain data with defaults equal to the
// documented defaults (docs/config.md); no yaml-cpp here.
//
// A Config returned by the loader has been fully validated and is treated as
// immutable: share it as std::shared_ptr<const Config> and replace the whole
// pointer on reload. Reading one from many threads at once is safe because
// nobody writes to it.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/address.h"

namespace mamori::config {

// --- process-wide ---------------------------------------------------------

struct MetricsConfig {
  // Prometheus scrape endpoint. Loopback by default: metrics name tenants and
  // sites, which is not for the open internet.
  Endpoint listen{"127.0.0.1", IpAddress{AddressFamily::Ipv4, {127, 0, 0, 1}}, 9464};
};

struct ControlConfig {
  std::string socket = "/run/mamori/control.sock";  // admin API, a Unix socket
};

// Where the signature rules are read from (docs/rules.md). Empty: the
// default set shipped with mamori (/usr/share/mamori/rules, or the source
// tree's rules/ when run from a build directory).
struct RulesConfig {
  std::string dir;
};

struct LogsConfig {
  std::string dir = "/var/log/mamori";
  std::string timezone = "local";  // stored as written; the logs module interprets it
};

// --- shield (XDP) ---------------------------------------------------------

enum class AttachMode { Auto, Native, Generic };  // Auto: native, else generic
enum class MalformedAction { Pass, Drop };        // what XDP does with unparsable packets

// A token bucket per source address: `rate` packets per second refill,
// `burst` packets of credit. rate == 0 means this limit is off.
struct RateLimit {
  uint32_t rate = 0;
  uint32_t burst = 0;
  bool enabled() const { return rate > 0; }
  bool operator==(const RateLimit&) const = default;
};

// Defaults equal shield::defaultSettings() (the `mamorid --xdp-iface`
// quick start), so a config naming only `interfaces` protects the same way;
// tests/unit/daemon/shield_settings_test.cpp keeps the two in step.
struct ShieldRates {
  RateLimit syn{200, 400};  // TCP SYN without ACK
  RateLimit udp{2000, 4000};
  RateLimit icmp{50, 100};      // ICMP and ICMPv6
  RateLimit all{20000, 40000};  // every packet
};

// Destination ports accepted. Both lists empty: no port policy. Once either
// list has a port, the policy covers TCP and UDP alike, so a protocol whose
// list is empty gets nothing through (as the shield enforces it).
struct PortPolicy {
  std::vector<uint16_t> tcp;
  std::vector<uint16_t> udp;
};

struct ShieldConfig {
  std::vector<std::string> interfaces;  // empty: the shield is not attached
  AttachMode attach_mode = AttachMode::Auto;
  std::vector<IpPrefix> allow;  // always passed, before any other check
  std::vector<IpPrefix> deny;   // always dropped
  ShieldRates rates;
  PortPolicy ports;
  bool scanner_syn = true;  // drop SYNs with scanner fingerprints
  MalformedAction malformed = MalformedAction::Pass;
  bool ban_ipv6_prefix64 = false;  // ban a whole /64 rather than one IPv6 address
  uint32_t max_sources = 1048576;  // entries in the per-source rate map
};

// --- sites ----------------------------------------------------------------

struct Listener {
  Endpoint address;  // always an IP literal
  bool tls = false;
};

struct Certificate {
  // Host patterns this certificate is served for (SNI). Empty: it is the
  // site's fallback certificate.
  std::vector<std::string> hosts;
  std::string cert;  // PEM chain path, resolved against the config directory
  std::string key;   // PEM private key path, likewise
};

struct Upstream {
  Endpoint address;  // IP literal or host name (resolved by net)
  uint32_t weight = 1;
};

enum class SiteMode { Block, Detect };  // Detect: log verdicts, block nothing

// One exclusion of a site's inspection: rules `rules` do not apply under
// `path_prefix` (compared with the normalised decoded path), or to the
// argument / header / cookie / body field named `target` when set.
struct InspectionExclusion {
  std::string path_prefix;
  std::string target;
  std::vector<uint32_t> rules;
};

// How a site's requests are inspected (userspace/inspect, docs/rules.md).
struct InspectionConfig {
  bool enabled = true;
  uint32_t paranoia = 1;    // 1..4: rules of a higher level are skipped
  uint32_t threshold = 5;   // anomaly score at which a request is blocked
  bool block_on_budget = true;  // the inspection budget ran out: block (or pass)
  std::vector<uint32_t> exclude_rules;
  std::vector<std::string> exclude_tags;
  std::vector<InspectionExclusion> exclusions;
};

struct BlockPolicy {
  uint16_t status = 403;            // 400..599
  std::optional<std::string> page;  // HTML body file; built-in page if unset
};

// Past max_body_bytes: Reject answers 413; InspectPrefix inspects the first
// max_body_bytes and streams the rest through uninspected.
enum class BodyOverLimit { Reject, InspectPrefix };

struct SiteLimits {
  uint64_t max_body_bytes = 1024 * 1024;
  BodyOverLimit body_over_limit = BodyOverLimit::Reject;
  uint32_t max_request_line = 8192;
  uint32_t max_header_bytes = 32768;
  uint32_t max_headers = 100;
  std::chrono::seconds header_timeout{10};
  std::chrono::seconds body_timeout{30};
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds upstream_connect_timeout{5};
  std::chrono::seconds upstream_read_timeout{60};
  uint32_t max_conns_per_source = 256;
};

struct Site {
  std::string name;  // unique across all tenants
  // Canonical host patterns (see parseHostPattern): "*" means any host.
  // Unique across all sites, so a Host header picks at most one site per
  // pattern; an exact name beats a wildcard when routing.
  std::vector<std::string> hosts;
  std::vector<Listener> listeners;  // at least one
  std::vector<Certificate> certificates;
  std::vector<Upstream> upstreams;  // at least one
  SiteMode mode = SiteMode::Block;
  // Peers whose X-Forwarded-For / Forwarded we believe when finding the client.
  std::vector<IpPrefix> trusted_proxies;
  BlockPolicy block;
  SiteLimits limits;
  InspectionConfig inspection;
};

// The tenant id under which host-wide records are logged (the audit log,
// XDP drops that belong to no site). Reserved: no configured tenant may use it.
inline constexpr const char* kHostTenant = "mamori";

struct Tenant {
  std::string id;  // service code: [a-z0-9][a-z0-9-]{0,62}, unique
  std::map<std::string, std::string> labels;
  // Set once the tenant is removed; its data is purged after the grace period.
  std::optional<std::chrono::sys_seconds> removed_at;
  std::vector<Site> sites;
};

struct Config {
  uint32_t workers = 0;  // 0: one per online core
  MetricsConfig metrics;
  ControlConfig control;
  LogsConfig logs;
  RulesConfig rules;
  ShieldConfig shield;
  std::vector<Tenant> tenants;
};

}  // namespace mamori::config
