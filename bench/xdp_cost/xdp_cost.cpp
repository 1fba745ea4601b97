// Per-packet cost of the XDP shield's paths, measured in-kernel with
// BPF_PROG_TEST_RUN and `repeat` (the kernel reports the mean ns per run).
// Rounds are interleaved across scenarios and the median of the rounds is
// reported with its ratio to the harness floor (a program that only drops),
// so machine noise hits every scenario alike.
//
// The comparison point is xdp-filter from xdp-tools (Debian ships its BPF
// objects in libxdp1) in its all-features build with the default policy
// "allow" (xdpfilt_alw_all.o: map entries are dropped, the rest passes;
// xdpfilt_dny_*.o is the inverse, default deny), loaded here with
// plain libbpf and its maps filled with entries that do not match, so a
// passing frame pays every lookup xdp-filter has (MACs, IPs, ports).
//
// Usage: xdp_cost [--rounds N] [--repeat N] [--xdp-filter OBJ]   (needs root)

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
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

// Where Debian (libxdp1), Fedora and a source install put xdp-filter's objects.
const char* const kXdpFilterPaths[] = {
    "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_all.o",
    "/usr/lib/aarch64-linux-gnu/bpf/xdpfilt_alw_all.o",
    "/usr/lib/bpf/xdpfilt_alw_all.o",
    "/usr/lib64/bpf/xdpfilt_alw_all.o",
    "/usr/local/lib/bpf/xdpfilt_alw_all.o",
    "/usr/share/xdp-tools/xdpfilt_alw_all.o",
};

// Map value flags of xdp-filter (xdp-filter/common_kern_user.h): the entry
// applies to source and destination, TCP and UDP.
constexpr uint64_t kXdpFilterAllFlags = 0xf;

// Writes `flags` as the map's value on every CPU: xdp-filter's maps are
// per-CPU (the upper bits of each value count hits), whatever the width.
int putFlags(bpf_map* map, const void* key, uint64_t flags) {
  const size_t width = bpf_map__value_size(map);
  const size_t stride = (width + 7) / 8 * 8;
  const bool percpu = bpf_map__type(map) == BPF_MAP_TYPE_PERCPU_HASH ||
                      bpf_map__type(map) == BPF_MAP_TYPE_PERCPU_ARRAY;
  const size_t cpus = percpu ? static_cast<size_t>(libbpf_num_possible_cpus()) : 1;
  std::vector<uint8_t> value(stride * cpus, 0);
  for (size_t c = 0; c < cpus; ++c)
    std::memcpy(&value[c * stride], &flags, std::min(width, sizeof flags));
  return bpf_map__update_elem(map, key, bpf_map__key_size(map), value.data(),
                              percpu ? value.size() : width, BPF_ANY);
}

