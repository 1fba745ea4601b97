#!/usr/bin/env bash
# End to end: bot detection (issue #8) with a real DNS server for the
# forward-confirmed reverse DNS of crawler claims, and the XDP shield on
# the WAF's client interface.
#
#   client 10.81.1.2 .. .6 ------ 10.81.1.1 [waf: mamorid :8080, dnsmasq 127.0.0.1:5353,
#                                             echo upstream 127.0.0.1:8081]
#
# dnsmasq (in the waf namespace, the only DNS mamorid asks) serves:
#   10.81.1.2 PTR crawl-10-81-1-2.googlebot.com, which has A 10.81.1.2 (a real crawler)
#   10.81.1.3 PTR crawl-fake.googlebot.com, which has A 10.81.1.99 (not forward-confirmed)
# Checks: the Googlebot UA from .3 fails verification and is blocked and
# BOT-logged with the rDNS reason; from .2 it is verified and passes
# (unverified claims are logged and passed meanwhile); sqlmap's UA is
# blocked; curl with a Chrome UA is flagged inconsistent (challenge: 403
# without a challenge module); a python-requests UA under `tool: ban` is
# banned and then dropped at XDP; `mamorictl bots status|top` and the
# metrics show it; a reload with a broken data file is refused with
# FILE:LINE:COLUMN and the old lists keep working.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/netns.sh
. "$here/lib/netns.sh"
# shellcheck source=lib/shield.sh
. "$here/lib/shield.sh"
BIN=${MAMORI_BIN:-$here/../../build/bin}
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)

command -v curl >/dev/null || lab_skip "curl is not installed"
[ -x "$DNSMASQ" ] || lab_skip "dnsmasq is not installed (scripts/bootstrap)"
[[ -x "$BIN/mamorid" && -x "$BIN/mamorictl" ]] || lab_skip "binaries not built"
lab_require
lab_init
PIN="/sys/fs/bpf/mamori-e2e-bots-$$"
DIR=$(mktemp -d /tmp/mamori-e2e-bots.XXXXXX)
lab_on_cleanup() { purge_pins; rm -rf "$DIR"; }
CTL="$DIR/control.sock"

fail() {
  echo "FAIL: $*" >&2
  echo "--- mamorid log:" >&2; cat "$DIR/mamorid.log" >&2 || true
  echo "--- dnsmasq log:" >&2; cat "$DIR/dnsmasq.log" >&2 || true
  exit 1
}
pass() { echo "ok: $*"; }

lab_ns client; lab_ns waf
lab_link client 10.81.1.2 waf 10.81.1.1
CLIENT_DEV=$(lab_dev client waf)
for i in 3 4 5 6; do lab_exec client ip addr add "10.81.1.$i/24" dev "$CLIENT_DEV"; done

lab_bg waf "$DNSMASQ" --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --pid-file= \
  --listen-address=127.0.0.1 --bind-interfaces --port=5353 --log-queries \
  --host-record=crawl-10-81-1-2.googlebot.com,10.81.1.2 \
  --ptr-record=3.1.81.10.in-addr.arpa,crawl-fake.googlebot.com \
  --host-record=crawl-fake.googlebot.com,10.81.1.99 2>"$DIR/dnsmasq.log"
dns_up() { lab_exec waf python3 - <<'PY'
import socket, struct
q = struct.pack(">HHHHHH", 1, 0x100, 1, 0, 0, 0) + b"\x01" + b"2" + b"\x011\x0281\x0210\x07in-addr\x04arpa\x00" + struct.pack(">HH", 12, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5)
s.sendto(q, ("127.0.0.1", 5353)); r = s.recv(512)
assert struct.unpack(">H", r[6:8])[0] >= 1
PY
}
lab_wait_for 100 dns_up || fail "dnsmasq did not answer"

