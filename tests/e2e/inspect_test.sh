#!/usr/bin/env bash
# End to end: signature inspection in mamorid, on loopback (no root needed).
#
#   curl ──► mamorid --listen 127.0.0.1:P --rules DIR ──► lib/echo_upstream.py
#
# Checks: a benign request passes; SQL injection in a query argument and in
# a form body is blocked with 403 and never reaches the upstream; the event
# log holds the detection with the same request id the client saw;
# `mamorictl rules list|show|disable|enable|test|reload` work against the
# running daemon; a broken rule file is refused by `rules reload` (the old
# set keeps blocking) and stops a fresh mamorid from starting (exit 2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${MAMORI_BIN:-$here/../../build/bin}

. "$here/lib/loopback.sh"
loopback_init inspect curl python3
ctl() { "$BIN/mamorictl" --socket "$DIR/control.sock" "$@"; }
status_of() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

mkdir -p "$DIR/rules"
cat >"$DIR/rules/sqli.yaml" <<'YAML'
rules:
  - id: 942901
    message: SQL injection (tokenizer)
    category: sqli
    severity: critical
    targets: [args, cookies]
    transforms: [url_decode_uni]
    operator: {detect_sqli: true}
    score: 5
    samples:
      match: [{target: query_args, name: id, value: "1' or '1'='1"}]
      nomatch: [{target: query_args, name: name, value: "O'Reilly"}]
  - id: 942902
    message: UNION SELECT
    category: sqli
    targets: [args]
    transforms: [url_decode_uni, lowercase, compress_whitespace]
    operator: {pattern: 'union\s+(all\s+)?select'}
    score: 3
    samples:
      match: [{target: query_args, name: q, value: "1 UNION  SELECT x"}]
      nomatch: [{target: query_args, name: q, value: "union station"}]
YAML

UP=$(free_port)
P=$(free_port)
UPLOG="$DIR/upstream.log"
: >"$UPLOG"
python3 "$here/lib/echo_upstream.py" "$UP" "$UPLOG" &
track "$!"
wait_port "$UP" || fail "upstream did not start"

"$BIN/mamorid" --listen "127.0.0.1:$P" --upstream "127.0.0.1:$UP" --workers 2 \
  --rules "$DIR/rules" --control-socket "$DIR/control.sock" --log-dir "$DIR/logs" \
  --metrics off >"$DIR/mamorid.log" 2>&1 &
track "$!"
wait_port "$P" || fail "mamorid did not listen"
grep -q "2 rules from $DIR/rules" "$DIR/mamorid.log" || fail "rules not loaded"
URL="http://127.0.0.1:$P"

[[ $(status_of "$URL/search?q=union+station&name=O%27Reilly") == 200 ]] || fail "benign request not passed"
pass "benign request passed"

body=$(curl -s -w '\n%{http_code}' "$URL/item?id=1%27%20or%20%271%27%3D%271")
[[ ${body##*$'\n'} == 403 ]] || fail "query SQLi answered ${body##*$'\n'}"
rid=$(grep -o 'request id: [0-9a-f]*' <<<"$body" | awk '{print $3}')
[[ -n $rid ]] || fail "block page names no request id: $body"
[[ $(status_of -d "user=admin'--&pw=x" "$URL/login") == 403 ]] || fail "form-body SQLi not blocked"
grep -q "admin" "$UPLOG" && fail "a blocked request reached the upstream"
pass "SQL injection in a query argument and a form body blocked with 403"

for _ in $(seq 50); do
  ctl logs query --type event --rule 942901 --output json | grep -q "$rid" && break
  sleep 0.1
done
ctl --output json logs query --type event --rule 942901 | python3 -c '
import json, sys
rid = sys.argv[1]
entries = [e for e in json.load(sys.stdin) if e["http"]["request"]["id"] == rid]
assert entries, "no event with the request id"
e = entries[0]
assert e["event"]["action"] == "block" and e["http"]["response"]["status_code"] == 403, e
d = e["mamori"]["detections"]["942901"]
assert d["target"] == "query_args" and d["name"] == "id", d
assert e["source"]["ip"] == "127.0.0.1", e' "$rid" || fail "event log does not hold the block"
pass "event log holds the detection under the client's request id"

ctl rules list | grep -q 942902 || fail "rules list"
ctl --output json rules show 942901 | grep -q '"operator":"detect_sqli"' || fail "rules show"
ctl rules disable 942901 >/dev/null || fail "rules disable"
[[ $(status_of "$URL/item?id=1%27%20or%20%271%27%3D%271") == 200 ]] || fail "disabled rule still blocks"
ctl rules enable 942901 >/dev/null || fail "rules enable"
[[ $(status_of "$URL/item?id=1%27%20or%20%271%27%3D%271") == 403 ]] || fail "enabled rule does not block"
pass "rules list, show, disable and enable"

printf 'GET /p?q=1+union+select+password+from+users HTTP/1.1\nHost: shop.example\n\n' >"$DIR/req.txt"
out=$(ctl rules test "$DIR/req.txt") || fail "rules test exited $?"
grep -q "942901" <<<"$out" && grep -q "942902" <<<"$out" && grep -q "score 8 of 5, verdict: block" <<<"$out" ||
  fail "rules test output: $out"
printf 'GET /p?q=union+station HTTP/1.1\nHost: shop.example\n\n' >"$DIR/ok.txt"
out=$(ctl rules test "$DIR/ok.txt") || fail "rules test exited $?"
grep -q "score 0 of 5, verdict: pass" <<<"$out" || fail "rules test on a benign request: $out"
pass "rules test prints each detection and the verdict"

echo 'rules: [{id: 1, message: m, category: sqli, targets: [args], operator: {pattern: "("}}]' \
  >"$DIR/rules/zz-broken.yaml"
rc=0
out=$(ctl rules reload 2>&1) || rc=$?
[[ $rc == 1 ]] && grep -q "zz-broken.yaml" <<<"$out" || fail "broken rule file: exit $rc, $out"
[[ $(status_of "$URL/item?id=1%27%20or%20%271%27%3D%271") == 403 ]] || fail "old rules lost on a bad reload"
rc=0
"$BIN/mamorid" --listen "127.0.0.1:$(free_port)" --upstream "127.0.0.1:$UP" --rules "$DIR/rules" \
  --control-socket "$DIR/c2.sock" --log-dir "$DIR/logs2" --metrics off \
  >"$DIR/mamorid-broken.log" 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "mamorid started with a broken rule file (exit $rc)"
cat >"$DIR/check.yaml" <<YAML
rules: {dir: $DIR/rules}
tenants:
  - id: acme
    sites:
      - {name: shop, hosts: ["*"], listeners: [{address: 127.0.0.1:$P}], upstreams: [{address: 127.0.0.1:$UP}]}
YAML
rc=0
out=$("$BIN/mamorid" --check-config "$DIR/check.yaml" 2>&1) || rc=$?
[[ $rc == 2 ]] && grep -q "zz-broken.yaml" <<<"$out" || fail "--check-config with a broken rule: exit $rc, $out"
pass "a broken rule file: reload refused, old rules keep blocking; a fresh start and --check-config exit 2"
echo "PASS"
