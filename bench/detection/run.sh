#!/usr/bin/env bash
# Detection through the proxy, mamori vs the incumbent, in one run (issue #5):
# the OWASP CRS regression corpus replayed with ../shared/tools/ftw_run.py
# (judged by HTTP status alone) against
#   - mamorid with its default rule set (paranoia 1), in front of the backend;
#   - nginx + ModSecurity v3 + OWASP CRS 3.3.4 at paranoia 1 (Debian packages,
#     brought up by ../shared/tools/baseline/modsec_up.sh), same backend.
# Prints each runner's per-class table and score line, then a summary.
#
# Environment: SHARED (default <repo>/../shared), MAMORID (default
# <repo>/build/bin/mamorid), CONCURRENCY (ftw_run.py, default 8).
# Everything started here is stopped by PID on exit, also on failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
shared=${SHARED:-$root/../shared}
mamorid=${MAMORID:-$root/build/bin/mamorid}
concurrency=${CONCURRENCY:-8}
tests="$shared/corpus/crs-regression/tests"
[ -d "$tests" ] || { echo "bench/detection: no corpus at $tests (set SHARED)" >&2; exit 1; }
[ -x "$mamorid" ] || { echo "bench/detection: build mamorid first" >&2; exit 1; }

work=$(mktemp -d /tmp/mamori-bench-detection.XXXXXX)
export RUN_DIR="$work/baseline"
mamorid_pid=""
cleanup() {
  [ -n "$mamorid_pid" ] && kill "$mamorid_pid" 2>/dev/null && wait "$mamorid_pid" 2>/dev/null
  "$shared/tools/baseline/modsec_down.sh" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$shared/tools/baseline/modsec_up.sh" >"$work/baseline.log" 2>&1 ||
  { cat "$work/baseline.log"; exit 1; }
port=18090
"$mamorid" --listen "127.0.0.1:$port" --upstream 127.0.0.1:18080 --workers 1 \
  --control-socket "$work/control.sock" --log-dir "$work/logs" --metrics off \
  >"$work/mamorid.log" 2>&1 &
mamorid_pid=$!
for _ in $(seq 600); do
  grep -q "proxy listening" "$work/mamorid.log" && break
  kill -0 "$mamorid_pid" 2>/dev/null || { cat "$work/mamorid.log"; exit 1; }
  sleep 0.1
done
grep -q "proxy listening" "$work/mamorid.log" || { cat "$work/mamorid.log"; exit 1; }

run() {  # run NAME URL
  echo "### $1 ($2)"
  python3 "$shared/tools/ftw_run.py" "$2" --tests "$tests" --pl 1 \
    --concurrency "$concurrency" --out "$work/$1.json" | tee "$work/$1.txt"
  echo
}
run mamori "http://127.0.0.1:$port"
run modsecurity-crs-pl1 "http://127.0.0.1:18082"

echo "### summary (paranoia 1; attacks = stages of rules at PL1)"
for name in mamori modsecurity-crs-pl1; do
  printf '%-22s %s\n' "$name" "$(grep -E '^score' "$work/$name.txt" | tr '\n' ' ')"
done
