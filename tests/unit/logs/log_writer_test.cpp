#include "logs/log_writer.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "logs/json.h"
#include "logs/log_files.h"
#include "logs/log_reader.h"
#include "test_util.h"

namespace mamori::logs {
namespace {

namespace chr = std::chrono;
namespace fs = std::filesystem;
using testing::at;
using testing::FakeClock;
using testing::readFile;
using testing::TempDir;

LogRecord rec(const std::string& tenant, LogType type, chr::system_clock::time_point t,
              std::string message = "m") {
  LogRecord r;
  r.tenant = tenant;
  r.type = type;
  r.time = t;
  r.message = std::move(message);
  return r;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      out.push_back(text.substr(start));
      break;
    }
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

void touch(const std::string& path, const std::string& content = "") {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

class LogWriterTest : public ::testing::Test {
 protected:
  std::unique_ptr<LogWriter> make(WriterOptions o = {}) {
    o.dir = dir_.path() + "/logs";
    o.clock = clock_.clock();
    o.purge_interval = chr::seconds(0);  // the tests call purge() themselves
    auto w = LogWriter::create(std::move(o));
    EXPECT_TRUE(w.ok()) << (w.ok() ? "" : w.error().message);
    return w.ok() ? std::move(*w) : nullptr;
  }
  std::string path(const std::string& rel) const { return dir_.path() + "/logs/" + rel; }

  TempDir dir_;
  FakeClock clock_{at("2026-11-28T10:00:00Z")};
};

TEST_F(LogWriterTest, WritesOneFilePerTenantAndType) {
  auto w = make();
  auto p = w->registerProducer();
  ASSERT_TRUE(p->submit(rec("acme", LogType::Event, clock_.now(), "one")));
  ASSERT_TRUE(p->submit(rec("acme", LogType::Dos, clock_.now(), "two")));
  ASSERT_TRUE(p->submit(rec("globex", LogType::Event, clock_.now(), "three")));
  EXPECT_EQ(w->pump(), 3u);
  auto acme = lines(readFile(path("acme/event/event-2026-11-28.jsonl")));
  ASSERT_EQ(acme.size(), 1u);
  EXPECT_EQ(parseFlatJson(acme[0])->get("message"), "one");
  EXPECT_EQ(lines(readFile(path("acme/dos/dos-2026-11-28.jsonl"))).size(), 1u);
  EXPECT_EQ(lines(readFile(path("globex/event/event-2026-11-28.jsonl"))).size(), 1u);
  EXPECT_EQ(w->counters().written, 3u);
}

TEST_F(LogWriterTest, RotatesAtLocalMidnightAndCompresses) {
  WriterOptions o;
  o.zone = *TimeZone::load("Asia/Tokyo");
  clock_.set(at("2026-11-28T14:59:59Z"));  // 23:59:59 in Tokyo
  auto w = make(o);
  auto p = w->registerProducer();
  ASSERT_TRUE(p->submit(rec("acme", LogType::Event, clock_.now(), "before")));
  w->pump();
  EXPECT_TRUE(fs::exists(path("acme/event/event-2026-11-28.jsonl")));
  clock_.advance(chr::seconds(1));  // 00:00:00 in Tokyo
  ASSERT_TRUE(p->submit(rec("acme", LogType::Event, clock_.now(), "after")));
  w->pump();
  auto c = w->counters();
  EXPECT_EQ(c.rotations, 1u);
  EXPECT_EQ(c.compressions, 1u);
  EXPECT_FALSE(fs::exists(path("acme/event/event-2026-11-28.jsonl")));
  std::string gz = readFile(path("acme/event/event-2026-11-28.jsonl.gz"));
  ASSERT_GE(gz.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  std::vector<std::string> old_lines;
  ASSERT_TRUE(forEachLine(path("acme/event/event-2026-11-28.jsonl.gz"), [&](std::string_view l, bool complete) {
                EXPECT_TRUE(complete);
                old_lines.emplace_back(l);
                return true;
              }).ok());
  ASSERT_EQ(old_lines.size(), 1u);
  EXPECT_EQ(parseFlatJson(old_lines[0])->get("@timestamp"), "2026-11-28T23:59:59.000+09:00");
  auto today = lines(readFile(path("acme/event/event-2026-11-29.jsonl")));
  ASSERT_EQ(today.size(), 1u);
  EXPECT_EQ(parseFlatJson(today[0])->get("message"), "after");
}

TEST_F(LogWriterTest, RotatesWithoutNewTraffic) {
  auto w = make();
  auto p = w->registerProducer();
  ASSERT_TRUE(p->submit(rec("acme", LogType::Bot, clock_.now())));
  w->pump();
  clock_.set(at("2026-11-29T00:00:01Z"));
  EXPECT_EQ(w->pump(), 0u);
  EXPECT_EQ(w->counters().rotations, 1u);
  EXPECT_TRUE(fs::exists(path("acme/bot/bot-2026-11-28.jsonl.gz")));
  EXPECT_FALSE(fs::exists(path("acme/bot/bot-2026-11-28.jsonl")));
}

TEST_F(LogWriterTest, CompressesLeftoversOfACrashAtStartup) {
  touch(path("acme/event/event-2026-11-27.jsonl"), "{\"a\":1}\n");
  touch(path("acme/event/event-2026-11-26.jsonl.gz.tmp"), "half a gzip");
  touch(path("acme/event/event-2026-11-25.jsonl"), "{\"a\":1}\n");  // renamed, not yet unlinked:
  ASSERT_TRUE(compressFile(path("acme/event/event-2026-11-25.jsonl")).ok());
  touch(path("acme/event/event-2026-11-25.jsonl"), "{\"a\":1}\n");
  touch(path("acme/event/event-2026-11-28.jsonl"), "{\"a\":1}\n");  // today: left alone
  auto w = make();
  w->pump();
  EXPECT_TRUE(fs::exists(path("acme/event/event-2026-11-27.jsonl.gz")));
  EXPECT_FALSE(fs::exists(path("acme/event/event-2026-11-27.jsonl")));
  EXPECT_FALSE(fs::exists(path("acme/event/event-2026-11-26.jsonl.gz.tmp")));
  EXPECT_TRUE(fs::exists(path("acme/event/event-2026-11-25.jsonl.gz")));
  EXPECT_FALSE(fs::exists(path("acme/event/event-2026-11-25.jsonl")));
  EXPECT_TRUE(fs::exists(path("acme/event/event-2026-11-28.jsonl")));
  EXPECT_EQ(w->counters().compressions, 1u);
}

TEST_F(LogWriterTest, CompressesADayWrittenOnlyByAPreviousRun) {
  touch(path("acme/audit/audit-2026-11-28.jsonl"), "{\"a\":1}\n");  // today, not ours
  auto w = make();
  w->pump();
  EXPECT_TRUE(fs::exists(path("acme/audit/audit-2026-11-28.jsonl")));
  clock_.set(at("2026-11-29T00:00:00Z"));
  w->pump();
  EXPECT_TRUE(fs::exists(path("acme/audit/audit-2026-11-28.jsonl.gz")));
  EXPECT_FALSE(fs::exists(path("acme/audit/audit-2026-11-28.jsonl")));
}

TEST_F(LogWriterTest, PurgeDeletesFilesOlderThanKeepDays) {
  // today is 2026-11-28; keep_days 365 keeps 2025-11-28 and deletes 2025-11-27.
  touch(path("acme/event/event-2025-11-27.jsonl.gz"), "x");
  touch(path("acme/event/event-2025-11-28.jsonl.gz"), "x");
  touch(path("acme/dos/dos-2025-01-01.jsonl.gz"), "x");
  touch(path("globex/audit/audit-2025-11-20.jsonl"), "x");
  touch(path("acme/event/notes.txt"), "x");  // not ours: untouched
  auto w = make();
  auto r = w->purge();
  EXPECT_EQ(r.files, 3u);
  EXPECT_EQ(w->counters().purged_files, 3u);
  EXPECT_FALSE(fs::exists(path("acme/event/event-2025-11-27.jsonl.gz")));
  EXPECT_TRUE(fs::exists(path("acme/event/event-2025-11-28.jsonl.gz")));
  EXPECT_FALSE(fs::exists(path("acme/dos/dos-2025-01-01.jsonl.gz")));
  EXPECT_FALSE(fs::exists(path("globex/audit/audit-2025-11-20.jsonl")));
  EXPECT_TRUE(fs::exists(path("acme/event/notes.txt")));
  clock_.advance(chr::hours(24));
  EXPECT_EQ(w->purge().files, 1u);  // a day later 2025-11-28 goes too
}

TEST_F(LogWriterTest, PurgeRunsFromPumpEveryPurgeInterval) {
  touch(path("acme/event/event-2024-01-01.jsonl.gz"), "x");
  WriterOptions o;
  o.dir = path("");
  o.clock = clock_.clock();
  o.purge_interval = chr::hours(1);
  auto w = std::move(*LogWriter::create(o));
  w->pump();
  EXPECT_TRUE(fs::exists(path("acme/event/event-2024-01-01.jsonl.gz")));
  clock_.advance(chr::hours(1));
  w->pump();
  EXPECT_FALSE(fs::exists(path("acme/event/event-2024-01-01.jsonl.gz")));
}

TEST_F(LogWriterTest, RemovedTenantIsDeletedAfterItsGrace) {
  auto w = make();
  auto p = w->registerProducer();
  ASSERT_TRUE(p->submit(rec("acme", LogType::Event, clock_.now())));
  ASSERT_TRUE(p->submit(rec("globex", LogType::Event, clock_.now())));
  w->pump();
  w->setRemovedTenants({{"acme", clock_.now() - chr::hours(24 * 10), chr::hours(24 * 30)}});
  EXPECT_EQ(w->purge().tenants, 0u);
  EXPECT_TRUE(fs::exists(path("acme")));
  clock_.advance(chr::hours(24 * 20));
  EXPECT_EQ(w->purge().tenants, 1u);
  EXPECT_FALSE(fs::exists(path("acme")));
  EXPECT_TRUE(fs::exists(path("globex")));
  EXPECT_EQ(w->counters().purged_tenants, 1u);
  // A late record for the purged tenant does not bring its directory back.
  ASSERT_TRUE(p->submit(rec("acme", LogType::Event, clock_.now())));
  w->pump();
  EXPECT_FALSE(fs::exists(path("acme")));
  EXPECT_EQ(w->counters().dropped_invalid, 1u);
}

TEST_F(LogWriterTest, TenantGraceIsCappedAtNinetyDays) {
  touch(path("acme/event/event-2026-11-28.jsonl"), "{}\n");
  auto w = make();
  w->setRemovedTenants({{"acme", clock_.now(), chr::hours(24 * 365)}});
  clock_.advance(chr::hours(24 * 90) - chr::seconds(1));
  EXPECT_EQ(w->purge().tenants, 0u);
  clock_.advance(chr::seconds(1));
  EXPECT_EQ(w->purge().tenants, 1u);
  EXPECT_FALSE(fs::exists(path("acme")));
}

TEST_F(LogWriterTest, TornLastLineGetsANewlineBeforeNewRecords) {
  std::string good = encodeRecord(rec("acme", LogType::Event, clock_.now(), "good"), TimeZone());
  std::string torn = good.substr(0, good.size() / 2);  // kill -9 mid-write
  touch(path("acme/event/event-2026-11-28.jsonl"), good + torn);
  auto w = make();
  auto p = w->registerProducer();
  ASSERT_TRUE(p->submit(rec("acme", LogType::Event, clock_.now(), "after restart")));
  w->pump();
  auto content = readFile(path("acme/event/event-2026-11-28.jsonl"));
  EXPECT_EQ(content.back(), '\n');
  auto ls = lines(content);
  ASSERT_EQ(ls.size(), 3u);
  EXPECT_TRUE(parseFlatJson(ls[0]).ok());
  EXPECT_EQ(ls[1], torn);
  EXPECT_FALSE(parseFlatJson(ls[1]).ok());
  EXPECT_EQ(parseFlatJson(ls[2])->get("message"), "after restart");

  ReaderOptions ro;
  ro.dir = path("");
  ro.clock = clock_.clock();
  ro.counters = w->sharedCounters();
  LogReader reader(ro);
  auto got = reader.queryAll(QueryFilter{});
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].fields.get("message"), "good");
  EXPECT_EQ((*got)[1].fields.get("message"), "after restart");
  EXPECT_EQ(w->counters().torn_lines_skipped, 1u);
}

// A writer process killed with SIGKILL while writing flat out leaves only
// whole lines and at most one torn last line; a new writer carries on after it.
TEST_F(LogWriterTest, SurvivesKillNineMidWrite) {
  std::string file = path("acme/event/event-2026-11-28.jsonl");
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    WriterOptions o;
    o.dir = path("");
    o.clock = clock_.clock();
    o.poll_interval = chr::milliseconds(1);
    o.purge_interval = chr::seconds(0);
    auto w = LogWriter::create(o);
    if (!w.ok() || !(*w)->start().ok()) ::_exit(1);
    auto p = (*w)->registerProducer();
    std::string big(3000, 'x');
    for (uint64_t i = 0;; ++i) (void)p->submit(rec("acme", LogType::Event, clock_.now(), big + std::to_string(i)));
  }
  // Wait (bounded) until the child has written a good amount, then kill it.
  std::error_code ec;
  for (int i = 0; i < 1000 && (!fs::exists(file, ec) || fs::file_size(file, ec) < (2u << 20)); ++i) {
    ::usleep(10 * 1000);
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child exited early: " << status;

  std::string content = readFile(file);
  ASSERT_FALSE(content.empty());
  auto ls = lines(content);
  size_t whole = content.back() == '\n' ? ls.size() : ls.size() - 1;
  for (size_t i = 0; i < whole; ++i) ASSERT_TRUE(parseFlatJson(ls[i]).ok()) << "line " << i;

  auto w = make();
  auto p = w->registerProducer();
  ASSERT_TRUE(p->submit(rec("acme", LogType::Event, clock_.now(), "after")));
  w->pump();
  ReaderOptions ro;
  ro.dir = path("");
  ro.clock = clock_.clock();
  LogReader reader(ro);
  size_t count = 0;
  std::string last;
  ASSERT_TRUE(reader.query(QueryFilter{}, [&](const LogEntry& e) {
    ++count;
    last = e.fields.get("message");
    return true;
  }).ok());
  EXPECT_EQ(count, whole + 1);
  EXPECT_EQ(last, "after");
}

TEST_F(LogWriterTest, QueueOverflowIsCountedNotBlocking) {
  WriterOptions o;
  o.queue_capacity = 4;
  auto w = make(o);
  auto p = w->registerProducer();
  int accepted = 0;
  for (int i = 0; i < 10; ++i) accepted += p->submit(rec("acme", LogType::Event, clock_.now())) ? 1 : 0;
  EXPECT_EQ(accepted, 4);
  auto c = w->counters();
  EXPECT_EQ(c.dropped_queue_full, 6u);
  EXPECT_EQ(c.queue_depth, 4u);
  w->pump();
  c = w->counters();
  EXPECT_EQ(c.queue_depth, 0u);
  EXPECT_EQ(c.written, 4u);
  EXPECT_TRUE(p->submit(rec("acme", LogType::Event, clock_.now())));  // room again
}

TEST_F(LogWriterTest, InvalidTenantIdNeverNamesAPath) {
  auto w = make();
  auto p = w->registerProducer();
  for (const char* bad : {"../escape", "", "UPPER", "-lead", "a/b"}) {
    ASSERT_TRUE(p->submit(rec(bad, LogType::Event, clock_.now())));
  }
  w->pump();
  EXPECT_EQ(w->counters().dropped_invalid, 5u);
  EXPECT_EQ(w->counters().written, 0u);
  EXPECT_FALSE(fs::exists(dir_.path() + "/escape"));
}

TEST_F(LogWriterTest, UnwritableDirectoryCountsWarnsOnceAndResumes) {
  touch(path("acme"), "a file where the tenant directory should be");
  std::vector<std::string> warnings;
  WriterOptions o;
  o.warn_interval = chr::seconds(60);
  o.warn = [&](std::string_view m) { warnings.emplace_back(m); };
  auto w = make(o);
  auto p = w->registerProducer();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(p->submit(rec("acme", LogType::Event, clock_.now())));
    w->pump();
    clock_.advance(chr::seconds(1));
  }
  EXPECT_EQ(w->counters().dropped_io_error, 3u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("1 line(s) lost"), std::string::npos) << warnings[0];
  clock_.advance(chr::seconds(60));
  w->pump();
  ASSERT_EQ(warnings.size(), 2u);  // the next interval reports the two lost since
  EXPECT_NE(warnings[1].find("2 line(s) lost"), std::string::npos) << warnings[1];
  fs::remove(path("acme"));
  ASSERT_TRUE(p->submit(rec("acme", LogType::Event, clock_.now())));
  w->pump();
  EXPECT_EQ(w->counters().written, 1u);
  EXPECT_EQ(lines(readFile(path("acme/event/event-2026-11-28.jsonl"))).size(), 1u);
}

TEST_F(LogWriterTest, FsyncPolicies) {
  for (FsyncPolicy policy : {FsyncPolicy::EveryLine, FsyncPolicy::Interval, FsyncPolicy::Never}) {
    TempDir d;
    WriterOptions o;
    o.dir = d.path();
    o.clock = clock_.clock();
    o.fsync = policy;
    o.flush_interval = chr::seconds(1);
    auto w = std::move(*LogWriter::create(o));
    auto p = w->registerProducer();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(p->submit(rec("acme", LogType::Event, clock_.now())));
    w->pump();
    uint64_t after_write = w->counters().fsyncs;
    clock_.advance(chr::seconds(1));
    w->pump();
    uint64_t after_interval = w->counters().fsyncs;
    EXPECT_EQ(w->counters().written, 3u);
    EXPECT_EQ(lines(readFile(d.path() + "/acme/event/event-2026-11-28.jsonl")).size(), 3u);
    switch (policy) {
      case FsyncPolicy::EveryLine: EXPECT_EQ(after_write, 3u); EXPECT_EQ(after_interval, 3u); break;
      case FsyncPolicy::Interval: EXPECT_EQ(after_write, 0u); EXPECT_EQ(after_interval, 1u); break;
      case FsyncPolicy::Never: EXPECT_EQ(after_write, 0u); EXPECT_EQ(after_interval, 0u); break;
    }
  }
}

TEST_F(LogWriterTest, WriterThreadDrainsEveryProducerOnStop) {
  auto w = make();
  ASSERT_TRUE(w->start().ok());
  EXPECT_FALSE(w->start().ok());
  constexpr int kPerThread = 3000;
  std::atomic<uint64_t> accepted{0};
  auto work = [&](const char* tenant) {
    auto p = w->registerProducer();
    for (int i = 0; i < kPerThread; ++i) {
      if (p->submit(rec(tenant, LogType::Event, clock_.now(), std::to_string(i)))) ++accepted;
    }
  };
  std::thread a(work, "acme");
  std::thread b(work, "globex");
  a.join();
  b.join();
  w->stop();
  auto c = w->counters();
  EXPECT_EQ(c.written, accepted.load());
  EXPECT_EQ(c.written + c.dropped_queue_full, 2u * kPerThread);
  EXPECT_EQ(lines(readFile(path("acme/event/event-2026-11-28.jsonl"))).size() +
                lines(readFile(path("globex/event/event-2026-11-28.jsonl"))).size(),
            c.written);
}

TEST_F(LogWriterTest, ProducersRegisteredWhileTheWriterRunsAreAllDrained) {
  // Registration is a lock-free push adopted by the writer: threads that
  // register while it pumps (and threads that let go of their producer
  // before it is adopted) lose nothing.
  auto w = make();
  ASSERT_TRUE(w->start().ok());
  constexpr int kThreads = 8;
  constexpr int kProducersPerThread = 20;
  constexpr int kRecords = 5;
  std::atomic<uint64_t> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int k = 0; k < kProducersPerThread; ++k) {
        auto p = w->registerProducer();
        for (int i = 0; i < kRecords; ++i)
          if (p->submit(rec("acme", LogType::Event, clock_.now()))) ++accepted;
      }
    });
  for (auto& t : threads) t.join();
  w->stop();
  auto c = w->counters();
  EXPECT_EQ(accepted.load(), uint64_t{kThreads} * kProducersPerThread * kRecords);
  EXPECT_EQ(c.written, accepted.load());
  EXPECT_EQ(c.queue_depth, 0u);
  EXPECT_EQ(lines(readFile(path("acme/event/event-2026-11-28.jsonl"))).size(), c.written);
}

