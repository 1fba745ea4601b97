#pragma once

// The data model of the four logs (event, dos, bot, audit): one LogRecord per
// line, the counters every log component bumps, the query filter and the
// export formats. Plain data, no I/O: a value is owned by one thread at a
// time (a worker fills a record, moves it into its LogProducer, and the
// writer thread owns it from then on). docs/logs.md is the field reference.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mamori::logs {

// The four logs. Each has its own file set per tenant
// (dir/<tenant>/<type>/<type>-YYYY-MM-DD.jsonl) and its own event.dataset
// ("mamori.event", "mamori.dos", "mamori.bot", "mamori.audit").
enum class LogType : uint8_t { Event, Dos, Bot, Audit };

inline constexpr LogType kAllLogTypes[] = {LogType::Event, LogType::Dos, LogType::Bot,
                                           LogType::Audit};

// "event", "dos", "bot", "audit": the directory and file name stem.
std::string_view logTypeName(LogType type);
// Inverse of logTypeName; nullopt for anything else (case-sensitive).
std::optional<LogType> parseLogType(std::string_view name);

// A JSON value for the type-specific part of a record (LogRecord::details).
// A small tagged struct rather than a variant because it nests: an Object
// holds Fields whose values may be Objects again. Arrays are not needed by
// any log so far and are left out on purpose.
struct Field;
struct Value {
  enum class Kind : uint8_t { Null, Bool, Int, Uint, Double, String, Object };
  Kind kind = Kind::Null;
  bool b = false;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  std::string s;
  std::vector<Field> object;

  static Value null() { return Value{}; }
  static Value boolean(bool v) { Value x; x.kind = Kind::Bool; x.b = v; return x; }
  static Value integer(int64_t v) { Value x; x.kind = Kind::Int; x.i = v; return x; }
  static Value unsignedInt(uint64_t v) { Value x; x.kind = Kind::Uint; x.u = v; return x; }
  static Value number(double v) { Value x; x.kind = Kind::Double; x.d = v; return x; }
  static Value string(std::string v) { Value x; x.kind = Kind::String; x.s = std::move(v); return x; }
  static Value objectOf(std::vector<Field> fields);
};

struct Field {
  std::string key;
  Value value;
};

inline Value Value::objectOf(std::vector<Field> fields) {
  Value x;
  x.kind = Kind::Object;
  x.object = std::move(fields);
  return x;
}

// One log line before encoding. Empty strings and unset optionals are left
// out of the JSON, so a DoS record carries no url.* and an audit record no
// source.port. Field names in the comments are the ECS names written.
struct LogRecord {
  LogType type = LogType::Event;
  std::chrono::system_clock::time_point time;  // @timestamp (written with ms precision)

  // event.*: kind is ECS's "alert" for detections, "event" otherwise
  // (defaulted from the type when empty); dataset is derived from `type`.
  std::string kind;      // event.kind
  std::string category;  // event.category, e.g. "web", "network", "iam", "configuration"
  std::string event_type;  // event.type, e.g. "denied", "allowed", "change", "info"
  std::string action;    // event.action, e.g. "block", "detect", "ban", "drop", "rules.reload"
  std::string outcome;   // event.outcome: "success" | "failure" | "unknown"

  std::string source_ip;  // source.ip
  std::optional<uint16_t> source_port;
  std::string destination_ip;  // destination.ip
  std::optional<uint16_t> destination_port;

  std::string url_path;      // url.path
  std::string url_query;     // url.query (without '?')
  std::string url_original;  // url.original (the request-target as received)
  std::string http_method;   // http.request.method
  std::optional<uint16_t> http_status;  // http.response.status_code
  std::string request_id;    // http.request.id
  std::string user_agent;    // user_agent.original

  std::string rule_id;        // rule.id
  std::string rule_name;      // rule.name
  std::string rule_category;  // rule.category

  std::string tls_ja3;  // tls.client.ja3 (optional)
  std::string tls_ja4;  // tls.client.ja4 (optional)

