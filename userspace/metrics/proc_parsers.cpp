#include "metrics/proc_parsers.h"

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <limits>

namespace mamori::metrics {

namespace {

common::Error bad(const char* file, const std::string& what) {
  return common::Error{EINVAL, std::string(file) + ": " + what};
}

// Splits on runs of spaces and tabs.
std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

std::vector<std::string_view> lines(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    out.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

bool toU64(std::string_view s, std::uint64_t* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

common::Result<ProcessStat> parseProcessStat(std::string_view text, long clock_ticks,
                                             long page_size) {
  constexpr const char* kFile = "/proc/self/stat";
  if (clock_ticks <= 0 || page_size <= 0)
    return bad(kFile, "clock ticks and page size must be > 0");
  auto close = text.rfind(')');
  if (close == std::string_view::npos || text.find('(') == std::string_view::npos)
    return bad(kFile, "no '(comm)' field");
  // After ")": field 3 (state) onwards; field k is at index k - 3.
  auto f = fields(text.substr(close + 1));
  auto at = [&](int field, std::uint64_t* out) {
    std::size_t i = static_cast<std::size_t>(field - 3);
    return i < f.size() && toU64(f[i], out);
  };
  std::uint64_t utime, stime, threads, start, vsize, rss;
  if (!at(14, &utime) || !at(15, &stime) || !at(20, &threads) || !at(22, &start) ||
      !at(23, &vsize) || !at(24, &rss))
    return bad(kFile, "too few or non-numeric fields");
  ProcessStat st;
  const double hz = static_cast<double>(clock_ticks);
  st.user_seconds = static_cast<double>(utime) / hz;
  st.system_seconds = static_cast<double>(stime) / hz;
  st.threads = threads;
  st.start_after_boot = static_cast<double>(start) / hz;
  st.virtual_bytes = vsize;
  st.resident_bytes = rss * static_cast<std::uint64_t>(page_size);
  return st;
}

common::Result<std::uint64_t> parseMaxOpenFiles(std::string_view text) {
  constexpr const char* kFile = "/proc/self/limits";
  constexpr std::string_view kKey = "Max open files";
  for (auto line : lines(text)) {
    if (line.rfind(kKey, 0) != 0) continue;
    auto f = fields(line.substr(kKey.size()));
    if (f.empty()) break;
    if (f[0] == "unlimited") return std::numeric_limits<std::uint64_t>::max();
    std::uint64_t v;
    if (!toU64(f[0], &v)) return bad(kFile, "soft limit of open files is not a number");
    return v;
  }
  return bad(kFile, "no 'Max open files' line");
}

common::Result<HostStat> parseHostStat(std::string_view text, long clock_ticks) {
  constexpr const char* kFile = "/proc/stat";
  if (clock_ticks <= 0) return bad(kFile, "clock ticks must be > 0");
  // proc(5) order; guest and guest_nice are already inside user and nice.
  static const char* const kModes[] = {"user",   "nice", "system",  "idle",
                                       "iowait", "irq",  "softirq", "steal"};
  HostStat st;
  bool have_cpu = false, have_btime = false;
  for (auto line : lines(text)) {
    auto f = fields(line);
    if (f.empty()) continue;
    if (f[0] == "cpu") {
      // Old kernels stop after irq/softirq; take what is there (at least 4).
      if (f.size() < 5) return bad(kFile, "'cpu' line has fewer than 4 values");
      for (std::size_t i = 0; i < 8 && i + 1 < f.size(); ++i) {
        std::uint64_t ticks;
        if (!toU64(f[i + 1], &ticks)) return bad(kFile, "'cpu' line has a non-numeric value");
        st.cpu.push_back(
            {kModes[i], static_cast<double>(ticks) / static_cast<double>(clock_ticks)});
      }
      have_cpu = true;
    } else if (f[0].rfind("cpu", 0) == 0) {
      ++st.cpus;
    } else if (f[0] == "btime" && f.size() >= 2) {
      if (!toU64(f[1], &st.boot_time)) return bad(kFile, "btime is not a number");
      have_btime = true;
    }
  }
  if (!have_cpu) return bad(kFile, "no 'cpu' line");
  if (!have_btime) return bad(kFile, "no 'btime' line");
  return st;
}

common::Result<MemInfo> parseMemInfo(std::string_view text) {
  constexpr const char* kFile = "/proc/meminfo";
  MemInfo m;
  bool total = false, available = false;
  for (auto line : lines(text)) {
    auto f = fields(line);
    if (f.size() < 2) continue;
    std::uint64_t* dst = nullptr;
    if (f[0] == "MemTotal:") {
      dst = &m.total_bytes;
      total = true;
    } else if (f[0] == "MemAvailable:") {
      dst = &m.available_bytes;
      available = true;
    } else {
      continue;
    }
    std::uint64_t kb;
    if (!toU64(f[1], &kb)) return bad(kFile, std::string(f[0]) + " is not a number");
    if (f.size() >= 3 && f[2] != "kB") return bad(kFile, std::string(f[0]) + " unit is not kB");
    *dst = kb * 1024;
  }
  if (!total) return bad(kFile, "no MemTotal line");
  // MemAvailable exists since Linux 3.14; without it we would have to guess.
  if (!available) return bad(kFile, "no MemAvailable line");
  return m;
}

common::Result<std::vector<NetDevCounters>> parseNetDev(std::string_view text) {
  constexpr const char* kFile = "/proc/net/dev";
  std::vector<NetDevCounters> out;
  auto ls = lines(text);
  // Two header lines, then "  name: rx_bytes rx_packets errs drop fifo frame
  // compressed multicast tx_bytes tx_packets ...".
  if (ls.size() < 2 || ls[0].find('|') == std::string_view::npos)
    return bad(kFile, "missing header lines");
  for (std::size_t i = 2; i < ls.size(); ++i) {
    auto line = ls[i];
    if (fields(line).empty()) continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      return bad(kFile, "line " + std::to_string(i + 1) + ": no ':'");
    auto name = fields(line.substr(0, colon));
    auto f = fields(line.substr(colon + 1));
    if (name.size() != 1 || f.size() < 16)
      return bad(kFile, "line " + std::to_string(i + 1) + ": expected a name and 16 counters");
    NetDevCounters c;
    c.interface = std::string(name[0]);
    if (!toU64(f[0], &c.rx_bytes) || !toU64(f[1], &c.rx_packets) || !toU64(f[8], &c.tx_bytes) ||
        !toU64(f[9], &c.tx_packets))
      return bad(kFile, "line " + std::to_string(i + 1) + ": non-numeric counter");
    out.push_back(std::move(c));
  }
  return out;
}

common::Result<std::vector<DiskCounters>> parseDiskStats(std::string_view text) {
  constexpr const char* kFile = "/proc/diskstats";
  constexpr std::uint64_t kSector = 512;
  std::vector<DiskCounters> out;
  std::size_t n = 0;
  for (auto line : lines(text)) {
    ++n;
    auto f = fields(line);
    if (f.empty()) continue;
    // major minor name reads merged sectors_read ms writes merged sectors_written ...
    if (f.size() < 14) return bad(kFile, "line " + std::to_string(n) + ": fewer than 14 fields");
    DiskCounters d;
    std::uint64_t major, minor, read, written;
    if (!toU64(f[0], &major) || !toU64(f[1], &minor) || !toU64(f[5], &read) ||
        !toU64(f[9], &written) || major > UINT32_MAX || minor > UINT32_MAX)
      return bad(kFile, "line " + std::to_string(n) + ": non-numeric field");
    d.major = static_cast<std::uint32_t>(major);
    d.minor = static_cast<std::uint32_t>(minor);
    d.device = std::string(f[2]);
    d.read_bytes = read * kSector;
    d.written_bytes = written * kSector;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace mamori::metrics
