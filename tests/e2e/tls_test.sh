#!/usr/bin/env bash
# End to end: mamorid as a TLS reverse proxy, on loopback (no namespaces,
# no root needed). Throwaway certificates are made here with the openssl CLI.
#
#   curl / openssl s_client ──TLS──► mamorid 127.0.0.1:P ──► lib/echo_upstream.py
#
# Checks: --check-config accepts the certificates and refuses a mismatched
# key naming the file; two sites on one TLS listener, SNI picks each one's
# certificate (curl --resolve, verified against each CA, subject checked);
# TLS 1.1 refused, 1.2 and 1.3 accepted; ALPN http/1.1 negotiated, h2-only
# refused; session resumption (TLS 1.3 ticket, TLS 1.2 session id); keep-alive
# over one TLS connection; 4 MB up and 5 MB down intact (also to a slow
# reader); 4 MB up streamed past a 64 KiB prefix (inspect_prefix, beta); a client stalling mid-handshake is cut at header_timeout; plain
# HTTP and junk on the TLS port are closed and mamorid keeps serving; the
# --tls-cert/--tls-key quick start; SIGTERM → exit 0.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${MAMORI_BIN:-$here/../../build/bin}

. "$here/lib/loopback.sh"
loopback_init tls curl python3 openssl sha256sum
# Self-signed certificate for host $1 (with a wildcard for its subdomains),
# written to $DIR/$1.pem and $DIR/$1.key. Test-only keys, deleted on exit.
make_cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$1" -addext "subjectAltName=DNS:$1,DNS:*.$1" \
    -keyout "$DIR/$1.key" -out "$DIR/$1.pem" 2>/dev/null || fail "openssl req for $1"
}
s_client() {  # s_client PORT [options]: one handshake, no request
  local port=$1
  shift
  timeout 10 openssl s_client -connect "127.0.0.1:$port" "$@" </dev/null 2>&1 || true
}
# As s_client, but stdin stays open briefly: a TLS 1.3 ticket arrives after
# the handshake, and s_client would otherwise quit before reading it.
s_client_linger() {
  local port=$1
  shift
  sleep 0.5 | timeout 10 openssl s_client -connect "127.0.0.1:$port" "$@" 2>&1 || true
}

make_cert alpha.test
make_cert beta.test

UP=$(free_port)
P=$(free_port)
UPLOG="$DIR/upstream.log"
: >"$UPLOG"
python3 "$here/lib/echo_upstream.py" "$UP" "$UPLOG" &
track "$!"
wait_port "$UP" || fail "upstream did not start"

cat >"$DIR/mamori.yaml" <<YAML
workers: 2
tenants:
  - id: e2e
    sites:
      - name: alpha
        hosts: [alpha.test, "*.alpha.test"]
        listeners:
          - {address: "127.0.0.1:$P", tls: true}
        certificates:
          - {cert: alpha.test.pem, key: alpha.test.key}
        upstreams:
          - address: 127.0.0.1:$UP
        limits:
          header_timeout: 2s
          max_body_bytes: 8MiB
      - name: beta
        hosts: [beta.test]
        listeners:
          - {address: "127.0.0.1:$P", tls: true}
        certificates:
          - {hosts: [beta.test], cert: beta.test.pem, key: beta.test.key}
        upstreams:
          - address: 127.0.0.1:$UP
        limits:
          max_body_bytes: 64KiB
          body_over_limit: inspect_prefix
YAML

# --- --check-config loads the certificates ---------------------------------
out=$("$BIN/mamorid" --check-config "$DIR/mamori.yaml" 2>&1) || fail "check-config refused a good config: $out"
sed 's/key: alpha.test.key/key: beta.test.key/' "$DIR/mamori.yaml" >"$DIR/bad.yaml"
rc=0
out=$("$BIN/mamorid" --check-config "$DIR/bad.yaml" 2>&1) || rc=$?
[[ $rc == 2 ]] || fail "check-config with a mismatched key exited $rc: $out"
grep -q "site alpha: key $DIR/beta.test.key does not match certificate $DIR/alpha.test.pem" <<<"$out" ||
  fail "mismatched key message: $out"
rc=0
"$BIN/mamorid" --config "$DIR/bad.yaml" --control-socket "$DIR/c0.sock" --log-dir "$DIR/logs" --rules "$here/lib/rules" >"$DIR/mamorid-bad.log" 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "mamorid --config with a mismatched key exited $rc"
pass "--check-config and --config refuse a mismatched key, naming the files"

