#!/usr/bin/env python3
"""Second, independent implementation of JA3 and JA4 used to produce the
expected values in tls_fingerprint_test.cpp for the recorded ClientHellos.

Usage: fingerprint_reference.py <capture.hex>...
Each capture is the TLS records (hex, one line) carrying a ClientHello, as
saved by the capture server described in docs/fingerprints.md. Prints JA3
text, JA3 MD5, JA4, JA4_r, JA4_o and JA4_ro. JA3 was also checked against
Wireshark 4.0's tls.handshake.ja3 (Debian 12 tshark)."""
import hashlib, sys

def grease(v):
    return (v & 0x0F0F) == 0x0A0A and (v >> 8) == (v & 0xFF)

def u16s(b):
    return [int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2)]

def parse(records):
    hs, i = b"", 0
    while i < len(records):
        n = int.from_bytes(records[i + 3:i + 5], "big")
        hs += records[i + 5:i + 5 + n]
        i += 5 + n
    assert hs[0] == 1
    body = hs[4:4 + int.from_bytes(hs[1:4], "big")]
    h = {"ver": int.from_bytes(body[0:2], "big")}
    p = 34
    p += 1 + body[p]
    n = int.from_bytes(body[p:p + 2], "big"); h["ciphers"] = u16s(body[p + 2:p + 2 + n]); p += 2 + n
    p += 1 + body[p]
    h.update(exts=[], sni=False, alpn=[], versions=[], sigs=[], groups=[], pf=[])
    if p < len(body):
        end = p + 2 + int.from_bytes(body[p:p + 2], "big"); p += 2
        while p < end:
            t = int.from_bytes(body[p:p + 2], "big"); n = int.from_bytes(body[p + 2:p + 4], "big")
            d = body[p + 4:p + 4 + n]; p += 4 + n
            h["exts"].append(t)
            if t == 0: h["sni"] = True
            elif t == 16:
                q = 2
                while q < len(d):
                    h["alpn"].append(d[q + 1:q + 1 + d[q]]); q += 1 + d[q]
            elif t == 43: h["versions"] = u16s(d[1:])
            elif t == 13: h["sigs"] = u16s(d[2:])
            elif t == 10: h["groups"] = u16s(d[2:])
            elif t == 11: h["pf"] = list(d[1:])
    return h

def ja3(h):
    f = lambda xs: "-".join(str(x) for x in xs if not grease(x))
    s = ",".join([str(h["ver"]), f(h["ciphers"]), f(h["exts"]), f(h["groups"]),
                  "-".join(str(x) for x in h["pf"])])
    return s, hashlib.md5(s.encode()).hexdigest()

def ja4(h):
    vs = [v for v in h["versions"] if not grease(v)]
    v = max(vs) if vs else h["ver"]
    ver = {0x304: "13", 0x303: "12", 0x302: "11", 0x301: "10", 0x300: "s3"}.get(v, "00")
    c = [x for x in h["ciphers"] if not grease(x)]
    e = [x for x in h["exts"] if not grease(x)]
    s = [x for x in h["sigs"] if not grease(x)]
    if not h["alpn"] or not h["alpn"][0]: al = "00"
    else:
        a = h["alpn"][0]
        ok = lambda ch: chr(ch).isascii() and chr(ch).isalnum()
        al = chr(a[0]) + chr(a[-1]) if ok(a[0]) and ok(a[-1]) else a.hex()[0] + a.hex()[-1]
    pa = "t%s%s%02d%02d%s" % (ver, "d" if h["sni"] else "i", min(len(c), 99), min(len(e), 99), al)
    hx = lambda xs: ",".join("%04x" % x for x in xs)
    sh = lambda t, xs: hashlib.sha256(t.encode()).hexdigest()[:12] if xs else "000000000000"
    cs = hx(sorted(c))
    es = [x for x in sorted(e) if x not in (0, 16)]
    ce = hx(es) + ("_" + hx(s) if s else "")
    co = hx(e) + ("_" + hx(s) if s else "")
    return ("%s_%s_%s" % (pa, sh(cs, c), sh(ce, es)), "%s_%s_%s" % (pa, cs, ce),
            "%s_%s_%s" % (pa, sh(hx(c), c), sh(co, e)), "%s_%s_%s" % (pa, hx(c), co))

for path in sys.argv[1:]:
    h = parse(bytes.fromhex(open(path).read().strip()))
    print(path)
    for line in ja3(h) + ja4(h):
        print("  " + line)
