#!/usr/bin/env python3
"""Bounded floods for tests and the demo: every flood stops at a packet
count and a deadline, whichever comes first, and only targets the address
it is given (a lab namespace).

  flood.py udp  HOST PORT COUNT SECONDS
  flood.py syn  HOST PORT COUNT SECONDS   (non-blocking connects: one SYN each)

Prints the number of packets sent.
"""
import errno
import socket
import sys
import time


def udp(host, port, count, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = b"x" * 64
    deadline = time.monotonic() + seconds
    sent = 0
    while sent < count and time.monotonic() < deadline:
        try:
            s.sendto(payload, (host, port))
            sent += 1
        except OSError:
            time.sleep(0.001)
    return sent


def syn(host, port, count, seconds):
    deadline = time.monotonic() + seconds
    sent = 0
    open_socks = []
    while sent < count and time.monotonic() < deadline:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        except OSError as e:
            if e.errno not in (errno.EINPROGRESS, errno.ECONNREFUSED):
                s.close()
                continue
        open_socks.append(s)
        sent += 1
        # Keep the number of open sockets bounded.
        if len(open_socks) >= 512:
            for o in open_socks:
                o.close()
            open_socks = []
    for o in open_socks:
        o.close()
    return sent


def main():
    if len(sys.argv) != 6 or sys.argv[1] not in ("udp", "syn"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, host, port, count, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    sent = (udp if kind == "udp" else syn)(host, port, count, seconds)
    print(sent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
