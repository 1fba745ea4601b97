# Summarises bench/proxy/run.sh results: one table per scheme, medians over
# rounds. Input lines (one per wrk run):
#   ROUND TARGET SCHEME load RPS P50_MS P99_MS ERRORS REQUESTS UPSTREAM_ACCEPTS
#   ROUND TARGET SCHEME low  RPS P50_MS P99_MS ERRORS REQUESTS
#   ROUND TARGET SCHEME load na            (target not available in this build)
# Variables: order (targets, space separated), schemes, workers, conns, low_conns.

function median(key,    n, i, j, v, tmp) {
  n = cnt[key]
  if (n == 0) return ""
  for (i = 1; i <= n; i++) tmp[i] = val[key, i]
  for (i = 2; i <= n; i++) {  # insertion sort: a handful of rounds
    v = tmp[i]
    for (j = i - 1; j >= 1 && tmp[j] > v; j--) tmp[j + 1] = tmp[j]
    tmp[j + 1] = v
  }
  if (n % 2) return tmp[(n + 1) / 2]
  return (tmp[n / 2] + tmp[n / 2 + 1]) / 2
}
function add(key, v) { val[key, ++cnt[key]] = v }
function fmt(v, f) { return v == "" ? "-" : sprintf(f, v) }
# A difference of equal medians can come out as -0.000: snap it to zero.
function diff(a, b) { return (a - b < 0.0005 && b - a < 0.0005) ? 0 : a - b }

{
  t = $2; s = $3; mode = $4
  if ($5 == "na") { na[t, s] = 1; next }
  add(t SUBSEP s SUBSEP mode SUBSEP "rps", $5)
  add(t SUBSEP s SUBSEP mode SUBSEP "p50", $6)
  add(t SUBSEP s SUBSEP mode SUBSEP "p99", $7)
  errors[t, s] += $8
  if (mode == "load") add(t SUBSEP s SUBSEP mode SUBSEP "acc", $10)
}

END {
  nt = split(order, targets, " ")
  ns = split(schemes, sch, " ")
  for (k = 1; k <= ns; k++) {
    s = sch[k]
    printf "%s (workers=%d, load: %d connections, low load: %d)\n", \
      s == "http" ? "plain HTTP" : "TLS (HTTP/1.1 over TLS)", workers, conns, low_conns
    printf "%-13s %10s %8s %8s %8s %9s %7s %9s | %8s %8s %9s\n", "target", "req/s", "p50 ms", \
      "p99 ms", "x nginx", "p99 added", "errors", "up conns", "low p50", "low p99", "p99 added"
    base_rps = median("nginx" SUBSEP s SUBSEP "load" SUBSEP "rps")
    d99 = median("direct" SUBSEP s SUBSEP "load" SUBSEP "p99")
    dl99 = median("direct" SUBSEP s SUBSEP "low" SUBSEP "p99")
    for (i = 1; i <= nt; i++) {
      t = targets[i]
      if ((t, s) in na) {
        printf "%-13s not available in this build\n", t
        continue
      }
      rps = median(t SUBSEP s SUBSEP "load" SUBSEP "rps")
      if (rps == "") continue
      p50 = median(t SUBSEP s SUBSEP "load" SUBSEP "p50")
      p99 = median(t SUBSEP s SUBSEP "load" SUBSEP "p99")
      acc = median(t SUBSEP s SUBSEP "load" SUBSEP "acc")
      l50 = median(t SUBSEP s SUBSEP "low" SUBSEP "p50")
      l99 = median(t SUBSEP s SUBSEP "low" SUBSEP "p99")
      ratio = base_rps > 0 ? rps / base_rps : ""
      added = (t != "direct" && d99 != "") ? diff(p99, d99) : ""
      ladded = (t != "direct" && dl99 != "" && l99 != "") ? diff(l99, dl99) : ""
      printf "%-13s %10.0f %8.3f %8.3f %8s %9s %7d %9s | %8s %8s %9s\n", t, rps, p50, p99, \
        fmt(ratio, "%.2f"), fmt(added, "%+.3f"), errors[t, s],
        (t == "direct" || t == "nginx-modsec") ? "-" : fmt(acc, "%.0f"), \
        fmt(l50, "%.3f"), fmt(l99, "%.3f"), fmt(ladded, "%+.3f")
      res_ratio[s] = t == "mamorid" ? ratio : res_ratio[s]
      res_added[s] = t == "mamorid" ? added : res_added[s]
      res_ladded[s] = t == "mamorid" ? ladded : res_ladded[s]
      have[s] = have[s] || t == "mamorid"
      if (t == "mamorid-rules") rules_ratio[s] = ratio
      if (t == "nginx-modsec") modsec_ratio[s] = ratio
    }
    print ""
  }
  print "(medians over rounds; x nginx = req/s over the nginx proxy's; p99 added = p99 minus the"
  print " direct upstream's p99 over the same scheme; up conns = upstream connections opened during"
  print " the loaded run; low = wrk -t1 -c" low_conns ", latency without queueing)"
  for (k = 1; k <= ns; k++) {
    s = sch[k]
    if (!have[s]) continue
    printf "goal %s: mamorid/nginx req/s %s (goal >= 1.00); mamorid p99 added %s ms loaded, %s ms low load (goal < 1 ms)\n", \
      s, fmt(res_ratio[s], "%.2f"), fmt(res_added[s], "%+.3f"), fmt(res_ladded[s], "%+.3f")
  }
  for (k = 1; k <= ns; k++) {
    s = sch[k]
    if (rules_ratio[s] == "") continue
    printf "goal %s, every default rule on: mamorid-rules/nginx req/s %s (goal >= 0.50); nginx-modsec/nginx %s\n", \
      s, fmt(rules_ratio[s], "%.2f"), fmt(modsec_ratio[s], "%.3f")
  }
}
