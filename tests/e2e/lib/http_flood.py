#!/usr/bin/env python3
"""Bounded HTTP load for the L7 flood e2e test and benchmark: every run stops
at a request count and a deadline, whichever comes first, and only targets
the address it is given (a lab namespace or loopback).

  http_flood.py HOST PORT [--path P] [--count N] [--seconds S] [--conns C]
                [--source ADDR] [--rate R] [--timeout T]

C threads (default 1) each keep one keep-alive HTTP/1.1 connection and send
GETs back to back (or, with --rate, R requests per second in total, evenly
paced: a legitimate client). A connection the server closes is reopened. A
connect that times out or is refused counts as "connect_fail" (an XDP ban
drops the SYN, so the connect times out).

Prints one JSON object: {"sent", "status": {"200": n, "429": m, ...},
"connect_fail", "errors", "p50_ms", "p99_ms", "ok_rate", "seconds"}, where
the latencies are those of requests that got an answer, and ok_rate is the
share of requests answered 200 (connect failures and errors count as not ok).
"""
import argparse
import json
import socket
import threading
import time


def read_response(sock, buf):
    """Reads one response; returns (status, buf_rest, keep_alive)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    chunked = False
    close = lines[0].startswith(b"HTTP/1.0")
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        value = value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value:
            chunked = True
        elif name == b"connection":
            close = value == b"close"
    if chunked:
        while not rest.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed in a chunked body")
            rest += chunk
        return status, b"", not close
    if length == 0 and close and status not in (204, 304):
        while True:  # body delimited by closing
            chunk = sock.recv(65536)
            if not chunk:
                break
        return status, b"", False
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the body")
        rest += chunk
    return status, rest[length:], not close


def worker(args, stop_at, budget, lock, results, interval):
    sock = None
    buf = b""
    next_send = time.monotonic()
    request = ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: http_flood\r\n\r\n"
               % (args.path, args.host_header or args.host)).encode()
    while time.monotonic() < stop_at:
        with lock:
            if budget[0] <= 0:
                break
            budget[0] -= 1
        if interval:
            now = time.monotonic()
            if next_send > now:
                time.sleep(next_send - now)
            next_send = max(next_send + interval, time.monotonic() - interval)
        started = time.monotonic()
        try:
            if sock is None:
                sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
                sock.settimeout(args.timeout)
                if args.source:
                    sock.bind((args.source, 0))
                try:
                    sock.connect((args.host, args.port))
                except OSError:
                    sock.close()
                    sock = None
                    with lock:
                        results["connect_fail"] += 1
                        results["sent"] += 1
                    continue
                buf = b""
            sock.sendall(request)
            status, buf, keep = read_response(sock, buf)
            took = (time.monotonic() - started) * 1000.0
            with lock:
                results["sent"] += 1
                results["status"][str(status)] = results["status"].get(str(status), 0) + 1
                results["latencies"].append(took)
            if not keep:
                sock.close()
                sock = None
        except (OSError, ValueError, IndexError):
            if sock is not None:
                sock.close()
            sock = None
            with lock:
                results["sent"] += 1
                results["errors"] += 1
    if sock is not None:
        sock.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--path", default="/")
    p.add_argument("--host-header", default="")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--source", default="")
    p.add_argument("--rate", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=1.0)
    args = p.parse_args()
    if args.count < 1 or args.count > 10_000_000 or args.seconds <= 0 or args.seconds > 600:
        p.error("count must be 1..10000000 and seconds 0..600")
    if args.conns < 1 or args.conns > 256:
        p.error("conns must be 1..256")
    results = {"sent": 0, "status": {}, "connect_fail": 0, "errors": 0, "latencies": []}
    lock = threading.Lock()
    budget = [args.count]
    start = time.monotonic()
    stop_at = start + args.seconds
    interval = args.conns / args.rate if args.rate > 0 else 0.0
    threads = [threading.Thread(target=worker, args=(args, stop_at, budget, lock, results, interval))
               for _ in range(args.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat = sorted(results.pop("latencies"))

    def pct(q):
        if not lat:
            return None
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 2)

    sent = results["sent"]
    results["p50_ms"] = pct(0.50)
    results["p99_ms"] = pct(0.99)
    results["ok_rate"] = round(results["status"].get("200", 0) / sent, 4) if sent else 0.0
    results["seconds"] = round(time.monotonic() - start, 2)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
