// The cached verdict in rate_src (struct shield_rate_state.checked_token): a
// source found on no list and unbanned skips the list trie and the ban
// lookups until the src_gen token changes. These tests pin down that every
// ban and list change still applies from the very next packet, and that
// losing the cache (eviction, restart) never loses a ban.

#include <arpa/inet.h>
#include <bpf/bpf.h>

#include <set>

#include "shield_abi.h"
#include "shield_fixture.h"

namespace mamori::testing {
namespace {

using common::parseIpPrefix;

class SourceCacheTest : public ShieldFixture {
 protected:
  void SetUp() override {
    ShieldFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    // The cache lives in the rate_src entry, which exists only with rates on.
    // Limits far above what a test sends, so no packet is rate-dropped.
    settings_.all = {1'000'000, 1'000'000};
    apply(settings_);
  }

  // Opens a pinned map of the shield by name; the fd is closed by the fixture.
  int mapFd(const char* name) {
    int fd = bpf_obj_get((maps_->pinDir() + "/" + name).c_str());
    EXPECT_GE(fd, 0) << name << ": " << strerror(errno);
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }

  void TearDown() override {
    for (int fd : fds_) close(fd);
    ShieldFixture::TearDown();
  }

  uint64_t sourceToken() {
    uint32_t zero = 0;
    shield_src_gen gen{};
    EXPECT_EQ(bpf_map_lookup_elem(mapFd("src_gen"), &zero, &gen), 0);
    return gen.token;
  }

  static shield_src sourceKey(const std::string& addr) {
    shield_src key{};
    if (addr.find(':') == std::string::npos) {
      key.addr[10] = key.addr[11] = 0xff;
      inet_pton(AF_INET, addr.c_str(), key.addr + 12);
    } else {
      inet_pton(AF_INET6, addr.c_str(), key.addr);
    }
    return key;
  }

  // The source's rate_src entry, or false if it has none (new or evicted).
  bool rateEntry(const std::string& addr, shield_rate_state* out) {
    shield_src key = sourceKey(addr);
    return bpf_map_lookup_elem(mapFd("rate_src"), &key, out) == 0;
  }

