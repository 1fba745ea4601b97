// Every verdict path of the XDP shield, run on the real program through
// BPF_PROG_TEST_RUN with hand-built frames.

#include <bpf/bpf.h>

#include <random>

#include "shield_abi.h"
#include "shield_fixture.h"

namespace mamori::testing {
namespace {

using common::parseIpPrefix;

int reason(shield_reason r) { return static_cast<int>(r); }

TEST_F(ShieldFixture, PassesPlainTrafficAndCountsIt) {
  EXPECT_EQ(run(Packet().ipv4("10.0.0.1", "10.0.0.2").tcp(40000, 80, kSyn)), kPass);
  EXPECT_EQ(run(Packet().ipv6("2001:db8::1", "2001:db8::2").udp(5353, 53)), kPass);
  auto c = counters();
  EXPECT_EQ(c.passed[reason(SHIELD_R_PASS)].packets, 2u);
  EXPECT_GT(c.passed[reason(SHIELD_R_PASS)].bytes, 100u);
  EXPECT_EQ(c.totalDropped().packets, 0u);
}

TEST_F(ShieldFixture, PassesNonIpFramesUnjudged) {
  EXPECT_EQ(runBytes(Packet().etherType(0x0806).payload(28).bytes()), kPass);
  EXPECT_EQ(counters().passed[reason(SHIELD_R_NOT_IP)].packets, 1u);
}

TEST_F(ShieldFixture, ParsesTwoVlanTags) {
  ASSERT_TRUE(maps_->addToList(shield::ListKind::Deny, *parseIpPrefix("198.51.100.9")).ok());
  EXPECT_EQ(run(Packet().vlan(100, 0x88A8).vlan(10).ipv4("198.51.100.9", "10.0.0.2").udp(1, 2)),
            kDrop);
  EXPECT_EQ(counters().dropped[reason(SHIELD_R_DENY)].packets, 1u);
}

TEST_F(ShieldFixture, SkipsIpv4Options) {
  ASSERT_TRUE(maps_->addToList(shield::ListKind::Deny, *parseIpPrefix("198.51.100.0/24")).ok());
  settings_.tcp_ports = {80};
  apply(settings_);
  // 12 bytes of options: the port must still be read from the right place.
  Packet p = Packet().ipv4("203.0.113.1", "10.0.0.2", 64, 1, 12).tcp(40000, 80, kSyn);
  EXPECT_EQ(run(p), kPass);
  EXPECT_EQ(run(Packet().ipv4("203.0.113.1", "10.0.0.2", 64, 1, 12).tcp(40000, 81, kSyn)), kDrop);
}

TEST_F(ShieldFixture, TruncatedFramesPassByDefaultCountedByReason) {
  auto ip_cut = Packet().ipv4("10.0.0.1", "10.0.0.2").tcp(1, 80, kSyn).bytes();
  ip_cut.resize(14 + 10);  // half an IPv4 header
  EXPECT_EQ(runBytes(ip_cut), kPass);
  auto tcp_cut = Packet().ipv4("10.0.0.1", "10.0.0.2").tcp(1, 80, kSyn).bytes();
  tcp_cut.resize(14 + 20 + 8);  // half a TCP header
  EXPECT_EQ(runBytes(tcp_cut), kPass);
  auto vlan_cut = Packet().vlan(5).ipv4("10.0.0.1", "10.0.0.2").bytes();
  vlan_cut.resize(15);
  EXPECT_EQ(runBytes(vlan_cut), kPass);
  auto c = counters();
  EXPECT_EQ(c.passed[reason(SHIELD_R_MALFORMED_L3)].packets, 1u);
  EXPECT_EQ(c.passed[reason(SHIELD_R_MALFORMED_L4)].packets, 1u);
  EXPECT_EQ(c.passed[reason(SHIELD_R_MALFORMED_L2)].packets, 1u);
}

TEST_F(ShieldFixture, MalformedPolicyDropDrops) {
  settings_.malformed_drop = true;
  apply(settings_);
  auto bad_ihl = Packet().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).bytes();
  bad_ihl[14] = 0x43;  // IHL 3 (< 5)
  EXPECT_EQ(runBytes(bad_ihl), kDrop);
  EXPECT_EQ(counters().dropped[reason(SHIELD_R_MALFORMED_L3)].packets, 1u);
}

TEST_F(ShieldFixture, WalksIpv6ExtensionHeaders) {
  settings_.udp_ports = {53};
  apply(settings_);
  EXPECT_EQ(run(Packet().ipv6("2001:db8::1", "2001:db8::2").ipv6Ext(0).ipv6Ext(60).ipv6Ext(43)
                    .udp(1000, 53)),
            kPass);
  EXPECT_EQ(run(Packet().ipv6("2001:db8::1", "2001:db8::2").ipv6Ext(0).udp(1000, 54)), kDrop);
  EXPECT_EQ(counters().dropped[reason(SHIELD_R_PORT)].packets, 1u);
}

TEST_F(ShieldFixture, Ipv6ExtensionChainTooLongIsMalformed) {
  Packet p = Packet().ipv6("2001:db8::1", "2001:db8::2");
  for (int i = 0; i < 7; ++i) p.ipv6Ext(60);
  EXPECT_EQ(run(p.udp(1, 2)), kPass);
  EXPECT_EQ(counters().passed[reason(SHIELD_R_MALFORMED_EXT)].packets, 1u);
}

TEST_F(ShieldFixture, NonFirstFragmentsSkipPortChecks) {
  settings_.tcp_ports = {443};
  apply(settings_);
  EXPECT_EQ(run(Packet().ipv4("10.0.0.1", "10.0.0.2").fragmentOffset(100).payload(64)), kPass);
  EXPECT_EQ(run(Packet().ipv6("2001:db8::1", "2001:db8::2").ipv6Ext(44, 10).udp(1, 9).payload(64)), kPass);
  EXPECT_EQ(counters().passed[reason(SHIELD_R_FRAGMENT)].packets, 2u);
}

TEST_F(ShieldFixture, AllowListBeatsDenyListAndBans) {
  ASSERT_TRUE(maps_->addToList(shield::ListKind::Deny, *parseIpPrefix("10.0.0.0/8")).ok());
  ASSERT_TRUE(maps_->addToList(shield::ListKind::Allow, *parseIpPrefix("10.1.0.0/16")).ok());
  ASSERT_TRUE(maps_->addBan(*parseIpPrefix("10.1.2.3"), std::chrono::seconds(60),
                            shield::BanReason::Manual).ok());
  EXPECT_EQ(run(Packet().ipv4("10.1.2.3", "192.0.2.1").tcp(1, 80, kSyn)), kPass);
  EXPECT_EQ(run(Packet().ipv4("10.2.0.1", "192.0.2.1").tcp(1, 80, kSyn)), kDrop);
  auto c = counters();
  EXPECT_EQ(c.passed[reason(SHIELD_R_ALLOW)].packets, 1u);
  EXPECT_EQ(c.dropped[reason(SHIELD_R_DENY)].packets, 1u);
}

// The lists share one trie per family; these pin down that a longer deny
// prefix inside an allow prefix, the same prefix on both lists, and removals
// of a covering prefix all keep "allow wins" exact.
TEST_F(ShieldFixture, AllowWinsOverALongerDenyPrefixInsideIt) {
  ASSERT_TRUE(maps_->addToList(shield::ListKind::Allow, *parseIpPrefix("10.0.0.0/8")).ok());
  ASSERT_TRUE(maps_->addToList(shield::ListKind::Deny, *parseIpPrefix("10.1.0.0/16")).ok());
  EXPECT_EQ(run(Packet().ipv4("10.1.2.3", "192.0.2.1").tcp(1, 80, kSyn)), kPass);
  EXPECT_EQ(counters().passed[reason(SHIELD_R_ALLOW)].packets, 1u);

  // Without the covering allow prefix the deny entry applies again.
  ASSERT_TRUE(maps_->deleteFromList(shield::ListKind::Allow, *parseIpPrefix("10.0.0.0/8")).ok());
  EXPECT_EQ(run(Packet().ipv4("10.1.2.3", "192.0.2.1").tcp(1, 80, kSyn)), kDrop);
  EXPECT_EQ(run(Packet().ipv4("10.2.0.1", "192.0.2.1").tcp(1, 80, kSyn)), kPass);
}

TEST_F(ShieldFixture, SamePrefixOnBothListsIsAllowedAndListedOnEach) {
  auto p = *parseIpPrefix("2001:db8:5::/48");
  ASSERT_TRUE(maps_->addToList(shield::ListKind::Deny, p).ok());
  ASSERT_TRUE(maps_->addToList(shield::ListKind::Allow, p).ok());
  EXPECT_EQ(run(Packet().ipv6("2001:db8:5::1", "2001:db8::2").icmpEcho()), kPass);
  EXPECT_EQ(*maps_->list(shield::ListKind::Allow), std::vector<mamori::common::IpPrefix>{p});
  EXPECT_EQ(*maps_->list(shield::ListKind::Deny), std::vector<mamori::common::IpPrefix>{p});

  ASSERT_TRUE(maps_->deleteFromList(shield::ListKind::Allow, p).ok());
  EXPECT_EQ(run(Packet().ipv6("2001:db8:5::1", "2001:db8::2").icmpEcho()), kDrop);
  EXPECT_FALSE(maps_->deleteFromList(shield::ListKind::Allow, p).ok());
  ASSERT_TRUE(maps_->deleteFromList(shield::ListKind::Deny, p).ok());
  EXPECT_EQ(run(Packet().ipv6("2001:db8:5::1", "2001:db8::2").icmpEcho()), kPass);
  EXPECT_TRUE(maps_->list(shield::ListKind::Deny)->empty());
}

TEST_F(ShieldFixture, ReplaceListLeavesTheOtherListAlone) {
  ASSERT_TRUE(maps_->addToList(shield::ListKind::Allow, *parseIpPrefix("192.0.2.0/24")).ok());
  ASSERT_TRUE(maps_->replaceList(shield::ListKind::Deny, {*parseIpPrefix("198.51.100.0/24"),
                                                          *parseIpPrefix("192.0.2.7")}).ok());
  EXPECT_EQ(run(Packet().ipv4("198.51.100.1", "10.0.0.2").udp(1, 53)), kDrop);
  EXPECT_EQ(run(Packet().ipv4("192.0.2.7", "10.0.0.2").udp(1, 53)), kPass);
  ASSERT_TRUE(maps_->replaceList(shield::ListKind::Deny, {}).ok());
  EXPECT_EQ(run(Packet().ipv4("198.51.100.1", "10.0.0.2").udp(1, 53)), kPass);
  EXPECT_EQ(maps_->list(shield::ListKind::Allow)->size(), 1u);
}

TEST_F(ShieldFixture, DenyListMatchesIpv6Prefixes) {
  ASSERT_TRUE(maps_->addToList(shield::ListKind::Deny, *parseIpPrefix("2001:db8:bad::/48")).ok());
  EXPECT_EQ(run(Packet().ipv6("2001:db8:bad:1::7", "2001:db8::2").icmpEcho()), kDrop);
  EXPECT_EQ(run(Packet().ipv6("2001:db8:600d::7", "2001:db8::2").icmpEcho()), kPass);
}

TEST_F(ShieldFixture, BanDropsUntilExpiryThenIsDeleted) {
  auto src = *parseIpPrefix("203.0.113.50");
  ASSERT_TRUE(maps_->addBan(src, std::chrono::seconds(30), shield::BanReason::Login).ok());
  EXPECT_EQ(run(Packet().ipv4("203.0.113.50", "10.0.0.2").tcp(1, 443, kSyn)), kDrop);
  EXPECT_EQ(counters().dropped[reason(SHIELD_R_BAN)].packets, 1u);
  ASSERT_EQ(maps_->listBans()->size(), 1u);

  // Move the expiry into the past, as if the TTL had elapsed.
  int fd = bpf_obj_get((maps_->pinDir() + "/bans_v4").c_str());
  ASSERT_GE(fd, 0);
  uint32_t key;
  std::memcpy(&key, src.bytes.data(), 4);
  shield_ban ban{};
  ASSERT_EQ(bpf_map_lookup_elem(fd, &key, &ban), 0);
  // A second back: the program reads the coarse clock, which lags
  // CLOCK_MONOTONIC by up to one tick.
  ban.expires_ns = shield::monotonicNowNs() - 1000000000ull;
  ASSERT_EQ(bpf_map_update_elem(fd, &key, &ban, BPF_EXIST), 0);

  EXPECT_EQ(run(Packet().ipv4("203.0.113.50", "10.0.0.2").tcp(1, 443, kSyn)), kPass);
  EXPECT_NE(bpf_map_lookup_elem(fd, &key, &ban), 0) << "expired ban should be deleted lazily";
  close(fd);
}

TEST_F(ShieldFixture, Ipv6BanOnSlash64OnlyWhenEnabled) {
  ASSERT_TRUE(maps_->addBan(*parseIpPrefix("2001:db8:1:2::/64"), std::chrono::seconds(60),
                            shield::BanReason::Bot).ok());
  Packet p = Packet().ipv6("2001:db8:1:2:aaaa::1", "2001:db8::2").tcp(1, 80, kSyn);
  EXPECT_EQ(run(p), kPass);
  settings_.ban_v6_prefix64 = true;
  apply(settings_);
  EXPECT_EQ(run(p), kDrop);
  EXPECT_EQ(run(Packet().ipv6("2001:db8:1:3::1", "2001:db8::2").tcp(1, 80, kSyn)), kPass);
}

TEST_F(ShieldFixture, SynBucketDropsOverBurstAndRefills) {
  settings_.syn = {1, 3};  // 1/s, burst 3: refill within a test run is negligible
  apply(settings_);
  Packet syn = Packet().ipv4("198.51.100.7", "10.0.0.2").tcp(40000, 80, kSyn);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(run(syn), kPass) << i;
  EXPECT_EQ(run(syn), kDrop);
  // Non-SYN TCP from the same source is not charged to the SYN bucket.
  EXPECT_EQ(run(Packet().ipv4("198.51.100.7", "10.0.0.2").tcp(40000, 80, kAck)), kPass);
  // Another source has its own bucket.
  EXPECT_EQ(run(Packet().ipv4("198.51.100.8", "10.0.0.2").tcp(40000, 80, kSyn)), kPass);
  EXPECT_EQ(counters().dropped[reason(SHIELD_R_RATE_SYN)].packets, 1u);

  // Advance time for this source by 2 s: two tokens come back.
  int fd = bpf_obj_get((maps_->pinDir() + "/rate_src").c_str());
  ASSERT_GE(fd, 0);
  shield_src key{};
  key.addr[10] = key.addr[11] = 0xff;
  inet_pton(AF_INET, "198.51.100.7", key.addr + 12);
  shield_rate_state st{};
  ASSERT_EQ(bpf_map_lookup_elem(fd, &key, &st), 0);
  // The dry bucket holds SYNs (only) until its next token, 1 s away at 1/s.
  EXPECT_EQ(st.hold_kinds, 1u << SHIELD_B_SYN);
  EXPECT_EQ(st.hold_reason, static_cast<uint32_t>(SHIELD_R_RATE_SYN));
  EXPECT_GT(st.hold_until_ns, st.last_ns);
  EXPECT_LE(st.hold_until_ns, st.last_ns + 1'000'000'000ull);
  st.last_ns -= 2'000'000'000ull;
  st.hold_until_ns -= 2'000'000'000ull;
  ASSERT_EQ(bpf_map_update_elem(fd, &key, &st, BPF_EXIST), 0);
  close(fd);
  EXPECT_EQ(run(syn), kPass);
  EXPECT_EQ(run(syn), kPass);
  EXPECT_EQ(run(syn), kDrop);
}

TEST_F(ShieldFixture, UdpIcmpAndAllBuckets) {
  settings_.udp = {1, 2};
  settings_.icmp = {1, 1};
  settings_.all = {1, 10};
  apply(settings_);
  Packet udp = Packet().ipv4("192.0.2.10", "10.0.0.2").udp(1000, 53);
  EXPECT_EQ(run(udp), kPass);
  EXPECT_EQ(run(udp), kPass);
  EXPECT_EQ(run(udp), kDrop);
  Packet ping6 = Packet().ipv6("2001:db8::10", "2001:db8::2").icmpEcho();
  EXPECT_EQ(run(ping6), kPass);
  EXPECT_EQ(run(ping6), kDrop);
  Packet ack = Packet().ipv4("192.0.2.11", "10.0.0.2").tcp(1, 80, kAck);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(run(ack), kPass) << i;
  EXPECT_EQ(run(ack), kDrop);
  auto c = counters();
  EXPECT_EQ(c.dropped[reason(SHIELD_R_RATE_UDP)].packets, 1u);
  EXPECT_EQ(c.dropped[reason(SHIELD_R_RATE_ICMP)].packets, 1u);
  EXPECT_EQ(c.dropped[reason(SHIELD_R_RATE_ALL)].packets, 1u);
}

TEST_F(ShieldFixture, PortPolicyPassesOnlyListedPorts) {
  settings_.tcp_ports = {22, 80, 443};
  apply(settings_);
  EXPECT_EQ(run(Packet().ipv4("192.0.2.1", "10.0.0.2").tcp(1, 443, kSyn)), kPass);
  EXPECT_EQ(run(Packet().ipv4("192.0.2.1", "10.0.0.2").tcp(1, 3306, kSyn)), kDrop);
  // UDP has no listed port, so all UDP is refused; ICMP is not port-filtered.
  EXPECT_EQ(run(Packet().ipv4("192.0.2.1", "10.0.0.2").udp(1, 53)), kDrop);
  EXPECT_EQ(run(Packet().ipv4("192.0.2.1", "10.0.0.2").icmpEcho()), kPass);
  settings_.tcp_ports.clear();
  apply(settings_);
  EXPECT_EQ(run(Packet().ipv4("192.0.2.1", "10.0.0.2").tcp(1, 3306, kSyn)), kPass);
}

TEST_F(ShieldFixture, ScannerSynFingerprintsDropWhenEnabled) {
  Packet masscan = Packet().ipv4("192.0.2.66", "10.0.0.2", 255, 777).tcp(61000, 22, kSyn, 1024, false);
  Packet zmap = Packet().ipv4("192.0.2.67", "10.0.0.2", 255, 54321).tcp(61000, 22, kSyn, 65535, false);
  Packet linux_syn = Packet().ipv4("192.0.2.68", "10.0.0.2", 64, 4242).tcp(50000, 22, kSyn, 64240, true);
  EXPECT_EQ(run(masscan), kPass);
  settings_.scanner_syn = true;
  apply(settings_);
  EXPECT_EQ(run(masscan), kDrop);
  EXPECT_EQ(run(zmap), kDrop);
  EXPECT_EQ(run(linux_syn), kPass);
  EXPECT_EQ(counters().dropped[reason(SHIELD_R_SCANNER)].packets, 2u);
}

TEST_F(ShieldFixture, DropsAreSampledIntoTheRingBuffer) {
  settings_.events_per_sec = 2;
  apply(settings_);
  ASSERT_TRUE(maps_->addToList(shield::ListKind::Deny, *parseIpPrefix("192.0.2.99")).ok());
  std::vector<shield::DropEvent> events;
  auto reader = shield::DropEventReader::open(
      pin_root_, [&](const shield::DropEvent& ev) { events.push_back(ev); });
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(run(Packet().ipv4("192.0.2.99", "10.0.0.2").udp(1, 2)), kDrop);
  ASSERT_TRUE(reader.value()->poll(std::chrono::milliseconds(100)).ok());
  // Two events fit the per-second cap; the other eight are summed into the
  // next event (unless the run crossed a one-second window boundary).
  ASSERT_GE(events.size(), 2u);
  ASSERT_LE(events.size(), 4u);
  EXPECT_EQ(events[0].source.toString(), "192.0.2.99");
  EXPECT_EQ(events[0].reason, reason(SHIELD_R_DENY));
  EXPECT_EQ(events[0].protocol, 17);
  EXPECT_EQ(counters().events_lost, 0u);
}

// Randomised frames never crash the program and never drop an allow-listed
// source (the allow list must win whatever follows its header).
TEST_F(ShieldFixture, RandomFramesNeverDropAllowListedSource) {
  settings_ = shield::defaultSettings();
  settings_.malformed_drop = true;  // even then, a parsed allow-listed source passes
  settings_.tcp_ports = {80};
  apply(settings_);
  ASSERT_TRUE(maps_->addToList(shield::ListKind::Allow, *parseIpPrefix("10.9.9.9")).ok());
  std::mt19937 rng(12345);
  auto base = Packet().ipv4("10.9.9.9", "10.0.0.2").tcp(1, 81, kSyn).payload(32).bytes();
  for (int i = 0; i < 3000; ++i) {
    auto frame = base;
    // Mutate only past the source address, so the frame is still "from"
    // the allow-listed host when it parses at all.
    for (int m = 0; m < 4; ++m) frame[30 + rng() % (frame.size() - 30)] = static_cast<uint8_t>(rng());
    frame.resize(14 + rng() % (frame.size() - 13));
    bool ipv4_intact = frame.size() >= 34;  // Ethernet + the whole IPv4 header
    int verdict = runBytes(frame);
    if (ipv4_intact) {
      EXPECT_EQ(verdict, kPass) << "iteration " << i;
    }
  }
  // Fully random frames: any verdict, but the program must run.
  for (int i = 0; i < 3000; ++i) {
    std::vector<uint8_t> frame(14 + rng() % 120);
    for (auto& b : frame) b = static_cast<uint8_t>(rng());
    if (rng() % 2) frame[12] = 0x08, frame[13] = 0x00;
    else if (rng() % 2) frame[12] = 0x86, frame[13] = 0xdd;
    int verdict = runBytes(frame);
    EXPECT_TRUE(verdict == kPass || verdict == kDrop);
  }
}

}  // namespace
}  // namespace mamori::testing
