// The veth flood benchmark's binary; bench/flood/run.sh builds the lab and
// calls it on both sides.
//
//   flood send --ifname DEV --src-mac M --dst-mac M --src IP --dst IP
//              [--dport P] [--count N] [--max-seconds S]
//       Puts `count` copies of one UDP frame on DEV with BPF_PROG_TEST_RUN and
//       BPF_F_TEST_XDP_LIVE_FRAMES (a program that returns XDP_TX), in chunks,
//       stopping early after `max-seconds`. Prints one line of key=value:
//       frames sent, wall ns, this thread's CPU ns (the send and the softirqs
//       run inline on return: the receiver's NAPI poll), the ksoftirqd
//       threads' CPU ns, and the /proc/stat deltas (USER_HZ ticks, all CPUs)
//       of softirq and system time, for reference only: they are
//       tick-sampled. Run it in the sender's network namespace: the ifindex
//       is resolved there.
//   flood hold --ifname DEV --program shield|drop [--pin-root DIR]
//       Attaches mamori's shield (a UDP limit of 100/s per source and lists
//       filled as in xdp_cost) or a bare XDP_DROP program to DEV in native
//       mode, prints "ready", and detaches on SIGTERM or SIGINT.
//       The shield prints its drop counter on exit.
//   flood gro --ifname DEV on|off
//       Turns GRO on or off (ETHTOOL_SGRO). A veth only runs NAPI, and so
//       only accepts XDP_TX/redirected frames from its peer, while it has an
//       XDP program or GRO; the no-XDP variants need GRO on.
//
// Needs root. Exit status 0 on success, 1 on failure, 2 on bad usage.

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "baseline.skel.h"
#include "flood_gen.skel.h"
#include "shield/shield.h"

using namespace mamori;

namespace {

using Args = std::map<std::string, std::string>;

// Parses "--key value" pairs after the subcommand; bare words go to `rest`.
bool parseArgs(int argc, char** argv, Args* args, std::vector<std::string>* rest) {
  for (int i = 2; i < argc; ++i) {
    if (!std::strncmp(argv[i], "--", 2)) {
      if (i + 1 >= argc) return false;
      (*args)[argv[i] + 2] = argv[i + 1];
      ++i;
    } else {
      rest->push_back(argv[i]);
    }
  }
  return true;
}

bool parseMac(const std::string& text, uint8_t out[6]) {
  unsigned b[6];
  if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
    return false;
  for (int i = 0; i < 6; ++i) out[i] = static_cast<uint8_t>(b[i]);
  return true;
}

uint16_t ipChecksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// An Ethernet + IPv4 + UDP frame with 18 bytes of payload (64 bytes on the
// wire with FCS). The IP checksum is right, or the no-filter variant would
// drop it in ip_rcv instead of reaching UDP; UDP checksum 0 means none.
std::vector<uint8_t> udpFrame(const uint8_t src_mac[6], const uint8_t dst_mac[6], in_addr src,
                              in_addr dst, uint16_t dport) {
  std::vector<uint8_t> f(14 + 20 + 8 + 18, 0);
  std::memcpy(&f[0], dst_mac, 6);
  std::memcpy(&f[6], src_mac, 6);
  f[12] = 0x08;
  uint8_t* ip = &f[14];
  ip[0] = 0x45;
  const uint16_t ip_len = static_cast<uint16_t>(f.size() - 14);
  ip[2] = static_cast<uint8_t>(ip_len >> 8);
  ip[3] = static_cast<uint8_t>(ip_len);
  ip[6] = 0x40;  // DF
  ip[8] = 64;
  ip[9] = IPPROTO_UDP;
  std::memcpy(&ip[12], &src, 4);
  std::memcpy(&ip[16], &dst, 4);
  const uint16_t csum = ipChecksum(ip, 20);
  ip[10] = static_cast<uint8_t>(csum >> 8);
  ip[11] = static_cast<uint8_t>(csum);
  uint8_t* udp = ip + 20;
  udp[0] = 0x9c;  // source port 40000
  udp[1] = 0x40;
  udp[2] = static_cast<uint8_t>(dport >> 8);
  udp[3] = static_cast<uint8_t>(dport);
  const uint16_t udp_len = static_cast<uint16_t>(ip_len - 20);
  udp[4] = static_cast<uint8_t>(udp_len >> 8);
  udp[5] = static_cast<uint8_t>(udp_len);
  return f;
}

struct CpuTicks {
  unsigned long long softirq = 0, system = 0;
};

// The aggregate "cpu" line of /proc/stat: user nice system idle iowait irq
// softirq ..., in USER_HZ ticks.
CpuTicks readCpuTicks() {
  std::ifstream in("/proc/stat");
  std::string line;
  std::getline(in, line);
  std::istringstream s(line);
  std::string cpu;
  unsigned long long v[7] = {};
  s >> cpu;
  for (auto& x : v) s >> x;
  return {v[6], v[2]};
}

// Nanoseconds of CPU this thread has run (sum_exec_runtime: scheduler
// accounting, exact, unlike the tick-sampled /proc/stat). Softirqs that run
// when this thread re-enables bottom halves are charged to it too.
unsigned long long threadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<unsigned long long>(ts.tv_sec) * 1'000'000'000ull + static_cast<unsigned long long>(ts.tv_nsec);
}

