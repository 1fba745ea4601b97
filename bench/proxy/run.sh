#!/usr/bin/env bash
# Proxy throughput benchmark (issue #4): wrk against one upstream directly,
# through Debian's nginx as a reverse proxy, and through mamorid, in one run,
# over plain HTTP and TLS. Everything runs on loopback:
#
#   wrk ──► direct   upstream nginx (return 200 "ok"), plain and TLS ports
#   wrk ──► nginx    nginx reverse proxy ──► upstream (keep-alive pool)
#   wrk ──► mamorid  mamorid --listen --upstream  ──► upstream (keep-alive pool)
#
# The upstream is an nginx of its own (own master, own worker) answering
# every request with a 2-byte body, so it costs far less than a proxy hop.
# nginx and mamorid run with the same worker count ($WORKERS, default 1);
# nginx keeps upstream connections alive (upstream block with keepalive,
# HTTP/1.1, Connection "") and sets X-Forwarded-For/-Proto as mamorid does,
# so both do the same work per request. mamorid runs with no inspection
# (its quick start has no verdict hook yet): this measures the proxy path.
#
# Pinning (2 cores): the servers (upstream and the proxy under test) run on
# $SERVER_CPUS (default CPU 0) and wrk on $CLIENT_CPU (default CPU 1), so
# load generation does not steal the proxy's core. PIN=0 turns it off.
#
# Per target: a warm-up ($WARMUP), then a loaded run (wrk -t$THREADS
# -c$CONNS -d$DURATION --latency) for requests/s, p50 and p99, then a
# low-load run (-t1 -c$LOW_CONNS -d$LOW_DURATION) for the latency one hop
# adds without queueing. Targets are interleaved; with ROUNDS>1 the order
# rotates each round and the summary shows medians. The upstream's
# stub_status "accepts" counter is read around each loaded run, so the table
# shows how many upstream connections a proxy opened (keep-alive working =
# a handful, not one per request).
#
# TLS for mamorid needs --tls-cert/--tls-key; when `mamorid --help` does not
# list them the mamorid TLS row says "not available in this build".
#
# Usage: bench/proxy/run.sh   (root only for installing nginx/wrk if missing)
# Environment: MAMORID (default <repo>/build/bin/mamorid), WORKERS=1,
#   THREADS=1, CONNS=32, DURATION=8s, WARMUP=1s, LOW_CONNS=1,
#   LOW_DURATION=2s (0 skips the low-load runs), ROUNDS=2, PIN=1,
#   SERVER_CPUS=0, CLIENT_CPU=1, TARGETS="direct nginx mamorid",
#   SCHEMES="http https". Default run: about 2.5 minutes (2 rounds x 6 x 11 s).
# All processes are started by this script, tracked by PID and stopped on
# exit (also on failure or Ctrl-C); the temp dir is removed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/bench/proxy"
mamorid=${MAMORID:-$root/build/bin/mamorid}
workers=${WORKERS:-1}
threads=${THREADS:-1}
conns=${CONNS:-32}
duration=${DURATION:-8s}
warmup=${WARMUP:-1s}
low_conns=${LOW_CONNS:-1}
low_duration=${LOW_DURATION:-2s}
rounds=${ROUNDS:-2}
pin=${PIN:-1}
server_cpus=${SERVER_CPUS:-0}
client_cpu=${CLIENT_CPU:-1}
targets=${TARGETS:-direct nginx mamorid mamorid-rules nginx-modsec}
schemes=${SCHEMES:-http https}

die() { echo "proxy bench: $*" >&2; exit 1; }
[[ $workers =~ ^[1-9][0-9]*$ ]] || die "WORKERS must be a positive integer, got '$workers'"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$rounds'"
[[ $conns =~ ^[1-9][0-9]*$ && $threads =~ ^[1-9][0-9]*$ ]] || die "CONNS and THREADS must be positive integers"
for t in $targets; do
  [[ $t =~ ^(direct|nginx|mamorid|mamorid-rules|nginx-modsec)$ ]] || die "unknown target '$t' in TARGETS"
done
for s in $schemes; do [[ $s =~ ^(http|https)$ ]] || die "unknown scheme '$s' in SCHEMES"; done
[ -x "$mamorid" ] || die "$mamorid not built (cmake --preset release && ninja -C build mamorid)"

# Bench dependencies are installed here, not by scripts/bootstrap (as
# /work/shared/tools/baseline/modsec_up.sh does): only the benchmark needs them.
missing=""
for p in nginx wrk openssl curl python3; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  [ "$(id -u)" -eq 0 ] || die "missing packages:$missing (run as root to install them)"
  echo "proxy bench: installing$missing" >&2
  apt-get update -qq
  # shellcheck disable=SC2086  # word-splitting of the package list is intended
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
fi
ncpu=$(nproc)