TEST_F(LogWriterTest, RejectsBadOptions) {
  WriterOptions o;
  o.queue_capacity = 0;
  o.dir = dir_.path();
  EXPECT_FALSE(LogWriter::create(o).ok());
  o.queue_capacity = 8;
  o.keep_days = 0;
  EXPECT_FALSE(LogWriter::create(o).ok());
  o.keep_days = 1;
  o.poll_interval = chr::milliseconds(0);
  EXPECT_FALSE(LogWriter::create(o).ok());
  o.poll_interval = chr::milliseconds(50);
  o.dir = "/proc/mamori-cannot-exist";
  EXPECT_FALSE(LogWriter::create(o).ok());
}

// Disk full on a real, tiny tmpfs: the writer keeps going, counts the loss,
// warns once, leaves only whole lines behind, and resumes when space returns.
class TmpfsMount {
 public:
  explicit TmpfsMount(const std::string& path) : path_(path) {
    fs::create_directories(path_);
    mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", 0, "size=64k") == 0;
    errno_ = errno;
  }
  ~TmpfsMount() {
    if (mounted_ && ::umount2(path_.c_str(), 0) != 0) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  int error() const { return errno_; }

 private:
  std::string path_;
  bool mounted_ = false;
  int errno_ = 0;
};

TEST_F(LogWriterTest, DiskFullCountsLossAndResumes) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
  std::string mnt = dir_.path() + "/small";
  TmpfsMount tmpfs(mnt);
  if (!tmpfs.mounted()) GTEST_SKIP() << "cannot mount tmpfs: " << std::strerror(tmpfs.error());
  std::vector<std::string> warnings;
  WriterOptions o;
  o.dir = mnt + "/logs";
  o.clock = clock_.clock();
  o.purge_interval = chr::seconds(0);
  o.warn = [&](std::string_view m) { warnings.emplace_back(m); };
  auto w = std::move(*LogWriter::create(o));
  touch(mnt + "/filler", std::string(24 * 1024, 'x'));
  auto p = w->registerProducer();
  std::string big(900, 'a');
  int rounds = 0;
  while (w->counters().dropped_io_error == 0 && rounds < 200) {
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(p->submit(rec("acme", LogType::Event, clock_.now(), big)));
    w->pump();
    ++rounds;
  }
  ASSERT_GT(w->counters().dropped_io_error, 0u) << "the tmpfs never filled";
  // More loss within the interval: still one warning.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(p->submit(rec("acme", LogType::Event, clock_.now(), big)));
  w->pump();
  EXPECT_EQ(warnings.size(), 1u);
  auto c = w->counters();
  EXPECT_EQ(c.written + c.dropped_io_error, 5u * (rounds + 1));
  // Whatever is in the file is whole lines only.
  std::string file = mnt + "/logs/acme/event/event-2026-11-28.jsonl";
  std::string content = readFile(file);
  ASSERT_FALSE(content.empty());
  EXPECT_EQ(content.back(), '\n');
  auto ls = lines(content);
  for (const auto& l : ls) EXPECT_TRUE(parseFlatJson(l).ok());
  EXPECT_EQ(ls.size(), c.written);

  fs::remove(mnt + "/filler");  // space returns
  uint64_t written_before = c.written;
  ASSERT_TRUE(p->submit(rec("acme", LogType::Event, clock_.now(), "back")));
  w->pump();
  EXPECT_EQ(w->counters().written, written_before + 1);
  EXPECT_EQ(lines(readFile(file)).back().find("\"message\":\"back\"") != std::string::npos, true);
  w->stop();
}

}  // namespace
}  // namespace mamori::logs
