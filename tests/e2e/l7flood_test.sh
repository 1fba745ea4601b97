#!/usr/bin/env bash
# End to end: HTTP flood limits and slow clients (issue #8, docs/l7-dos.md),
# with the XDP shield on the WAF's interfaces.
#
#   client   10.81.1.2 ------ 10.81.1.1 [waf: mamorid :8080] 10.81.2.1 --- 10.81.2.2 app :8081
#   attacker 10.81.3.2 ------ 10.81.3.1 /
#
# Checks: an HTTP flood from one address (bounded: 5000 requests or 12 s)
# gets 429 once over per_ip, then an XDP ban (reason flood, in `mamorictl
# bans list`), after which its connects fail and the shield counts ban
# drops; meanwhile a legitimate client from another address is served every
# request (all 200). `mamorictl dos status` shows the limit, the refusals,
# the ban and the flooder on top; the DoS log holds a few rate-limited
# records (not one per request) including the ban; /metrics feeds
# mamori_guard_flood_verdicts_total. On the WAF's loopback, a slowloris
# connection and a slow POST are cut by the engine's timeouts and logged to
# the DoS log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/netns.sh
. "$here/lib/netns.sh"
# shellcheck source=lib/shield.sh
. "$here/lib/shield.sh"
BIN=${MAMORI_BIN:-$here/../../build/bin}

command -v curl >/dev/null || lab_skip "curl is not installed"
command -v python3 >/dev/null || lab_skip "python3 is not installed"
[[ -x "$BIN/mamorid" && -x "$BIN/mamorictl" ]] || lab_skip "binaries not built"
lab_require
lab_init
PIN="/sys/fs/bpf/mamori-e2e-l7flood-$$"
DIR=$(mktemp -d /tmp/mamori-e2e-l7flood.XXXXXX)
lab_on_cleanup() { purge_pins; rm -rf "$DIR"; }
CTL="$DIR/control.sock"
FLOOD="$here/lib/http_flood.py"

fail() { echo "FAIL: $*" >&2; echo "--- mamorid log:" >&2; cat "$DIR/mamorid.log" >&2 || true; exit 1; }
pass() { echo "ok: $*"; }

