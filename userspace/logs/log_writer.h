#pragma once

// LogWriter: the one thread that owns the log files. Workers hand records to
// it through their own LogProducer (a bounded single-producer/single-consumer
// ring: no lock, no syscall, no allocation on the worker side), and the
// writer drains every ring, encodes, appends to
// <dir>/<tenant>/<type>/<type>-YYYY-MM-DD.jsonl, fsyncs per policy, rotates
// at local midnight, compresses finished days and applies retention.
//
// Degraded modes (STYLE.md §4), all fail-open for the traffic:
//  - a full ring: the record is dropped and counted (dropped_queue_full);
//    the worker never waits;
//  - open/write fails (disk full, EACCES, EIO): the lines are dropped and
//    counted (dropped_io_error), a warning goes through WriterOptions::warn at
//    most once per warn_interval, and the writer retries on the next batch,
//    so it resumes by itself once space returns. A partly written line is cut
//    off again with ftruncate, or, if that fails too, the next write starts
//    with '\n' so the torn piece stays on a line of its own;
//  - a file that does not end in '\n' at open (kill -9 mid-write) gets a '\n'
//    before the first new line; readers skip the torn line.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.h"
#include "logs/time_zone.h"
#include "logs/types.h"

namespace mamori::logs {

using Clock = std::function<std::chrono::system_clock::time_point()>;

struct WriterOptions {
  std::string dir = "/var/log/mamori";
  TimeZone zone;  // dates of file names and timestamps; default UTC
  FsyncPolicy fsync = FsyncPolicy::Interval;
  std::chrono::milliseconds flush_interval{1000};  // FsyncPolicy::Interval period
  std::chrono::milliseconds poll_interval{50};     // writer thread wake-up period
  // Records per producer ring, rounded up to a power of two. Slots are
  // preallocated LogRecords (~0.7 KiB each, strings allocated on fill), so
  // 4096 costs about 3 MiB per worker.
  size_t queue_capacity = 4096;
  std::chrono::seconds warn_interval{60};  // at most one I/O warning per interval
  int keep_days = 365;                     // files of older days are deleted by purge()
  std::chrono::seconds purge_interval{3600};  // the writer thread calls purge(); 0: only on demand
  Clock clock;  // injected for tests; default system_clock::now
  // Receives warnings (one line, no trailing newline). Called on the writer
  // thread or the purge() caller, with the writer's lock held: it must not
  // call back into the LogWriter. Default: none.
  std::function<void(std::string_view)> warn;
};

// A tenant removed from the config: its whole directory is deleted by the
// first purge() at or after removed_at + grace. grace is capped at 90 days
// (DESIGN.md: "deleted after its grace period (90 days at most)").
struct RemovedTenant {
  std::string id;
  std::chrono::system_clock::time_point removed_at;
  std::chrono::seconds grace{std::chrono::hours(24 * 30)};
};

inline constexpr std::chrono::seconds kMaxTenantGrace{std::chrono::hours(24 * 90)};

// One producer's queue. Obtained from LogWriter::registerProducer(); exactly
// one thread (its owner, usually a worker) may call submit(). Drop the
// shared_ptr when the thread ends; the writer frees the ring once drained.
class LogProducer {
 public:
  LogProducer(size_t capacity, std::shared_ptr<LogCounters> counters);
  LogProducer(const LogProducer&) = delete;
  LogProducer& operator=(const LogProducer&) = delete;

  // Moves `record` into the ring. Returns false, counts dropped_queue_full
  // and leaves `record` untouched when the ring is full. Wait-free; owner
  // thread only.
  bool submit(LogRecord&& record);

  // Records waiting (approximate when read from another thread). Any thread.
  size_t depth() const;
  size_t capacity() const { return slots_.size(); }

  // Moves up to `max` records into `out`. Writer thread only.
  size_t drainInto(std::vector<LogRecord>* out, size_t max);

 private:
  std::vector<LogRecord> slots_;
  size_t mask_;
  std::shared_ptr<LogCounters> counters_;
  alignas(64) std::atomic<size_t> head_{0};  // next slot to read; written by the consumer
  alignas(64) std::atomic<size_t> tail_{0};  // next slot to fill; written by the producer
};

// What one purge() did.
struct PurgeResult {
  uint64_t files = 0;    // day files deleted for age
  uint64_t tenants = 0;  // removed tenants' directories deleted
};

class LogWriter {
 public:
  // Creates `dir` if needed, removes leftover *.gz.tmp files, and queues
  // plain files of finished days (a crash before their compression) for
  // compression. Fails when `dir` cannot be created or listed, or on options
  // out of range (queue_capacity 0 or > 2^24, keep_days < 1, poll_interval
  // not positive). Control plane.
  static common::Result<std::unique_ptr<LogWriter>> create(WriterOptions options);

