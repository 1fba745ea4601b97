/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * mamori XDP shield: drops floods, deny-listed and banned sources at the
 * driver, before the kernel allocates anything. Order (docs/shield.md):
 * parse -> allow list -> deny list -> bans -> rate limits -> port policy ->
 * scanner SYNs -> pass. Every verdict is counted by reason; drops are
 * sampled into the `events` ring buffer.
 */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "net_defs.h"
#include "parse.h"
#include "shield_maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define VLAN_MAX_DEPTH 2
#define IPV6_EXT_MAX 6
#define NS_PER_SEC 1000000000ull

/* Frames whose L2/L3/L4 could be read, in the form every check needs. */
struct packet {
	__u8 src[16]; /* IPv4 as v4-mapped IPv6 */
	__u8 is_v6;
	__u8 l4proto;
	__u8 has_l4; /* false for non-first fragments */
	__u8 tcp_flags_syn_only;
	__u16 dport;
	__u16 pad;
	__u32 v4_src; /* network order, IPv4 only */
};

static __always_inline void count(__u32 reason, int dropped, __u64 bytes)
{
	__u32 slot = reason * 2 + (dropped ? 1 : 0);
	struct shield_counter *c = bpf_map_lookup_elem(&stats, &slot);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/*
 * Sends at most cfg->events_per_sec drop events per CPU per second; drops in
 * between are summed into the next event's `suppressed`, so a flood costs
 * userspace a bounded number of wakeups and no information about volume.
 */
static __always_inline void sample_drop(const struct shield_config *cfg, const struct packet *p,
					__u32 reason, __u32 ifindex, __u64 now)
{
	__u32 zero = 0;
	struct shield_event_state *st;
	struct shield_event *ev;

	if (!cfg || cfg->events_per_sec == 0)
		return;
	st = bpf_map_lookup_elem(&ev_state, &zero);
	if (!st)
		return;
	if (!now)
		now = bpf_ktime_get_coarse_ns(); /* drops before the bans step have not read it */
	if (now - st->window_ns >= NS_PER_SEC) {
		st->window_ns = now;
		st->sent = 0;
	}
	if (st->sent >= cfg->events_per_sec) {
		st->suppressed++;
		return;
	}
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		__u64 *lost = bpf_map_lookup_elem(&ev_lost, &zero);

		if (lost)
			(*lost)++;
		st->suppressed++;
		return;
	}
	ev->ts_ns = now;
	__builtin_memcpy(ev->addr, p->src, 16);
	ev->reason = reason;
	ev->protocol = p->l4proto;
	ev->suppressed = st->suppressed;
	ev->ifindex = ifindex;
	bpf_ringbuf_submit(ev, 0);
	st->sent++;
	st->suppressed = 0;
}

/*
 * Takes one token (1000 milli-packets) from bucket `b` after refilling it
 * for the time since the entry's stamp. Returns 1 when the packet is over
 * the limit. Integer-only: elapsed time is capped at 10 s so that
 * elapsed_ns * rate cannot overflow 64 bits (rate <= SHIELD_RATE_MAX).
 */
static __always_inline int bucket_take(struct shield_rate_state *s, const struct shield_rate *r,
				       int b, __u64 elapsed_ns)
{
	__u64 cap, tokens;

	if (r->rate == 0)
		return 0;
	tokens = s->tokens[b];
	/* A packet in the same clock tick as the source's previous one has
	 * nothing to refill: skip the 64-bit division, the dearest instruction
	 * on the pass path (a lowered burst then applies from the next tick). */
	if (elapsed_ns) {
		cap = (__u64)r->burst * 1000;
		tokens += elapsed_ns * r->rate / 1000000;
		if (tokens > cap)
			tokens = cap;
	}
	if (tokens < 1000) {
		s->tokens[b] = tokens;
		return 1;
	}
	s->tokens[b] = tokens - 1000;
	return 0;
}

/* Nanoseconds until bucket `b` of `s` holds a whole token again. */
static __always_inline __u64 next_token_ns(const struct shield_rate_state *s,
					   const struct shield_rate *r, int b)
{
	__u32 missing = s->tokens[b] < 1000 ? 1000 - s->tokens[b] : 0;

	return r->rate ? (__u64)missing * 1000000 / r->rate : 0;
}

