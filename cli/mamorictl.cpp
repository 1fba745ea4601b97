// mamorictl: operator CLI for mamori. Exit codes: 0 ok, 1 the operation
// failed, 2 wrong usage.

#include <cstdio>
#include <string>
#include <vector>

#include "common/duration.h"
#include "common/ip_prefix.h"
#include "common/version.h"
#include "shield/shield.h"

namespace {

using namespace mamori;

constexpr const char* kUsage = R"(Usage: mamorictl [--output text|json] [--pin-root DIR] COMMAND

Commands:
  shield status                         attach state, counters by reason
  bans list                             unexpired bans
  bans add IP|CIDR [--ttl 10m] [--reason manual|signature|login|bot|flood]
                                        ban a source at XDP (IPv6 may be a /64)
  bans del IP|CIDR                      lift a ban
  lists allow|deny list                 show the allow or deny list
  lists allow|deny add CIDR             add a CIDR (or address)
  lists allow|deny del CIDR             remove it

Options:
  --output text|json    output format (default text)
  --pin-root DIR        where mamorid pinned the shield's maps (default /sys/fs/bpf/mamori)
  -h, --help            show this help and exit
  -V, --version         show the version and exit
)";

struct Cli {
  bool json = false;
  std::string pin_root = shield::kDefaultPinRoot;
  std::vector<std::string> args;
};

int usageError(const std::string& message) {
  std::fprintf(stderr, "mamorictl: %s\nTry 'mamorictl --help'.\n", message.c_str());
  return 2;
}

int failed(const common::Error& error) {
  std::fprintf(stderr, "mamorictl: %s\n", error.message.c_str());
  return 1;
}

// Values we print are addresses, fixed names and numbers: no escaping needed
// beyond quoting, but keep it safe for any future string.
std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

int printOk(const Cli& cli, const std::string& text) {
  if (cli.json) std::printf("{\"ok\":true,\"message\":%s}\n", jsonString(text).c_str());
  else std::printf("%s\n", text.c_str());
  return 0;
}

