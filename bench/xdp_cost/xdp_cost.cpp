// Per-packet cost of the XDP shield's paths, measured in-kernel with
// BPF_PROG_TEST_RUN and `repeat` (the kernel reports the mean ns per run).
// Rounds are interleaved across scenarios and the median of the rounds is
// reported with its ratio to the harness floor (a program that only drops),
// so machine noise hits every scenario alike.
//
// Usage: xdp_cost [--rounds N] [--repeat N]   (needs root)

#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "baseline.skel.h"
#include "packet_builder.h"
#include "shield/shield.h"

using namespace mamori;
using testing::Packet;

namespace {

struct Scenario {
  std::string name;
  int prog_fd;
  std::vector<uint8_t> frame;
  int expect;  // XDP action
  std::vector<double> ns;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7, repeat = 200000;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: xdp_cost [--rounds N] [--repeat N]\n");
      return 2;
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "xdp_cost: needs root to load BPF programs\n");
    return 77;
  }

  baseline* base = baseline__open_and_load();
  if (!base) {
    std::fprintf(stderr, "xdp_cost: cannot load baseline programs: %s\n", strerror(errno));
    return 1;
  }
  const std::string pin_root = "/sys/fs/bpf/mamori-bench-" + std::to_string(getpid());
  shield::Options options;
  options.pin_root = pin_root;
  auto loaded = shield::Shield::open(options);
  if (!loaded) {
    std::fprintf(stderr, "xdp_cost: %s\n", loaded.error().message.c_str());
    return 1;
  }
  auto& sh = *loaded.value();
  auto maps = shield::PinnedMaps::open(pin_root);
  if (!maps) {
    std::fprintf(stderr, "xdp_cost: %s\n", maps.error().message.c_str());
    return 1;
  }

  // Every feature on: lists with entries, bans, all four buckets, port
  // policy, scanner fingerprints. Rates are high enough that the pass path
  // never runs dry; the SYN bucket is tiny so the rate-drop path is a SYN.
  shield::Settings s = shield::defaultSettings();
  s.all = {10'000'000, 4'000'000};
  s.udp = {10'000'000, 4'000'000};
  s.icmp = {10'000'000, 4'000'000};
  s.syn = {1, 1};
  s.tcp_ports = {22, 80, 443};
  s.udp_ports = {53};
  s.scanner_syn = true;
  if (auto st = sh.applySettings(s); !st) {
    std::fprintf(stderr, "xdp_cost: %s\n", st.error().message.c_str());
    return 1;
  }
  for (int i = 0; i < 200; ++i) {
    std::string net = "100." + std::to_string(64 + i % 64) + "." + std::to_string(i) + ".0/24";
    (void)maps->addToList(shield::ListKind::Allow, *common::parseIpPrefix(net));
    std::string deny = "172." + std::to_string(16 + i % 16) + "." + std::to_string(i) + ".0/24";
    (void)maps->addToList(shield::ListKind::Deny, *common::parseIpPrefix(deny));
    std::string ban = "192.0.2." + std::to_string(i);
    (void)maps->addBan(*common::parseIpPrefix(ban), std::chrono::hours(1),
                       shield::BanReason::Manual);
  }
  (void)maps->addToList(shield::ListKind::Allow, *common::parseIpPrefix("2001:db8:a11::/48"));
  (void)maps->addToList(shield::ListKind::Deny, *common::parseIpPrefix("2001:db8:bad::/48"));

  const int shield_fd = sh.programFd();
  const int drop_fd = bpf_program__fd(base->progs.drop_all);
  const int parse_fd = bpf_program__fd(base->progs.parse_pass);
  auto ack = [](const char* src, uint16_t port) {
    return Packet().ipv4(src, "10.0.0.2").tcp(40000, port, testing::kAck).payload(64).bytes();
  };
  std::vector<Scenario> scenarios = {
      {"floor: XDP_DROP only", drop_fd, ack("198.51.100.1", 80), XDP_DROP, {}},
      {"bare parse + pass", parse_fd, ack("198.51.100.1", 80), XDP_PASS, {}},
      {"mamori pass (IPv4 TCP)", shield_fd, ack("198.51.100.1", 80), XDP_PASS, {}},
      {"mamori pass (IPv6 TCP)", shield_fd,
       Packet().ipv6("2001:db8:1::1", "2001:db8::2").tcp(40000, 443, testing::kAck).payload(64).bytes(),
       XDP_PASS, {}},
      {"mamori allow list", shield_fd, ack("100.64.0.9", 80), XDP_PASS, {}},
      {"mamori drop: deny list", shield_fd, ack("172.16.0.9", 80), XDP_DROP, {}},
      {"mamori drop: ban", shield_fd, ack("192.0.2.7", 80), XDP_DROP, {}},
      {"mamori drop: SYN rate", shield_fd,
       Packet().ipv4("198.51.100.2", "10.0.0.2").tcp(40000, 80, testing::kSyn).bytes(), XDP_DROP, {}},
      {"mamori drop: port policy", shield_fd, ack("198.51.100.3", 3306), XDP_DROP, {}},
      {"mamori drop: scanner SYN", shield_fd,
       Packet().ipv4("198.51.100.4", "10.0.0.2", 255, 54321).tcp(61000, 22, testing::kSyn, 1024, false).bytes(),
       XDP_DROP, {}},
  };

  bool ok = true;
  for (int r = 0; r < rounds; ++r) {
    for (auto& sc : scenarios) {
      LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = sc.frame.data(),
                  .data_size_in = static_cast<__u32>(sc.frame.size()),
                  .repeat = repeat);
      if (int err = bpf_prog_test_run_opts(sc.prog_fd, &opts)) {
        std::fprintf(stderr, "xdp_cost: test run failed: %s\n", strerror(-err));
        return 1;
      }
      // The SYN-rate scenario passes its first packet (the burst) on round 0.
      if (static_cast<int>(opts.retval) != sc.expect && r > 0) {
        std::fprintf(stderr, "xdp_cost: %s returned %u, expected %d\n", sc.name.c_str(),
                     opts.retval, sc.expect);
        ok = false;
      }
      sc.ns.push_back(static_cast<double>(opts.duration));
    }
  }
  const double floor = median(scenarios[0].ns);
  std::printf("%-28s %10s %10s\n", "scenario", "ns/packet", "x floor");
  for (auto& sc : scenarios) {
    double m = median(sc.ns);
    std::printf("%-28s %10.1f %10.2f\n", sc.name.c_str(), m, m / floor);
  }
  std::printf("(median of %d interleaved rounds x %d repeats; BPF_PROG_TEST_RUN)\n", rounds, repeat);
  baseline__destroy(base);
  loaded.value().reset();
  (void)shield::purgePins(pin_root);
  return ok ? 0 : 1;
}
