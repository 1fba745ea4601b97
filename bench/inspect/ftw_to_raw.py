#!/usr/bin/env python3
"""Converts go-ftw YAML tests into one raw-request file for corpus_eval.

    ftw_to_raw.py --tests DIR [--tools DIR] [--rule-meta FILE] --out FILE

Every stage is built and judged by ../shared/tools/ftw_run.py itself
(imported, not re-implemented), so corpus_eval replays exactly the bytes
and expectations the black-box runner uses. Output, one record per stage:

    #stage <id>\t<class>\t<kind>\t<pl or ->\t<byte count>\n<request bytes>\n

kind is attack, benign or skip; pl is the paranoia level of the rule under
test from rule_meta.json (- when unknown). A stage whose input cannot be
built is written as kind "error" with no bytes.
"""
import argparse
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tests", required=True, help="directory of ftw YAML files")
    ap.add_argument("--tools", default=None, help="directory holding ftw_run.py (default: beside the corpus)")
    ap.add_argument("--rule-meta", default=None, help="rule_meta.json (default: <tests>/../rule_meta.json)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    tests = os.path.abspath(a.tests.rstrip("/"))
    tools = a.tools or os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(tests))), "tools")
    sys.path.insert(0, tools)
    import ftw_run  # noqa: E402  (the shared runner: same request building and judging)

    meta_path = a.rule_meta or os.path.join(os.path.dirname(tests), "rule_meta.json")
    meta = {}
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)

    items, problems = ftw_run.load_items(tests, None)
    for p in problems:
        print(f"ftw_to_raw: {p}", file=sys.stderr)
    counts = {}
    with open(a.out, "wb") as out:
        for it in items:
            kind = it["kind"]
            data = b""
            if kind != "skip":
                try:
                    data = ftw_run.build_request(it["input"])
                except Exception as e:  # malformed test input: ftw_run reports it as an error
                    print(f"ftw_to_raw: {it['id']}: build: {e}", file=sys.stderr)
                    kind = "error"
            pl = ftw_run.rule_pl(it, meta)
            ident = it["id"].replace("\t", " ").replace("\n", " ")
            head = f"#stage {ident}\t{it['class']}\t{kind}\t{pl if pl is not None else '-'}\t{len(data)}\n"
            out.write(head.encode("utf-8") + data + b"\n")
            counts[kind] = counts.get(kind, 0) + 1
    print("ftw_to_raw: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f" -> {a.out}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
