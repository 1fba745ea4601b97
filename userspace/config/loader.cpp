#include "config/loader.h"

#include "common/yaml_documents.h"
#include "common/yaml_reading.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "common/duration.h"
#include "config/size.h"

namespace mamori::config {
namespace {

using std::chrono::seconds;

// A config larger than this is a mistake (or an attack on the parser), not
// a real deployment: thousands of sites fit in well under a megabyte.
constexpr size_t kMaxConfigBytes = 16 * 1024 * 1024;

// Ranges. Each bound is where a value stops being a plausible setting and
// starts being a typo or a memory/CPU hazard; docs/config.md lists them.
constexpr int64_t kMaxWorkers = 1024;
constexpr int64_t kMaxPacketRate = 10'000'000;  // per source: above 10 GbE line rate
// The shield keeps tokens in milli-packets in 32 bits (bpf/shield_abi.h,
// SHIELD_BURST_MAX), so a larger burst could not be applied; refuse it here,
// where the error has a line number, rather than at attach time.
constexpr int64_t kMaxBurst = 4'000'000;
constexpr int64_t kMaxSources = 16'777'216;     // rate map entries (~1 GiB of kernel memory)
constexpr int64_t kMaxWeight = 1000;
constexpr uint64_t kMaxBodyBytes = 1ULL << 30;  // buffered for inspection, per request
constexpr seconds kMinTimeout{1};
constexpr seconds kMaxTimeout{24 * 3600};
constexpr size_t kMaxUnixSocketPath = 107;  // sizeof(sockaddr_un::sun_path) - 1
constexpr size_t kMaxInterfaceName = 15;    // IFNAMSIZ - 1
constexpr size_t kMaxLabelValue = 256;

// --- diagnostics and scalar readers (common/yaml_reading.h) -------------------

using common::yaml::closestMatch;
using common::yaml::Diagnostics;
using common::yaml::joinNames;
using common::yaml::position;
using common::yaml::readBool;
using common::yaml::readInteger;
using common::yaml::readString;
using common::yaml::squote;
using common::yaml::typeError;

std::optional<seconds> readDuration(Diagnostics& diag, const YAML::Node& node,
                                    std::string_view what, seconds min, seconds max) {
  if (!node.IsScalar()) {
    typeError(diag, node, "a duration", what);
    return std::nullopt;
  }
  auto parsed = common::parseDuration(node.Scalar());
  if (!parsed) {
    diag.add(node, parsed.error().message);
    return std::nullopt;
  }
  if (*parsed < min || *parsed > max) {
    diag.add(node, squote(what) + " out of range: " + node.Scalar(),
             "allowed " + std::to_string(min.count()) + "s.." + std::to_string(max.count()) + "s");
    return std::nullopt;
  }
  return *parsed;
}

bool expectList(Diagnostics& diag, const YAML::Node& node, std::string_view what) {
  if (node.IsSequence()) return true;
  typeError(diag, node, "a list", what);
  return false;
}

// Walks a mapping, refusing non-string and duplicate keys (yaml-cpp keeps
// both copies of a duplicate key silently; YAML 1.2 says keys are unique).
// Calls fn(key, key_node, value_node) for every accepted entry.
template <typename Fn>
bool forEachEntry(Diagnostics& diag, const YAML::Node& node, std::string_view what, Fn fn) {
  if (!node.IsMap()) {
    typeError(diag, node, "a mapping", what);
    return false;
  }
  std::map<std::string, YAML::Mark> seen;
  // Copy the nodes out: yaml-cpp's iterator hands out a temporary pair,
  // and a reference into it dangles (ASan caught exactly that).
  for (auto it = node.begin(); it != node.end(); ++it) {
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    if (!key.IsScalar()) {
      typeError(diag, key, "a string key", what);
      continue;
    }
    auto [prev, inserted] = seen.emplace(key.Scalar(), key.Mark());
    if (!inserted) {
      diag.add(key, "duplicate key " + squote(key.Scalar()),
               "first defined at " + position(prev->second));
      continue;
    }
    fn(key.Scalar(), key, value);
  }
  return true;
}

// One YAML mapping with a fixed set of keys. Unknown keys are reported with
// the closest known key as a hint; typed getters report type and range
// errors at the value's own position.
class Fields {
 public:
  Fields(Diagnostics& diag, const YAML::Node& node, std::string_view what,
         std::initializer_list<std::string_view> known)
      : diag_(diag), node_(node), known_(known) {
    ok_ = forEachEntry(diag, node, what, [&](const std::string& key, const YAML::Node& key_node,
                                             const YAML::Node& value) {
      if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
        auto guess = closestMatch(key, known_);
        if (!guess.empty()) {
          suggested_.insert(std::string(guess));
          diag_.add(key_node, "unknown key " + squote(key),
                    "did you mean " + squote(guess) + "?");
        } else {
          diag_.add(key_node, "unknown key " + squote(key), "known keys: " + joinNames(known_));
        }
        return;
      }
      values_.emplace(key, value);
    });
  }

  bool ok() const { return ok_; }
  const YAML::Node& node() const { return node_; }
  Diagnostics& diag() { return diag_; }

  // The value under `key`; nullopt when the key is absent or its value is
  // empty (`key:` with nothing after it, e.g. a list whose entries were all
  // commented out), which then means "use the default".
  std::optional<YAML::Node> get(std::string_view key) const {
    auto it = values_.find(std::string(key));
    if (it == values_.end() || it->second.IsNull()) return std::nullopt;
    return it->second;
  }

  // get() for a key without a default; reports it missing unless a typo of
  // it was already reported as an unknown key (one mistake, one message).
  std::optional<YAML::Node> require(std::string_view key) {
    auto value = get(key);
    if (!value && ok_ && !suggested_.count(std::string(key))) {
      diag_.add(node_, "missing required key " + squote(key));
    }
    return value;
  }

  template <typename T>
  void integer(std::string_view key, T& out, int64_t min, int64_t max) {
    if (auto node = get(key)) {
      if (auto value = readInteger(diag_, *node, key, min, max)) out = static_cast<T>(*value);
    }
  }
  void boolean(std::string_view key, bool& out) {
    if (auto node = get(key)) {
      if (auto value = readBool(diag_, *node, key)) out = *value;
    }
  }
  void string(std::string_view key, std::string& out) {
    if (auto node = get(key)) {
      if (auto value = readString(diag_, *node, key)) out = *value;
    }
  }
  void duration(std::string_view key, seconds& out, seconds min, seconds max) {
    if (auto node = get(key)) {
      if (auto value = readDuration(diag_, *node, key, min, max)) out = *value;
    }
  }
  template <typename E>
  void choice(std::string_view key, E& out,
              std::initializer_list<std::pair<std::string_view, E>> options) {
    auto node = get(key);
    if (!node) return;
    std::vector<std::string_view> names;
    for (const auto& [name, value] : options) {
      if (node->IsScalar() && node->Scalar() == name) {
        out = value;
        return;
      }
      names.push_back(name);
    }
    if (!node->IsScalar()) {
      typeError(diag_, *node, "one of " + joinNames(names), key);
      return;
    }
    diag_.add(*node, "invalid value " + squote(node->Scalar()) + " for " + squote(key),
              "expected one of: " + joinNames(names));
  }

 private:
  Diagnostics& diag_;
  YAML::Node node_;
  std::vector<std::string_view> known_;
  std::map<std::string, YAML::Node> values_;
  std::set<std::string> suggested_;
  bool ok_ = false;
};

// --- shared checks (loader and quick start) ------------------------------------

// Linux interface names: 1..15 bytes, no '/', no whitespace, not "." or "..".
std::string interfaceNameProblem(const std::string& name) {
  if (name.empty() || name.size() > kMaxInterfaceName) {
    return "interface name " + squote(name) + " must be 1..15 characters";
  }
  if (name == "." || name == "..") return "invalid interface name " + squote(name);
  for (char c : name) {
    if (c == '/' || c == ' ' || c == '\t' || c == '\n' || c == ':') {
      return "invalid interface name " + squote(name);
    }
  }
  return {};
}

std::string resolvePath(const std::string& path, const std::string& base_dir) {
  if (base_dir.empty() || path.empty() || path.front() == '/') return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

bool isTenantId(std::string_view id) {
  if (id.empty() || id.size() > 63) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    char c = id[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || c != '-')) return false;
  }
  return true;
}

// Site names and label keys also allow '.' and '_' ("shop.example", "team_owner").
bool isName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '-' && c != '.' && c != '_'))) return false;
  }
  return true;
}

// RFC 3339 timestamps, or a bare date meaning midnight UTC:
// "2025-01-31", "2025-01-31T12:00:00Z", "2025-01-31T12:00:00+09:00".
std::optional<std::chrono::sys_seconds> parseTimestamp(std::string_view text) {
  auto number = [&](size_t pos, size_t len) -> std::optional<int> {
    if (pos + len > text.size()) return std::nullopt;
    int value = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  auto year = number(0, 4), month = number(5, 2), day = number(8, 2);
  if (!year || !month || !day || text.size() < 10 || text[4] != '-' || text[7] != '-') {
    return std::nullopt;
  }
  std::chrono::year_month_day date{std::chrono::year(*year),
                                   std::chrono::month(static_cast<unsigned>(*month)),
                                   std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return std::nullopt;
  std::chrono::sys_seconds at{std::chrono::sys_days(date)};
  if (text.size() == 10) return at;
  if (text.size() < 20 || (text[10] != 'T' && text[10] != 't') || text[13] != ':' ||
      text[16] != ':') {
    return std::nullopt;
  }
  auto hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (!hour || !minute || !second || *hour > 23 || *minute > 59 || *second > 59) {
    return std::nullopt;
  }
  at += std::chrono::hours(*hour) + std::chrono::minutes(*minute) + seconds(*second);
  std::string_view zone = text.substr(19);
  if (zone == "Z" || zone == "z") return at;
  if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || zone[3] != ':') {
    return std::nullopt;
  }
  auto zh = number(20, 2), zm = number(23, 2);
  if (!zh || !zm || *zh > 23 || *zm > 59) return std::nullopt;
  auto offset = std::chrono::hours(*zh) + std::chrono::minutes(*zm);
  // Local time = UTC + offset, so UTC = local - offset.
  return zone[0] == '+' ? at - offset : at + offset;
}

// --- the parser -----------------------------------------------------------------

class ConfigParser {
 public:
  ConfigParser(Diagnostics& diag, const LoadOptions& options) : diag_(diag), options_(options) {}

  Config parse(const YAML::Node& root) {
    Config config;
    Fields f(diag_, root, "config",
             {"workers", "metrics", "control", "logs", "rules", "shield", "bots", "tenants"});
    if (!f.ok()) return config;
    f.integer("workers", config.workers, 0, kMaxWorkers);
    if (auto node = f.get("metrics")) {
      Fields m(diag_, *node, "metrics", {"listen"});
      if (auto listen = m.get("listen")) {
        if (auto ep = endpoint(*listen, "listen", HostKind::IpOnly)) config.metrics.listen = *ep;
      }
    }
    if (auto node = f.get("control")) {
      Fields c(diag_, *node, "control", {"socket"});
      if (auto socket = c.get("socket")) {
        if (auto path = absolutePath(*socket, "socket")) {
          if (path->size() > kMaxUnixSocketPath) {
            diag_.add(*socket, "'socket' path is longer than 107 bytes",
                      "the kernel limit for Unix socket paths");
          } else {
            config.control.socket = *path;
          }
        }
      }
    }
    if (auto node = f.get("logs")) {
      Fields l(diag_, *node, "logs",
               {"dir", "timezone", "readable_days", "keep_days", "fsync", "flush_interval"});
      if (auto dir = l.get("dir")) {
        if (auto path = absolutePath(*dir, "dir")) config.logs.dir = *path;
      }
      l.string("timezone", config.logs.timezone);
      l.integer("readable_days", config.logs.readable_days, 1, 3650);
      l.integer("keep_days", config.logs.keep_days, 1, 3650);
      l.choice("fsync", config.logs.fsync,
               {{"interval", LogFsync::Interval}, {"every_line", LogFsync::EveryLine},
                {"never", LogFsync::Never}});
      l.duration("flush_interval", config.logs.flush_interval, seconds(1), seconds(3600));
      if (config.logs.keep_days < config.logs.readable_days) {
        diag_.add(*node, "'keep_days' (" + std::to_string(config.logs.keep_days) +
                             ") is shorter than 'readable_days' (" +
                             std::to_string(config.logs.readable_days) + ")",
                  "files must be kept at least as long as they are readable");
      }
    }
    if (auto node = f.get("rules")) {
      Fields r(diag_, *node, "rules", {"dir"});
      if (auto dir = r.get("dir")) {
        if (auto path = absolutePath(*dir, "dir")) config.rules.dir = *path;
      }
    }
    if (auto node = f.get("shield")) parseShield(*node, config.shield);
    if (auto node = f.get("bots")) parseBotsHost(*node, config.bots);
    if (auto node = f.get("tenants")) {
      if (expectList(diag_, *node, "tenants")) {
        for (const auto& item : *node) {
          Tenant tenant;
          if (parseTenant(item, tenant)) config.tenants.push_back(std::move(tenant));
        }
      }
    }
    return config;
  }

 private:
  // Reports `result`'s error at `node` and returns nullopt, or the value.
  template <typename T>
  std::optional<T> orReport(Result<T> result, const YAML::Node& node) {
    if (result) return std::move(result).value();
    diag_.add(node, result.error().message);
    return std::nullopt;
  }

  std::optional<Endpoint> endpoint(const YAML::Node& node, std::string_view what, HostKind kind) {
    auto text = readString(diag_, node, what);
    if (!text) return std::nullopt;
    return orReport(parseEndpoint(*text, kind), node);
  }

  std::optional<std::string> absolutePath(const YAML::Node& node, std::string_view what) {
    auto text = readString(diag_, node, what);
    if (!text) return std::nullopt;
    // The daemon's working directory is not something operators think
    // about, so state paths must not depend on it.
    if (text->front() != '/') {
      diag_.add(node, squote(what) + " must be an absolute path, got " + squote(*text));
      return std::nullopt;
    }
    return text;
  }

  // A file the engine will read (certificate, key, page): resolved against
  // the config's directory, then checked through options_.check_file.
  std::optional<std::string> inputFile(const YAML::Node& node, std::string_view what,
                                       std::string_view description) {
    auto text = readString(diag_, node, what);
    if (!text) return std::nullopt;
    std::string path = resolvePath(*text, options_.base_dir);
    if (options_.check_file) {
      std::string problem = options_.check_file(path);
      if (!problem.empty()) {
        diag_.add(node, "cannot read " + std::string(description) + " " + squote(path) + ": " +
                            problem);
        return std::nullopt;
      }
    }
    return path;
  }

  void cidrList(const YAML::Node& node, std::string_view what, std::vector<IpPrefix>& out) {
    if (!expectList(diag_, node, what)) return;
    std::map<std::string, YAML::Mark> seen;
    for (const auto& item : node) {
      auto text = readString(diag_, item, what);
      if (!text) continue;
      auto cidr = orReport(common::parseIpPrefix(*text), item);
      if (!cidr) continue;
      auto [prev, inserted] = seen.emplace(cidr->toString(), item.Mark());
      if (!inserted) {
        diag_.add(item, "duplicate entry " + squote(cidr->toString()) + " in " + squote(what),
                  "first at " + position(prev->second));
        continue;
      }
      out.push_back(*cidr);
    }
  }

  void portList(const YAML::Node& node, std::string_view what, std::vector<uint16_t>& out) {
    if (!expectList(diag_, node, what)) return;
    std::map<int64_t, YAML::Mark> seen;
    for (const auto& item : node) {
      auto port = readInteger(diag_, item, what, 1, 65535);
      if (!port) continue;
      auto [prev, inserted] = seen.emplace(*port, item.Mark());
      if (!inserted) {
        diag_.add(item, "duplicate port " + std::to_string(*port) + " in " + squote(what),
                  "first at " + position(prev->second));
        continue;
      }
      out.push_back(static_cast<uint16_t>(*port));
    }
  }

  // `out` holds the bucket's default on entry; a key not given keeps it.
  void parseRate(const YAML::Node& node, std::string_view what, RateLimit& out) {
    Fields f(diag_, node, what, {"rate", "burst"});
    if (!f.ok()) return;
    const bool rate_given = f.get("rate").has_value();
    f.integer("rate", out.rate, 0, kMaxPacketRate);
    if (auto burst = f.get("burst")) {
      if (auto value = readInteger(diag_, *burst, "burst", 1, kMaxBurst)) {
        out.burst = static_cast<uint32_t>(*value);
      }
    } else if (rate_given) {
      // No burst given: allow one second's worth, the usual token-bucket
      // choice, within what the shield can hold.
      out.burst = std::min(out.rate, static_cast<uint32_t>(kMaxBurst));
    }
  }

  void parseShield(const YAML::Node& node, ShieldConfig& shield) {
    Fields f(diag_, node, "shield",
             {"interfaces", "attach_mode", "allow", "deny", "rates", "ports", "scanner_syn",
              "malformed", "ban_ipv6_prefix64", "max_sources"});
    if (!f.ok()) return;
    if (auto list = f.get("interfaces")) {
      if (expectList(diag_, *list, "interfaces")) {
        std::map<std::string, YAML::Mark> seen;
        for (const auto& item : *list) {
          auto name = readString(diag_, item, "interfaces");
          if (!name) continue;
          if (auto problem = interfaceNameProblem(*name); !problem.empty()) {
            diag_.add(item, problem);
            continue;
          }
          auto [prev, inserted] = seen.emplace(*name, item.Mark());
          if (!inserted) {
            diag_.add(item, "duplicate interface " + squote(*name),
                      "first at " + position(prev->second));
            continue;
          }
          shield.interfaces.push_back(*name);
        }
      }
    }
    f.choice("attach_mode", shield.attach_mode,
             {{"auto", AttachMode::Auto}, {"native", AttachMode::Native},
              {"generic", AttachMode::Generic}});
    if (auto list = f.get("allow")) cidrList(*list, "allow", shield.allow);
    if (auto list = f.get("deny")) {
      cidrList(*list, "deny", shield.deny);
      // The same prefix on both lists is a contradiction; allow would win
      // silently, so say so instead.
      for (const auto& item : *list) {
        if (!item.IsScalar()) continue;
        auto cidr = common::parseIpPrefix(item.Scalar());
        if (cidr && std::find(shield.allow.begin(), shield.allow.end(), *cidr) !=
                        shield.allow.end()) {
          diag_.add(item, squote(cidr->toString()) + " is in both 'allow' and 'deny'",
                    "allow wins; remove one");
        }
      }
    }
    if (auto rates = f.get("rates")) {
      Fields r(diag_, *rates, "rates", {"syn", "udp", "icmp", "all"});
      if (auto n = r.get("syn")) parseRate(*n, "syn", shield.rates.syn);
      if (auto n = r.get("udp")) parseRate(*n, "udp", shield.rates.udp);
      if (auto n = r.get("icmp")) parseRate(*n, "icmp", shield.rates.icmp);
      if (auto n = r.get("all")) parseRate(*n, "all", shield.rates.all);
    }
    if (auto ports = f.get("ports")) {
      Fields p(diag_, *ports, "ports", {"tcp", "udp"});
      if (auto n = p.get("tcp")) portList(*n, "tcp", shield.ports.tcp);
      if (auto n = p.get("udp")) portList(*n, "udp", shield.ports.udp);
    }
    f.boolean("scanner_syn", shield.scanner_syn);
    f.choice("malformed", shield.malformed,
             {{"pass", MalformedAction::Pass}, {"drop", MalformedAction::Drop}});
    f.boolean("ban_ipv6_prefix64", shield.ban_ipv6_prefix64);
    f.integer("max_sources", shield.max_sources, 1, kMaxSources);
  }

  bool parseTenant(const YAML::Node& node, Tenant& tenant) {
    Fields f(diag_, node, "tenant", {"id", "labels", "removed_at", "sites"});
    if (!f.ok()) return false;
    if (auto id = f.require("id")) {
      if (auto text = readString(diag_, *id, "id")) {
        if (!isTenantId(*text)) {
          diag_.add(*id, "invalid tenant id " + squote(*text),
                    "use 1..63 of a-z, 0-9 and '-', starting with a letter or digit");
        } else if (*text == kHostTenant) {
          diag_.add(*id, "tenant id " + squote(*text) + " is reserved",
                    "mamori keeps its host-wide logs (audit, XDP drops) under it; pick another id");
        } else if (auto [prev, inserted] = tenant_ids_.emplace(*text, id->Mark()); !inserted) {
          diag_.add(*id, "duplicate tenant id " + squote(*text),
                    "first defined at " + position(prev->second));
        } else {
          tenant.id = *text;
        }
      }
    }
    if (auto labels = f.get("labels")) {
      forEachEntry(diag_, *labels, "labels",
                   [&](const std::string& key, const YAML::Node& key_node,
                       const YAML::Node& value) {
                     if (!isName(key)) {
                       diag_.add(key_node, "invalid label name " + squote(key),
                                 "use 1..63 of a-z, 0-9, '-', '.' and '_'");
                       return;
                     }
                     if (!value.IsScalar()) {
                       typeError(diag_, value, "a string", key);
                       return;
                     }
                     if (value.Scalar().size() > kMaxLabelValue) {
                       diag_.add(value, "label " + squote(key) + " is longer than 256 characters");
                       return;
                     }
                     tenant.labels.emplace(key, value.Scalar());
                   });
    }
    if (auto removed = f.get("removed_at")) {
      if (auto text = readString(diag_, *removed, "removed_at")) {
        if (auto at = parseTimestamp(*text)) {
          tenant.removed_at = *at;
        } else {
          diag_.add(*removed, "invalid timestamp " + squote(*text),
                    "use RFC 3339, e.g. 2025-01-31 or 2025-01-31T00:00:00Z");
        }
      }
    }
    if (auto sites = f.get("sites")) {
      if (expectList(diag_, *sites, "sites")) {
        for (const auto& item : *sites) {
          Site site;
          if (parseSite(item, site)) tenant.sites.push_back(std::move(site));
        }
      }
    }
    return true;
  }

  void parseHosts(const YAML::Node& node, std::string_view what, const std::string& site,
                  bool claim, std::vector<std::string>& out) {
    if (!expectList(diag_, node, what)) return;
    std::set<std::string> local;
    for (const auto& item : node) {
      auto text = readString(diag_, item, what);
      if (!text) continue;
      auto host = orReport(parseHostPattern(*text), item);
      if (!host) continue;
      if (!local.insert(*host).second) {
        diag_.add(item, "duplicate host " + squote(*host) + " in " + squote(what));
        continue;
      }
      if (claim) {
        // Hosts route requests to sites, so one host in two sites would make
        // the routing depend on file order.
        auto [prev, inserted] = hosts_.emplace(*host, Claim{site, item.Mark()});
        if (!inserted) {
          diag_.add(item, "host " + squote(*host) + " is already used by site " +
                              squote(prev->second.site),
                    "at " + position(prev->second.mark));
          continue;
        }
      }
      out.push_back(*host);
    }
  }

  bool parseSite(const YAML::Node& node, Site& site) {
    Fields f(diag_, node, "site",
             {"name", "hosts", "listeners", "certificates", "upstreams", "mode",
              "trusted_proxies", "block", "limits", "inspection", "login", "bots", "challenge",
              "under_attack", "flood"});
    if (!f.ok()) return false;
    if (auto name = f.require("name")) {
      if (auto text = readString(diag_, *name, "name")) {
        if (!isName(*text)) {
          diag_.add(*name, "invalid site name " + squote(*text),
                    "use 1..63 of a-z, 0-9, '-', '.' and '_', starting with a letter or digit");
        } else if (auto [prev, inserted] = site_names_.emplace(*text, name->Mark()); !inserted) {
          diag_.add(*name, "duplicate site name " + squote(*text),
                    "first defined at " + position(prev->second));
        } else {
          site.name = *text;
        }
      }
    }
    if (auto hosts = f.require("hosts")) {
      parseHosts(*hosts, "hosts", site.name, true, site.hosts);
      if (hosts->IsSequence() && hosts->size() == 0) {
        diag_.add(*hosts, "'hosts' is empty", "a site needs at least one host; \"*\" means any");
      }
    }

    // Certificates first: whether a TLS listener has one is checked below.
    if (auto certs = f.get("certificates")) {
      if (expectList(diag_, *certs, "certificates")) {
        for (const auto& item : *certs) {
          Fields c(diag_, item, "certificate", {"hosts", "cert", "key"});
          if (!c.ok()) continue;
          Certificate cert;
          if (auto hosts = c.get("hosts")) parseHosts(*hosts, "hosts", site.name, false, cert.hosts);
          auto cert_node = c.require("cert");
          auto key_node = c.require("key");
          std::optional<std::string> cert_path, key_path;
          if (cert_node) cert_path = inputFile(*cert_node, "cert", "certificate");
          if (key_node) key_path = inputFile(*key_node, "key", "private key");
          if (!cert_path || !key_path) continue;
          cert.cert = *cert_path;
          cert.key = *key_path;
          site.certificates.push_back(std::move(cert));
        }
      }
    }
    bool cert_errors = false;
    if (auto certs = f.get("certificates")) cert_errors = certs->IsSequence() &&
                                                          certs->size() != site.certificates.size();

    if (auto listeners = f.require("listeners")) {
      if (expectList(diag_, *listeners, "listeners")) {
        if (listeners->size() == 0) {
          diag_.add(*listeners, "'listeners' is empty", "a site needs at least one");
        }
        std::map<std::string, YAML::Mark> local;
        for (const auto& item : *listeners) {
          Fields l(diag_, item, "listener", {"address", "tls"});
          if (!l.ok()) continue;
          Listener listener;
          l.boolean("tls", listener.tls);
          auto address_node = l.require("address");
          if (!address_node) continue;
          auto address = endpoint(*address_node, "address", HostKind::IpOnly);
          if (!address) continue;
          listener.address = *address;
          std::string key = address->toString();
          if (auto [prev, inserted] = local.emplace(key, address_node->Mark()); !inserted) {
            diag_.add(*address_node, "duplicate listener " + key,
                      "first at " + position(prev->second));
            continue;
          }
          // Sites share a listening socket and are told apart by Host/SNI,
          // so the socket must be TLS for all of them or for none.
          auto [prev, inserted] =
              listeners_.emplace(key, ListenerClaim{listener.tls, site.name, address_node->Mark()});
          if (!inserted && prev->second.tls != listener.tls) {
            diag_.add(*address_node,
                      "listener " + key + " is " + (listener.tls ? "TLS" : "plain") +
                          " here but " + (prev->second.tls ? "TLS" : "plain") + " in site " +
                          squote(prev->second.site),
                      "at " + position(prev->second.mark));
            continue;
          }
          if (listener.tls && site.certificates.empty() && !cert_errors) {
            diag_.add(item, "TLS listener " + key + " has no certificate",
                      "add one under 'certificates'");
            continue;
          }
          site.listeners.push_back(std::move(listener));
        }
      }
    }

    if (auto upstreams = f.require("upstreams")) {
      if (expectList(diag_, *upstreams, "upstreams")) {
        if (upstreams->size() == 0) {
          diag_.add(*upstreams, "'upstreams' is empty", "a site needs at least one");
        }
        for (const auto& item : *upstreams) {
          Fields u(diag_, item, "upstream", {"address", "weight"});
          if (!u.ok()) continue;
          Upstream upstream;
          u.integer("weight", upstream.weight, 1, kMaxWeight);
          auto address_node = u.require("address");
          if (!address_node) continue;
          auto address = endpoint(*address_node, "address", HostKind::IpOrName);
          if (!address) continue;
          upstream.address = *address;
          site.upstreams.push_back(std::move(upstream));
        }
      }
    }

    f.choice("mode", site.mode, {{"block", SiteMode::Block}, {"detect", SiteMode::Detect}});
    if (auto list = f.get("trusted_proxies")) {
      cidrList(*list, "trusted_proxies", site.trusted_proxies);
    }
    if (auto block = f.get("block")) {
      Fields b(diag_, *block, "block", {"status", "page"});
      b.integer("status", site.block.status, 400, 599);
      if (auto page = b.get("page")) {
        if (auto path = inputFile(*page, "page", "block page")) site.block.page = *path;
      }
    }
    if (auto limits = f.get("limits")) parseLimits(*limits, site.limits);
    if (auto inspection = f.get("inspection")) parseInspection(*inspection, site.inspection);
    if (auto login = f.get("login")) parseLogin(*login, site.login.emplace());
    if (auto bots = f.get("bots")) parseSiteBots(*bots, site.bots.emplace());
    if (auto challenge = f.get("challenge")) parseChallenge(*challenge, site.challenge.emplace());
    if (auto ua = f.get("under_attack")) parseUnderAttack(*ua, site.under_attack.emplace());
    if (auto flood = f.get("flood")) parseFlood(*flood, site.flood.emplace());
    return true;
  }

  // --- bots: (docs/bots.md; guard/bot_types.h has the semantics) ---

  void parseBotsHost(const YAML::Node& node, BotsHostConfig& bots) {
    Fields f(diag_, node, "bots",
             {"dir", "resolver", "resolver_timeout", "rdns_cache_entries", "rdns_positive_ttl",
              "rdns_negative_ttl", "sources"});
    if (!f.ok()) return;
    if (auto dir = f.get("dir")) {
      if (auto path = absolutePath(*dir, "dir")) bots.dir = *path;
    }
    if (auto r = f.get("resolver")) {
      if (auto text = readString(diag_, *r, "resolver")) {
        // IPv4 only: glibc's resolver state holds IPv4 server addresses.
        std::string ip = *text;
        std::string port;
        if (auto colon = ip.rfind(':'); colon != std::string::npos) {
          port = ip.substr(colon + 1);
          ip = ip.substr(0, colon);
        }
        auto parsed = parseIpAddress(ip);
        bool port_ok = port.empty() || (port.size() <= 5 &&
                                        std::all_of(port.begin(), port.end(), ::isdigit) &&
                                        std::stoul(port) >= 1 && std::stoul(port) <= 65535);
        if (!parsed || parsed->family != AddressFamily::Ipv4 || !port_ok) {
          diag_.add(*r, "invalid resolver " + squote(*text),
                    "an IPv4 address with an optional port, e.g. 127.0.0.1:53");
        } else {
          bots.resolver = *text;
        }
      }
    }
    f.duration("resolver_timeout", bots.resolver_timeout, seconds(1), seconds(30));
    // 2^24 entries: well past any deployment, short of a typo's gigabytes.
    f.integer("rdns_cache_entries", bots.rdns_cache_entries, 1, int64_t{1} << 24);
    f.duration("rdns_positive_ttl", bots.rdns_positive_ttl, seconds(60), seconds(7 * 24 * 3600));
    f.duration("rdns_negative_ttl", bots.rdns_negative_ttl, seconds(10), seconds(7 * 24 * 3600));
    f.integer("sources", bots.sources, 1, int64_t{1} << 24);
  }

  void parseSiteBots(const YAML::Node& node, SiteBotsConfig& bots) {
    Fields f(diag_, node, "bots", {"enabled", "actions", "ban_ttl", "behaviour", "ipv6_prefix64"});
    if (!f.ok()) return;
    f.boolean("enabled", bots.enabled);
    f.boolean("ipv6_prefix64", bots.ipv6_prefix64);
    if (auto actions = f.get("actions")) {
      static const std::vector<std::string_view> kClasses = {
          "verified_good", "unverified_good_claim", "fake_good_bot", "scanner",
          "tool",          "inconsistent",          "behaviour"};
      static const std::vector<std::string_view> kActions = {"allow", "log", "challenge", "block",
                                                             "ban"};
      forEachEntry(diag_, *actions, "actions",
                   [&](const std::string& key, const YAML::Node& key_node,
                       const YAML::Node& value) {
                     if (std::find(kClasses.begin(), kClasses.end(), key) == kClasses.end()) {
                       auto guess = closestMatch(key, kClasses);
                       diag_.add(key_node, "unknown bot class " + squote(key),
                                 guess.empty() ? "known classes: " + joinNames(kClasses)
                                               : "did you mean " + squote(guess) + "?");
                       return;
                     }
                     if (!value.IsScalar() ||
                         std::find(kActions.begin(), kActions.end(), value.Scalar()) ==
                             kActions.end()) {
                       diag_.add(value, "invalid action " + squote(value.IsScalar() ? value.Scalar() : "") +
                                            " for bot class " + squote(key),
                                 "expected one of: " + joinNames(kActions));
                       return;
                     }
                     bots.actions[key] = value.Scalar();
                   });
    }
    f.duration("ban_ttl", bots.ban_ttl, seconds(1), seconds(30 * 24 * 3600));
    if (auto b = f.get("behaviour")) {
      Fields h(diag_, *b, "behaviour",
               {"window", "max_requests", "max_paths", "max_4xx_percent", "min_responses",
                "max_cookieless"});
      if (!h.ok()) return;
      h.duration("window", bots.behaviour.window, seconds(1), seconds(3600));
      // 0 turns a check off; 60000: the per-bucket counts are 16-bit
      // (guard/window_table.h).
      h.integer("max_requests", bots.behaviour.max_requests, 0, 60000);
      h.integer("max_paths", bots.behaviour.max_paths, 0, 600);
      h.integer("max_4xx_percent", bots.behaviour.max_4xx_percent, 0, 100);
      h.integer("min_responses", bots.behaviour.min_responses, 1, 60000);
      h.integer("max_cookieless", bots.behaviour.max_cookieless, 0, 60000);
    }
  }

  // --- challenge: and under_attack: (docs/challenge.md) ---

  void parseChallenge(const YAML::Node& node, ChallengeConfig& challenge) {
    Fields f(diag_, node, "challenge", {"difficulty", "clearance_ttl", "key_rotation"});
    if (!f.ok()) return;
    f.integer("difficulty", challenge.difficulty, 1, 32);
    f.duration("clearance_ttl", challenge.clearance_ttl, seconds(10), seconds(7 * 24 * 3600));
    f.duration("key_rotation", challenge.key_rotation, seconds(60), seconds(30 * 24 * 3600));
    if (challenge.clearance_ttl > challenge.key_rotation * (kChallengeKeySlots - 1)) {
      auto at = f.get("clearance_ttl").value_or(node);
      diag_.add(at,
                "clearance_ttl " + std::to_string(challenge.clearance_ttl.count()) +
                    "s outlives the signing keys: at most " +
                    std::to_string(kChallengeKeySlots - 1) + " x key_rotation (" +
                    std::to_string(challenge.key_rotation.count() * (kChallengeKeySlots - 1)) +
                    "s) is kept",
                "shorten clearance_ttl or lengthen key_rotation");
    }
  }

  void parseUnderAttack(const YAML::Node& node, UnderAttackConfig& ua) {
    Fields f(diag_, node, "under_attack", {"enabled", "auto"});
    if (!f.ok()) return;
    f.boolean("enabled", ua.enabled);
    if (auto a = f.get("auto")) {
      Fields af(diag_, *a, "auto", {"requests_per_second", "duration"});
      if (!af.ok()) return;
      UnderAttackAuto out;
      if (auto rps = af.require("requests_per_second")) {
        if (auto v = readInteger(diag_, *rps, "requests_per_second", 1, 1'000'000'000))
          out.requests_per_second = static_cast<uint64_t>(*v);
      }
      af.duration("duration", out.duration, seconds(10), seconds(7 * 24 * 3600));
      if (out.requests_per_second > 0) ua.automatic = out;
    }
  }

  // A list of rule ids: [942100, 941110].
  void ruleIds(const YAML::Node& node, std::string_view what, std::vector<uint32_t>& out) {
    if (!expectList(diag_, node, what)) return;
    for (const auto& item : node) {
      if (auto id = readInteger(diag_, item, "rule id", 1, 999'999'999))
        out.push_back(static_cast<uint32_t>(*id));
    }
  }

  void parseInspection(const YAML::Node& node, InspectionConfig& inspection) {
    Fields f(diag_, node, "inspection",
             {"enabled", "paranoia", "threshold", "on_budget", "exclude_rules", "exclude_tags",
              "exclusions"});
    if (!f.ok()) return;
    f.boolean("enabled", inspection.enabled);
    f.integer("paranoia", inspection.paranoia, 1, 4);
    f.integer("threshold", inspection.threshold, 1, 10000);
    f.choice("on_budget", inspection.block_on_budget, {{"block", true}, {"pass", false}});
    if (auto ids = f.get("exclude_rules")) ruleIds(*ids, "exclude_rules", inspection.exclude_rules);
    if (auto tags = f.get("exclude_tags")) {
      if (expectList(diag_, *tags, "exclude_tags")) {
        for (const auto& item : *tags) {
          if (auto tag = readString(diag_, item, "tag")) inspection.exclude_tags.push_back(*tag);
        }
      }
    }
    if (auto list = f.get("exclusions")) {
      if (!expectList(diag_, *list, "exclusions")) return;
      for (const auto& item : *list) {
        Fields e(diag_, item, "exclusion", {"path_prefix", "target", "rules"});
        if (!e.ok()) continue;
        InspectionExclusion ex;
        e.string("path_prefix", ex.path_prefix);
        e.string("target", ex.target);
        if (auto ids = e.require("rules")) ruleIds(*ids, "rules", ex.rules);
        if (ex.path_prefix.empty() == ex.target.empty()) {
          diag_.add(item, "an exclusion needs exactly one of 'path_prefix' and 'target'",
                    "e.g. {path_prefix: /admin/, rules: [942100]}");
          continue;
        }
        if (!ex.path_prefix.empty() && ex.path_prefix.front() != '/') {
          diag_.add(item, "'path_prefix' must start with '/'");
          continue;
        }
        inspection.exclusions.push_back(std::move(ex));
      }
    }
  }

  // --- flood: (docs/l7-dos.md; guard/flood_limiter.h has the semantics) ---

  void parseFlood(const YAML::Node& node, FloodConfig& flood) {
    Fields f(diag_, node, "flood",
             {"enabled", "detection_only", "per_ip", "per_prefix", "per_path", "per_site", "ban",
              "allow", "tables"});
    if (!f.ok()) return;
    f.boolean("enabled", flood.enabled);
    f.boolean("detection_only", flood.detection_only);
    auto rate = [&](const char* key, FloodRateConfig& out) {
      auto entry = f.get(key);
      if (!entry) return;
      Fields r(diag_, *entry, key, {"requests", "window"});
      if (!r.ok()) return;
      if (auto n = r.get("requests")) {
        // 60000: the per-bucket counts are 16-bit (guard/window_table.h).
        if (auto v = readInteger(diag_, *n, "requests", 0, 60000))
          out.requests = static_cast<uint32_t>(*v);
      }
      if (auto w = r.get("window")) {
        if (auto v = readDuration(diag_, *w, "window", seconds(1), seconds(24 * 3600)))
          out.window = *v;
      }
    };
    rate("per_ip", flood.per_ip);
    rate("per_prefix", flood.per_prefix);
    rate("per_path", flood.per_path);
    rate("per_site", flood.per_site);
    if (auto ban = f.get("ban")) {
      Fields b(diag_, *ban, "ban", {"after", "window", "ttl", "ipv6_prefix64"});
      if (b.ok()) {
        b.boolean("ipv6_prefix64", flood.ban_ipv6_prefix64);
        if (auto n = b.get("after")) {
          if (auto v = readInteger(diag_, *n, "after", 0, 60000))
            flood.ban_after = static_cast<uint32_t>(*v);
        }
        if (auto w = b.get("window")) {
          if (auto v = readDuration(diag_, *w, "window", seconds(1), seconds(24 * 3600)))
            flood.ban_window = *v;
        }
        if (auto t = b.get("ttl")) {
          if (auto v = readDuration(diag_, *t, "ttl", seconds(1), seconds(365 * 24 * 3600)))
            flood.ban_ttl = *v;
        }
      }
    }
    if (auto list = f.get("allow")) cidrList(*list, "allow", flood.allow);
    if (auto tables = f.get("tables")) {
      Fields t(diag_, *tables, "tables", {"sources", "prefixes", "paths"});
      // 2^26 entries: a table of several GiB is a typo, not a deployment.
      constexpr int64_t kMaxEntries = int64_t{1} << 26;
      auto entries = [&](std::string_view key, std::optional<uint64_t>& out) {
        if (auto n = t.get(key)) {
          if (auto v = readInteger(diag_, *n, key, 1, kMaxEntries)) out = static_cast<uint64_t>(*v);
        }
      };
      if (t.ok()) {
        entries("sources", flood.table_sources);
        entries("prefixes", flood.table_prefixes);
        entries("paths", flood.table_paths);
      }
    }
  }

  // --- login: (docs/login-abuse.md; guard/types.h has the semantics) ---

  void parseLogin(const YAML::Node& node, LoginConfig& login) {
    Fields f(diag_, node, "login",
             {"detection_only", "usernames", "username_case_insensitive", "allow", "routes",
              "limits", "takeover_after_failures", "source_ladder", "username_ladder",
              "ban_ttls", "offender_memory", "ban_ipv6_prefix64", "locked_status", "tables"});
    if (!f.ok()) return;
    f.boolean("detection_only", login.detection_only);
    f.choice("usernames", login.usernames_clear, {{"hashed", false}, {"clear", true}});
    f.boolean("username_case_insensitive", login.username_case_insensitive);
    if (auto list = f.get("allow")) cidrList(*list, "allow", login.allow);
    if (auto routes = f.get("routes")) {
      if (expectList(diag_, *routes, "routes")) {
        for (const auto& item : *routes) {
          LoginRoute route;
          if (parseLoginRoute(item, route)) login.routes.push_back(std::move(route));
        }
      }
    }
    if (auto limits = f.get("limits")) {
      Fields l(diag_, *limits, "limits",
               {"failures_per_ip", "failures_per_user", "failures_per_user_ip",
                "distinct_users_per_ip", "distinct_ips_per_user", "failures_per_v4_24",
                "failures_per_v6_64", "takeover_after_failures"});
      if (l.ok()) {
        for (const char* counter :
             {"failures_per_ip", "failures_per_user", "failures_per_user_ip",
              "distinct_users_per_ip", "distinct_ips_per_user", "failures_per_v4_24",
              "failures_per_v6_64"}) {
          auto entry = l.get(counter);
          if (!entry) continue;
          Fields c(diag_, *entry, counter, {"threshold", "window", "enabled"});
          if (!c.ok()) continue;
          LoginLimit limit;
          if (auto t = c.get("threshold")) {
            // 60000: the per-bucket counts are 16-bit (guard/window_table.h).
            if (auto v = readInteger(diag_, *t, "threshold", 1, 60000))
              limit.threshold = static_cast<uint32_t>(*v);
          }
          if (auto w = c.get("window")) {
            if (auto v = readDuration(diag_, *w, "window", seconds(1), seconds(24 * 3600)))
              limit.window = *v;
          }
          if (auto e = c.get("enabled")) {
            if (auto v = readBool(diag_, *e, "enabled")) limit.enabled = *v;
          }
          login.limits[counter] = limit;
        }
        if (auto t = l.get("takeover_after_failures")) {
          if (auto v = readInteger(diag_, *t, "takeover_after_failures", 0, 60000))
            login.takeover_after_failures = static_cast<uint32_t>(*v);
        }
      }
    }
    if (auto t = f.get("takeover_after_failures")) {
      if (auto v = readInteger(diag_, *t, "takeover_after_failures", 0, 60000))
        login.takeover_after_failures = static_cast<uint32_t>(*v);
    }
    if (auto ladder = f.get("source_ladder")) {
      login.source_ladder = parseLadder(*ladder, "source_ladder", false);
    }
    if (auto ladder = f.get("username_ladder")) {
      login.username_ladder = parseLadder(*ladder, "username_ladder", true);
    }
    if (auto ttls = f.get("ban_ttls")) {
      if (expectList(diag_, *ttls, "ban_ttls")) {
        std::vector<seconds> out;
        for (const auto& item : *ttls) {
          if (auto v = readDuration(diag_, item, "ban_ttls", seconds(1), seconds(365 * 24 * 3600)))
            out.push_back(*v);
        }
        if (ttls->size() == 0) {
          diag_.add(*ttls, "'ban_ttls' is empty", "give at least one TTL, e.g. [10m, 1h, 1d]");
        } else {
          login.ban_ttls = std::move(out);
        }
      }
    }
    if (auto m = f.get("offender_memory")) {
      if (auto v = readDuration(diag_, *m, "offender_memory", seconds(60),
                                seconds(365 * 24 * 3600)))
        login.offender_memory = *v;
    }
    f.boolean("ban_ipv6_prefix64", login.ban_ipv6_prefix64);
    f.integer("locked_status", login.locked_status, 400, 599);
    if (auto tables = f.get("tables")) {
      Fields t(diag_, *tables, "tables", {"counters", "distinct", "blocks", "locks", "offenders"});
      // 2^26 entries: a table of over 3 GiB is a typo, not a deployment.
      constexpr int64_t kMaxEntries = int64_t{1} << 26;
      auto entries = [&](std::string_view key, std::optional<uint64_t>& out) {
        if (auto n = t.get(key)) {
          if (auto v = readInteger(diag_, *n, key, 1, kMaxEntries)) out = static_cast<uint64_t>(*v);
        }
      };
      if (t.ok()) {
        entries("counters", login.tables.counters);
        entries("distinct", login.tables.distinct);
        entries("blocks", login.tables.blocks);
        entries("locks", login.tables.locks);
        entries("offenders", login.tables.offenders);
      }
    }
  }

  bool parseLoginRoute(const YAML::Node& node, LoginRoute& route) {
    Fields f(diag_, node, "route",
             {"preset", "name", "path", "match", "method", "username", "failure", "success"});
    if (!f.ok()) return false;
    size_t errors_before = diag_.count();
    // A route that names a preset (even a misspelt one) gets its path and
    // rules from it: no second message about them.
    const bool has_preset = f.get("preset").has_value();
    if (auto preset = f.get("preset")) {
      if (auto text = readString(diag_, *preset, "preset")) {
        // The presets guard ships (guard::parsePreset); daemon's test keeps
        // this list and guard's in step.
        if (*text != "generic_form_401" && *text != "wordpress" && *text != "json_api_ok_false") {
          diag_.add(*preset, "unknown login preset " + squote(*text),
                    "expected one of: generic_form_401, wordpress, json_api_ok_false");
        } else {
          route.preset = *text;
        }
      }
    }
    f.string("name", route.name);
    LoginPathMatch match = LoginPathMatch::Exact;
    if (f.get("match")) {
      f.choice("match", match,
               {{"exact", LoginPathMatch::Exact}, {"prefix", LoginPathMatch::Prefix},
                {"glob", LoginPathMatch::Glob}});
      route.match = match;
    }
    auto path_node = has_preset ? f.get("path") : f.require("path");
    if (path_node) {
      if (auto text = readString(diag_, *path_node, "path")) {
        if (match != LoginPathMatch::Glob && text->front() != '/') {
          diag_.add(*path_node, "login path " + squote(*text) + " must start with '/'");
        } else {
          route.path = *text;
        }
      }
    }
    if (auto method = f.get("method")) {
      if (auto text = readString(diag_, *method, "method")) route.method = *text;
    }
    if (auto user = f.get("username")) {
      if (user->IsScalar() && user->Scalar() == "none") {
        route.username_source = LoginUsernameSource::None;
      } else {
        Fields u(diag_, *user, "username", {"form", "json", "basic"});
        if (u.ok()) {
          int given = 0;
          if (auto form = u.get("form")) {
            if (auto text = readString(diag_, *form, "form")) {
              route.username_source = LoginUsernameSource::Form;
              route.username_field = *text;
            }
            ++given;
          }
          if (auto json = u.get("json")) {
            if (auto text = readString(diag_, *json, "json")) {
              if (text->front() != '/') {
                diag_.add(*json, "JSON pointer " + squote(*text) + " must start with '/'",
                          "RFC 6901, e.g. /user/email");
              } else {
                route.username_source = LoginUsernameSource::Json;
                route.username_field = *text;
              }
            }
            ++given;
          }
          if (auto basic = u.get("basic")) {
            if (auto v = readBool(diag_, *basic, "basic"); v && *v)
              route.username_source = LoginUsernameSource::Basic;
            ++given;
          }
          if (given != 1) {
            diag_.add(*user, "'username' needs exactly one of 'form', 'json' or 'basic'",
                      "or the word none");
          }
        }
      }
    }
    if (auto rules = f.get("failure")) route.failure = parseOutcomeRules(*rules, "failure");
    if (auto rules = f.get("success")) route.success = parseOutcomeRules(*rules, "success");
    if (!has_preset && !route.failure && diag_.count() == errors_before) {
      diag_.add(node, "a login route without a preset needs 'failure' rules",
                "e.g. failure: [{status: [401, 403]}]");
    }
    return diag_.count() == errors_before;
  }

  std::vector<LoginOutcomeRule> parseOutcomeRules(const YAML::Node& node, std::string_view what) {
    std::vector<LoginOutcomeRule> out;
    if (!expectList(diag_, node, what)) return out;
    for (const auto& item : node) {
      Fields f(diag_, item, what,
               {"status", "location_prefix", "location_contains", "header", "body_contains",
                "json"});
      if (!f.ok()) continue;
      const size_t errors_before = diag_.count();
      LoginOutcomeRule rule;
      if (auto status = f.get("status")) {
        if (status->IsScalar()) {
          if (auto v = readInteger(diag_, *status, "status", 100, 599))
            rule.status.push_back(static_cast<uint16_t>(*v));
        } else if (expectList(diag_, *status, "status")) {
          for (const auto& s : *status) {
            if (auto v = readInteger(diag_, s, "status", 100, 599))
              rule.status.push_back(static_cast<uint16_t>(*v));
          }
        }
      }
      f.string("location_prefix", rule.location_prefix);
      f.string("location_contains", rule.location_contains);
      f.string("body_contains", rule.body_contains);
      if (auto header = f.get("header")) {
        Fields h(diag_, *header, "header", {"name", "contains"});
        if (h.ok()) {
          LoginHeaderTest test;
          auto name = h.require("name");
          auto contains = h.require("contains");
          if (name && contains) {
            auto n = readString(diag_, *name, "name");
            auto c = readString(diag_, *contains, "contains");
            if (n && c) rule.header = LoginHeaderTest{*n, *c};
          }
        }
      }
      if (auto json = f.get("json")) {
        Fields j(diag_, *json, "json", {"pointer", "equals"});
        if (j.ok()) {
          auto pointer = j.require("pointer");
          auto equals = j.require("equals");
          if (pointer && equals) {
            auto p = readString(diag_, *pointer, "pointer");
            // equals may be empty text (an empty JSON string), so read it raw.
            if (!equals->IsScalar()) {
              typeError(diag_, *equals, "a scalar", "equals");
            } else if (p && p->front() != '/') {
              diag_.add(*pointer, "JSON pointer " + squote(*p) + " must start with '/'");
            } else if (p) {
              rule.json = LoginJsonTest{*p, equals->Scalar()};
            }
          }
        }
      }
      if (diag_.count() != errors_before) continue;
      if (rule.status.empty() && rule.location_prefix.empty() && rule.location_contains.empty() &&
          !rule.header && rule.body_contains.empty() && !rule.json) {
        diag_.add(item, "this " + std::string(what) + " rule tests nothing",
                  "set status, location_prefix, location_contains, header, body_contains or json");
        continue;
      }
      out.push_back(std::move(rule));
    }
    return out;
  }

  std::vector<LoginLadderStep> parseLadder(const YAML::Node& node, std::string_view what,
                                           bool username) {
    std::vector<LoginLadderStep> out;
    if (!expectList(diag_, node, what)) return out;
    uint32_t last = 0;
    for (const auto& item : node) {
      Fields f(diag_, item, what, {"excess", "action", "delay_ms", "duration"});
      if (!f.ok()) continue;
      LoginLadderStep step;
      auto excess = f.require("excess");
      auto action = f.require("action");
      if (!excess || !action) continue;
      auto e = readInteger(diag_, *excess, "excess", 1, 60000);
      if (!e) continue;
      if (static_cast<uint32_t>(*e) <= last) {
        diag_.add(*excess, "'excess' must grow from one step to the next",
                  "the previous step has excess " + std::to_string(last));
        continue;
      }
      step.excess = last = static_cast<uint32_t>(*e);
      step.action = static_cast<LoginAction>(-1);
      if (username) {
        f.choice("action", step.action,
                 {{"log", LoginAction::Log}, {"delay", LoginAction::Delay},
                  {"lock_username", LoginAction::LockUsername}});
      } else {
        f.choice("action", step.action,
                 {{"log", LoginAction::Log}, {"delay", LoginAction::Delay},
                  {"too_many_requests", LoginAction::TooManyRequests},
                  {"block_source", LoginAction::BlockSource},
                  {"ban_source", LoginAction::BanSource}});
      }
      if (step.action == static_cast<LoginAction>(-1)) continue;
      if (step.action == LoginAction::Delay) {
        int64_t ms = 0;
        if (auto d = f.require("delay_ms")) {
          if (auto v = readInteger(diag_, *d, "delay_ms", 1, 60000)) ms = *v;
        }
        if (ms == 0) continue;
        step.delay = std::chrono::milliseconds(ms);
      } else if (step.action == LoginAction::TooManyRequests ||
                 step.action == LoginAction::BlockSource ||
                 step.action == LoginAction::LockUsername) {
        seconds d{0};
        f.duration("duration", d, seconds(1), seconds(365 * 24 * 3600));
        if (d == seconds(0)) {
          if (!f.get("duration")) f.require("duration");
          continue;
        }
        step.duration = d;
      }
      out.push_back(step);
    }
    return out;
  }

  void parseLimits(const YAML::Node& node, SiteLimits& limits) {
    Fields f(diag_, node, "limits",
             {"max_body_bytes", "body_over_limit", "max_request_line", "max_header_bytes",
              "max_headers", "header_timeout", "body_timeout", "idle_timeout",
              "upstream_connect_timeout", "upstream_read_timeout", "max_conns_per_source"});
    if (!f.ok()) return;
    if (auto size = f.get("max_body_bytes")) {
      if (!size->IsScalar()) {
        typeError(diag_, *size, "a size", "max_body_bytes");
      } else if (auto bytes = orReport(parseByteSize(size->Scalar()), *size)) {
        if (*bytes > kMaxBodyBytes) {
          diag_.add(*size, "'max_body_bytes' out of range: " + size->Scalar(),
                    "allowed 0..1GiB");
        } else {
          limits.max_body_bytes = *bytes;
        }
      }
    }
    f.choice("body_over_limit", limits.body_over_limit,
             {{"reject", BodyOverLimit::Reject}, {"inspect_prefix", BodyOverLimit::InspectPrefix}});
    f.integer("max_request_line", limits.max_request_line, 256, 1 << 20);
    f.integer("max_header_bytes", limits.max_header_bytes, 1024, 1 << 20);
    f.integer("max_headers", limits.max_headers, 1, 10000);
    f.duration("header_timeout", limits.header_timeout, kMinTimeout, kMaxTimeout);
    f.duration("body_timeout", limits.body_timeout, kMinTimeout, kMaxTimeout);
    f.duration("idle_timeout", limits.idle_timeout, kMinTimeout, kMaxTimeout);
    f.duration("upstream_connect_timeout", limits.upstream_connect_timeout, kMinTimeout,
               kMaxTimeout);
    f.duration("upstream_read_timeout", limits.upstream_read_timeout, kMinTimeout, kMaxTimeout);
    f.integer("max_conns_per_source", limits.max_conns_per_source, 1, 1'000'000);
  }

  struct Claim {
    std::string site;
    YAML::Mark mark;
  };
  struct ListenerClaim {
    bool tls;
    std::string site;
    YAML::Mark mark;
  };

  Diagnostics& diag_;
  const LoadOptions& options_;
  std::map<std::string, YAML::Mark> tenant_ids_;
  std::map<std::string, YAML::Mark> site_names_;
  std::map<std::string, Claim> hosts_;
  std::map<std::string, ListenerClaim> listeners_;
};

Result<Config> loadWithOptions(std::string_view yaml, const std::string& name,
                               const LoadOptions& options) {
  Diagnostics diag(name);
  try {
    const std::string text(yaml);
    YAML::Mark second;
    if (common::countYamlDocuments(text, &second) > 1) {
      diag.add(second, "more than one YAML document", "remove the '---' separator");
      return diag.toError();
    }
    YAML::Node document = YAML::Load(text);
    if (!document.IsDefined() || document.IsNull()) {
      diag.add(YAML::Mark(), "the config is empty",
               "expected a mapping with keys such as 'shield' and 'tenants'");
      return diag.toError();
    }
    ConfigParser parser(diag, options);
    Config config = parser.parse(document);
    if (!diag.empty()) return diag.toError();
    return config;
  } catch (const YAML::Exception& e) {
    // ParserException and friends carry the position of the bad token.
    diag.add(e.mark, "invalid YAML: " + e.msg);
    return diag.toError();
  } catch (const std::exception& e) {
    // bad_alloc and the like: still a Result, never an escaping exception.
    return Error{EINVAL, name + ": cannot load config: " + e.what()};
  }
}

void addQuickError(std::vector<std::string>& errors, std::string_view field,
                   const std::string& message) {
  errors.push_back(std::string(field) + ": " + message);
}

}  // namespace

std::string checkReadableFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return std::strerror(errno);
  struct stat st {};
  std::string problem;
  if (::fstat(fd, &st) != 0) {
    problem = std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    problem = "not a regular file";
  }
  ::close(fd);
  return problem;
}

Result<Config> loadConfigString(std::string_view yaml, const std::string& name_for_errors,
                                const LoadOptions& options) {
  if (yaml.size() > kMaxConfigBytes) {
    return Error{EFBIG, name_for_errors + ": config larger than 16 MiB"};
  }
  return loadWithOptions(yaml, name_for_errors, options);
}

Result<Config> loadConfigFile(const std::string& path, const LoadOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return common::errnoError("cannot open config " + path, errno ? errno : ENOENT);
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) {
      return Error{EFBIG, path + ": config larger than 16 MiB"};
    }
  }
  if (in.bad()) return common::errnoError("cannot read config " + path, errno ? errno : EIO);
  LoadOptions resolved = options;
  if (resolved.base_dir.empty()) {
    resolved.base_dir = std::filesystem::path(path).parent_path().string();
    if (resolved.base_dir.empty()) resolved.base_dir = ".";
  }
  return loadWithOptions(text, path, resolved);
}