  // Writes a ban straight into bans_v4 without touching src_gen, as no
  // caller of the API ever does: shows whether the program looked.
  void writeBanBehindTheCachesBack(const std::string& addr) {
    uint32_t key;
    inet_pton(AF_INET, addr.c_str(), &key);
    shield_ban ban{shield::monotonicNowNs() + 60'000'000'000ull, SHIELD_BAN_MANUAL, 0};
    ASSERT_EQ(bpf_map_update_elem(mapFd("bans_v4"), &key, &ban, BPF_ANY), 0);
  }

  // Bans `addr` through `maps` (a host or an IPv6 /64) for `seconds`.
  static void banFor(shield::PinnedMaps& maps, const std::string& addr, int seconds,
                     shield::BanReason reason) {
    auto st = maps.addBan(*parseIpPrefix(addr), std::chrono::seconds(seconds), reason);
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  static Packet ackFrom(const std::string& addr) {
    if (addr.find(':') != std::string::npos)
      return Packet().ipv6(addr, "2001:db8::2").tcp(40000, 443, kAck);
    return Packet().ipv4(addr, "10.0.0.2").tcp(40000, 443, kAck);
  }

  std::vector<int> fds_;
};

TEST_F(SourceCacheTest, UnbannedSourceCachesTheCurrentToken) {
  EXPECT_EQ(run(ackFrom("198.51.100.20")), kPass);
  shield_rate_state st{};
  ASSERT_TRUE(rateEntry("198.51.100.20", &st));
  EXPECT_EQ(st.checked_token, sourceToken());
}

TEST_F(SourceCacheTest, CachedVerdictSkipsTheBanLookupUntilTheTokenChanges) {
  EXPECT_EQ(run(ackFrom("198.51.100.21")), kPass);
  // A ban written without a token change is not seen: proof that the
  // lookup is skipped, and why every writer goes through PinnedMaps.
  writeBanBehindTheCachesBack("198.51.100.21");
  EXPECT_EQ(run(ackFrom("198.51.100.21")), kPass);
  // Any ban change elsewhere replaces the token; the source looks again.
  banFor(*maps_, "198.51.100.99", 60, shield::BanReason::Manual);
  EXPECT_EQ(run(ackFrom("198.51.100.21")), kDrop);
  EXPECT_EQ(counters().dropped[SHIELD_R_BAN].packets, 1u);
}

TEST_F(SourceCacheTest, BanAddedAfterTheSourceWasCachedDropsTheNextPacket) {
  for (int i = 0; i < 3; ++i) EXPECT_EQ(run(ackFrom("198.51.100.22")), kPass);
  banFor(*maps_, "198.51.100.22", 60, shield::BanReason::Login);
  // Banned is never cached: every packet asks the ban map, and drops.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(run(ackFrom("198.51.100.22")), kDrop) << i;
  EXPECT_EQ(counters().dropped[SHIELD_R_BAN].packets, 3u);
}

TEST_F(SourceCacheTest, BanAddedThroughASecondHandleDropsTheNextPacket) {
  // mamorictl and mamorid each hold their own PinnedMaps.
  auto other = shield::PinnedMaps::open(pin_root_);
  ASSERT_TRUE(other.ok()) << other.error().message;
  EXPECT_EQ(run(ackFrom("198.51.100.23")), kPass);
  banFor(*other, "198.51.100.23", 60, shield::BanReason::Manual);
  EXPECT_EQ(run(ackFrom("198.51.100.23")), kDrop);
}

TEST_F(SourceCacheTest, DeletedBanLiftsOnTheNextPacket) {
  auto src = *parseIpPrefix("198.51.100.24");
  ASSERT_TRUE(maps_->addBan(src, std::chrono::seconds(60), shield::BanReason::Manual).ok());
  EXPECT_EQ(run(ackFrom("198.51.100.24")), kDrop);
  ASSERT_TRUE(maps_->deleteBan(src).ok());
  EXPECT_EQ(run(ackFrom("198.51.100.24")), kPass);
  shield_rate_state st{};
  ASSERT_TRUE(rateEntry("198.51.100.24", &st));
  EXPECT_EQ(st.checked_token, sourceToken());
  // Banned again after being cached as unbanned: drops at once.
  ASSERT_TRUE(maps_->addBan(src, std::chrono::seconds(60), shield::BanReason::Manual).ok());
  EXPECT_EQ(run(ackFrom("198.51.100.24")), kDrop);
}

TEST_F(SourceCacheTest, BanExpiresByTimeWithoutATokenChange) {
  auto src = *parseIpPrefix("198.51.100.25");
  ASSERT_TRUE(maps_->addBan(src, std::chrono::seconds(30), shield::BanReason::Flood).ok());
  EXPECT_EQ(run(ackFrom("198.51.100.25")), kDrop);
  const uint64_t token = sourceToken();

  // Age the ban past its expiry directly (as time would), token untouched;
  // a second back because the program reads the coarse clock.
  uint32_t key;
  std::memcpy(&key, src.bytes.data(), 4);
  shield_ban ban{};
  ASSERT_EQ(bpf_map_lookup_elem(mapFd("bans_v4"), &key, &ban), 0);
  ban.expires_ns = shield::monotonicNowNs() - 1'000'000'000ull;
  ASSERT_EQ(bpf_map_update_elem(mapFd("bans_v4"), &key, &ban, BPF_EXIST), 0);

  EXPECT_EQ(run(ackFrom("198.51.100.25")), kPass);
  EXPECT_EQ(sourceToken(), token);
  EXPECT_NE(bpf_map_lookup_elem(mapFd("bans_v4"), &key, &ban), 0) << "expired ban deleted lazily";
  shield_rate_state st{};
  ASSERT_TRUE(rateEntry("198.51.100.25", &st));
  EXPECT_EQ(st.checked_token, token);
  EXPECT_EQ(run(ackFrom("198.51.100.25")), kPass);
}

TEST_F(SourceCacheTest, Slash64BanReachesACachedIpv6Source) {
  settings_.ban_v6_prefix64 = true;
  apply(settings_);
  EXPECT_EQ(run(ackFrom("2001:db8:7:8::42")), kPass);
  banFor(*maps_, "2001:db8:7:8::/64", 60, shield::BanReason::Bot);
  EXPECT_EQ(run(ackFrom("2001:db8:7:8::42")), kDrop);
  EXPECT_EQ(run(ackFrom("2001:db8:7:9::42")), kPass);  // the next /64 is not banned
  ASSERT_TRUE(maps_->deleteBan(*parseIpPrefix("2001:db8:7:8::/64")).ok());
  EXPECT_EQ(run(ackFrom("2001:db8:7:8::42")), kPass);
}

TEST_F(SourceCacheTest, TurningOnSlash64BansReachesCachedSources) {
  // A /64 ban that does not apply while the setting is off...
  banFor(*maps_, "2001:db8:7:a::/64", 60, shield::BanReason::Bot);
  EXPECT_EQ(run(ackFrom("2001:db8:7:a::1")), kPass);
  // ...applies from the next packet once it is on, cached or not.
  settings_.ban_v6_prefix64 = true;
  apply(settings_);
  EXPECT_EQ(run(ackFrom("2001:db8:7:a::1")), kDrop);
  settings_.ban_v6_prefix64 = false;
  apply(settings_);
  EXPECT_EQ(run(ackFrom("2001:db8:7:a::1")), kPass);
}

// A spoofed-source flood churns rate_src (4096 entries in the fixture):
// sources lose their entry, and with it the cache and the bucket, but the
// ban map stays the authority.
TEST_F(SourceCacheTest, EvictedEntriesNeverLoseABan) {
  EXPECT_EQ(run(ackFrom("198.51.100.26")), kPass);  // cached as unbanned
  banFor(*maps_, "198.51.100.26", 60, shield::BanReason::Flood);
  banFor(*maps_, "198.51.100.27", 60, shield::BanReason::Flood);
  EXPECT_EQ(run(ackFrom("198.51.100.26")), kDrop);

  // 4 x the table size of distinct spoofed sources (10.x.y.z), each passing
  // and inserting an entry.
  for (uint32_t i = 0; i < 4 * 4096; ++i) {
    const std::string addr = "10." + std::to_string((i >> 16) & 0xff) + "." +
                             std::to_string((i >> 8) & 0xff) + "." + std::to_string(i & 0xff);
    ASSERT_EQ(run(ackFrom(addr)), kPass) << addr;
  }
  shield_rate_state st{};
  EXPECT_FALSE(rateEntry("10.0.0.0", &st)) << "the flood should have evicted early entries";

  EXPECT_EQ(run(ackFrom("198.51.100.26")), kDrop);
  EXPECT_EQ(run(ackFrom("198.51.100.27")), kDrop);
  // A source evicted while unbanned starts over and is cached again.
  EXPECT_EQ(run(ackFrom("10.0.0.0")), kPass);
  ASSERT_TRUE(rateEntry("10.0.0.0", &st));
  EXPECT_EQ(st.checked_token, sourceToken());
}

TEST_F(SourceCacheTest, EveryListBanAndSettingsChangeReplacesTheToken) {
  // The token is random, not a counter, so it has no wrap-around to get
  // wrong; what matters is that each change gives a new, non-zero value.
  std::set<uint64_t> seen = {sourceToken()};
  auto src = *parseIpPrefix("198.51.100.28");
  auto expectNew = [&](const char* what) {
    const uint64_t t = sourceToken();
    EXPECT_NE(t, 0u) << what;
    EXPECT_TRUE(seen.insert(t).second) << what << " did not change the token";
  };
  ASSERT_TRUE(maps_->addBan(src, std::chrono::seconds(60), shield::BanReason::Manual).ok());
  expectNew("addBan");
  ASSERT_TRUE(maps_->addBan(src, std::chrono::seconds(120), shield::BanReason::Manual).ok());
  expectNew("addBan (refresh)");
  ASSERT_TRUE(maps_->deleteBan(src).ok());
  expectNew("deleteBan");
  apply(settings_);
  expectNew("applySettings");
  auto net = *parseIpPrefix("2001:db8:99::/48");
  ASSERT_TRUE(maps_->addToList(shield::ListKind::Allow, net).ok());
  expectNew("addToList");
  ASSERT_TRUE(maps_->deleteFromList(shield::ListKind::Allow, net).ok());
  expectNew("deleteFromList");
  ASSERT_TRUE(maps_->replaceList(shield::ListKind::Deny, {net}).ok());
  expectNew("replaceList");
  // A failed delete changes nothing and says so.
  EXPECT_FALSE(maps_->deleteBan(src).ok());
  EXPECT_EQ(seen.count(sourceToken()), 1u);
}

TEST_F(SourceCacheTest, ARestartWithPinsKeepsBansAndCachesCoherent) {
  EXPECT_EQ(run(ackFrom("198.51.100.29")), kPass);  // cached before the restart
  banFor(*maps_, "198.51.100.30", 60, shield::BanReason::Manual);

  // mamorid restarts: the program is reloaded over the same pinned maps.
  maps_.reset();
  shield_.reset();
  shield::Options options;
  options.pin_root = pin_root_;
  options.max_sources = 4096;
  options.max_bans = 1024;
  auto reloaded = shield::Shield::open(options);
  ASSERT_TRUE(reloaded.ok()) << reloaded.error().message;
  shield_ = std::move(reloaded.value());
  auto maps = shield::PinnedMaps::open(pin_root_);
  ASSERT_TRUE(maps.ok()) << maps.error().message;
  maps_ = std::make_unique<shield::PinnedMaps>(std::move(maps.value()));

  shield_rate_state st{};
  ASSERT_TRUE(rateEntry("198.51.100.29", &st)) << "rate_src should be reused from the pins";
  EXPECT_EQ(run(ackFrom("198.51.100.30")), kDrop);
  EXPECT_EQ(run(ackFrom("198.51.100.29")), kPass);
  banFor(*maps_, "198.51.100.29", 60, shield::BanReason::Manual);
  EXPECT_EQ(run(ackFrom("198.51.100.29")), kDrop);
}

TEST_F(SourceCacheTest, CachedVerdictSkipsTheTrieUntilTheTokenChanges) {
  // A list entry elsewhere, so the v4 trie is walked at all.
  ASSERT_TRUE(maps_->addToList(shield::ListKind::Deny, *parseIpPrefix("192.0.2.0/24")).ok());
  EXPECT_EQ(run(ackFrom("198.51.100.40")), kPass);
  // A deny entry written straight into the trie, token untouched, is not
  // seen by the cached source...
  shield_lpm_v4 key{32, {}};
  inet_pton(AF_INET, "198.51.100.40", key.addr);
  shield_list_entry deny{SHIELD_L_DENY, SHIELD_L_DENY, 0};
  ASSERT_EQ(bpf_map_update_elem(mapFd("lists_v4"), &key, &deny, BPF_ANY), 0);
  EXPECT_EQ(run(ackFrom("198.51.100.40")), kPass);
  // ...until any list or ban change replaces the token.
  ASSERT_TRUE(maps_->addToList(shield::ListKind::Deny, *parseIpPrefix("192.0.3.0/24")).ok());
  EXPECT_EQ(run(ackFrom("198.51.100.40")), kDrop);
  EXPECT_EQ(counters().dropped[SHIELD_R_DENY].packets, 1u);
}

TEST_F(SourceCacheTest, DenyAddedAfterCachingDropsTheNextPacketAndLiftsOnDelete) {
  auto net = *parseIpPrefix("198.51.100.0/24");
  EXPECT_EQ(run(ackFrom("198.51.100.41")), kPass);
  ASSERT_TRUE(maps_->addToList(shield::ListKind::Deny, net).ok());
  EXPECT_EQ(run(ackFrom("198.51.100.41")), kDrop);
  ASSERT_TRUE(maps_->deleteFromList(shield::ListKind::Deny, net).ok());
  EXPECT_EQ(run(ackFrom("198.51.100.41")), kPass);
  // replaceList is the config-reload path.
  ASSERT_TRUE(maps_->replaceList(shield::ListKind::Deny, {net}).ok());
  EXPECT_EQ(run(ackFrom("198.51.100.41")), kDrop);
  ASSERT_TRUE(maps_->replaceList(shield::ListKind::Deny, {}).ok());
  EXPECT_EQ(run(ackFrom("198.51.100.41")), kPass);
}

TEST_F(SourceCacheTest, AllowAddedAfterCachingWinsFromTheNextPacket) {
  settings_.tcp_ports = {80};
  apply(settings_);
  // Port 443 is refused by the port policy, after the entry is cached.
  EXPECT_EQ(run(ackFrom("2001:db8:40::1")), kDrop);
  EXPECT_EQ(counters().dropped[SHIELD_R_PORT].packets, 1u);
  ASSERT_TRUE(maps_->addToList(shield::ListKind::Allow, *parseIpPrefix("2001:db8:40::/48")).ok());
  // Allow skips everything below it, the port policy included.
  EXPECT_EQ(run(ackFrom("2001:db8:40::1")), kPass);
  EXPECT_EQ(counters().passed[SHIELD_R_ALLOW].packets, 1u);
}

TEST_F(SourceCacheTest, MalformedL4IsJudgedEvenWhenCached) {
  settings_.malformed_drop = true;
  apply(settings_);
  EXPECT_EQ(run(ackFrom("198.51.100.42")), kPass);
  auto cut = ackFrom("198.51.100.42").bytes();
  cut.resize(14 + 20 + 8);  // half a TCP header
  EXPECT_EQ(runBytes(cut), kDrop);
  EXPECT_EQ(counters().dropped[SHIELD_R_MALFORMED_L4].packets, 1u);
}

}  // namespace
}  // namespace mamori::testing