  ~LogWriter();  // stop()
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // A new ring for the calling thread. Any thread; lock-free (a CAS push
  // that the writer adopts on its next round), so a worker's first record
  // never waits for the writer.
  std::shared_ptr<LogProducer> registerProducer();

  // Starts the writer thread, which calls pump() every poll_interval. Fails
  // if already started. Control plane.
  common::Status start();

  // Stops the thread (if any), writes what is queued, fsyncs and closes the
  // files. Idempotent. Control plane.
  void stop();

  // One round of the writer's work: drain every ring, write, rotate at local
  // midnight, fsync per policy, compress finished days, warn, and purge when
  // purge_interval has passed. Returns the number of records taken from the
  // rings. Called by the writer thread; tests call it directly without
  // start() so that everything happens on their thread with their clock.
  // Serialised with purge() and itself by one lock. Compressing a finished
  // day happens here too, so the first pump after midnight takes as long as
  // gzip needs for that day's files (the rings absorb the pause).
  size_t pump();

  // Applies retention now: deletes day files dated before today - keep_days
  // and the directories of removed tenants past their grace. Errors are
  // counted, warned and skipped. Any control thread (serialised with pump()).
  PurgeResult purge();

  // Replaces the list of removed tenants. Records for a tenant whose
  // directory was purged are dropped (dropped_invalid) rather than
  // recreating it. Any control thread.
  void setRemovedTenants(std::vector<RemovedTenant> removed);

  LogCountersSnapshot counters() const;
  // The live counters, to hand to a LogReader so torn_lines_skipped lands in
  // the same list.
  std::shared_ptr<LogCounters> sharedCounters() const { return counters_; }

  const WriterOptions& options() const { return options_; }

 private:
  struct OpenFile;
  explicit LogWriter(WriterOptions options);

  std::chrono::system_clock::time_point now() const;
  void scanForUnfinished(std::chrono::year_month_day today);
  void rotate(std::chrono::year_month_day today);
  void writeBatch(OpenFile* file, std::string_view prefix_and_lines, size_t lines);
  void writePending(OpenFile* file, std::chrono::year_month_day today);
  bool openFile(OpenFile* file, std::chrono::year_month_day today);
  void closeFile(OpenFile* file, bool sync);
  void fsyncFiles(bool force);
  void compressPending(std::chrono::system_clock::time_point now);
  void noteIoError(const std::string& message, uint64_t lines);
  void maybeWarn(std::chrono::system_clock::time_point now);
  bool tenantPurged(const std::string& tenant, std::chrono::system_clock::time_point now) const;
  PurgeResult purgeLocked(std::chrono::system_clock::time_point now);
  void threadMain();

  WriterOptions options_;
  std::shared_ptr<LogCounters> counters_;

  // Registration comes from worker threads (their first record), so it
  // takes no lock: a new producer is pushed onto `incoming_` with a CAS and
  // adopted into producers_ by the writer side.
  struct IncomingProducer {
    std::shared_ptr<LogProducer> producer;
    IncomingProducer* next = nullptr;
  };
  void adoptIncomingLocked() const;
  mutable std::atomic<IncomingProducer*> incoming_{nullptr};
  mutable std::mutex producers_mutex_;  // guards producers_ (writer vs counters(); never a worker)
  mutable std::vector<std::shared_ptr<LogProducer>> producers_;

  std::mutex io_mutex_;  // serialises pump() and purge(): everything below
  std::map<std::string, std::unique_ptr<OpenFile>> files_;  // key "<tenant>/<type>"
  std::vector<std::string> compress_queue_;
  std::chrono::system_clock::time_point next_compress_try_{};
  std::chrono::year_month_day today_{};
  std::chrono::system_clock::time_point last_fsync_{};
  std::chrono::system_clock::time_point last_purge_{};
  std::chrono::system_clock::time_point last_warn_{};
  bool warned_ever_ = false;
  uint64_t lost_since_warn_ = 0;
  std::string last_error_;
  std::vector<RemovedTenant> removed_;
  std::vector<LogRecord> batch_;

  std::mutex thread_mutex_;  // guards the thread state below
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mamori::logs
