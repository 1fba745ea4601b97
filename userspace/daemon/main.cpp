// mamorid: the mamori daemon. Today it loads the XDP shield onto the
// interfaces it is given and reports its sampled drops; the reverse proxy
// engine joins it in userspace/net (issue #4).

#include <getopt.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <utility>
#include <string>
#include <vector>

#include "common/version.h"
#include "shield/shield.h"

namespace {

std::atomic<bool> g_stop{false};
constexpr auto kReportInterval = std::chrono::seconds(2);

void onSignal(int) { g_stop = true; }

constexpr const char* kUsage = R"(Usage: mamorid [options]

mamori web application firewall daemon.

Options:
  --xdp-iface IFACE     attach the XDP shield to IFACE with default limits
                        (repeat for several interfaces)
  --xdp-mode MODE       auto (default: native, else generic), native, generic
  --pin-root DIR        where the shield's maps are pinned (default /sys/fs/bpf/mamori)
  --purge               remove the pinned maps (bans, lists, counters) and exit
  -h, --help            show this help and exit
  -V, --version         show the version and exit

Signals: SIGINT/SIGTERM detach the shield and exit; pinned maps stay, so
bans and counters survive a restart.
)";

int usageError(const std::string& message) {
  std::fprintf(stderr, "mamorid: %s\nTry 'mamorid --help'.\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mamori;
  std::vector<std::string> ifaces;
  shield::AttachMode mode = shield::AttachMode::Auto;
  std::string pin_root = shield::kDefaultPinRoot;
  bool purge = false;

  enum { kXdpIface = 1000, kXdpMode, kPinRoot, kPurge };
  static const option kOptions[] = {
      {"xdp-iface", required_argument, nullptr, kXdpIface},
      {"xdp-mode", required_argument, nullptr, kXdpMode},
      {"pin-root", required_argument, nullptr, kPinRoot},
      {"purge", no_argument, nullptr, kPurge},
      {"help", no_argument, nullptr, 'h'},
      {"version", no_argument, nullptr, 'V'},
      {nullptr, 0, nullptr, 0}};
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, "hV", kOptions, nullptr)) != -1) {
    switch (opt) {
      case kXdpIface: ifaces.emplace_back(optarg); break;
      case kXdpMode:
        if (std::strcmp(optarg, "auto") == 0) mode = shield::AttachMode::Auto;
        else if (std::strcmp(optarg, "native") == 0) mode = shield::AttachMode::Native;
        else if (std::strcmp(optarg, "generic") == 0) mode = shield::AttachMode::Generic;
        else return usageError(std::string("unknown --xdp-mode '") + optarg + "'");
        break;
      case kPinRoot: pin_root = optarg; break;
      case kPurge: purge = true; break;
      case 'h': std::fputs(kUsage, stdout); return 0;
      case 'V': std::printf("mamorid %s\n", kVersion); return 0;
      default:
        return usageError(std::string("unknown or incomplete option '") + argv[optind - 1] + "'");
    }
  }
  if (optind < argc) return usageError(std::string("unexpected argument '") + argv[optind] + "'");

  if (purge) {
    if (auto st = shield::purgePins(pin_root); !st) {
      std::fprintf(stderr, "mamorid: %s\n", st.error().message.c_str());
      return 1;
    }
    std::printf("mamorid: removed pinned maps under %s\n", pin_root.c_str());
    return 0;
  }
  if (ifaces.empty())
    return usageError("nothing to do: give --xdp-iface IFACE (the proxy engine is not built yet)");

  shield::Options options;
  options.pin_root = pin_root;
  auto loaded = shield::Shield::open(options);
  if (!loaded) {
    std::fprintf(stderr, "mamorid: %s\n", loaded.error().message.c_str());
    return 1;
  }
  auto& shield = *loaded.value();
  if (auto st = shield.applySettings(shield::defaultSettings()); !st) {
    std::fprintf(stderr, "mamorid: %s\n", st.error().message.c_str());
    return 1;
  }

  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  for (const auto& iface : ifaces) {
    auto attached = shield.attach(iface, mode);
    if (!attached) {
      std::fprintf(stderr, "mamorid: %s\n", attached.error().message.c_str());
      return 1;  // the destructor detaches what was attached
    }
    std::printf("mamorid: XDP shield attached to %s (%s mode), maps in %s\n", iface.c_str(),
                shield::attachModeName(attached.value()), shield.pinDir().c_str());
  }
  std::fflush(stdout);

  // Sampled drops, counted per (source, reason) and reported every few
  // seconds: one line per attacker rather than one per packet. Drops that
  // the in-kernel sampler skipped are reported as one total, since they
  // belong to no known source. The DoS log (issue #6) takes this over.
  std::map<std::pair<std::string, int>, uint64_t> sampled;
  uint64_t not_sampled = 0;
  auto reader = shield::DropEventReader::open(pin_root, [&](const shield::DropEvent& ev) {
    ++sampled[{ev.source.toString(), ev.reason}];
    not_sampled += ev.suppressed;
  });
  if (!reader) {
    std::fprintf(stderr, "mamorid: %s\n", reader.error().message.c_str());
    return 1;
  }
  auto report = [&] {
    for (const auto& [key, count] : sampled)
      std::printf("mamorid: %llu sampled drops from %s (%s)\n",
                  static_cast<unsigned long long>(count), key.first.c_str(),
                  shield::reasonName(key.second));
    if (not_sampled)
      std::printf("mamorid: %llu more drops not sampled (event cap)\n",
                  static_cast<unsigned long long>(not_sampled));
    std::fflush(stdout);
    sampled.clear();
    not_sampled = 0;
  };
  auto last_report = std::chrono::steady_clock::now();
  while (!g_stop) {
    if (auto n = reader.value()->poll(std::chrono::milliseconds(200)); !n) {
      std::fprintf(stderr, "mamorid: %s\n", n.error().message.c_str());
      break;
    }
    if (std::chrono::steady_clock::now() - last_report >= kReportInterval) {
      report();
      last_report = std::chrono::steady_clock::now();
    }
  }
  report();
  shield.detachAll();
  std::printf("mamorid: shield detached, pinned maps kept in %s\n", shield.pinDir().c_str());
  return 0;
}
