#!/usr/bin/env bash
# End to end: mamorid's /metrics under known traffic, scraped by Debian's
# Prometheus, and every Grafana dashboard query answered from it.
#
#   client 10.79.1.2 ──veth──► 10.79.1.1 [waf: XDP shield, mamorid :8080,
#                                          /metrics 127.0.0.1:9464,
#                                          prometheus 127.0.0.1:9090,
#                                          echo upstream 127.0.0.1:8081]
#
# Checks (before the root check, so they run anywhere promtool is):
# promtool accepts monitoring/prometheus/{prometheus,alerts}.yml, the alert
# unit cases pass (alerts_test.py), the dashboards JSON is what generate.py
# writes, every metric name they use is a family userspace/metrics defines. Then, as root: after 5 GETs, one CL+TE smuggling attempt, an ICMP
# flood, a ban and a request with the upstream down, /metrics shows exactly those counts (verdicts, rejection reason, 502,
# XDP drops by reason, bans) and only mamori_ families; Prometheus, running
# the shipped scrape config (interval cut to 1 s) and alert rules, scrapes
# mamorid, loads the rules, and answers every dashboard panel's query with
# data, except panels marked "Not fed yet", which are listed as skipped (and
# must return nothing). Then: a busy metrics address leaves the proxy serving
# (fail-open), `--metrics off` starts no server, a host name is a usage error.
#
# Needs root (namespaces, XDP) and the prometheus package: exits 77 without.
# Every process and the temp dir are removed on exit, also on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib/netns.sh
. "$here/lib/netns.sh"
# shellcheck source=lib/shield.sh
. "$here/lib/shield.sh"
BIN=${MAMORI_BIN:-$root/build/bin}
MON="$root/monitoring"

for tool in curl python3 prometheus promtool; do
  command -v "$tool" >/dev/null || lab_skip "$tool not installed (scripts/bootstrap installs it)"
done
python3 -c 'import yaml' 2>/dev/null || lab_skip "python3-yaml not installed"
for bin in mamorid mamorictl; do
  [[ -x "$BIN/$bin" ]] || lab_skip "$BIN/$bin not built"
done