lab_bg waf python3 "$here/lib/echo_upstream.py" 8081 "$DIR/upstream.log"
app_up() { lab_exec waf curl -sf -o /dev/null --max-time 1 http://127.0.0.1:8081/; }
lab_wait_for 100 app_up || fail "the upstream did not start"

cat >"$DIR/mamori.yaml" <<YAML
workers: 2
shield:
  interfaces: [$(lab_dev waf client)]
bots:
  dir: $DIR/bots
  resolver: 127.0.0.1:5353
tenants:
  - id: acme
    sites:
      - name: shop
        hosts: ["*"]
        listeners:
          - address: 0.0.0.0:8080
        upstreams:
          - address: 127.0.0.1:8081
        bots:
          ban_ttl: 10m
          actions:
            scanner: block
            tool: ban
            inconsistent: challenge
            unverified_good_claim: log
            fake_good_bot: block
YAML
cp -r "$here/../../bots" "$DIR/bots"
"$BIN/mamorid" --check-config "$DIR/mamori.yaml" >/dev/null || fail "--check-config refused the config"
lab_bg waf "$BIN/mamorid" --config "$DIR/mamori.yaml" --pin-root "$PIN" --control-socket "$CTL" \
  --log-dir "$DIR/logs" --metrics 127.0.0.1:9469 >"$DIR/mamorid.log" 2>&1
lab_wait_for 150 grep -q "control socket $CTL" "$DIR/mamorid.log" || fail "mamorid did not start"
grep -q "bot detection on" "$DIR/mamorid.log" || fail "bot detection not reported on"

GOOGLEBOT="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CHROME="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
# get SOURCE UA [PATH] -> prints the HTTP status (000: no answer)
get() {
  lab_exec client curl -s -o /dev/null -w '%{http_code}' --max-time 2 --interface "$1" \
    -A "$2" "http://10.81.1.1:8080${3:-/}" || true
}
bot_records() {  # CLASS -> BOT log records of that class
  ctl --output json logs query --type bot --tenant acme --rule "bot.$1" --limit 1000 |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

# --- claimed Googlebot: verified from .2, refuted from .3 ----------------------
c=$(get 10.81.1.2 "$GOOGLEBOT")
[ "$c" = "200" ] || fail "first request of the real crawler got $c (unverified claims are logged and passed)"
verified=""
for _ in $(seq 1 50); do
  c=$(get 10.81.1.2 "$GOOGLEBOT")
  [ "$c" = "200" ] || fail "the real crawler got $c"
  verified=$(ctl --output json bots status | python3 -c 'import json,sys; print(json.load(sys.stdin)["rdns"]["verified"])')
  [ "$verified" -ge 1 ] && break
  sleep 0.1
done
[ "$verified" -ge 1 ] || fail "the real crawler was never verified: $(ctl bots status)"
[ "$(get 10.81.1.2 "$GOOGLEBOT")" = "200" ] || fail "the verified crawler is not served"
pass "Googlebot UA from an address that forward-confirms: verified, served"

codes=()
for _ in $(seq 1 50); do
  c=$(get 10.81.1.3 "$GOOGLEBOT")
  codes+=("$c")
  [ "$c" = "403" ] && break
  sleep 0.1
done
[ "${codes[-1]}" = "403" ] || fail "fake Googlebot never blocked (codes: ${codes[*]})"
for _ in $(seq 1 30); do [ "$(bot_records fake_good_bot)" -gt 0 ] && break; sleep 0.1; done
ctl --output json logs query --type bot --tenant acme --rule bot.fake_good_bot --limit 10 | python3 -c '
import json, sys
recs = json.load(sys.stdin)
assert recs, "no fake_good_bot record"
r = recs[-1]
m = r["mamori"]
assert r["source"]["ip"] == "10.81.1.3", r
assert m["class"] == "fake_good_bot" and m["action"] == "block", m
assert m["rdns_reason"] == "not_forward_confirmed", m
assert m["rdns_name"].rstrip(".") == "crawl-fake.googlebot.com", m' ||
  fail "fake Googlebot BOT record wrong: $(ctl --output json logs query --type bot --rule bot.fake_good_bot)"
pass "Googlebot UA whose PTR does not forward-confirm: blocked after ${#codes[@]} requests, BOT-logged"

# --- scanner, inconsistent browser, tool ban at XDP ----------------------------
[ "$(get 10.81.1.4 'sqlmap/1.7.2#stable (https://sqlmap.org)' '/?id=1')" = "403" ] ||
  fail "sqlmap not blocked"
for _ in $(seq 1 30); do [ "$(bot_records scanner)" -gt 0 ] && break; sleep 0.1; done
[ "$(bot_records scanner)" -gt 0 ] || fail "no BOT record for sqlmap"
pass "sqlmap UA blocked and BOT-logged"

[ "$(get 10.81.1.5 "$CHROME")" = "403" ] || fail "curl with a Chrome UA was not challenged"
for _ in $(seq 1 30); do [ "$(bot_records inconsistent)" -gt 0 ] && break; sleep 0.1; done
ctl --output json logs query --type bot --tenant acme --rule bot.inconsistent --limit 10 | python3 -c '
import json, sys
m = json.load(sys.stdin)[-1]["mamori"]
assert m["action"] == "challenge", m
assert "ua_browser_without_accept_language" in m["signals"], m' ||
  fail "inconsistent record wrong: $(ctl --output json logs query --type bot --rule bot.inconsistent)"
pass "curl with a Chrome UA flagged inconsistent (challenge; 403 without a challenge module)"

c1=$(get 10.81.1.6 "python-requests/2.31.0")
[ "$c1" = "403" ] || fail "tool under ban got $c1"
c2=$(get 10.81.1.6 "python-requests/2.31.0")
[ "$c2" = "000" ] || fail "banned tool not dropped at XDP: $c2"
ctl --output json bans list | python3 -c '
import json, sys
bans = json.load(sys.stdin)
assert any(b["source"] == "10.81.1.6" and b["reason"] == "bot" for b in bans), bans' ||
  fail "no bot ban for 10.81.1.6: $(ctl bans list)"
[ "$(get 10.81.1.2 "$GOOGLEBOT")" = "200" ] || fail "another client lost service after the ban"
pass "python-requests under tool: ban -> 403, a bot ban, then dropped at XDP ($(dropped ban) packets)"

# --- CLI and metrics --------------------------------------------------------------
ctl --output json bots status --site shop | python3 -c '
import json, sys
s = json.load(sys.stdin)
site = s["sites"][0]
assert site["site"] == "shop" and site["actions"]["tool"] == "ban", site
counts = {(c["class"], c["action"]): c["count"] for c in site["counts"]}
for k in [("scanner", "block"), ("fake_good_bot", "block"), ("inconsistent", "challenge"),
          ("tool", "ban"), ("verified_good", "allow")]:
    assert counts.get(k, 0) >= 1, (k, counts)
assert s["rdns"]["failed"] >= 1 and s["rdns"]["cache_used"] >= 2, s["rdns"]' ||
  fail "bots status wrong: $(ctl bots status)"
ctl --output json bots top --site shop | python3 -c '
import json, sys
top = json.load(sys.stdin)
assert any(e["source"] == "10.81.1.6" and e["banned_seconds"] > 0 for e in top), top' ||
  fail "bots top wrong: $(ctl bots top)"
ctl bots status | grep -q "policy:.*scanner=block" || fail "bots status text: $(ctl bots status)"
lab_exec waf curl -s http://127.0.0.1:9469/metrics >"$DIR/metrics.txt"
grep -q 'mamori_guard_bot_verdicts_total{.*class="scanner".*action="block".*} [1-9]' "$DIR/metrics.txt" ||
  grep -q 'mamori_guard_bot_verdicts_total{site="shop",class="scanner",action="block"} [1-9]' "$DIR/metrics.txt" ||
  fail "metrics: $(grep bot_verdicts "$DIR/metrics.txt")"
pass "mamorictl bots status|top and mamori_guard_bot_verdicts_total show the verdicts"
ctl bots status | sed 's/^/  | /'

# --- reload: a broken data file is refused, the old lists stay ----------------------
printf 'user_agents:\n  - {name: broken, class: nonsense, contains: x}\n' >"$DIR/bots/zz_broken.yaml"
if out=$(ctl config reload 2>&1); then fail "reload with a broken data file succeeded: $out"; fi
[[ "$out" == *"zz_broken.yaml:2:27: invalid class 'nonsense'"* ]] || fail "reload error lacks FILE:LINE:COLUMN: $out"
[ "$(get 10.81.1.4 'Mozilla/5.0 nikto/2.5')" = "403" ] || fail "old lists lost after a refused reload"
rm "$DIR/bots/zz_broken.yaml"
out=$(ctl config reload) || fail "reload failed: $out"
[[ "$out" == *"bot protection: 1 site"* ]] || fail "reload summary has no bots line: $out"
pass "a broken data file refuses the reload with FILE:LINE:COLUMN; the running lists stay"

# --- reload: a config the engine refuses changes no bot policy -----------------------
# A moved listener passes the loader and is refused by the engine (it takes
# a restart); the same file also turns scanners to "log". The bot policy
# must stay as it was (the data files are checked before the engine, the
# policy applied after it).
cp "$DIR/mamori.yaml" "$DIR/good.yaml"
sed -e 's/scanner: block/scanner: log/' -e 's/0.0.0.0:8080/0.0.0.0:8090/' \
  "$DIR/good.yaml" >"$DIR/mamori.yaml"
grep -q 'scanner: log' "$DIR/mamori.yaml" && grep -q '0.0.0.0:8090' "$DIR/mamori.yaml" ||
  fail "test config not edited"
if out=$(ctl config reload 2>&1); then fail "reload with a moved listener succeeded: $out"; fi
# (the policy as bots status shows it: a sqlmap request would be refused
# by the signature rules anyway)
ctl bots status | grep -q "policy:.*scanner=block" ||
  fail "a reload the engine refused changed the bot policy: $(ctl bots status | grep policy:)"
cp "$DIR/good.yaml" "$DIR/mamori.yaml"
out=$(ctl config reload) || fail "reload of the good config failed: $out"
pass "a reload the engine refuses leaves the bot policy as it was"
echo "bots_test: all passed"