"$BIN/mamorid" --config "$DIR/mamori.yaml" --control-socket "$DIR/c1.sock" --log-dir "$DIR/logs" --rules "$here/lib/rules" >"$DIR/mamorid.log" 2>&1 &
m_pid=$!
track "$m_pid"
wait_port "$P" || fail "mamorid did not listen on $P"
grep -q "proxy listening on 127.0.0.1:$P (TLS)" "$DIR/mamorid.log" || fail "no TLS listener line"

# --- SNI picks the certificate ----------------------------------------------
for host in alpha.test www.alpha.test beta.test; do
  ca=${host#www.}
  out=$(curl -sS -v --resolve "$host:$P:127.0.0.1" --cacert "$DIR/$ca.pem" \
    "https://$host:$P/sni" 2>&1) || fail "curl $host: $out"
  grep -q "subject: CN=$ca" <<<"$out" || fail "$host got the wrong certificate: $out"
  grep -q '"X-Forwarded-Proto",' <<<"$out" || fail "no X-Forwarded-Proto: $out"
  grep -A1 '"X-Forwarded-Proto",' <<<"$out" | grep -q '"https"' || fail "X-Forwarded-Proto is not https"
done
pass "SNI: alpha.test, www.alpha.test and beta.test each verified against their own certificate"

# --- versions ----------------------------------------------------------------
out=$(s_client "$P" -servername alpha.test -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0')
grep -Eq 'alert protocol version|no protocols available|wrong version' <<<"$out" ||
  fail "TLS 1.1 not refused: $out"
grep -q '^New, TLSv1.1' <<<"$out" && fail "TLS 1.1 accepted: $out"
for v in 1_2 1_3; do
  out=$(s_client "$P" -servername alpha.test -tls$v)
  grep -q "^New, TLSv${v/_/.}, Cipher is" <<<"$out" || fail "TLS ${v/_/.} not accepted: $out"
done
out=$(s_client "$P" -servername alpha.test -tls1_2)
grep -Eq '^New, TLSv1.2, Cipher is ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$' <<<"$out" ||
  fail "TLS 1.2 suite is not ECDHE+AEAD: $(grep '^New' <<<"$out")"
pass "TLS 1.1 refused; TLS 1.2 (ECDHE+AEAD) and TLS 1.3 accepted"

# --- ALPN --------------------------------------------------------------------
out=$(curl -sS -v --resolve "alpha.test:$P:127.0.0.1" --cacert "$DIR/alpha.test.pem" \
  "https://alpha.test:$P/alpn" 2>&1) || fail "curl ALPN: $out"
grep -q 'ALPN: server accepted http/1.1' <<<"$out" || fail "ALPN http/1.1 not negotiated: $out"
out=$(s_client "$P" -servername alpha.test -alpn h2)
grep -q 'no application protocol' <<<"$out" || fail "h2-only ALPN not refused: $out"
pass "ALPN: http/1.1 negotiated, an h2-only client refused (no_application_protocol)"

# --- session resumption ------------------------------------------------------
s_client_linger "$P" -servername alpha.test -tls1_3 -sess_out "$DIR/s13.pem" >/dev/null
out=$(s_client "$P" -servername alpha.test -tls1_3 -sess_in "$DIR/s13.pem")
grep -q '^Reused, TLSv1.3' <<<"$out" || fail "TLS 1.3 ticket not resumed: $(grep -E '^(New|Reused)' <<<"$out")"
s_client_linger "$P" -servername alpha.test -tls1_2 -no_ticket -sess_out "$DIR/s12.pem" >/dev/null
out=$(s_client "$P" -servername alpha.test -tls1_2 -no_ticket -sess_in "$DIR/s12.pem")
grep -q '^Reused, TLSv1.2' <<<"$out" || fail "TLS 1.2 session id not resumed: $(grep -E '^(New|Reused)' <<<"$out")"
pass "session resumption: TLS 1.3 ticket and TLS 1.2 session cache"

# --- keep-alive ----------------------------------------------------------------
U="https://alpha.test:$P"
C=(--resolve "alpha.test:$P:127.0.0.1" --cacert "$DIR/alpha.test.pem")
out=$(curl -sS -v "${C[@]}" "$U/k1" "$U/k2" "$U/k3" 2>&1) || fail "keep-alive curl: $out"
[[ $(grep -c 'Re-using existing connection' <<<"$out") == 2 ]] || fail "TLS connection not reused: $out"
[[ $(grep -c '"path": "/k[123]"' <<<"$out") == 3 ]] || fail "keep-alive answers: $out"
[[ $(grep -c 'SSL connection using' <<<"$out") == 1 ]] || fail "more than one handshake: $out"
pass "keep-alive: three requests over one TLS connection"

# An attack over TLS is blocked and its event carries the client's JA3/JA4,
# computed from the ClientHello bytes the engine kept.
code=$(curl -s -o /dev/null -w '%{http_code}' "${C[@]}" "$U/item?id=1%27%20or%20%271%27%3D%271")
[[ $code == 403 ]] || fail "SQL injection over TLS answered $code"
for _ in $(seq 50); do
  out=$("$BIN/mamorictl" --socket "$DIR/c1.sock" --output json logs query --type event --rule 990001)
  [[ $out == *ja4* ]] && break
  sleep 0.1
done
python3 -c '
import json, re, sys
e = json.loads(sys.argv[1])[-1]
ja3, ja4 = e["tls"]["client"]["ja3"], e["tls"]["client"]["ja4"]
assert re.fullmatch(r"[0-9a-f]{32}", ja3), ja3
assert re.fullmatch(r"t1[23]d\d{4}[0-9a-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}", ja4), ja4' "$out" ||
  fail "event over TLS without JA3/JA4: $out"
pass "an attack over TLS is logged with the client's JA3 and JA4"

# --- large bodies both ways ------------------------------------------------
head -c 4000000 /dev/urandom >"$DIR/body.bin"
want=$(sha256sum "$DIR/body.bin" | cut -c1-64)
out=$(curl -sS "${C[@]}" -H "Content-Type: application/octet-stream" --data-binary @"$DIR/body.bin" "$U/post") || fail "POST failed"
grep -q '"body_length": 4000000' <<<"$out" || fail "POST body length: $out"
grep -q "\"body_sha256\": \"$want\"" <<<"$out" || fail "POST body differs: $out"
want=$(python3 -c "import sys,hashlib; sys.path.insert(0,'$here/lib'); import echo_upstream as e; print(hashlib.sha256(e.bigdata(5242880)).hexdigest())")
got=$(curl -sS "${C[@]}" "$U/big?n=5242880" | sha256sum | cut -c1-64)
[[ "$got" == "$want" ]] || fail "5 MB response over TLS differs"
got=$(curl -sS "${C[@]}" --limit-rate 4M "$U/big?n=5242880" | sha256sum | cut -c1-64)
[[ "$got" == "$want" ]] || fail "5 MB response over TLS to a slow reader differs"
pass "4 MB request body and 5 MB response (also rate-limited) intact over TLS"

# beta streams bodies past a 64 KiB prefix (body_over_limit: inspect_prefix).
want=$(sha256sum "$DIR/body.bin" | cut -c1-64)
B=(--resolve "beta.test:$P:127.0.0.1" --cacert "$DIR/beta.test.pem")
for te in "" "Transfer-Encoding: chunked"; do
  out=$(curl -sS "${B[@]}" -H "Content-Type: application/octet-stream" ${te:+-H "$te"} \
    --data-binary @"$DIR/body.bin" "https://beta.test:$P/stream") || fail "streamed POST over TLS failed ($te)"
  grep -q "\"body_sha256\": \"$want\"" <<<"$out" || fail "body streamed over TLS differs ($te): $out"
done
pass "4 MB body streamed past a 64 KiB inspected prefix over TLS (Content-Length and chunked)"

# --- a client stalling mid-handshake is cut at header_timeout ----------------
secs=$(python3 - "$P" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
# A TLS record header announcing a 512-byte ClientHello, then only 6 bytes of it.
s.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]))
start = time.monotonic()
s.settimeout(10)
try:
    while s.recv(4096):
        pass