dir=$(mktemp -d /tmp/mamori-bench-proxy.XXXXXX)
pids=()
shared=${SHARED:-$root/../shared}
modsec_started=0
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$modsec_started" = 1 ]; then
    RUN_DIR="$dir/baseline" "$shared/tools/baseline/modsec_down.sh" >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Command prefixes that pin servers and wrk (empty with PIN=0 or on one
# CPU). Arrays, not a function: a background function would run in a subshell
# whose PID is not the server's, and killing it would leave the server alive.
server_pin=()
client_pin=()
if [ "$pin" = 1 ] && [ "$workers" -gt 1 ] && [ -z "${SERVER_CPUS:-}" ]; then
  echo "proxy bench: note: $workers workers share CPU $server_cpus; set SERVER_CPUS (and CLIENT_CPU) or PIN=0" >&2
fi
if [ "$pin" = 1 ] && [ "$ncpu" -gt 1 ]; then
  server_pin=(taskset -c "$server_cpus")
  client_pin=(taskset -c "$client_cpu")
fi
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# Waits until $1 answers 200 with body "ok" (through every hop).
wait_ok() {  # up to 60 s: a mamorid with every rule on compiles them first
  local body
  for _ in $(seq 1200); do
    body=$(curl -sk --max-time 2 "$1" 2>/dev/null || true)
    [ "$body" = "ok" ] && return 0
    sleep 0.05
  done
  return 1
}

mkdir -p "$dir/logs" "$dir/tmp"
# One self-signed ECDSA P-256 certificate for every TLS listener: all three
# TLS targets use the same OpenSSL 3 and the same key type.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null

up_http=$(free_port)
up_https=$(free_port)
up_status=$(free_port)
ngx_http=$(free_port)
ngx_https=$(free_port)
mm_http=$(free_port)
mm_https=$(free_port)

tls_directives="ssl_certificate $dir/cert.pem; ssl_certificate_key $dir/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:1m;"

cat >"$dir/upstream.conf" <<CONF
# upstream: 200 "ok" for any method and path; its own master and worker
worker_processes 1;
pid $dir/upstream.pid;
error_log $dir/logs/upstream-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/upstream-body;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$up_http default_server;
    listen 127.0.0.1:$up_https ssl default_server;
    $tls_directives
    location / { default_type text/plain; return 200 "ok"; }
  }
  server {
    listen 127.0.0.1:$up_status;
    location / { stub_status; }
  }
}
CONF

cat >"$dir/nginx.conf" <<CONF
# nginx reverse proxy under test, keep-alive to the upstream
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/logs/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/nginx-body;
  proxy_temp_path $dir/tmp/nginx-proxy;
  keepalive_requests 1000000;
  upstream app { server 127.0.0.1:$up_http; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$ngx_http default_server;
    listen 127.0.0.1:$ngx_https ssl default_server;
    $tls_directives
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
    }
  }
}
CONF

start_nginx() {  # $1 config name; foreground master in the background, so $! is its PID
  nginx -t -q -p "$dir" -c "$dir/$1.conf" || die "nginx rejects $dir/$1.conf"
  "${server_pin[@]}" nginx -p "$dir" -c "$dir/$1.conf" -g 'daemon off;' \
    >"$dir/logs/$1.out" 2>&1 &
  pids+=("$!")
}
start_nginx upstream
wait_ok "http://127.0.0.1:$up_http/" || die "upstream did not come up ($dir/logs)"
wait_ok "https://127.0.0.1:$up_https/" || die "upstream TLS did not come up"
start_nginx nginx

mamorid_tls=0
if "$mamorid" --help 2>&1 | grep -q -- '--tls-cert'; then mamorid_tls=1; fi
# "mamorid": inspection off (an empty rule set), the engine alone (issue
# #4); "mamorid-rules": every default rule on (issue #5). Each mamorid gets
# its own control socket and log directory and no metrics server, so none
# collides with another or with a host daemon.
mkdir -p "$dir/no-rules"
start_mamorid() {  # start_mamorid NAME PORT RULES_DIR [extra args]
  local name=$1 port=$2 rules=$3
  shift 3
  "${server_pin[@]}" "$mamorid" --listen "127.0.0.1:$port" --upstream "127.0.0.1:$up_http" \
    --workers "$workers" --rules "$rules" --control-socket "$dir/$name.sock" \
    --log-dir "$dir/$name-logs" --metrics off "$@" >"$dir/logs/$name.log" 2>&1 &
  pids+=("$!")
}
mmr_http=$(free_port)
mmr_https=$(free_port)
start_mamorid mamorid-http "$mm_http" "$dir/no-rules"
start_mamorid mamorid-rules-http "$mmr_http" "$root/rules"
if [ "$mamorid_tls" = 1 ]; then
  start_mamorid mamorid-https "$mm_https" "$dir/no-rules" \
    --tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem"
  start_mamorid mamorid-rules-https "$mmr_https" "$root/rules" \
    --tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem"