lab_ns client; lab_ns attacker; lab_ns waf; lab_ns app
lab_link client 10.81.1.2 waf 10.81.1.1
lab_link attacker 10.81.3.2 waf 10.81.3.1
lab_link waf 10.81.2.1 app 10.81.2.2
lab_route client 10.81.1.1; lab_route attacker 10.81.3.1; lab_route app 10.81.2.1
mkdir -p "$DIR/www"
echo "hello from the app" >"$DIR/www/index.html"
# exec: the PID lab_bg tracks stays the server's; its access log is noise.
lab_bg app sh -c "exec python3 -m http.server --bind 10.81.2.2 --directory '$DIR/www' 8081 2>/dev/null"
app_up() { lab_exec waf curl -sf -o /dev/null --max-time 1 http://10.81.2.2:8081/; }
lab_wait_for 100 app_up || fail "the application did not start"

cat >"$DIR/mamori.yaml" <<YAML
workers: 2
shield:
  interfaces: [$(lab_dev waf client), $(lab_dev waf attacker)]
tenants:
  - id: acme
    sites:
      - name: shop
        hosts: ["*"]
        listeners:
          - address: 0.0.0.0:8080
        upstreams:
          - address: 10.81.2.2:8081
        limits: {header_timeout: 2s, body_timeout: 2s}
        flood:
          per_ip: {requests: 100, window: 10s}
          per_path: {requests: 0}
          ban: {after: 200, window: 10s, ttl: 5m}
YAML
"$BIN/mamorid" --check-config "$DIR/mamori.yaml" >/dev/null || fail "--check-config refused the config"
lab_bg waf "$BIN/mamorid" --config "$DIR/mamori.yaml" --pin-root "$PIN" --control-socket "$CTL" \
  --log-dir "$DIR/logs" --metrics 127.0.0.1:9481 >"$DIR/mamorid.log" 2>&1
lab_wait_for 150 grep -q "control socket $CTL" "$DIR/mamorid.log" || fail "mamorid did not start"
grep -q "flood protection on, bans written to the shield" "$DIR/mamorid.log" ||
  fail "flood protection not reported on"

# --- the flood, and a legitimate client at the same time -----------------------
# The client sends 5 requests a second for 12 s: 60 in any 10 s window,
# under per_ip (100), so every one of them must be served.
lab_exec client python3 "$FLOOD" 10.81.1.1 8080 --rate 5 --count 60 --seconds 14 \
  --timeout 3 >"$DIR/client.json" &
client_pid=$!
sleep 1
lab_exec attacker python3 "$FLOOD" 10.81.3.1 8080 --conns 4 --count 5000 --seconds 12 \
  --timeout 1 >"$DIR/attacker.json" || fail "the flood client failed"
wait "$client_pid" || fail "the legitimate client failed"
echo "attacker: $(cat "$DIR/attacker.json")"
echo "client:   $(cat "$DIR/client.json")"
python3 - "$DIR/attacker.json" <<'PY' || fail "the flood was not answered 429 then cut: $(cat "$DIR/attacker.json")"
import json, sys
r = json.load(open(sys.argv[1]))
ok, refused = r["status"].get("200", 0), r["status"].get("429", 0)
assert 1 <= ok <= 110, r          # per_ip 100 in 10 s (a bucket may turn over)
assert refused >= 100, r          # the refusals that led to the ban
assert r["connect_fail"] + r["errors"] > 0, r   # then the XDP ban cut it off
PY
python3 - "$DIR/client.json" <<'PY' || fail "the legitimate client was not served every time: $(cat "$DIR/client.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["sent"] >= 50 and r["status"].get("200", 0) == r["sent"], r
PY
pass "flood: 429 over per_ip then cut off; the legitimate client got 200 for every request"

ctl --output json bans list | python3 -c '
import json, sys
bans = json.load(sys.stdin)
assert any(b["source"] == "10.81.3.2" and b["reason"] == "flood" for b in bans), bans' ||
  fail "no flood ban for 10.81.3.2: $(ctl bans list)"
code=$(lab_exec attacker curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://10.81.3.1:8080/ || true)
[ "$code" = "000" ] || fail "the banned flooder still gets answers ($code)"
[ "$(dropped ban)" -gt 0 ] || fail "no ban drops counted at XDP"
code=$(lab_exec client curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://10.81.1.1:8080/)
[ "$code" = "200" ] || fail "the legitimate client is not served after the flood ($code)"
pass "the flooder is banned at XDP (reason flood, $(dropped ban) packets dropped); the client is still served"

# --- mamorictl dos status ---------------------------------------------------------
ctl --output json dos status | python3 -c '
import json, sys
d = json.load(sys.stdin)
s = d["sites"][0]
assert s["site"] == "shop", s
lim = {l["name"]: l for l in s["limits"]}
assert lim["per_ip"]["requests"] == 100 and lim["per_ip"]["window_seconds"] == 10, lim
assert lim["per_ip"]["refused"] >= 100 and lim["per_path"]["requests"] == 0, lim
assert s["bans"] >= 1 and d["bans"] >= 1 and d["too_many_requests"] >= 100, d
top = s["top_sources"][0]
assert top["source"] == "10.81.3.2" and top["banned_seconds"] > 0, s' ||
  fail "dos status is not as expected: $(ctl dos status)"
ctl dos status | grep -q "per_ip      100       10s" || fail "dos status text: $(ctl dos status)"
pass "mamorictl dos status shows the limits, refusals, the ban and the flooder"

# --- DoS log: rate-limited records, the ban among them --------------------------------
dos_records() {
  ctl --output json logs query --type dos --tenant acme --rule "$1" --limit 1000
}
has_ban() { dos_records dos.flood.per_ip | grep -q '"ban"'; }
lab_wait_for 50 has_ban || fail "no ban record in the DoS log: $(dos_records dos.flood.per_ip)"
dos_records dos.flood.per_ip | python3 -c '
import json, sys
recs = [r for r in json.load(sys.stdin) if r["source"]["ip"] == "10.81.3.2"]
assert 1 <= len(recs) <= 6, "%d records for one flood" % len(recs)
assert any(r["mamori"]["action"] == "ban" and r["mamori"]["ban_ttl_s"] == 300 for r in recs), recs
first = recs[0]["mamori"]
assert first["limit"] == "per_ip" and first["threshold"] == 100 and first["window_s"] == 10, first' ||
  fail "DoS records are not as expected: $(dos_records dos.flood.per_ip)"
pass "the DoS log holds a few per_ip records for the whole flood, the ban included"

# --- /metrics ---------------------------------------------------------------------------
metrics=$(lab_exec waf curl -s --max-time 2 http://127.0.0.1:9481/metrics)
grep -Eq '^mamori_guard_flood_verdicts_total\{action="ban"\} [1-9]' <<<"$metrics" ||
  fail "no flood ban in /metrics: $(grep flood <<<"$metrics")"
grep -Eq '^mamori_guard_flood_verdicts_total\{action="too_many_requests"\} [1-9][0-9][0-9]' <<<"$metrics" ||
  fail "no flood 429s in /metrics: $(grep flood <<<"$metrics")"
pass "mamori_guard_flood_verdicts_total is fed"

# --- slowloris and slow POST on the WAF's loopback --------------------------------------
lab_exec waf python3 - <<'PY' || fail "slow clients were not cut"
import socket, time
def slow(payload):
    s = socket.create_connection(("127.0.0.1", 8080), timeout=6)
    s.sendall(payload)
    start = time.monotonic()
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    took = time.monotonic() - start
    assert took < 5, took                       # header/body_timeout is 2 s
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:80]
slow(b"GET / HTTP/1.1\r\nHost: shop\r\nX-a: b\r\n")                          # slowloris
slow(b"POST / HTTP/1.1\r\nHost: shop\r\nContent-Length: 100\r\n\r\nabc")     # slow POST
PY
slow_logged() {
  dos_records "$1" | python3 -c '
import json, sys
recs = [r for r in json.load(sys.stdin) if r["source"]["ip"] == "127.0.0.1"]
assert recs and recs[0]["mamori"]["count"] >= 1 and recs[0]["site"] == "shop", recs'
}
lab_wait_for 50 slow_logged dos.conn.slowloris || fail "no slowloris record: $(dos_records dos.conn.slowloris)"
lab_wait_for 50 slow_logged dos.conn.slow_post || fail "no slow POST record: $(dos_records dos.conn.slow_post)"
ctl --output json dos status | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["connections"]["slowloris_cut"] >= 1 and d["connections"]["slow_post_cut"] >= 1, d' ||
  fail "dos status does not count the slow clients: $(ctl dos status)"
pass "slowloris and slow POST are cut by the timeouts, counted, and in the DoS log"

# --- a reload keeps the flood state ----------------------------------------------------
out=$(ctl config reload) || fail "config reload failed: $out"
[[ "$out" == *"flood protection: 1 site"* ]] || fail "reload summary has no flood line: $out"
ctl --output json dos status | python3 -c '
import json, sys
s = json.load(sys.stdin)["sites"][0]
assert s["bans"] >= 1 and s["top_sources"][0]["source"] == "10.81.3.2", s' ||
  fail "reload lost the flood state: $(ctl dos status)"
pass "config reload keeps the flood counters of an unchanged site"

# --- the operator lifts the ban: served again at XDP and at the site ------------------
ctl bans del 10.81.3.2 >/dev/null || fail "bans del failed"
attacker_served() {
  [ "$(lab_exec attacker curl -s -o /dev/null -w '%{http_code}' --max-time 1 http://10.81.3.1:8080/ ||
    true)" = "200" ]
}
# The per_ip window (10 s) must pass too; the ban itself (5 min) no longer counts.
lab_wait_for 150 attacker_served ||
  fail "after bans del the flooder is still refused: $(ctl dos status)"
pass "bans del lifts the flood ban at XDP and at the site"
echo "PASS"