except (ConnectionResetError, socket.timeout):
    pass
print("%.2f" % (time.monotonic() - start))
PY
)
python3 -c "import sys; sys.exit(0 if 1.5 <= $secs <= 5 else 1)" || fail "stalled handshake cut after ${secs}s (header_timeout 2s)"
pass "a handshake stalled half way is cut after header_timeout (${secs}s)"

# --- plaintext and junk on the TLS port --------------------------------------
for payload in 'GET / HTTP/1.1\r\nHost: alpha.test\r\n\r\n' '\x00\xff\x16\x03junk junk junk\r\n\r\n'; do
  out=$(printf "$payload" | timeout 10 python3 "$here/lib/raw_http.py" "$P" 2>&1 || true)
  grep -q 'HTTP/1.1 200' <<<"$out" && fail "plaintext served on the TLS port: $out"
done
kill -0 "$m_pid" 2>/dev/null || fail "mamorid died on junk"
curl -sS -o /dev/null "${C[@]}" "$U/after-junk" || fail "mamorid stopped serving after junk"
grep -q 'after-junk' "$UPLOG" || fail "request after junk did not arrive"
grep -Eq '^GET / HTTP' "$UPLOG" && fail "plaintext request reached the upstream"
pass "plain HTTP and junk on the TLS port are closed; mamorid keeps serving"

