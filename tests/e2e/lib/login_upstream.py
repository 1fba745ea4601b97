#!/usr/bin/env python3
"""A small web application with two login endpoints, for the login-abuse
e2e test (tests/e2e/login_test.sh).

GET  /login        -> 200, the login form
POST /login        -> form fields username, password. Right password:
                      302 to /welcome (and a session cookie); wrong one:
                      200 with the form again and "Invalid username or
                      password" (WordPress-like).
POST /api/login    -> JSON {"username": ..., "password": ...}. 200 with
                      {"ok": true} or {"ok": false}; 400 on bad JSON.
GET  /welcome      -> 200
Anything else      -> 404

The right password is the same for every user: PASSWORD below. Each login
attempt that reaches the application is appended to LOG (argv[2]) as one
JSON line {"path", "user", "source", "ok"}; `source` is the last
X-Forwarded-For entry, which mamorid sets to the client's address.

Usage: login_upstream.py BIND_ADDR PORT LOGFILE
"""
import http.server
import json
import socketserver
import sys
import threading
import urllib.parse

PASSWORD = "open-sesame"
FORM = (b"<!doctype html><title>Sign in</title><form method=post action=/login>"
        b"<input name=username><input name=password type=password>"
        b"<button>Sign in</button></form>\n")

log_lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, path, user, ok):
        xff = self.headers.get("X-Forwarded-For", "")
        source = xff.split(",")[-1].strip() if xff else self.client_address[0]
        line = json.dumps({"path": path, "user": user, "source": source, "ok": ok})
        with log_lock, open(sys.argv[3], "a") as f:
            f.write(line + "\n")

    def send(self, status, body, content_type="text/html", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        if self.path == "/login":
            self.send(200, FORM)
        elif self.path == "/welcome":
            self.send(200, b"welcome\n")
        else:
            self.send(404, b"not found\n")

    def do_POST(self):
        raw = self.body()
        if self.path == "/login":
            fields = urllib.parse.parse_qs(raw.decode("utf-8", "replace"))
            user = fields.get("username", [""])[0]
            ok = fields.get("password", [""])[0] == PASSWORD
            self.record("/login", user, ok)
            if ok:
                self.send(302, b"", extra=[("Location", "/welcome"),
                                           ("Set-Cookie", "session=%s; HttpOnly" % user)])
            else:
                self.send(200, b"<p>Invalid username or password</p>" + FORM)
        elif self.path == "/api/login":
            try:
                doc = json.loads(raw)
                user, password = str(doc["username"]), str(doc["password"])
            except (ValueError, KeyError, TypeError):
                self.send(400, b'{"ok":false,"error":"bad request"}', "application/json")
                return
            ok = password == PASSWORD
            self.record("/api/login", user, ok)
            self.send(200, json.dumps({"ok": ok}).encode(), "application/json")
        else:
            self.send(404, b"not found\n")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    Server((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
