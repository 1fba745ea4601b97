/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types shared by the XDP shield (bpf/shield.bpf.c) and its userspace
 * loader (userspace/shield/). Fixed-width fields, no pointers, explicit
 * padding: userspace static_asserts every size. Changing a pinned map's key
 * or value is an ABI change: bump SHIELD_PIN_ABI so the loader pins a fresh
 * set instead of reusing an incompatible one (and removes the pins of every
 * other ABI, v<digits>, under the pin root: docs/shield.md, "Upgrades").
 */
#pragma once

#ifndef __bpf__
#include <linux/types.h>
#endif

#define SHIELD_PIN_ABI "v3"

/* Why a packet got its verdict. Stats are indexed by reason * 2 + dropped. */
enum shield_reason {
	SHIELD_R_PASS = 0,	     /* went through every check */
	SHIELD_R_ALLOW = 1,	     /* source on the allow list */
	SHIELD_R_NOT_IP = 2,	     /* ARP, LLDP, ...: not ours to judge */
	SHIELD_R_MALFORMED_L2 = 3,   /* truncated Ethernet or VLAN header */
	SHIELD_R_MALFORMED_L3 = 4,   /* truncated/invalid IPv4 or IPv6 header */
	SHIELD_R_MALFORMED_EXT = 5,  /* IPv6 extension chain truncated or too long */
	SHIELD_R_MALFORMED_L4 = 6,   /* truncated/invalid TCP, UDP or ICMP header */
	SHIELD_R_FRAGMENT = 7,	     /* non-first fragment: no L4 header to check */
	SHIELD_R_DENY = 8,	     /* source on the deny list */
	SHIELD_R_BAN = 9,	     /* source has an unexpired dynamic ban */
	SHIELD_R_RATE_SYN = 10,	     /* source over its TCP SYN bucket */
	SHIELD_R_RATE_UDP = 11,	     /* source over its UDP bucket */
	SHIELD_R_RATE_ICMP = 12,     /* source over its ICMP/ICMPv6 bucket */
	SHIELD_R_RATE_ALL = 13,	     /* source over its all-packets bucket */
	SHIELD_R_PORT = 14,	     /* destination port not in the port policy */
	SHIELD_R_SCANNER = 15,	     /* SYN matches a masscan/zmap fingerprint */
	SHIELD_R_MAX = 16,
};

#define SHIELD_STATS_SLOTS (SHIELD_R_MAX * 2)

/* Per-CPU counter slot. */
struct shield_counter {
	__u64 packets;
	__u64 bytes;
};

/* Token-bucket kinds, index into shield_config.rates and shield_rate_state. */
enum shield_bucket {
	SHIELD_B_SYN = 0,
	SHIELD_B_UDP = 1,
	SHIELD_B_ICMP = 2,
	SHIELD_B_ALL = 3,
	SHIELD_B_MAX = 4,
};

/* A limit: `rate` packets per second refilled up to `burst`; rate 0 = off. */
struct shield_rate {
	__u32 rate;
	__u32 burst;
};

#define SHIELD_F_SCANNER_SYN (1u << 0)	  /* drop masscan/zmap SYNs */
#define SHIELD_F_MALFORMED_DROP (1u << 1) /* drop malformed frames (default pass) */
#define SHIELD_F_BAN_V6_64 (1u << 2)	  /* also match IPv6 bans on the /64 */
#define SHIELD_F_PORT_POLICY (1u << 3)	  /* only ports in `ports` pass */

/* Runtime configuration: the single entry of the `shield_cfg` array map. */
struct shield_config {
	__u32 flags;
	__u32 events_per_sec; /* per-CPU cap on drop events; 0 = no events */
	struct shield_rate rates[SHIELD_B_MAX];
};

/* Key of the LPM trie lists_v4 (prefixlen + 4 bytes, network order). */
struct shield_lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

/* Key of the LPM trie lists_v6. */
struct shield_lpm_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/*
 * Allow and deny lists share one LPM trie per family, so a packet pays one
 * trie walk (about 30 ns) instead of two. `own` says which lists the entry's
 * own prefix is on; `eff` adds the lists of every shorter prefix in the trie
 * that covers it. The longest match therefore carries everything that
 * applies to the address, and "allow wins" is a bit test. Userspace keeps
 * `eff` true on every change (PinnedMaps).
 */
#define SHIELD_L_ALLOW (1u << 0)
#define SHIELD_L_DENY (1u << 1)

struct shield_list_entry {
	__u8 own; /* SHIELD_L_* of this exact prefix */
	__u8 eff; /* own | own of every covering prefix */
	__u16 pad;
};

