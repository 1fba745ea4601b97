# Reads one `wrk --latency` report and prints one line:
#   RPS P50_MS P99_MS ERRORS REQUESTS
# Latencies are converted to milliseconds (wrk prints us, ms or s); ERRORS
# is wrk's socket errors (connect + read + write + timeout) plus its
# "Non-2xx or 3xx responses". Exits 1 when the report has no requests/s or
# no 99% line (wrk failed, or ran without --latency).

function ms(v) {
  if (v ~ /us$/) return v / 1000
  if (v ~ /ms$/) return v + 0
  if (v ~ /m$/) return v * 60000
  if (v ~ /s$/) return v * 1000
  return v + 0
}

/^ +50% / { p50 = ms($2) }
/^ +99% / { p99 = ms($2) }
/^Requests\/sec:/ { rps = $2 }
/ requests in / { reqs = $1 }
/Socket errors:/ { gsub(",", ""); errs += $4 + $6 + $8 + $10 }
/Non-2xx or 3xx responses:/ { errs += $5 }

END {
  if (rps == "" || p99 == "") exit 1
  printf "%.1f %.3f %.3f %d %d\n", rps, p50, p99, errs, reqs
}
