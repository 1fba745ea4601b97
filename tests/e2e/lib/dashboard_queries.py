#!/usr/bin/env python3
"""Runs every panel query of mamori's Grafana dashboards against Prometheus.

  dashboard_queries.py PROMETHEUS_URL DASHBOARD.json...

Grafana's variables are replaced as Grafana would for a short range:
$__rate_interval -> 30s, $__interval -> 5s, $__range -> 5m, $instance -> .*
(the "All" value), ${datasource} only appears in datasource fields.

A panel whose description starts with "Not fed yet" (see
monitoring/grafana/generate.py) is listed as skipped, and must return no data:
once its family is fed, the marker has to go. Every other query must return
at least one series. Exit 0 when all hold, 1 otherwise; one line per query.
"""
import json
import sys
import urllib.parse
import urllib.request

SUBST = [("$__rate_interval", "30s"), ("$__interval", "5s"), ("$__range", "5m"),
         ("$instance", ".*")]


def query(base, expr):
    url = base.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"query failed: {body}")
    return body["data"]["result"]


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    base, files = sys.argv[1], sys.argv[2:]
    failures = checked = skipped = 0
    for path in files:
        board = json.load(open(path))
        for panel in board["panels"]:
            not_fed = panel.get("description", "").startswith("Not fed yet")
            for target in panel.get("targets", []):
                expr = target["expr"]
                for var, value in SUBST:
                    expr = expr.replace(var, value)
                where = f'{board["uid"]} / {panel["title"]} / {target["refId"]}'
                try:
                    result = query(base, expr)
                except Exception as e:  # noqa: BLE001 - report and go on
                    print(f"FAIL: {where}: {e}\n      {expr}")
                    failures += 1
                    continue
                if not_fed:
                    skipped += 1
                    if result:
                        print(f"FAIL: {where}: marked 'Not fed yet' but returns data; "
                              f"remove the marker\n      {expr}")
                        failures += 1
                    else:
                        print(f"skipped (not fed yet): {where}")
                    continue
                checked += 1
                if not result:
                    print(f"FAIL: {where}: no data\n      {expr}")
                    failures += 1
                else:
                    print(f"ok: {where}: {len(result)} series")
    print(f"{checked} queries returned data, {skipped} skipped (not fed yet), {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
