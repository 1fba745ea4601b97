#include "logs/log_reader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "logs/log_files.h"
#include "test_util.h"

namespace mamori::logs {
namespace {

namespace chr = std::chrono;
namespace fs = std::filesystem;
using testing::at;
using testing::FakeClock;
using testing::TempDir;

// Writes a small history through the real writer (so files are rotated and
// compressed as in production), then reads it back. The zone is Berlin, so
// file days are Berlin days.
class LogReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    zone_ = *TimeZone::load("Europe/Berlin");
    WriterOptions o;
    o.dir = dir_.path();
    o.zone = zone_;
    o.clock = clock_.clock();
    o.purge_interval = chr::seconds(0);
    writer_ = std::move(*LogWriter::create(o));
    producer_ = writer_->registerProducer();
  }

  // Writes one record stamped `when`, with the writer's clock at `when`.
  void write(const char* when, const std::string& tenant, const std::string& ip, const std::string& rule,
             const std::string& site, const std::string& message, LogType type = LogType::Event) {
    clock_.set(at(when));
    LogRecord r;
    r.type = type;
    r.time = clock_.now();
    r.tenant = tenant;
    r.site = site;
    r.source_ip = ip;
    r.rule_id = rule;
    r.message = message;
    r.action = "block";
    ASSERT_TRUE(producer_->submit(std::move(r)));
    writer_->pump();
  }

  LogReader reader() {
    ReaderOptions o;
    o.dir = dir_.path();
    o.zone = zone_;
    o.clock = clock_.clock();
    o.counters = writer_->sharedCounters();
    return LogReader(o);
  }

  std::vector<std::string> messages(const QueryFilter& f) {
    auto r = reader().queryAll(f);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    std::vector<std::string> out;
    if (r.ok()) {
      for (const auto& e : *r) out.emplace_back(e.fields.get("message"));
    }
    return out;
  }

  void writeHistory() {
    write("2026-11-25T10:00:00Z", "acme", "203.0.113.5", "942100", "shop", "sqli on shop");
    write("2026-11-25T23:30:00Z", "globex", "198.51.100.9", "941100", "www", "xss on www");  // 00:30 Berlin, 26th
    write("2026-11-26T09:00:00Z", "acme", "2001:db8::1", "941100", "blog", "xss via v6");
    write("2026-11-27T08:00:00Z", "acme", "203.0.113.77", "930100", "shop", "Path Traversal");
    write("2026-11-28T07:00:00Z", "acme", "10.1.2.3", "942100", "shop", "sqli again");
    write("2026-11-28T07:00:01Z", "acme", "10.1.2.3", "", "shop", "flood", LogType::Dos);
  }

  TempDir dir_;
  FakeClock clock_{at("2026-08-01T00:00:00Z")};  // before any write: the writer never goes back a day
  TimeZone zone_;
  std::unique_ptr<LogWriter> writer_;
  std::shared_ptr<LogProducer> producer_;
};

using Msgs = std::vector<std::string>;

TEST_F(LogReaderTest, ReadsCompressedAndPlainDaysInTimeOrder) {
  writeHistory();
  EXPECT_GE(writer_->counters().compressions, 3u);  // 25th, 26th (acme + globex), 27th
  EXPECT_TRUE(fs::exists(dir_.path() + "/acme/event/event-2026-11-25.jsonl.gz"));
  EXPECT_TRUE(fs::exists(dir_.path() + "/acme/event/event-2026-11-28.jsonl"));
  EXPECT_EQ(messages(QueryFilter{}),
            (Msgs{"sqli on shop", "xss on www", "xss via v6", "Path Traversal", "sqli again"}));
  QueryFilter newest;
  newest.newest_first = true;
  newest.limit = 2;
  EXPECT_EQ(messages(newest), (Msgs{"sqli again", "Path Traversal"}));
}

TEST_F(LogReaderTest, FiltersByTypeAndTenant) {
  writeHistory();
  QueryFilter dos;
  dos.type = LogType::Dos;
  EXPECT_EQ(messages(dos), (Msgs{"flood"}));
  QueryFilter globex;
  globex.tenant = "globex";
  EXPECT_EQ(messages(globex), (Msgs{"xss on www"}));
  QueryFilter nobody;
  nobody.tenant = "initech";
  EXPECT_EQ(messages(nobody), Msgs{});
}

TEST_F(LogReaderTest, FiltersBySite) {
  writeHistory();
  QueryFilter f;
  f.site = "shop";
  EXPECT_EQ(messages(f), (Msgs{"sqli on shop", "Path Traversal", "sqli again"}));
}