/*
 * Refills and takes from the `all` bucket and the packet's protocol bucket
 * (`kind`, or SHIELD_B_ALL for none) of the source's entry `s` (NULL: the
 * source is new). Records `token`, the src_gen token read before this
 * packet found the source on no list and unbanned, as the entry's cached
 * verdict (struct shield_rate_state, checked_token).
 * Returns the drop reason of the first bucket over its limit, or 0; a dry
 * bucket also sets the entry's hold.
 */
static __always_inline __u32 rate_check(const struct shield_config *cfg, const struct packet *p,
					struct shield_rate_state *s, int kind, __u64 now,
					__u64 token)
{
	const struct shield_rate *rates = cfg->rates;
	struct shield_rate_state fresh = {};
	struct shield_src key;
	__u64 elapsed;
	__u32 over = 0;

	if (!s) {
		/* A new source starts with full buckets. */
		__builtin_memcpy(key.addr, p->src, 16);
		fresh.last_ns = now;
		fresh.checked_token = token;
		fresh.tokens[SHIELD_B_SYN] = rates[SHIELD_B_SYN].burst * 1000;
		fresh.tokens[SHIELD_B_UDP] = rates[SHIELD_B_UDP].burst * 1000;
		fresh.tokens[SHIELD_B_ICMP] = rates[SHIELD_B_ICMP].burst * 1000;
		fresh.tokens[SHIELD_B_ALL] = rates[SHIELD_B_ALL].burst * 1000;
		bpf_map_update_elem(&rate_src, &key, &fresh, BPF_ANY);
		s = bpf_map_lookup_elem(&rate_src, &key);
		if (!s)
			return 0; /* fail open: the table is the only state we have */
	}
	elapsed = now > s->last_ns ? now - s->last_ns : 0;
	if (elapsed > 10 * NS_PER_SEC)
		elapsed = 10 * NS_PER_SEC;
	s->last_ns = now;
	s->checked_token = token;

	if (bucket_take(s, &rates[SHIELD_B_ALL], SHIELD_B_ALL, elapsed)) {
		over = SHIELD_R_RATE_ALL;
		s->hold_until_ns = now + next_token_ns(s, &rates[SHIELD_B_ALL], SHIELD_B_ALL);
		s->hold_kinds = 0xF; /* every kind */
	}
	/* Refill/take the protocol bucket even when `all` is over, so both
	 * buckets see the same clock. */
	if (kind == SHIELD_B_SYN && bucket_take(s, &rates[SHIELD_B_SYN], SHIELD_B_SYN, elapsed))
		over = over ? over : SHIELD_R_RATE_SYN;
	else if (kind == SHIELD_B_UDP && bucket_take(s, &rates[SHIELD_B_UDP], SHIELD_B_UDP, elapsed))
		over = over ? over : SHIELD_R_RATE_UDP;
	else if (kind == SHIELD_B_ICMP &&
		 bucket_take(s, &rates[SHIELD_B_ICMP], SHIELD_B_ICMP, elapsed))
		over = over ? over : SHIELD_R_RATE_ICMP;
	if (over && over != SHIELD_R_RATE_ALL && kind >= 0 && kind < SHIELD_B_ALL) {
		s->hold_until_ns = now + next_token_ns(s, &rates[kind], kind);
		s->hold_kinds = 1u << kind;
	}
	if (over)
		s->hold_reason = over;
	return over;
}

/*
 * Scanner SYN fingerprints (toggle SHIELD_F_SCANNER_SYN). Real TCP stacks
 * always send options (MSS at least) in a SYN; stateless scanners build a
 * fixed template instead:
 *  - zmap: IP ID 54321 in every probe (its default template);
 *  - masscan: window 1024 and no TCP options;
 *  - zmap (older templates): window 65535, no options, TTL >= 250.
 */
static __always_inline int scanner_syn(__u16 ip_id, __u8 ttl, const struct tcphdr *th)
{
	__u16 window = bpf_ntohs(th->window);
	int no_options = th->doff == 5;

	if (ip_id == 54321)
		return 1;
	if (no_options && window == 1024)
		return 1;
	if (no_options && window == 65535 && ttl >= 250)
		return 1;
	return 0;
}

