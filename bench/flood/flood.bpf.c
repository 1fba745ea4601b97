/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The flood generator's program. Run with BPF_PROG_TEST_RUN and
 * BPF_F_TEST_XDP_LIVE_FRAMES, the kernel turns XDP_TX into a real transmit
 * out of the ctx's ingress interface (the sender veth), so every repeat puts
 * one frame on the wire without touching an skb or a socket. */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int flood_tx(struct xdp_md *ctx)
{
	return XDP_TX;
}
