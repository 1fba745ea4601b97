// mamorid: the mamori daemon. Today it loads the XDP shield onto the
// interfaces it is given (by a config file or by --xdp-iface), reloads the
// config on SIGHUP and reports sampled drops; the reverse proxy engine joins
// it in userspace/net (issue #4).

#include <getopt.h>
#include <net/if.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/version.h"
#include "config/loader.h"
#include "daemon/shield_settings.h"
#include "shield/shield.h"

namespace {

using namespace mamori;

// Set by signal handlers, read by the main loop between ring-buffer polls
// (at most 200 ms later): nothing else is safe to do in a handler.
std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};
static_assert(std::atomic<bool>::is_always_lock_free);
constexpr auto kReportInterval = std::chrono::seconds(2);
constexpr auto kPollInterval = std::chrono::milliseconds(200);

void onStop(int) { g_stop = true; }
void onReload(int) { g_reload = true; }

constexpr const char* kUsage = R"(Usage: mamorid --config FILE [--pin-root DIR]
       mamorid --xdp-iface IFACE [--xdp-mode MODE] [--pin-root DIR]
       mamorid --check-config FILE
       mamorid --purge [--pin-root DIR]

mamori web application firewall daemon.

Options:
  -c, --config FILE     run from a config file (docs/config.md); today the
                        `shield:` section: interfaces, attach_mode, allow and
                        deny lists, rates, ports, scanner_syn, malformed,
                        ban_ipv6_prefix64, max_sources
  --check-config FILE   validate FILE, print "FILE: ok" or its errors
                        (FILE:LINE:COLUMN: ...), exit 0 or 2; starts nothing
  --xdp-iface IFACE     quick start without a file: attach the XDP shield to
                        IFACE with default limits (repeat for several
                        interfaces); not allowed with --config
  --xdp-mode MODE       quick start: auto (default: native, else generic),
                        native, generic
  --pin-root DIR        where the shield's maps are pinned (default /sys/fs/bpf/mamori)
  --purge               remove the pinned maps (bans, lists, counters) and exit
  -h, --help            show this help and exit
  -V, --version         show the version and exit

With --config, the file's allow and deny lists replace the pinned lists at
start and on every reload: entries added with `mamorictl lists` last until
then. The quick start leaves the pinned lists as they are.

Signals:
  SIGHUP           reload the config file; an invalid file is reported and
                   the running config stays. Settings and lists change in
                   place; interfaces are attached or detached to match.
  SIGINT, SIGTERM  detach the shield and exit; pinned maps stay, so bans
                   and counters survive a restart.

Exit status: 0 after a clean stop, 1 when the shield cannot be loaded or
attached, 2 for a usage or config error.
)";

int usageError(const std::string& message) {
  std::fprintf(stderr, "mamorid: %s\nTry 'mamorid --help'.\n", message.c_str());
  return 2;
}

