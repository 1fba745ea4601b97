#!/usr/bin/env python3
"""Measures the SQLi and XSS detectors against the OWASP CRS regression tests.

Reads the go-ftw YAML of REQUEST-942 (SQLi) and REQUEST-941 (XSS), takes
every stage, splits its request into the values a WAF inspects (path, query
argument names and values, form body names and values or the raw body,
cookie names and values, Referer/User-Agent and other non-standard
headers), URL-decodes them once (as the HTTP layer does), and runs them
through build/bench-bin/detector_eval. A stage whose output expects a rule
id is an attack: it counts as detected when any of its values trips the
detector of its class. A stage that expects no id is benign: any hit is a
false positive. Our own list of ordinary values (benign_values.txt, one per
line) is run through both detectors as well.

  bench/detectors/crs_eval.py [--bin build/bench-bin/detector_eval]
      [--corpus ../shared/corpus/crs-regression] [--misses] [--fps]
"""
import argparse
import glob
import html
import json
import re
import os
import subprocess
import sys
import unicodedata
import xml.etree.ElementTree as ET
import urllib.parse

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STANDARD_HEADERS = {"host", "accept", "content-type", "content-length", "connection",
                    "accept-encoding", "accept-language", "cache-control", "proxy-connection"}
DEFAULT_UA = "OWASP CRS test agent"


