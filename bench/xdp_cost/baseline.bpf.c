/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Baselines for the per-packet cost benchmark: the harness floor (drop
 * everything) and a bare parse-and-pass with no maps. */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "net_defs.h"
#include "parse.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int drop_all(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp")
int parse_pass(struct xdp_md *ctx)
{
	struct cursor c = { .pos = (void *)(long)ctx->data, .end = (void *)(long)ctx->data_end };
	struct ethhdr *eth = CURSOR_TAKE(&c, struct ethhdr);
	struct iphdr *ip;
	struct tcphdr *th;

	if (!eth || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = CURSOR_TAKE(&c, struct iphdr);
	if (!ip || ip->protocol != IPPROTO_TCP)
		return XDP_PASS;
	th = CURSOR_TAKE(&c, struct tcphdr);
	if (!th)
		return XDP_PASS;
	return th->dest == 0 ? XDP_DROP : XDP_PASS;
}
