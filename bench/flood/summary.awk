# Summarises bench/flood/run.sh's per-round lines
#   <round> <variant> frames=.. wall_ns=.. thread_ns=.. ksoftirqd_ns=.. softirq_ticks=.. hz=.. rx=..
# into one row per variant (median over rounds). -v order="v1 v2 ..." sets the
# row order; the variant "sendonly" is the sender-only cost subtracted from
# the others round by round.
function val(k,   i) { for (i = 3; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return 0 }
{
  r = $1; v = $2; rounds[r] = 1
  f = val("frames")
  cost[v, r] = (val("thread_ns") + val("ksoftirqd_ns")) / f
  pps[v, r] = f / (val("wall_ns") / 1e9)
  rx[v, r] = val("rx") / f
  tick[v, r] = (val("rx") > 0 ? val("softirq_ticks") / val("hz") * 1e9 / val("rx") : 0)
}
function median(x, m,   i, j, t) {
  for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
  return m % 2 ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2
}
function med(a, v,   r, m, x) { m = 0; for (r in rounds) x[++m] = a[v, r]; return median(x, m) }
END {
  for (r in rounds) for (k in cost) { split(k, p, SUBSEP); if (p[2] == r) recv[p[1], r] = cost[p[1], r] - cost["sendonly", r] }
  split(order, names, " ")
  printf "%-9s %13s %13s %14s %12s %11s %11s\n", "variant", "recv ns/frm", "drops/CPU-s", "wall frames/s", "all ns/frm", "tick ns/frm", "delivered"
  for (k = 1; k in names; k++) {
    v = names[k]
    rn[v] = med(recv, v)
    if (v == "sendonly")
      printf "%-9s %13s %13s %14.0f %12.1f %11s %10.0f%%\n", v, "-", "-", med(pps, v), med(cost, v), "-", 100 * med(rx, v)
    else
      printf "%-9s %13.1f %13.0f %14.0f %12.1f %11.1f %10.0f%%\n", v, rn[v], (rn[v] > 0 ? 1e9 / rn[v] : 0),
        med(pps, v), med(cost, v), med(tick, v), 100 * med(rx, v)
  }
  m = 0; for (r in rounds) m++
  printf "(median of %d interleaved rounds; recv = CPU ns per frame of the generator thread + ksoftirqd,\n", m
  printf " minus the same round's sendonly; tick = /proc/stat softirq, tick-sampled, for reference)\n"
  if (rn["shield"] > 0 && rn["xdpdrop"] > 0 && rn["nft"] > 0)
    printf "drops/CPU-s shield / bare XDP_DROP: %.2f (goal >= 0.8)   shield / nftables: %.2f (goal >= 3)\n",
      rn["xdpdrop"] / rn["shield"], rn["nft"] / rn["shield"]
}