def url_decode_uni(text):
    """%XX and IIS-style %uXXXX, leaving malformed escapes alone."""
    text = re.sub(r"%u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    return urllib.parse.unquote(text)


def transformed(value):
    """The value after the transforms a rule chain applies before the
    detector operators (what the engine's transform stage will do): one more
    URL decode (%uXXXX too), HTML entity decode, Unicode NFKC (folds
    full-width forms). None when that changes nothing."""
    t = unicodedata.normalize("NFKC", html.unescape(url_decode_uni(value)))
    return t if t != value else None


def json_values(text):
    """Keys and leaf values of a JSON body, as the engine's body parser
    hands them to inspection; None when it is not JSON."""
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    out = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                out.append(str(k))
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif node is not None:
            out.append(node if isinstance(node, str) else json.dumps(node))
    walk(doc)
    return out


def xml_values(text):
    """Text and attribute values of an XML body; None when it does not parse."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    out = []
    for el in root.iter():
        out += [v for v in el.attrib.values()]
        if el.text and el.text.strip():
            out.append(el.text)
    return out


def form_values(text):
    out = []
    for piece in text.split("&"):
        if not piece:
            continue
        name, eq, value = piece.partition("=")
        out.append(urllib.parse.unquote_plus(name))
        if eq:
            out.append(urllib.parse.unquote_plus(value))
    return out


def stage_values(inp):
    values = []
    uri = str(inp.get("uri") or "")
    path, _, query = uri.partition("?")
    values.append(urllib.parse.unquote(path))
    # Path segments too: an injection in a rewritten URL (/item/1'or'1) is
    # judged on its segment, not on the whole path.
    values += [urllib.parse.unquote(seg) for seg in path.split("/")[1:] if seg]
    if query:
        values += form_values(query)
    headers = {str(k): str(v) for k, v in (inp.get("headers") or {}).items()}
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    data = inp.get("data")
    if isinstance(data, list):
        data = "\r\n".join(str(x) for x in data)
    if data:
        data = str(data)
        parsed = None
        if "json" in ctype or data.lstrip().startswith(("{", "[")):
            parsed = json_values(data)
        elif "xml" in ctype or data.lstrip().startswith("<?xml"):
            parsed = xml_values(data)
        if parsed is not None:
            values += parsed
        elif "json" in ctype or "xml" in ctype or "multipart" in ctype:
            values.append(data)
        elif "=" in data:
            values += form_values(data)
        else:
            values.append(urllib.parse.unquote_plus(data))
    for name, value in headers.items():
        low = name.lower()
        if low == "cookie":
            for piece in value.split(";"):
                cname, eq, cval = piece.strip().partition("=")
                values.append(urllib.parse.unquote(cname))
                if eq:
                    values.append(urllib.parse.unquote(cval))
        elif low == "user-agent":
            if value != DEFAULT_UA:
                values.append(value)
        elif low not in STANDARD_HEADERS:
            values.append(value)
    return [v for v in values if v]


def load_stages(corpus, directory, meta):
    stages = []
    for path in sorted(glob.glob(os.path.join(corpus, "tests", directory, "*.yaml"))):
        doc = yaml.safe_load(open(path, encoding="utf-8", errors="replace"))
        if not isinstance(doc, dict):
            continue
        rule = str(doc.get("rule_id", os.path.basename(path).split(".")[0]))
        pl = meta.get(rule, {}).get("pl", 0)
        for test in doc.get("tests", []):
            for stage in test.get("stages", []):
                stage = stage.get("stage", stage)
                if not isinstance(stage.get("input"), dict):
                    continue
                log = (stage.get("output") or {}).get("log") or {}
                attack = bool(log.get("expect_ids"))
                stages.append({"rule": rule, "pl": pl, "test": test.get("test_id"),
                               "attack": attack, "values": stage_values(stage.get("input") or {})})
    return stages


def run_detectors(binary, values):
    parts = []
    for v in values:
        b = v.encode("utf-8", "surrogateescape")
        parts.append(b"%d\n" % len(b) + b)
    payload = b"".join(parts)
    out = subprocess.run([binary], input=payload, stdout=subprocess.PIPE, check=True).stdout
    rows = []
    for line in out.decode("utf-8", "replace").splitlines():
        sqli, xss, fp = line.split(" ", 2)
        rows.append((sqli == "1", xss == "1", fp))
    if len(rows) != len(values):
        sys.exit(f"detector_eval answered {len(rows)} lines for {len(values)} values")
    return rows


def judge(binary, stages, which, transforms):
    """Sets stage["hit"]: did detector `which` (0 SQLi, 1 XSS) flag any of
    its values (and, with transforms, of their transformed forms)?"""
    lists = []
    for s in stages:
        vals = list(s["values"])
        if transforms:
            vals += [t for t in map(transformed, s["values"]) if t]
        lists.append(vals)
    flat = [v for vals in lists for v in vals]
    rows = run_detectors(binary, flat) if flat else []
    k = 0
    for s, vals in zip(stages, lists):
        hits = rows[k:k + len(vals)]
        k += len(vals)
        s["hit"] = any(h[which] for h in hits)


def prose_lines():
    """Distinct lines (8+ bytes) of READMEs, the first 200 Debian changelogs
    and the common licenses installed on this machine, sorted."""
    import gzip
    files = sorted(glob.glob("/usr/share/common-licenses/*") + glob.glob("/usr/share/doc/*/README*"))
    files += sorted(glob.glob("/usr/share/doc/*/changelog.Debian.gz"))[:200]
    lines = []
    for f in files:
        try:
            data = gzip.open(f).read() if f.endswith(".gz") else open(f, "rb").read()
        except OSError:
            continue
        for line in data.decode("utf-8", "replace").splitlines():
            line = line.strip()
            if len(line) >= 8:
                lines.append(line)
    return list(dict.fromkeys(lines))


def pct(a, b):
    return f"{100.0 * a / b:5.1f}%" if b else "   - "


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bench-bin", "detector_eval"))
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "..", "shared", "corpus", "crs-regression"))
    ap.add_argument("--misses", action="store_true", help="print attack values not detected")
    ap.add_argument("--fps", action="store_true", help="print benign values flagged")
    ap.add_argument("--prose", action="store_true",
                    help="also count hits on lines of this machine's /usr/share/doc READMEs, "
                         "Debian changelogs and licenses (ordinary English and markup)")
    ap.add_argument("--transforms", action="store_true",
                    help="also run each value after urlDecodeUni + htmlEntityDecode + NFKC")
    args = ap.parse_args()
    corpus = args.corpus
    if not os.path.isdir(corpus):
        corpus = "/work/shared/corpus/crs-regression"
    meta = json.load(open(os.path.join(corpus, "rule_meta.json")))["rules"]

    for name, directory, which in (("SQLi", "REQUEST-942-APPLICATION-ATTACK-SQLI", 0),
                                   ("XSS", "REQUEST-941-APPLICATION-ATTACK-XSS", 1)):
        stages = load_stages(corpus, directory, meta)
        judge(args.bin, stages, which, args.transforms)
        attacks = [s for s in stages if s["attack"]]
        benign = [s for s in stages if not s["attack"]]
        print(f"## {name} ({directory}){' with transforms' if args.transforms else ''}")
        for pl in (1, 2, 3, 4):
            sel = [s for s in attacks if s["pl"] == pl]
            hit = sum(s["hit"] for s in sel)
            print(f"  attacks PL{pl}: {hit:4d}/{len(sel):4d} detected {pct(hit, len(sel))}")
        hit = sum(s["hit"] for s in attacks)
        print(f"  attacks all: {hit:4d}/{len(attacks):4d} detected {pct(hit, len(attacks))}")
        fp = sum(s["hit"] for s in benign)
        print(f"  benign stages: {fp:4d}/{len(benign):4d} flagged {pct(fp, len(benign))}")
        if args.misses:
            for s in attacks:
                if not s["hit"]:
                    print(f"    MISS {s['rule']}#{s['test']} PL{s['pl']}: {s['values']!r}"[:300])
        if args.fps:
            for s in benign:
                if s["hit"]:
                    print(f"    FP {s['rule']}#{s['test']}: {s['values']!r}"[:300])

    # A wider benign yardstick: every stage of every CRS test file that
    # expects no rule to fire (protocol, LFI, RCE, ... files included).
    wide = []
    for directory in sorted(os.listdir(os.path.join(corpus, "tests"))):
        wide += [s for s in load_stages(corpus, directory, meta) if not s["attack"]]
    print(f"## benign stages of all CRS files ({len(wide)})")
    for name, which in (("SQLi", 0), ("XSS", 1)):
        judge(args.bin, wide, which, args.transforms)
        fp = sum(s["hit"] for s in wide)
        print(f"  {name} flagged: {fp:4d}/{len(wide):4d} {pct(fp, len(wide))}")
        if args.fps:
            for s in wide:
                if s["hit"]:
                    print(f"    FP {s['rule']}#{s['test']}: {s['values']!r}"[:300])

    if args.prose:
        prose = prose_lines()
        rows = run_detectors(args.bin, prose)
        print(f"## prose lines from /usr/share/doc and common-licenses ({len(prose)})")
        for name, which in (("SQLi", 0), ("XSS", 1)):
            hits = [v for v, r in zip(prose, rows) if r[which]]
            print(f"  {name} flagged: {len(hits):5d}/{len(prose):5d} {pct(len(hits), len(prose))}")
            if args.fps:
                for v in hits:
                    print(f"    FP {v[:200]!r}")

    ordinary = [l.rstrip("\n") for l in open(os.path.join(HERE, "benign_values.txt"), encoding="utf-8")
                if l.strip() and not l.startswith("#")]
    rows = run_detectors(args.bin, ordinary)
    sq = [v for v, r in zip(ordinary, rows) if r[0]]
    xs = [v for v, r in zip(ordinary, rows) if r[1]]
    print("## ordinary values (bench/detectors/benign_values.txt)")
    print(f"  SQLi flagged: {len(sq):4d}/{len(ordinary):4d} {pct(len(sq), len(ordinary))}")
    print(f"  XSS  flagged: {len(xs):4d}/{len(ordinary):4d} {pct(len(xs), len(ordinary))}")
    if args.fps:
        for v, r in zip(ordinary, rows):
            if r[0] or r[1]:
                print(f"    FP sqli={int(r[0])} xss={int(r[1])} {r[2]}: {v!r}")


if __name__ == "__main__":
    main()
