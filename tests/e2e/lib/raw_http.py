#!/usr/bin/env python3
"""Sends raw bytes (stdin) to 127.0.0.1:PORT and writes the whole reply to
stdout, for requests curl will not send (smuggling, pipelining, half
headers). Reads until the server closes.

  printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | raw_http.py PORT [options]

  --half-close   shut down the sending side after the request
  --body         write only what follows the first blank line (the body)
  --elapsed      first write "<seconds until close>\\n", then the reply
"""
import socket
import sys
import time


def main():
    args = sys.argv[1:]
    if not args or not args[0].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    port, options = int(args[0]), set(args[1:])
    unknown = options - {"--half-close", "--body", "--elapsed"}
    if unknown:
        print("raw_http.py: unknown option(s): %s" % " ".join(sorted(unknown)), file=sys.stderr)
        return 2
    s = socket.create_connection(("127.0.0.1", port), 10)
    s.sendall(sys.stdin.buffer.read())
    if "--half-close" in options:
        s.shutdown(socket.SHUT_WR)
    started = time.monotonic()
    data = b""
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    if "--elapsed" in options:
        sys.stdout.write("%.1f\n" % (time.monotonic() - started))
        sys.stdout.flush()
    if "--body" in options:
        data = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    sys.stdout.buffer.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
