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

enum class LogFsync { Interval, EveryLine, Never };  // when log files are fsync'ed

struct LogsConfig {
  std::string dir = "/var/log/mamori";
  std::string timezone = "local";  // stored as written; the logs module interprets it
  uint32_t readable_days = 90;     // queries and exports see this many days back
  uint32_t keep_days = 365;        // files older than this are deleted
  LogFsync fsync = LogFsync::Interval;
  std::chrono::seconds flush_interval{1};  // LogFsync::Interval period
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

// --- login-abuse protection (per site) ----------------------------------------
//
// The `login:` section of a site, as written. Semantics, defaults and the
// presets belong to the guard module (guard/types.h, docs/login-abuse.md);
// daemon/login_settings.h turns this into guard::SiteGuardConfig. Unset
// optionals mean "the preset's value, else guard's default", so guard keeps
// the one copy of every default. The loader has checked every value's range.

enum class LoginPathMatch { Exact, Prefix, Glob };
enum class LoginUsernameSource { None, Form, Json, Basic };

struct LoginHeaderTest {
  std::string name;
  std::string contains;
};

struct LoginJsonTest {
  std::string pointer;  // RFC 6901, starts with '/'
  std::string equals;   // the scalar as text: "false", "0", "denied"
};

// A conjunction of tests on the upstream's response; at least one is set.
struct LoginOutcomeRule {
  std::vector<uint16_t> status;
  std::string location_prefix;
  std::string location_contains;
  std::optional<LoginHeaderTest> header;
  std::string body_contains;
  std::optional<LoginJsonTest> json;
};

struct LoginRoute {
  std::string preset;  // "" or generic_form_401 | wordpress | json_api_ok_false
  std::string name;    // "" keeps the preset's name (or "route<N>")
  std::optional<std::string> path;
  std::optional<LoginPathMatch> match;
  std::optional<std::string> method;
  std::optional<LoginUsernameSource> username_source;
  std::string username_field;  // form field or JSON pointer; "" keeps the preset's
  std::optional<std::vector<LoginOutcomeRule>> failure;
  std::optional<std::vector<LoginOutcomeRule>> success;
};

struct LoginLimit {
  std::optional<uint32_t> threshold;
  std::optional<std::chrono::seconds> window;
  std::optional<bool> enabled;
};

enum class LoginAction { Log, Delay, TooManyRequests, BlockSource, BanSource, LockUsername };

struct LoginLadderStep {
  uint32_t excess = 1;
  LoginAction action = LoginAction::Log;
  std::chrono::milliseconds delay{0};  // delay
  std::chrono::seconds duration{0};    // too_many_requests, block_source, lock_username
};

struct LoginTables {
  std::optional<uint64_t> counters, distinct, blocks, locks, offenders;
};

struct LoginConfig {
  bool detection_only = false;  // also on when the site's mode is detect
  bool usernames_clear = false;  // `usernames: clear`; hashed by default
  bool username_case_insensitive = true;
  std::vector<IpPrefix> allow;
  std::vector<LoginRoute> routes;
  // Keyed by counter name: failures_per_ip, failures_per_user,
  // failures_per_user_ip, distinct_users_per_ip, distinct_ips_per_user,
  // failures_per_v4_24, failures_per_v6_64.
  std::map<std::string, LoginLimit> limits;
  std::optional<uint32_t> takeover_after_failures;
  std::optional<std::vector<LoginLadderStep>> source_ladder;
  std::optional<std::vector<LoginLadderStep>> username_ladder;
  std::optional<std::vector<std::chrono::seconds>> ban_ttls;
  std::optional<std::chrono::seconds> offender_memory;
  bool ban_ipv6_prefix64 = false;
  uint16_t locked_status = 429;
  LoginTables tables;
};

// --- bot detection (issue #8) ----------------------------------------------
//
// The host-level `bots:` section: where the data files are and how good-bot
// claims are verified (docs/bots.md). Semantics belong to guard
// (guard/bot_types.h, guard/rdns_verifier.h); daemon/bot_protection.cpp
// turns these into guard structs.
struct BotsHostConfig {
  std::string dir;       // data files; empty: the set shipped with mamori
  std::string resolver;  // "ip" or "ip:port" (IPv4) of the DNS server for FCrDNS; empty: resolv.conf
  std::chrono::seconds resolver_timeout{2};
  uint64_t rdns_cache_entries = 16384;
  std::chrono::seconds rdns_positive_ttl{24 * 3600};
  std::chrono::seconds rdns_negative_ttl{3600};
  uint64_t sources = 65536;  // behaviour table entries (all sites)
};

// A site's `bots:` section, as written. Class and action names are
// checked by the loader against the fixed lists of docs/bots.md.
struct SiteBotsBehaviour {
  std::chrono::seconds window{10};
  uint32_t max_requests = 200;
  uint32_t max_paths = 60;
  uint32_t max_4xx_percent = 50;
  uint32_t min_responses = 20;
  uint32_t max_cookieless = 20;
};
struct SiteBotsConfig {
  bool enabled = true;
  std::map<std::string, std::string> actions;  // class name -> action name; unset keep defaults
  std::chrono::seconds ban_ttl{3600};
  SiteBotsBehaviour behaviour;
  bool ipv6_prefix64 = false;  // `ipv6_prefix64: true`: IPv6 sources tracked and banned by /64
};

// `challenge:` of a site (issue #8, docs/challenge.md): the JavaScript
// proof-of-work page that under-attack mode and the bot policy send
// clients to. Absent: these defaults.
struct ChallengeConfig {
  uint32_t difficulty = 16;                    // leading zero bits, 1..32
  std::chrono::seconds clearance_ttl{3600};    // cookie lifetime, 10 s..7 days
  std::chrono::seconds key_rotation{3600};     // signing key period, 1 min..30 days
};

// Signing keys a site keeps for verification (the current one and this
// many minus one retired ones); mirrors guard::ChallengeAuthority::kKeySlots
// (daemon static_asserts they agree). clearance_ttl may not exceed
// (kChallengeKeySlots - 1) * key_rotation, or cookies would outlive their key.
inline constexpr uint32_t kChallengeKeySlots = 8;

// `under_attack.auto:`: switch under-attack mode on when the site receives
// at least `requests_per_second` requests within one second, and keep it
// on for `duration` after the last such second.
struct UnderAttackAuto {
  uint64_t requests_per_second = 0;  // 1..10^9
  std::chrono::seconds duration{600};
};

// `under_attack:` of a site: every client without a clearance cookie gets
// the challenge. `enabled: true` is on from start; `mamorictl site
// under-attack on|off|auto` overrides at runtime.
struct UnderAttackConfig {
  bool enabled = false;
  std::optional<UnderAttackAuto> automatic;  // the `auto:` key
};

// --- HTTP flood limits (per site) ----------------------------------------------
//
// The `flood:` section of a site, as written (docs/l7-dos.md). Unset
// optionals take guard::FloodSiteConfig's defaults, so guard keeps the one
// copy of every default; daemon/flood_protection.h converts. The loader has
// checked every value's range. `requests: 0` turns one limit off.

struct FloodRateConfig {
  std::optional<uint32_t> requests;
  std::optional<std::chrono::seconds> window;
};

struct FloodConfig {
  bool enabled = true;  // the section is there: on unless `enabled: false`
  bool detection_only = false;
  FloodRateConfig per_ip, per_prefix, per_path, per_site;
  std::optional<uint32_t> ban_after;  // `ban: {after}`; 0: never ban
  std::optional<std::chrono::seconds> ban_window, ban_ttl;
  bool ban_ipv6_prefix64 = false;  // `ban: {ipv6_prefix64: true}`
  std::vector<IpPrefix> allow;
  std::optional<uint64_t> table_sources, table_prefixes, table_paths;
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
  std::optional<LoginConfig> login;  // login-abuse protection; off when absent
  std::optional<SiteBotsConfig> bots;  // bot detection; off when absent
  std::optional<ChallengeConfig> challenge;       // absent: defaults
  std::optional<UnderAttackConfig> under_attack;  // absent: off (the CLI may switch it on)
  std::optional<FloodConfig> flood;  // HTTP flood limits; off when absent
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
  BotsHostConfig bots;
  std::vector<Tenant> tenants;
};

}  // namespace mamori::config