  // Which file set the line goes to. Must be a valid tenant id
  // ([a-z0-9][a-z0-9-]{0,62}); records with anything else are dropped and
  // counted (dropped_invalid) so a bad id can never name a path.
  std::string tenant;  // "tenant"
  std::string site;    // "site"
  std::map<std::string, std::string> labels;  // labels.* (the tenant's labels)

  std::string message;  // message

  // Type-specific fields, written as the object "mamori": e.g. dos {count,
  // reason, protocol, interval_s}, bot {score, signals}, audit {user,
  // command, before, after, result}. Keys in insertion order.
  std::vector<Field> details;
};

// When the writer calls fsync(2) on a log file.
enum class FsyncPolicy : uint8_t {
  Interval,  // at most once per flush interval (default 1 s)
  EveryLine, // after every line: slow, loses nothing that was written
  Never,     // leave it to the kernel (data still survives kill -9, not a power loss)
};

// Every counter of the logs module in one list (STYLE.md §2). X(name, help).
#define MAMORI_LOGS_COUNTERS(X)                                                      \
  X(written, "lines written to a log file")                                          \
  X(dropped_queue_full, "lines dropped because a producer queue was full")           \
  X(dropped_io_error, "lines lost to a failed open or write (disk full, EACCES)")    \
  X(dropped_invalid, "records dropped because the tenant id cannot name a directory")\
  X(write_errors, "failed open/write/fsync calls")                                   \
  X(fsyncs, "fsync calls on log files")                                              \
  X(rotations, "files closed at local midnight")                                     \
  X(compressions, "finished days compressed to .jsonl.gz")                           \
  X(compression_errors, "compressions that failed and will be retried")              \
  X(purged_files, "files deleted by retention")                                      \
  X(purged_tenants, "removed tenants whose directory was deleted")                   \
  X(torn_lines_skipped, "unparsable lines skipped by query/export/tail")

// Live counters: relaxed atomics, bumped by any thread. Read with snapshot().
struct LogCounters {
#define MAMORI_LOGS_ATOMIC(name, help) std::atomic<uint64_t> name{0};
  MAMORI_LOGS_COUNTERS(MAMORI_LOGS_ATOMIC)
#undef MAMORI_LOGS_ATOMIC
};

// A copy of the counters at one moment, plus the queue depth gauge.
struct LogCountersSnapshot {
#define MAMORI_LOGS_PLAIN(name, help) uint64_t name = 0;
  MAMORI_LOGS_COUNTERS(MAMORI_LOGS_PLAIN)
#undef MAMORI_LOGS_PLAIN
  uint64_t queue_depth = 0;  // records waiting in all producer queues (approximate)
};

// Calls visit(name, help, value) for each counter, in list order: lets
// metrics export them without repeating the list.
template <typename Visit>
void forEachCounter(const LogCountersSnapshot& s, Visit&& visit) {
#define MAMORI_LOGS_VISIT(name, help) visit(std::string_view(#name), std::string_view(help), s.name);
  MAMORI_LOGS_COUNTERS(MAMORI_LOGS_VISIT)
#undef MAMORI_LOGS_VISIT
}

LogCountersSnapshot snapshotOf(const LogCounters& c);

// What query(), exportLogs() and LogFollower select. Unset fields match all.
struct QueryFilter {
  LogType type = LogType::Event;
  // Empty: every tenant (an administrator's view). The control API must set
  // it for a tenant's operator: the reader does no access control.
  std::string tenant;
  std::optional<std::string> site;  // exact match on "site"
  // Half-open [since, until). Unset since: the start of the readable window;
  // unset until: no upper bound. since is clamped to now - readable_days.
  std::optional<std::chrono::system_clock::time_point> since;
  std::optional<std::chrono::system_clock::time_point> until;
  std::optional<std::string> ip;       // address or CIDR prefix, matched against source.ip
  std::optional<std::string> rule_id;  // exact match on rule.id
  std::optional<std::string> text;     // case-insensitive substring of any string value
  size_t limit = 0;                    // 0: no limit
  bool newest_first = false;           // order and limit from the newest line backwards
};

enum class ExportFormat : uint8_t { Jsonl, Csv };

}  // namespace mamori::logs
