#!/usr/bin/env bash
# L7 flood benchmark (issue #8): during an HTTP flood from several
# addresses, how well is a legitimate client served, with
#
#   mamori      mamorid, flood limits on (per_ip $RATE requests per 1 s
#               window: the same rate and burst as nginx's), a ban pushed
#               to the XDP shield after $RATE refusals
#   nginx-limit Debian's nginx as reverse proxy with limit_req at the same
#               rate (burst = one second's worth, nodelay, status 429)
#   nginx       the same nginx without limit_req (no protection)
#
# in one run. Lab (network namespaces, lib of tests/e2e):
#
#   client   10.82.1.2 ───── 10.82.1.1 [waf: one target at a time] 10.82.2.1 ── 10.82.2.2 app
#   attacker 10.82.3.2..(1+$SOURCES) ── 10.82.3.1 /
#
# The app (bench/l7flood/app.py) serves one request at a time with
# $WORK_MS ms of work each (about 1000/$WORK_MS requests/s at most), like an
# application with a database behind it. For each target: the flood
# ($SOURCES addresses x $CONNS_PER_SOURCE keep-alive connections, GETs back
# to back, tests/e2e/lib/http_flood.py, bounded by count and $DURATION) and
# the legitimate client ($CLIENT_RATE requests/s, 3 s timeout) run together;
# the table has the client's success rate (200s / requests sent) and p50 /
# p99 latency of its answered requests, and what the flood got.
#
# Usage: bench/l7flood/run.sh   (root: namespaces, XDP)
# Environment: MAMORID (default <repo>/build/bin/mamorid), MAMORICTL,
#   DURATION=15 (seconds per target), SOURCES=4, CONNS_PER_SOURCE=4,
#   CLIENT_RATE=10, RATE=20 (requests/s per source allowed), WORK_MS=4,
#   TARGETS="nginx nginx-limit mamori". Default run: about 1.5 minutes.
# Every process is started here, tracked by PID and stopped on exit (also
# on failure or Ctrl-C); the namespaces, pins and temp dir are removed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
mamorid=${MAMORID:-$root/build/bin/mamorid}
mamorictl=${MAMORICTL:-$(dirname "$mamorid")/mamorictl}
duration=${DURATION:-15}
sources=${SOURCES:-4}
conns=${CONNS_PER_SOURCE:-4}
client_rate=${CLIENT_RATE:-10}
rate=${RATE:-20}
work_ms=${WORK_MS:-4}
targets=${TARGETS:-nginx nginx-limit mamori}
die() { echo "l7flood bench: $*" >&2; exit 1; }
for v in "$duration" "$sources" "$conns" "$client_rate" "$rate" "$work_ms"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || die "DURATION, SOURCES, CONNS_PER_SOURCE, CLIENT_RATE, RATE and WORK_MS must be positive integers"
done
[ "$duration" -le 60 ] || die "DURATION is at most 60 (seconds per target)"
[ "$sources" -le 50 ] || die "SOURCES is at most 50"
for t in $targets; do [[ $t =~ ^(nginx|nginx-limit|mamori)$ ]] || die "unknown target '$t'"; done
[ -x "$mamorid" ] && [ -x "$mamorictl" ] || die "$mamorid / mamorictl not built"
[ "$(id -u)" -eq 0 ] || die "run as root (namespaces, XDP)"
for p in nginx python3 curl; do
  dpkg -s "$p" >/dev/null 2>&1 || die "package $p is missing (apt-get install $p)"
done

here="$root/tests/e2e"
# shellcheck source=../../tests/e2e/lib/netns.sh
. "$here/lib/netns.sh"
lab_require
lab_init
PIN="/sys/fs/bpf/mamori-bench-l7flood-$$"
DIR=$(mktemp -d /tmp/mamori-bench-l7flood.XXXXXX)
lab_on_cleanup() { "$mamorid" --purge --pin-root "$PIN" >/dev/null 2>&1; rm -rf "$DIR"; }
FLOOD="$here/lib/http_flood.py"

lab_ns client; lab_ns attacker; lab_ns waf; lab_ns app
lab_link client 10.82.1.2 waf 10.82.1.1
lab_link attacker 10.82.3.2 waf 10.82.3.1
lab_link waf 10.82.2.1 app 10.82.2.2
lab_route client 10.82.1.1; lab_route attacker 10.82.3.1; lab_route app 10.82.2.1
attacker_dev=$(lab_dev attacker waf)
for i in $(seq 3 $((sources + 1))); do lab_exec attacker ip addr add "10.82.3.$i/24" dev "$attacker_dev"; done
lab_bg app python3 "$root/bench/l7flood/app.py" 10.82.2.2 8081 "$work_ms"
lab_wait_for 100 lab_exec waf curl -sf -o /dev/null --max-time 1 http://10.82.2.2:8081/ ||
  die "the app did not start"

