#!/usr/bin/env python3
"""Writes monitoring/grafana/dashboards/*.json from the panel lists below.

The JSON files are checked in (Grafana's file provisioning reads them as they
are); this script is their source, so the three dashboards share one layout
and one way of writing queries. Run it after editing a panel:

    monitoring/grafana/generate.py          # rewrite the JSON files
    monitoring/grafana/generate.py --check  # exit 1 if they are out of date

Every metric selector gets an instance matcher (the $instance variable), so
one dashboard shows one mamorid or a fleet. A panel whose families are not
fed yet says so in the first words of its description ("Not fed yet"):
tests/e2e/metrics_test.sh skips those queries by that marker and insists
that every other query returns data.
"""
import json
import re
import sys
from pathlib import Path

DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
NOT_FED = "Not fed yet (waits for {}). "


def with_instance(expr):
    """Adds instance=~"$instance" to every mamori_* selector."""
    def repl(m):
        name, labels = m.group(1), m.group(2)
        if labels is None:
            return f'{name}{{instance=~"$instance"}}'
        inner = labels[1:-1]
        return f'{name}{{instance=~"$instance"{"," if inner else ""}{inner}}}'
    return re.sub(r'\b(mamori_[a-z0-9_]+)(\{[^}]*\})?', repl, expr)


def panel(title, targets, unit="short", kind="timeseries", desc="", waits=None, w=12, h=8):
    """targets: list of (expr, legend)."""
    description = (NOT_FED.format(waits) if waits else "") + desc
    return {
        "type": kind,
        "title": title,
        "description": description.strip(),
        "datasource": DS,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": ({"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                     "colorMode": "value", "graphMode": "area", "textMode": "auto"}
                    if kind == "stat" else
                    {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                     "tooltip": {"mode": "multi", "sort": "desc"}}),
        "targets": [{"datasource": DS, "refId": chr(ord("A") + i), "expr": with_instance(e),
                     "legendFormat": legend, "range": True}
                    for i, (e, legend) in enumerate(targets)],
        "_w": w, "_h": h,
    }


def dashboard(uid, title, description, panels):
    x = y = 0
    row_h = 0
    for i, p in enumerate(panels, start=1):
        w, h = p.pop("_w"), p.pop("_h")
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p["id"] = i
        p["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        x += w
        row_h = max(row_h, h)
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["mamori"],
        "editable": True,
        "schemaVersion": 38,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "browser",
        "links": [{"type": "dashboards", "tags": ["mamori"], "asDropdown": True,
                   "title": "mamori", "includeVars": True, "keepTime": True}],
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource",
             "query": "prometheus", "current": {}, "hide": 0, "refresh": 1,
             "regex": "", "options": []},
            {"name": "instance", "label": "mamorid", "type": "query", "datasource": DS,
             "query": {"query": "label_values(mamori_build_info, instance)", "refId": "instance"},
             "definition": "label_values(mamori_build_info, instance)",
             "includeAll": True, "multi": True, "allValue": ".*", "current": {},
             "refresh": 2, "sort": 1, "hide": 0, "options": []},
        ]},
        "panels": panels,
    }


def rate(metric, by=None, sel=""):
    s = f"rate({metric}{sel}[{RATE}])"
    return f"sum by ({by}) ({s})" if by else f"sum({s})"


