# shellcheck shell=bash
# Network-namespace lab for end-to-end tests and the demo. Source it, then:
#
#   lab_require             exit 77 (ctest: skipped) unless root with netns + veth
#   lab_init                start a lab; cleanup is trapped on EXIT/INT/TERM/HUP
#   lab_ns NAME             create namespace <lab>-NAME (lo up); prints its name
#   lab_link A IPA B IPB    veth pair between namespaces A and B, addresses /24
#   lab_route NS VIA        default route of NS via VIA
#   lab_forward NS          enable IPv4 forwarding in NS
#   lab_exec NS cmd...      run in NS (network namespace only; the mount
#                           namespace is kept, so /sys/fs/bpf pins stay shared)
#   lab_bg NS cmd...        same, in the background; the PID is killed at cleanup
#   lab_dev A B             name of A's end of the A-B veth pair
#
# Names: every namespace and veth carries the lab's id (mm<pid>), and a new
# lab first removes labs whose owning process is gone, so an earlier run that
# was killed with SIGKILL leaves nothing behind for long.

LAB_ID=""
LAB_PIDS=()
LAB_NAMESPACES=()

lab_skip() {
  echo "SKIP: $*" >&2
  exit 77
}

lab_require() {
  [ "$(id -u)" -eq 0 ] || lab_skip "needs root for network namespaces and XDP"
  command -v ip >/dev/null || lab_skip "iproute2 (ip) is not installed"
  command -v nsenter >/dev/null || lab_skip "nsenter (util-linux) is not installed"
  local probe="mmprobe$$"
  ip netns add "$probe" 2>/dev/null || lab_skip "cannot create network namespaces"
  if ! ip -n "$probe" link add "${probe}a" type veth peer name "${probe}b" 2>/dev/null; then
    ip netns del "$probe"
    lab_skip "kernel has no veth support"
  fi
  ip netns del "$probe"
}

lab_sweep_stale() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^mm[0-9]+-' || true); do
    pid=${ns#mm}
    pid=${pid%%-*}
    if ! kill -0 "$pid" 2>/dev/null; then
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
}

lab_cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  local pid
  for pid in "${LAB_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${LAB_PIDS[@]}"; do
    # Give each process a moment to detach XDP and exit; then insist.
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # Deleting a namespace deletes its veth ends, and with them any XDP
  # program attached to them.
  local ns
  for ns in "${LAB_NAMESPACES[@]}"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  if declare -F lab_on_cleanup >/dev/null; then lab_on_cleanup || true; fi
  exit "$rc"
}

lab_init() {
  LAB_ID="mm$$"
  lab_sweep_stale
  trap lab_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
}

lab_ns() {
  local ns="$LAB_ID-$1"
  ip netns add "$ns"
  LAB_NAMESPACES+=("$ns")
  ip -n "$ns" link set lo up
}

lab_dev() {
  echo "${LAB_ID}${1:0:2}${2:0:2}" | cut -c1-15
}

lab_link() {
  local a="$1" ip_a="$2" b="$3" ip_b="$4"
  local dev_a dev_b
  dev_a=$(lab_dev "$a" "$b")
  dev_b=$(lab_dev "$b" "$a")
  ip link add "$dev_a" netns "$LAB_ID-$a" type veth peer name "$dev_b" netns "$LAB_ID-$b"
  ip -n "$LAB_ID-$a" addr add "$ip_a/24" dev "$dev_a"
  ip -n "$LAB_ID-$b" addr add "$ip_b/24" dev "$dev_b"
  ip -n "$LAB_ID-$a" link set "$dev_a" up
  ip -n "$LAB_ID-$b" link set "$dev_b" up
}

lab_route() {
  ip -n "$LAB_ID-$1" route add default via "$2"
}

lab_forward() {
  ip netns exec "$LAB_ID-$1" sysctl -q -w net.ipv4.ip_forward=1
}

lab_exec() {
  local ns="$LAB_ID-$1"
  shift
  nsenter --net="/run/netns/$ns" "$@"
}

lab_bg() {
  local ns="$LAB_ID-$1"
  shift
  nsenter --net="/run/netns/$ns" "$@" &
  LAB_PIDS+=("$!")
  LAB_LAST_PID=$!
}

# Stops one background process started by lab_bg (TERM, then KILL).
lab_stop() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Waits until `cmd` succeeds, up to $1 tenths of a second.
lab_wait_for() {
  local tenths="$1"
  shift
  for _ in $(seq "$tenths"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}
