#!/usr/bin/env python3
"""The protected application of the L7 flood benchmark: an HTTP/1.1 server
that handles one request at a time and spends WORK_MS of wall time on each
(a database query, say), so it serves at most about 1000 / WORK_MS requests a
second. A flood that gets through saturates it and every client queues
behind the flood, which is what the protection has to prevent.

  app.py HOST PORT WORK_MS
"""
import http.server
import sys
import threading
import time

WORK = float(sys.argv[3]) / 1000.0
# One request at a time, whatever the number of connections: the proxies
# keep several upstream connections alive, each served by its own thread.
BUSY = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        with BUSY:
            time.sleep(WORK)
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


if __name__ == "__main__":
    Server((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
