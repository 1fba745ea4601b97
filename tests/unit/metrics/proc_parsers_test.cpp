#include "metrics/proc_parsers.h"

#include <gtest/gtest.h>

#include <limits>

namespace mamori::metrics {
namespace {

// Recorded from a mamorid process (fields 1..52), with a hostile command
// name: a process may call itself anything, including ") R 1 2".
constexpr const char* kStat =
    "4242 (mamo) R 1 2) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 75 0 0 20 0 7 0 "
    "123456 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 4096 1024 0 0 0 17 1 0 0 0 0 0 "
    "0 0 0 0 0 0 0 0";

TEST(ProcessStat, ReadsFieldsAfterTheLastParenthesis) {
  auto st = parseProcessStat(kStat, 100, 4096);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_DOUBLE_EQ(st->user_seconds, 2.5);
  EXPECT_DOUBLE_EQ(st->system_seconds, 0.75);
  EXPECT_EQ(st->threads, 7u);
  EXPECT_DOUBLE_EQ(st->start_after_boot, 1234.56);
  EXPECT_EQ(st->virtual_bytes, 104857600u);
  EXPECT_EQ(st->resident_bytes, 2560u * 4096u);
}

TEST(ProcessStat, RejectsTruncatedText) {
  auto st = parseProcessStat("4242 (mamorid) S 1 4242 4242 0", 100, 4096);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("/proc/self/stat"), std::string::npos);
}

TEST(ProcessStat, RejectsTextWithoutCommand) {
  EXPECT_FALSE(parseProcessStat("", 100, 4096).ok());
  EXPECT_FALSE(parseProcessStat("garbage without parens", 100, 4096).ok());
}

TEST(ProcessStat, RejectsNonNumericField) {
  std::string text = kStat;
  text.replace(text.find(" 250 "), 5, " x50 ");
  EXPECT_FALSE(parseProcessStat(text, 100, 4096).ok());
}

TEST(ProcessStat, RejectsZeroClockTicks) { EXPECT_FALSE(parseProcessStat(kStat, 0, 4096).ok()); }

constexpr const char* kLimits =
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max cpu time              unlimited            unlimited            seconds   \n"
    "Max open files            1024                 524288               files     \n"
    "Max processes             63459                63459                processes \n";

TEST(MaxOpenFiles, ReadsSoftLimit) {
  auto n = parseMaxOpenFiles(kLimits);
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, 1024u);
}

TEST(MaxOpenFiles, UnlimitedIsMaxValue) {
  auto n = parseMaxOpenFiles("Max open files            unlimited            unlimited  files\n");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, std::numeric_limits<std::uint64_t>::max());
}

TEST(MaxOpenFiles, MissingLineIsAnError) {
  EXPECT_FALSE(parseMaxOpenFiles("Max processes 1 1 processes\n").ok());
  EXPECT_FALSE(parseMaxOpenFiles("Max open files   lots   lots  files\n").ok());
}

constexpr const char* kProcStat =
    "cpu  1000 20 300 50000 40 0 60 7 0 0\n"
    "cpu0 500 10 150 25000 20 0 30 3 0 0\n"
    "cpu1 500 10 150 25000 20 0 30 4 0 0\n"
    "intr 123 0 0\n"
    "ctxt 987654\n"
    "btime 1764300000\n"
    "processes 4321\n"
    "procs_running 2\n";

TEST(HostStat, ReadsCpuModesCountAndBootTime) {
  auto st = parseHostStat(kProcStat, 100);
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(st->cpu.size(), 8u);
  EXPECT_EQ(st->cpu[0].mode, "user");
  EXPECT_DOUBLE_EQ(st->cpu[0].seconds, 10.0);
  EXPECT_EQ(st->cpu[3].mode, "idle");
  EXPECT_DOUBLE_EQ(st->cpu[3].seconds, 500.0);
  EXPECT_EQ(st->cpu[7].mode, "steal");
  EXPECT_DOUBLE_EQ(st->cpu[7].seconds, 0.07);
  EXPECT_EQ(st->cpus, 2u);
  EXPECT_EQ(st->boot_time, 1764300000u);
}

TEST(HostStat, OldKernelWithFewerModes) {
  auto st = parseHostStat("cpu 1 2 3 4\nbtime 5\n", 100);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->cpu.size(), 4u);
}