OVERVIEW = dashboard(
    "mamori-overview", "mamori / Overview",
    "Traffic through the engine, verdicts, detections and what the XDP shield drops.",
    [
        panel("mamorid up", [('up{job="mamori",instance=~"$instance"}', "{{instance}}")],
              kind="stat", w=6, h=4, desc="1: Prometheus scrapes mamorid; 0: it does not."),
        panel("Requests per second", [(rate("mamori_http_verdicts_total"), "requests/s")],
              unit="reqps", kind="stat", w=6, h=4,
              desc="Complete requests that got a verdict (parser rejections not included)."),
        panel("Blocked share", [(rate("mamori_http_verdicts_total", sel='{verdict="block"}') +
                                 " / clamp_min(" + rate("mamori_http_verdicts_total") + ", 1e-9)",
                                 "blocked")],
              unit="percentunit", kind="stat", w=6, h=4,
              desc="Requests answered by a Block verdict, as a share of all verdicts."),
        panel("XDP drops per second",
              [(rate("mamori_xdp_packets_total", sel='{verdict="drop"}'), "drops/s")],
              unit="pps", kind="stat", w=6, h=4, desc="Packets the shield dropped at the NIC."),
        panel("Verdicts", [(rate("mamori_http_verdicts_total", "verdict"), "{{verdict}}")],
              unit="reqps", desc="pass, block, and detect_only (a block let through because the "
                                 "site runs in mode: detect)."),
        panel("Requests by site and status class",
              [(rate("mamori_http_requests_total", "site, status_class"), "{{site}} {{status_class}}")],
              unit="reqps", desc="Requests answered per site and status class (blocked ones included)."),
        panel("Parser rejections by reason",
              [(f"topk(10, {rate('mamori_http_requests_rejected_total', 'reason')})", "{{reason}}")],
              unit="reqps", desc="Requests the strict HTTP parser refused (smuggling attempts, "
                                 "oversized headers, bad syntax)."),
        panel("Detections by category",
              [(rate("mamori_detections_total", "category"), "{{category}}")],
              unit="reqps", desc="Requests with a signature detection, by the rule's category."),
        panel("Upstream errors",
              [(rate("mamori_upstream_errors_total", "status_code"), "{{status_code}} answered"),
               (rate("mamori_upstream_connect_failures_total"), "connect failures")],
              unit="reqps", desc="502/504 answered to clients and failed upstream connections."),
        panel("Request latency",
              [(f"histogram_quantile({q}, sum by (le) (rate(mamori_http_request_duration_seconds_bucket[{RATE}])))",
                f"p{int(q * 100)}") for q in (0.5, 0.95, 0.99)],
              unit="s", desc="From the complete request to the end of its response from the "
                             "upstream (or the local answer)."),
        panel("Connections",
              [(rate("mamori_http_connections_accepted_total"), "accepted/s"),
               (rate("mamori_http_connections_refused_total", "reason"), "refused/s {{reason}}"),
               (rate("mamori_http_client_timeouts_total"), "client timeouts/s")],
              unit="cps", desc="Client connections accepted, refused (max_conns_per_source) and "
                               "closed by a timeout."),
        panel("Active connections", [("sum(mamori_http_active_connections)", "open")],
              desc="Client connections open now."),
        panel("XDP packets by verdict",
              [(rate("mamori_xdp_packets_total", "verdict"), "{{verdict}}")], unit="pps",
              desc="Every packet the shield saw, summed over CPUs."),
        panel("XDP drops by reason",
              [("topk(10, " + rate("mamori_xdp_packets_total", "reason", sel='{verdict="drop"}') + ")",
                "{{reason}}")], unit="pps",
              desc="deny and ban lists, per-source rate limits (rate_*), scanner SYNs, ports."),
        panel("XDP throughput",
              [(f"8 * {rate('mamori_xdp_bytes_total', 'verdict')}", "{{verdict}}")], unit="bps",
              w=24, desc="Bits per second the shield passed and dropped."),
    ])

SECURITY = dashboard(
    "mamori-security", "mamori / Security",
    "What mamori blocked and why: rules, categories, bans, DoS and bot activity.",
    [
        panel("Blocked and detect-only requests",
              [(rate("mamori_http_verdicts_total", "verdict", sel='{verdict=~"block|detect_only"}'),
                "{{verdict}}")], unit="reqps",
              desc="Block verdicts: answered locally (block) or only logged (detect_only)."),
        panel("Top rules (range)",
              [("topk(10, sum by (rule) (increase(mamori_rule_matches_total[$__range])))", "{{rule}}")],
              kind="stat", desc="Rules that matched most over the dashboard's range."),
        panel("Detections by category",
              [(rate("mamori_detections_total", "category"), "{{category}}")], unit="reqps",
              desc="Signature detections by the rule's category."),
        panel("Active bans", [("sum by (family) (mamori_xdp_bans)", "{{family}}")],
              desc="Unexpired bans in the shield's map (manual, and written by guard once it lands)."),
        panel("Bans issued by reason",
              [(rate("mamori_guard_bans_total", "reason"), "{{reason}}")],
              desc="Bans written to the shield by the login guard and the bot detector "
                   "(*_unenforced: no shield loaded)."),
        panel("DoS: XDP rate-limit and scanner drops",
              [(rate("mamori_xdp_packets_total", "reason",
                     sel='{verdict="drop",reason=~"rate_.*|scanner|port|malformed.*|fragment"}'),
                "{{reason}}")], unit="pps",
              desc="Per-source SYN/UDP/ICMP/all-packet floods, scanner SYN fingerprints, closed ports."),
        panel("Deny list and ban drops",
              [(rate("mamori_xdp_packets_total", "reason", sel='{verdict="drop",reason=~"deny|ban"}'),
                "{{reason}}")], unit="pps", desc="Sources dropped because they are listed or banned."),
        panel("L7 flood verdicts",
              [(rate("mamori_guard_flood_verdicts_total", "action"), "{{action}}")], unit="reqps",
              desc="HTTP flood limits (429s, bans, detection-only refusals) and connection floods "
                   "and slow clients cut by the engine (docs/l7-dos.md)."),
        panel("Bot verdicts",
              [(rate("mamori_guard_bot_verdicts_total", "class, action"), "{{class}}: {{action}}")],
              unit="reqps",
              desc="Requests the bot detector put in a bot class, by class and the action "
                   "the site took (docs/bots.md)."),
        panel("Browser challenge",
              [(rate("mamori_guard_challenges_total", "outcome"), "{{outcome}}")],
              unit="reqps",
              desc="Challenge pages served, solutions accepted and refused, requests let through "
                   "on a clearance cookie (docs/challenge.md)."),
        panel("Parser rejections (range)",
              [("topk(10, sum by (reason) (increase(mamori_http_requests_rejected_total[$__range])))",
                "{{reason}}")], kind="stat",
              desc="Malformed and smuggling-shaped requests refused before inspection."),
        panel("Connections refused per source cap",
              [(rate("mamori_http_connections_refused_total", "reason"), "{{reason}}")], unit="cps",
              desc="One source holding more than max_conns_per_source connections."),
        panel("Drop events lost",
              [(rate("mamori_xdp_events_lost_total"), "lost/s")], unit="short",
              desc="Sampled drop events the ring buffer had no room for: the DoS log misses them."),
        panel("TLS handshake failures",
              [(rate("mamori_tls_handshake_failures_total", "reason"), "{{reason}}")],
              desc="TLS handshakes refused or broken (old versions, no ALPN match, junk).", w=24),
    ])

