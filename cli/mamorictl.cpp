// mamorictl: operator CLI for mamori. A thin client: it sends its command
// line over mamorid's control socket (userspace/admin/control_client.h),
// where the daemon runs and audits it, and prints what comes back. Exit
// codes: 0 ok, 1 the operation failed, 2 wrong usage.

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <string>
#include <vector>

#include "admin/control_client.h"
#include "common/version.h"

namespace {

constexpr const char* kDefaultSocket = "/run/mamori/control.sock";

constexpr const char* kUsage = R"(Usage: mamorictl [--socket PATH] [--output text|json] COMMAND

Commands:
  status                                daemon, config, shield and traffic summary
  stats                                 engine and shield counters
  sites list                            configured sites
  sites show SITE                       one site: hosts, listeners, upstreams, mode,
                                        under-attack state
  site under-attack on|off|auto --site SITE
                                        every client must pass the browser challenge
                                        (on), nobody must (off), or the config decides (auto)
  shield status                         attached interfaces, counters by reason
  bans list                             unexpired bans
  bans add IP|CIDR [--ttl 10m] [--reason manual|signature|login|bot|flood]
                                        ban a source at XDP (IPv6 may be a /64)
  bans del IP|CIDR                      lift a ban
  lists allow|deny list                 show the allow or deny list
  lists allow|deny add CIDR             add a CIDR (or address)
  lists allow|deny del CIDR             remove it
  config reload                         reload mamorid's config file (as SIGHUP)
  rules list                            the loaded signature rules
  rules show ID                         one rule: targets, transforms, operator
  rules enable|disable ID               switch a rule on or off until mamorid restarts
  rules reload                          re-read the rule files (a bad file keeps the old set)
  rules test FILE [--site SITE]         run the raw HTTP request in FILE through
                                        inspection: each detection and the verdict
  login status [--site SITE] [--top N]  login protection: top failing sources,
                                        sources throttled/blocked/banned, locked usernames
  login unlock --site SITE --user USER  lift a username lock (and clear its counters)
  login report --site SITE --user USER --ip IP --result failed|succeeded
                                        the application reports a login outcome itself
  bots status [--site SITE]             bot detection: data files, rDNS cache, each
                                        site's policy and counts by class and action
  bots top [--site SITE] [--top N]      sources with most bot requests (and their
                                        rate, paths, 4xx, last class, ban)
  dos status [--site SITE] [--top N]    L7 DoS protection: flood limits, refusals by
                                        limit, top sources over a limit, bans, slow clients
  logs query --type event|dos|bot|audit [--tenant T] [--site S] [--since TIME]
             [--until TIME] [--ip IP|CIDR] [--rule ID] [--text S] [--limit N]
                                        log lines, newest last
  logs tail --type T [-f] [filters]     the last lines; -f follows new ones
  logs export --type T --format jsonl|csv [filters]
                                        every matching line, to stdout

Options:
  --socket PATH         mamorid's control socket (default /run/mamori/control.sock,
                        or $MAMORI_CONTROL_SOCKET)
  --output text|json    output format (default text)
  -h, --help            show this help and exit
  -V, --version         show the version and exit

Needs root or membership of group mamori. Every call is written to
mamorid's audit log.
)";

int usageError(const std::string& message) {
  std::fprintf(stderr, "mamorictl: %s\nTry 'mamorictl --help'.\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path = kDefaultSocket;
  if (const char* env = std::getenv("MAMORI_CONTROL_SOCKET"); env && *env) socket_path = env;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "-V" || arg == "--version") {
      std::printf("mamorictl %s\n", mamori::kVersion);
      return 0;
    }
    if (arg == "--socket") {
      if (i + 1 >= argc) return usageError("--socket needs a path");
      socket_path = argv[++i];
      continue;
    }
    if (arg == "--pin-root")
      return usageError("--pin-root is gone: mamorictl asks mamorid, which knows its maps");
    args.push_back(arg);  // --output and the command go to the daemon
  }
  if (args.empty()) return usageError("no command given");

  // `rules test FILE`: the file is on this side, so its bytes travel with
  // the call (the daemon may not even see the same filesystem).
  for (size_t i = 0; i + 2 < args.size(); ++i) {
    if (args[i] == "rules" && args[i + 1] == "test" && args[i + 2].rfind("--", 0) != 0) {
      std::FILE* f = std::fopen(args[i + 2].c_str(), "rb");
      if (!f) {
        std::fprintf(stderr, "mamorictl: cannot read %s: %s\n", args[i + 2].c_str(),
                     std::strerror(errno));
        return 1;
      }
      std::string bytes;
      char buf[65536];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0 && bytes.size() < (1u << 20))
        bytes.append(buf, n);
      std::fclose(f);
      if (bytes.size() >= (1u << 20)) return usageError(args[i + 2] + " is over 1 MiB");
      args[i + 2] = "--request";
      args.insert(args.begin() + static_cast<long>(i) + 3, bytes);
      break;
    }
  }

  mamori::admin::ControlReply reply;
  reply.on_stdout = [](std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  };
  reply.on_stderr = [](std::string_view s) { std::fwrite(s.data(), 1, s.size(), stderr); };
  auto code = mamori::admin::callDaemon(socket_path, args, reply);
  if (!code) {
    std::fprintf(stderr, "mamorictl: %s\n", code.error().message.c_str());
    return 1;
  }
  return *code;
}
