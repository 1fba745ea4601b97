#pragma once

// Snapshot types the engine and the shield are adapted to (in
// userspace/daemon/, the only place that knows both sides: STYLE.md §1 lets
// metrics depend on common only), and the collectors that turn a snapshot
// into families at scrape time.
//
// A snapshot function is called on the scrape thread. It must only read
// counters the module already keeps (per-worker or per-CPU, summed when
// asked) and must not block the request path: no lock a worker takes.
//
// Fields marked "not fed yet" have no source in the engine today; they are
// here so the module that will count them (inspect, guard, TLS, per-site
// counters in net) has a place to put them without touching this module.
// A collector emits a family only when its source is present, so an
// unfed family is absent from /metrics rather than a misleading zero
// (docs/metrics.md lists which is which).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "metrics/family.h"

namespace mamori::metrics {

// A count under one bounded label value (a reason, a category, a status).
struct NamedCount {
  std::string name;
  std::uint64_t count = 0;
};

// Requests of one (tenant, site, method class, status class, verdict)
// combination (net::SiteRequestCount).
struct RequestCount {
  std::string tenant;
  std::string site;
  std::string method_class;  // get, head, post, put, delete, other
  std::string status_class;  // 2xx, 3xx, 4xx, 5xx
  std::string verdict;       // pass, block, detect_only
  std::uint64_t count = 0;
};

// Bot verdicts of one (site, bot class, action) (daemon/bot_protection.h).
struct BotVerdictCount {
  std::string site;
  std::string bot_class;  // guard::botClassName: scanner, tool, inconsistent, ...
  std::string action;     // allow, log, challenge, block, ban
  std::uint64_t count = 0;
};

struct EngineSnapshot {
  // --- fed today, from net::EngineStats -----------------------------------
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_over_source_cap = 0;
  std::uint64_t requests_passed = 0;           // verdict pass
  std::uint64_t requests_blocked = 0;          // verdict block, answered locally
  std::uint64_t requests_detect_only = 0;      // block verdicts let through (mode: detect)
  std::vector<NamedCount> rejected_by_reason;  // parser rejections, by reason name
  std::uint64_t responses_proxied = 0;
  std::uint64_t upstream_connect_failures = 0;
  std::uint64_t upstream_bad_gateway = 0;      // 502 answered
  std::uint64_t upstream_gateway_timeout = 0;  // 504 answered
  std::uint64_t client_timeouts = 0;
  std::uint64_t aborted_responses = 0;

  // --- not fed yet -----------------------------------------------------------
  std::optional<std::uint64_t> active_connections;                // net: a live gauge
  std::optional<std::vector<RequestCount>> requests;              // net: per-site labels
  std::optional<std::vector<NamedCount>> detections_by_category;  // inspect
  std::optional<std::vector<NamedCount>>
      detections_by_rule;  // inspect (rule ids, bounded by the rule set)
  std::optional<HistogramValue> request_duration_seconds;     // net
  std::optional<HistogramValue> inspection_duration_seconds;  // inspect
  std::optional<std::uint64_t> tls_handshakes;                // net TLS
  std::optional<std::vector<NamedCount>> tls_failures;        // net TLS, by reason
  std::optional<std::vector<NamedCount>> bans_issued;         // guard, by ban reason
  std::optional<std::vector<BotVerdictCount>> bot_verdicts;   // guard, by site, class, action
  std::optional<std::vector<NamedCount>> challenge_outcomes;  // browser challenge, by outcome
  std::optional<std::vector<NamedCount>> l7_flood_verdicts;   // guard, by action
  std::optional<std::uint64_t> log_queue_depth;               // logs
  std::optional<std::vector<NamedCount>> log_lines_dropped;   // logs, by log type
};

// XDP counters summed over CPUs (shield::Counters), keyed by the names the
// shield gives its verdict reasons.
struct XdpCount {
  std::string verdict;  // pass, drop
  std::string reason;   // shield::reasonName()
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
};

struct XdpSnapshot {
  std::vector<XdpCount> counts;
  std::uint64_t events_lost = 0;  // drop events the ring buffer had no room for
  std::vector<NamedCount> bans;   // unexpired bans by address family (ipv4, ipv6)
};

// Families (with the series they always carry):
//   mamori_http_connections_accepted_total
//   mamori_http_connections_refused_total{reason="source_cap"}
//   mamori_http_verdicts_total{verdict=pass|block|detect_only}
//   mamori_http_requests_rejected_total{reason}  (every parser reason, zeros included)
//   mamori_http_responses_proxied_total
//   mamori_http_client_timeouts_total, mamori_http_aborted_responses_total
//   mamori_upstream_connect_failures_total
//   mamori_upstream_errors_total{status_code="502"|"504"}
// and, once fed, the families named in docs/metrics.md.
// `snapshot` returning an Error makes the collector fail (nothing appended).
Collector engineCollector(std::function<common::Result<EngineSnapshot>()> snapshot);

// Families: mamori_xdp_packets_total{verdict,reason}, mamori_xdp_bytes_total
// {verdict,reason}, mamori_xdp_events_lost_total, mamori_xdp_bans{family}.
// A snapshot error (pinned maps gone) makes the collector fail.
Collector xdpCollector(std::function<common::Result<XdpSnapshot>()> snapshot);

}  // namespace mamori::metrics