TEST_F(LogReaderTest, FiltersByIpAddressOrPrefix) {
  writeHistory();
  QueryFilter f;
  f.ip = "203.0.113.77";
  EXPECT_EQ(messages(f), (Msgs{"Path Traversal"}));
  f.ip = "203.0.113.0/24";
  EXPECT_EQ(messages(f), (Msgs{"sqli on shop", "Path Traversal"}));
  f.ip = "2001:db8::/32";
  EXPECT_EQ(messages(f), (Msgs{"xss via v6"}));
}

TEST_F(LogReaderTest, FiltersByRuleId) {
  writeHistory();
  QueryFilter f;
  f.rule_id = "941100";
  EXPECT_EQ(messages(f), (Msgs{"xss on www", "xss via v6"}));
}

TEST_F(LogReaderTest, FiltersByTextCaseInsensitively) {
  writeHistory();
  QueryFilter f;
  f.text = "TRAVERSAL";
  EXPECT_EQ(messages(f), (Msgs{"Path Traversal"}));
  f.text = "blog";  // matches the site field too
  EXPECT_EQ(messages(f), (Msgs{"xss via v6"}));
}

TEST_F(LogReaderTest, FiltersBySinceAndUntil) {
  writeHistory();
  QueryFilter f;
  f.since = at("2026-11-25T23:30:00Z");
  f.until = at("2026-11-27T08:00:00Z");  // half-open: excludes Path Traversal
  EXPECT_EQ(messages(f), (Msgs{"xss on www", "xss via v6"}));
  f.since = at("2026-11-29T00:00:00Z");
  f.until.reset();
  EXPECT_EQ(messages(f), Msgs{});
}

TEST_F(LogReaderTest, LimitStopsEarly) {
  writeHistory();
  QueryFilter f;
  f.limit = 3;
  EXPECT_EQ(messages(f), (Msgs{"sqli on shop", "xss on www", "xss via v6"}));
  size_t seen = 0;
  auto n = reader().query(QueryFilter{}, [&](const LogEntry&) { return ++seen < 2; });
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2u);
}

TEST_F(LogReaderTest, OnlyTheLastNinetyDaysAreReadable) {
  write("2026-08-29T12:00:00Z", "acme", "192.0.2.1", "1", "shop", "91 days ago");
  write("2026-08-31T12:00:00Z", "acme", "192.0.2.1", "1", "shop", "89 days ago");
  write("2026-11-28T12:00:00Z", "acme", "192.0.2.1", "1", "shop", "today");
  EXPECT_TRUE(fs::exists(dir_.path() + "/acme/event/event-2026-08-29.jsonl.gz"));  // kept on disk
  EXPECT_EQ(messages(QueryFilter{}), (Msgs{"89 days ago", "today"}));
  QueryFilter f;
  f.since = at("2026-01-01T00:00:00Z");  // asking for more does not widen the window
  EXPECT_EQ(messages(f), (Msgs{"89 days ago", "today"}));
}

TEST_F(LogReaderTest, DamagedGzipGivesTheLinesBeforeTheDamage) {
  for (int i = 0; i < 200; ++i) {
    write("2026-11-27T08:00:00Z", "acme", "192.0.2.1", "1", "shop", "line " + std::to_string(i));
  }
  write("2026-11-28T08:00:00Z", "acme", "192.0.2.1", "1", "shop", "today");
  std::string gz = dir_.path() + "/acme/event/event-2026-11-27.jsonl.gz";
  std::string bytes = testing::readFile(gz);
  ASSERT_GT(bytes.size(), 100u);
  { std::ofstream(gz, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 40); }
  auto got = messages(QueryFilter{});
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back(), "today");
  EXPECT_LE(got.size(), 201u);
  for (size_t i = 0; i + 1 < got.size(); ++i) EXPECT_EQ(got[i], "line " + std::to_string(i));
}

TEST_F(LogReaderTest, RejectsBadFilters) {
  QueryFilter f;
  f.tenant = "../etc";
  auto r = reader().queryAll(f);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
  QueryFilter g;
  g.ip = "not-an-ip";
  EXPECT_FALSE(reader().queryAll(g).ok());
}

TEST_F(LogReaderTest, ExportsJsonLinesVerbatim) {
  writeHistory();
  std::ostringstream out;
  QueryFilter f;
  f.tenant = "acme";
  auto n = reader().exportTo(f, ExportFormat::Jsonl, out);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4u);
  std::string expected;
  for (const char* day : {"25", "26", "27", "28"}) {
    std::string base = dir_.path() + "/acme/event/event-2026-11-" + day + ".jsonl";
    ASSERT_TRUE(forEachLine(fs::exists(base) ? base : base + ".gz", [&](std::string_view l, bool) {
                  expected.append(l).push_back('\n');
                  return true;
                }).ok());
  }
  EXPECT_EQ(out.str(), expected);
}

