#!/usr/bin/env bash
# End to end: SIGHUP reloads the sites of `mamorid --config` under load, on
# loopback (no namespaces, no root needed).
#
#   curl loop ──► mamorid (plain :P, TLS :T) ──► upstream A, then upstream B
#
# Checks: while a loop of curl requests (new connection each, plain and TLS)
# runs, the file is switched to upstream B and a new certificate, then to a
# broken file, then back to A: not one request fails; after each good
# reload new connections reach the new upstream and get the new
# certificate; the broken file is refused and the running config stays; a
# keep-alive connection opened before the reload finishes on the old
# upstream.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${MAMORI_BIN:-$here/../../build/bin}

. "$here/lib/loopback.sh"
FAIL_LOGS="mamorid*.log loop*.txt"
loopback_init reload curl python3 openssl
make_cert() {  # test-only throwaway certificate for $1, deleted on exit
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$1" -addext "subjectAltName=DNS:site.test" \
    -keyout "$DIR/$1.key" -out "$DIR/$1.pem" 2>/dev/null || fail "openssl req for $1"
}
make_cert first
make_cert second

UPA=$(free_port)
UPB=$(free_port)
: >"$DIR/a.log"
: >"$DIR/b.log"
python3 "$here/lib/echo_upstream.py" "$UPA" "$DIR/a.log" &
track "$!"
python3 "$here/lib/echo_upstream.py" "$UPB" "$DIR/b.log" &
track "$!"
wait_port "$UPA" && wait_port "$UPB" || fail "upstreams did not start"

P=$(free_port)
T=$(free_port)
write_config() {  # write_config UPSTREAM_PORT CERT_NAME
  cat >"$DIR/mamori.yaml.new" <<YAML
workers: 2
tenants:
  - id: e2e
    sites:
      - name: site
        hosts: ["*"]
        listeners:
          - address: 127.0.0.1:$P
          - {address: "127.0.0.1:$T", tls: true}
        certificates:
          - {cert: $2.pem, key: $2.key}
        upstreams:
          - address: 127.0.0.1:$1
YAML
  mv "$DIR/mamori.yaml.new" "$DIR/mamori.yaml"  # atomic: a reload never reads half a file
}
write_config "$UPA" first
# A rules directory of our own, so that a reload can also bring a new rule.
mkdir -p "$DIR/rules"
cp "$here/lib/rules/minimal.yaml" "$DIR/rules/"
ctl() { "$BIN/mamorictl" --socket "$DIR/control.sock" "$@"; }
"$BIN/mamorid" --config "$DIR/mamori.yaml" --control-socket "$DIR/control.sock" --log-dir "$DIR/logs" --rules "$DIR/rules" >"$DIR/mamorid.log" 2>&1 &
m_pid=$!
track "$m_pid"
wait_port "$P" && wait_port "$T" || fail "mamorid did not listen"

TLSC=(--resolve "site.test:$T:127.0.0.1" -k)
cert_cn() {
  curl -sS -v "${TLSC[@]}" "https://site.test:$T/cn" 2>&1 | sed -n 's/.*subject: CN=\([a-z]*\).*/\1/p'
}
[[ $(cert_cn) == first ]] || fail "initial certificate"

# Continuous load: each iteration is a new plain and a new TLS connection.
loop() {
  local ok=0 bad=0
  while [[ ! -e "$DIR/stop" ]]; do
    if curl -sS -f -o /dev/null --max-time 5 "http://127.0.0.1:$P/loop" 2>>"$DIR/loop-errors.txt"; then
      ok=$((ok + 1))
    else bad=$((bad + 1)); fi
    if curl -sS -f -o /dev/null --max-time 5 "${TLSC[@]}" "https://site.test:$T/loop" 2>>"$DIR/loop-errors.txt"; then
      ok=$((ok + 1))
    else bad=$((bad + 1)); fi
  done
  echo "$ok $bad" >"$DIR/loop-$1.txt"
}
loop 1 &
l1=$!
loop 2 &
l2=$!
pids+=("$l1" "$l2")

# A keep-alive connection opened before the first reload: 30 requests over
# about 3 s on one connection, spanning the reload.
curl -sS -f --rate 10/s -o /dev/null -w '%{num_connects}\n' "http://127.0.0.1:$P/ka/[1-30]" \
  >"$DIR/ka.txt" 2>&1 &
