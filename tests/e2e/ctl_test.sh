#!/usr/bin/env bash
# End to end: every mamorictl command against a running mamorid, over its
# control socket, on loopback (no root needed). The shield commands (shield
# status, bans, lists) need XDP and are covered by shield_test.sh; rules by
# inspect_test.sh. Here: status, stats, sites list|show, config reload (good
# and bad file), logs query|tail|export (event and audit), --output json
# parsed for each, usage errors (exit 2, one short line), and the audit
# record of every call.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${MAMORI_BIN:-$here/../../build/bin}
. "$here/lib/loopback.sh"
loopback_init ctl curl python3
ctl() { "$BIN/mamorictl" --socket "$DIR/control.sock" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

UP=$(free_port)
P=$(free_port)
python3 "$here/lib/shop_upstream.py" 127.0.0.1 "$UP" &
track "$!"
wait_port "$UP" || fail "upstream did not start"
write_config() {  # write_config SITE_NAME [extra top-level yaml]
  cat >"$DIR/mamori.yaml" <<YAML
logs: {dir: $DIR/logs}
rules: {dir: $here/lib/rules}
tenants:
  - id: acme
    sites:
      - name: $1
        hosts: ["*"]
        listeners: [{address: 127.0.0.1:$P}]
        upstreams: [{address: 127.0.0.1:$UP}]
${2:-}
YAML
}
write_config shop
"$BIN/mamorid" --config "$DIR/mamori.yaml" --control-socket "$DIR/control.sock" --metrics off \
  >"$DIR/mamorid.log" 2>&1 &
track "$!"
wait_port "$P" || fail "mamorid did not listen"
curl -s -o /dev/null "http://127.0.0.1:$P/"
curl -s -o /dev/null "http://127.0.0.1:$P/item?id=1%27%20or%20%271%27%3D%271"

grep -q "config: $DIR/mamori.yaml" <<<"$(ctl status)" || fail "status: $(ctl status)"
ctl --output json status | json 'assert d["sites"] == 1 and d["requests"] >= 2 and d["blocked"] >= 1, d' ||
  fail "status json"
pass "status (text and json)"

grep -q "requests" <<<"$(ctl stats)" || fail "stats"
ctl --output json stats | json 'assert d["engine"]["requests"] >= 2 and d["shield"] is None, d' ||
  fail "stats json"
pass "stats (text and json)"

grep -q "acme *shop" <<<"$(ctl sites list)" || fail "sites list: $(ctl sites list)"
ctl --output json sites show shop | json 'assert d["tenant"] == "acme" and d["mode"] == "block", d' ||
  fail "sites show json"
rc=0; ctl sites show nope 2>/dev/null || rc=$?
[[ $rc == 1 ]] || fail "sites show of an unknown site exited $rc"
pass "sites list and show"

for _ in $(seq 50); do ctl logs query --type event | grep -q 990001 && break; sleep 0.1; done
ctl --output json logs query --type event --tenant acme --site shop |
  json 'assert len(d) == 1 and d[0]["rule"]["id"] == "990001", d' || fail "logs query json"
grep -q 990001 <<<"$(ctl logs tail --type event --limit 5)" || fail "logs tail"
ctl logs export --type event --format jsonl | python3 -c '
import json, sys
lines = sys.stdin.read().splitlines()
assert len(lines) == 1 and json.loads(lines[0])["site"] == "shop", lines' || fail "logs export jsonl"
grep -q '^@timestamp' <<<"$(ctl logs export --type event --format csv | sed -n 1p)" || fail "logs export csv"
pass "logs query, tail, export (jsonl, csv)"

write_config shop2
grep -q "reloaded" <<<"$(ctl config reload)" || fail "config reload"
ctl --output json sites list | json 'assert [s["name"] for s in d] == ["shop2"], d' ||
  fail "sites after reload"
echo "tenants: [{id: acme, sites: [{name: x}]}]" >"$DIR/mamori.yaml"
rc=0; out=$(ctl config reload 2>&1) || rc=$?
[[ $rc == 1 ]] && grep -q "mamori.yaml:1" <<<"$out" || fail "bad reload: exit $rc, $out"
ctl --output json sites list | json 'assert [s["name"] for s in d] == ["shop2"], d' ||
  fail "a refused reload changed the sites"
pass "config reload: a good file applied, a bad one refused with FILE:LINE and nothing changed"

for args in "" "frobnicate" "logs query" "sites show" "--output yaml status"; do
  rc=0
  # shellcheck disable=SC2086  # word splitting of the argument list is intended
  err=$(ctl $args 2>&1 >/dev/null) || rc=$?
  [[ $rc == 2 ]] || fail "'mamorictl $args' exited $rc"
  [[ $(wc -l <<<"$err") -le 2 ]] || fail "'mamorictl $args' printed: $err"
done
pass "usage errors: exit 2 with a short message"

sleep 0.3
ctl --output json logs query --type audit --tenant mamori --limit 1000 | json '
actions = [e["event"]["action"] for e in d]
for want in ["status", "stats", "sites.list", "sites.show", "logs.query", "logs.tail", "logs.export", "config.reload"]:
    assert want in actions, (want, actions)
failed = [e for e in d if e["event"]["action"] == "config.reload" and e["event"]["outcome"] == "failure"]
assert failed, "the refused reload is audited as a failure"' || fail "audit log"
pass "every call is in the audit log, with its outcome"
echo "PASS"
