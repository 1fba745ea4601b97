#include "logs/log_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "logs/json.h"
#include "logs/log_files.h"

namespace mamori::logs {

namespace chr = std::chrono;
namespace fs = std::filesystem;
using common::Error;
using common::Result;
using common::Status;

namespace {

// Most records taken from the rings per pump(), so that rotation, fsync and
// the stop flag are looked at regularly even under a flood.
constexpr size_t kMaxBatch = 65536;

size_t roundUpPow2(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

void bump(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

Status makeDirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return Error{ec.value(), "mkdir " + path + ": " + ec.message()};
  return {};
}

}  // namespace

// --- LogProducer --------------------------------------------------------------

LogProducer::LogProducer(size_t capacity, std::shared_ptr<LogCounters> counters)
    : slots_(roundUpPow2(capacity)), mask_(slots_.size() - 1), counters_(std::move(counters)) {}

bool LogProducer::submit(LogRecord&& record) {
  size_t tail = tail_.load(std::memory_order_relaxed);
  size_t head = head_.load(std::memory_order_acquire);
  if (tail - head >= slots_.size()) {
    bump(counters_->dropped_queue_full);
    return false;
  }
  slots_[tail & mask_] = std::move(record);
  tail_.store(tail + 1, std::memory_order_release);
  return true;
}

size_t LogProducer::depth() const {
  size_t tail = tail_.load(std::memory_order_acquire);
  size_t head = head_.load(std::memory_order_acquire);
  return tail - head;
}

size_t LogProducer::drainInto(std::vector<LogRecord>* out, size_t max) {
  size_t head = head_.load(std::memory_order_relaxed);
  size_t tail = tail_.load(std::memory_order_acquire);
  size_t n = 0;
  while (head != tail && n < max) {
    out->push_back(std::move(slots_[head & mask_]));
    slots_[head & mask_] = LogRecord{};  // release the moved-from strings' memory now
    ++head;
    ++n;
  }
  head_.store(head, std::memory_order_release);
  return n;
}

// --- LogWriter ----------------------------------------------------------------

struct LogWriter::OpenFile {
  std::string tenant;
  LogType type = LogType::Event;
  int fd = -1;
  std::string path;
  chr::year_month_day date{};
  uint64_t size = 0;
  bool needs_newline = false;  // the file does not end in '\n'
  bool dirty = false;          // written since the last fsync
  std::string pending;         // encoded lines waiting for this pump's write
  std::vector<size_t> line_ends;  // offsets in `pending` after each line
};

LogWriter::LogWriter(WriterOptions options)
    : options_(std::move(options)), counters_(std::make_shared<LogCounters>()) {}

Result<std::unique_ptr<LogWriter>> LogWriter::create(WriterOptions options) {
  if (options.queue_capacity == 0 || options.queue_capacity > (1u << 24)) {
    return Error{EINVAL, "logs: queue_capacity must be 1..16777216"};
  }
  if (options.keep_days < 1) return Error{EINVAL, "logs: keep_days must be at least 1"};
  if (options.poll_interval.count() <= 0) return Error{EINVAL, "logs: poll_interval must be positive"};
  if (options.dir.empty()) return Error{EINVAL, "logs: dir is empty"};
  if (!options.clock) options.clock = [] { return chr::system_clock::now(); };
  Status st = makeDirs(options.dir);
  if (!st.ok()) return Error{st.error().code, "logs: " + st.error().message};
  std::unique_ptr<LogWriter> w(new LogWriter(std::move(options)));
  auto now = w->now();
  w->today_ = w->options_.zone.localDate(now);
  w->last_fsync_ = now;
  w->last_purge_ = now;
  auto tenants = listTenants(w->options_.dir);
  if (!tenants.ok()) return Error{tenants.error().code, "logs: " + tenants.error().message};
  w->scanForUnfinished(w->today_);
  return w;
}

LogWriter::~LogWriter() {
  stop();
  for (IncomingProducer* n = incoming_.exchange(nullptr); n != nullptr;) {
    IncomingProducer* next = n->next;
    delete n;
    n = next;
  }
}

chr::system_clock::time_point LogWriter::now() const { return options_.clock(); }

std::shared_ptr<LogProducer> LogWriter::registerProducer() {
  auto p = std::make_shared<LogProducer>(options_.queue_capacity, counters_);
  auto* node = new IncomingProducer{p, incoming_.load(std::memory_order_relaxed)};
  // Release: the writer that takes the node sees the producer built.
  while (!incoming_.compare_exchange_weak(node->next, node, std::memory_order_release,
                                          std::memory_order_relaxed)) {
  }
  return p;
}

void LogWriter::adoptIncomingLocked() const {
  IncomingProducer* n = incoming_.exchange(nullptr, std::memory_order_acquire);
  while (n != nullptr) {
    producers_.push_back(std::move(n->producer));
    IncomingProducer* next = n->next;
    delete n;
    n = next;
  }
}

Status LogWriter::start() {
  std::lock_guard<std::mutex> lock(thread_mutex_);
  if (thread_.joinable()) return Error{EBUSY, "logs: writer already started"};
  stopping_ = false;
  thread_ = std::thread([this] { threadMain(); });
  return {};
}

void LogWriter::threadMain() {
  std::unique_lock<std::mutex> lock(thread_mutex_);
  while (!stopping_) {
    lock.unlock();
    pump();
    lock.lock();
    wake_.wait_for(lock, options_.poll_interval, [this] { return stopping_; });
  }
}

void LogWriter::stop() {
  {
    std::lock_guard<std::mutex> lock(thread_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Whatever is still queued, then close everything durably.
  while (pump() > 0) {
  }
  std::lock_guard<std::mutex> lock(io_mutex_);
  for (auto& [key, f] : files_) closeFile(f.get(), options_.fsync != FsyncPolicy::Never);
  files_.clear();
}

void LogWriter::scanForUnfinished(chr::year_month_day today) {
  auto tenants = listTenants(options_.dir);
  if (!tenants.ok()) return;
  for (const auto& tenant : *tenants) {
    for (LogType type : kAllLogTypes) {
      std::string type_dir = options_.dir + "/" + tenant + "/" + std::string(logTypeName(type));
      std::error_code ec;
      fs::directory_iterator it(type_dir, ec);
      if (ec) continue;
      for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) break;
        std::string name = it->path().filename().string();
        if (name.size() > 7 && name.compare(name.size() - 7, 7, ".gz.tmp") == 0) {
          ::unlink(it->path().c_str());  // an interrupted compression; the plain file is intact
          continue;
        }
        auto f = parseDayFileName(type, name);
        if (!f || f->gz || f->date >= today) continue;
        std::string path = it->path().string();
        if (std::find(compress_queue_.begin(), compress_queue_.end(), path) == compress_queue_.end()) {
          compress_queue_.push_back(path);
        }
      }
    }
  }
  std::sort(compress_queue_.begin(), compress_queue_.end());
}

void LogWriter::closeFile(OpenFile* f, bool sync) {
  if (f->fd < 0) return;
  if (sync && f->dirty) {
    if (::fsync(f->fd) == 0) {
      bump(counters_->fsyncs);
    } else {
      bump(counters_->write_errors);
      noteIoError("fsync " + f->path + ": " + std::strerror(errno), 0);
    }
  }
  ::close(f->fd);
  f->fd = -1;
  f->dirty = false;
}

bool LogWriter::openFile(OpenFile* f, chr::year_month_day today) {
  std::string type_dir = options_.dir + "/" + f->tenant + "/" + std::string(logTypeName(f->type));
  Status st = makeDirs(type_dir);
  if (!st.ok()) {
    bump(counters_->write_errors);
    last_error_ = st.error().message;
    return false;
  }
  std::string path = type_dir + "/" + dayFileName(f->type, today, false);
  bool existed = ::access(path.c_str(), F_OK) == 0;
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0) {
    bump(counters_->write_errors);
    last_error_ = common::errnoError("open " + path, errno).message;
    return false;
  }
  struct stat sb {};
  if (::fstat(fd, &sb) != 0) {
    bump(counters_->write_errors);
    last_error_ = common::errnoError("fstat " + path, errno).message;
    ::close(fd);
    return false;
  }
  f->fd = fd;
  f->path = path;
  f->date = today;
  f->size = static_cast<uint64_t>(sb.st_size);
  f->needs_newline = false;
  if (f->size > 0) {
    // A previous run killed mid-line leaves no '\n' at the end: start afresh
    // on a new line so the torn piece does not swallow the next record.
    char last = 0;
    if (::pread(fd, &last, 1, static_cast<off_t>(f->size - 1)) != 1 || last != '\n') {
      f->needs_newline = true;
    }
  }
  if (!existed) (void)fsyncDir(type_dir);  // the new name must survive a crash too
  return true;
}

void LogWriter::noteIoError(const std::string& message, uint64_t lines) {
  last_error_ = message;
  lost_since_warn_ += lines;
}

void LogWriter::maybeWarn(chr::system_clock::time_point now) {
  if (lost_since_warn_ == 0 && last_error_.empty()) return;
  if (warned_ever_ && now - last_warn_ < options_.warn_interval) return;
  if (options_.warn) {
    std::string msg = "logs: " + std::to_string(lost_since_warn_) +
                      " line(s) lost to I/O errors; last error: " + last_error_;
    options_.warn(msg);
  }
  warned_ever_ = true;
  last_warn_ = now;
  lost_since_warn_ = 0;
  last_error_.clear();
}

// Writes `data` (an optional leading '\n' of `prefix` bytes, then `lines`
// whole lines) with one or more write(2) calls. On failure keeps only the
// whole lines that made it, cutting the rest off with ftruncate.
void LogWriter::writeBatch(OpenFile* f, std::string_view data, size_t lines) {
  size_t prefix = f->needs_newline ? 1 : 0;
  size_t done = 0;
  int err = 0;
  while (done < data.size()) {
    ssize_t w = ::write(f->fd, data.data() + done, data.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    if (w == 0) {
      err = EIO;
      break;
    }
    done += static_cast<size_t>(w);
  }
  if (err == 0) {
    f->size += data.size();
    f->needs_newline = false;
    f->dirty = true;
    bump(counters_->written, lines);
    return;
  }
  bump(counters_->write_errors);
  // Keep what ends in '\n' (the prefix newline and whole lines); cut the rest.
  size_t keep = 0;
  if (done > 0) {
    size_t nl = data.substr(0, done).rfind('\n');
    keep = nl == std::string_view::npos ? 0 : nl + 1;
  }
  if (keep < done) {
    if (::ftruncate(f->fd, static_cast<off_t>(f->size + keep)) == 0) {
      done = keep;
    } else {
      f->needs_newline = true;  // the torn piece stays; the next write starts a new line
    }
  }
  size_t whole = 0;
  if (keep > prefix) {
    std::string_view kept = data.substr(prefix, keep - prefix);
    whole = static_cast<size_t>(std::count(kept.begin(), kept.end(), '\n'));
  }
  if (keep > 0) f->needs_newline = false;
  if (done > keep) f->needs_newline = true;
  f->size += done;
  if (done > 0) f->dirty = true;
  bump(counters_->written, whole);
  bump(counters_->dropped_io_error, lines - whole);
  noteIoError(common::errnoError("write " + f->path, err).message, lines - whole);
}

void LogWriter::writePending(OpenFile* f, chr::year_month_day today) {
  size_t lines = f->line_ends.size();
  if (lines == 0) return;
  if (f->fd < 0 && !openFile(f, today)) {
    bump(counters_->dropped_io_error, lines);
    lost_since_warn_ += lines;
  } else if (options_.fsync == FsyncPolicy::EveryLine) {
    size_t start = 0;
    for (size_t end : f->line_ends) {
      std::string chunk = f->needs_newline ? "\n" : "";
      chunk.append(f->pending, start, end - start);
      writeBatch(f, chunk, 1);
      start = end;
      if (::fsync(f->fd) == 0) {
        bump(counters_->fsyncs);
        f->dirty = false;
      } else {
        bump(counters_->write_errors);
        noteIoError("fsync " + f->path + ": " + std::strerror(errno), 0);
      }
    }
  } else {
    if (f->needs_newline) f->pending.insert(0, 1, '\n');
    writeBatch(f, f->pending, lines);
  }
  f->pending.clear();
  f->line_ends.clear();
}

void LogWriter::rotate(chr::year_month_day today) {
  for (auto& [key, f] : files_) {
    if (f->fd >= 0 && f->date != today) {
      std::string path = f->path;
      closeFile(f.get(), options_.fsync != FsyncPolicy::Never);
      bump(counters_->rotations);
      if (std::find(compress_queue_.begin(), compress_queue_.end(), path) == compress_queue_.end()) {
        compress_queue_.push_back(path);
      }
    }
  }
}

void LogWriter::fsyncFiles(bool force) {
  for (auto& [key, f] : files_) {
    if (f->fd < 0 || !f->dirty) continue;
    if (!force && options_.fsync != FsyncPolicy::Interval) continue;
    if (::fsync(f->fd) == 0) {
      bump(counters_->fsyncs);
      f->dirty = false;
    } else {
      bump(counters_->write_errors);
      noteIoError("fsync " + f->path + ": " + std::strerror(errno), 0);
    }
  }
}

void LogWriter::compressPending(chr::system_clock::time_point now) {
  if (compress_queue_.empty() || now < next_compress_try_) return;
  std::vector<std::string> failed;
  for (const auto& path : compress_queue_) {
    if (::access(path.c_str(), F_OK) != 0) continue;  // purged or already done
    if (::access((path + ".gz").c_str(), F_OK) == 0) {
      // A crash after the rename: the .gz is complete, the plain file is a leftover.
      ::unlink(path.c_str());
      continue;
    }
    Status st = compressFile(path);
    if (st.ok()) {
      bump(counters_->compressions);
    } else {
      bump(counters_->compression_errors);
      noteIoError("compress: " + st.error().message, 0);
      failed.push_back(path);
    }
  }
  compress_queue_ = std::move(failed);
  // Retry a failed compression (disk full) no more often than we warn.
  if (!compress_queue_.empty()) next_compress_try_ = now + options_.warn_interval;
}

bool LogWriter::tenantPurged(const std::string& tenant, chr::system_clock::time_point now) const {
  for (const auto& r : removed_) {
    if (r.id == tenant) return r.removed_at + std::min(r.grace, kMaxTenantGrace) <= now;
  }
  return false;
}

size_t LogWriter::pump() {
  // Held for the whole round: the rings have a single consumer, so two
  // pump() calls (the thread and stop(), or a test) must never overlap.
  std::lock_guard<std::mutex> lock(io_mutex_);
  batch_.clear();
  {
    std::lock_guard<std::mutex> lock(producers_mutex_);
    adoptIncomingLocked();
    for (auto& p : producers_) {
      if (batch_.size() >= kMaxBatch) break;
      p->drainInto(&batch_, kMaxBatch - batch_.size());
    }
    // A producer whose thread let go of it and whose ring is empty is done.
    std::erase_if(producers_, [](const std::shared_ptr<LogProducer>& p) {
      return p.use_count() == 1 && p->depth() == 0;
    });
  }
  auto now = this->now();
  auto today = options_.zone.localDate(now);
  if (today < today_) today = today_;  // the clock stepped back: never reopen a finished day
  if (today != today_) {
    rotate(today);
    today_ = today;
    // Files of the day just ended that this process never opened (written
    // by a previous run earlier that day) need compressing too.
    scanForUnfinished(today);
  }
  for (auto& rec : batch_) {
    if (!validTenantId(rec.tenant) || tenantPurged(rec.tenant, now)) {
      bump(counters_->dropped_invalid);
      continue;
    }
    std::string key = rec.tenant + "/" + std::string(logTypeName(rec.type));
    auto& slot = files_[key];
    if (!slot) {
      slot = std::make_unique<OpenFile>();
      slot->tenant = rec.tenant;
      slot->type = rec.type;
    }
    slot->pending += encodeRecord(rec, options_.zone);
    slot->line_ends.push_back(slot->pending.size());
  }
  for (auto& [key, f] : files_) writePending(f.get(), today);
  if (now - last_fsync_ >= options_.flush_interval) {
    fsyncFiles(false);
    last_fsync_ = now;
  }
  compressPending(now);
  if (options_.purge_interval.count() > 0 && now - last_purge_ >= options_.purge_interval) {
    purgeLocked(now);
  }
  maybeWarn(now);
  return batch_.size();
}

PurgeResult LogWriter::purge() {
  std::lock_guard<std::mutex> lock(io_mutex_);
  auto now = this->now();
  PurgeResult r = purgeLocked(now);
  maybeWarn(now);
  return r;
}

PurgeResult LogWriter::purgeLocked(chr::system_clock::time_point now) {
  last_purge_ = now;
  PurgeResult result;
  chr::sys_days cutoff = chr::sys_days(options_.zone.localDate(now)) - chr::days(options_.keep_days);
  auto tenants = listTenants(options_.dir);
  if (!tenants.ok()) {
    noteIoError("purge: " + tenants.error().message, 0);
    return result;
  }
  for (const auto& tenant : *tenants) {
    if (tenantPurged(tenant, now)) {
      for (LogType type : kAllLogTypes) {
        auto it = files_.find(tenant + "/" + std::string(logTypeName(type)));
        if (it != files_.end()) {
          closeFile(it->second.get(), false);
          files_.erase(it);
        }
      }
      std::string prefix = options_.dir + "/" + tenant + "/";
      std::erase_if(compress_queue_, [&](const std::string& p) { return p.rfind(prefix, 0) == 0; });
      auto removed = removeTree(options_.dir + "/" + tenant);
      if (removed.ok()) {
        ++result.tenants;
        bump(counters_->purged_tenants);
      } else {
        noteIoError("purge: " + removed.error().message, 0);
      }
      continue;
    }
    for (LogType type : kAllLogTypes) {
      auto files = listDayFiles(options_.dir, tenant, type);
      if (!files.ok()) {
        noteIoError("purge: " + files.error().message, 0);
        continue;
      }
      for (const auto& f : *files) {
        if (chr::sys_days(f.date) >= cutoff) break;  // sorted by date
        // Both forms may exist after a crash mid-compression; delete both.
        std::string plain = f.gz ? f.path.substr(0, f.path.size() - 3) : f.path;
        for (const std::string& p : {plain, plain + ".gz"}) {
          if (::unlink(p.c_str()) == 0) {
            ++result.files;
            bump(counters_->purged_files);
          } else if (errno != ENOENT) {
            noteIoError(common::errnoError("unlink " + p, errno).message, 0);
          }
        }
        std::erase(compress_queue_, plain);
      }
    }
  }
  return result;
}

void LogWriter::setRemovedTenants(std::vector<RemovedTenant> removed) {
  std::lock_guard<std::mutex> lock(io_mutex_);
  removed_ = std::move(removed);
}

LogCountersSnapshot LogWriter::counters() const {
  LogCountersSnapshot s = snapshotOf(*counters_);
  std::lock_guard<std::mutex> lock(producers_mutex_);
  adoptIncomingLocked();
  for (const auto& p : producers_) s.queue_depth += p->depth();
  return s;
}

}  // namespace mamori::logs
