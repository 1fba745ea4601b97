#!/usr/bin/env bash
# Checks the two awk programs of the proxy benchmark on canned input: wrk
# reports in every latency unit, with socket errors and non-2xx answers, a
# failed wrk run, and a two-round result file through summary.awk (medians,
# ratio to nginx, p99 added, a target missing from the build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
failures=0
check() {  # $1 name, $2 expected, $3 actual
  if [ "$2" = "$3" ]; then
    echo "ok: $1"
  else
    echo "FAIL: $1"$'\n'"  want: $2"$'\n'"  got:  $3"
    failures=$((failures + 1))
  fi
}
parse() { awk -f "$here/parse_wrk.awk"; }

check "microseconds, no errors" "159735.8 0.017 0.539 0 175703" "$(parse <<'WRK'
Running 1s test @ http://127.0.0.1:28080/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    39.04us  227.28us   4.35ms   98.90%
    Req/Sec   160.76k     4.92k  167.46k    54.55%
  Latency Distribution
     50%   17.00us
     75%   20.00us
     90%   21.00us
     99%  539.00us
  175703 requests in 1.10s, 24.97MB read
Requests/sec: 159735.81
Transfer/sec:     22.70MB
WRK
)"

check "ms and s, socket errors and non-2xx" "812.5 1.250 2100.000 19 8200" "$(parse <<'WRK'
Running 10s test @ https://127.0.0.1:4443/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms   40.00ms   2.20s    99.00%
    Req/Sec   820.00    100.00     1.00k    70.00%
  Latency Distribution
     50%    1.25ms
     75%    1.50ms
     90%    2.00ms
     99%    2.10s
  8200 requests in 10.09s, 1.00MB read
  Socket errors: connect 2, read 3, write 0, timeout 4
  Non-2xx or 3xx responses: 10
Requests/sec:    812.48
Transfer/sec:    101.00KB
WRK
)"

set +e
parse >/dev/null <<'WRK'
unable to connect to 127.0.0.1:1 Connection refused
WRK
rc=$?
set -e
check "a failed wrk run is an error" 1 "$rc"

summary=$(awk -v order="direct nginx mamorid" -v schemes="http https" -v workers=1 -v conns=32 \
  -v low_conns=1 -f "$here/summary.awk" <<'RES'
0 direct http load 100000.0 0.100 1.000 0 1000000 0
0 direct http low 10000.0 0.050 0.200 0 30000
0 nginx http load 40000.0 0.500 2.000 0 400000 1
0 nginx http low 8000.0 0.060 0.300 0 24000
0 mamorid http load 30000.0 0.800 3.000 5 300000 900
0 mamorid http low 8000.0 0.070 0.400 0 24000
0 direct https load 80000.0 0.100 1.000 0 800000 0
0 nginx https load 30000.0 0.600 2.500 0 300000 0
0 mamorid https load na
1 direct http load 120000.0 0.100 3.000 0 1200000 0
1 direct http low 10000.0 0.050 0.400 0 30000
1 nginx http load 44000.0 0.500 2.000 0 440000 0
1 nginx http low 8000.0 0.060 0.300 0 24000
1 mamorid http load 34000.0 0.600 5.000 1 340000 1100
1 mamorid http low 8000.0 0.070 0.600 0 24000
1 direct https load 80000.0 0.100 1.000 0 800000 0
1 nginx https load 30000.0 0.600 2.500 0 300000 0
1 mamorid https load na
RES
)
row() { grep -E "^$1 " <<<"$(sed -n "/^$2/,/^$/p" <<<"$summary")" | tr -s ' '; }
# direct p99 median (1+3)/2 = 2; mamorid p99 (3+5)/2 = 4 → +2.000; low p99
# direct 0.3, mamorid 0.5 → +0.200; req/s 32000 / 42000 = 0.76.
check "direct row" "direct 110000 0.100 2.000 2.62 - 0 - | 0.050 0.300 -" "$(row direct "plain HTTP")"
check "nginx row" "nginx 42000 0.500 2.000 1.00 +0.000 0 0 | 0.060 0.300 +0.000" "$(row nginx "plain HTTP")"
check "mamorid row" "mamorid 32000 0.700 4.000 0.76 +2.000 6 1000 | 0.070 0.500 +0.200" "$(row mamorid "plain HTTP")"
check "TLS row without the flags" "mamorid not available in this build" "$(row mamorid "TLS")"
check "TLS nginx row without low-load runs" "nginx 30000 0.600 2.500 1.00 +1.500 0 0 | - - -" "$(row nginx "TLS")"
check "goal line" \
  "goal http: mamorid/nginx req/s 0.76 (goal >= 1.00); mamorid p99 added +2.000 ms loaded, +0.200 ms low load (goal < 1 ms)" \
  "$(grep '^goal http' <<<"$summary")"
check "no goal line for a scheme mamorid did not run" "" "$(grep '^goal https' <<<"$summary" || true)"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
