#include "daemon/shield_settings.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader.h"

namespace mamori::daemon {
namespace {

config::ShieldConfig load(const std::string& yaml) {
  config::LoadOptions options;
  options.check_file = nullptr;
  auto result = config::loadConfigString(yaml, "t.yaml", options);
  EXPECT_TRUE(result.ok()) << result.error().message;
  return result.ok() ? result->shield : config::ShieldConfig{};
}

TEST(ShieldSettings, DefaultConfigEqualsTheQuickStartDefaults) {
  // config::ShieldConfig repeats shield::defaultSettings() (config may not
  // include shield); this keeps the two from drifting apart.
  EXPECT_EQ(shieldSettings(config::ShieldConfig{}), shield::defaultSettings());
  EXPECT_EQ(shieldSettings(load("shield:\n  interfaces: [eth0]\n")), shield::defaultSettings());
}

TEST(ShieldSettings, MapsEveryField) {
  auto s =
      shieldSettings(load("shield:\n"
                          "  rates:\n"
                          "    syn: {rate: 10, burst: 20}\n"
                          "    udp: {rate: 30}\n"
                          "    icmp: {rate: 0}\n"
                          "    all: {rate: 40, burst: 50}\n"
                          "  ports: {tcp: [80, 443], udp: [53]}\n"
                          "  scanner_syn: false\n"
                          "  malformed: drop\n"
                          "  ban_ipv6_prefix64: true\n"));
  EXPECT_EQ(s.syn, (shield::RateLimit{10, 20}));
  EXPECT_EQ(s.udp, (shield::RateLimit{30, 30}));
  EXPECT_EQ(s.icmp, (shield::RateLimit{0, 0}));  // rate 0: bucket off
  EXPECT_EQ(s.all, (shield::RateLimit{40, 50}));
  EXPECT_EQ(s.tcp_ports, (std::vector<uint16_t>{80, 443}));
  EXPECT_EQ(s.udp_ports, (std::vector<uint16_t>{53}));
  EXPECT_FALSE(s.scanner_syn);
  EXPECT_TRUE(s.malformed_drop);
  EXPECT_TRUE(s.ban_v6_prefix64);
  EXPECT_EQ(s.events_per_sec, shield::defaultSettings().events_per_sec);
}

TEST(ShieldSettings, AttachModeAndOptions) {
  EXPECT_EQ(shieldAttachMode(config::AttachMode::Auto), shield::AttachMode::Auto);
  EXPECT_EQ(shieldAttachMode(config::AttachMode::Native), shield::AttachMode::Native);
  EXPECT_EQ(shieldAttachMode(config::AttachMode::Generic), shield::AttachMode::Generic);
  auto options = shieldOptions(load("shield:\n  max_sources: 4096\n"), "/sys/fs/bpf/x");
  EXPECT_EQ(options.pin_root, "/sys/fs/bpf/x");
  EXPECT_EQ(options.max_sources, 4096u);
  EXPECT_EQ(options.max_bans, shield::Options{}.max_bans);
}

TEST(InterfaceChanges, AttachesNewAndDetachesRemovedInConfigOrder) {
  EXPECT_EQ(interfaceChanges({"eth0", "eth1"}, {"eth2", "eth0", "eth3"}),
            (InterfaceChanges{{"eth2", "eth3"}, {"eth1"}}));
  EXPECT_EQ(interfaceChanges({"eth0"}, {"eth0"}), InterfaceChanges{});
  EXPECT_EQ(interfaceChanges({}, {"eth0"}), (InterfaceChanges{{"eth0"}, {}}));
  EXPECT_EQ(interfaceChanges({"eth0"}, {}), (InterfaceChanges{{}, {"eth0"}}));
}

TEST(ChangesNeedingRestart, NoneForAppliableChanges) {
  auto running = load("shield:\n  interfaces: [eth0]\n  deny: [10.0.0.0/8]\n");
  auto next =
      load("shield:\n  interfaces: [eth1]\n  rates: {syn: {rate: 1}}\n  attach_mode: native\n");
  // eth0 goes and eth1 is new, so the new attach mode applies to every interface.
  EXPECT_TRUE(changesNeedingRestart(running, next).empty());
}

TEST(ChangesNeedingRestart, NamesMaxSourcesAndAttachModeOfKeptInterfaces) {
  auto running = load("shield:\n  interfaces: [eth0, eth1]\n");
  auto next = load(
      "shield:\n  interfaces: [eth1, eth2]\n  attach_mode: generic\n"
      "  max_sources: 2048\n");
  EXPECT_EQ(changesNeedingRestart(running, next),
            (std::vector<std::string>{
                "max_sources 1048576 -> 2048 needs a restart after `mamorid --purge` (which "
                "also drops bans); keeping 1048576",
                "attach_mode auto -> generic applies to newly attached interfaces; eth1 keep "
                "their mode until a restart"}));
}

}  // namespace
}  // namespace mamori::daemon