// The ksoftirqd threads' /proc/PID/schedstat paths: softirq work the kernel
// defers there (after ~2 ms or 10 rounds inline) is part of the receive cost.
std::vector<std::string> ksoftirqdStats() {
  std::vector<std::string> out;
  for (int pid = 1; pid < 4096; ++pid) {
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    if (comm && std::getline(comm, name) && name.rfind("ksoftirqd/", 0) == 0)
      out.push_back("/proc/" + std::to_string(pid) + "/schedstat");
  }
  return out;
}

unsigned long long sumSchedNs(const std::vector<std::string>& paths) {
  unsigned long long sum = 0;
  for (const auto& p : paths) {
    std::ifstream in(p);
    unsigned long long ns = 0;
    if (in >> ns) sum += ns;
  }
  return sum;
}

double nowSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

int cmdSend(const Args& a) {
  for (const char* k : {"ifname", "src-mac", "dst-mac", "src", "dst"})
    if (!a.count(k)) {
      std::fprintf(stderr, "flood send: --%s is required\n", k);
      return 2;
    }
  uint8_t smac[6], dmac[6];
  in_addr src{}, dst{};
  if (!parseMac(a.at("src-mac"), smac) || !parseMac(a.at("dst-mac"), dmac) ||
      inet_pton(AF_INET, a.at("src").c_str(), &src) != 1 ||
      inet_pton(AF_INET, a.at("dst").c_str(), &dst) != 1) {
    std::fprintf(stderr, "flood send: bad MAC or IPv4 address\n");
    return 2;
  }
  const unsigned ifindex = if_nametoindex(a.at("ifname").c_str());
  if (!ifindex) {
    std::fprintf(stderr, "flood send: no interface %s: %s\n", a.at("ifname").c_str(), strerror(errno));
    return 1;
  }
  const unsigned long long count = a.count("count") ? std::stoull(a.at("count")) : 3'000'000;
  const double max_seconds = a.count("max-seconds") ? std::stod(a.at("max-seconds")) : 10.0;
  const uint16_t dport = static_cast<uint16_t>(a.count("dport") ? std::stoi(a.at("dport")) : 9);

  flood_gen* gen = flood_gen__open_and_load();
  if (!gen) {
    std::fprintf(stderr, "flood send: cannot load the generator: %s\n", strerror(errno));
    return 1;
  }
  std::vector<uint8_t> frame = udpFrame(smac, dmac, src, dst, dport);
  xdp_md ctx{};
  ctx.data_end = static_cast<__u32>(frame.size());
  ctx.ingress_ifindex = ifindex;
  const int fd = bpf_program__fd(gen->progs.flood_tx);

  // Chunks keep the run bounded in time: one test run cannot be stopped
  // from here once started, 256K frames take well under a second.
  constexpr unsigned long long kChunk = 1ull << 18;
  unsigned long long sent = 0;
  int rc = 0;
  const std::vector<std::string> ksoftirqd = ksoftirqdStats();
  const CpuTicks before = readCpuTicks();
  const unsigned long long ks0 = sumSchedNs(ksoftirqd), th0 = threadCpuNs();
  const double t0 = nowSeconds();
  while (sent < count && nowSeconds() - t0 < max_seconds) {
    const unsigned long long n = std::min(kChunk, count - sent);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
                .data_size_in = static_cast<__u32>(frame.size()), .ctx_in = &ctx,
                .ctx_size_in = sizeof ctx, .repeat = static_cast<int>(n),
                .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 64);
    if (int err = bpf_prog_test_run_opts(fd, &opts)) {
      std::fprintf(stderr, "flood send: live-frames test run failed: %s\n", strerror(-err));
      rc = 1;
      break;
    }
    sent += n;
  }
  const double wall = nowSeconds() - t0;
  const unsigned long long th1 = threadCpuNs(), ks1 = sumSchedNs(ksoftirqd);
  const CpuTicks after = readCpuTicks();
  std::printf("frames=%llu wall_ns=%.0f thread_ns=%llu ksoftirqd_ns=%llu softirq_ticks=%llu "
              "system_ticks=%llu hz=%ld\n",
              sent, wall * 1e9, th1 - th0, ks1 - ks0, after.softirq - before.softirq,
              after.system - before.system, sysconf(_SC_CLK_TCK));
  flood_gen__destroy(gen);
  return rc;
}

volatile sig_atomic_t g_stop = 0;
void onSignal(int) { g_stop = 1; }

// Waits for SIGTERM or SIGINT. (Not EOF on stdin: a background job of a
// script has /dev/null there.)
void waitForStop() {
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  while (!g_stop) poll(nullptr, 0, 100);
}