TEST_F(LogReaderTest, ExportsCsvWithEscaping) {
  clock_.set(at("2026-11-28T12:00:00Z"));
  LogRecord r;
  r.type = LogType::Dos;
  r.time = clock_.now();
  r.tenant = "acme";
  r.site = "a,b";
  r.source_ip = "192.0.2.1";
  r.source_port = 4444;
  r.user_agent = "=HYPERLINK(\"http://x\")";
  r.message = "two\nlines, \"quoted\"";
  r.details = {{"count", Value::unsignedInt(1200)}, {"reason", Value::string("syn")}};
  ASSERT_TRUE(producer_->submit(std::move(r)));
  writer_->pump();
  std::ostringstream out;
  QueryFilter f;
  f.type = LogType::Dos;
  ASSERT_TRUE(reader().exportTo(f, ExportFormat::Csv, out).ok());
  EXPECT_EQ(out.str(),
            "@timestamp,tenant,site,event.dataset,event.action,source.ip,source.port,"
            "http.request.method,url.original,http.response.status_code,rule.id,rule.name,"
            "http.request.id,user_agent.original,message,mamori\r\n"
            "2026-11-28T13:00:00.000+01:00,acme,\"a,b\",mamori.dos,,192.0.2.1,4444,,,,,,,"
            "\"'=HYPERLINK(\"\"http://x\"\")\",\"two\nlines, \"\"quoted\"\"\",count=1200; reason=syn\r\n");
}

TEST_F(LogReaderTest, ExportFailsWhenTheStreamFails) {
  writeHistory();
  std::ostringstream out;
  out.setstate(std::ios::badbit);
  auto r = reader().exportTo(QueryFilter{}, ExportFormat::Jsonl, out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EIO);
}

TEST_F(LogReaderTest, FollowerReturnsOnlyNewLines) {
  write("2026-11-28T07:00:00Z", "acme", "192.0.2.1", "1", "shop", "old");
  ReaderOptions o;
  o.dir = dir_.path();
  o.zone = zone_;
  o.clock = clock_.clock();
  auto follower = LogFollower::create(o, QueryFilter{});
  ASSERT_TRUE(follower.ok());
  auto none = (*follower)->poll();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  write("2026-11-28T07:00:01Z", "acme", "192.0.2.1", "1", "shop", "new 1");
  write("2026-11-28T07:00:02Z", "globex", "192.0.2.1", "1", "shop", "new tenant");
  auto got = (*follower)->poll();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].fields.get("message"), "new 1");
  EXPECT_EQ((*got)[1].fields.get("message"), "new tenant");
  EXPECT_TRUE((*follower)->poll()->empty());
}

TEST_F(LogReaderTest, FollowerWaitsForAnUnfinishedLine) {
  clock_.set(at("2026-11-28T07:00:00Z"));
  std::string file = dir_.path() + "/acme/event/event-2026-11-28.jsonl";
  fs::create_directories(fs::path(file).parent_path());
  { std::ofstream(file) << ""; }
  ReaderOptions o;
  o.dir = dir_.path();
  o.zone = zone_;
  o.clock = clock_.clock();
  auto follower = std::move(*LogFollower::create(o, QueryFilter{}));
  LogRecord r;
  r.tenant = "acme";
  r.time = clock_.now();
  r.message = "whole";
  std::string line = encodeRecord(r, zone_);
  { std::ofstream(file, std::ios::app) << line.substr(0, 10); }
  EXPECT_TRUE(follower->poll()->empty());
  { std::ofstream(file, std::ios::app) << line.substr(10); }
  auto got = follower->poll();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].fields.get("message"), "whole");
}

TEST_F(LogReaderTest, FollowerFinishesYesterdayFromItsGzip) {
  write("2026-11-28T22:00:00Z", "acme", "192.0.2.1", "1", "shop", "before");  // 23:00 Berlin
  ReaderOptions o;
  o.dir = dir_.path();
  o.zone = zone_;
  o.clock = clock_.clock();
  QueryFilter f;
  f.tenant = "acme";
  auto follower = std::move(*LogFollower::create(o, f));
  write("2026-11-28T22:59:00Z", "acme", "192.0.2.1", "1", "shop", "late");
  write("2026-11-28T23:00:01Z", "acme", "192.0.2.1", "1", "shop", "next day");  // rotates + compresses
  EXPECT_TRUE(fs::exists(dir_.path() + "/acme/event/event-2026-11-28.jsonl.gz"));
  auto got = follower->poll();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].fields.get("message"), "late");
  EXPECT_EQ((*got)[1].fields.get("message"), "next day");
}

}  // namespace
}  // namespace mamori::logs