int shieldStatus(const Cli& cli) {
  auto maps = shield::PinnedMaps::open(cli.pin_root);
  if (!maps) return failed(maps.error());
  auto counters = maps->counters();
  if (!counters) return failed(counters.error());
  auto settings = maps->settings();
  if (!settings) return failed(settings.error());
  const auto& c = counters.value();
  if (cli.json) {
    std::printf("{\"pin_dir\":%s,\"passed\":{\"packets\":%llu,\"bytes\":%llu},"
                "\"dropped\":{\"packets\":%llu,\"bytes\":%llu},\"events_lost\":%llu,\"reasons\":[",
                jsonString(maps->pinDir()).c_str(),
                static_cast<unsigned long long>(c.totalPassed().packets),
                static_cast<unsigned long long>(c.totalPassed().bytes),
                static_cast<unsigned long long>(c.totalDropped().packets),
                static_cast<unsigned long long>(c.totalDropped().bytes),
                static_cast<unsigned long long>(c.events_lost));
    bool first = true;
    for (int r = 0; r < shield::kReasonCount; ++r) {
      for (int dropped = 0; dropped < 2; ++dropped) {
        const auto& k = dropped ? c.dropped[r] : c.passed[r];
        if (k.packets == 0) continue;
        std::printf("%s{\"reason\":\"%s\",\"verdict\":\"%s\",\"packets\":%llu,\"bytes\":%llu}",
                    first ? "" : ",", shield::reasonName(r), dropped ? "drop" : "pass",
                    static_cast<unsigned long long>(k.packets),
                    static_cast<unsigned long long>(k.bytes));
        first = false;
      }
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("shield maps: %s\n", maps->pinDir().c_str());
  std::printf("passed: %llu packets, %llu bytes\n",
              static_cast<unsigned long long>(c.totalPassed().packets),
              static_cast<unsigned long long>(c.totalPassed().bytes));
  std::printf("dropped: %llu packets, %llu bytes\n",
              static_cast<unsigned long long>(c.totalDropped().packets),
              static_cast<unsigned long long>(c.totalDropped().bytes));
  std::printf("%-14s %-7s %14s %16s\n", "reason", "verdict", "packets", "bytes");
  for (int r = 0; r < shield::kReasonCount; ++r) {
    for (int dropped = 0; dropped < 2; ++dropped) {
      const auto& k = dropped ? c.dropped[r] : c.passed[r];
      if (k.packets == 0) continue;
      std::printf("%-14s %-7s %14llu %16llu\n", shield::reasonName(r), dropped ? "drop" : "pass",
                  static_cast<unsigned long long>(k.packets),
                  static_cast<unsigned long long>(k.bytes));
    }
  }
  std::printf("drop events lost: %llu\n", static_cast<unsigned long long>(c.events_lost));
  return 0;
}

int bans(const Cli& cli) {
  const auto& a = cli.args;
  if (a.size() < 2) return usageError("bans needs list, add or del");
  auto maps = shield::PinnedMaps::open(cli.pin_root);
  if (!maps) return failed(maps.error());
  if (a[1] == "list") {
    if (a.size() != 2) return usageError("bans list takes no arguments");
    auto list = maps->listBans();
    if (!list) return failed(list.error());
    if (cli.json) {
      std::printf("[");
      for (size_t i = 0; i < list->size(); ++i) {
        const auto& b = (*list)[i];
        std::printf("%s{\"source\":%s,\"remaining_seconds\":%lld,\"reason\":\"%s\"}",
                    i ? "," : "", jsonString(b.source.toString()).c_str(),
                    static_cast<long long>(b.remaining.count()), shield::banReasonName(b.reason));
      }
      std::printf("]\n");
    } else {
      std::printf("%-40s %10s %s\n", "source", "remaining", "reason");
      for (const auto& b : *list)
        std::printf("%-40s %9llds %s\n", b.source.toString().c_str(),
                    static_cast<long long>(b.remaining.count()), shield::banReasonName(b.reason));
    }
    return 0;
  }
  if (a[1] != "add" && a[1] != "del") return usageError("unknown bans command '" + a[1] + "'");
  if (a.size() < 3) return usageError("bans " + a[1] + " needs an address");
  auto source = common::parseIpPrefix(a[2]);
  if (!source) return usageError(source.error().message);
  if (a[1] == "del") {
    if (a.size() != 3) return usageError("bans del takes one address");
    if (auto st = maps->deleteBan(*source); !st) return failed(st.error());
    return printOk(cli, "ban lifted: " + source->toString());
  }
  std::chrono::seconds ttl(600);
  shield::BanReason reason = shield::BanReason::Manual;
  for (size_t i = 3; i < a.size(); ++i) {
    if (a[i] == "--ttl" && i + 1 < a.size()) {
      auto d = common::parseDuration(a[++i]);
      if (!d) return usageError(d.error().message);
      ttl = *d;
    } else if (a[i] == "--reason" && i + 1 < a.size()) {
      if (!shield::parseBanReason(a[++i], &reason))
        return usageError("unknown ban reason '" + a[i] + "'");
    } else {
      return usageError("unexpected argument '" + a[i] + "'");
    }
  }
  if (auto st = maps->addBan(*source, ttl, reason); !st) return failed(st.error());
  return printOk(cli, "banned " + source->toString() + " for " + std::to_string(ttl.count()) +
                          "s (" + shield::banReasonName(reason) + ")");
}

int lists(const Cli& cli) {
  const auto& a = cli.args;
  if (a.size() < 3) return usageError("lists needs allow|deny and list|add|del");
  shield::ListKind kind;
  if (a[1] == "allow") kind = shield::ListKind::Allow;
  else if (a[1] == "deny") kind = shield::ListKind::Deny;
  else return usageError("unknown list '" + a[1] + "' (allow or deny)");
  auto maps = shield::PinnedMaps::open(cli.pin_root);
  if (!maps) return failed(maps.error());
  if (a[2] == "list") {
    if (a.size() != 3) return usageError("lists " + a[1] + " list takes no arguments");
    auto entries = maps->list(kind);
    if (!entries) return failed(entries.error());
    if (cli.json) {
      std::printf("[");
      for (size_t i = 0; i < entries->size(); ++i)
        std::printf("%s%s", i ? "," : "", jsonString((*entries)[i].toString()).c_str());
      std::printf("]\n");
    } else {
      for (const auto& e : *entries) std::printf("%s\n", e.toString().c_str());
    }
    return 0;
  }
  if (a[2] != "add" && a[2] != "del") return usageError("unknown lists command '" + a[2] + "'");
  if (a.size() != 4) return usageError("lists " + a[1] + " " + a[2] + " takes one CIDR");
  auto prefix = common::parseIpPrefix(a[3]);
  if (!prefix) return usageError(prefix.error().message);
  if (a[2] == "add") {
    if (auto st = maps->addToList(kind, *prefix); !st) return failed(st.error());
    return printOk(cli, "added " + prefix->toString() + " to the " + a[1] + " list");
  }
  if (auto st = maps->deleteFromList(kind, *prefix); !st) return failed(st.error());
  return printOk(cli, "removed " + prefix->toString() + " from the " + a[1] + " list");
}

}  // namespace

int main(int argc, char** argv) {
  Cli cli;
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
    if (arg == "--output" || arg == "--pin-root") {
      if (i + 1 >= argc) return usageError(arg + " needs a value");
      std::string value = argv[++i];
      if (arg == "--pin-root") {
        cli.pin_root = value;
      } else if (value == "json" || value == "text") {
        cli.json = value == "json";
      } else {
        return usageError("unknown output format '" + value + "' (text or json)");
      }
      continue;
    }
    cli.args.push_back(arg);
  }
  if (cli.args.empty()) return usageError("no command given");
  const std::string& cmd = cli.args[0];
  if (cmd == "shield") {
    if (cli.args.size() != 2 || cli.args[1] != "status") return usageError("usage: shield status");
    return shieldStatus(cli);
  }
  if (cmd == "bans") return bans(cli);
  if (cmd == "lists") return lists(cli);
  return usageError("unknown command '" + cmd + "'");
}