int cmdHold(const Args& a) {
  if (!a.count("ifname") || !a.count("program")) {
    std::fprintf(stderr, "flood hold: --ifname and --program are required\n");
    return 2;
  }
  const std::string ifname = a.at("ifname");
  if (a.at("program") == "drop") {
    const int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    baseline* base = baseline__open_and_load();
    if (!ifindex || !base) {
      std::fprintf(stderr, "flood hold: no %s or cannot load XDP_DROP: %s\n", ifname.c_str(), strerror(errno));
      return 1;
    }
    if (int err = bpf_xdp_attach(ifindex, bpf_program__fd(base->progs.drop_all), XDP_FLAGS_DRV_MODE, nullptr)) {
      std::fprintf(stderr, "flood hold: native attach to %s failed: %s\n", ifname.c_str(), strerror(-err));
      baseline__destroy(base);
      return 1;
    }
    std::printf("ready\n");
    std::fflush(stdout);
    waitForStop();
    bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, nullptr);
    baseline__destroy(base);
    return 0;
  }
  if (a.at("program") != "shield") {
    std::fprintf(stderr, "flood hold: --program is shield or drop\n");
    return 2;
  }
  shield::Options options;
  options.pin_root = a.count("pin-root") ? a.at("pin-root") : "/sys/fs/bpf/mamori-flood-" + std::to_string(getpid());
  auto loaded = shield::Shield::open(options);
  if (!loaded) {
    std::fprintf(stderr, "flood hold: %s\n", loaded.error().message.c_str());
    return 1;
  }
  auto& sh = *loaded.value();
  auto maps = shield::PinnedMaps::open(options.pin_root);
  if (!maps) {
    std::fprintf(stderr, "flood hold: %s\n", maps.error().message.c_str());
    return 1;
  }
  // Defaults (docs/shield.md), with UDP limited to 100/s per source so a
  // one-source flood is dropped by the UDP bucket, and lists and bans of the
  // same size as in xdp_cost so the drop path pays their lookups.
  shield::Settings s = shield::defaultSettings();
  s.udp = {100, 100};
  s.scanner_syn = true;
  int failed = 0;
  if (auto st = sh.applySettings(s); !st) ++failed;
  for (int i = 0; i < 200; ++i) {
    std::string allow = "100." + std::to_string(64 + i % 64) + "." + std::to_string(i) + ".0/24";
    std::string deny = "172." + std::to_string(16 + i % 16) + "." + std::to_string(i) + ".0/24";
    std::string ban = "192.0.2." + std::to_string(i);
    if (!maps->addToList(shield::ListKind::Allow, *common::parseIpPrefix(allow))) ++failed;
    if (!maps->addToList(shield::ListKind::Deny, *common::parseIpPrefix(deny))) ++failed;
    if (!maps->addBan(*common::parseIpPrefix(ban), std::chrono::hours(1), shield::BanReason::Manual)) ++failed;
  }
  if (failed) {
    std::fprintf(stderr, "flood hold: %d shield settings or map updates failed\n", failed);
    (void)shield::purgePins(options.pin_root);
    return 1;
  }
  auto mode = sh.attach(ifname, shield::AttachMode::Native);
  if (!mode) {
    std::fprintf(stderr, "flood hold: %s\n", mode.error().message.c_str());
    (void)shield::purgePins(options.pin_root);
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  waitForStop();
  if (auto c = maps->counters())
    std::printf("shield dropped=%llu passed=%llu\n",
                static_cast<unsigned long long>(c->totalDropped().packets),
                static_cast<unsigned long long>(c->totalPassed().packets));
  sh.detachAll();
  loaded.value().reset();
  (void)shield::purgePins(options.pin_root);
  return 0;
}

int cmdGro(const Args& a, const std::vector<std::string>& rest) {
  if (!a.count("ifname") || rest.size() != 1 || (rest[0] != "on" && rest[0] != "off")) {
    std::fprintf(stderr, "usage: flood gro --ifname DEV on|off\n");
    return 2;
  }
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ethtool_value value{};
  value.cmd = ETHTOOL_SGRO;
  value.data = rest[0] == "on";
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", a.at("ifname").c_str());
  ifr.ifr_data = reinterpret_cast<char*>(&value);
  int rc = sock < 0 ? -1 : ioctl(sock, SIOCETHTOOL, &ifr);
  if (rc != 0) std::fprintf(stderr, "flood gro: %s: %s\n", a.at("ifname").c_str(), strerror(errno));
  if (sock >= 0) close(sock);
  return rc == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  std::vector<std::string> rest;
  if (argc < 2 || !parseArgs(argc, argv, &args, &rest)) {
    std::fprintf(stderr, "usage: flood send|hold|gro ... (see the header of bench/flood/flood.cpp)\n");
    return 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "flood: needs root\n");
    return 77;
  }
  const std::string cmd = argv[1];
  if (cmd == "send") return cmdSend(args);
  if (cmd == "hold") return cmdHold(args);
  if (cmd == "gro") return cmdGro(args, rest);
  std::fprintf(stderr, "flood: unknown command %s\n", cmd.c_str());
  return 2;
}
