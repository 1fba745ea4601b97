#!/usr/bin/env python3
"""Results of bench/login/run.sh.

  summarize.py row DEFENDER SHAPE RATE ATTACK_JSONL ATTEMPTS_JSONL EXTRA
      one JSON result line for one attack run (stdout)
  summarize.py table RESULTS
      the table of every run, per shape and rate, mamori beside fail2ban

ATTACK_JSONL is attack.py's output (one line per attempt: t, src, user,
status; status 0 = refused, dropped or timed out). ATTEMPTS_JSONL is the
application's own log, one line per login attempt that reached it: that is
the "reached" count. An attempt reached the application, as the attacker
sees it, when the answer is the application's (200 form again, 302).
"stopped" is the time of the first attempt of the final run of attempts
that got no answer from the application; None when the last one got one.
"""
import collections
import json
import sys

APP_ANSWERS = (200, 302)


def row(defender, shape, rate, attack_path, attempts_path, extra):
    attack = [json.loads(line) for line in open(attack_path) if line.strip()]
    reached = sum(1 for line in open(attempts_path) if line.strip())
    last_app = max((i for i, a in enumerate(attack) if a["status"] in APP_ANSWERS), default=-1)
    stopped = None
    if attack and last_app < len(attack) - 1:
        stopped = attack[last_app + 1]["t"]
    refused = collections.Counter(a["status"] for a in attack if a["status"] not in APP_ANSWERS)
    elapsed = attack[-1]["t"] if attack else 0.0
    return {
        "defender": defender, "shape": shape, "rate": int(rate), "attempts": len(attack), "reached": reached,
        "reached_seen_by_attacker": sum(1 for a in attack if a["status"] in APP_ANSWERS),
        "stopped_s": stopped, "stopped_after": last_app + 1 if stopped is not None else None,
        "elapsed_s": elapsed, "sources": len({a["src"] for a in attack}),
        "refused": {str(k): v for k, v in sorted(refused.items())}, "state": extra,
    }


def refused_text(refused):
    names = {"0": "no answer", "403": "403", "429": "429"}
    return ", ".join("%s x%d" % (names.get(k, k), v) for k, v in refused.items()) or "-"


def table(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    groups = list(dict.fromkeys((r["shape"], r["rate"]) for r in rows))
    print("%-13s %5s %-9s %8s %8s %8s %9s  %s" % (
        "attack", "rate", "defender", "attempts", "reached", "sources", "stopped", "refused answers; defender state"))
    for shape, rate in groups:
        for r in rows:
            if (r["shape"], r["rate"]) != (shape, rate):
                continue
            stop = "%.2fs" % r["stopped_s"] if r["stopped_s"] is not None else "never"
            print("%-13s %5s %-9s %8d %8d %8d %9s  %s; %s" % (
                shape, rate or "max", r["defender"], r["attempts"], r["reached"], r["sources"], stop,
                refused_text(r["refused"]), r["state"]))
            if r["reached"] != r["reached_seen_by_attacker"]:
                print("  note: the application logged %d, the attacker saw %d application answers" % (
                    r["reached"], r["reached_seen_by_attacker"]))
    print("(rate = attempts per second the attacker allows itself, max = as fast as answers come;")
    print(" reached = login attempts in the application's own log; stopped = seconds from the first")
    print(" attempt to the first one of the final run that got no application answer; never = the")
    print(" last attempt still reached the application)")


def main():
    if len(sys.argv) == 8 and sys.argv[1] == "row":
        print(json.dumps(row(*sys.argv[2:8])))
    elif len(sys.argv) == 3 and sys.argv[1] == "table":
        table(sys.argv[2])
    else:
        sys.exit("usage: summarize.py row DEFENDER SHAPE RATE ATTACK ATTEMPTS EXTRA | table RESULTS")


if __name__ == "__main__":
    main()
