#!/usr/bin/env bash
# End to end: mamorid driven by a config file, and SIGHUP reloads.
#
#   client 10.78.1.2 --- 10.78.1.1 [waf] 10.78.2.1 --- 10.78.2.2 app (HTTP :8080)
#   spare  10.78.3.2 --- 10.78.3.1 /
#
# Checks: --check-config accepts a good file and refuses a bad CIDR with
# FILE:LINE and exit 2; --config with --xdp-iface is refused; the file's deny
# list blocks the client; a reload with a broken file is refused and changes
# nothing; a reload with a fixed file lifts the deny, removes a CLI-added list
# entry (the file is authoritative), applies a port policy (UDP to another
# port dropped, reason "port") and detaches the interface it no longer names.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/netns.sh
. "$here/lib/netns.sh"
# shellcheck source=lib/shield.sh
. "$here/lib/shield.sh"
BIN=${MAMORI_BIN:-$here/../../build/bin}

lab_require
lab_init
PIN="/sys/fs/bpf/mamori-e2e-cfg-$$"
lab_on_cleanup() { purge_pins; }
DIR=$(mktemp -d /tmp/mamori-e2e-cfg.XXXXXX)
CTL="$DIR/control.sock"

fail() { echo "FAIL: $*" >&2; echo "--- mamorid log:" >&2; cat "$DIR/mamorid.log" >&2 || true; exit 1; }
pass() { echo "ok: $*"; }

lab_ns client; lab_ns spare; lab_ns waf; lab_ns app
lab_link client 10.78.1.2 waf 10.78.1.1
lab_link spare 10.78.3.2 waf 10.78.3.1
lab_link waf 10.78.2.1 app 10.78.2.2
lab_route client 10.78.1.1; lab_route spare 10.78.3.1; lab_route app 10.78.2.1
lab_forward waf
mkdir "$DIR/www" && echo hello > "$DIR/www/index.html"
lab_bg app python3 -m http.server 8080 --bind 10.78.2.2 --directory "$DIR/www" 2>/dev/null
IF_CLIENT=$(lab_dev waf client)
IF_SPARE=$(lab_dev waf spare)
CFG="$DIR/mamori.yaml"

http_ok() { lab_exec client curl -sf -o /dev/null --max-time "${1:-2}" http://10.78.2.2:8080/; }
has_xdp() { lab_exec waf ip link show dev "$1" | grep -q xdp; }
log_count() { grep -c "$1" "$DIR/mamorid.log" || true; }
log_count_at_least() { [ "$(log_count "$1")" -ge "$2" ]; }
hup_and_wait() {  # SIGHUP, then wait for one more log line matching $1
  local want=$(($(log_count "$1") + 1))
  kill -HUP "$MAMORID_PID"
  lab_wait_for 50 log_count_at_least "$1" "$want" || fail "no '$1' after SIGHUP"
}

# 1. --check-config: ok, and a bad CIDR refused with its position.
cat >"$CFG" <<YAML
shield:
  interfaces: [$IF_CLIENT, $IF_SPARE]
  deny: [10.78.1.2/32]
YAML
out=$("$BIN/mamorid" --check-config "$CFG") || fail "--check-config refused a good file"
[ "$out" = "$CFG: ok" ] || fail "--check-config printed '$out'"
cat >"$DIR/bad.yaml" <<YAML
shield:
  interfaces: [$IF_CLIENT]
  deny: [10.78.1.0/33]
YAML
set +e
out=$("$BIN/mamorid" --check-config "$DIR/bad.yaml" 2>&1); rc=$?
"$BIN/mamorid" --config "$CFG" --xdp-iface "$IF_CLIENT" >/dev/null 2>&1; rc2=$?
set -e
[ "$rc" -eq 2 ] || fail "--check-config on a bad file exited $rc, not 2"
[ "$out" = "$DIR/bad.yaml:3:10: prefix length 33 is over 32 in '10.78.1.0/33'" ] ||
  fail "--check-config printed '$out'"
[ "$rc2" -eq 2 ] || fail "--config with --xdp-iface exited $rc2, not 2"
pass "--check-config and option conflicts"

# 2. Start from the file: the client's /32 is denied.
lab_bg waf "$BIN/mamorid" --pin-root "$PIN" --control-socket "$CTL" --log-dir "${CTL%/*}/logs" --rules "$here/lib/rules" --config "$CFG" >"$DIR/mamorid.log" 2>&1
MAMORID_PID=$LAB_LAST_PID
lab_wait_for 100 grep -q "config $CFG applied" "$DIR/mamorid.log" || fail "mamorid did not start"
has_xdp "$IF_CLIENT" && has_xdp "$IF_SPARE" || fail "shield not attached to both interfaces"
http_ok 1 && fail "denied client was served"
[ "$(dropped deny)" -gt 0 ] || fail "deny drops not counted"
ctl lists deny list | grep -q "10.78.1.2" || fail "config deny entry not in the pinned list"
pass "config deny list enforced"

# 3. A broken file on SIGHUP is refused; nothing changes.
ctl lists deny add 192.0.2.99 >/dev/null
cp "$DIR/bad.yaml" "$CFG"
hup_and_wait "reload refused"
grep -q "$CFG:3:10: prefix length 33" "$DIR/mamorid.log" || fail "reload error lacks its position"
kill -0 "$MAMORID_PID" || fail "mamorid died on a bad reload"
http_ok 1 && fail "client served after a refused reload"
ctl lists deny list | grep -q "10.78.1.2" || fail "deny list changed by a refused reload"
has_xdp "$IF_SPARE" || fail "interface detached by a refused reload"
pass "bad reload refused, running config kept"

# 4. A fixed file: deny lifted, port policy on, spare interface detached.
cat >"$CFG" <<YAML
shield:
  interfaces: [$IF_CLIENT]
  ports:
    tcp: [8080]
YAML
hup_and_wait "mamorid: reloaded"
lab_wait_for 30 http_ok || fail "client not served after the reload"
ctl lists deny list | grep -q "10.78.1.2" && fail "deny entry kept after the reload"
ctl lists deny list | grep -q "192.0.2.99" && fail "CLI deny entry kept: config lists are authoritative"
has_xdp "$IF_SPARE" && fail "removed interface still has the shield"
has_xdp "$IF_CLIENT" || fail "kept interface lost the shield"
before=$(dropped port)
lab_exec client python3 "$here/lib/flood.py" udp 10.78.2.2 9999 50 2 >/dev/null
after=$(dropped port)
[ $((after - before)) -ge 50 ] || fail "UDP to a port outside the policy not dropped ($before -> $after)"
pass "reload applied: client served, UDP :9999 dropped ($((after - before)) port drops), spare detached"

lab_stop "$MAMORID_PID"
grep -q "shield detached" "$DIR/mamorid.log" || fail "mamorid did not detach on SIGTERM"
rm -rf "$DIR"
echo "PASS"