mkdir -p "$DIR/tmp"
nginx_conf() {  # nginx_conf NAME LIMIT(0|1)
  local limit_zone="" limit_use=""
  if [ "$2" = 1 ]; then
    limit_zone="limit_req_zone \$binary_remote_addr zone=flood:10m rate=${rate}r/s;"
    limit_use="limit_req zone=flood burst=$rate nodelay; limit_req_status 429;"
  fi
  cat >"$DIR/$1.conf" <<CONF
worker_processes 1;
pid $DIR/$1.pid;
error_log $DIR/$1-error.log error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $DIR/tmp/$1-body;
  proxy_temp_path $DIR/tmp/$1-proxy;
  fastcgi_temp_path $DIR/tmp/$1-fcgi;
  uwsgi_temp_path $DIR/tmp/$1-uwsgi;
  scgi_temp_path $DIR/tmp/$1-scgi;
  keepalive_requests 1000000;
  $limit_zone
  upstream app { server 10.82.2.2:8081; keepalive 32; }
  server {
    listen 10.82.1.1:8080;
    listen 10.82.3.1:8080;
    location / {
      $limit_use
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_read_timeout 30s;
    }
  }
}
CONF
}
cat >"$DIR/mamori.yaml" <<YAML
workers: 1
shield:
  interfaces: [$(lab_dev waf client), $(lab_dev waf attacker)]
tenants:
  - id: bench
    sites:
      - name: app
        hosts: ["*"]
        listeners:
          - address: 0.0.0.0:8080
        upstreams:
          - address: 10.82.2.2:8081
        flood:
          per_ip: {requests: $rate, window: 1s}
          per_path: {requests: 0}
          ban: {after: $rate, window: 10s, ttl: 10m}
YAML

run_target() {  # run_target NAME -> one table row on stdout
  local t=$1 pid
  case "$t" in
    nginx) nginx_conf nginx 0; lab_bg waf nginx -c "$DIR/nginx.conf" -g 'daemon off;' ;;
    nginx-limit) nginx_conf nginx-limit 1; lab_bg waf nginx -c "$DIR/nginx-limit.conf" -g 'daemon off;' ;;
    mamori)
      lab_bg waf "$mamorid" --config "$DIR/mamori.yaml" --pin-root "$PIN" \
        --control-socket "$DIR/ctl.sock" --log-dir "$DIR/logs" --metrics off >"$DIR/mamorid.log" 2>&1 ;;
  esac
  pid=$LAB_LAST_PID
  lab_wait_for 200 lab_exec client curl -sf -o /dev/null --max-time 1 http://10.82.1.1:8080/ ||
    die "$t did not come up"
  local i fpids=()
  for i in $(seq 2 $((sources + 1))); do
    lab_exec attacker python3 "$FLOOD" 10.82.3.1 8080 --source "10.82.3.$i" --conns "$conns" \
      --count 2000000 --seconds "$duration" --timeout 1 >"$DIR/$t-flood-$i.json" &
    fpids+=("$!")
  done
  lab_exec client python3 "$FLOOD" 10.82.1.1 8080 --rate "$client_rate" \
    --count $((client_rate * duration)) --seconds "$((duration + 5))" --timeout 3 >"$DIR/$t-client.json"
  for i in "${fpids[@]}"; do wait "$i" || true; done
  local banned="-"
  if [ "$t" = mamori ]; then
    banned=$("$mamorictl" --socket "$DIR/ctl.sock" --output json bans list |
      python3 -c 'import json,sys; print(sum(1 for b in json.load(sys.stdin) if b["reason"] == "flood"))')
  fi
  lab_stop "$pid"
  python3 - "$t" "$DIR/$t-client.json" "$banned" "$DIR"/"$t"-flood-*.json <<'PY'
import json, sys
name, client, banned = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
floods = [json.load(open(p)) for p in sys.argv[4:]]
sent = sum(f["sent"] for f in floods)
ok = sum(f["status"].get("200", 0) for f in floods)
refused = sum(f["status"].get("429", 0) + f["status"].get("503", 0) for f in floods)
cut = sum(f["connect_fail"] + f["errors"] for f in floods)
p = lambda v: "-" if v is None else "%.1f" % v
print("| %-11s | %5.1f%% (%d/%d) | %8s | %8s | %8d | %8d | %8d | %8d | %s |" % (
    name, 100.0 * client["ok_rate"], client["status"].get("200", 0), client["sent"],
    p(client["p50_ms"]), p(client["p99_ms"]), sent, ok, refused, cut, banned))
PY
}

echo "L7 flood: $sources sources x $conns connections for ${duration}s; client $client_rate r/s;" \
  "limit $rate r/s per source; app ${work_ms} ms per request, one at a time"
echo
echo "| target      | client ok         | p50 ms   | p99 ms   | flood    | flood ok | refused  | cut      | bans |"
echo "|-------------|-------------------|----------|----------|----------|----------|----------|----------|------|"
for t in $targets; do run_target "$t"; done
