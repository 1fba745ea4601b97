#include "daemon/daemon_logs.h"

#include <pwd.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

namespace mamori::daemon {

using common::Error;
using common::Result;

namespace {

// "bans.add" for `bans add 192.0.2.1 --ttl 1h`: the command's words without
// global options (--output json) and without operands.
std::string auditAction(const std::vector<std::string>& args) {
  std::vector<std::string> words;
  // Noun then verb; `lists` has its list's name in between.
  auto wanted = [&] { return !words.empty() && words[0] == "lists" ? 3u : 2u; };
  for (size_t i = 0; i < args.size() && words.size() < wanted(); ++i) {
    const std::string& a = args[i];
    if (a == "--output") {
      ++i;  // and its value
      continue;
    }
    if (a.empty() || a[0] == '-' || std::isdigit(static_cast<unsigned char>(a[0])) ||
        a.find_first_of(":/.") != std::string::npos)
      break;
    words.push_back(a);
  }
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : ".") + w;
  return out.empty() ? "invalid" : out;
}

std::string userName(std::uint32_t uid) {
  passwd pw{}, *found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found) return pw.pw_name;
  return "uid " + std::to_string(uid);
}

}  // namespace

Result<std::unique_ptr<DaemonLogs>> DaemonLogs::start(const config::LogsConfig& config,
                                                      const std::optional<std::string>& dir_override) {
  auto zone = logs::TimeZone::load(config.timezone);
  if (!zone) return Error{zone.error().code, "logs.timezone: " + zone.error().message};
  std::unique_ptr<DaemonLogs> out(new DaemonLogs());
  out->dir_ = dir_override.value_or(config.dir);
  std::error_code ec;
  std::filesystem::create_directories(out->dir_, ec);
  if (ec) return Error{ec.value(), "log directory " + out->dir_ + ": " + ec.message()};
  // Logs name clients and attacks: readable by root and group mamori only.
  ::chmod(out->dir_.c_str(), 0750);

  logs::WriterOptions wo;
  wo.dir = out->dir_;
  wo.zone = *zone;
  wo.keep_days = static_cast<int>(config.keep_days);
  wo.fsync = config.fsync == config::LogFsync::EveryLine ? logs::FsyncPolicy::EveryLine
             : config.fsync == config::LogFsync::Never   ? logs::FsyncPolicy::Never
                                                          : logs::FsyncPolicy::Interval;
  wo.flush_interval = std::chrono::duration_cast<std::chrono::milliseconds>(config.flush_interval);
  wo.warn = [](std::string_view message) {
    std::fprintf(stderr, "mamorid: logs: %.*s\n", static_cast<int>(message.size()), message.data());
  };
  auto writer = logs::LogWriter::create(wo);
  if (!writer) return writer.error();
  out->writer_ = std::move(*writer);
  out->producer_ = out->writer_->registerProducer();
  if (auto st = out->writer_->start(); !st) return st.error();

  logs::ReaderOptions ro;
  ro.dir = out->dir_;
  ro.zone = *zone;
  ro.readable_days = static_cast<int>(config.readable_days);
  ro.counters = out->writer_->sharedCounters();
  out->reader_ = std::make_shared<const logs::LogReader>(ro);
  return out;
}

DaemonLogs::~DaemonLogs() {
  if (!writer_) return;
  flushAudit();
  writer_->stop();
}

void DaemonLogs::audit(const admin::Caller& caller, const std::vector<std::string>& args,
                       int exit_code, const std::string& before, const std::string& after) {
  logs::LogRecord r;
  r.type = logs::LogType::Audit;
  r.time = std::chrono::system_clock::now();
  r.tenant = config::kHostTenant;
  r.category = "configuration";
  r.action = auditAction(args);
  r.event_type = before.empty() && after.empty() ? "info" : "change";
  r.outcome = exit_code == 0 ? "success" : "failure";
  std::string command;
  for (const auto& a : args) command += (command.empty() ? "" : " ") + a;
  r.message = "mamorictl " + command;
  const std::string user = userName(caller.uid);
  r.details.push_back({"user", logs::Value::string(user)});
  r.details.push_back({"uid", logs::Value::unsignedInt(caller.uid)});
  r.details.push_back({"pid", logs::Value::integer(caller.pid)});
  r.details.push_back({"command", logs::Value::string(command)});
  r.details.push_back({"exit_code", logs::Value::integer(exit_code)});
  if (!before.empty()) r.details.push_back({"before", logs::Value::string(before)});
  if (!after.empty()) r.details.push_back({"after", logs::Value::string(after)});
  r.details.push_back({"result", logs::Value::string(exit_code == 0   ? "ok"
                                                    : exit_code == 2 ? "usage error"
                                                                     : "failed")});
  std::lock_guard lock(audit_mu_);
  pending_audit_.push_back(std::move(r));
}

void DaemonLogs::flushAudit() {
  std::vector<logs::LogRecord> batch;
  {
    std::lock_guard lock(audit_mu_);
    batch.swap(pending_audit_);
  }
  for (auto& r : batch) producer_->submit(std::move(r));  // a full ring counts its drop
}

void DaemonLogs::dosDrops(const std::string& source, const std::string& reason,
                          std::uint64_t count, std::chrono::seconds interval) {
  logs::LogRecord r;
  r.type = logs::LogType::Dos;
  r.time = std::chrono::system_clock::now();
  r.tenant = config::kHostTenant;
  r.category = "network";
  r.event_type = "denied";
  r.action = "drop";
  r.source_ip = source;
  r.message = source.empty()
                  ? std::to_string(count) + " XDP drops not sampled (event cap)"
                  : std::to_string(count) + " sampled XDP drops from " + source + " (" + reason + ")";
  r.details.push_back({"layer", logs::Value::string("xdp")});
  r.details.push_back({"reason", logs::Value::string(reason)});
  r.details.push_back({"count", logs::Value::unsignedInt(count)});
  r.details.push_back({"sampled", logs::Value::boolean(!source.empty())});
  r.details.push_back({"interval_s", logs::Value::integer(interval.count())});
  producer_->submit(std::move(r));
}

void DaemonLogs::setRemovedTenants(const config::Config& config) {
  std::vector<logs::RemovedTenant> removed;
  for (const auto& t : config.tenants)
    if (t.removed_at) removed.push_back({t.id, *t.removed_at});  // default grace: 30 days
  writer_->setRemovedTenants(std::move(removed));
}

}  // namespace mamori::daemon
