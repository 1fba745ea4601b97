#include "metrics/system_collectors.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <fstream>
#include <sstream>

#include "metrics/proc_parsers.h"

namespace mamori::metrics {

namespace {

common::Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return common::errnoError("open " + path, errno ? errno : ENOENT);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return common::errnoError("read " + path, errno ? errno : EIO);
  return text.str();
}

// Entries of `dir` minus "." and "..", and minus the descriptor opendir()
// itself holds while we count (it is ours only for the duration of the count).
common::Result<std::uint64_t> countFds(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return common::errnoError("opendir " + dir, errno);
  const std::string own = std::to_string(dirfd(d));
  std::uint64_t n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.' || own == e->d_name) continue;
    ++n;
  }
  closedir(d);
  return n;
}

// The nearest existing directory at or above `path`.
std::string existingAncestor(std::string path) {
  struct stat st {};
  while (!path.empty() && stat(path.c_str(), &st) != 0) {
    auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
  return path.empty() ? "/" : path;
}

// Devices left out of the every-disk fallback: loop, ram and zram are not
// disks, and device-mapper (dm-N) and software RAID (mdN) sit on top of
// disks already counted, so their I/O would be counted twice.
bool isVirtualDisk(const std::string& name) {
  for (const char* prefix : {"loop", "ram", "zram", "dm-", "md"})
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

// A partition is listed after its disk and named after it ("sda" → "sda1",
// "nvme0n1" → "nvme0n1p1"); counting both would count the same I/O twice.
bool isPartitionOf(const std::string& name, const std::string& disk) {
  return name.size() > disk.size() && name.rfind(disk, 0) == 0 &&
         std::isdigit(static_cast<unsigned char>(name.back()));
}

}  // namespace

Collector processCollector(SystemSources sources) {
  return [sources](std::vector<Family>& out) -> common::Status {
    const long hz = sysconf(_SC_CLK_TCK);
    const long page = sysconf(_SC_PAGESIZE);
    auto stat_text = readFile(sources.proc_root + "/self/stat");
    if (!stat_text) return stat_text.error();
    auto ps = parseProcessStat(*stat_text, hz, page);
    if (!ps) return ps.error();
    auto host_text = readFile(sources.proc_root + "/stat");
    if (!host_text) return host_text.error();
    auto hs = parseHostStat(*host_text, hz);
    if (!hs) return hs.error();
    auto limits_text = readFile(sources.proc_root + "/self/limits");
    if (!limits_text) return limits_text.error();
    auto max_fds = parseMaxOpenFiles(*limits_text);
    if (!max_fds) return max_fds.error();
    auto fds = countFds(sources.proc_root + "/self/fd");
    if (!fds) return fds.error();

    out.push_back(counter("mamori_process_cpu_seconds_total",
                          "CPU time used by mamorid, by mode (user, system)")
                      .add(ps->user_seconds, {{"mode", "user"}})
                      .add(ps->system_seconds, {{"mode", "system"}}));
    out.push_back(gauge("mamori_process_resident_memory_bytes", "Resident set size of mamorid")
                      .add(static_cast<double>(ps->resident_bytes)));
    out.push_back(gauge("mamori_process_virtual_memory_bytes", "Virtual memory size of mamorid")
                      .add(static_cast<double>(ps->virtual_bytes)));
    out.push_back(gauge("mamori_process_open_fds", "File descriptors mamorid has open")
                      .add(static_cast<double>(*fds)));
    out.push_back(gauge("mamori_process_max_fds", "Soft limit of mamorid's open file descriptors")
                      .add(static_cast<double>(*max_fds)));
    out.push_back(gauge("mamori_process_threads", "Threads of mamorid")
                      .add(static_cast<double>(ps->threads)));
    out.push_back(gauge("mamori_process_start_time_seconds",
                        "Start time of mamorid, seconds since the Unix epoch")
                      .add(static_cast<double>(hs->boot_time) + ps->start_after_boot));
    return {};
  };
}

Collector hostCollector(SystemSources sources) {
  return [sources](std::vector<Family>& out) -> common::Status {
    const long hz = sysconf(_SC_CLK_TCK);
    auto stat_text = readFile(sources.proc_root + "/stat");
    if (!stat_text) return stat_text.error();
    auto hs = parseHostStat(*stat_text, hz);
    if (!hs) return hs.error();
    auto mem_text = readFile(sources.proc_root + "/meminfo");
    if (!mem_text) return mem_text.error();
    auto mem = parseMemInfo(*mem_text);
    if (!mem) return mem.error();
    auto net_text = readFile(sources.proc_root + "/net/dev");
    if (!net_text) return net_text.error();
    auto nets = parseNetDev(*net_text);
    if (!nets) return nets.error();
    auto disk_text = readFile(sources.proc_root + "/diskstats");
    if (!disk_text) return disk_text.error();
    auto disks = parseDiskStats(*disk_text);
    if (!disks) return disks.error();
    const std::string fs_dir = existingAncestor(sources.log_dir);
    struct statvfs vfs {};
    if (statvfs(fs_dir.c_str(), &vfs) != 0) return common::errnoError("statvfs " + fs_dir, errno);
    struct stat dir_st {};
    if (stat(fs_dir.c_str(), &dir_st) != 0) return common::errnoError("stat " + fs_dir, errno);

    auto cpu = counter("mamori_host_cpu_seconds_total", "CPU time of the whole host, by mode");
    for (const auto& m : hs->cpu) cpu.add(m.seconds, {{"mode", m.mode}});
    out.push_back(std::move(cpu));
    out.push_back(
        gauge("mamori_host_cpus", "Online CPUs of the host").add(static_cast<double>(hs->cpus)));
    out.push_back(gauge("mamori_host_memory_total_bytes", "Memory of the host (MemTotal)")
                      .add(static_cast<double>(mem->total_bytes)));
    out.push_back(gauge("mamori_host_memory_available_bytes",
                        "Memory available for new work without swapping (MemAvailable)")
                      .add(static_cast<double>(mem->available_bytes)));

    auto rx_b = counter("mamori_host_network_receive_bytes_total", "Bytes received, by interface");
    auto rx_p =
        counter("mamori_host_network_receive_packets_total", "Packets received, by interface");
    auto tx_b = counter("mamori_host_network_transmit_bytes_total", "Bytes sent, by interface");
    auto tx_p = counter("mamori_host_network_transmit_packets_total", "Packets sent, by interface");
    for (const auto& n : *nets) {
      std::vector<Label> l{{"interface", n.interface}};
      rx_b.add(static_cast<double>(n.rx_bytes), l);
      rx_p.add(static_cast<double>(n.rx_packets), l);
      tx_b.add(static_cast<double>(n.tx_bytes), l);
      tx_p.add(static_cast<double>(n.tx_packets), l);
    }
    for (auto* f : {&rx_b, &rx_p, &tx_b, &tx_p}) out.push_back(std::move(*f));

    auto rd = counter("mamori_host_disk_read_bytes_total",
                      "Bytes read from the block device of the log directory (or every disk)");
    auto wr = counter("mamori_host_disk_written_bytes_total",
                      "Bytes written to the block device of the log directory (or every disk)");
    const DiskCounters* own = nullptr;
    for (const auto& d : *disks)
      if (d.major == major(dir_st.st_dev) && d.minor == minor(dir_st.st_dev)) own = &d;
    std::string last_disk;
    for (const auto& d : *disks) {
      if (own && &d != own) continue;
      if (!own) {
        if (isVirtualDisk(d.device)) continue;
        if (!last_disk.empty() && isPartitionOf(d.device, last_disk)) continue;
        last_disk = d.device;
      }
      rd.add(static_cast<double>(d.read_bytes), {{"device", d.device}});
      wr.add(static_cast<double>(d.written_bytes), {{"device", d.device}});
    }
    out.push_back(std::move(rd));
    out.push_back(std::move(wr));
    const double frsize = static_cast<double>(vfs.f_frsize);
    out.push_back(gauge("mamori_host_log_filesystem_size_bytes",
                        "Size of the filesystem holding the log directory")
                      .add(static_cast<double>(vfs.f_blocks) * frsize));
    out.push_back(gauge("mamori_host_log_filesystem_available_bytes",
                        "Space on the log directory's filesystem that mamorid may still write")
                      .add(static_cast<double>(vfs.f_bavail) * frsize));
    return {};
  };
}

}  // namespace mamori::metrics
