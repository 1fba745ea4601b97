#include "metrics/system_collectors.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "metrics/lint.h"

namespace mamori::metrics {
namespace {

namespace fs = std::filesystem;

const Family* find(const std::vector<Family>& fs, const std::string& name) {
  for (const auto& f : fs)
    if (f.name == name) return &f;
  return nullptr;
}

double value(const std::vector<Family>& fs, const std::string& name, const std::string& label = "",
             const std::string& label_value = "") {
  const Family* f = find(fs, name);
  if (!f) ADD_FAILURE() << "no family " << name;
  if (!f) return -1;
  for (const auto& s : f->samples)
    if (label.empty() || s.label(label) == label_value) return s.value;
  ADD_FAILURE() << name << " has no series " << label << "=" << label_value;
  return -1;
}

// A recorded /proc under a temp dir.
class FakeProc : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mamori-metrics-proc.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ / "self" / "fd");
    fs::create_directories(root_ / "net");
    fs::create_directories(root_ / "logs");
    for (const char* fd : {"0", "1", "2"}) write("self/fd/" + std::string(fd), "");
    write("self/stat",
          "77 (mamorid) S 1 77 77 0 -1 4194560 1200 0 0 0 300 100 0 0 20 0 5 0 1000 "
          "200000000 1000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n");
    write("self/limits",
          "Limit  Soft Limit  Hard Limit  Units\nMax open files  4096  8192  files\n");
    write("stat",
          "cpu  100 0 50 1000 10 0 5 0 0 0\ncpu0 100 0 50 1000 10 0 5 0 0 0\nbtime 1700000000\n");
    write("meminfo", "MemTotal: 2048 kB\nMemFree: 100 kB\nMemAvailable: 1024 kB\n");
    write("net/dev",
          "Inter-| Receive | Transmit\n face |bytes packets errs drop fifo frame compressed "
          "multicast|bytes packets errs drop fifo colls carrier compressed\n"
          "  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n");
    write("diskstats",
          "   7 0 loop0 1 0 8 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
          " 254 0 vda 1 0 100 0 1 0 200 0 0 0 0\n"
          " 254 1 vda1 1 0 90 0 1 0 190 0 0 0 0\n"
          " 253 0 dm-0 1 0 90 0 1 0 190 0 0 0 0\n");
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const std::string& rel, const std::string& text) {
    std::ofstream(root_ / rel) << text;
  }
  SystemSources sources() const { return {root_.string(), (root_ / "logs").string()}; }
  fs::path root_;
};

TEST_F(FakeProc, ProcessFamiliesFromRecordedFiles) {
  std::vector<Family> out;
  auto st = processCollector(sources())(out);
  ASSERT_TRUE(st.ok()) << st.error().message;
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  EXPECT_DOUBLE_EQ(value(out, "mamori_process_cpu_seconds_total", "mode", "user"), 300 / hz);
  EXPECT_DOUBLE_EQ(value(out, "mamori_process_cpu_seconds_total", "mode", "system"), 100 / hz);
  EXPECT_DOUBLE_EQ(value(out, "mamori_process_threads"), 5);
  EXPECT_DOUBLE_EQ(value(out, "mamori_process_virtual_memory_bytes"), 200000000);
  EXPECT_DOUBLE_EQ(value(out, "mamori_process_resident_memory_bytes"), 1000 * page);
  EXPECT_DOUBLE_EQ(value(out, "mamori_process_open_fds"), 3);
  EXPECT_DOUBLE_EQ(value(out, "mamori_process_max_fds"), 4096);
  EXPECT_DOUBLE_EQ(value(out, "mamori_process_start_time_seconds"), 1700000000 + 1000 / hz);
  EXPECT_TRUE(lintFamilies(out).empty());
}

