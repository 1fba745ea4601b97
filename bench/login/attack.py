#!/usr/bin/env python3
"""One login attack for the login-abuse benchmark (bench/login/run.sh).

Sends form logins (POST /login, username + password) one after another,
as fast as answers come back or at most RATE per second (--rate, 0 = no
limit), one TCP connection per attempt (as a scripted attacker does), and stops after COUNT attempts or DURATION seconds,
whichever comes first. Each attempt gets TIMEOUT seconds; a refused or
dropped connection counts as status 0.

Shapes (SINGLE = the attacker's one address, MANY = the 50-address list):
  brute        one username ("admin"), a new password each time, from SINGLE
  spray        one password over usernames user1..userN, from SINGLE
  stuffing     a new (username, password) pair each time, from SINGLE
  distributed  one username ("victim"), a new password each time, from MANY
               in turn (round robin, so COUNT/50 attempts per address)
  spread-spray one password over user1..userN, from MANY in turn

Writes one JSON line per attempt to OUT: {"t": seconds since the first
attempt started, "src", "user", "status"}.

Usage: attack.py --target IP:PORT --shape S --single IP --many IP,IP,...
                 --count N --duration S [--rate R] [--timeout S] --out FILE
"""
import argparse
import http.client
import json
import sys
import time
import urllib.parse


def attempts(shape, count, single, many):
    for i in range(count):
        if shape == "brute":
            yield single, "admin", "guess%d" % i
        elif shape == "spray":
            yield single, "user%d" % (i + 1), "Summer2024!"
        elif shape == "stuffing":
            yield single, "user%d@example.com" % (i + 1), "leaked-%d" % (i * 7919 % 100003)
        elif shape == "distributed":
            yield many[i % len(many)], "victim", "pw%d" % i
        elif shape == "spread-spray":
            yield many[i % len(many)], "user%d" % (i + 1), "Summer2024!"
        else:
            raise ValueError("unknown shape " + shape)


def one(host, port, src, user, password, timeout):
    body = urllib.parse.urlencode({"username": user, "password": password})
    conn = http.client.HTTPConnection(host, port, timeout=timeout, source_address=(src, 0))
    try:
        conn.request("POST", "/login", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "attack.py"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", required=True)
    p.add_argument("--shape", required=True,
                   choices=["brute", "spray", "stuffing", "distributed", "spread-spray"])
    p.add_argument("--single", required=True)
    p.add_argument("--many", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--rate", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=1.0)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    host, _, port = a.target.rpartition(":")
    if not host or not port.isdigit() or a.count <= 0 or a.duration <= 0 or a.rate < 0:
        sys.exit("attack.py: bad --target, --count, --duration or --rate")
    many = [m for m in a.many.split(",") if m]
    start = time.monotonic()
    with open(a.out, "w") as out:
        for i, (src, user, password) in enumerate(attempts(a.shape, a.count, a.single, many)):
            if a.rate > 0:  # attempt i starts no earlier than i / rate
                time.sleep(max(0.0, start + i / a.rate - time.monotonic()))
            t = time.monotonic() - start
            if t >= a.duration:
                break
            status = one(host, int(port), src, user, password, a.timeout)
            out.write(json.dumps({"t": round(t, 4), "src": src, "user": user,
                                  "status": status}) + "\n")


if __name__ == "__main__":
    main()
