#!/usr/bin/env python3
"""A tiny HTTP/1.1 upstream for the proxy e2e tests.

GET/POST/... /anything  -> 200, JSON echo of method, path, headers, body
                           length and sha256 of the body (a chunked request
                           body is de-chunked first); keep-alive.
GET /big?n=BYTES        -> 200 with n deterministic bytes (Content-Length),
                           for streaming tests: sha256 of the same bytes is
                           what bigdata(n) returns.
GET /chunked?n=BYTES    -> 200 chunked response of n bytes.
GET /close              -> 200 with the body delimited by closing.
Every request line is appended to LOG (argv[2]) so a test can assert that a
request never reached the upstream.

Usage: echo_upstream.py PORT LOGFILE
"""
import hashlib
import http.server
import json
import socketserver
import sys


def bigdata(n):
    block = bytes(range(256)) * 256  # 64 KiB
    out = bytearray()
    while len(out) < n:
        out += block
    return bytes(out[:n])


def read_chunked(rfile):
    """The de-chunked body of a chunked request; trailers are read and dropped."""
    body = bytearray()
    while True:
        size = int(rfile.readline().split(b";")[0].strip(), 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return bytes(body)
        body += rfile.read(size)
        rfile.read(2)  # CRLF after the chunk data


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _record(self):
        with open(sys.argv[2], "a") as f:
            f.write(self.requestline + "\n")

    def _handle(self):
        self._record()
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            body = read_chunked(self.rfile)
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        if path == "/big" or path == "/chunked":
            n = int(self.path.split("n=")[1]) if "n=" in self.path else 5 * 1024 * 1024
            data = bigdata(n)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if path == "/big":
                self.send_header("Content-Length", str(n))
                self.end_headers()
                self.wfile.write(data)
            else:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, n, 10000):
                    piece = data[i:i + 10000]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
            return
        if path == "/close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"closed body\n")
            self.close_connection = True
            return
        doc = {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        out = (json.dumps(doc, indent=1) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # clients (the proxy) cutting a connection short is part of the tests


if __name__ == "__main__":
    Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