// Loads xdp-filter's all-features default-allow program (entries are dropped) and fills its maps: 200 IPv4
// hosts, 200 IPv6 hosts, 50 MACs, 20 ports, none matching the test frames
// (which pass) except 203.0.113.66 (the deny-hit scenario). nullptr (with
// the reason on stderr) if the object is missing or does not load.
bpf_object* loadXdpFilter(const std::string& path, int* prog_fd) {
  bpf_object* obj = bpf_object__open_file(path.c_str(), nullptr);
  if (!obj) {
    std::fprintf(stderr, "xdp_cost: cannot open %s: %s\n", path.c_str(), strerror(errno));
    return nullptr;
  }
  // xdp-filter's maps ask to be pinned by name under /sys/fs/bpf; a
  // benchmark must leave nothing behind, so keep them unpinned.
  bpf_map* map;
  bpf_object__for_each_map(map, obj) bpf_map__set_pin_path(map, nullptr);
  if (int err = bpf_object__load(obj)) {
    std::fprintf(stderr, "xdp_cost: cannot load %s: %s\n", path.c_str(), strerror(-err));
    bpf_object__close(obj);
    return nullptr;
  }
  bpf_program* prog = bpf_object__next_program(obj, nullptr);
  bpf_map* v4 = bpf_object__find_map_by_name(obj, "filter_ipv4");
  bpf_map* v6 = bpf_object__find_map_by_name(obj, "filter_ipv6");
  bpf_map* eth = bpf_object__find_map_by_name(obj, "filter_ethernet");
  bpf_map* ports = bpf_object__find_map_by_name(obj, "filter_ports");
  if (!prog || !v4 || !v6 || !eth || !ports) {
    std::fprintf(stderr, "xdp_cost: %s is not xdp-filter's all-features object\n", path.c_str());
    bpf_object__close(obj);
    return nullptr;
  }
  int err = 0;
  for (int i = 0; i < 200; ++i) {
    uint32_t a4 = htonl(0xcb007100u + static_cast<uint32_t>(i));  // 203.0.113.i
    err |= putFlags(v4, &a4, kXdpFilterAllFlags);
    uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, 0x0b, 0xad};
    a6[15] = static_cast<uint8_t>(i);
    err |= putFlags(v6, a6, kXdpFilterAllFlags);
  }
  for (int i = 0; i < 50; ++i) {
    uint8_t mac[6] = {0x0a, 0xbb, 0, 0, 0, static_cast<uint8_t>(i)};
    err |= putFlags(eth, mac, kXdpFilterAllFlags);
  }
  for (uint32_t port = 1000; port < 1020; ++port) {
    uint32_t key = port;  // the array is indexed by host-order port
    err |= putFlags(ports, &key, kXdpFilterAllFlags);
  }
  if (err) {
    std::fprintf(stderr, "xdp_cost: cannot fill xdp-filter's maps\n");
    bpf_object__close(obj);
    return nullptr;
  }
  *prog_fd = bpf_program__fd(prog);
  return obj;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7, repeat = 200000;
  std::string xdp_filter_path;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--xdp-filter") && i + 1 < argc) xdp_filter_path = argv[++i];
    else {
      std::fprintf(stderr, "usage: xdp_cost [--rounds N] [--repeat N] [--xdp-filter OBJ]\n");
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

  if (xdp_filter_path.empty()) {
    for (const char* p : kXdpFilterPaths) {
      if (access(p, R_OK) == 0) {
        xdp_filter_path = p;
        break;
      }
    }
  }
  int xdpfilt_fd = -1;
  bpf_object* xdpfilt = nullptr;
  if (xdp_filter_path.empty())
    std::fprintf(stderr, "xdp_cost: xdp-filter's xdpfilt_alw_all.o not found (package libxdp1); "
                         "its rows are skipped\n");
  else
    xdpfilt = loadXdpFilter(xdp_filter_path, &xdpfilt_fd);

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
  if (xdpfilt) {
    scenarios.push_back({"xdp-filter pass (IPv4 TCP)", xdpfilt_fd, ack("198.51.100.1", 80), XDP_PASS, {}});
    scenarios.push_back({"xdp-filter pass (IPv6 TCP)", xdpfilt_fd,
                         Packet().ipv6("2001:db8:1::1", "2001:db8::2").tcp(40000, 443, testing::kAck).payload(64).bytes(),
                         XDP_PASS, {}});
    scenarios.push_back({"xdp-filter drop: deny IPv4", xdpfilt_fd, ack("203.0.113.66", 80), XDP_DROP, {}});
  }

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
  if (xdpfilt) {
    auto find = [&](const char* name) {
      for (auto& sc : scenarios)
        if (sc.name == name) return median(sc.ns);
      return 0.0;
    };
    std::printf("mamori pass / xdp-filter pass: IPv4 %.2f, IPv6 %.2f "
                "(goal <= 1; differences under 20%% are noise)\n",
                find("mamori pass (IPv4 TCP)") / find("xdp-filter pass (IPv4 TCP)"),
                find("mamori pass (IPv6 TCP)") / find("xdp-filter pass (IPv6 TCP)"));
    std::printf("xdp-filter: %s\n", xdp_filter_path.c_str());
    bpf_object__close(xdpfilt);
  }
  baseline__destroy(base);
  loaded.value().reset();
  (void)shield::purgePins(pin_root);
  return ok ? 0 : 1;
}
