#!/usr/bin/env bash
# Signature-engine benchmarks (issue #5), one run:
#  1. detection: corpus_eval over the CRS regression corpus at paranoia 1
#     (per-class table, TPR/TNR; the CRS baseline is 1590/2237 PL1 attacks
#     blocked and 745/1017 benign passed, measured with ftw_run.py);
#  2. throughput: mamori's in-process inspection vs libmodsecurity3 + OWASP
#     CRS on the same requests, one thread each, and the ratio.
# Installs libmodsecurity-dev and modsecurity-crs with apt-get when missing
# (bench-only dependencies, deliberately not in scripts/bootstrap) and then
# builds modsec_throughput. Environment: BENCH_BIN (default build/bench-bin),
# CORPUS_DIR (default ../shared/corpus/crs-regression/tests), ROUNDS, REPEAT.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${BENCH_BIN:-$root/build/bench-bin}
# The corpus sits in ../shared beside the main checkout (two levels up
# from a worktree under wt/).
tests=${CORPUS_DIR:-}
if [ -z "$tests" ]; then
  for c in "$root/../shared" "$root/../../shared"; do
    if [ -d "$c/corpus/crs-regression/tests" ]; then tests=$(cd "$c" && pwd)/corpus/crs-regression/tests; break; fi
  done
fi
rounds=${ROUNDS:-5}
repeat=${REPEAT:-20000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -z "$tests" ] || [ ! -d "$tests" ]; then echo "bench/inspect: no corpus at $tests (set CORPUS_DIR)" >&2; exit 1; fi
python3 "$root/bench/inspect/ftw_to_raw.py" --tests "$tests" --out "$work/crs.raw"

echo "### Detection at paranoia 1 (corpus_eval)"
"$bin/corpus_eval" --rules "$root/rules" --corpus "$work/crs.raw" | sed -n '1,/^score: /p'
echo

if ! pkg-config --exists modsecurity || [ ! -d /usr/share/modsecurity-crs/rules ]; then
  echo "bench/inspect: installing libmodsecurity-dev modsecurity-crs" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q libmodsecurity-dev modsecurity-crs >&2
fi
if [ ! -x "$bin/modsec_throughput" ]; then
  build_dir=$(dirname "$bin")
  cmake "$build_dir" >/dev/null
  ninja -C "$build_dir" -j1 modsec_throughput >&2
fi

echo "### In-process inspection throughput (one thread each)"
"$bin/throughput" --rules "$root/rules" --corpus "$work/crs.raw" --rounds "$rounds" \
  --repeat "$repeat" | tee "$work/mamori.txt"
echo
"$bin/modsec_throughput" --corpus "$work/crs.raw" --rounds "$(( rounds < 3 ? rounds : 3 ))" \
  --repeat "$(( repeat / 10 > 0 ? repeat / 10 : 1 ))" | tee "$work/modsec.txt"
echo
awk 'function field(name,   i, kv) {  # value of NAME=... on the current line
       for (i = 3; i <= NF; ++i) { split($i, kv, "="); if (kv[1] == name) return kv[2] }
       return 0
     }
     /^RESULT mamori/ { m = field("rps"); p = field("p99_4k_us"); mc = field("cpu_rps");
                        cp50 = field("cpu_p50_4k_us"); cp99 = field("cpu_p99_4k_us")
                        ip50 = field("cpu_p50_4k_inspect_us"); ip99 = field("cpu_p99_4k_inspect_us") }
     /^RESULT modsec/ { s = field("rps"); sc = field("cpu_rps") }
     END {
       if (s > 0) printf "mamori / libmodsecurity requests/s: %.1fx wall clock, %.1fx thread CPU time (goal >= 50x)\n", m / s, (sc > 0 ? mc / sc : 0)
       printf "mamori p99 for a 4 KiB request: %.1f us wall clock; thread CPU time p50 %.1f us, p99 %.1f us (goal < 100 us)\n", p, cp50, cp99
       printf "  of which inspection alone (body parse + inspect, HTTP head parsed before): thread CPU p50 %.1f us, p99 %.1f us\n", ip50, ip99
     }' "$work/mamori.txt" "$work/modsec.txt"
