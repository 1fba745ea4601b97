#!/usr/bin/env bash
# End to end: mamorid as a plain-HTTP reverse proxy, on loopback (no
# namespaces, no root needed).
#
#   curl / python ──► mamorid --listen 127.0.0.1:P ──► lib/echo_upstream.py 127.0.0.1:U
#
# Checks: GET through the proxy with X-Forwarded-* rewritten (a client-sent
# X-Forwarded-For is dropped); a 200 KB POST body arrives intact; a chunked
# request body is forwarded de-chunked; two URLs on one client connection
# (keep-alive); pipelined requests answered in order; a CL+TE smuggling
# attempt gets 400 with a request id and never reaches the upstream; a 5 MB
# response streams intact to a slow reader (sha256); a chunked response; a
# client that half-closes after its request still gets the whole answer; a
# slow client sending half a header is cut after header_timeout (1 s, from
# --config); upstream down → 502; SIGTERM → exit 0. body_over_limit
# (max_body_bytes 64 KiB, --config): with inspect_prefix a 5 MiB body
# reaches the upstream intact (sha256) as Content-Length and as chunked, an
# attack in the prefix is blocked and never forwarded, a sender too slow
# for body_timeout gets 408; with reject the same body gets 413.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${MAMORI_BIN:-$here/../../build/bin}

. "$here/lib/loopback.sh"
loopback_init proxy curl python3 sha256sum
raw() { python3 "$here/lib/raw_http.py" "$@"; }  # raw PORT [opts] < request bytes

UP=$(free_port)
P=$(free_port)
UPLOG="$DIR/upstream.log"
: >"$UPLOG"
python3 "$here/lib/echo_upstream.py" "$UP" "$UPLOG" &
up_pid=$!
track "$up_pid"
wait_port "$UP" || fail "upstream did not start"

"$BIN/mamorid" --listen "127.0.0.1:$P" --upstream "127.0.0.1:$UP" --workers 2 \
  --control-socket "$DIR/control.sock" --log-dir "$DIR/logs" --rules "$here/lib/rules" \
  >"$DIR/mamorid.log" 2>&1 &
m_pid=$!
track "$m_pid"
wait_port "$P" || fail "mamorid did not listen on $P"
URL="http://127.0.0.1:$P"

# --- GET ------------------------------------------------------------------
out=$(curl -sS -i -H 'X-Forwarded-For: 6.6.6.6' "$URL/hello?x=1") || fail "GET failed"
grep -q '^HTTP/1.1 200' <<<"$out" || fail "GET status: $out"
grep -q '"path": "/hello?x=1"' <<<"$out" || fail "GET path not echoed: $out"
grep -q '"X-Forwarded-For",' <<<"$out" || fail "no X-Forwarded-For: $out"
grep -q '6.6.6.6' <<<"$out" && fail "client-sent X-Forwarded-For reached the upstream: $out"
grep -A1 '"X-Forwarded-For",' <<<"$out" | grep -q '"127.0.0.1"' || fail "X-Forwarded-For is not the peer"
grep -q 'for=127.0.0.1;' <<<"$out" || fail "no Forwarded: $out"
pass "GET 200 through the proxy, X-Forwarded-For rewritten"

# --- POST 200 KB (binary, declared as such: random bytes sent as a form would
# be refused by inspection as an unparsable body) ------------------------
head -c 200000 /dev/urandom >"$DIR/body.bin"
want=$(sha256sum "$DIR/body.bin" | cut -c1-64)
out=$(curl -sS -H "Content-Type: application/octet-stream" --data-binary @"$DIR/body.bin" "$URL/post") || fail "POST failed"
grep -q '"body_length": 200000' <<<"$out" || fail "POST body length: $out"
grep -q "\"body_sha256\": \"$want\"" <<<"$out" || fail "POST body differs: $out"
pass "POST 200 KB body echoed intact"

# --- chunked request body -------------------------------------------------
out=$(curl -sS -H 'Transfer-Encoding: chunked' --data-binary 'hello chunked world' "$URL/chunked-in")
grep -q '"body_length": 19' <<<"$out" || fail "chunked body: $out"
pass "chunked request body forwarded with Content-Length"

# --- keep-alive -----------------------------------------------------------
out=$(curl -sS -v "$URL/a" "$URL/b" 2>&1) || fail "keep-alive curl failed"
grep -q 'Re-using existing connection' <<<"$out" || fail "connection not reused: $out"
[[ $(grep -c '"path": "/[ab]"' <<<"$out") == 2 ]] || fail "keep-alive answers: $out"
pass "keep-alive: two requests on one connection"

# --- pipelining -----------------------------------------------------------
out=$(printf 'GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\nGET /p3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
  raw "$P" | grep '"path"' | cut -d'"' -f4 | paste -sd' ')
