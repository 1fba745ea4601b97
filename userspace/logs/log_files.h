#pragma once

// The on-disk layout of the logs and the file operations the writer and the
// reader share:
//
//   <dir>/<tenant>/<type>/<type>-YYYY-MM-DD.jsonl      the day being written
//   <dir>/<tenant>/<type>/<type>-YYYY-MM-DD.jsonl.gz   a finished day
//   <dir>/<tenant>/<type>/<type>-YYYY-MM-DD.jsonl.gz.tmp  a compression in progress
//
// YYYY-MM-DD is the local date (in the configured zone) at which the writer
// wrote the line. zlib stays behind this header (STYLE.md §1). Functions are
// reentrant; callers serialise work on the same file themselves.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "logs/types.h"

namespace mamori::logs {

// True for a tenant id the config accepts: [a-z0-9][a-z0-9-]{0,62}. Only such
// ids ever become directory names, so a record cannot write outside `dir`.
bool validTenantId(std::string_view id);

// "event-2026-11-28.jsonl" (plain) or "...jsonl.gz".
std::string dayFileName(LogType type, std::chrono::year_month_day date, bool gz);

// One day's file as found on disk.
struct DayFile {
  std::chrono::year_month_day date;
  std::string path;
  bool gz = false;
};

// Parses a file name of `type`; nullopt for anything else (other types,
// .tmp files, junk).
std::optional<DayFile> parseDayFileName(LogType type, std::string_view file_name);

// The tenant directories under `dir` with a valid tenant id, sorted. A
// missing `dir` gives an empty list; another failure an Error.
common::Result<std::vector<std::string>> listTenants(const std::string& dir);

// The day files of one tenant and type, sorted by date. When both the plain
// and the .gz file of a day exist (a crash between rename and unlink), the
// .gz one is listed: it was complete when renamed.
common::Result<std::vector<DayFile>> listDayFiles(const std::string& dir, const std::string& tenant,
                                                  LogType type);

// Compresses `plain` into `plain + ".gz"` atomically: writes plain.gz.tmp,
// fsyncs it, renames it, fsyncs the directory, then unlinks `plain`. A
// failure (ENOSPC, EIO) removes the .tmp and leaves `plain` untouched, so
// the caller can simply retry later.
common::Status compressFile(const std::string& plain);

// Reads the lines of a plain or gzip file in order. visit(line, complete):
// `complete` is false only for a last line without its '\n'. visit returns
// false to stop early. A gzip stream that is cut short yields the lines
// before the damage and then an Error (EIO).
common::Status forEachLine(const std::string& path,
                           const std::function<bool(std::string_view, bool)>& visit);

// Removes a directory tree (no symlink following). Returns the number of
// regular files removed, or the first Error.
common::Result<uint64_t> removeTree(const std::string& path);

// fsync(2) on a directory, so a created or renamed entry survives a crash.
common::Status fsyncDir(const std::string& path);

// "a/b/c" → "a/b"; "c" → ".".
std::string parentDir(const std::string& path);

}  // namespace mamori::logs