TEST(HostStat, MissingCpuOrBtimeIsAnError) {
  EXPECT_FALSE(parseHostStat("btime 5\n", 100).ok());
  EXPECT_FALSE(parseHostStat("cpu 1 2 3 4 5 6 7 8\n", 100).ok());
  EXPECT_FALSE(parseHostStat("cpu 1 2 x 4 5\nbtime 5\n", 100).ok());
  EXPECT_FALSE(parseHostStat("cpu 1 2\nbtime 5\n", 100).ok());
}

constexpr const char* kMemInfo =
    "MemTotal:        8135672 kB\n"
    "MemFree:          512000 kB\n"
    "MemAvailable:    6000000 kB\n"
    "Buffers:          100000 kB\n";

TEST(MemInfo, ReadsTotalAndAvailableInBytes) {
  auto m = parseMemInfo(kMemInfo);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->total_bytes, 8135672ull * 1024);
  EXPECT_EQ(m->available_bytes, 6000000ull * 1024);
}

TEST(MemInfo, MissingAvailableIsAnError) {
  auto m = parseMemInfo("MemTotal: 100 kB\nMemFree: 50 kB\n");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("MemAvailable"), std::string::npos);
}

TEST(MemInfo, UnexpectedUnitIsAnError) {
  EXPECT_FALSE(parseMemInfo("MemTotal: 100 MB\nMemAvailable: 50 kB\n").ok());
}

constexpr const char* kNetDev =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
    "    lo:  123456     789    0    0    0     0          0         0   123456     789    0 "
    "   0    0     0       0          0\n"
    "  eth0:99999999  500000    1    2    0     0          0        10 55555555  400000    0 "
    "   0    0     0       0          0\n";

TEST(NetDev, ReadsBytesAndPacketsPerInterface) {
  auto n = parseNetDev(kNetDev);
  ASSERT_TRUE(n.ok()) << n.error().message;
  ASSERT_EQ(n->size(), 2u);
  EXPECT_EQ((*n)[0].interface, "lo");
  EXPECT_EQ((*n)[0].rx_bytes, 123456u);
  EXPECT_EQ((*n)[1].interface, "eth0");
  EXPECT_EQ((*n)[1].rx_bytes, 99999999u);
  EXPECT_EQ((*n)[1].rx_packets, 500000u);
  EXPECT_EQ((*n)[1].tx_bytes, 55555555u);
  EXPECT_EQ((*n)[1].tx_packets, 400000u);
}

TEST(NetDev, RejectsShortLinesAndMissingHeader) {
  EXPECT_FALSE(parseNetDev("eth0: 1 2 3\n").ok());
  std::string text = std::string(kNetDev) + "  eth1: 1 2 3\n";
  EXPECT_FALSE(parseNetDev(text).ok());
}

constexpr const char* kDiskStats =
    "   7       0 loop0 10 0 80 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    " 254       0 vda 158182 29018 6738698 129217 25164 35134 13746256 33702 0 17736 165443 "
    "12684 42 9611352 2421 1968 102\n"
    " 254       1 vda1 150000 29000 6700000 129000 25000 35000 13700000 33700 0 17700 165400\n";

TEST(DiskStats, ReadsSectorsAsBytes) {
  auto d = parseDiskStats(kDiskStats);
  ASSERT_TRUE(d.ok()) << d.error().message;
  ASSERT_EQ(d->size(), 3u);
  EXPECT_EQ((*d)[1].device, "vda");
  EXPECT_EQ((*d)[1].major, 254u);
  EXPECT_EQ((*d)[1].minor, 0u);
  EXPECT_EQ((*d)[1].read_bytes, 6738698ull * 512);
  EXPECT_EQ((*d)[1].written_bytes, 13746256ull * 512);
  EXPECT_EQ((*d)[2].device, "vda1");
}

TEST(DiskStats, RejectsShortLines) {
  EXPECT_FALSE(parseDiskStats("254 0 vda 1 2 3\n").ok());
  EXPECT_FALSE(parseDiskStats("254 0 vda 1 2 x 4 5 6 7 8 9 10 11\n").ok());
}

}  // namespace
}  // namespace mamori::metrics
