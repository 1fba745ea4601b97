#!/usr/bin/env python3
"""The e2e login application (tests/e2e/lib/login_upstream.py), plus an
access log, for the login-abuse benchmark (bench/login/run.sh).

Everything the e2e upstream does is unchanged (same form, same answers, same
attempts log, one JSON line per login attempt). On top, every request is
written to ACCESS_LOG as one combined-log-style line:

  10.80.3.2 - - [28/Nov/2026:21:30:00 +0000] "POST /login HTTP/1.1" 200 - "-" "attack.py"

with the TCP peer's address (what a web server logs; behind mamorid that is
mamorid's address, in front of fail2ban it is the attacker's). A failed form
login is a 200 on POST /login (a success is a 302), so fail2ban's filter
matches `"POST /login HTTP/1.x" 200`, as WordPress filters do.

Usage: upstream.py BIND_ADDR PORT ATTEMPTS_LOG ACCESS_LOG
"""
import importlib.util
import os
import sys
import threading
import time

if len(sys.argv) != 5:
    sys.exit("usage: upstream.py BIND_ADDR PORT ATTEMPTS_LOG ACCESS_LOG")

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "login_upstream", os.path.join(_here, "../../tests/e2e/lib/login_upstream.py"))
login_upstream = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(login_upstream)

_access_lock = threading.Lock()


class Handler(login_upstream.Handler):
    # Called by send_response() with the status; one line per request.
    def log_request(self, code="-", size="-"):
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        agent = self.headers.get("User-Agent", "-") if self.headers else "-"
        line = '%s - - [%s] "%s" %s %s "-" "%s"\n' % (
            self.client_address[0], stamp, self.requestline, int(code), size, agent)
        with _access_lock, open(sys.argv[4], "a") as f:
            f.write(line)


if __name__ == "__main__":
    login_upstream.Server((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