[[ "$out" == "/p1 /p2 /p3" ]] || fail "pipelined answers out of order or missing: '$out'"
pass "pipelined requests answered in order"

# --- request smuggling: CL + TE -------------------------------------------
out=$(printf 'POST /smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /evil HTTP/1.1\r\nHost: x\r\n\r\n' |
  raw "$P")
grep -q '^HTTP/1.1 400' <<<"$out" || fail "smuggling attempt not refused: $out"
grep -Eq '^X-Request-Id: [0-9a-f]{16}' <<<"$out" || fail "400 without request id: $out"
grep -Eq 'smuggle|evil' "$UPLOG" && fail "smuggled request reached the upstream: $(cat "$UPLOG")"
pass "CL+TE smuggling attempt answered 400, never reached the upstream"

# --- large response, slow reader (back-pressure) --------------------------
want=$(python3 -c "import sys,hashlib; sys.path.insert(0,'$here/lib'); import echo_upstream as e; print(hashlib.sha256(e.bigdata(5242880)).hexdigest())")
got=$(curl -sS "$URL/big?n=5242880" | sha256sum | cut -c1-64)
[[ "$got" == "$want" ]] || fail "5 MB response differs"
got=$(curl -sS --limit-rate 4M "$URL/big?n=5242880" | sha256sum | cut -c1-64)
[[ "$got" == "$want" ]] || fail "5 MB response to a slow reader differs"
got=$(curl -sS "$URL/chunked?n=5242880" | sha256sum | cut -c1-64)
[[ "$got" == "$want" ]] || fail "5 MB chunked response differs"
pass "5 MB responses streamed intact (fast, rate-limited reader, chunked)"

# --- half-close: the client shuts down its side after the request ---------
got=$(printf 'GET /big?n=5242880 HTTP/1.1\r\nHost: x\r\n\r\n' |
  raw "$P" --half-close --body | sha256sum | cut -c1-64)
[[ "$got" == "$want" ]] || fail "half-closed client did not get the whole 5 MB response"
pass "half-closed client still gets its whole response"

# --- upstream down → 502 --------------------------------------------------
kill "$up_pid"
wait "$up_pid" 2>/dev/null || true
code=$(curl -sS -o "$DIR/502.txt" -w '%{http_code}' "$URL/down")
[[ "$code" == 502 ]] || fail "upstream down gave $code"
grep -Eq 'request id: [0-9a-f]{16}' "$DIR/502.txt" || fail "502 without request id"
pass "upstream down → 502"

# --- SIGTERM → exit 0 -----------------------------------------------------
kill -TERM "$m_pid"
rc=0
wait "$m_pid" || rc=$?
[[ $rc == 0 ]] || fail "mamorid exited $rc on SIGTERM"
pass "SIGTERM: clean exit 0"

# --- header timeout (slowloris) via --config ------------------------------
python3 "$here/lib/echo_upstream.py" "$UP" "$UPLOG" &
track "$!"
wait_port "$UP" || fail "upstream did not restart"
P2=$(free_port)
cat >"$DIR/mamori.yaml" <<YAML
workers: 1
tenants:
  - id: e2e
    sites:
      - name: e2e-site
        hosts: ["*"]
        listeners:
          - address: 127.0.0.1:$P2
        upstreams:
          - address: 127.0.0.1:$UP
        limits:
          header_timeout: 1s
YAML
"$BIN/mamorid" --config "$DIR/mamori.yaml" --control-socket "$DIR/control2.sock" --log-dir "$DIR/logs" --rules "$here/lib/rules" >"$DIR/mamorid-config.log" 2>&1 &
m2_pid=$!
track "$m2_pid"
wait_port "$P2" || fail "mamorid --config did not listen on $P2"
curl -sS -o /dev/null "http://127.0.0.1:$P2/ok" || fail "GET through --config site failed"
out=$(printf 'GET /slow HTTP/1.1\r\nHost: x\r\nX-Half: ' | raw "$P2" --elapsed | tr -d '\r')
secs=$(sed -n 1p <<<"$out")
status_line=$(sed -n 2p <<<"$out")
python3 -c "import sys; sys.exit(0 if 0.5 <= $secs <= 4 else 1)" || fail "half header cut after ${secs}s"
grep -q '408' <<<"$status_line" || fail "half header answered '$status_line'"
grep -q '/slow' "$UPLOG" && fail "half request reached the upstream"
pass "half a header is cut after header_timeout (${secs}s, 408)"
kill -TERM "$m2_pid"
wait "$m2_pid" || fail "mamorid --config exited non-zero on SIGTERM"

