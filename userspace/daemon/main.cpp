// mamorid: the mamori daemon. It loads the XDP shield onto the interfaces it
// is given (by a config file or by --xdp-iface), reloads the shield config on
// SIGHUP and reports sampled drops, and runs the reverse-proxy engine
// (userspace/net) for the listeners (plain HTTP or TLS) of the configured
// sites or of the --listen/--upstream [--tls-cert/--tls-key] quick start, on
// worker threads of its own.

#include <getopt.h>
#include <net/if.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "admin/commands.h"
#include "admin/control_server.h"
#include "common/version.h"
#include "config/loader.h"
#include "daemon/bot_protection.h"
#include "daemon/challenge_protection.h"
#include "daemon/control_services.h"
#include "daemon/daemon_logs.h"
#include "daemon/flood_protection.h"
#include "daemon/inspection.h"
#include "daemon/login_protection.h"
#include "daemon/metrics_sources.h"
#include "daemon/shield_settings.h"
#include "daemon/verdict_chain.h"
#include "logs/time_zone.h"
#include "metrics/metrics_server.h"
#include "metrics/system_collectors.h"
#include "net/engine.h"
#include "net/tls.h"
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
       mamorid --listen ADDR --upstream ADDR [--tls-cert FILE --tls-key FILE]
               [--workers N] [--xdp-iface IFACE ...]
       mamorid --xdp-iface IFACE [--xdp-mode MODE] [--pin-root DIR]
       mamorid --check-config FILE
       mamorid --purge [--pin-root DIR]

mamori web application firewall daemon.

Options:
  -c, --config FILE     run from a config file (docs/config.md): its sites
                        (proxy, TLS, inspection, login protection), logs,
                        metrics, control socket and `shield:` section
  --listen ADDR         quick start: proxy HTTP accepted on ADDR (ip:port)
                        to --upstream; not allowed with --config
  --upstream ADDR       quick start: the protected application (host:port)
  --tls-cert FILE       quick start: the --listen listener speaks TLS (1.2 and
  --tls-key FILE        1.3) with this PEM certificate chain and PEM key
                        (unencrypted); both or neither
  --workers N           engine worker threads (default: config `workers`,
                        0 = one per online core)
  --check-config FILE   validate FILE, print "FILE: ok" or its errors
                        (FILE:LINE:COLUMN: ..., then certificate and key
                        problems naming the site and file), exit 0 or 2;
                        loads certificates, starts nothing
  --xdp-iface IFACE     quick start without a file: attach the XDP shield to
                        IFACE with default limits (repeat for several
                        interfaces); not allowed with --config
  --xdp-mode MODE       quick start: auto (default: native, else generic),
                        native, generic
  --pin-root DIR        where the shield's maps are pinned (default /sys/fs/bpf/mamori)
  --control-socket PATH where mamorictl reaches this daemon (default: config
                        `control.socket`, /run/mamori/control.sock)
  --log-dir DIR         where the event, DoS, BOT and audit logs go (default:
                        config `logs.dir`, /var/log/mamori)
  --rules DIR           signature rules to load (default: config `rules.dir`,
                        else the rule set shipped with mamori)
  --metrics ADDR        serve Prometheus metrics on http://ADDR/metrics (ip:port;
                        default: config `metrics.listen`, 127.0.0.1:9464);
                        `--metrics off` serves none (docs/metrics.md)
  --purge               remove the pinned maps (bans, lists, counters), also those
                        of older map ABIs, and exit
  -h, --help            show this help and exit
  -V, --version         show the version and exit

With --config, the file's allow and deny lists replace the pinned lists at
start and on every reload: entries added with `mamorictl lists` last until
then. The quick start leaves the pinned lists as they are.

Signals:
  SIGHUP           reload the config file and the rules (as `mamorictl
                   config reload`); an invalid file or rule is reported and
                   the running config stays. Sites (hosts, upstreams,
                   limits, certificates) apply to new connections, open
                   ones finish on the old config; listener addresses need a
                   restart. Shield settings and lists change in place;
                   interfaces are attached or detached to match.
  SIGINT, SIGTERM  stop accepting, let requests in flight finish (up to
                   10 s), detach the shield and exit 0; pinned maps stay, so
                   bans and counters survive a restart.

Exit status: 0 after a clean stop, 1 when the shield cannot be loaded or
attached or a listener or the control socket cannot be bound, 2 for a
usage, config or rule error.
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
  std::map<std::string, std::string> modes;  // interface -> "native" / "generic"
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
    run.modes[iface] = shield::attachModeName(mode.value());
    std::printf("mamorid: XDP shield attached to %s (%s mode), maps in %s\n", iface.c_str(),
                shield::attachModeName(mode.value()), sh.pinDir().c_str());
  }
  for (const auto& iface : changes.detach) {
    sh.detach(iface);
    run.attached.erase(std::find(run.attached.begin(), run.attached.end(), iface));
    run.modes.erase(iface);
    std::printf("mamorid: XDP shield detached from %s\n", iface.c_str());
  }
  return {};
}

