# shellcheck shell=bash
# Scaffolding shared by the e2e tests that run on loopback only (no
# namespaces, no root): a temp directory, background processes stopped by
# PID on exit (also on failure or Ctrl-C), ports and readiness.
#
#   loopback_init NAME [TOOL...]  skips (exit 77) unless every TOOL and
#                                 $BIN/mamorid exist; makes DIR; sets the traps
#   track PID                     stop PID when the test ends
#   fail MESSAGE                  prints the mamorid logs in DIR and exits 1
#   pass MESSAGE                  one "ok:" line
#   free_port                     a free TCP port on 127.0.0.1
#   wait_port PORT                waits until 127.0.0.1:PORT accepts (10 s)
#
# The caller sets BIN (where mamorid and mamorictl are) first. FAIL_LOGS
# (glob patterns below DIR) overrides which logs fail() prints.

loopback_init() {
  local name=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
  done
  [[ -x "$BIN/mamorid" && -x "$BIN/mamorictl" ]] || { echo "SKIP: $BIN/mamorid or mamorictl not built"; exit 77; }
  DIR=$(mktemp -d "/tmp/mamori-e2e-$name.XXXXXX")
  pids=()
  trap loopback_cleanup EXIT
  trap 'exit 130' INT TERM
}

loopback_cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$DIR"
}

track() { pids+=("$1"); }

fail() {
  local log pattern
  echo "FAIL: $*" >&2
  for pattern in ${FAIL_LOGS:-mamorid*.log}; do
    for log in "$DIR"/$pattern; do
      [ -e "$log" ] || continue
      echo "--- $log:" >&2
      tail -40 "$log" >&2 || true
    done
  done
  exit 1
}

pass() { echo "ok: $*"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
  local _
  for _ in $(seq 200); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
