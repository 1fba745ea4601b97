#!/usr/bin/env python3
"""Accept up to four TCP connections on 127.0.0.1:<port>, save the head of the
first HTTP request that arrives (browsers may open an idle preconnect first)
and answer 200. Usage: capture_request_head.py <port> <out.http>"""
import socket, sys
port, out = int(sys.argv[1]), sys.argv[2]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(8); srv.settimeout(20)
for _ in range(4):
    conn, _ = srv.accept(); conn.settimeout(5); buf=b""
    try:
        while b"\r\n\r\n" not in buf:
            d = conn.recv(65536)
            if not d: break
            buf += d
    except socket.timeout: pass
    if buf:
        open(out, "wb").write(buf.split(b"\r\n\r\n")[0] + b"\r\n\r\n")
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"); conn.close(); break
    conn.close()