// What control commands show of the shield as it runs now.
admin::ShieldInfo shieldInfo(const RunningShield& run) {
  admin::ShieldInfo info;
  if (!run.shield) return info;
  info.loaded = true;
  info.pin_dir = run.shield->pinDir();
  for (const auto& iface : run.attached) {
    auto it = run.modes.find(iface);
    info.interfaces.push_back(iface + " (" + (it == run.modes.end() ? "?" : it->second) + ")");
  }
  return info;
}

// Reload, shield part: apply the `shield:` section of the re-read, valid
// config `loaded` (from `path`). Returns what changed, or why nothing did.
common::Result<std::string> reloadShield(RunningShield& run, const std::string& path,
                                         const config::Config& loaded,
                                         config::ShieldConfig& running) {
  config::ShieldConfig next = loaded.shield;
  if (next.interfaces.empty())
    return common::Error{EINVAL, "reload refused: " + path +
                                     " lists no shield.interfaces; the running config stays"};
  const auto changes = daemon::interfaceChanges(run.attached, next.interfaces);
  if (auto st = checkInterfacesExist(changes.attach); !st)
    return common::Error{st.error().code, "reload refused: " + st.error().message +
                                              "; the running config stays"};
  std::string notes;
  for (const auto& note : daemon::changesNeedingRestart(running, next))
    notes += "reload: " + note + "\n";
  next.max_sources = running.max_sources;  // sized at load; see changesNeedingRestart
  auto st = applyShield(run, next);
  next.interfaces = run.attached;
  running = next;
  if (!st)
    return common::Error{st.error().code,
                         notes + "reload failed part way: " + st.error().message +
                             " (settings and lists may be the new ones; attached: " +
                             joined(run.attached) + ")"};
  return notes + "reloaded " + path + ": " + std::to_string(next.allow.size()) + " allow, " +
         std::to_string(next.deny.size()) + " deny, attached: " + joined(run.attached);
}

// Prints an audit line per control call to stdout (the journal), beside
// the audit log record DaemonLogs writes: an operator tailing the journal
// sees admin actions too.
void auditToStdout(const admin::Caller& caller, const std::vector<std::string>& args, int code,
                   const std::string& before, const std::string& after) {
  std::string command;
  for (const auto& a : args) command += (command.empty() ? "" : " ") + a;
  std::printf("mamorid: audit: uid=%u pid=%d command=\"%s\" exit=%d%s%s\n", caller.uid,
              caller.pid, command.c_str(), code, before.empty() ? "" : (" before=\"" + before + "\"").c_str(),
              after.empty() ? "" : (" after=\"" + after + "\"").c_str());
  std::fflush(stdout);
}

// getopt ids of --metrics, --log-dir and --rules, kept apart from main's option enum.
constexpr int kMetricsOption = 2000;
constexpr int kLogDirOption = 2001;
constexpr int kRulesOption = 2002;

