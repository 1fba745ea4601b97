#pragma once

// mamorid's side of the logs (userspace/logs): one writer for the process,
// the audit records of control calls and the DoS records of XDP drops, and
// the reader the control commands query. Records that belong to no site
// (audit, XDP drops) are written under the reserved tenant
// config::kHostTenant.

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "admin/control_server.h"
#include "common/ip_prefix.h"
#include "config/types.h"
#include "logs/log_reader.h"
#include "logs/log_writer.h"

namespace mamori::daemon {

class DaemonLogs {
 public:
  // Loads the zone, creates `dir` (config logs.dir unless `dir_override`)
  // and starts the writer thread. Main thread, at startup. Fails on an
  // unknown time zone or an unusable directory.
  static common::Result<std::unique_ptr<DaemonLogs>> start(const config::LogsConfig& config,
                                                            const std::optional<std::string>& dir_override);
  ~DaemonLogs();  // stops the writer: drains, fsyncs, closes

  // Any control thread: queues the audit record of one finished call; the
  // main thread writes it at its next flushAudit().
  void audit(const admin::Caller& caller, const std::vector<std::string>& args, int exit_code,
             const std::string& before, const std::string& after);

  // Main thread only (it owns the producer).
  void flushAudit();
  // `count` sampled XDP drops of `source` for `reason` in the last
  // `interval`; `source` empty for drops the in-kernel sampler skipped.
  void dosDrops(const std::string& source, const std::string& reason, std::uint64_t count,
                std::chrono::seconds interval);
  void setRemovedTenants(const config::Config& config);

  // A producer for one more thread (an engine worker writing event
  // records); that thread alone may submit to it. Any thread.
  std::shared_ptr<logs::LogProducer> registerProducer() { return writer_->registerProducer(); }

  std::shared_ptr<const logs::LogReader> reader() const { return reader_; }
  const std::string& dir() const { return dir_; }
  logs::LogCountersSnapshot counters() const { return writer_->counters(); }

 private:
  DaemonLogs() = default;
  std::string dir_;
  std::unique_ptr<logs::LogWriter> writer_;
  std::shared_ptr<logs::LogProducer> producer_;  // main thread's
  std::shared_ptr<const logs::LogReader> reader_;
  std::mutex audit_mu_;
  std::vector<logs::LogRecord> pending_audit_;
};

}  // namespace mamori::daemon
