#!/usr/bin/env python3
"""Accept one TCP connection on 127.0.0.1:<port> and save the TLS records that
carry the client's first handshake message (the ClientHello), as one line of
hex. Usage: capture_client_hello.py <port> <out.hex>"""
import socket, sys
port, out = int(sys.argv[1]), sys.argv[2]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(1); srv.settimeout(60)
conn, _ = srv.accept(); conn.settimeout(10)
buf = b""
def need(n):
    global buf
    while len(buf) < n:
        d = conn.recv(65536)
        if not d: raise SystemExit("peer closed early")
        buf += d
# Read records until the handshake message (4-byte header + body) is complete.
off, hs = 0, b""
while True:
    need(off + 5)
    ln = int.from_bytes(buf[off+3:off+5], "big")
    need(off + 5 + ln)
    hs += buf[off+5:off+5+ln]
    off += 5 + ln
    if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
        break
open(out, "w").write(buf[:off].hex() + "\n")
print("saved", off, "bytes")
conn.close()