RESOURCES = dashboard(
    "mamori-resources", "mamori / Resources",
    "CPU, memory, disk and network of mamorid and of the host it runs on.",
    [
        panel("mamorid CPU", [(rate("mamori_process_cpu_seconds_total", "mode"), "{{mode}}")],
              unit="short", desc="CPU cores used by mamorid (1 = one core busy), user and system."),
        panel("mamorid memory",
              [("sum(mamori_process_resident_memory_bytes)", "resident"),
               ("sum(mamori_process_virtual_memory_bytes)", "virtual")], unit="bytes"),
        panel("mamorid file descriptors",
              [("sum(mamori_process_open_fds)", "open"), ("sum(mamori_process_max_fds)", "limit")],
              desc="Open descriptors against the soft limit: clients, upstreams, maps, logs."),
        panel("mamorid threads and uptime",
              [("sum(mamori_process_threads)", "threads"),
               ("time() - max(mamori_process_start_time_seconds)", "uptime (s)")]),
        panel("Host CPU busy",
              [("1 - " + rate("mamori_host_cpu_seconds_total", sel='{mode="idle"}') +
                " / clamp_min(" + rate("mamori_host_cpu_seconds_total") + ", 1e-9)", "busy")],
              unit="percentunit", kind="stat", w=6, h=8),
        panel("Host memory used",
              [("1 - sum(mamori_host_memory_available_bytes) / sum(mamori_host_memory_total_bytes)",
                "used")], unit="percentunit", kind="stat", w=6, h=8),
        panel("Host CPU by mode", [(rate("mamori_host_cpu_seconds_total", "mode"), "{{mode}}")],
              desc="Cores busy per mode over all CPUs (mamori_host_cpus cores in all)."),
        panel("Host memory",
              [("sum(mamori_host_memory_total_bytes)", "total"),
               ("sum(mamori_host_memory_available_bytes)", "available")], unit="bytes"),
        panel("Log filesystem used",
              [("1 - sum(mamori_host_log_filesystem_available_bytes) / "
                "sum(mamori_host_log_filesystem_size_bytes)", "used")],
              unit="percentunit", kind="stat", w=6, h=8,
              desc="The filesystem holding the log directory (logs.dir)."),
        panel("Log filesystem free",
              [("sum(mamori_host_log_filesystem_available_bytes)", "available")],
              unit="bytes", kind="stat", w=6, h=8),
        panel("Disk I/O",
              [(rate("mamori_host_disk_read_bytes_total", "device"), "read {{device}}"),
               (rate("mamori_host_disk_written_bytes_total", "device"), "written {{device}}")],
              unit="Bps", desc="The log directory's block device, or every disk when it has none."),
        panel("Network throughput",
              [(f"8 * {rate('mamori_host_network_receive_bytes_total', 'interface')}", "rx {{interface}}"),
               (f"8 * {rate('mamori_host_network_transmit_bytes_total', 'interface')}", "tx {{interface}}")],
              unit="bps"),
        panel("Network packets",
              [(rate("mamori_host_network_receive_packets_total", "interface"), "rx {{interface}}"),
               (rate("mamori_host_network_transmit_packets_total", "interface"), "tx {{interface}}")],
              unit="pps"),
        panel("Metric collectors",
              [("min by (collector) (mamori_metrics_collector_up)", "{{collector}}")],
              desc="1: the collector's source was read at the last scrape; 0: it failed "
                   "(see mamorid's log)."),
        panel("Log queue depth", [("sum(mamori_logs_queue_depth)", "queued")],
              desc="Log records waiting in the workers' queues for the writer thread."),
        panel("Log lines dropped", [(rate("mamori_logs_dropped_total", "log"), "{{log}}")],
              desc="Log lines lost: a full queue, a failed write (disk full) or a bad tenant id."),
    ])

DASHBOARDS = {"overview.json": OVERVIEW, "security.json": SECURITY, "resources.json": RESOURCES}


def main():
    out_dir = Path(__file__).resolve().parent / "dashboards"
    stale = []
    for name, board in DASHBOARDS.items():
        text = json.dumps(board, indent=2, ensure_ascii=False) + "\n"
        path = out_dir / name
        if "--check" in sys.argv:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print("out of date (run monitoring/grafana/generate.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