ka=$!
track "$ka"

sleep 1
a_before=$(grep -c 'GET /loop' "$DIR/a.log" || true)
[[ $a_before -gt 0 ]] || fail "no load reached upstream A"

write_config "$UPB" second
kill -HUP "$m_pid"
for _ in $(seq 50); do grep -q 'GET /loop' "$DIR/b.log" && break; sleep 0.1; done
grep -q 'GET /loop' "$DIR/b.log" || fail "after reload no request reached upstream B"
grep -q "reloaded $DIR/mamori.yaml: 1 sites" "$DIR/mamorid.log" || fail "no reload line"
[[ $(cert_cn) == second ]] || fail "certificate not swapped by the reload"
pass "reload under load: new connections go to upstream B with the new certificate"

wait "$ka" || fail "keep-alive curl failed: $(cat "$DIR/ka.txt")"
[[ $(grep -c 'GET /ka/' "$DIR/a.log") == 30 ]] ||
  fail "keep-alive requests did not all finish on upstream A: $(grep -c 'GET /ka/' "$DIR/a.log") on A, $(grep -c 'GET /ka/' "$DIR/b.log" || true) on B"
pass "a keep-alive connection opened before the reload finished its 30 requests on upstream A"

# A broken file is refused; the running config stays.
printf 'tenants: [\n' >"$DIR/mamori.yaml"
kill -HUP "$m_pid"
for _ in $(seq 50); do grep -q 'reload refused' "$DIR/mamorid.log" && break; sleep 0.1; done
grep -q 'reload refused' "$DIR/mamorid.log" || fail "broken file not refused"
b_count=$(grep -c 'GET /loop' "$DIR/b.log")
sleep 0.5
[[ $(grep -c 'GET /loop' "$DIR/b.log") -gt $b_count ]] || fail "traffic stopped after a refused reload"
[[ $(cert_cn) == second ]] || fail "certificate changed by a refused reload"
pass "a broken file is refused; upstream B and its certificate stay"

# A mismatched key is refused too (the loader accepts the file; the engine
# does not), and the whole reload with it: a rule added in the same reload
# is not taken, though the rules compile before the engine looks.
sed 's/990001/990002/' "$here/lib/rules/minimal.yaml" >"$DIR/rules/second.yaml"
write_config "$UPA" first
sed -i 's/key: first.key/key: second.key/' "$DIR/mamori.yaml"
kill -HUP "$m_pid"
for _ in $(seq 50); do grep -q 'reload of sites refused' "$DIR/mamorid.log" && break; sleep 0.1; done
grep -q 'does not match certificate' "$DIR/mamorid.log" || fail "mismatched key not refused"
[[ $(cert_cn) == second ]] || fail "certificate changed by a refused reload"
ctl rules list | grep -q 990001 || fail "rules list"
! ctl rules list | grep -q 990002 || fail "a rule of the refused reload was taken"
pass "a mismatched key is refused; the running certificate and rules stay"

write_config "$UPA" first
a_count=$(grep -c 'GET /loop' "$DIR/a.log")
kill -HUP "$m_pid"
for _ in $(seq 50); do [[ $(grep -c 'GET /loop' "$DIR/a.log") -gt $a_count ]] && break; sleep 0.1; done
[[ $(grep -c 'GET /loop' "$DIR/a.log") -gt $a_count ]] || fail "reload back to A did not take"
ctl rules list | grep -q 990002 || fail "the accepted reload did not take the new rule"
sleep 0.5
touch "$DIR/stop"
wait "$l1" "$l2"
read -r ok1 bad1 <"$DIR/loop-1.txt"
read -r ok2 bad2 <"$DIR/loop-2.txt"
[[ $((bad1 + bad2)) == 0 ]] || fail "$((bad1 + bad2)) requests failed during reloads: $(sort "$DIR/loop-errors.txt" | uniq -c)"
pass "$((ok1 + ok2)) requests during four reloads, 0 failed"

kill -TERM "$m_pid"
rc=0
wait "$m_pid" || rc=$?
[[ $rc == 0 ]] || fail "mamorid exited $rc on SIGTERM"
echo "PASS: reload e2e"
