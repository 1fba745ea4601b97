/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map of the XDP shield, in one place. All are pinned by name under
 * the loader's pin root (/sys/fs/bpf/mamori/<abi>/) so bans, lists and
 * counters survive a restart of mamorid. Names fit the kernel's 15-character
 * object-name limit so bpftool output matches the source.
 */
#pragma once

#include "shield_abi.h"

/* Capacity of each table; userspace may resize before load (max_entries). */
#define SHIELD_LIST_MAX 65536
#define SHIELD_BANS_MAX 262144
#define SHIELD_SOURCES_MAX 1048576

/* Runtime settings (flags, rates, event cap), written by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shield_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shield_cfg SEC(".maps");

/* Allow and deny lists, merged (struct shield_list_entry explains how). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SHIELD_LIST_MAX);
	__type(key, struct shield_lpm_v4);
	__type(value, struct shield_list_entry);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lists_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SHIELD_LIST_MAX);
	__type(key, struct shield_lpm_v6);
	__type(value, struct shield_list_entry);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lists_v6 SEC(".maps");

/* How many entries each list trie has, so an empty one costs no walk. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shield_list_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} list_state SEC(".maps");

/* Dynamic bans with expiry; LRU so a ban storm evicts the oldest, never fails. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SHIELD_BANS_MAX);
	__type(key, __u32);
	__type(value, struct shield_ban);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bans_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SHIELD_BANS_MAX);
	__type(key, struct shield_ban_v6_key);
	__type(value, struct shield_ban);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bans_v6 SEC(".maps");

/* Token that changes on every list or ban change (struct shield_src_gen). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shield_src_gen);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} src_gen SEC(".maps");

/*
 * Token buckets per source, shared by all CPUs. Updates are plain
 * read-modify-write: two CPUs racing on one source may let a few extra
 * packets through, which is cheaper than atomics on every packet and
 * harmless for a flood limit. LRU so a spoofed-source flood evicts old
 * sources instead of failing inserts.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SHIELD_SOURCES_MAX);
	__type(key, struct shield_src);
	__type(value, struct shield_rate_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rate_src SEC(".maps");

/* Port policy: flags (SHIELD_PORT_*) per destination port. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ports SEC(".maps");

/* Packets and bytes per (reason, verdict): index reason * 2 + dropped. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SHIELD_STATS_SLOTS);
	__type(key, __u32);
	__type(value, struct shield_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

/* Sampled drop events for the DoS log. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} events SEC(".maps");

/* Per-CPU sampler state for `events`. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shield_event_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ev_state SEC(".maps");

/* Failed bpf_ringbuf_reserve calls (ring full), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ev_lost SEC(".maps");
