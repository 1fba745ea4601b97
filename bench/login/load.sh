#!/usr/bin/env bash
# Load test of login protection (issue #7: "the detector costs under 5% of
# the proxy's throughput when enabled"). On loopback:
#
#   wrk (mix.lua) ──► mamorid "login"     (site with a login: section) ──┐
#   wrk (mix.lua) ──► mamorid "nologin"   (the same site without it)  ───┴► nginx upstream
#
# Both mamorids run at once from config files that differ only in the
# `login:` section, with no signature rules (an empty --rules dir: the
# proxy path alone, the strictest base to compare against) and no shield.
# The upstream is an nginx of its own answering 200 to everything (POST
# /login: "Invalid username or password", which the login route counts as
# a failure). The traffic (bench/login/mix.lua): LOGIN_PCT percent (default
# 5) POST /login with a wrong password for one of 100000 usernames, the rest
# GETs of assorted pages.
#
# All wrk traffic comes from 127.0.0.1, which would trip the per-source
# counters within a second; a restricted source's refused attempts are
# cheaper than forwarded ones and would flatter the ratio. So the login
# config raises every threshold to 60000 in a 6 s window (the shortest: six
# 1 s buckets): every login is parsed, forwarded, its response held and
# classified, and all seven counters update, but nothing is restricted as
# long as failed logins stay under 10000/s. The run checks that (no non-2xx
# answers in any round, the guard's failure count for 127.0.0.1 is > 0, no
# source restricted, no username locked).
#
# Rounds are interleaved (the order alternates each round); each round runs
# a warm-up ($WARMUP) and a loaded run (wrk -t$THREADS -c$CONNS -d$DURATION)
# per config. Pinning as bench/proxy/run.sh: servers on $SERVER_CPUS (CPU 0),
# wrk on $CLIENT_CPU (CPU 1); PIN=0 turns it off. The summary gives median
# req/s per config, the ratio of medians and the median of the per-round
# ratios (login / nologin; goal >= 0.95), and mamorid's CPU time per request
# (user + system, from /proc/PID/stat around each loaded run), which moves
# less than req/s when other work shares the machine.
#
# Usage: bench/login/load.sh
# Environment: MAMORID, MAMORICTL (default <repo>/build/bin/...), WORKERS=1,
#   THREADS=1, CONNS=32, DURATION=8s, WARMUP=1s, ROUNDS=6, LOGIN_PCT=5, PIN=1,
#   SERVER_CPUS=0, CLIENT_CPU=1. Default run: about 2 minutes.
# Every process is started by this script, tracked by PID and stopped on
# exit (also on failure or Ctrl-C); the temp dir is removed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/bench/login"
mamorid=${MAMORID:-$root/build/bin/mamorid}
mamorictl=${MAMORICTL:-$(dirname "$mamorid")/mamorictl}
workers=${WORKERS:-1}
threads=${THREADS:-1}
conns=${CONNS:-32}
duration=${DURATION:-8s}
warmup=${WARMUP:-1s}
rounds=${ROUNDS:-6}
login_pct=${LOGIN_PCT:-5}
pin=${PIN:-1}
server_cpus=${SERVER_CPUS:-0}
client_cpu=${CLIENT_CPU:-1}

die() { echo "login load: $*" >&2; exit 1; }
[[ $workers =~ ^[1-9][0-9]*$ ]] || die "WORKERS must be a positive integer, got '$workers'"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$rounds'"
[[ $conns =~ ^[1-9][0-9]*$ && $threads =~ ^[1-9][0-9]*$ ]] || die "CONNS and THREADS must be positive integers"
if ! [[ $login_pct =~ ^[0-9]+$ ]] || [ "$login_pct" -gt 100 ]; then die "LOGIN_PCT must be 0..100, got '$login_pct'"; fi
if [ ! -x "$mamorid" ] || [ ! -x "$mamorictl" ]; then die "$mamorid / $mamorictl not built"; fi

missing=""
for p in nginx wrk curl python3; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  [ "$(id -u)" -eq 0 ] || die "missing packages:$missing (run as root to install them)"
  echo "login load: installing$missing" >&2
  apt-get update -qq
  # shellcheck disable=SC2086  # word-splitting of the package list is intended
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
fi

