# shellcheck shell=bash
# Shield helpers shared by the e2e tests and the demo. The caller sets BIN
# (where mamorid and mamorictl are), PIN (the test's own pin root) and CTL
# (the control socket its mamorid is started with: --control-socket "$CTL").
#
#   ctl ARGS...          mamorictl against the test's mamorid
#   dropped REASON       packets dropped for REASON, from `shield status --output json`
#   purge_pins           remove the test's pinned maps (call from lab_on_cleanup)

ctl() { "$BIN/mamorictl" --socket "$CTL" "$@"; }

dropped() {
  ctl --output json shield status | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(r["packets"] for r in d["reasons"] if r["reason"] == sys.argv[1] and r["verdict"] == "drop"))' "$1"
}

purge_pins() { "$BIN/mamorid" --purge --pin-root "$PIN" >/dev/null 2>&1; }
