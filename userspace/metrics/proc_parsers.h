#pragma once

// Pure parsers for the Linux /proc files the process and host collectors
// read. Text in, numbers out: no file access here, so the unit tests feed
// recorded text (tests/unit/metrics/proc_parsers_test.cpp). Every parser
// returns Error{EINVAL, "<file>: <what>"} on text it cannot read instead of
// guessing; all are reentrant and may be called from any thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace mamori::metrics {

// /proc/<pid>/stat (proc(5)): the fields the process families need.
struct ProcessStat {
  double user_seconds = 0;      // utime / clock ticks
  double system_seconds = 0;    // stime / clock ticks
  std::uint64_t threads = 0;    // num_threads
  double start_after_boot = 0;  // starttime / clock ticks, seconds after boot
  std::uint64_t virtual_bytes = 0;
  std::uint64_t resident_bytes = 0;  // rss pages * page size
};
// `clock_ticks` is sysconf(_SC_CLK_TCK), `page_size` sysconf(_SC_PAGESIZE);
// both must be > 0. The command name may hold spaces and ')' (a process can
// name itself anything), so fields are counted from the last ')'.
common::Result<ProcessStat> parseProcessStat(std::string_view text, long clock_ticks,
                                             long page_size);

// /proc/<pid>/limits: the soft "Max open files" limit. "unlimited" reads as
// UINT64_MAX.
common::Result<std::uint64_t> parseMaxOpenFiles(std::string_view text);

// /proc/stat: CPU time of the whole host by mode, the number of CPUs, boot time.
struct HostStat {
  struct Mode {
    std::string mode;  // user, nice, system, idle, iowait, irq, softirq, steal
    double seconds = 0;
  };
  std::vector<Mode> cpu;        // from the aggregate "cpu" line
  std::uint32_t cpus = 0;       // "cpuN" lines
  std::uint64_t boot_time = 0;  // btime, seconds since the epoch
};
common::Result<HostStat> parseHostStat(std::string_view text, long clock_ticks);

// /proc/meminfo: MemTotal and MemAvailable (kB in the file, bytes here).
struct MemInfo {
  std::uint64_t total_bytes = 0;
  std::uint64_t available_bytes = 0;
};
common::Result<MemInfo> parseMemInfo(std::string_view text);

// /proc/net/dev: per-interface byte and packet counters.
struct NetDevCounters {
  std::string interface;
  std::uint64_t rx_bytes = 0;
  std::uint64_t rx_packets = 0;
  std::uint64_t tx_bytes = 0;
  std::uint64_t tx_packets = 0;
};
common::Result<std::vector<NetDevCounters>> parseNetDev(std::string_view text);

// /proc/diskstats: per-device sectors read and written, in bytes (the
// kernel counts 512-byte sectors whatever the device's block size).
struct DiskCounters {
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  std::string device;
  std::uint64_t read_bytes = 0;
  std::uint64_t written_bytes = 0;
};
common::Result<std::vector<DiskCounters>> parseDiskStats(std::string_view text);

}  // namespace mamori::metrics
