/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Constants that vmlinux.h lacks (it has types, not macros). */
#pragma once

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

/* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP come from vmlinux.h's enum. */
#define IPPROTO_ICMPV6 58

#define IPV6_NEXTHDR_HOP 0
#define IPV6_NEXTHDR_ROUTING 43
#define IPV6_NEXTHDR_FRAGMENT 44
#define IPV6_NEXTHDR_DEST 60

#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF
