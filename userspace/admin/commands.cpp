#include "admin/commands.h"

#include <algorithm>
#include <map>
#include <optional>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <streambuf>
#include <thread>

#include "common/duration.h"
#include "logs/time_zone.h"

namespace mamori::admin {

using common::IpPrefix;

std::string underAttackText(const UnderAttackInfo& u) {
  if (!u.on) return u.reason == "cli" ? "off (cli)" : "off";
  if (u.reason == "auto") return "on (auto, " + std::to_string(u.auto_remaining_s) + "s left)";
  return "on (" + u.reason + ")";
}

std::string jsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

namespace {

std::string jsonStrings(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + jsonString(items[i]);
  return out + "]";
}

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::string pad(std::string text, size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

// One command invocation: the arguments without global options, the output
// mode and the streams.
class Context {
 public:
  Context(Call& call, Services& services) : call_(call), services_(services) {}

  Call& call() { return call_; }
  Services& services() { return services_; }
  std::vector<std::string>& args() { return args_; }
  bool json() const { return json_; }

  // Strips --output; returns false (after a usage error) on a bad value.
  bool parseGlobalOptions() {
    const auto& in = call_.args();
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] == "--output") {
        if (i + 1 >= in.size()) return usage("--output needs a value (text or json)") == 0;
        const std::string& v = in[++i];
        if (v != "text" && v != "json")
          return usage("unknown output format '" + v + "' (text or json)") == 0;
        json_ = v == "json";
      } else {
        args_.push_back(in[i]);
      }
    }
    return true;
  }

  int usage(const std::string& message) {
    call_.err("mamorictl: " + message + "\nTry 'mamorictl --help'.\n");
    return 2;
  }
  int failed(const common::Error& error) {
    call_.err("mamorictl: " + error.message + "\n");
    return 1;
  }
  int ok(const std::string& message) {
    if (json_) call_.out("{\"ok\":true,\"message\":" + jsonString(message) + "}\n");
    else call_.out(message + "\n");
    return 0;
  }
  void out(const std::string& text) { call_.out(text); }

 private:
  Call& call_;
  Services& services_;
  std::vector<std::string> args_;
  bool json_ = false;
};

std::string engineJson(const net::EngineStats& s) {
  std::string out;
#define MAMORI_ENGINE_JSON(name) \
  out += std::string(out.empty() ? "{" : ",") + "\"" #name "\":" + std::to_string(s.name);
  MAMORI_NET_COUNTERS(MAMORI_ENGINE_JSON)
#undef MAMORI_ENGINE_JSON
  return out + "}";
}

std::string engineText(const net::EngineStats& s) {
  std::string out;
#define MAMORI_ENGINE_TEXT(name) out += pad("  " #name, 30) + std::to_string(s.name) + "\n";
  MAMORI_NET_COUNTERS(MAMORI_ENGINE_TEXT)
#undef MAMORI_ENGINE_TEXT
  return out;
}

std::string shieldJson(const shield::Counters& c) {
  std::string out = "{\"passed\":{\"packets\":" + std::to_string(c.totalPassed().packets) +
                    ",\"bytes\":" + std::to_string(c.totalPassed().bytes) +
                    "},\"dropped\":{\"packets\":" + std::to_string(c.totalDropped().packets) +
                    ",\"bytes\":" + std::to_string(c.totalDropped().bytes) +
                    "},\"events_lost\":" + std::to_string(c.events_lost) + ",\"reasons\":[";
  bool first = true;
  for (int r = 0; r < shield::kReasonCount; ++r) {
    for (int dropped = 0; dropped < 2; ++dropped) {
      const auto& k = dropped ? c.dropped[r] : c.passed[r];
      if (k.packets == 0) continue;
      out += std::string(first ? "" : ",") + "{\"reason\":\"" + shield::reasonName(r) +
             "\",\"verdict\":\"" + (dropped ? "drop" : "pass") +
             "\",\"packets\":" + std::to_string(k.packets) +
             ",\"bytes\":" + std::to_string(k.bytes) + "}";
      first = false;
    }
  }
  return out + "]}";
}

std::string shieldText(const shield::Counters& c) {
  std::ostringstream o;
  o << "passed: " << c.totalPassed().packets << " packets, " << c.totalPassed().bytes
    << " bytes\n"
    << "dropped: " << c.totalDropped().packets << " packets, " << c.totalDropped().bytes
    << " bytes\n";
  o << pad("reason", 15) << pad("verdict", 8) << pad("packets", 15) << "bytes\n";
  for (int r = 0; r < shield::kReasonCount; ++r) {
    for (int dropped = 0; dropped < 2; ++dropped) {
      const auto& k = dropped ? c.dropped[r] : c.passed[r];
      if (k.packets == 0) continue;
      o << pad(shield::reasonName(r), 15) << pad(dropped ? "drop" : "pass", 8)
        << pad(std::to_string(k.packets), 15) << k.bytes << "\n";
    }
  }
  o << "drop events lost: " << c.events_lost << "\n";
  return o.str();
}

std::string shieldInfoJson(const ShieldInfo& info) {
  return "{\"loaded\":" + std::string(info.loaded ? "true" : "false") +
         ",\"interfaces\":" + jsonStrings(info.interfaces) +
         ",\"pin_dir\":" + jsonString(info.pin_dir) + "}";
}

int status(Context& ctx) {
  if (ctx.args().size() != 1) return ctx.usage("status takes no arguments");
  auto& sv = ctx.services();
  DaemonInfo d = sv.daemonInfo();
  ShieldInfo sh = sv.shieldInfo();
  net::EngineStats e = sv.engineStats();
  auto sites = sv.sites();
  if (ctx.json()) {
    ctx.out("{\"version\":" + jsonString(d.version) + ",\"pid\":" + std::to_string(d.pid) +
            ",\"uptime_seconds\":" + std::to_string(d.uptime.count()) +
            ",\"config\":" + jsonString(d.config_path) +
            ",\"workers\":" + std::to_string(d.workers) +
            ",\"sites\":" + std::to_string(sites.size()) + ",\"shield\":" + shieldInfoJson(sh) +
            ",\"requests\":" + std::to_string(e.requests) +
            ",\"blocked\":" + std::to_string(e.blocked) + "}\n");
    return 0;
  }
  std::ostringstream o;
  o << "mamorid " << d.version << " (pid " << d.pid << "), up " << d.uptime.count() << "s\n"
    << "config: " << (d.config_path.empty() ? "quick start (no file)" : d.config_path) << "\n"
    << "workers: " << d.workers << ", sites: " << sites.size() << "\n"
    << "shield: "
    << (sh.loaded ? "attached to " + (sh.interfaces.empty() ? std::string("no interface")
                                                           : join(sh.interfaces))
                  : std::string("not loaded"))
    << "\n"
    << "requests: " << e.requests << ", blocked: " << e.blocked << ", rejected: " << e.rejected
    << "\n";
  ctx.out(o.str());
  return 0;
}

int stats(Context& ctx) {
  if (ctx.args().size() != 1) return ctx.usage("stats takes no arguments");
  auto& sv = ctx.services();
  net::EngineStats e = sv.engineStats();
  ShieldInfo sh = sv.shieldInfo();
  common::Result<shield::Counters> c =
      sh.loaded ? sv.shieldCounters() : common::Result<shield::Counters>(shield::Counters{});
  if (!c) return ctx.failed(c.error());
  if (ctx.json()) {
    ctx.out("{\"engine\":" + engineJson(e) + ",\"shield\":" +
            (sh.loaded ? shieldJson(*c) : std::string("null")) + "}\n");
    return 0;
  }
  ctx.out("engine:\n" + engineText(e));
  if (sh.loaded) ctx.out("shield:\n" + shieldText(*c));
  else ctx.out("shield: not loaded\n");
  return 0;
}

std::string siteJson(const SiteInfo& s) {
  return "{\"tenant\":" + jsonString(s.tenant) + ",\"name\":" + jsonString(s.name) +
         ",\"hosts\":" + jsonStrings(s.hosts) + ",\"listeners\":" + jsonStrings(s.listeners) +
         ",\"upstreams\":" + jsonStrings(s.upstreams) + ",\"mode\":" + jsonString(s.mode) +
         (s.under_attack.empty() ? "" : ",\"under_attack\":" + jsonString(s.under_attack)) + "}";
}

int sites(Context& ctx) {
  auto& a = ctx.args();
  if (a.size() < 2) return ctx.usage("sites needs list or show");
  auto all = ctx.services().sites();
  if (a[1] == "list") {
    if (a.size() != 2) return ctx.usage("sites list takes no arguments");
    if (ctx.json()) {
      std::string out = "[";
      for (size_t i = 0; i < all.size(); ++i) out += (i ? "," : "") + siteJson(all[i]);
      ctx.out(out + "]\n");
      return 0;
    }
    std::string out =
        pad("tenant", 16) + pad("site", 24) + pad("mode", 8) + pad("attack", 8) + "hosts\n";
    for (const auto& s : all) {
      // The short form: "on" / "off"; `sites show` says why.
      std::string attack = s.under_attack.empty() ? "-" : s.under_attack.substr(0, s.under_attack.find(' '));
      out += pad(s.tenant, 16) + pad(s.name, 24) + pad(s.mode, 8) + pad(attack, 8) +
             join(s.hosts) + "\n";
    }
    ctx.out(out);
    return 0;
  }
  if (a[1] == "show") {
    if (a.size() != 3) return ctx.usage("sites show takes one site name");
    for (const auto& s : all) {
      if (s.name != a[2]) continue;
      if (ctx.json()) {
        ctx.out(siteJson(s) + "\n");
        return 0;
      }
      ctx.out("site: " + s.name + "\ntenant: " + s.tenant + "\nmode: " + s.mode +
              "\nhosts: " + join(s.hosts) + "\nlisteners: " + join(s.listeners) +
              "\nupstreams: " + join(s.upstreams) + "\n" +
              (s.under_attack.empty() ? "" : "under attack: " + s.under_attack + "\n"));
      return 0;
    }
    return ctx.failed(common::Error{ENOENT, "no site named '" + a[2] + "'"});
  }
  return ctx.usage("unknown sites command '" + a[1] + "'");
}

int shieldCommand(Context& ctx) {
  auto& a = ctx.args();
  if (a.size() != 2 || a[1] != "status") return ctx.usage("usage: shield status");
  ShieldInfo info = ctx.services().shieldInfo();
  if (!info.loaded)
    return ctx.failed(common::Error{ENOENT, "the XDP shield is not loaded in this mamorid"});
  auto c = ctx.services().shieldCounters();
  if (!c) return ctx.failed(c.error());
  if (ctx.json()) {
    std::string counters = shieldJson(*c);
    ctx.out("{\"pin_dir\":" + jsonString(info.pin_dir) +
            ",\"interfaces\":" + jsonStrings(info.interfaces) + "," + counters.substr(1) + "\n");
    return 0;
  }
  ctx.out("shield maps: " + info.pin_dir + "\ninterfaces: " +
          (info.interfaces.empty() ? std::string("none") : join(info.interfaces)) + "\n" +
          shieldText(*c));
  return 0;
}

std::string describeBan(const shield::Ban& b) {
  return "banned " + std::to_string(b.remaining.count()) + "s more (" +
         shield::banReasonName(b.reason) + ")";
}

int bans(Context& ctx) {
  auto& a = ctx.args();
  auto& sv = ctx.services();
  if (a.size() < 2) return ctx.usage("bans needs list, add or del");
  if (a[1] == "list") {
    if (a.size() != 2) return ctx.usage("bans list takes no arguments");
    auto list = sv.listBans();
    if (!list) return ctx.failed(list.error());
    if (ctx.json()) {
      std::string out = "[";
      for (size_t i = 0; i < list->size(); ++i) {
        const auto& b = (*list)[i];
        out += std::string(i ? "," : "") + "{\"source\":" + jsonString(b.source.toString()) +
               ",\"remaining_seconds\":" + std::to_string(b.remaining.count()) +
               ",\"reason\":\"" + shield::banReasonName(b.reason) + "\"}";
      }
      ctx.out(out + "]\n");
      return 0;
    }
    std::string out = pad("source", 41) + pad("remaining", 11) + "reason\n";
    for (const auto& b : *list)
      out += pad(b.source.toString(), 41) + pad(std::to_string(b.remaining.count()) + "s", 11) +
             shield::banReasonName(b.reason) + "\n";
    ctx.out(out);
    return 0;
  }
  if (a[1] != "add" && a[1] != "del") return ctx.usage("unknown bans command '" + a[1] + "'");
  if (a.size() < 3) return ctx.usage("bans " + a[1] + " needs an address");
  auto source = common::parseIpPrefix(a[2]);
  if (!source) return ctx.usage(source.error().message);

  // The state before the change, for the audit log.
  std::string before = "not banned";
  if (auto list = sv.listBans())
    for (const auto& b : *list)
      if (b.source == *source) before = describeBan(b);
  ctx.call().audit_before = source->toString() + ": " + before;

  if (a[1] == "del") {
    if (a.size() != 3) return ctx.usage("bans del takes one address");
    if (auto st = sv.deleteBan(*source); !st) return ctx.failed(st.error());
    ctx.call().audit_after = source->toString() + ": not banned";
    return ctx.ok("ban lifted: " + source->toString());
  }
  std::chrono::seconds ttl(600);
  shield::BanReason reason = shield::BanReason::Manual;
  for (size_t i = 3; i < a.size(); ++i) {
    if (a[i] == "--ttl" && i + 1 < a.size()) {
      auto d = common::parseDuration(a[++i]);
      if (!d) return ctx.usage(d.error().message);
      ttl = *d;
    } else if (a[i] == "--reason" && i + 1 < a.size()) {
      if (!shield::parseBanReason(a[++i], &reason))
        return ctx.usage("unknown ban reason '" + a[i] + "'");
    } else {
      return ctx.usage("unexpected argument '" + a[i] + "'");
    }
  }
  if (auto st = sv.addBan(*source, ttl, reason); !st) return ctx.failed(st.error());
  ctx.call().audit_after = source->toString() + ": banned " + std::to_string(ttl.count()) +
                           "s (" + shield::banReasonName(reason) + ")";
  return ctx.ok("banned " + source->toString() + " for " + std::to_string(ttl.count()) + "s (" +
                shield::banReasonName(reason) + ")");
}

int lists(Context& ctx) {
  auto& a = ctx.args();
  auto& sv = ctx.services();
  if (a.size() < 3) return ctx.usage("lists needs allow|deny and list|add|del");
  shield::ListKind kind;
  if (a[1] == "allow") kind = shield::ListKind::Allow;
  else if (a[1] == "deny") kind = shield::ListKind::Deny;
  else return ctx.usage("unknown list '" + a[1] + "' (allow or deny)");
  if (a[2] == "list") {
    if (a.size() != 3) return ctx.usage("lists " + a[1] + " list takes no arguments");
    auto entries = sv.list(kind);
    if (!entries) return ctx.failed(entries.error());
    std::vector<std::string> text;
    for (const auto& e : *entries) text.push_back(e.toString());
    if (ctx.json()) ctx.out(jsonStrings(text) + "\n");
    else ctx.out(text.empty() ? std::string() : join(text, "\n") + "\n");
    return 0;
  }
  if (a[2] != "add" && a[2] != "del") return ctx.usage("unknown lists command '" + a[2] + "'");
  if (a.size() != 4) return ctx.usage("lists " + a[1] + " " + a[2] + " takes one CIDR");
  auto prefix = common::parseIpPrefix(a[3]);
  if (!prefix) return ctx.usage(prefix.error().message);
  bool present = false;
  if (auto entries = sv.list(kind))
    for (const auto& e : *entries) present = present || e == *prefix;
  const std::string where = " the " + a[1] + " list";
  ctx.call().audit_before = prefix->toString() + (present ? " on" : " not on") + where;
  if (a[2] == "add") {
    if (auto st = sv.addToList(kind, *prefix); !st) return ctx.failed(st.error());
    ctx.call().audit_after = prefix->toString() + " on" + where;
    return ctx.ok("added " + prefix->toString() + " to" + where);
  }
  if (auto st = sv.deleteFromList(kind, *prefix); !st) return ctx.failed(st.error());
  ctx.call().audit_after = prefix->toString() + " not on" + where;
  return ctx.ok("removed " + prefix->toString() + " from" + where);
}

int config(Context& ctx) {
  auto& a = ctx.args();
  if (a.size() != 2 || a[1] != "reload") return ctx.usage("usage: config reload");
  auto summary = ctx.services().reload();
  if (!summary) return ctx.failed(summary.error());
  ctx.call().audit_after = *summary;
  return ctx.ok(*summary);
}

// --- logs ------------------------------------------------------------------

// Streams an export to the client as it is produced, in 64 KiB frames.
class CallStreamBuf final : public std::streambuf {
 public:
  explicit CallStreamBuf(Call& call) : call_(call) { setp(buf_, buf_ + sizeof(buf_)); }
  ~CallStreamBuf() override { sync(); }

 protected:
  int overflow(int c) override {
    if (sync() != 0) return traits_type::eof();
    if (c != traits_type::eof()) sputc(static_cast<char>(c));
    return c == traits_type::eof() ? 0 : c;
  }
  int sync() override {
    std::string_view chunk(pbase(), static_cast<size_t>(pptr() - pbase()));
    setp(buf_, buf_ + sizeof(buf_));
    if (!chunk.empty() && !call_.out(chunk)) return -1;
    return 0;
  }

 private:
  Call& call_;
  char buf_[65536];
};

struct LogsArgs {
  logs::QueryFilter filter;
  bool follow = false;
  bool limit_given = false;
  logs::ExportFormat format = logs::ExportFormat::Jsonl;
};

// Parses the filters shared by logs query/tail/export, from a[2] on.
// Returns 0 or a usage exit code (after reporting).
int parseLogsArgs(Context& ctx, size_t from, bool allow_follow, bool allow_format, LogsArgs* out) {
  const auto& a = ctx.args();
  bool type_given = false;
  for (size_t i = from; i < a.size(); ++i) {
    const std::string& opt = a[i];
    if (opt == "-f" || opt == "--follow") {
      if (!allow_follow) return ctx.usage(opt + " is for logs tail");
      out->follow = true;
      continue;
    }
    if (i + 1 >= a.size()) return ctx.usage(opt + " needs a value");
    const std::string& v = a[++i];
    if (opt == "--type") {
      auto t = logs::parseLogType(v);
      if (!t) return ctx.usage("unknown log type '" + v + "' (event, dos, bot or audit)");
      out->filter.type = *t;
      type_given = true;
    } else if (opt == "--tenant") {
      out->filter.tenant = v;
    } else if (opt == "--site") {
      out->filter.site = v;
    } else if (opt == "--since" || opt == "--until") {
      auto t = logs::parseTimestamp(v);
      if (!t) return ctx.usage("bad " + opt + " '" + v + "' (RFC 3339 or YYYY-MM-DD)");
      (opt == "--since" ? out->filter.since : out->filter.until) = *t;
    } else if (opt == "--ip") {
      out->filter.ip = v;
    } else if (opt == "--rule") {
      out->filter.rule_id = v;
    } else if (opt == "--text") {
      out->filter.text = v;
    } else if (opt == "--limit") {
      char* end = nullptr;
      unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n > 1000000)
        return ctx.usage("bad --limit '" + v + "' (0..1000000)");
      out->filter.limit = static_cast<size_t>(n);
      out->limit_given = true;
    } else if (opt == "--format" && allow_format) {
      if (v == "jsonl") out->format = logs::ExportFormat::Jsonl;
      else if (v == "csv") out->format = logs::ExportFormat::Csv;
      else return ctx.usage("unknown export format '" + v + "' (jsonl or csv)");
    } else {
      return ctx.usage("unexpected argument '" + opt + "'");
    }
  }
  if (!type_given) return ctx.usage("logs " + a[1] + " needs --type event|dos|bot|audit");
  return 0;
}

// One line per entry for people: time, tenant, site, source, action, rule, message.
std::string logLine(const logs::LogEntry& e) {
  auto field = [&](std::string_view path) {
    std::string_view v = e.fields.get(path);
    return v.empty() ? std::string("-") : std::string(v);
  };
  return field("@timestamp") + "  " + e.tenant + "  " + field("site") + "  " +
         field("source.ip") + "  " + field("event.action") + "  " + field("rule.id") + "  " +
         field("message") + "\n";
}

int logsCommand(Context& ctx) {
  auto& a = ctx.args();
  if (a.size() < 2) return ctx.usage("logs needs query, tail or export");
  auto reader = ctx.services().logReader();
  const std::string& verb = a[1];
  if (verb != "query" && verb != "tail" && verb != "export")
    return ctx.usage("unknown logs command '" + verb + "'");
  LogsArgs args;
  if (int rc = parseLogsArgs(ctx, 2, verb == "tail", verb == "export", &args)) return rc;
  if (!reader) return ctx.failed(common::Error{ENOENT, "logging is off in this mamorid"});

  if (verb == "export") {
    CallStreamBuf buf(ctx.call());
    std::ostream out(&buf);
    auto rows = reader->exportTo(args.filter, args.format, out);
    out.flush();
    if (!rows) return ctx.failed(rows.error());
    return 0;
  }

  // query and tail show the newest lines, oldest first; query up to 100 and
  // tail up to 20 unless --limit says otherwise.
  if (!args.limit_given) args.filter.limit = verb == "tail" ? 20 : 100;
  args.filter.newest_first = true;
  auto entries = reader->queryAll(args.filter);
  if (!entries) return ctx.failed(entries.error());
  std::reverse(entries->begin(), entries->end());
  auto emit = [&](const logs::LogEntry& e, bool first) {
    if (ctx.json() && !args.follow) return ctx.call().out((first ? "" : ",") + e.line);
    if (ctx.json()) return ctx.call().out(e.line + "\n");  // JSON lines while following
    return ctx.call().out(logLine(e));
  };
  if (ctx.json() && !args.follow) ctx.out("[");
  bool first = true;
  for (const auto& e : *entries) {
    if (!emit(e, first)) return 1;
    first = false;
  }
  if (ctx.json() && !args.follow) ctx.out("]\n");
  if (!args.follow) return 0;

  // Follow until the client goes away (Ctrl-C on mamorictl) or mamorid stops.
  logs::QueryFilter follow_filter = args.filter;
  follow_filter.limit = 0;
  follow_filter.newest_first = false;
  auto follower = logs::LogFollower::create(reader->options(), follow_filter);
  if (!follower) return ctx.failed(follower.error());
  while (!ctx.call().cancelled()) {
    auto fresh = (*follower)->poll();
    if (!fresh) return ctx.failed(fresh.error());
    for (const auto& e : *fresh)
      if (!emit(e, false)) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return 0;
}

// --- rules -----------------------------------------------------------------

std::string ruleJson(const RuleInfo& r) {
  return "{\"id\":" + std::to_string(r.id) + ",\"message\":" + jsonString(r.message) +
         ",\"category\":" + jsonString(r.category) + ",\"severity\":" + jsonString(r.severity) +
         ",\"paranoia\":" + std::to_string(r.paranoia) + ",\"score\":" + std::to_string(r.score) +
         ",\"tags\":" + jsonStrings(r.tags) + ",\"targets\":" + jsonStrings(r.targets) +
         ",\"transforms\":" + jsonString(r.transforms) + ",\"operator\":" + jsonString(r.op) +
         ",\"match_mode\":" + jsonString(r.match_mode) +
         ",\"enabled\":" + (r.enabled ? "true" : "false") + ",\"source\":" + jsonString(r.source) +
         "}";
}

std::optional<std::uint32_t> parseRuleId(const std::string& text) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v == 0 || v > 999999999ULL) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

int rulesCommand(Context& ctx) {
  auto& a = ctx.args();
  auto& sv = ctx.services();
  if (a.size() < 2) return ctx.usage("rules needs list, show, enable, disable, reload or test");
  const std::string& verb = a[1];
  if (verb == "list") {
    if (a.size() != 2) return ctx.usage("rules list takes no arguments");
    auto rules = sv.listRules();
    if (!rules) return ctx.failed(rules.error());
    if (ctx.json()) {
      std::string out = "[";
      for (size_t i = 0; i < rules->size(); ++i) out += (i ? "," : "") + ruleJson((*rules)[i]);
      ctx.out(out + "]\n");
      return 0;
    }
    std::string out = pad("id", 11) + pad("category", 10) + pad("pl", 4) + pad("score", 7) +
                      pad("state", 9) + "message\n";
    for (const auto& r : *rules)
      out += pad(std::to_string(r.id), 11) + pad(r.category, 10) +
             pad(std::to_string(r.paranoia), 4) + pad(std::to_string(r.score), 7) +
             pad(r.enabled ? "on" : "off", 9) + r.message + "\n";
    ctx.out(out);
    return 0;
  }
  if (verb == "show" || verb == "enable" || verb == "disable") {
    if (a.size() != 3) return ctx.usage("rules " + verb + " takes one rule id");
    auto id = parseRuleId(a[2]);
    if (!id) return ctx.usage("bad rule id '" + a[2] + "' (1..999999999)");
    auto rules = sv.listRules();
    if (!rules) return ctx.failed(rules.error());
    const RuleInfo* found = nullptr;
    for (const auto& r : *rules)
      if (r.id == *id) found = &r;
    if (!found) return ctx.failed(common::Error{ENOENT, "no rule " + a[2]});
    if (verb == "show") {
      if (ctx.json()) {
        ctx.out(ruleJson(*found) + "\n");
        return 0;
      }
      ctx.out("rule " + std::to_string(found->id) + ": " + found->message +
              "\ncategory: " + found->category + ", severity: " + found->severity +
              ", paranoia: " + std::to_string(found->paranoia) +
              ", score: " + std::to_string(found->score) + "\ntargets: " + join(found->targets) +
              "\ntransforms: " + (found->transforms.empty() ? "none" : found->transforms) +
              "\noperator: " + found->op + " (" + found->match_mode + ")\ntags: " +
              (found->tags.empty() ? "none" : join(found->tags)) +
              "\nstate: " + (found->enabled ? "on" : "off") + "\nsource: " + found->source + "\n");
      return 0;
    }
    const bool enable = verb == "enable";
    ctx.call().audit_before = "rule " + a[2] + (found->enabled ? " on" : " off");
    if (auto st = sv.setRuleEnabled(*id, enable); !st) return ctx.failed(st.error());
    ctx.call().audit_after = "rule " + a[2] + (enable ? " on" : " off");
    return ctx.ok("rule " + a[2] + (enable ? " enabled" : " disabled") +
                  " (until mamorid restarts)");
  }
  if (verb == "reload") {
    if (a.size() != 2) return ctx.usage("rules reload takes no arguments");
    auto summary = sv.reloadRules();
    if (!summary) return ctx.failed(summary.error());
    ctx.call().audit_after = *summary;
    return ctx.ok("reloaded " + *summary);
  }
  if (verb == "test") {
    // mamorictl sends the file's bytes: rules test --request BYTES [--site S]
    std::string raw, site;
    bool have_request = false;
    for (size_t i = 2; i < a.size(); ++i) {
      if (a[i] == "--request" && i + 1 < a.size()) {
        raw = a[++i];
        have_request = true;
      } else if (a[i] == "--site" && i + 1 < a.size()) {
        site = a[++i];
      } else {
        return ctx.usage("usage: rules test FILE [--site SITE]");
      }
    }
    if (!have_request) return ctx.usage("usage: rules test FILE [--site SITE]");
    auto report = sv.testRequest(raw, site);
    if (!report) return ctx.failed(report.error());
    if (ctx.json()) {
      std::string out = "{\"site\":" + jsonString(report->site) +
                        ",\"parse_error\":" + jsonString(report->parse_error) +
                        ",\"score\":" + std::to_string(report->score) +
                        ",\"threshold\":" + std::to_string(report->threshold) +
                        ",\"verdict\":\"" + (report->would_block ? "block" : "pass") +
                        "\",\"detections\":[";
      for (size_t i = 0; i < report->detections.size(); ++i) {
        const auto& d = report->detections[i];
        out += std::string(i ? "," : "") + "{\"rule_id\":" + std::to_string(d.rule_id) +
               ",\"message\":" + jsonString(d.message) + ",\"category\":" + jsonString(d.category) +
               ",\"score\":" + std::to_string(d.score) + ",\"target\":" + jsonString(d.target) +
               ",\"fragment\":" + jsonString(d.fragment) + "}";
      }
      ctx.out(out + "]}\n");
      return 0;
    }
    if (!report->parse_error.empty()) {
      ctx.out("site " + report->site + ": " + report->parse_error + "\nverdict: block\n");
      return 0;
    }
    std::string out;
    for (const auto& d : report->detections)
      out += std::to_string(d.rule_id) + "  " + pad(d.category, 9) + "+" + std::to_string(d.score) +
             "  " + d.target + "  " + jsonString(d.fragment) + "  " + d.message + "\n";
    out += "site " + report->site + ": score " + std::to_string(report->score) + " of " +
           std::to_string(report->threshold) + ", verdict: " +
           (report->would_block ? "block" : "pass") + "\n";
    ctx.out(out);
    return 0;
  }
  return ctx.usage("unknown rules command '" + verb + "'");
}

// --- login -------------------------------------------------------------------

std::string loginSourceJson(const LoginSourceInfo& s) {
  return "{\"source\":" + jsonString(s.source) + ",\"failures\":" + std::to_string(s.failures) +
         ",\"throttled_seconds\":" + std::to_string(s.throttled_s) +
         ",\"blocked_seconds\":" + std::to_string(s.blocked_s) +
         ",\"banned_seconds\":" + std::to_string(s.banned_s) + ",\"bans\":" + std::to_string(s.bans) +
         "}";
}

std::string loginSourceText(const LoginSourceInfo& s) {
  std::string state;
  if (s.banned_s > 0) state += "banned " + std::to_string(s.banned_s) + "s ";
  if (s.blocked_s > 0) state += "blocked " + std::to_string(s.blocked_s) + "s ";
  if (s.throttled_s > 0) state += "429 " + std::to_string(s.throttled_s) + "s ";
  if (state.empty()) state = "-";
  return "  " + pad(s.source, 41) + pad(std::to_string(s.failures), 10) +
         pad(std::to_string(s.bans), 6) + state + "\n";
}

// Parses "--name value" pairs of a subcommand (login, bots, dos) into `out`;
// false (after a usage error) on an unknown or repeated option or a missing
// value.
bool subcommandOptions(Context& ctx, const std::vector<std::string>& allowed,
                  std::map<std::string, std::string>* out, const std::string& usage_text) {
  auto& a = ctx.args();
  for (size_t i = 2; i < a.size(); ++i) {
    if (std::find(allowed.begin(), allowed.end(), a[i]) == allowed.end() || i + 1 >= a.size() ||
        out->count(a[i])) {
      ctx.usage("usage: " + usage_text);
      return false;
    }
    (*out)[a[i]] = a[i + 1];
    ++i;
  }
  return true;
}

// The `--top N` of a status listing: 10 when absent; nullopt (after a usage
// error) unless N is a number in 1..1000.
std::optional<std::size_t> topOption(Context& ctx, const std::map<std::string, std::string>& opt) {
  auto it = opt.find("--top");
  if (it == opt.end()) return 10;
  char* end = nullptr;
  const unsigned long v = std::strtoul(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || v == 0 || v > 1000) {
    ctx.usage("bad --top '" + it->second + "' (1..1000)");
    return std::nullopt;
  }
  return v;
}

int loginCommand(Context& ctx) {
  auto& a = ctx.args();
  auto& sv = ctx.services();
  if (a.size() < 2) return ctx.usage("login needs status, unlock or report");
  const std::string& verb = a[1];
  std::map<std::string, std::string> opt;
  if (verb == "status") {
    const std::string usage_text = "login status [--site SITE] [--top N]";
    if (!subcommandOptions(ctx, {"--site", "--top"}, &opt, usage_text)) return 2;
    const std::optional<std::size_t> top = topOption(ctx, opt);
    if (!top) return 2;
    auto status = sv.loginStatus(opt["--site"], *top);
    if (!status) return ctx.failed(status.error());
    if (ctx.json()) {
      std::string out = "[";
      for (size_t i = 0; i < status->size(); ++i) {
        const auto& st = (*status)[i];
        out += std::string(i ? "," : "") + "{\"site\":" + jsonString(st.site) + ",\"top_sources\":[";
        for (size_t j = 0; j < st.top_sources.size(); ++j)
          out += (j ? "," : "") + loginSourceJson(st.top_sources[j]);
        out += "],\"restricted\":[";
        for (size_t j = 0; j < st.restricted.size(); ++j)
          out += (j ? "," : "") + loginSourceJson(st.restricted[j]);
        out += "],\"locked\":[";
        for (size_t j = 0; j < st.locked.size(); ++j)
          out += std::string(j ? "," : "") + "{\"username\":" + jsonString(st.locked[j].username) +
                 ",\"remaining_seconds\":" + std::to_string(st.locked[j].remaining_s) + "}";
        out += "]}";
      }
      ctx.out(out + "]\n");
      return 0;
    }
    std::string out;
    const std::string header = "  " + pad("source", 41) + pad("failures", 10) + pad("bans", 6) + "state\n";
    for (const auto& st : *status) {
      out += "site " + st.site + "\n";
      out += "top sources:" + std::string(st.top_sources.empty() ? " none\n" : "\n");
      if (!st.top_sources.empty()) out += header;
      for (const auto& s : st.top_sources) out += loginSourceText(s);
      out += "restricted now:" + std::string(st.restricted.empty() ? " none\n" : "\n");
      if (!st.restricted.empty()) out += header;
      for (const auto& s : st.restricted) out += loginSourceText(s);
      out += "locked usernames:" + std::string(st.locked.empty() ? " none\n" : "\n");
      for (const auto& l : st.locked)
        out += "  " + pad(l.username, 41) + std::to_string(l.remaining_s) + "s\n";
    }
    ctx.out(out);
    return 0;
  }
  if (verb == "unlock") {
    const std::string usage_text = "login unlock --site SITE --user USER";
    if (!subcommandOptions(ctx, {"--site", "--user"}, &opt, usage_text)) return 2;
    if (!opt.count("--site") || !opt.count("--user") || opt["--user"].empty())
      return ctx.usage("usage: " + usage_text);
    const std::string& site = opt["--site"];
    const std::string& user = opt["--user"];
    auto was = sv.loginUnlock(site, user);
    if (!was) return ctx.failed(was.error());
    ctx.call().audit_before = "site " + site + " user " + user + (*was ? ": locked" : ": not locked");
    ctx.call().audit_after = "site " + site + " user " + user + ": not locked";
    if (ctx.json()) {
      ctx.out(std::string("{\"ok\":true,\"was_locked\":") + (*was ? "true" : "false") + "}\n");
      return 0;
    }
    ctx.out(*was ? "unlocked " + user + " on site " + site + "\n"
                 : user + " was not locked on site " + site + " (its counters are cleared)\n");
    return 0;
  }
  if (verb == "report") {
    const std::string usage_text =
        "login report --site SITE --user USER --ip IP --result failed|succeeded";
    if (!subcommandOptions(ctx, {"--site", "--user", "--ip", "--result"}, &opt, usage_text)) return 2;
    if (!opt.count("--site") || !opt.count("--ip") || !opt.count("--result"))
      return ctx.usage("usage: " + usage_text);
    const std::string& result = opt["--result"];
    if (result != "failed" && result != "succeeded")
      return ctx.usage("bad --result '" + result + "' (failed or succeeded)");
    auto ip = common::parseIpPrefix(opt["--ip"]);
    if (!ip) return ctx.usage("bad --ip: " + ip.error().message);
    if (ip->prefix_len != (ip->is_v6 ? 128 : 32))
      return ctx.usage("bad --ip '" + opt["--ip"] + "': give a single address");
    auto done = sv.loginReport(opt["--site"], opt["--user"], *ip, result == "failed");
    if (!done) return ctx.failed(done.error());
    ctx.call().audit_after = "site " + opt["--site"] + " " + ip->toString() + ": " + done->outcome;
    if (ctx.json()) {
      ctx.out("{\"ok\":true,\"outcome\":" + jsonString(done->outcome) +
              ",\"events\":" + jsonStrings(done->events) + "}\n");
      return 0;
    }
    std::string out = "counted: " + done->outcome + "\n";
    for (const auto& e : done->events) out += "event: " + e + "\n";
    ctx.out(out);
    return 0;
  }
  return ctx.usage("unknown login command '" + verb + "'");
}

// --- bots ----------------------------------------------------------------------

std::string botSiteJson(const BotSiteInfo& s) {
  std::string out = "{\"tenant\":" + jsonString(s.tenant) + ",\"site\":" + jsonString(s.site) +
                    ",\"enabled\":" + (s.enabled ? "true" : "false") +
                    ",\"ban_ttl_seconds\":" + std::to_string(s.ban_ttl_s) + ",\"actions\":{";
  for (size_t i = 0; i < s.actions.size(); ++i)
    out += (i ? "," : "") + jsonString(s.actions[i].first) + ":" + jsonString(s.actions[i].second);
  out += "},\"counts\":[";
  for (size_t i = 0; i < s.counts.size(); ++i)
    out += std::string(i ? "," : "") + "{\"class\":" + jsonString(s.counts[i].bot_class) +
           ",\"action\":" + jsonString(s.counts[i].action) +
           ",\"count\":" + std::to_string(s.counts[i].count) + "}";
  return out + "]}";
}

int botsCommand(Context& ctx) {
  auto& a = ctx.args();
  auto& sv = ctx.services();
  if (a.size() < 2) return ctx.usage("bots needs status or top");
  const std::string& verb = a[1];
  std::map<std::string, std::string> opt;
  if (verb == "status") {
    const std::string usage_text = "bots status [--site SITE]";
    if (!subcommandOptions(ctx, {"--site"}, &opt, usage_text)) return 2;
    auto st = sv.botStatus(opt["--site"]);
    if (!st) return ctx.failed(st.error());
    if (ctx.json()) {
      std::string out = "{\"data_dir\":" + jsonString(st->data_dir) +
                        ",\"files\":" + jsonStrings(st->files) +
                        ",\"user_agents\":" + std::to_string(st->user_agents) +
                        ",\"fingerprints\":" + std::to_string(st->fingerprints) +
                        ",\"good_bots\":" + std::to_string(st->good_bots) +
                        ",\"rdns\":{\"resolver\":" + jsonString(st->resolver) +
                        ",\"cache_used\":" + std::to_string(st->rdns_cache_used) +
                        ",\"cache_capacity\":" + std::to_string(st->rdns_cache_capacity) +
                        ",\"queued\":" + std::to_string(st->rdns_queued) +
                        ",\"hits\":" + std::to_string(st->rdns_hits) +
                        ",\"misses\":" + std::to_string(st->rdns_misses) +
                        ",\"verified\":" + std::to_string(st->rdns_verified) +
                        ",\"failed\":" + std::to_string(st->rdns_failed) +
                        ",\"errors\":" + std::to_string(st->rdns_errors) +
                        ",\"dropped\":" + std::to_string(st->rdns_dropped) +
                        ",\"evictions\":" + std::to_string(st->rdns_evictions) +
                        "},\"sources\":{\"tracked\":" + std::to_string(st->sources_tracked) +
                        ",\"capacity\":" + std::to_string(st->sources_capacity) +
                        ",\"bytes_per_source\":" + std::to_string(st->bytes_per_source) +
                        ",\"evictions\":" + std::to_string(st->source_evictions) +
                        "},\"records\":" + std::to_string(st->records) +
                        ",\"records_suppressed\":" + std::to_string(st->records_suppressed) +
                        ",\"sites\":[";
      for (size_t i = 0; i < st->sites.size(); ++i) out += (i ? "," : "") + botSiteJson(st->sites[i]);
      ctx.out(out + "]}\n");
      return 0;
    }
    std::string out = "data files: " + std::to_string(st->files.size()) + " in " + st->data_dir +
                      " (" + std::to_string(st->user_agents) + " user agents, " +
                      std::to_string(st->fingerprints) + " fingerprints, " +
                      std::to_string(st->good_bots) + " good bots)\n";
    out += "rdns: resolver " + (st->resolver.empty() ? std::string("resolv.conf") : st->resolver) +
           ", cache " + std::to_string(st->rdns_cache_used) + "/" +
           std::to_string(st->rdns_cache_capacity) + ", queued " + std::to_string(st->rdns_queued) +
           ", verified " + std::to_string(st->rdns_verified) + ", failed " +
           std::to_string(st->rdns_failed) + ", errors " + std::to_string(st->rdns_errors) +
           ", dropped " + std::to_string(st->rdns_dropped) + "\n";
    out += "sources: " + std::to_string(st->sources_tracked) + "/" +
           std::to_string(st->sources_capacity) + " tracked (" +
           std::to_string(st->bytes_per_source) + " bytes each), " +
           std::to_string(st->source_evictions) + " evicted\n";
    out += "BOT records: " + std::to_string(st->records) + " written, " +
           std::to_string(st->records_suppressed) + " left out (over " +
           "the per-source limit)\n";
    for (const auto& s : st->sites) {
      out += "site " + s.site + " (tenant " + s.tenant + ")" + (s.enabled ? "" : " [disabled]") +
             ", ban ttl " + std::to_string(s.ban_ttl_s) + "s\n  policy:";
      for (const auto& [cls, action] : s.actions) out += " " + cls + "=" + action;
      out += "\n  counts:" + std::string(s.counts.empty() ? " none\n" : "\n");
      for (const auto& c : s.counts)
        out += "    " + pad(c.bot_class, 24) + pad(c.action, 11) + std::to_string(c.count) + "\n";
    }
    ctx.out(out);
    return 0;
  }
  if (verb == "top") {
    const std::string usage_text = "bots top [--site SITE] [--top N]";
    if (!subcommandOptions(ctx, {"--site", "--top"}, &opt, usage_text)) return 2;
    const std::optional<std::size_t> top = topOption(ctx, opt);
    if (!top) return 2;
    auto list = sv.botTop(opt["--site"], *top);
    if (!list) return ctx.failed(list.error());
    if (ctx.json()) {
      std::string out = "[";
      for (size_t i = 0; i < list->size(); ++i) {
        const auto& e = (*list)[i];
        out += std::string(i ? "," : "") + "{\"site\":" + jsonString(e.site) +
               ",\"source\":" + jsonString(e.source) +
               ",\"bot_requests\":" + std::to_string(e.bot_requests) +
               ",\"requests\":" + std::to_string(e.requests) +
               ",\"paths\":" + std::to_string(e.paths) +
               ",\"client_errors\":" + std::to_string(e.client_errors) +
               ",\"last_class\":" + jsonString(e.last_class) +
               ",\"banned_seconds\":" + std::to_string(e.banned_s) + "}";
      }
      ctx.out(out + "]\n");
      return 0;
    }
    std::string out = pad("site", 16) + pad("source", 41) + pad("bot reqs", 10) + pad("reqs", 7) +
                      pad("paths", 7) + pad("4xx", 6) + pad("last class", 23) + "banned\n";
    for (const auto& e : *list)
      out += pad(e.site, 16) + pad(e.source, 41) + pad(std::to_string(e.bot_requests), 10) +
             pad(std::to_string(e.requests), 7) + pad(std::to_string(e.paths), 7) +
             pad(std::to_string(e.client_errors), 6) + pad(e.last_class, 23) +
             (e.banned_s > 0 ? std::to_string(e.banned_s) + "s" : "-") + "\n";
    if (list->empty()) out += "(no source tracked)\n";
    ctx.out(out);
    return 0;
  }
  return ctx.usage("unknown bots command '" + verb + "'");
}

// --- site under-attack ----------------------------------------------------------

// site under-attack on|off|auto --site SITE
int siteCommand(Context& ctx) {
  auto& a = ctx.args();
  const std::string usage_text = "site under-attack on|off|auto --site SITE";
  if (a.size() < 2 || a[1] != "under-attack") return ctx.usage("usage: " + usage_text);
  if (a.size() != 5) return ctx.usage("usage: " + usage_text);
  std::string to, site;
  for (size_t i = 2; i < a.size(); ++i) {
    if (a[i] == "--site" && i + 1 < a.size()) {
      site = a[++i];
    } else if (to.empty() && (a[i] == "on" || a[i] == "off" || a[i] == "auto")) {
      to = a[i];
    } else {
      return ctx.usage("usage: " + usage_text);
    }
  }
  if (to.empty() || site.empty()) return ctx.usage("usage: " + usage_text);
  std::string before;
  for (const auto& s : ctx.services().sites())
    if (s.name == site) before = s.under_attack;
  auto done = ctx.services().setUnderAttack(site, to);
  if (!done) return ctx.failed(done.error());
  const std::string now = underAttackText(*done);
  ctx.call().audit_before = "site " + site + " under attack: " + (before.empty() ? "?" : before);
  ctx.call().audit_after = "site " + site + " under attack: " + now;
  if (ctx.json()) {
    ctx.out("{\"ok\":true,\"site\":" + jsonString(site) + ",\"under_attack\":" +
            (done->on ? "true" : "false") + ",\"reason\":" + jsonString(done->reason) +
            ",\"override\":" + jsonString(done->override_state) +
            ",\"auto_remaining_seconds\":" + std::to_string(done->auto_remaining_s) +
            ",\"auto_threshold\":" + std::to_string(done->auto_threshold) + "}\n");
    return 0;
  }
  ctx.out("site " + site + " under attack: " + now + "\n");
  return 0;
}

// --- dos ---------------------------------------------------------------------

int dosCommand(Context& ctx) {
  auto& a = ctx.args();
  if (a.size() < 2) return ctx.usage("dos needs status");
  const std::string& verb = a[1];
  if (verb != "status") return ctx.usage("unknown dos command '" + verb + "'");
  std::map<std::string, std::string> opt;
  const std::string usage_text = "dos status [--site SITE] [--top N]";
  if (!subcommandOptions(ctx, {"--site", "--top"}, &opt, usage_text)) return 2;
  const std::optional<std::size_t> top = topOption(ctx, opt);
  if (!top) return 2;
  auto st = ctx.services().dosStatus(opt["--site"], *top);
  if (!st) return ctx.failed(st.error());
  if (ctx.json()) {
    std::string out =
        "{\"connections\":{\"over_source_cap\":" + std::to_string(st->conn_over_source_cap) +
        ",\"slowloris_cut\":" + std::to_string(st->slowloris_cut) +
        ",\"slow_post_cut\":" + std::to_string(st->slow_post_cut) +
        "},\"too_many_requests\":" + std::to_string(st->too_many_requests) +
        ",\"bans\":" + std::to_string(st->bans) + ",\"sites\":[";
    for (std::size_t i = 0; i < st->sites.size(); ++i) {
      const DosSiteInfo& s = st->sites[i];
      out += std::string(i ? "," : "") + "{\"site\":" + jsonString(s.site) +
             ",\"detection_only\":" + (s.detection_only ? "true" : "false") + ",\"limits\":[";
      for (std::size_t j = 0; j < s.limits.size(); ++j) {
        const DosLimitInfo& l = s.limits[j];
        out += std::string(j ? "," : "") + "{\"name\":" + jsonString(l.name) +
               ",\"requests\":" + std::to_string(l.requests) +
               ",\"window_seconds\":" + std::to_string(l.window_s) +
               ",\"refused\":" + std::to_string(l.refused) + "}";
      }
      out += "],\"ban\":{\"after\":" + std::to_string(s.ban_after) +
             ",\"window_seconds\":" + std::to_string(s.ban_window_s) +
             ",\"ttl_seconds\":" + std::to_string(s.ban_ttl_s) + "}" +
             ",\"checked\":" + std::to_string(s.checked) + ",\"bans\":" + std::to_string(s.bans) +
             ",\"site_requests\":" + std::to_string(s.site_requests) +
             ",\"memory_bytes\":" + std::to_string(s.memory_bytes) + ",\"top_sources\":[";
      for (std::size_t j = 0; j < s.top_sources.size(); ++j) {
        const DosSourceInfo& src = s.top_sources[j];
        out += std::string(j ? "," : "") + "{\"source\":" + jsonString(src.source) +
               ",\"requests\":" + std::to_string(src.requests) +
               ",\"excess\":" + std::to_string(src.excess) +
               ",\"banned_seconds\":" + std::to_string(src.banned_s) + "}";
      }
      out += "]}";
    }
    ctx.out(out + "]}\n");
    return 0;
  }
  std::string out = "connections: " + std::to_string(st->conn_over_source_cap) +
                    " refused over source cap, " + std::to_string(st->slowloris_cut) +
                    " slowloris cut, " + std::to_string(st->slow_post_cut) + " slow POST cut\n";
  out += "flood: " + std::to_string(st->too_many_requests) + " answered 429, " +
         std::to_string(st->bans) + " bans issued\n";
  if (st->sites.empty()) out += "no site has a flood section\n";
  for (const DosSiteInfo& s : st->sites) {
    out += "site " + s.site + (s.detection_only ? " (detection only)" : "") + ": " +
           std::to_string(s.checked) + " checked, " + std::to_string(s.bans) + " bans, " +
           std::to_string(s.memory_bytes / 1024) + " KiB of tables\n";
    out += "  " + pad("limit", 12) + pad("requests", 10) + pad("window", 9) + "refused\n";
    for (const DosLimitInfo& l : s.limits)
      out += "  " + pad(l.name, 12) + pad(l.requests ? std::to_string(l.requests) : "off", 10) +
             pad(std::to_string(l.window_s) + "s", 9) + std::to_string(l.refused) + "\n";
    out += "  ban: " +
           (s.ban_after
                ? "after " + std::to_string(s.ban_after) + " excess in " +
                      std::to_string(s.ban_window_s) + "s, ttl " + std::to_string(s.ban_ttl_s) + "s"
                : std::string("never")) +
           "\n";
    out += "  top sources over a limit:" + std::string(s.top_sources.empty() ? " none\n" : "\n");
    if (!s.top_sources.empty())
      out += "    " + pad("source", 41) + pad("requests", 10) + pad("excess", 8) + "banned\n";
    for (const DosSourceInfo& src : s.top_sources)
      out += "    " + pad(src.source, 41) + pad(std::to_string(src.requests), 10) +
             pad(std::to_string(src.excess), 8) +
             (src.banned_s ? std::to_string(src.banned_s) + "s" : "-") + "\n";
  }
  ctx.out(out);
  return 0;
}

}  // namespace

int runCommand(Call& call, Services& services) {
  Context ctx(call, services);
  if (!ctx.parseGlobalOptions()) return 2;
  if (ctx.args().empty()) return ctx.usage("no command given");
  const std::string& noun = ctx.args()[0];
  if (noun == "status") return status(ctx);
  if (noun == "stats") return stats(ctx);
  if (noun == "sites") return sites(ctx);
  if (noun == "shield") return shieldCommand(ctx);
  if (noun == "bans") return bans(ctx);
  if (noun == "lists") return lists(ctx);
  if (noun == "config") return config(ctx);
  if (noun == "logs") return logsCommand(ctx);
  if (noun == "rules") return rulesCommand(ctx);
  if (noun == "login") return loginCommand(ctx);
  if (noun == "bots") return botsCommand(ctx);
  if (noun == "site") return siteCommand(ctx);
  if (noun == "dos") return dosCommand(ctx);
  return ctx.usage("unknown command '" + noun + "'");
}

}  // namespace mamori::admin
