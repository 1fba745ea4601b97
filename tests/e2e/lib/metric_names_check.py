#!/usr/bin/env python3
"""Checks that every mamori_* name the dashboards and alert rules query is a
family the metrics module defines (a string literal in userspace/metrics/),
so a typo in a panel that is not fed yet cannot hide until it is.

  metric_names_check.py REPO_ROOT      # exit 0 if all names are known

Histogram series suffixes (_bucket, _sum, _count) are mapped to their family.
"""
import glob
import json
import os
import re
import sys

NAME = re.compile(r"\bmamori_[a-z0-9_]+")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = sys.argv[1]
    defined = set()
    for path in glob.glob(os.path.join(root, "userspace/metrics/*.cpp")):
        defined |= set(re.findall(r'"(mamori_[a-z0-9_]+)"', open(path).read()))
    used = {}
    for path in glob.glob(os.path.join(root, "monitoring/grafana/dashboards/*.json")):
        board = json.load(open(path))
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                for name in NAME.findall(target["expr"]):
                    used.setdefault(name, f'{board["uid"]} / {panel["title"]}')
        for var in board["templating"]["list"]:
            for name in NAME.findall(json.dumps(var.get("query", ""))):
                used.setdefault(name, f'{board["uid"]} / variable {var["name"]}')
    alerts = open(os.path.join(root, "monitoring/prometheus/alerts.yml")).read()
    for line in alerts.splitlines():
        if line.lstrip().startswith("#"):
            continue
        for name in NAME.findall(line):
            used.setdefault(name, "alerts.yml")
    unknown = []
    for name, where in sorted(used.items()):
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in defined and family not in defined:
            unknown.append(f"{name} ({where})")
    if unknown:
        print("names no collector defines:\n  " + "\n  ".join(unknown))
        return 1
    print(f"{len(used)} metric names used by dashboards and alerts, all defined")
    return 0


if __name__ == "__main__":
    sys.exit(main())