// Serves /metrics on `listen` with the engine's and the shield's counters
// and the process and host families. Fail-open: mamorid without metrics
// still protects, so a bind failure is a warning and null is returned (the
// metrics server is an observer, not part of the request path).
std::unique_ptr<metrics::MetricsServer> startMetrics(const std::string& listen,
                                                     const net::Engine* engine, bool with_shield,
                                                     const std::string& pin_root,
                                                     const std::string& log_dir,
                                                     const daemon::Inspection* inspection,
                                                     const daemon::DaemonLogs* logs,
                                                     const daemon::ShieldBanSink* bans,
                                                     const daemon::BotProtection* bots,
                                                     const daemon::ChallengeProtection* challenge,
                                                     const daemon::FloodProtection* flood) {
  auto registry = std::make_shared<metrics::Registry>();
  auto check = [](common::Status st) {
    if (!st) std::fprintf(stderr, "mamorid: metrics: %s\n", st.error().message.c_str());
  };
  // Engine::stats() sums the workers' counters; callable from any thread.
  // Engine::stats() sums the workers' counters; inspection and logs keep
  // atomics. All callable from the scrape thread.
  auto engine_snapshot = [engine, inspection, logs, bans,
                          bots, challenge, flood]() -> common::Result<metrics::EngineSnapshot> {
    const net::EngineStats stats = engine->stats();
    metrics::EngineSnapshot snap = daemon::engineSnapshot(stats);
    snap.tls_handshakes = stats.tls_handshakes;
    snap.tls_failures = std::vector<metrics::NamedCount>{{"handshake", stats.tls_handshake_failures}};
    if (inspection) {
      const daemon::InspectionMetrics m = inspection->metrics();
      std::vector<metrics::NamedCount> categories, rules;
      for (const auto& [name, count] : m.by_category) categories.push_back({name, count});
      for (const auto& [name, count] : m.by_rule) rules.push_back({name, count});
      snap.detections_by_category = std::move(categories);
      snap.detections_by_rule = std::move(rules);
      metrics::HistogramValue h;
      for (const auto& [bound, cumulative] : m.duration_buckets)
        if (std::isfinite(bound)) h.buckets.push_back({bound, cumulative});  // +Inf: the renderer's
      h.count = m.duration_count;
      h.sum = m.duration_sum_seconds;
      snap.inspection_duration_seconds = std::move(h);
    }
    if (bans) {
      // Bans the login guard, the bot detector and the flood limits wrote
      // to the shield, and those they could not (no shield loaded): the
      // source then stays blocked at the site only.
      snap.bans_issued = std::vector<metrics::NamedCount>{
          {"login", bans->written(guard::BanReason::LoginAbuse)},
          {"login_unenforced", bans->unenforced(guard::BanReason::LoginAbuse)},
          {"bot", bans->written(guard::BanReason::Bot)},
          {"bot_unenforced", bans->unenforced(guard::BanReason::Bot)},
          {"flood", bans->written(guard::BanReason::Flood)},
          {"flood_unenforced", bans->unenforced(guard::BanReason::Flood)}};
    }
    // Bot verdicts of the sites with a bots section (atomics; zeros for
    // each class's configured action so the panel has a line).
    if (bots && bots->active()) snap.bot_verdicts = bots->verdictCounts();
    if (challenge) {
      // The browser challenge's outcomes (docs/challenge.md).
      const daemon::ChallengeStats c = challenge->stats();
      snap.challenge_outcomes = std::vector<metrics::NamedCount>{
#define MAMORI_CHALLENGE_OUTCOME(name) {#name, c.name},
          MAMORI_CHALLENGE_COUNTERS(MAMORI_CHALLENGE_OUTCOME)
#undef MAMORI_CHALLENGE_OUTCOME
      };
    }
    if (flood) {
      // mamori_guard_flood_verdicts_total{action}: the L7 flood limits'
      // refusals and bans, and the connection floods and slow clients cut.
      const daemon::FloodStats f = flood->stats();
      snap.l7_flood_verdicts = std::vector<metrics::NamedCount>{
          {"too_many_requests", f.too_many_requests},
          {"ban", f.ban},
          {"detect_only", f.detect_only},
          {"conn_over_source_cap", f.conn_over_source_cap},
          {"slowloris_cut", f.slowloris_cut},
          {"slow_post_cut", f.slow_post_cut}};
    }
    if (logs) {
      const logs::LogCountersSnapshot c = logs->counters();
      snap.log_queue_depth = c.queue_depth;
      snap.log_lines_dropped = std::vector<metrics::NamedCount>{
          {"all", c.dropped_queue_full + c.dropped_io_error + c.dropped_invalid}};
    }
    return snap;
  };
  // Opened per scrape: the pins may be replaced (mamorid --purge, bpffs remount).
  auto xdp_snapshot = [pin_root]() -> common::Result<metrics::XdpSnapshot> {
    auto maps = shield::PinnedMaps::open(pin_root);
    if (!maps) return maps.error();
    auto counters = maps->counters();
    if (!counters) return counters.error();
    auto bans = maps->listBans();
    if (!bans) return bans.error();
    return daemon::xdpSnapshot(counters.value(), bans.value());
  };
  if (engine) check(registry->add("engine", metrics::engineCollector(engine_snapshot)));
  if (with_shield) check(registry->add("xdp", metrics::xdpCollector(xdp_snapshot)));
  metrics::SystemSources sources;
  sources.log_dir = log_dir;
  check(registry->add("process", metrics::processCollector(sources)));
  check(registry->add("host", metrics::hostCollector(sources)));
  auto server = metrics::MetricsServer::start(listen, registry);
  if (!server) {
    std::fprintf(stderr, "mamorid: %s; running without /metrics\n", server.error().message.c_str());
    return nullptr;
  }
  std::printf("mamorid: metrics on http://%s:%u/metrics\n",
              listen.substr(0, listen.rfind(':')).c_str(), unsigned{server.value()->port()});
  return std::move(server.value());
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
  std::optional<std::string> listen_addr;
  std::optional<std::string> upstream_addr;
  std::optional<uint32_t> workers;
  std::optional<std::string> control_socket;
  std::optional<std::string> tls_cert;
  std::optional<std::string> tls_key;
  std::optional<std::string> metrics_flag;
  std::optional<std::string> log_dir;
  std::optional<std::string> rules_flag;

  enum {
    kXdpIface = 1000,
    kXdpMode,
    kPinRoot,
    kPurge,
    kCheckConfig,
    kListen,
    kUpstream,
    kWorkers,
    kTlsCert,
    kTlsKey,
    kControlSocket
  };
  static const option kOptions[] = {{"config", required_argument, nullptr, 'c'},
                                    {"check-config", required_argument, nullptr, kCheckConfig},
                                    {"xdp-iface", required_argument, nullptr, kXdpIface},
                                    {"xdp-mode", required_argument, nullptr, kXdpMode},
                                    {"pin-root", required_argument, nullptr, kPinRoot},
                                    {"purge", no_argument, nullptr, kPurge},
                                    {"listen", required_argument, nullptr, kListen},
                                    {"upstream", required_argument, nullptr, kUpstream},
                                    {"workers", required_argument, nullptr, kWorkers},
                                    {"control-socket", required_argument, nullptr, kControlSocket},
                                    {"tls-cert", required_argument, nullptr, kTlsCert},
                                    {"tls-key", required_argument, nullptr, kTlsKey},
                                    {"metrics", required_argument, nullptr, kMetricsOption},
                                    {"log-dir", required_argument, nullptr, kLogDirOption},
                                    {"rules", required_argument, nullptr, kRulesOption},
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
      case kListen: listen_addr = optarg; break;
      case kUpstream: upstream_addr = optarg; break;
      case kControlSocket: control_socket = optarg; break;
      case kTlsCert: tls_cert = optarg; break;
      case kTlsKey: tls_key = optarg; break;
      case kMetricsOption: metrics_flag = optarg; break;
      case kLogDirOption: log_dir = optarg; break;
      case kRulesOption: rules_flag = optarg; break;
      case kWorkers: {
        char* end = nullptr;
        errno = 0;
        unsigned long n = std::strtoul(optarg, &end, 10);
        if (errno != 0 || end == optarg || *end != '\0' || n > 1024)
          return usageError(std::string("invalid --workers '") + optarg + "' (0..1024)");
        workers = static_cast<uint32_t>(n);
        break;
      }
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
    // The zone is the logs module's to read (config cannot depend on it).
    if (auto zone = logs::TimeZone::load(loaded.value().logs.timezone); !zone) {
      std::fprintf(stderr, "%s: logs.timezone: %s\n", check_path->c_str(),
                   zone.error().message.c_str());
      return 2;
    }
    // The loader checked the files are readable; whether they are a usable
    // certificate and matching key takes OpenSSL, which lives in net.
    if (auto st = net::checkTlsCertificates(loaded.value()); !st) {
      std::fprintf(stderr, "%s: %s\n", check_path->c_str(),
                   st.error().message.c_str());
      return 2;
    }
    // The rules its sites would run, loaded and compiled as at start.
    if (!loaded.value().tenants.empty()) {
      const std::string dir = daemon::resolveRulesDir(rules_flag, loaded.value());
      if (auto insp = daemon::Inspection::create(loaded.value(), dir, nullptr); !insp) {
        std::fprintf(stderr, "%s\n%s: rules in %s refused\n", insp.error().message.c_str(),
                     check_path->c_str(), dir.c_str());
        return 2;
      }
    }
    // The bot data files its sites would use.
    bool any_bots = false;
    for (const auto& t : loaded.value().tenants)
      for (const auto& site : t.sites) any_bots = any_bots || site.bots.has_value();
    if (any_bots) {
      const std::string dir = daemon::resolveBotsDir(loaded.value());
      if (auto lists = guard::loadBotListsDirectory(dir); !lists) {
        std::fprintf(stderr, "%s\n%s: bot data files in %s refused\n",
                     lists.error().message.c_str(), check_path->c_str(), dir.c_str());
        return 2;
      }
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
  if (config_path && (listen_addr || upstream_addr || tls_cert || tls_key))
    return usageError(
        "--listen, --upstream, --tls-cert and --tls-key are the quick start; with --config, "
        "define sites");
  if (listen_addr.has_value() != upstream_addr.has_value())
    return usageError("--listen and --upstream go together");
  if (tls_cert.has_value() != tls_key.has_value())
    return usageError("--tls-cert and --tls-key go together");
  if (tls_cert && !listen_addr) return usageError("--tls-cert needs --listen and --upstream");
  if (metrics_flag && *metrics_flag != "off") {
    // Port 0 (any free port, for tests) is fine here, unlike for a listener in the config.
    std::string checked = *metrics_flag;
    if (checked.size() > 2 && checked.compare(checked.size() - 2, 2, ":0") == 0)
      checked.back() = '1';
    if (auto ep = config::parseEndpoint(checked, config::HostKind::IpOnly); !ep)
      return usageError("invalid --metrics '" + *metrics_flag + "': " + ep.error().message);
  }
  config::ShieldConfig running;
  config::Config full;  // sites and workers for the engine
  if (config_path) {
    auto loaded = config::loadConfigFile(*config_path);
    if (!loaded) {
      printConfigErrors(loaded.error());
      std::fprintf(stderr, "mamorid: %s refused; not started\n", config_path->c_str());
      return 2;
    }
    full = loaded.value();
    running = full.shield;
    if (running.interfaces.empty() && full.tenants.empty())
      return usageError("nothing to do: " + *config_path +
                        " lists no shield.interfaces and no sites");
  } else if (listen_addr) {
    config::QuickStart quick;
    quick.listen = *listen_addr;
    quick.upstream = *upstream_addr;
    quick.xdp_interfaces = ifaces;
    quick.workers = workers.value_or(0);
    quick.tls_cert = tls_cert;
    quick.tls_key = tls_key;
    auto built = config::quickStartConfig(quick);
    if (!built) {
      printConfigErrors(built.error());
      return 2;
    }
    full = built.value();
    running = full.shield;
    running.attach_mode = mode;
  } else {
    if (ifaces.empty())
      return usageError(
          "nothing to do: give --config FILE, --listen ADDR --upstream ADDR, or --xdp-iface IFACE");
    running.interfaces = ifaces;  // every other field at its default = shield::defaultSettings()
    running.attach_mode = mode;
  }
  const bool want_shield = !running.interfaces.empty();
  // Certificates are part of the config: a bad one refuses the start with
  // the same message --check-config gives, rather than leaving a site down.
  if (auto st = net::checkTlsCertificates(full); !st) {
    std::fprintf(stderr, "%s\nmamorid: TLS certificates refused; not started\n",
                 st.error().message.c_str());
    return 2;
  }

  // Handlers go in before anything is attached: SIGHUP's default action
  // would kill the daemon with the shield still attached.
  struct sigaction sa {};
  sa.sa_handler = onStop;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sa.sa_handler = onReload;
  sigaction(SIGHUP, &sa, nullptr);

  // Logs first: inspection writes detections and the control socket
  // audits into them.
  auto daemon_logs = daemon::DaemonLogs::start(full.logs, log_dir);
  if (!daemon_logs) {
    std::fprintf(stderr, "mamorid: %s\n", daemon_logs.error().message.c_str());
    return 2;
  }
  (*daemon_logs)->setRemovedTenants(full);
  std::printf("mamorid: logs in %s\n", (*daemon_logs)->dir().c_str());

  // Signature inspection for the sites' requests: the rules load (and
  // compile) before any listener opens, so a bad rule file stops the start.
  std::unique_ptr<daemon::Inspection> inspection;
  const std::string rules_dir = daemon::resolveRulesDir(rules_flag, full);
  if (!full.tenants.empty()) {
    auto created = daemon::Inspection::create(full, rules_dir, daemon_logs->get());
    if (!created) {
      std::fprintf(stderr, "%s\nmamorid: rules in %s refused; not started\n",
                   created.error().message.c_str(), rules_dir.c_str());
      return 2;
    }
    inspection = std::move(*created);
    std::printf("mamorid: %zu rules from %s\n", inspection->rules()->rules().size(),
                rules_dir.c_str());
  }

  // Login-abuse protection for the sites with a `login:` section (issue #7).
  // Bans go to the shield's pinned maps once the shield is loaded below;
  // the clock and the sink outlive the guard and the engine's workers.
  guard::SteadyClock login_clock;
  daemon::ShieldBanSink ban_sink;
  std::unique_ptr<daemon::LoginProtection> login;
  if (!full.tenants.empty()) {
    auto created = daemon::LoginProtection::create(full, login_clock, daemon_logs->get(), &ban_sink);
    if (!created) {
      std::fprintf(stderr, "mamorid: %s\nmamorid: login settings refused; not started\n",
                   created.error().message.c_str());
      return 2;
    }
    login = std::move(*created);
  }
  // HTTP flood limits for the sites with a `flood:` section, and the DoS
  // records of connection floods and slow clients for every site (issue
  // #8). Bans share the login guard's sink and clock.
  std::unique_ptr<daemon::FloodProtection> flood;
  if (!full.tenants.empty()) {
    auto created = daemon::FloodProtection::create(full, login_clock, daemon_logs->get(), &ban_sink);
    if (!created) {
      std::fprintf(stderr, "mamorid: %s\nmamorid: flood settings refused; not started\n",
                   created.error().message.c_str());
      return 2;
    }
    flood = std::move(*created);
  }

  // The browser challenge and under-attack mode (issue #8), for every site.
  std::unique_ptr<daemon::ChallengeProtection> challenge;
  if (!full.tenants.empty()) {
    auto created = daemon::ChallengeProtection::create(full, login_clock, daemon_logs->get());
    if (!created) {
      std::fprintf(stderr, "mamorid: %s\nmamorid: challenge refused; not started\n",
                   created.error().message.c_str());
      return 2;
    }
    challenge = std::move(*created);
  }

  // Bot detection for the sites with a `bots:` section (issue #8). The
  // data files load here: a bad one stops the start with FILE:LINE:COLUMN.
  // Its `challenge` action sends the client to the browser challenge;
  // bans share the login guard's sink.
  std::unique_ptr<daemon::BotProtection> bots;
  if (!full.tenants.empty()) {
    daemon::BotChallenge to_challenge = [cp = challenge.get()](const http::Request& request,
                                                               const net::RequestContext& context) {
      return cp->require(request, context);
    };
    auto created = daemon::BotProtection::create(full, login_clock, daemon_logs->get(), &ban_sink,
                                                 std::move(to_challenge));
    if (!created) {
      std::fprintf(stderr, "mamorid: %s\nmamorid: bot settings refused; not started\n",
                   created.error().message.c_str());
      return 2;
    }
    bots = std::move(*created);
    if (bots->active())
      std::printf("mamorid: bot detection on, data files from %s\n",
                  daemon::resolveBotsDir(full).c_str());
    // Verified good bots (search engines) skip under-attack mode.
    challenge->setGoodBotCheck([bp = bots.get()](const http::Request& request,
                                                 const net::RequestContext& context) {
      return bp->isVerifiedGoodBot(request, context);
    });
  }

  // The engine binds first: a taken port is reported before the shield
  // touches any interface.
  std::unique_ptr<net::Engine> engine;
  uint32_t engine_workers = workers.value_or(full.workers);
  if (engine_workers == 0) engine_workers = std::max(1u, std::thread::hardware_concurrency());
  if (!full.tenants.empty()) {
    net::EngineOptions options;
    options.workers = engine_workers;
    // The verdict chain (issue #8): flood -> bots -> challenge/under-attack
    // -> login -> inspection, cheapest refusal first: a flooder's request
    // costs a few counter updates, a client that has not proven a browser
    // costs no login check nor inspection. The first Block answers; a
    // login attempt that passes is still inspected, and a signature block
    // wins over its watch. In a site in mode: detect every step runs
    // (runVerdictChain()).
    std::vector<daemon::VerdictStep> steps;
    if (auto* fp = flood.get())
      steps.push_back([fp](const http::Request& r, const net::RequestContext& c) {
        return fp->onRequest(r, c);
      });
    if (auto* bp = bots.get())
      steps.push_back([bp](const http::Request& r, const net::RequestContext& c) {
        return bp->onRequest(r, c);
      });
    if (auto* cp = challenge.get())
      steps.push_back([cp](const http::Request& r, const net::RequestContext& c) {
        return cp->onRequest(r, c);
      });
    if (auto* lp = login.get())
      steps.push_back([lp](const http::Request& r, const net::RequestContext& c) {
        return lp->onRequest(r, c);
      });
    if (auto* insp = inspection.get())
      steps.push_back([insp](const http::Request& r, const net::RequestContext& c) {
        return insp->onRequest(r, c);
      });
    options.verdict = [steps = std::move(steps)](const http::Request& request,
                                                 const net::RequestContext& context) {
      return daemon::runVerdictChain(steps, request, context);
    };
    // Always, so that a reload adding `bots:` to a site needs no restart;
    // a site without it costs one map lookup per answer.
    if (bots) {
      options.response_status = [bp = bots.get()](const net::RequestContext& context, int status,
                                                  bool set_cookie) {
        bp->onResponseStatus(context, status, set_cookie);
      };
    }
    if (login) {
      options.response = [lp = login.get()](const std::shared_ptr<void>& watch,
                                            const net::ResponseView& response,
                                            const net::RequestContext& context) {
        return lp->onResponse(watch, response, context);
      };
    }
    if (flood) {
      options.connection = [fp = flood.get()](const net::ConnectionEvent& event) {
        fp->onConnection(event);
      };
    }
    auto created = net::Engine::create(full, options);
    if (!created) {
      std::fprintf(stderr, "mamorid: %s\n", created.error().message.c_str());
      if (created.error().code == EINVAL && want_shield) {
        std::fprintf(stderr, "mamorid: running the shield only\n");
      } else {
        return 1;
      }
    } else {
      engine = std::move(created.value());
    }
  }

  std::unique_ptr<shield::Shield> shield_owner;
  RunningShield run;
  if (want_shield) {
    auto loaded = shield::Shield::open(daemon::shieldOptions(running, pin_root));
    if (!loaded) {
      std::fprintf(stderr, "mamorid: %s\n", loaded.error().message.c_str());
      return 1;
    }
    shield_owner = std::move(loaded.value());
    run.shield = shield_owner.get();
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
    // Before the workers start, so they never see the sink half set up.
    if (login || bots || flood) {
      if (auto st = ban_sink.attach(pin_root); !st)
        std::fprintf(stderr, "mamorid: login, bot and flood bans will not reach XDP: %s\n",
                     st.error().message.c_str());
    }
  }
  if (login && login->active())
    std::printf("mamorid: login protection on%s\n",
                ban_sink.attached() ? ", bans written to the shield"
                                    : " (no shield: bans only block at the site)");
  if (flood && flood->active())
    std::printf("mamorid: flood protection on%s\n",
                ban_sink.attached() ? ", bans written to the shield"
                                    : " (no shield: banned sources get 429 at the site)");
  if (engine) {
    // Workers must not take the process signals: the handlers only set
    // flags for the main loop, and a worker in epoll_wait would just see EINTR.
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    engine->start();
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    for (const auto& addr : engine->listenAddresses())
      std::printf("mamorid: proxy listening on %s (%u workers)\n", addr.c_str(), engine_workers);
  }


  // The control socket comes up last, once there is something to control.
  daemon::ControlServices services(pin_root, config_path.value_or(""), engine_workers);
  services.setLogReader((*daemon_logs)->reader());
  services.setInspection(inspection.get());
  services.setLogin(login.get());
  services.setBots(bots.get());
  services.setChallenge(challenge.get());
  services.setFlood(flood.get());
  services.setConfig(std::make_shared<const config::Config>(full));
  services.setShield(shieldInfo(run));
  services.setEngine(engine.get());
  admin::ControlServerOptions control_options;
  control_options.path = control_socket.value_or(full.control.socket);
  auto control = admin::ControlServer::start(
      control_options, [&services](admin::Call& call) { return admin::runCommand(call, services); },
      [logs = daemon_logs->get()](const admin::Caller& caller, const std::vector<std::string>& args,
                                  int code, const std::string& before, const std::string& after) {
        auditToStdout(caller, args, code, before, after);
        logs->audit(caller, args, code, before, after);
      });
  if (!control) {
    std::fprintf(stderr, "mamorid: control socket: %s\n", control.error().message.c_str());
    if (engine) engine->stop();
    return 1;
  }
  if (!(*control)->note().empty())
    std::fprintf(stderr, "mamorid: control socket: %s\n", (*control)->note().c_str());
  std::printf("mamorid: control socket %s\n", control_options.path.c_str());
  // Declared after the engine and the shield so it is destroyed (and stops
  // scraping them) first.
  std::unique_ptr<metrics::MetricsServer> metrics_server;
  {
    std::string metrics_listen = metrics_flag.value_or(full.metrics.listen.toString());
    if (metrics_listen != "off") {
      // Like the engine's workers, the server's threads leave the signals to main.
      sigset_t block, old;
      sigemptyset(&block);
      sigaddset(&block, SIGINT);
      sigaddset(&block, SIGTERM);
      sigaddset(&block, SIGHUP);
      pthread_sigmask(SIG_BLOCK, &block, &old);
      metrics_server =
          startMetrics(metrics_listen, engine.get(), want_shield, pin_root, full.logs.dir,
                       inspection.get(), daemon_logs->get(), &ban_sink, bots.get(),
                       challenge.get(), flood.get());
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
  }
  std::fflush(stdout);

  // Sampled drops, counted per (source, reason) and reported every few
  // seconds: one line per attacker rather than one per packet. Drops that
  // the in-kernel sampler skipped are reported as one total, since they
  // belong to no known source. Each report also becomes DoS log records.
  std::map<std::pair<std::string, int>, uint64_t> sampled;
  uint64_t not_sampled = 0;
  std::unique_ptr<shield::DropEventReader> reader;
  if (want_shield) {
    auto opened = shield::DropEventReader::open(pin_root, [&](const shield::DropEvent& ev) {
      ++sampled[{ev.source.toString(), ev.reason}];
      not_sampled += ev.suppressed;
    });
    if (!opened) {
      std::fprintf(stderr, "mamorid: %s\n", opened.error().message.c_str());
      if (engine) engine->stop();
      return 1;
    }
    reader = std::move(opened.value());
  }
  // Each report interval also becomes DoS log records: one per (source,
  // reason), plus one for the drops the sampler skipped.
  auto report = [&] {
    const auto interval = std::chrono::duration_cast<std::chrono::seconds>(kReportInterval);
    for (const auto& [key, count] : sampled) {
      std::printf("mamorid: %llu sampled drops from %s (%s)\n",
                  static_cast<unsigned long long>(count), key.first.c_str(),
                  shield::reasonName(key.second));
      (*daemon_logs)->dosDrops(key.first, shield::reasonName(key.second), count, interval);
    }
    if (not_sampled) {
      std::printf("mamorid: %llu more drops not sampled (event cap)\n",
                  static_cast<unsigned long long>(not_sampled));
      (*daemon_logs)->dosDrops("", "not_sampled", not_sampled, interval);
    }
    std::fflush(stdout);
    sampled.clear();
    not_sampled = 0;
  };
  auto last_report = std::chrono::steady_clock::now();
  while (!g_stop) {
    if (reader) {
      if (auto n = reader->poll(kPollInterval); !n) {
        std::fprintf(stderr, "mamorid: %s\n", n.error().message.c_str());
        break;
      }
    } else {
      std::this_thread::sleep_for(kPollInterval);
    }
    // One reload path for SIGHUP and `mamorictl config reload`.
    // One reload path for SIGHUP and `mamorictl config reload`: the file is
    // read once; sites first (the engine builds the new snapshot - resolving,
    // reading pages, loading certificates - and swaps it only if all of that
    // worked; open connections finish on the old one), then the shield. A
    // file the engine refuses changes nothing.
    auto reloadNow = [&]() -> common::Result<std::string> {
      if (!config_path)
        return common::Error{EINVAL, "started without --config, nothing to reload"};
      auto loaded = config::loadConfigFile(*config_path);
      if (!loaded)
        return common::Error{loaded.error().code,
                             loaded.error().message + "\nreload refused: " + *config_path +
                                 " is invalid; the running config stays"};
      // Two phases: every part that can refuse the new config checks it
      // first (rules compiled, bot data files, flood settings, then the
      // engine, which applies it only when everything it needs is sound);
      // only then do the other parts switch. A refusal anywhere before the
      // engine leaves everything as it was.
      std::string summary;
      auto add = [&](const std::string& line) { summary += (summary.empty() ? "" : "\n") + line; };
      auto refused = [&](const common::Error& e, const std::string& note) {
        return common::Error{e.code, (summary.empty() ? "" : summary + "\n") + e.message +
                                         (note.empty() ? "" : "\n" + note)};
      };
      std::optional<daemon::Inspection::PreparedRules> rules;
      if (inspection) {
        auto prepared = inspection->prepareReload(rules_flag.value_or(loaded.value().rules.dir));
        if (!prepared) return prepared.error();
        rules = std::move(*prepared);
      }
      if (bots) {
        if (auto checked = bots->checkReload(loaded.value()); !checked) return checked.error();
      }
      if (flood) {
        if (auto checked = daemon::floodSettings(loaded.value()); !checked)
          return refused(checked.error(), "flood settings refused: the running ones stay");
      }
      if (engine) {
        if (auto st = engine->reload(loaded.value()); !st)
          return refused(st.error(), "reload refused: the running rules, sites and shield stay");
      }
      if (inspection) add("rules: " + inspection->commitReload(loaded.value(), std::move(*rules)));
      if (engine) {
        std::size_t sites = 0;
        for (const auto& t : loaded.value().tenants) sites += t.sites.size();
        add("reloaded " + *config_path + ": " + std::to_string(sites) +
            " sites for new connections");
      }
      // Checked above (bots, flood) or by the loader (login, challenge):
      // these fail only if config and module disagree, and then the
      // module's running settings stay.
      if (bots) {
        auto bot_summary = bots->reload(loaded.value());
        if (!bot_summary) return refused(bot_summary.error(), "");
        add(*bot_summary);
      }
      if (login) {
        auto login_summary = login->reload(loaded.value());
        if (!login_summary)
          return refused(login_summary.error(), "login settings refused: the running ones stay");
        add(*login_summary);
      }
      if (challenge) {
        auto challenge_summary = challenge->reload(loaded.value());
        if (!challenge_summary)
          return refused(challenge_summary.error(),
                         "challenge settings refused: the running ones stay");
        add(*challenge_summary);
      }
      if (flood) {
        auto flood_summary = flood->reload(loaded.value());
        if (!flood_summary)
          return refused(flood_summary.error(), "flood settings refused: the running ones stay");
        add(*flood_summary);
      }
      services.setConfig(std::make_shared<const config::Config>(loaded.value()));
      (*daemon_logs)->setRemovedTenants(loaded.value());
      if (want_shield) {
        auto shield_result = reloadShield(run, *config_path, loaded.value(), running);
        services.setShield(shieldInfo(run));
        if (!shield_result) return refused(shield_result.error(), "");
        add(*shield_result);
      }
      return summary.empty() ? std::string("reloaded ") + *config_path + ": nothing to apply"
                             : summary;
    };
    if (g_reload.exchange(false)) {
      auto result = reloadNow();
      if (result) std::printf("mamorid: %s\n", result->c_str());
      else std::fprintf(stderr, "mamorid: %s\n", result.error().message.c_str());
      std::fflush(stdout);
      std::fflush(stderr);
    }
    services.serveReloadRequest(reloadNow);
    (*daemon_logs)->flushAudit();
    if (std::chrono::steady_clock::now() - last_report >= kReportInterval) {
      report();
      last_report = std::chrono::steady_clock::now();
    }
  }
  services.shutdown();
  control->reset();  // no control call runs while the rest shuts down
  if (engine) {
    engine->stop();  // stops accepting, lets requests in flight finish, joins
    auto st = engine->stats();
    std::printf("mamorid: engine stopped: %llu requests, %llu rejected, %llu blocked, %llu 502, %llu 504\n",
                static_cast<unsigned long long>(st.requests), static_cast<unsigned long long>(st.rejected),
                static_cast<unsigned long long>(st.blocked), static_cast<unsigned long long>(st.bad_gateway),
                static_cast<unsigned long long>(st.gateway_timeout));
  }
  if (login) {
    auto ls = login->stats();
    std::printf("mamorid: login protection: %llu attempts, %llu failed, %llu refused, %llu events, "
                "%llu bans written, %llu bans not enforced at XDP\n",
                static_cast<unsigned long long>(ls.attempts), static_cast<unsigned long long>(ls.failed),
                static_cast<unsigned long long>(ls.refused), static_cast<unsigned long long>(ls.events),
                static_cast<unsigned long long>(ban_sink.written()),
                static_cast<unsigned long long>(ban_sink.unenforced()));
  }
  if (bots && bots->active()) {
    auto bs = bots->stats();
    std::printf("mamorid: bot detection: %llu requests, %llu classified, %llu records, %llu bans\n",
                static_cast<unsigned long long>(bs.requests),
                static_cast<unsigned long long>(bs.classified),
                static_cast<unsigned long long>(bs.records),
                static_cast<unsigned long long>(bs.bans));
  }
  if (flood) {
    auto fs = flood->stats();
    std::printf("mamorid: flood protection: %llu checked, %llu answered 429, %llu bans, "
                "%llu over source cap, %llu slowloris cut, %llu slow POST cut\n",
                static_cast<unsigned long long>(fs.checked),
                static_cast<unsigned long long>(fs.too_many_requests),
                static_cast<unsigned long long>(fs.ban),
                static_cast<unsigned long long>(fs.conn_over_source_cap),
                static_cast<unsigned long long>(fs.slowloris_cut),
                static_cast<unsigned long long>(fs.slow_post_cut));
  }
  if (want_shield) {
    report();
    run.shield->detachAll();
    std::printf("mamorid: shield detached, pinned maps kept in %s\n", run.shield->pinDir().c_str());
  }
  return 0;
}