fail() {
  echo "FAIL: $*" >&2
  for log in "$TMP"/*.log; do echo "--- $log:" >&2; tail -n 40 "$log" >&2 || true; done
  exit 1
}
pass() { echo "ok: $*"; }

# --- static checks (no root needed) -------------------------------------------
CHECK_LOG=$(mktemp /tmp/mamori-e2e-metrics-check.XXXXXX)
trap 'rm -f "$CHECK_LOG"' EXIT  # lab_init replaces this trap once the file is gone
static_fail() { echo "FAIL: $*" >&2; cat "$CHECK_LOG" >&2; rm -f "$CHECK_LOG"; exit 1; }
promtool check rules "$MON/prometheus/alerts.yml" >"$CHECK_LOG" 2>&1 || static_fail "promtool check rules"
promtool check config "$MON/prometheus/prometheus.yml" >"$CHECK_LOG" 2>&1 || static_fail "promtool check config"
pass "promtool check rules and check config"
python3 "$MON/prometheus/alerts_test.py" >"$CHECK_LOG" 2>&1 || static_fail "promtool test rules (alerts_test.py)"
pass "alert rules fire on their cases and stay quiet otherwise: $(tail -n 1 "$CHECK_LOG")"
python3 "$MON/grafana/generate.py" --check >"$CHECK_LOG" 2>&1 || static_fail "dashboards differ from generate.py"
pass "dashboards JSON up to date with generate.py"
python3 "$here/lib/metric_names_check.py" "$root" >"$CHECK_LOG" 2>&1 || static_fail "unknown metric names"
pass "$(tail -n 1 "$CHECK_LOG")"
rm -f "$CHECK_LOG"

lab_require
lab_init
PIN="/sys/fs/bpf/mamori-e2e-metrics-$$"
TMP=$(mktemp -d /tmp/mamori-e2e-metrics.XXXXXX)
CTL="$TMP/control.sock"  # lib/shield.sh: ctl
lab_on_cleanup() { purge_pins; rm -rf "$TMP"; }

# --- lab ----------------------------------------------------------------------
lab_ns client
lab_ns waf
lab_link client 10.79.1.2 waf 10.79.1.1
lab_bg waf python3 "$here/lib/echo_upstream.py" 8081 "$TMP/upstream-requests.txt"
UP_PID=$LAB_LAST_PID
lab_wait_for 50 lab_exec waf curl -sf -o /dev/null http://127.0.0.1:8081/ready ||
  fail "upstream did not start"

# The quick start's one site, written out, with bot detection on (default
# policy: curl is a logged tool, so every request below still passes) so
# that the bot verdicts panel has data.
cat >"$TMP/mamori.yaml" <<YAML
workers: 2
shield:
  interfaces: [$(lab_dev waf client)]
tenants:
  - id: default
    sites:
      - name: default
        hosts: ["*"]
        listeners:
          - address: 0.0.0.0:8080
        upstreams:
          - address: 127.0.0.1:8081
        bots: {}
YAML
lab_bg waf "$BIN/mamorid" --config "$TMP/mamori.yaml" \
  --pin-root "$PIN" --metrics 127.0.0.1:9464 \
  --control-socket "$CTL" --log-dir "${CTL%/*}/logs" --rules "$here/lib/rules" \
  >"$TMP/mamorid.log" 2>&1
lab_wait_for 100 grep -q "metrics on http://127.0.0.1:9464/metrics" "$TMP/mamorid.log" ||
  fail "mamorid did not serve /metrics"
lab_wait_for 50 lab_exec client curl -sf -o /dev/null http://10.79.1.1:8080/warmup ||
  fail "client cannot reach mamorid"

# Prometheus first, so that it sees the counters move. The shipped config,
# scrape and evaluation interval cut to 1 s, with the shipped rules.
sed -e 's/scrape_interval: 15s/scrape_interval: 1s/' -e 's/evaluation_interval: 15s/evaluation_interval: 1s/' \
  -e 's/scrape_timeout: 10s/scrape_timeout: 1s/' \
  "$MON/prometheus/prometheus.yml" >"$TMP/prometheus.yml"
cp "$MON/prometheus/alerts.yml" "$TMP/alerts.yml"
lab_bg waf prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
  --web.listen-address=127.0.0.1:9090 >"$TMP/prometheus.log" 2>&1
lab_wait_for 300 lab_exec waf curl -sf -o /dev/null http://127.0.0.1:9090/-/ready ||
  fail "prometheus did not become ready"
# Its first scrape comes a few seconds after ready (target discovery is
# batched): wait for it, so that the traffic below is seen as an increase.
prom() { lab_exec waf curl -sf "http://127.0.0.1:9090/api/v1/$1"; }
scraped() { prom 'query?query=up%7Bjob%3D%22mamori%22%7D' | grep -q '"value":\[[0-9.]*,"1"\]'; }
lab_wait_for 300 scraped || fail "prometheus does not scrape mamorid: $(prom targets)"
pass "prometheus running the shipped scrape config and rules, scraping mamorid"

metric() {  # metric 'name{labels}' -> value from /metrics (0 when absent)
  lab_exec waf curl -sf http://127.0.0.1:9464/metrics |
    awk -v k="$1" '$1 == k { v = $2 } END { print (v == "" ? 0 : v) + 0 }'
}
before_pass=$(metric 'mamori_http_verdicts_total{verdict="pass"}')

# --- known traffic -------------------------------------------------------------
for i in 1 2 3 4 5; do
  lab_exec client curl -sf -o /dev/null "http://10.79.1.1:8080/page/$i" || fail "GET $i failed"
done
out=$(printf 'POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' |
  lab_exec waf python3 "$here/lib/raw_http.py" 8080)
grep -q '^HTTP/1.1 400' <<<"$out" || fail "smuggling attempt not refused: $out"
# ICMP flood: the default limit is 50/s with a burst of 100.
lab_exec client ping -q -f -c 1500 -w 3 10.79.1.1 >/dev/null 2>&1 || true
ctl bans add 10.79.1.99 --ttl 600s --reason manual >/dev/null || fail "ban add failed"
lab_stop "$UP_PID"
code=$(lab_exec client curl -s -o /dev/null -w '%{http_code}' http://10.79.1.1:8080/down)
[[ "$code" == 502 ]] || fail "upstream down gave $code"

# --- /metrics moved as expected ---------------------------------------------
got=$(metric 'mamori_http_verdicts_total{verdict="pass"}')
[[ $((got - before_pass)) == 6 ]] || fail "pass verdicts moved by $((got - before_pass)), want 6 (5 GETs + 502)"
[[ $(metric 'mamori_http_requests_rejected_total{reason="content_length_with_transfer_encoding"}') == 1 ]] ||
  fail "CL+TE rejection not counted once"
[[ $(metric 'mamori_upstream_errors_total{status_code="502"}') == 1 ]] || fail "502 not counted once"
[[ $(metric 'mamori_upstream_connect_failures_total') -ge 1 ]] || fail "connect failure not counted"
[[ $(metric 'mamori_http_verdicts_total{verdict="block"}') == 0 ]] || fail "blocks without a verdict hook"
icmp=$(metric 'mamori_xdp_packets_total{verdict="drop",reason="rate_icmp"}')
[[ "$icmp" -gt 100 ]] || fail "XDP rate_icmp drops: $icmp"
[[ "$icmp" == "$(dropped rate_icmp)" ]] || fail "XDP drops $icmp differ from mamorictl's $(dropped rate_icmp)"
[[ $(metric 'mamori_xdp_packets_total{verdict="pass",reason="pass"}') -gt 0 ]] || fail "XDP passes not counted"
[[ $(metric 'mamori_xdp_bans{family="ipv4"}') == 1 ]] || fail "ban not in mamori_xdp_bans"
[[ $(metric 'mamori_process_threads') -ge 3 ]] || fail "process threads"
for c in engine xdp process host; do
  [[ $(metric "mamori_metrics_collector_up{collector=\"$c\"}") == 1 ]] || fail "collector $c is down"
done
names=$(lab_exec waf curl -sf http://127.0.0.1:9464/metrics | awk '/^# TYPE/ { print $3 }')
bad=$(grep -v '^mamori_' <<<"$names" || true)
[[ -z "$bad" ]] || fail "families without the mamori_ prefix: $bad"
pass "/metrics: 6 passes, 1 CL+TE rejection, 1 x 502, $icmp ICMP drops, 1 ban; $(wc -l <<<"$names") families, all mamori_"

# --- Prometheus: scraped, rules loaded, every dashboard query answered --------
sleep 3  # a few more 1 s scrapes, so that every rate() has two samples after the traffic
scraped || fail "prometheus lost mamorid: $(prom targets)"
rules=$(prom rules | python3 -c '
import json, sys
groups = json.load(sys.stdin)["data"]["groups"]
rules = [r for g in groups for r in g["rules"]]
bad = [r["name"] for r in rules if r.get("health") != "ok" or not r["labels"].get("severity")
       or not r["annotations"].get("summary") or not r["annotations"].get("runbook")]
print(len(rules), " ".join(bad))')
[[ "$rules" =~ ^[0-9]+\ $ && "${rules% }" -ge 8 ]] || fail "alert rules not loaded healthy: $rules"
pass "prometheus scrapes mamorid; ${rules% } alert rules loaded, each with severity, summary, runbook"
q='query?query=increase(mamori_http_verdicts_total%7Bverdict%3D%22pass%22%7D%5B1m%5D)'
seen=$(prom "$q" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(round(float(r[0]["value"][1])) if r else 0)')
[[ "$seen" -ge 5 ]] || fail "prometheus saw $seen pass verdicts in the last minute: $(prom "$q")"
pass "prometheus saw the traffic ($seen pass verdicts in the last minute)"

lab_exec waf python3 "$here/lib/dashboard_queries.py" http://127.0.0.1:9090 \
  "$MON"/grafana/dashboards/*.json | tee "$TMP/queries.txt" ||
  fail "dashboard queries: $(grep FAIL "$TMP/queries.txt")"
pass "every fed dashboard panel returns data"

# --- fail-open, off, bad address ------------------------------------------
# A second mamorid whose metrics address is taken still proxies (fail-open).
lab_bg waf "$BIN/mamorid" --listen 0.0.0.0:8082 --upstream 127.0.0.1:8081 --workers 1 \
  --control-socket "$TMP/busy.sock" --log-dir "$TMP/logs" --rules "$here/lib/rules" --metrics 127.0.0.1:9464 >"$TMP/mamorid-busy.log" 2>&1
BUSY_PID=$LAB_LAST_PID
lab_wait_for 50 grep -q "running without /metrics" "$TMP/mamorid-busy.log" ||
  fail "no fail-open warning for a busy metrics address"
code=$(lab_exec client curl -s -o /dev/null -w '%{http_code}' http://10.79.1.1:8082/x)
[[ "$code" == 502 ]] || fail "mamorid without metrics answered $code (want 502: upstream is down)"
lab_stop "$BUSY_PID"
lab_bg waf "$BIN/mamorid" --listen 0.0.0.0:8082 --upstream 127.0.0.1:8081 --workers 1 \
  --control-socket "$TMP/off.sock" --log-dir "$TMP/logs" --rules "$here/lib/rules" --metrics off >"$TMP/mamorid-off.log" 2>&1
OFF_PID=$LAB_LAST_PID
lab_wait_for 50 grep -q "proxy listening" "$TMP/mamorid-off.log" || fail "mamorid --metrics off did not start"
grep -q "/metrics" "$TMP/mamorid-off.log" && fail "--metrics off still mentions metrics: $(cat "$TMP/mamorid-off.log")"
lab_stop "$OFF_PID"
rc=0
"$BIN/mamorid" --listen 127.0.0.1:8083 --upstream 127.0.0.1:8081 --metrics 'localhost:9464' \
  --control-socket "$TMP/bad.sock" --log-dir "$TMP/logs" --rules "$here/lib/rules" \
  >"$TMP/mamorid-bad.log" 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "--metrics localhost:9464 exited $rc, want 2 (usage)"
pass "busy metrics address: proxy keeps serving (fail-open); --metrics off; bad address exits 2"

echo "PASS: metrics e2e"
