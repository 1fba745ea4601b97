#pragma once

// Collectors for the mamorid process and the host it runs on, read from
// /proc at scrape time (the "CPU / memory / disk / traffic" monitoring of
// the design brief). Families:
//
//   process: mamori_process_cpu_seconds_total{mode=user|system},
//            mamori_process_resident_memory_bytes, _virtual_memory_bytes,
//            mamori_process_open_fds, mamori_process_max_fds,
//            mamori_process_threads, mamori_process_start_time_seconds
//   host:    mamori_host_cpu_seconds_total{mode}, mamori_host_cpus,
//            mamori_host_memory_total_bytes, mamori_host_memory_available_bytes,
//            mamori_host_network_{receive,transmit}_{bytes,packets}_total{interface},
//            mamori_host_disk_{read,written}_bytes_total{device},
//            mamori_host_log_filesystem_{size,available}_bytes
//
// Each collector is called on the scrape thread; it opens, reads and closes
// its files on every call (no state kept), so it cannot go stale.

#include <string>

#include "metrics/family.h"

namespace mamori::metrics {

struct SystemSources {
  // Where /proc is; tests point it at a directory of recorded files.
  std::string proc_root = "/proc";
  // The log directory, whose filesystem's size and free space and whose
  // block device's reads and writes are reported. If it does not exist
  // (yet), its nearest existing parent is used.
  std::string log_dir = "/var/log/mamori";
};

// Reads <proc_root>/self/{stat,limits,fd/} and <proc_root>/stat (boot time).
// Fails (and appends nothing) when a file is missing or unreadable.
Collector processCollector(SystemSources sources = {});

// Reads <proc_root>/{stat,meminfo,net/dev,diskstats} and statvfs(log_dir).
// Disk counters: the device holding log_dir when /proc/diskstats lists it;
// otherwise (overlay, tmpfs) every whole disk except loop, ram, zram,
// device-mapper and md devices, so the dashboards still show the host's I/O.
Collector hostCollector(SystemSources sources = {});

}  // namespace mamori::metrics