# --- body_over_limit: inspect_prefix streams, reject answers 413 ----------
P3=$(free_port)
P4=$(free_port)
mkdir -p "$DIR/prefix-rules"
cat >"$DIR/prefix-rules/xss.yaml" <<'YAML'
rules:
  - id: 990101
    message: script tag in the body, e2e
    category: xss
    severity: critical
    targets: [raw_body]
    transforms: [lowercase]
    operator: {pattern: '<script'}
    score: 5
    samples:
      match: [{target: raw_body, value: "a<SCRIPT>b"}]
      nomatch: [{target: raw_body, value: "a script b"}]
YAML
cat >"$DIR/prefix.yaml" <<YAML
workers: 2
tenants:
  - id: e2e
    sites:
      - name: prefix-site
        hosts: ["prefix.test"]
        listeners:
          - address: 127.0.0.1:$P3
        upstreams:
          - address: 127.0.0.1:$UP
        limits:
          max_body_bytes: 64KiB
          body_over_limit: inspect_prefix
          body_timeout: 2s
      - name: reject-site
        hosts: ["reject.test"]
        listeners:
          - address: 127.0.0.1:$P4
        upstreams:
          - address: 127.0.0.1:$UP
        limits:
          max_body_bytes: 64KiB
          body_over_limit: reject
YAML
"$BIN/mamorid" --config "$DIR/prefix.yaml" --control-socket "$DIR/control3.sock" --log-dir "$DIR/logs3" \
  --rules "$DIR/prefix-rules" --metrics off >"$DIR/mamorid-prefix.log" 2>&1 &
m3_pid=$!
track "$m3_pid"
wait_port "$P3" || fail "mamorid (inspect_prefix) did not listen on $P3: $(cat "$DIR/mamorid-prefix.log")"
head -c 5242880 /dev/urandom >"$DIR/big.bin"
want=$(sha256sum "$DIR/big.bin" | cut -c1-64)
out=$(curl -sS -H "Content-Type: application/octet-stream" --data-binary @"$DIR/big.bin" "http://127.0.0.1:$P3/up-cl") ||
  fail "5 MiB POST (inspect_prefix) failed"
grep -q '"body_length": 5242880' <<<"$out" || fail "streamed body length: $out"
grep -q "\"body_sha256\": \"$want\"" <<<"$out" || fail "streamed body differs: $out"
out=$(curl -sS -H "Content-Type: application/octet-stream" -H 'Transfer-Encoding: chunked' \
  --data-binary @"$DIR/big.bin" "http://127.0.0.1:$P3/up-chunked") || fail "5 MiB chunked POST failed"
grep -q "\"body_sha256\": \"$want\"" <<<"$out" || fail "streamed chunked body differs: $out"
grep -A1 '"Transfer-Encoding",' <<<"$out" | grep -q '"chunked"' || fail "chunked body not re-chunked: $out"
pass "inspect_prefix: 5 MiB body streamed intact past a 64 KiB prefix (Content-Length and chunked)"

{ printf '<script>alert(1)</script>'; head -c 1048576 /dev/zero | tr '\0' 'a'; } >"$DIR/attack.txt"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Content-Type: text/plain" --data-binary @"$DIR/attack.txt" \
  "http://127.0.0.1:$P3/attack-prefix")
[[ "$code" == 403 ]] || fail "attack in the prefix answered $code"
grep -q '/attack-prefix' "$UPLOG" && fail "blocked streamed request reached the upstream"
pass "inspect_prefix: an attack in the prefix is blocked (403), nothing forwarded"

out=$(python3 - "$P3" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 10)
s.sendall(b"POST /slow-body HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n" + b"a" * 70000)
started = time.monotonic()
s.setblocking(False)
reply = b""
while time.monotonic() - started < 8:
    try:
        s.send(b"a")
    except OSError:
        pass
    time.sleep(0.1)
    try:
        chunk = s.recv(65536)
        if not chunk:
            break
        reply += chunk
    except BlockingIOError:
        pass
print("%.1f %s" % (time.monotonic() - started, reply.split(b"\r\n")[0].decode()))
PY
)
secs=${out%% *}
python3 -c "import sys; sys.exit(0 if 1.0 <= $secs <= 5 else 1)" || fail "slow streamed body cut after ${secs}s: $out"
grep -q ' 408 ' <<<"$out" || fail "slow streamed body answered '$out'"
pass "inspect_prefix: a sender too slow for body_timeout is cut (${secs}s, 408)"

code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Content-Type: application/octet-stream" \
  --data-binary @"$DIR/big.bin" "http://127.0.0.1:$P4/up-reject")
[[ "$code" == 413 ]] || fail "body over the limit with reject answered $code"
grep -q '/up-reject' "$UPLOG" && fail "rejected body reached the upstream"
pass "reject: body over max_body_bytes answered 413"
kill -TERM "$m3_pid"
wait "$m3_pid" || fail "mamorid (inspect_prefix) exited non-zero on SIGTERM"

echo "PASS: proxy e2e"