dir=$(mktemp -d /tmp/mamori-bench-login-load.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

server_pin=()
client_pin=()
if [ "$pin" = 1 ] && [ "$(nproc)" -gt 1 ]; then
  server_pin=(taskset -c "$server_cpus")
  client_pin=(taskset -c "$client_cpu")
fi
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_200() {  # $1 url; up to 30 s
  for _ in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null)" = 200 ] && return 0
    sleep 0.05
  done
  return 1
}

mkdir -p "$dir/logs" "$dir/tmp" "$dir/no-rules"
up=$(free_port)
cat >"$dir/upstream.conf" <<CONF
worker_processes 1;
pid $dir/upstream.pid;
error_log $dir/logs/upstream-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/upstream-body;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$up default_server;
    location = /login { default_type text/html; return 200 "<p>Invalid username or password</p>"; }
    location / { default_type text/html; return 200 "ok"; }
  }
}
CONF
nginx -t -q -p "$dir" -c "$dir/upstream.conf" || die "nginx rejects $dir/upstream.conf"
"${server_pin[@]}" nginx -p "$dir" -c "$dir/upstream.conf" -g 'daemon off;' >"$dir/logs/upstream.out" 2>&1 &
pids+=("$!")
wait_200 "http://127.0.0.1:$up/" || die "upstream did not come up"

declare -A port mpid
write_config() {  # $1 name, $2 with login (1/0)
  local p
  p=$(free_port)
  port[$1]=$p
  cat >"$dir/$1.yaml" <<YAML
workers: $workers
tenants:
  - id: bench
    sites:
      - name: shop
        hosts: ["*"]
        listeners:
          - address: 127.0.0.1:$p
        upstreams:
          - address: 127.0.0.1:$up
YAML
  if [ "$2" = 1 ]; then
    cat >>"$dir/$1.yaml" <<'YAML'
        login:
          routes:
            - name: form
              path: /login
              username: {form: username}
              failure: [{status: 200, body_contains: "Invalid username or password"}]
              success: [{status: 302, location_prefix: /welcome}]
          limits:
            failures_per_ip: {threshold: 60000, window: 6s}
            failures_per_user_ip: {threshold: 60000, window: 6s}
            distinct_users_per_ip: {threshold: 60000, window: 6s}
            failures_per_user: {threshold: 60000, window: 6s}
            distinct_ips_per_user: {threshold: 60000, window: 6s}
            failures_per_v4_24: {threshold: 60000, window: 6s}
            failures_per_v6_64: {threshold: 60000, window: 6s}
YAML
  fi
  "$mamorid" --check-config "$dir/$1.yaml" >/dev/null || die "mamorid refused $dir/$1.yaml"
  "${server_pin[@]}" "$mamorid" --config "$dir/$1.yaml" --rules "$dir/no-rules" \
    --control-socket "$dir/$1.sock" --log-dir "$dir/$1-logs" --metrics off >"$dir/logs/$1.log" 2>&1 &
  pids+=("$!")
  mpid[$1]=$!  # taskset execs mamorid: the same PID
}
write_config login 1
write_config nologin 0
for c in login nologin; do
  wait_200 "http://127.0.0.1:${port[$c]}/" || { tail -n 20 "$dir/logs/$c.log" >&2; die "mamorid $c does not answer"; }
done
grep -q "login protection on" "$dir/logs/login.log" || die "the login config did not turn login protection on"
if grep -q "login protection on" "$dir/logs/nologin.log"; then die "the nologin config has login protection on"; fi

run_wrk() {  # $1 url, $2 duration → wrk output
  "${client_pin[@]}" wrk -t"$threads" -c"$conns" -d"$2" --latency -s "$here/mix.lua" "$1" -- "$login_pct"
}
# user + system CPU time of a process, in clock ticks (/proc/PID/stat
# fields 14 and 15; the command name in field 2 has no spaces here).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
tick_us=$((1000000 / $(getconf CLK_TCK)))
results="$dir/results"
: >"$results"
echo "login load: $rounds round(s); wrk -t$threads -c$conns -d$duration, $login_pct% failed logins;" \
  "workers=$workers; pinning: $([ ${#server_pin[@]} -gt 0 ] && echo "servers on CPU $server_cpus, wrk on CPU $client_cpu" || echo off)" >&2
