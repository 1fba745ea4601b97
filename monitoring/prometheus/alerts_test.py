#!/usr/bin/env python3
"""Unit tests for alerts.yml with `promtool test rules`: each alert fires on
the series it is meant for (with its severity, summary and runbook), and
stays quiet on a healthy series.

  monitoring/prometheus/alerts_test.py     # exit 0 when every case passes

promtool compares annotations verbatim, so the expected annotations are
taken from alerts.yml and their few template fields filled in here
({{ $labels.x }}, {{ $value | humanize }}, {{ $value | humanizePercentage }})
from each case's labels and value. Run by tests/e2e/metrics_test.sh.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
INST = "waf1:9464"
BASE = f'instance="{INST}",job="mamori"'


def cases():
    """(alertname, input series, eval time, labels, value or None)."""
    return [
        ("MamoridDown", [(f"up{{{BASE}}}", "1 1 0x10")], "3m",
         {"job": "mamori", "instance": INST}, None),
        ("MamoridDown", [(f"up{{{BASE}}}", "1x20")], "3m", None, None),
        ("MamoriCollectorFailing",
         [(f'mamori_metrics_collector_up{{{BASE},collector="xdp"}}', "0x40")], "6m",
         {"instance": INST, "collector": "xdp"}, None),
        # 30000 packets per 15 s: 2000 drops/s, over the 1000/s threshold for 2 min.
        ("MamoriFloodInProgress",
         [(f'mamori_xdp_packets_total{{{BASE},verdict="drop",reason="rate_syn"}}', "0+30000x30")],
         "5m", {"instance": INST}, 2000),
        ("MamoriFloodInProgress",
         [(f'mamori_xdp_packets_total{{{BASE},verdict="drop",reason="rate_syn"}}', "0+3000x30")],
         "5m", None, None),
        # An hour at 0.1 blocks/s, then 10/s.
        ("MamoriDetectionSpike",
         [(f'mamori_http_verdicts_total{{{BASE},verdict="block"}}', "0+1.5x240 360+150x40")],
         "70m", {"instance": INST}, None),
        ("MamoriDetectionSpike",
         [(f'mamori_http_verdicts_total{{{BASE},verdict="block"}}', "0+150x280")],
         "70m", None, None),
        # 10 upstream errors/s against 100 requests/s: 10 %.
        ("MamoriUpstreamErrors",
         [(f'mamori_upstream_errors_total{{{BASE},status_code="502"}}', "0+150x40"),
          (f'mamori_http_verdicts_total{{{BASE},verdict="pass"}}', "0+1500x40")],
         "9m", {"instance": INST}, 0.1),
        ("MamoriUpstreamErrors",
         [(f'mamori_upstream_errors_total{{{BASE},status_code="502"}}', "0+1x40"),
          (f'mamori_http_verdicts_total{{{BASE},verdict="pass"}}', "0+1500x40")],
         "9m", None, None),
        # 1.9 of 2 cores busy: 95 %.
        ("MamoriHostCpuHigh",
         [(f'mamori_host_cpu_seconds_total{{{BASE},mode="idle"}}', "0+1.5x80"),
          (f'mamori_host_cpu_seconds_total{{{BASE},mode="user"}}', "0+28.5x80")],
         "17m", {"instance": INST}, 0.95),
        ("MamoriHostMemoryHigh",
         [(f"mamori_host_memory_available_bytes{{{BASE}}}", "5x60"),
          (f"mamori_host_memory_total_bytes{{{BASE}}}", "100x60")],
         "12m", {"instance": INST}, 0.95),
        ("MamoriHostMemoryHigh",
         [(f"mamori_host_memory_available_bytes{{{BASE}}}", "50x60"),
          (f"mamori_host_memory_total_bytes{{{BASE}}}", "100x60")],
         "12m", None, None),
        ("MamoridFileDescriptorsHigh",
         [(f"mamori_process_open_fds{{{BASE}}}", "90x40"),
          (f"mamori_process_max_fds{{{BASE}}}", "100x40")],
         "7m", {"instance": INST}, 0.9),
        ("MamoriLogDiskHigh",
         [(f"mamori_host_log_filesystem_available_bytes{{{BASE}}}", "10x60"),
          (f"mamori_host_log_filesystem_size_bytes{{{BASE}}}", "100x60")],
         "12m", {"instance": INST}, 0.9),
        ("MamoriLogDiskFull",
         [(f"mamori_host_log_filesystem_available_bytes{{{BASE}}}", "2x20"),
          (f"mamori_host_log_filesystem_size_bytes{{{BASE}}}", "100x20")],
         "4m", {"instance": INST}, 0.98),
        ("MamoriLogDiskFull",
         [(f"mamori_host_log_filesystem_available_bytes{{{BASE}}}", "10x20"),
          (f"mamori_host_log_filesystem_size_bytes{{{BASE}}}", "100x20")],
         "4m", None, None),
    ]


def humanize(v):
    for factor, prefix in ((1e24, "Y"), (1e21, "Z"), (1e18, "E"), (1e15, "P"), (1e12, "T"),
                           (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= factor:
            return f"{v / factor:.4g}{prefix}"
    return f"{v:.4g}"


def render(text, labels, value):
    def field(m):
        expr = m.group(1).strip()
        if expr.startswith("$labels."):
            return labels[expr[len("$labels."):]]
        if expr == "$value | humanize":
            return humanize(value)
        if expr == "$value | humanizePercentage":
            return f"{value * 100:.4g}%"
        raise ValueError(f"template field not handled by this test: {expr}")
    return re.sub(r"\{\{(.*?)\}\}", field, text)


def main():
    rules = {r["alert"]: r for g in yaml.safe_load(open(os.path.join(HERE, "alerts.yml")))["groups"]
             for r in g["rules"]}
    tested = set()
    tests = []
    for name, series, at, labels, value in cases():
        tested.add(name)
        exp = []
        if labels is not None:
            rule = rules[name]
            exp = [{"exp_labels": {**labels, **rule["labels"]},
                    "exp_annotations": {k: render(v, labels, value)
                                        for k, v in rule["annotations"].items()}}]
        tests.append({"interval": "15s",
                      "input_series": [{"series": s, "values": v} for s, v in series],
                      "alert_rule_test": [{"eval_time": at, "alertname": name, "exp_alerts": exp}]})
    untested = sorted(set(rules) - tested)
    if untested:
        print("alerts without a test case: " + ", ".join(untested))
        return 1
    tmp = tempfile.mkdtemp(prefix="mamori-alerts-test.")
    try:
        shutil.copy(os.path.join(HERE, "alerts.yml"), tmp)
        path = os.path.join(tmp, "alerts_test.yml")
        with open(path, "w") as f:  # JSON is YAML: no YAML writer needed
            json.dump({"rule_files": ["alerts.yml"], "evaluation_interval": "15s",
                       "tests": tests}, f, indent=1)
        run = subprocess.run(["promtool", "test", "rules", path], capture_output=True, text=True)
        sys.stdout.write(run.stdout + run.stderr)
        if run.returncode == 0:
            print(f"{len(tests)} alert cases passed ({len(rules)} alerts)")
        return run.returncode
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    sys.exit(main())
