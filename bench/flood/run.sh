#!/usr/bin/env bash
# veth flood benchmark: a one-source UDP flood from namespace "gen" into
# namespace "prot", received by four variants in turn:
#   shield   mamori's shield, native XDP, UDP limit 100/s per source
#   xdpdrop  a bare XDP_DROP program, native XDP
#   nft      an nftables netdev ingress rule dropping the source
#   none     no filter: up the stack to a closed UDP port
#   sendonly the receiving veth has neither XDP nor GRO, so it runs no NAPI
#            and the sender's veth discards every frame: the sender's cost
# The generator (`flood send`) transmits with BPF_PROG_TEST_RUN live frames,
# pinned to one CPU. The receiver's work (veth NAPI poll, XDP or skb + stack)
# runs as a softirq on that same CPU when the generator re-enables bottom
# halves, so it is charged to the generator thread (or to ksoftirqd when the
# kernel defers it). Receive cost per frame = (thread + ksoftirqd CPU ns) /
# frames, minus the same for sendonly. Both come from scheduler accounting
# (exact ns); /proc/stat's softirq column is tick-sampled (250 Hz here, and
# ticks are lost in a VM) and shown for reference only.
# Variants are interleaved (the order rotates each round); the summary is the
# median over the rounds.
#
# Usage: bench/flood/run.sh [--rounds N] [--count FRAMES] [--cpu N]   (root)
# FLOOD_BIN overrides the binary (default: <repo>/build/bench-bin/flood).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${FLOOD_BIN:-$root/build/bench-bin/flood}
rounds=5
count=3000000
cpu=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--count FRAMES] [--cpu N]" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "flood: $bin not built (make build)" >&2; exit 1; }

# shellcheck source=tests/e2e/lib/netns.sh
source "$root/tests/e2e/lib/netns.sh"
lab_require
command -v nft >/dev/null || lab_skip "nftables (nft) is not installed"
lab_init

results=$(mktemp)
pin_root=/sys/fs/bpf/mamori-flood-$LAB_ID
hold_log=$(mktemp)
# Runs from lab_cleanup after the namespaces (and with them the veths, XDP
# attachments and nft tables) are gone.
lab_on_cleanup() {
  rm -rf "$pin_root" "$results" "$hold_log"
}

lab_ns gen >/dev/null
lab_ns prot >/dev/null
lab_link gen 10.77.0.1 prot 10.77.0.2
lab_route prot 10.77.0.1
gdev=$(lab_dev gen prot)
pdev=$(lab_dev prot gen)
gmac=$(ip -n "$LAB_ID-gen" -br link show dev "$gdev" | awk '{print $3}')
pmac=$(ip -n "$LAB_ID-prot" -br link show dev "$pdev" | awk '{print $3}')
spoofed=198.18.0.66

rx_packets() {
  ip netns exec "$LAB_ID-prot" cat "/sys/class/net/$pdev/statistics/rx_packets"
}
rx_dropped() {
  ip netns exec "$LAB_ID-prot" cat "/sys/class/net/$pdev/statistics/rx_dropped"
}

hold_pid=""
start_hold() {
  : >"$hold_log"
  lab_bg prot "$bin" hold --ifname "$pdev" --program "$1" --pin-root "$pin_root" >"$hold_log" 2>&1
  hold_pid=$LAB_LAST_PID
  if ! lab_wait_for 100 grep -q ready "$hold_log"; then
    cat "$hold_log" >&2
    echo "flood: cannot attach $1 to $pdev" >&2
    exit 1
  fi
}
stop_hold() {
  lab_stop "$hold_pid"
  hold_pid=""
  grep -v '^ready$' "$hold_log" >&2 || true
}

setup() {
  case "$1" in
    shield) start_hold shield ;;
    xdpdrop) start_hold drop ;;
    nft)
      lab_exec prot "$bin" gro --ifname "$pdev" on
      lab_exec prot nft add table netdev mmbench
      lab_exec prot nft add chain netdev mmbench c "{ type filter hook ingress device $pdev priority 0; }"
      lab_exec prot nft add rule netdev mmbench c ip saddr "$spoofed" drop
      ;;
    none) lab_exec prot "$bin" gro --ifname "$pdev" on ;;
    sendonly) ;;
  esac
}
teardown() {
  case "$1" in
    shield | xdpdrop) stop_hold ;;
    nft)
      lab_exec prot nft delete table netdev mmbench
      lab_exec prot "$bin" gro --ifname "$pdev" off
      ;;
    none) lab_exec prot "$bin" gro --ifname "$pdev" off ;;
    sendonly) ;;
  esac
}

send() {
  lab_exec gen timeout 60 taskset -c "$cpu" "$bin" send --ifname "$gdev" --src-mac "$gmac" \
    --dst-mac "$pmac" --src "$spoofed" --dst 10.77.0.2 --dport 9 --count "$1" --max-seconds 15
}

variants=(shield xdpdrop nft none sendonly)
echo "flood: $rounds rounds x ${#variants[@]} variants x $count frames, generator on CPU $cpu" >&2
for ((r = 0; r < rounds; r++)); do
  for ((i = 0; i < ${#variants[@]}; i++)); do
    v=${variants[$(((i + r) % ${#variants[@]}))]}
    setup "$v"
    send 100000 >/dev/null # warm-up: fills the shield's bucket, caches
    rx0=$(rx_packets)
    rd0=$(rx_dropped)
    line=$(send "$count")
    rx1=$(rx_packets)
    rd1=$(rx_dropped)
    teardown "$v"
    echo "$r $v $line rx=$((rx1 - rx0)) ring_drops=$((rd1 - rd0))" >>"$results"
    echo "round $r $v: $line rx=$((rx1 - rx0)) ring_drops=$((rd1 - rd0))" >&2
  done
done

# Per round: CPU ns per frame (generator thread + ksoftirqd) minus the same
# round's sendonly, i.e. the receiver's cost per frame; its inverse is the
# drops per CPU-second. Then the median over rounds of each figure.
awk -v order="${variants[*]}" -f "$root/bench/flood/summary.awk" "$results"
