#!/usr/bin/env python3
"""A scripted client that solves mamori's browser challenge the way the
page's JavaScript does, for the challenge e2e test: proves that the
clearance cookie works, and for whom.

Usage: challenge_client.py URL USER_AGENT
Prints the cookie pair ("mamori_clearance=...") on success; exits 1 with a
reason otherwise.
"""
import hashlib
import http.client
import re
import sys
import urllib.parse


def main():
    url, ua = sys.argv[1], sys.argv[2]
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    target = u.path + ("?" + u.query if u.query else "")
    conn.request("GET", target, headers={"User-Agent": ua})
    resp = conn.getresponse()
    page = resp.read().decode()
    if resp.status != 403:
        sys.exit(f"expected the challenge (403), got {resp.status}")
    m = re.search(r'var T="([A-Za-z0-9_.-]+)",D=(\d+),R="([^"]*)",P="([^"]*)"', page)
    if not m:
        sys.exit("no challenge in the page")
    token, difficulty = m.group(1), int(m.group(2))
    back = m.group(3).encode().decode("unicode_escape")
    path = m.group(4).encode().decode("unicode_escape")
    n = 0
    while True:
        d = hashlib.sha256((token + str(n)).encode()).digest()
        if int.from_bytes(d[:4], "big") >> (32 - difficulty) == 0:
            break
        n += 1
    query = urllib.parse.urlencode({"t": token, "n": n, "r": back})
    conn.request("GET", f"{path}?{query}", headers={"User-Agent": ua})
    resp = conn.getresponse()
    resp.read()
    if resp.status != 303:
        sys.exit(f"solution refused: {resp.status}")
    if resp.getheader("Location") != back:
        sys.exit(f"redirected to {resp.getheader('Location')}, not {back}")
    cookie = resp.getheader("Set-Cookie") or ""
    if "HttpOnly" not in cookie or "SameSite=Lax" not in cookie:
        sys.exit(f"cookie attributes: {cookie}")
    print(cookie.split(";")[0])


if __name__ == "__main__":
    main()