Result<Config> quickStartConfig(const QuickStart& quick, const LoadOptions& options) {
  std::vector<std::string> errors;
  Config config;
  if (quick.workers > kMaxWorkers) {
    addQuickError(errors, "workers",
                  "out of range: " + std::to_string(quick.workers) + " (allowed 0..1024)");
  }
  config.workers = quick.workers;
  if (auto metrics = parseEndpoint(quick.metrics_listen, HostKind::IpOnly)) {
    config.metrics.listen = *metrics;
  } else {
    addQuickError(errors, "metrics_listen", metrics.error().message);
  }
  std::set<std::string> interfaces;
  for (const auto& name : quick.xdp_interfaces) {
    if (auto problem = interfaceNameProblem(name); !problem.empty()) {
      addQuickError(errors, "xdp_interfaces", problem);
    } else if (!interfaces.insert(name).second) {
      addQuickError(errors, "xdp_interfaces", "duplicate interface " + squote(name));
    } else {
      config.shield.interfaces.push_back(name);
    }
  }

  Site site;
  site.name = "default";
  site.hosts = {std::string(kAnyHost)};
  Listener listener;
  if (auto listen = parseEndpoint(quick.listen, HostKind::IpOnly)) {
    listener.address = *listen;
  } else {
    addQuickError(errors, "listen", listen.error().message);
  }
  if (quick.tls_cert.has_value() != quick.tls_key.has_value()) {
    addQuickError(errors, quick.tls_cert ? "tls_key" : "tls_cert",
                  "TLS needs both a certificate and a key");
  } else if (quick.tls_cert) {
    listener.tls = true;
    Certificate cert;
    cert.cert = resolvePath(*quick.tls_cert, options.base_dir);
    cert.key = resolvePath(*quick.tls_key, options.base_dir);
    for (auto [field, path] : {std::pair{"tls_cert", &cert.cert}, std::pair{"tls_key", &cert.key}}) {
      if (path->empty()) {
        addQuickError(errors, field, "empty path");
      } else if (options.check_file) {
        if (auto problem = options.check_file(*path); !problem.empty()) {
          addQuickError(errors, field, "cannot read " + squote(*path) + ": " + problem);
        }
      }
    }
    site.certificates.push_back(std::move(cert));
  }
  site.listeners.push_back(std::move(listener));
  Upstream upstream;
  if (auto address = parseEndpoint(quick.upstream, HostKind::IpOrName)) {
    upstream.address = *address;
  } else {
    addQuickError(errors, "upstream", address.error().message);
  }
  site.upstreams.push_back(std::move(upstream));

  if (!errors.empty()) {
    std::string joined;
    for (const auto& e : errors) joined += (joined.empty() ? "" : "\n") + e;
    return Error{EINVAL, joined};
  }
  Tenant tenant;
  tenant.id = "default";
  tenant.sites.push_back(std::move(site));
  config.tenants.push_back(std::move(tenant));
  return config;
}

}  // namespace mamori::config
