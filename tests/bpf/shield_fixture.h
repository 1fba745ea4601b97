#pragma once

// Loads the real shield skeleton with maps pinned under a private root, and
// runs frames through it with BPF_PROG_TEST_RUN. Skips (never fails) when
// the process lacks the privileges or the kernel lacks the features.

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "packet_builder.h"
#include "shield/shield.h"

namespace mamori::testing {

class ShieldFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (CAP_BPF, CAP_NET_ADMIN) to load XDP";
    pin_root_ = "/sys/fs/bpf/mamori-test-" + std::to_string(getpid());
    shield::Options options;
    options.pin_root = pin_root_;
    options.max_sources = 4096;  // small tables keep the test fast
    options.max_bans = 1024;
    auto loaded = shield::Shield::open(options);
    if (!loaded) {
      if (loaded.error().code == EPERM || loaded.error().code == ENOSYS)
        GTEST_SKIP() << "kernel refused BPF: " << loaded.error().message;
      FAIL() << loaded.error().message;
    }
    shield_ = std::move(loaded.value());
    auto maps = shield::PinnedMaps::open(pin_root_);
    ASSERT_TRUE(maps.ok()) << maps.error().message;
    maps_ = std::make_unique<shield::PinnedMaps>(std::move(maps.value()));
    settings_ = shield::Settings{};  // everything off: each test turns on what it checks
    ASSERT_TRUE(shield_->applySettings(settings_).ok());
  }

  void TearDown() override {
    maps_.reset();
    shield_.reset();
    if (!pin_root_.empty()) (void)shield::purgePins(pin_root_);
  }

  void apply(const shield::Settings& s) {
    auto st = shield_->applySettings(s);
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  // Runs one frame; returns the XDP action (XDP_PASS = 2, XDP_DROP = 1).
  int run(const Packet& packet) { return runBytes(packet.bytes()); }

  int runBytes(std::vector<uint8_t> frame) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
                .data_size_in = static_cast<__u32>(frame.size()), .repeat = 1);
    int err = bpf_prog_test_run_opts(shield_->programFd(), &opts);
    EXPECT_EQ(err, 0) << "bpf_prog_test_run_opts: " << strerror(-err);
    return static_cast<int>(opts.retval);
  }

  shield::Counters counters() {
    auto c = maps_->counters();
    EXPECT_TRUE(c.ok());
    return c.ok() ? c.value() : shield::Counters{};
  }

  std::string pin_root_;
  std::unique_ptr<shield::Shield> shield_;
  std::unique_ptr<shield::PinnedMaps> maps_;
  shield::Settings settings_;
};

inline constexpr int kPass = XDP_PASS;
inline constexpr int kDrop = XDP_DROP;

}  // namespace mamori::testing