/* Entries per family in lists_v4/lists_v6; a family at 0 skips its trie. */
struct shield_list_state {
	__u32 v4_entries;
	__u32 v6_entries;
};

/*
 * Key of bans_v6: a full address (prefixlen 128) or, with SHIELD_F_BAN_V6_64,
 * a /64 (prefixlen 64, low 8 bytes zero). bans_v4 is keyed by the raw
 * network-order address (__u32).
 */
struct shield_ban_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Ban reasons written by userspace; the shield only stores and reports them. */
enum shield_ban_reason {
	SHIELD_BAN_MANUAL = 0,
	SHIELD_BAN_SIGNATURE = 1,
	SHIELD_BAN_LOGIN = 2,
	SHIELD_BAN_BOT = 3,
	SHIELD_BAN_FLOOD = 4,
};

/*
 * Value of bans_v4/bans_v6: expiry in CLOCK_MONOTONIC ns. The program reads
 * bpf_ktime_get_coarse_ns() (the same clock at tick resolution), so a ban
 * may outlive its TTL by one tick (at most 10 ms).
 */
struct shield_ban {
	__u64 expires_ns;
	__u32 reason; /* enum shield_ban_reason */
	__u32 pad;
};

/* Key of rate_src: source address, IPv4 as v4-mapped IPv6 (::ffff:a.b.c.d). */
struct shield_src {
	__u8 addr[16];
};

/*
 * Value of rate_src: one refill stamp and four buckets in milli-packets
 * (integer-only arithmetic), the flood hold and the cached list/ban verdict:
 * 48 bytes (docs/shield.md gives the memory per million sources).
 * Burst is capped at SHIELD_BURST_MAX so milli-packets fit in 32 bits.
 */
struct shield_rate_state {
	__u64 last_ns;
	__u32 tokens[SHIELD_B_MAX];
	/*
	 * Set when a bucket runs dry: until hold_until_ns (the time its next
	 * token is due) packets of the kinds in hold_kinds (1 << SHIELD_B_*,
	 * SHIELD_B_ALL standing for "no protocol bucket") drop with
	 * hold_reason before any other lookup, which is what keeps a flood
	 * cheap. Only a source that got past the lists and bans is held.
	 */
	__u64 hold_until_ns;
	__u32 hold_reason;
	__u32 hold_kinds;
	/*
	 * The `src_gen` token current when this source was last found on
	 * neither list and unbanned. While it still equals `src_gen`, no list
	 * entry and no ban has changed since, and the program skips the list
	 * trie walk and the ban lookups (together the larger part of the pass
	 * path, and the part that grows with the lists). Only that "clean"
	 * verdict is cached: a listed or banned source asks the trie and the
	 * ban map on every packet, so they stay the authority. One 64-bit word
	 * so that two CPUs writing the entry at once can never mix two tokens.
	 */
	__u64 checked_token;
};

/*
 * Value of the `src_gen` array map: a token userspace replaces with a fresh
 * random non-zero value after every change that can alter a source's list
 * or ban verdict: a ban added or deleted, a list written, the /64 setting
 * (PinnedMaps::addBan/deleteBan/addToList/deleteFromList/replaceList,
 * Shield::applySettings), always after the map writes it covers. Random
 * rather than a counter: several writers (mamorid, mamorictl) replace it
 * with no read-modify-write race between them, and it has no wrap-around
 * onto a stale value (a repeat is a 2^-64 chance per change).
 */
struct shield_src_gen {
	__u64 token;
};

#define SHIELD_RATE_MAX 10000000u /* packets/s */
#define SHIELD_BURST_MAX 4000000u /* packets */

/* Per destination port (array index): which protocols may pass. */
#define SHIELD_PORT_TCP (1u << 0)
#define SHIELD_PORT_UDP (1u << 1)

/* A sampled drop, sent through the `events` ring buffer. */
struct shield_event {
	__u64 ts_ns;	   /* bpf_ktime_get_coarse_ns(): CLOCK_MONOTONIC, tick resolution */
	__u8 addr[16];	   /* source, IPv4 as v4-mapped */
	__u32 reason;	   /* enum shield_reason */
	__u32 protocol;	   /* IPPROTO_* of the L4 header, 0 if none */
	__u32 suppressed;  /* drops on this CPU not reported since the last event */
	__u32 ifindex;
};

/* Per-CPU event sampler state, `ev_state` map. */
struct shield_event_state {
	__u64 window_ns; /* start of the current one-second window */
	__u32 sent;	 /* events sent in this window */
	__u32 suppressed;
};