fi
# nginx + ModSecurity v3 + OWASP CRS 3.3.4 at PL1, plain HTTP only, from
# ../shared/tools/baseline (its own "ok" backend, like ours an nginx).
modsec_port=18082
if [[ " $targets " == *" nginx-modsec "* ]]; then
  RUN_DIR="$dir/baseline" FRONT_WORKERS="$workers" "$shared/tools/baseline/modsec_up.sh" \
    >"$dir/logs/baseline.log" 2>&1 || die "baseline did not start ($dir/logs/baseline.log)"
  modsec_started=1
fi

url_of() {  # $1 target, $2 scheme
  local port
  case "$1-$2" in
    direct-http) port=$up_http ;;
    direct-https) port=$up_https ;;
    nginx-http) port=$ngx_http ;;
    nginx-https) port=$ngx_https ;;
    mamorid-http) port=$mm_http ;;
    mamorid-https) port=$mm_https ;;
    mamorid-rules-http) port=$mmr_http ;;
    mamorid-rules-https) port=$mmr_https ;;
    nginx-modsec-http) port=$modsec_port ;;
  esac
  echo "$2://127.0.0.1:$port/"
}
available() {  # $1 target, $2 scheme
  [ "$1" = nginx-modsec ] && [ "$2" = https ] && return 1
  [[ $1 != mamorid* ]] || [ "$2" = http ] || [ "$mamorid_tls" = 1 ]
}

# Every target must answer before anything is measured.
for s in $schemes; do
  for t in $targets; do
    available "$t" "$s" || continue
    if ! wait_ok "$(url_of "$t" "$s")"; then
      tail -n 20 "$dir"/logs/* >&2 || true
      die "$t over $s does not answer 200 ok at $(url_of "$t" "$s")"
    fi
  done
done

# stub_status "accepts" counts the status query's own connection too, so a
# delta between two reads includes one extra (the later query): the caller
# subtracts it.
upstream_accepts() {
  curl -s --max-time 2 "http://127.0.0.1:$up_status/" | awk 'NR == 3 { print $1 }'
}

# wrk output → "rps p50_ms p99_ms errors requests" (bench/proxy/parse_wrk.awk).
parse_wrk() { awk -f "$here/parse_wrk.awk"; }

run_wrk() {  # $1 url, $2 threads, $3 conns, $4 duration → wrk output
  "${client_pin[@]}" wrk -t"$2" -c"$3" -d"$4" --latency "$1"
}

results="$dir/results"
: >"$results"
pairs=()
for s in $schemes; do for t in $targets; do pairs+=("$t $s"); done; done
n=${#pairs[@]}
echo "proxy bench: $rounds round(s) x $n targets; load wrk -t$threads -c$conns -d$duration," \
  "low load -t1 -c$low_conns -d$low_duration; workers=$workers;" \
  "pinning: $([ "$pin" = 1 ] && echo "servers on CPU $server_cpus, wrk on CPU $client_cpu" || echo off)" >&2
for ((r = 0; r < rounds; r++)); do
  for ((i = 0; i < n; i++)); do
    read -r t s <<<"${pairs[$(((i + r) % n))]}"
    if ! available "$t" "$s"; then
      echo "$r $t $s load na" >>"$results"
      continue
    fi
    url=$(url_of "$t" "$s")
    run_wrk "$url" "$threads" "$conns" "$warmup" >/dev/null
    a0=$(upstream_accepts)
    out=$(run_wrk "$url" "$threads" "$conns" "$duration")
    a1=$(upstream_accepts)
    line=$(parse_wrk <<<"$out") || { echo "$out" >&2; die "cannot parse wrk output for $url"; }
    echo "$r $t $s load $line $((a1 - a0 - 1))" >>"$results"
    echo "round $r $t $s load: $line upstream_accepts=$((a1 - a0 - 1))" >&2
    if [ "$low_duration" != 0 ]; then
      out=$(run_wrk "$url" 1 "$low_conns" "$low_duration")
      line=$(parse_wrk <<<"$out") || { echo "$out" >&2; die "cannot parse wrk output for $url"; }
      echo "$r $t $s low $line" >>"$results"
      echo "round $r $t $s low:  $line" >&2
    fi
  done
done

# A proxy that stopped answering mid-run would show up as errors; say so.
for pid in "${pids[@]}"; do
  kill -0 "$pid" 2>/dev/null || die "a server (pid $pid) died during the run; logs: $(tail -n 5 "$dir"/logs/*)"
done

awk -v order="$targets" -v schemes="$schemes" -v workers="$workers" -v conns="$conns" \
  -v low_conns="$low_conns" -f "$here/summary.awk" "$results"