for ((r = 0; r < rounds; r++)); do
  order="login nologin"
  [ $((r % 2)) = 1 ] && order="nologin login"
  for c in $order; do
    url="http://127.0.0.1:${port[$c]}/"
    run_wrk "$url" "$warmup" >/dev/null
    t0=$(cpu_ticks "${mpid[$c]}")
    out=$(run_wrk "$url" "$duration")
    t1=$(cpu_ticks "${mpid[$c]}")
    line=$(awk -f "$root/bench/proxy/parse_wrk.awk" <<<"$out") || { echo "$out" >&2; die "cannot parse wrk output"; }
    echo "$r $c $line $((t1 - t0))" >>"$results"
    echo "round $r $c: $line cpu_ticks=$((t1 - t0))" >&2
    read -r _ _ _ errs _ <<<"$line"
    [ "$errs" = 0 ] || die "$c answered $errs errors or non-2xx in round $r (with login: a counter" \
      "tripped, too many failed logins per second for the raised thresholds; lower LOGIN_PCT)"
  done
done
for pid in "${pids[@]}"; do
  kill -0 "$pid" 2>/dev/null || die "a server (pid $pid) died during the run"
done
# The guard saw the failures, and restricted nobody.
state=$("$mamorictl" --socket "$dir/login.sock" --output json login status --site shop | python3 -c '
import json, sys
s = json.load(sys.stdin)[0]
fails = sum(t["failures"] for t in s["top_sources"] if t["source"] == "127.0.0.1")
print(fails, len(s["restricted"]), len(s["locked"]))')
read -r fails restricted locked <<<"$state"
[ "$fails" -gt 0 ] || die "the guard counted no failed login from 127.0.0.1"
[ "$restricted" = 0 ] || die "the guard restricted $restricted source(s)"
[ "$locked" = 0 ] || die "the guard locked $locked username(s)"

awk -v pct="$login_pct" -v fails="$fails" -v tick_us="$tick_us" -v workers="$workers" -v conns="$conns" '
function median(c,    n, i, j, v, t) {
  n = cnt[c]
  for (i = 1; i <= n; i++) t[i] = val[c, i]
  for (i = 2; i <= n; i++) { v = t[i]; for (j = i - 1; j >= 1 && t[j] > v; j--) t[j + 1] = t[j]; t[j + 1] = v }
  return n % 2 ? t[(n + 1) / 2] : (t[n / 2] + t[n / 2 + 1]) / 2
}
{ val[$2, ++cnt[$2]] = $3; err[$2] += $6; rps[$1, $2] = $3
  c = "cpu" $2; val[c, ++cnt[c]] = $8 * tick_us / $7 }
END {
  printf "login protection load (workers=%d, %d connections, %d%% failed logins, no signature rules)\n", workers, conns, pct
  printf "%-8s %10s %14s %8s %7s\n", "config", "req/s", "mamorid us/req", "rounds", "errors"
  split("nologin login", cs, " ")
  for (k = 1; k <= 2; k++)
    printf "%-8s %10.0f %14.2f %8d %7d\n", cs[k], median(cs[k]), median("cpu" cs[k]), cnt[cs[k]], err[cs[k]]
  n = 0
  for (r = 0; r < cnt["login"]; r++) { ratio["x", ++n] = rps[r, "login"] / rps[r, "nologin"]; line = line sprintf(" %.3f", ratio["x", n]) }
  cnt["x"] = n
  for (i = 1; i <= n; i++) val["x", i] = ratio["x", i]
  printf "per-round login/nologin:%s\n", line
  printf "goal: login/nologin req/s %.3f (ratio of medians), %.3f (median of round ratios); goal >= 0.95\n", \
    median("login") / median("nologin"), median("x")
  printf "mamorid CPU per request: login/nologin %.3f (%.2f us more per request, %.1f us per login attempt)\n", \
    median("cpulogin") / median("cpunologin"), median("cpulogin") - median("cpunologin"), \
    (pct > 0 ? (median("cpulogin") - median("cpunologin")) * 100 / pct : 0)
  printf "(us/req = mamorid user+system CPU time during the loaded run / requests, median of rounds;\n"
  printf " less sensitive to other load on the machine than req/s)\n"
  printf "(errors = socket errors + non-2xx answers; at the end the guard held %d failures for 127.0.0.1\n in its 6 s window and had restricted nothing)\n", fails
}' "$results"