kill -TERM "$m_pid"
rc=0
wait "$m_pid" || rc=$?
[[ $rc == 0 ]] || fail "mamorid exited $rc on SIGTERM"
pass "SIGTERM: clean exit 0"

# --- quick start --tls-cert/--tls-key --------------------------------------
rc=0
"$BIN/mamorid" --control-socket "$DIR/c2.sock" --log-dir "$DIR/logs" --rules "$here/lib/rules" --listen "127.0.0.1:$P" --upstream "127.0.0.1:$UP" --tls-cert "$DIR/alpha.test.pem" \
  >"$DIR/mamorid-usage.log" 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "--tls-cert without --tls-key exited $rc"
Q=$(free_port)
"$BIN/mamorid" --control-socket "$DIR/c3.sock" --log-dir "$DIR/logs" --rules "$here/lib/rules" --listen "127.0.0.1:$Q" --upstream "127.0.0.1:$UP" --workers 1 \
  --tls-cert "$DIR/beta.test.pem" --tls-key "$DIR/beta.test.key" >"$DIR/mamorid-quick.log" 2>&1 &
q_pid=$!
track "$q_pid"
wait_port "$Q" || fail "quick start did not listen on $Q"
out=$(curl -sS -v --resolve "beta.test:$Q:127.0.0.1" --cacert "$DIR/beta.test.pem" \
  "https://beta.test:$Q/quick" 2>&1) || fail "quick start curl: $out"
grep -q '"path": "/quick"' <<<"$out" || fail "quick start answer: $out"
grep -q 'subject: CN=beta.test' <<<"$out" || fail "quick start certificate: $out"
kill -TERM "$q_pid"
wait "$q_pid" || fail "quick start exited non-zero on SIGTERM"
pass "quick start: --tls-cert/--tls-key serve TLS on --listen"

# --- rules on the TLS fingerprint (tls_ja4) ----------------------------------
mkdir -p "$DIR/tlsrules"
cat >"$DIR/tlsrules/ja4.yaml" <<'YAML'
rules:
  - id: 990101
    message: TLS 1.3 client with SNI (e2e)
    category: scanner
    severity: warning
    targets: [tls_ja4]
    operator: {prefix: t13d}
    score: 5
    samples:
      match: [{target: tls_ja4, value: t13d1516h2_8daaf6152771_02713d6af862}]
      nomatch: [{target: tls_ja4, value: t12d1516h2_8daaf6152771_02713d6af862}]
YAML
R=$(free_port)
"$BIN/mamorid" --control-socket "$DIR/c4.sock" --log-dir "$DIR/logs4" --rules "$DIR/tlsrules" \
  --listen "127.0.0.1:$R" --upstream "127.0.0.1:$UP" --workers 1 \
  --tls-cert "$DIR/beta.test.pem" --tls-key "$DIR/beta.test.key" >"$DIR/mamorid-ja4.log" 2>&1 &
r_pid=$!
track "$r_pid"
wait_port "$R" || fail "the tls_ja4 mamorid did not listen on $R"
code=$(curl -s -o /dev/null -w '%{http_code}' --resolve "beta.test:$R:127.0.0.1" \
  --cacert "$DIR/beta.test.pem" --tlsv1.3 "https://beta.test:$R/ja4")
[[ $code == 403 ]] || fail "a TLS 1.3 client was not blocked by the tls_ja4 rule ($code)"
code=$(curl -s -o /dev/null -w '%{http_code}' --resolve "beta.test:$R:127.0.0.1" \
  --cacert "$DIR/beta.test.pem" --tls-max 1.2 "https://beta.test:$R/ja4")
[[ $code == 200 ]] || fail "a TLS 1.2 client was blocked by the t13 rule ($code)"
kill -TERM "$r_pid"
wait "$r_pid" || fail "the tls_ja4 mamorid exited non-zero on SIGTERM"
pass "rules see the client's JA4: t13d blocked, a TLS 1.2 hello passes"

echo "PASS: tls e2e"
