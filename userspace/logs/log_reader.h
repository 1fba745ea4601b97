#pragma once

// Reading the logs back: query (filtered, time-ordered), export (JSON lines
// or CSV streamed to an ostream) and follow (`mamorictl logs tail -f`).
// Reads plain and .gz day files alike, skips and counts torn or unparsable
// lines, and never returns anything older than readable_days.
//
// The reader does no access control: the control API sets
// QueryFilter::tenant for a tenant's operator. It only reads files, so it
// may run on any thread, concurrently with the LogWriter; a day file that is
// compressed while being listed is found again under its .gz name.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "common/result.h"
#include "logs/json.h"
#include "logs/log_writer.h"
#include "logs/time_zone.h"
#include "logs/types.h"

namespace mamori::logs {

struct ReaderOptions {
  std::string dir = "/var/log/mamori";
  TimeZone zone;  // must be the writer's zone: file dates are local dates
  int readable_days = 90;
  Clock clock;  // default system_clock::now
  // Where torn_lines_skipped is counted (the writer's sharedCounters());
  // null: a private set.
  std::shared_ptr<LogCounters> counters;
};

// One line found by a query.
struct LogEntry {
  std::string line;  // the stored JSON object, without '\n'
  FlatRecord fields;
  std::chrono::system_clock::time_point time;  // parsed @timestamp
  std::string tenant;                          // the directory it came from
};

// The CSV export's columns, in order (the header row uses these names).
// "mamori" holds the type-specific fields as "key=value" pairs joined by "; ".
const std::vector<std::string>& csvColumns();
// One CSV row (RFC 4180: CRLF, quotes doubled, fields with , " CR LF quoted).
// A cell starting with = + - @ TAB or CR gets a leading ' so a spreadsheet
// does not run attacker-supplied text (a User-Agent of "=cmd|...") as a formula.
std::string csvRow(const FlatRecord& rec);
std::string csvHeader();

class LogReader {
 public:
  explicit LogReader(ReaderOptions options);

  // Calls visit(entry) for each matching line, oldest first (newest first
  // with filter.newest_first), up to filter.limit; visit returns false to
  // stop. Order: day files by date, and within a day by @timestamp (ties
  // keep file order). Returns the number of entries visited. Fails with
  // EINVAL on a bad filter (invalid tenant id or ip), or with the error of
  // listing `dir`; unreadable single files are skipped. Any thread.
  common::Result<size_t> query(const QueryFilter& filter,
                               const std::function<bool(const LogEntry&)>& visit) const;

  // query() collected into a vector (mind filter.limit for big ranges).
  common::Result<std::vector<LogEntry>> queryAll(const QueryFilter& filter) const;

  // Streams the matching lines to `out`: Jsonl writes each stored line and
  // '\n'; Csv writes csvHeader() then one csvRow() per line. Returns the
  // number of rows. Fails as query() does, or with EIO when `out` fails.
  common::Result<size_t> exportTo(const QueryFilter& filter, ExportFormat format,
                                  std::ostream& out) const;

  const ReaderOptions& options() const { return options_; }
  LogCountersSnapshot counters() const { return snapshotOf(*options_.counters); }

 private:
  friend class LogFollower;
  std::chrono::system_clock::time_point now() const { return options_.clock(); }
  ReaderOptions options_;
};

// Follows the logs of one type as they are written: the first poll() returns
// nothing older than construction (like `tail -f -n 0`), later polls return
// the complete lines appended since, in @timestamp order within a poll. Lines
// still being written (no '\n' yet) wait for the next poll. Handles
// rotation (finishes yesterday's file, from its .gz if it was already
// compressed) and tenants that appear later (read from their start).
// Honours the filter's tenant, site, ip, rule_id and text; since/until and
// limit are ignored. One thread at a time.
class LogFollower {
 public:
  // Fails like LogReader::query on a bad filter.
  static common::Result<std::unique_ptr<LogFollower>> create(ReaderOptions options, QueryFilter filter);

  // New lines since the last poll. Reads at most 4 MiB per file per call;
  // the rest comes with the next call.
  common::Result<std::vector<LogEntry>> poll();

 private:
  struct Position {
    std::chrono::year_month_day date{};
    uint64_t offset = 0;
  };
  LogFollower(ReaderOptions options, QueryFilter filter);
  void readPlain(const std::string& tenant, const std::string& path, Position* pos,
                 std::vector<LogEntry>* out);
  void finishDay(const std::string& tenant, Position* pos, std::vector<LogEntry>* out);

  LogReader reader_;
  QueryFilter filter_;
  std::map<std::string, Position> positions_;  // by tenant
};

}  // namespace mamori::logs