// The loader's message is one "FILE:LINE:COLUMN: ..." line per problem.
void printConfigErrors(const common::Error& error) {
  std::fprintf(stderr, "%s\n", error.message.c_str());
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

// What the loader deliberately does not check (it has no side effects and
// may validate a file meant for another host): the interfaces exist here.
common::Status checkInterfacesExist(const std::vector<std::string>& names) {
  for (const auto& name : names)
    if (if_nametoindex(name.c_str()) == 0) return common::errnoError("interface " + name, errno);
  return {};
}

// The shield as this process runs it.
struct RunningShield {
  shield::Shield* shield = nullptr;
  std::vector<std::string> attached;  // interface names, in attach order
  bool manage_lists = false;          // --config: the file's lists are authoritative
};

// Makes the shield match `next`: settings first, then the allow and deny
// lists (when managed), then attaches interfaces not yet attached and
// detaches those no longer wanted. New interfaces come last so that they
// start with the new settings and lists. Stops at the first failure;
// `run.attached` stays true to what is attached.
common::Status applyShield(RunningShield& run, const config::ShieldConfig& next) {
  auto& sh = *run.shield;
  if (auto st = sh.applySettings(daemon::shieldSettings(next)); !st) return st;
  if (run.manage_lists) {
    // Allow first: a prefix moving from deny to allow is never dropped on the way.
    if (auto st = sh.replaceList(shield::ListKind::Allow, next.allow); !st) return st;
    if (auto st = sh.replaceList(shield::ListKind::Deny, next.deny); !st) return st;
  }
  const auto changes = daemon::interfaceChanges(run.attached, next.interfaces);
  for (const auto& iface : changes.attach) {
    auto mode = sh.attach(iface, daemon::shieldAttachMode(next.attach_mode));
    if (!mode) return mode.error();
    run.attached.push_back(iface);
    std::printf("mamorid: XDP shield attached to %s (%s mode), maps in %s\n", iface.c_str(),
                shield::attachModeName(mode.value()), sh.pinDir().c_str());
  }
  for (const auto& iface : changes.detach) {
    sh.detach(iface);
    run.attached.erase(std::find(run.attached.begin(), run.attached.end(), iface));
    std::printf("mamorid: XDP shield detached from %s\n", iface.c_str());
  }
  return {};
}

// SIGHUP: re-read `path`; apply it only if it is valid. Prints one line
// saying what happened (after the loader's error lines, if any).
void reload(RunningShield& run, const std::string& path, config::ShieldConfig& running) {
  auto loaded = config::loadConfigFile(path);
  if (!loaded) {
    printConfigErrors(loaded.error());
    std::fprintf(stderr, "mamorid: reload refused: %s is invalid; the running config stays\n",
                 path.c_str());
    return;
  }
  config::ShieldConfig next = loaded.value().shield;
  if (next.interfaces.empty()) {
    std::fprintf(stderr,
                 "mamorid: reload refused: %s lists no shield.interfaces; the running config "
                 "stays\n",
                 path.c_str());
    return;
  }
  const auto changes = daemon::interfaceChanges(run.attached, next.interfaces);
  if (auto st = checkInterfacesExist(changes.attach); !st) {
    std::fprintf(stderr, "mamorid: reload refused: %s; the running config stays\n",
                 st.error().message.c_str());
    return;
  }
  for (const auto& note : daemon::changesNeedingRestart(running, next))
    std::fprintf(stderr, "mamorid: reload: %s\n", note.c_str());
  next.max_sources = running.max_sources;  // sized at load; see changesNeedingRestart
  auto st = applyShield(run, next);
  next.interfaces = run.attached;
  running = next;
  if (!st) {
    std::fprintf(stderr,
                 "mamorid: reload failed part way: %s (settings and lists may be the new "
                 "ones; attached: %s)\n",
                 st.error().message.c_str(), joined(run.attached).c_str());
    return;
  }
  std::printf("mamorid: reloaded %s: %zu allow, %zu deny, attached: %s\n", path.c_str(),
              next.allow.size(), next.deny.size(), joined(run.attached).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> ifaces;
  config::AttachMode mode = config::AttachMode::Auto;
  bool mode_given = false;
  std::string pin_root = shield::kDefaultPinRoot;
  std::optional<std::string> config_path;
  std::optional<std::string> check_path;
  bool purge = false;

  enum { kXdpIface = 1000, kXdpMode, kPinRoot, kPurge, kCheckConfig };
  static const option kOptions[] = {{"config", required_argument, nullptr, 'c'},
                                    {"check-config", required_argument, nullptr, kCheckConfig},
                                    {"xdp-iface", required_argument, nullptr, kXdpIface},
                                    {"xdp-mode", required_argument, nullptr, kXdpMode},
                                    {"pin-root", required_argument, nullptr, kPinRoot},
                                    {"purge", no_argument, nullptr, kPurge},
                                    {"help", no_argument, nullptr, 'h'},
                                    {"version", no_argument, nullptr, 'V'},
                                    {nullptr, 0, nullptr, 0}};
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, "c:hV", kOptions, nullptr)) != -1) {
    switch (opt) {
      case 'c':
        config_path = optarg;
        break;
      case kCheckConfig:
        check_path = optarg;
        break;
      case kXdpIface: ifaces.emplace_back(optarg); break;
      case kXdpMode:
        mode_given = true;
        if (std::strcmp(optarg, "auto") == 0)
          mode = config::AttachMode::Auto;
        else if (std::strcmp(optarg, "native") == 0)
          mode = config::AttachMode::Native;
        else if (std::strcmp(optarg, "generic") == 0)
          mode = config::AttachMode::Generic;
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

  if (check_path) {
    auto loaded = config::loadConfigFile(*check_path);
    if (!loaded) {
      printConfigErrors(loaded.error());
      return 2;
    }
    std::printf("%s: ok\n", check_path->c_str());
    return 0;
  }
  if (purge) {
    if (auto st = shield::purgePins(pin_root); !st) {
      std::fprintf(stderr, "mamorid: %s\n", st.error().message.c_str());
      return 1;
    }
    std::printf("mamorid: removed pinned maps under %s\n", pin_root.c_str());
    return 0;
  }

  // One source of truth per run: merging flags into a file would leave a
  // reload unable to tell which interfaces the file no longer wants.
  if (config_path && (!ifaces.empty() || mode_given))
    return usageError(
        "--xdp-iface and --xdp-mode are the quick start; with --config, set "
        "shield.interfaces and shield.attach_mode in the file");
  config::ShieldConfig running;
  if (config_path) {
    auto loaded = config::loadConfigFile(*config_path);
    if (!loaded) {
      printConfigErrors(loaded.error());
      std::fprintf(stderr, "mamorid: %s refused; not started\n", config_path->c_str());
      return 2;
    }
    running = loaded.value().shield;
    if (running.interfaces.empty())
      return usageError("nothing to do: " + *config_path +
                        " lists no shield.interfaces (the proxy engine is not built yet)");
  } else {
    if (ifaces.empty()) return usageError("nothing to do: give --config FILE or --xdp-iface IFACE");
    running.interfaces = ifaces;  // every other field at its default = shield::defaultSettings()
    running.attach_mode = mode;
  }

  // Handlers go in before anything is attached: SIGHUP's default action
  // would kill the daemon with the shield still attached.
  struct sigaction sa {};
  sa.sa_handler = onStop;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sa.sa_handler = onReload;
  sigaction(SIGHUP, &sa, nullptr);

  auto loaded = shield::Shield::open(daemon::shieldOptions(running, pin_root));
  if (!loaded) {
    std::fprintf(stderr, "mamorid: %s\n", loaded.error().message.c_str());
    return 1;
  }
  RunningShield run;
  run.shield = loaded.value().get();
  run.manage_lists = config_path.has_value();
  if (auto st = checkInterfacesExist(running.interfaces); !st) {
    std::fprintf(stderr, "mamorid: %s\n", st.error().message.c_str());
    return 1;
  }
  if (auto st = applyShield(run, running); !st) {
    std::fprintf(stderr, "mamorid: %s\n", st.error().message.c_str());
    return 1;  // the Shield's destructor detaches what was attached
  }
  if (config_path)
    std::printf("mamorid: config %s applied: %zu allow, %zu deny\n", config_path->c_str(),
                running.allow.size(), running.deny.size());
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
    if (auto n = reader.value()->poll(kPollInterval); !n) {
      std::fprintf(stderr, "mamorid: %s\n", n.error().message.c_str());
      break;
    }
    if (g_reload.exchange(false)) {
      if (config_path) {
        reload(run, *config_path, running);
      } else {
        std::printf("mamorid: SIGHUP ignored: started without --config, nothing to reload\n");
      }
      std::fflush(stdout);
      std::fflush(stderr);
    }
    if (std::chrono::steady_clock::now() - last_report >= kReportInterval) {
      report();
      last_report = std::chrono::steady_clock::now();
    }
  }
  report();
  run.shield->detachAll();
  std::printf("mamorid: shield detached, pinned maps kept in %s\n", run.shield->pinDir().c_str());
  return 0;
}