SEC("xdp")
int shield_xdp(struct xdp_md *ctx)
{
	struct cursor c = { .pos = (void *)(long)ctx->data, .end = (void *)(long)ctx->data_end };
	__u64 bytes = ctx->data_end - ctx->data;
	__u32 zero = 0, reason = SHIELD_R_PASS;
	const struct shield_config *cfg = bpf_map_lookup_elem(&shield_cfg, &zero);
	const struct shield_src_gen *gen = bpf_map_lookup_elem(&src_gen, &zero);
	struct packet p = {};
	struct ethhdr *eth;
	__u16 proto, ip_id = 0;
	__u8 ttl = 0, is_first_fragment = 1, l4_malformed = 0;
	const struct tcphdr *th = NULL;
	/* Read once, at the first check that needs it. The coarse clock (tick
	 * resolution) costs about 20 ns less per packet than bpf_ktime_get_ns()
	 * here (bench/xdp_cost); buckets, ban expiries and the event window
	 * are all far coarser than a tick. */
	__u64 now = 0;
	struct shield_rate_state *rs = NULL; /* this source's buckets, once looked up */
	int kind = SHIELD_B_ALL;	     /* protocol bucket; SHIELD_B_ALL: none */
	int rates_on, dropped = 0, clean;
	__u64 token;

	if (!cfg || !gen) {
		/* Cannot happen for an array map; fail open. */
		count(SHIELD_R_PASS, 0, bytes);
		return XDP_PASS;
	}

	eth = CURSOR_TAKE(&c, struct ethhdr);
	if (!eth) {
		reason = SHIELD_R_MALFORMED_L2;
		goto malformed;
	}
	proto = eth->h_proto;

	/* Use loop unrolling to avoid the verifier restriction on loops. */
#pragma unroll
	for (int i = 0; i < VLAN_MAX_DEPTH; i++) {
		struct vlan_hdr *vh;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		vh = CURSOR_TAKE(&c, struct vlan_hdr);
		if (!vh) {
			reason = SHIELD_R_MALFORMED_L2;
			goto malformed;
		}
		proto = vh->h_vlan_encapsulated_proto;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = CURSOR_TAKE(&c, struct iphdr);
		__u32 ihl_bytes;

		if (!ip || ip->version != 4 || ip->ihl < 5) {
			reason = SHIELD_R_MALFORMED_L3;
			goto malformed;
		}
		ihl_bytes = ip->ihl * 4;
		/* Skip IPv4 options; ihl <= 15 so at most 40 bytes. */
		if (ihl_bytes > sizeof(*ip) && !cursor_take(&c, ihl_bytes - sizeof(*ip))) {
			reason = SHIELD_R_MALFORMED_L3;
			goto malformed;
		}
		if (bpf_ntohs(ip->tot_len) < ihl_bytes) {
			reason = SHIELD_R_MALFORMED_L3;
			goto malformed;
		}
		p.v4_src = ip->saddr;
		p.src[10] = 0xff;
		p.src[11] = 0xff;
		__builtin_memcpy(&p.src[12], &ip->saddr, 4);
		p.l4proto = ip->protocol;
		ip_id = bpf_ntohs(ip->id);
		ttl = ip->ttl;
		is_first_fragment = (bpf_ntohs(ip->frag_off) & IP_OFFSET) == 0;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = CURSOR_TAKE(&c, struct ipv6hdr);
		__u8 next;

		if (!ip6 || ip6->version != 6) {
			reason = SHIELD_R_MALFORMED_L3;
			goto malformed;
		}
		p.is_v6 = 1;
		__builtin_memcpy(p.src, &ip6->saddr, 16);
		ttl = ip6->hop_limit;
		next = ip6->nexthdr;

		/* Bounded walk of the extension chain (verifier needs a
		 * compile-time bound); longer chains count as malformed. */
#pragma unroll
		for (int i = 0; i < IPV6_EXT_MAX; i++) {
			struct ipv6_opt_hdr *oh;

			if (next != IPV6_NEXTHDR_HOP && next != IPV6_NEXTHDR_ROUTING &&
			    next != IPV6_NEXTHDR_FRAGMENT && next != IPV6_NEXTHDR_DEST)
				break;
			oh = CURSOR_TAKE(&c, struct ipv6_opt_hdr);
			if (!oh) {
				reason = SHIELD_R_MALFORMED_EXT;
				goto malformed;
			}
			if (next == IPV6_NEXTHDR_FRAGMENT) {
				/* Fixed 8 bytes: nexthdr, reserved, frag_off, id. */
				__be16 *frag_off = cursor_take(&c, 6);

				if (!frag_off) {
					reason = SHIELD_R_MALFORMED_EXT;
					goto malformed;
				}
				if (bpf_ntohs(*frag_off) & 0xFFF8)
					is_first_fragment = 0;
			} else if (!cursor_take(&c, (oh->hdrlen + 1) * 8 - 2)) {
				reason = SHIELD_R_MALFORMED_EXT;
				goto malformed;
			}
			next = oh->nexthdr;
		}
		if (next == IPV6_NEXTHDR_HOP || next == IPV6_NEXTHDR_ROUTING ||
		    next == IPV6_NEXTHDR_FRAGMENT || next == IPV6_NEXTHDR_DEST) {
			reason = SHIELD_R_MALFORMED_EXT;
			goto malformed;
		}
		p.l4proto = next;
	} else {
		reason = SHIELD_R_NOT_IP;
		goto out;
	}

	/* L4: ports and flags, first fragments and unfragmented packets only.
	 * A bad L4 header is judged after the allow list: the source address is
	 * known, and an allow-listed host must never be dropped. */
	if (is_first_fragment) {
		if (p.l4proto == IPPROTO_TCP) {
			th = CURSOR_TAKE(&c, struct tcphdr);
			if (!th || th->doff < 5) {
				th = NULL;
				l4_malformed = 1;
			} else {
				p.dport = bpf_ntohs(th->dest);
				p.tcp_flags_syn_only = th->syn && !th->ack && !th->rst && !th->fin;
				p.has_l4 = 1;
			}
		} else if (p.l4proto == IPPROTO_UDP) {
			struct udphdr *uh = CURSOR_TAKE(&c, struct udphdr);

			if (!uh) {
				l4_malformed = 1;
			} else {
				p.dport = bpf_ntohs(uh->dest);
				p.has_l4 = 1;
			}
		} else if (p.l4proto == IPPROTO_ICMP || p.l4proto == IPPROTO_ICMPV6) {
			/* type, code, checksum: the part common to both. */
			if (!cursor_take(&c, 4))
				l4_malformed = 1;
			else
				p.has_l4 = 1;
		}
	}

	/* 1b. A source whose bucket ran dry drops at once until its next token
	 * is due (struct shield_rate_state): one hash lookup per flood packet
	 * instead of the whole pipeline. */
	rates_on = cfg->rates[SHIELD_B_SYN].rate || cfg->rates[SHIELD_B_UDP].rate ||
		   cfg->rates[SHIELD_B_ICMP].rate || cfg->rates[SHIELD_B_ALL].rate;
	if (rates_on) {
		struct shield_src key;

		if (p.has_l4) {
			if (p.l4proto == IPPROTO_TCP && p.tcp_flags_syn_only)
				kind = SHIELD_B_SYN;
			else if (p.l4proto == IPPROTO_UDP)
				kind = SHIELD_B_UDP;
			else if (p.l4proto == IPPROTO_ICMP || p.l4proto == IPPROTO_ICMPV6)
				kind = SHIELD_B_ICMP;
		}
		now = bpf_ktime_get_coarse_ns();
		__builtin_memcpy(key.addr, p.src, 16);
		rs = bpf_map_lookup_elem(&rate_src, &key);
		if (rs && now < rs->hold_until_ns && (rs->hold_kinds & (1u << kind))) {
			reason = rs->hold_reason;
			goto drop;
		}
	}

	/* A source found on no list and unbanned under the current src_gen
	 * token is still so: no list or ban has changed since, and steps 2-4
	 * are skipped. The token is read before those lookups, so a change
	 * made after this read replaces the token and the next packet looks
	 * again (struct shield_src_gen). */
	token = *(volatile const __u64 *)&gen->token;
	clean = rs && rs->checked_token == token;

	/* 2.-3. Allow and deny lists: one trie walk, skipped while the family's
	 * trie is empty. Allow passes and skips everything below; it wins over
	 * any deny entry that also covers the address. */
	{
		const struct shield_list_state *ls = NULL;
		const struct shield_list_entry *le = NULL;

		if (!clean)
			ls = bpf_map_lookup_elem(&list_state, &zero);
		if (ls && p.is_v6 && ls->v6_entries) {
			struct shield_lpm_v6 k = { .prefixlen = 128 };

			__builtin_memcpy(k.addr, p.src, 16);
			le = bpf_map_lookup_elem(&lists_v6, &k);
		} else if (ls && !p.is_v6 && ls->v4_entries) {
			struct shield_lpm_v4 k = { .prefixlen = 32 };

			__builtin_memcpy(k.addr, &p.v4_src, 4);
			le = bpf_map_lookup_elem(&lists_v4, &k);
		}
		if (le && (le->eff & SHIELD_L_ALLOW)) {
			reason = SHIELD_R_ALLOW;
			goto out;
		}
		if (l4_malformed) {
			reason = SHIELD_R_MALFORMED_L4;
			goto malformed;
		}
		if (le && (le->eff & SHIELD_L_DENY)) {
			reason = SHIELD_R_DENY;
			goto drop;
		}
	}

	/* 4. Dynamic bans; an expired entry passes and is deleted here. */
	if (!now)
		now = bpf_ktime_get_coarse_ns();
	if (!clean) {
		struct shield_ban *ban;

		if (p.is_v6) {
			struct shield_ban_v6_key k = { .prefixlen = 128 };

			__builtin_memcpy(k.addr, p.src, 16);
			ban = bpf_map_lookup_elem(&bans_v6, &k);
			if (!ban && (cfg->flags & SHIELD_F_BAN_V6_64)) {
				k.prefixlen = 64;
				__builtin_memset(&k.addr[8], 0, 8);
				ban = bpf_map_lookup_elem(&bans_v6, &k);
			}
			if (ban) {
				if (ban->expires_ns > now) {
					reason = SHIELD_R_BAN;
					goto drop;
				}
				bpf_map_delete_elem(&bans_v6, &k);
			}
		} else {
			ban = bpf_map_lookup_elem(&bans_v4, &p.v4_src);
			if (ban) {
				if (ban->expires_ns > now) {
					reason = SHIELD_R_BAN;
					goto drop;
				}
				bpf_map_delete_elem(&bans_v4, &p.v4_src);
			}
		}
	}

	/* 5. Per-source token buckets. */
	if (rates_on) {
		reason = rate_check(cfg, &p, rs, kind, now, token);
		if (reason)
			goto drop;
	}

	/* 6. Port policy. */
	if ((cfg->flags & SHIELD_F_PORT_POLICY) && p.has_l4 &&
	    (p.l4proto == IPPROTO_TCP || p.l4proto == IPPROTO_UDP)) {
		__u32 port = p.dport;
		__u32 *allowed = bpf_map_lookup_elem(&ports, &port);
		__u32 need = p.l4proto == IPPROTO_TCP ? SHIELD_PORT_TCP : SHIELD_PORT_UDP;

		if (!allowed || !(*allowed & need)) {
			reason = SHIELD_R_PORT;
			goto drop;
		}
	}

	/* 7. Scanner SYNs. */
	if ((cfg->flags & SHIELD_F_SCANNER_SYN) && th && p.tcp_flags_syn_only &&
	    scanner_syn(ip_id, ttl, th)) {
		reason = SHIELD_R_SCANNER;
		goto drop;
	}

	reason = is_first_fragment ? SHIELD_R_PASS : SHIELD_R_FRAGMENT;
	goto out;

malformed:
	if (cfg->flags & SHIELD_F_MALFORMED_DROP)
		goto drop;
	goto out;
drop:
	dropped = 1;
	sample_drop(cfg, &p, reason, ctx->ingress_ifindex, now);
out:
	count(reason, dropped, bytes);
	return dropped ? XDP_DROP : XDP_PASS;
}