TEST_F(FakeProc, HostFamiliesFromRecordedFiles) {
  std::vector<Family> out;
  auto st = hostCollector(sources())(out);
  ASSERT_TRUE(st.ok()) << st.error().message;
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  EXPECT_DOUBLE_EQ(value(out, "mamori_host_cpu_seconds_total", "mode", "idle"), 1000 / hz);
  EXPECT_EQ(find(out, "mamori_host_cpu_seconds_total")->samples.size(), 8u);
  EXPECT_DOUBLE_EQ(value(out, "mamori_host_cpus"), 1);
  EXPECT_DOUBLE_EQ(value(out, "mamori_host_memory_total_bytes"), 2048 * 1024);
  EXPECT_DOUBLE_EQ(value(out, "mamori_host_memory_available_bytes"), 1024 * 1024);
  EXPECT_DOUBLE_EQ(value(out, "mamori_host_network_receive_bytes_total", "interface", "eth0"),
                   1000);
  EXPECT_DOUBLE_EQ(value(out, "mamori_host_network_transmit_packets_total", "interface", "eth0"),
                   20);
  // The temp dir's device is not in the recorded diskstats: every whole
  // disk counts; loop, device-mapper devices and partitions do not.
  const Family* rd = find(out, "mamori_host_disk_read_bytes_total");
  ASSERT_NE(rd, nullptr);
  ASSERT_EQ(rd->samples.size(), 1u);
  EXPECT_EQ(rd->samples[0].label("device"), "vda");
  EXPECT_DOUBLE_EQ(rd->samples[0].value, 100 * 512);
  EXPECT_DOUBLE_EQ(value(out, "mamori_host_disk_written_bytes_total", "device", "vda"), 200 * 512);
  EXPECT_GT(value(out, "mamori_host_log_filesystem_size_bytes"), 0);
  EXPECT_LE(value(out, "mamori_host_log_filesystem_available_bytes"),
            value(out, "mamori_host_log_filesystem_size_bytes"));
  EXPECT_TRUE(lintFamilies(out).empty());
}

TEST_F(FakeProc, DiskOfTheLogDirectoryWinsWhenListed) {
  struct stat st {};
  ASSERT_EQ(stat((root_ / "logs").c_str(), &st), 0);
  write("diskstats", " 254 0 vda 1 0 100 0 1 0 200 0 0 0 0\n " + std::to_string(major(st.st_dev)) +
                         " " + std::to_string(minor(st.st_dev)) +
                         " logdisk 1 0 7 0 1 0 9 0 0 0 0\n");
  std::vector<Family> out;
  ASSERT_TRUE(hostCollector(sources())(out).ok());
  const Family* wr = find(out, "mamori_host_disk_written_bytes_total");
  ASSERT_EQ(wr->samples.size(), 1u);
  EXPECT_EQ(wr->samples[0].label("device"), "logdisk");
  EXPECT_DOUBLE_EQ(wr->samples[0].value, 9 * 512);
}

TEST_F(FakeProc, MissingLogDirUsesNearestParent) {
  auto src = sources();
  src.log_dir = (root_ / "logs" / "not" / "yet").string();
  std::vector<Family> out;
  auto st = hostCollector(src)(out);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_GT(value(out, "mamori_host_log_filesystem_size_bytes"), 0);
}

TEST_F(FakeProc, MissingFileFailsWithItsPath) {
  fs::remove(root_ / "meminfo");
  std::vector<Family> out;
  auto st = hostCollector(sources())(out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("meminfo"), std::string::npos);
  EXPECT_TRUE(out.empty());
}

TEST_F(FakeProc, GarbageFileFailsWithoutCrash) {
  write("self/stat", "\x01\x02 not a stat file ((((");
  std::vector<Family> out;
  EXPECT_FALSE(processCollector(sources())(out).ok());
}

TEST(RealProc, ProcessValuesArePlausible) {
  std::vector<Family> out;
  auto st = processCollector()(out);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_GE(value(out, "mamori_process_threads"), 1);
  EXPECT_GT(value(out, "mamori_process_resident_memory_bytes"), 0);
  EXPECT_GE(value(out, "mamori_process_open_fds"), 3);  // stdin, stdout, stderr
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double start = value(out, "mamori_process_start_time_seconds");
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 3600);  // this test binary started moments ago
}

TEST(RealProc, HostValuesArePlausible) {
  std::vector<Family> out;
  auto st = hostCollector({"/proc", "/nonexistent/mamori/logs"})(out);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_GT(value(out, "mamori_host_memory_total_bytes"), 0);
  EXPECT_GE(value(out, "mamori_host_cpus"), 1);
  EXPECT_GT(value(out, "mamori_host_cpu_seconds_total", "mode", "idle"), 0);
  EXPECT_GT(value(out, "mamori_host_network_receive_bytes_total", "interface", "lo"), -1);
  EXPECT_TRUE(lintFamilies(out).empty());
}

}  // namespace
}  // namespace mamori::metrics
