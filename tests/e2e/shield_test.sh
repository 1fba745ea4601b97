#!/usr/bin/env bash
# End to end: the XDP shield attached to real veth interfaces of a "WAF"
# namespace that routes between clients and a web app.
#
#   client  10.77.1.2 --- 10.77.1.1 [waf] 10.77.2.1 --- 10.77.2.2 app (HTTP :8080)
#   attacker 10.77.3.2 --- 10.77.3.1 /
#
# Checks: floods (ICMP, UDP, SYN; bounded in count and time) are dropped by
# reason while the client's HTTP keeps working; a CLI ban takes effect at
# once and lapses at its TTL; a ban survives a restart of mamorid.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/netns.sh
. "$here/lib/netns.sh"
# shellcheck source=lib/shield.sh
. "$here/lib/shield.sh"
BIN=${MAMORI_BIN:-$here/../../build/bin}

lab_require
lab_init
PIN="/sys/fs/bpf/mamori-e2e-$$"
# keep-me (made below) is not a pin directory, so --purge leaves it and the root.
lab_on_cleanup() { purge_pins; rmdir "$PIN/keep-me" "$PIN" 2>/dev/null || true; }
LOG=$(mktemp -d /tmp/mamori-e2e.XXXXXX)
CTL="$LOG/control.sock"

fail() { echo "FAIL: $*" >&2; echo "--- mamorid log:" >&2; cat "$LOG"/mamorid*.log >&2 || true; exit 1; }
pass() { echo "ok: $*"; }

lab_ns client; lab_ns attacker; lab_ns waf; lab_ns app
lab_link client 10.77.1.2 waf 10.77.1.1
lab_link attacker 10.77.3.2 waf 10.77.3.1
lab_link waf 10.77.2.1 app 10.77.2.2
lab_route client 10.77.1.1; lab_route attacker 10.77.3.1; lab_route app 10.77.2.1
lab_forward waf
lab_bg app python3 -m http.server 8080 --bind 10.77.2.2 --directory "$LOG" 2>/dev/null
echo hello > "$LOG/index.html"

start_mamorid() {
  lab_bg waf "$BIN/mamorid" --pin-root "$PIN" --control-socket "$CTL" --log-dir "${CTL%/*}/logs" --rules "$here/lib/rules" \
    --xdp-iface "$(lab_dev waf client)" --xdp-iface "$(lab_dev waf attacker)" >"$LOG/mamorid$1.log" 2>&1
  MAMORID_PID=$LAB_LAST_PID
  lab_wait_for 100 grep -q "attached to $(lab_dev waf attacker)" "$LOG/mamorid$1.log" ||
    fail "mamorid did not attach"
}
http_ok() { lab_exec "$1" curl -sf -o /dev/null --max-time "${2:-2}" http://10.77.2.2:8080/; }

start_mamorid 1
lab_wait_for 50 http_ok client || fail "client cannot reach the app through the shield"
pass "HTTP through the shield"

# ICMP flood: default limit 50/s, burst 100. A flood ping slows down when
# replies stop coming, so it sends a few hundred packets in its 4 seconds.
lab_exec attacker ping -q -f -c 2000 -w 4 10.77.2.2 >/dev/null 2>&1 || true
[ "$(dropped rate_icmp)" -gt 100 ] || fail "ICMP flood not dropped (rate_icmp=$(dropped rate_icmp))"
pass "ICMP flood dropped: $(dropped rate_icmp) packets"

# UDP flood: default limit 2000/s, burst 4000.
lab_exec attacker python3 "$here/lib/flood.py" udp 10.77.2.2 9999 30000 4 >/dev/null
[ "$(dropped rate_udp)" -gt 1000 ] || fail "UDP flood not dropped (rate_udp=$(dropped rate_udp))"
pass "UDP flood dropped: $(dropped rate_udp) packets"

# SYN flood while the client keeps making requests.
lab_exec attacker python3 "$here/lib/flood.py" syn 10.77.2.2 8080 6000 6 >/dev/null &
flood_pid=$!
failures=0
for _ in $(seq 20); do http_ok client 3 || failures=$((failures + 1)); done
wait "$flood_pid" || true
[ "$(dropped rate_syn)" -gt 100 ] || fail "SYN flood not dropped (rate_syn=$(dropped rate_syn))"
[ "$failures" -eq 0 ] || fail "$failures of 20 client requests failed during the SYN flood"
pass "SYN flood dropped: $(dropped rate_syn) packets; 20/20 client requests served meanwhile"

# A ban takes effect at once and lapses at its TTL.
ctl bans add 10.77.1.2 --ttl 3s --reason manual >/dev/null
http_ok client 1 && fail "banned client still served"
ctl --output json bans list | grep -q '"10.77.1.2"' || fail "ban not listed"
[ "$(dropped ban)" -gt 0 ] || fail "ban drops not counted"
pass "ban enforced at once"
sleep 3.5
lab_wait_for 30 http_ok client || fail "ban did not lapse at its TTL"
pass "ban lapsed at its TTL"

# Bans survive a restart of mamorid (pinned maps). The restart also plays
# an upgrade: a pin directory of an older map ABI (v2) goes, another name
# under the pin root stays.
ctl bans add 10.77.3.2 --ttl 10m --reason flood >/dev/null
lab_stop "$MAMORID_PID"
grep -q "shield detached" "$LOG/mamorid1.log" || fail "mamorid did not detach on SIGTERM"
mkdir "$PIN/v2" "$PIN/keep-me"
start_mamorid 2
http_ok attacker 1 && fail "ban lost across restart"
http_ok client || fail "client not served after restart"
ctl bans list | grep -q 10.77.3.2 || fail "ban not listed after restart"
pass "ban kept across a restart"
[ -e "$PIN/v2" ] && fail "pin directory of map ABI v2 left after the restart"
[ -d "$PIN/keep-me" ] || fail "keep-me under the pin root removed"
grep -q "removed 0 pins of map ABI v2 from $PIN/v2, then the directory" "$LOG/mamorid2.log" ||
  fail "no log line for the removed v2 pin directory"
rmdir "$PIN/keep-me"
pass "older ABI's pin directory removed at start, other names kept"

# The floods are in the DoS log and the CLI calls in the audit log, both
# under the host tenant, readable through the control socket.
ctl logs query --type dos --tenant mamori --limit 1000 | grep -q "rate_udp" ||
  fail "UDP flood drops not in the DoS log: $(ctl logs query --type dos --tenant mamori 2>&1 | tail -3)"
ctl --output json logs query --type audit --tenant mamori | python3 -c '
import json, sys
entries = json.load(sys.stdin)
adds = [e for e in entries if e["event"]["action"] == "bans.add" and e["mamori"]["exit_code"] == 0]
assert adds, entries
assert any("10.77.3.2" in e["mamori"]["after"] for e in adds), adds
assert all(e["mamori"]["user"] == "root" for e in adds), adds' ||
  fail "ban not in the audit log"
ctl logs export --type dos --tenant mamori --format csv | head -1 | grep -q "@timestamp" ||
  fail "DoS log CSV export has no header"
pass "floods in the DoS log, CLI calls in the audit log, CSV export"

# Bad CLI input gets a clear error and exit 2.
set +e
ctl bans add 10.77.3.300 >/dev/null 2>&1; rc1=$?
ctl lists deny add 10.0.0.0/33 >/dev/null 2>&1; rc2=$?
set -e
[ "$rc1" -eq 2 ] && [ "$rc2" -eq 2 ] || fail "bad addresses not refused with exit 2 ($rc1, $rc2)"
pass "bad CLI input refused"
echo "PASS"
