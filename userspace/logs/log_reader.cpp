#include "logs/log_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "common/ip_prefix.h"
#include "logs/log_files.h"

namespace mamori::logs {

namespace chr = std::chrono;
using common::Error;
using common::Result;
using Time = chr::system_clock::time_point;

namespace {

constexpr uint64_t kMaxFollowRead = 4u << 20;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool containsNoCase(std::string_view hay, std::string_view needle_lower) {
  if (needle_lower.empty()) return true;
  if (hay.size() < needle_lower.size()) return false;
  for (size_t i = 0; i + needle_lower.size() <= hay.size(); ++i) {
    size_t k = 0;
    while (k < needle_lower.size() && lower(hay[i + k]) == needle_lower[k]) ++k;
    if (k == needle_lower.size()) return true;
  }
  return false;
}

// The filter, checked and pre-parsed once per query.
class Matcher {
 public:
  static Result<Matcher> make(const QueryFilter& f) {
    Matcher m;
    m.f_ = &f;
    if (!f.tenant.empty() && !validTenantId(f.tenant)) {
      return Error{EINVAL, "invalid tenant id '" + f.tenant + "'"};
    }
    if (f.ip) {
      auto p = common::parseIpPrefix(*f.ip);
      if (!p.ok()) return Error{EINVAL, "invalid ip filter: " + p.error().message};
      m.ip_ = *p;
    }
    if (f.text) {
      m.text_.reserve(f.text->size());
      for (char c : *f.text) m.text_.push_back(lower(c));
    }
    return m;
  }

  bool matches(const LogEntry& e, bool check_time, Time since) const {
    if (check_time) {
      if (e.time < since) return false;
      if (f_->until && e.time >= *f_->until) return false;
    }
    if (f_->site && e.fields.get("site") != *f_->site) return false;
    if (f_->rule_id && e.fields.get("rule.id") != *f_->rule_id) return false;
    if (ip_) {
      auto src = common::parseIpPrefix(e.fields.get("source.ip"));
      if (!src.ok() || !src->isHost() || !ip_->contains(*src)) return false;
    }
    if (f_->text) {
      bool found = false;
      for (const auto& fld : e.fields.fields) {
        if (fld.is_string && containsNoCase(fld.value, text_)) {
          found = true;
          break;
        }
      }
      if (!found) return false;
    }
    return true;
  }

 private:
  const QueryFilter* f_ = nullptr;
  std::optional<common::IpPrefix> ip_;
  std::string text_;
};

// Parses a stored line; nullopt (and a count) for a torn or foreign line.
std::optional<LogEntry> toEntry(std::string_view line, bool complete, const std::string& tenant,
                                LogCounters* counters) {
  auto torn = [&] {
    counters->torn_lines_skipped.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  };
  if (!complete) return torn();
  if (line.empty()) return std::nullopt;  // the '\n' a restarted writer adds after a torn line
  auto rec = parseFlatJson(line);
  if (!rec.ok()) return torn();
  auto t = parseTimestamp(rec->get("@timestamp"));
  if (!t.ok()) return torn();
  LogEntry e;
  e.line = std::string(line);
  e.fields = std::move(*rec);
  e.time = *t;
  e.tenant = tenant;
  return e;
}

void sortEntries(std::vector<LogEntry>* v, bool newest_first) {
  if (newest_first) {
    std::stable_sort(v->begin(), v->end(), [](const LogEntry& a, const LogEntry& b) { return a.time > b.time; });
  } else {
    std::stable_sort(v->begin(), v->end(), [](const LogEntry& a, const LogEntry& b) { return a.time < b.time; });
  }
}

Result<std::vector<std::string>> tenantsFor(const std::string& dir, const QueryFilter& f) {
  if (!f.tenant.empty()) return std::vector<std::string>{f.tenant};
  return listTenants(dir);
}

std::string csvCell(std::string_view v) {
  std::string cell;
  if (!v.empty() && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r')) {
    cell.push_back('\'');
  }
  cell.append(v);
  if (cell.find_first_of(",\"\r\n") == std::string::npos) return cell;
  std::string q = "\"";
  for (char c : cell) {
    if (c == '"') q.push_back('"');
    q.push_back(c);
  }
  q.push_back('"');
  return q;
}

}  // namespace

const std::vector<std::string>& csvColumns() {
  static const std::vector<std::string> kColumns = {
      "@timestamp",  "tenant",      "site",        "event.dataset",
      "event.action", "source.ip",  "source.port", "http.request.method",
      "url.original", "http.response.status_code", "rule.id", "rule.name",
      "http.request.id", "user_agent.original", "message", "mamori"};
  return kColumns;
}

std::string csvHeader() {
  std::string row;
  for (const auto& c : csvColumns()) {
    if (!row.empty()) row.push_back(',');
    row += c;  // our own names: no quoting or formula guard needed
  }
  row += "\r\n";
  return row;
}

std::string csvRow(const FlatRecord& rec) {
  std::string row;
  bool first = true;
  for (const auto& c : csvColumns()) {
    if (!first) row.push_back(',');
    first = false;
    if (c == "mamori") {
      std::string details;
      for (const auto& f : rec.fields) {
        if (f.path.rfind("mamori.", 0) != 0) continue;
        if (!details.empty()) details += "; ";
        details += f.path.substr(7) + "=" + f.value;
      }
      row += csvCell(details);
    } else {
      row += csvCell(rec.get(c));
    }
  }
  row += "\r\n";
  return row;
}

LogReader::LogReader(ReaderOptions options) : options_(std::move(options)) {
  if (!options_.clock) options_.clock = [] { return chr::system_clock::now(); };
  if (!options_.counters) options_.counters = std::make_shared<LogCounters>();
  if (options_.readable_days < 1) options_.readable_days = 1;
}

Result<size_t> LogReader::query(const QueryFilter& filter,
                                const std::function<bool(const LogEntry&)>& visit) const {
  auto matcher = Matcher::make(filter);
  if (!matcher.ok()) return matcher.error();
  auto tenants = tenantsFor(options_.dir, filter);
  if (!tenants.ok()) return tenants.error();

  Time now = this->now();
  Time window_start = now - chr::hours(24) * options_.readable_days;
  Time since = filter.since && *filter.since > window_start ? *filter.since : window_start;
  if (filter.until && *filter.until <= since) return size_t{0};
  // A line lands in the file of the day it was written, at or shortly after
  // its @timestamp: so no file before since's day can hold a match, while a
  // file one day after until's day still may (written just past midnight).
  chr::sys_days first_day = chr::sys_days(options_.zone.localDate(since));
  std::optional<chr::sys_days> last_day;
  if (filter.until) last_day = chr::sys_days(options_.zone.localDate(*filter.until)) + chr::days(1);

  std::map<chr::sys_days, std::vector<std::pair<std::string, DayFile>>> by_day;
  for (const auto& tenant : *tenants) {
    auto files = listDayFiles(options_.dir, tenant, filter.type);
    if (!files.ok()) continue;  // one unreadable tenant does not hide the others
    for (auto& f : *files) {
      chr::sys_days d(f.date);
      if (d < first_day || (last_day && d > *last_day)) continue;
      by_day[d].emplace_back(tenant, std::move(f));
    }
  }

  std::vector<chr::sys_days> days;
  for (const auto& [d, v] : by_day) days.push_back(d);
  if (filter.newest_first) std::reverse(days.begin(), days.end());

  size_t visited = 0;
  for (const auto& d : days) {
    std::vector<LogEntry> entries;
    for (const auto& [tenant, file] : by_day[d]) {
      auto collect = [&, &tenant = tenant](std::string_view line, bool complete) {
        auto e = toEntry(line, complete, tenant, options_.counters.get());
        if (e && matcher->matches(*e, true, since)) entries.push_back(std::move(*e));
        return true;
      };
      common::Status st = forEachLine(file.path, collect);
      if (!st.ok() && !file.gz && st.error().code == ENOENT) {
        // Compressed between listing and opening: read the .gz instead.
        (void)forEachLine(file.path + ".gz", collect);
      }
    }
    sortEntries(&entries, filter.newest_first);
    for (const auto& e : entries) {
      if (filter.limit != 0 && visited >= filter.limit) return visited;
      ++visited;
      if (!visit(e)) return visited;
    }
  }
  return visited;
}

Result<std::vector<LogEntry>> LogReader::queryAll(const QueryFilter& filter) const {
  std::vector<LogEntry> out;
  auto r = query(filter, [&](const LogEntry& e) {
    out.push_back(e);
    return true;
  });
  if (!r.ok()) return r.error();
  return out;
}

Result<size_t> LogReader::exportTo(const QueryFilter& filter, ExportFormat format, std::ostream& out) const {
  if (format == ExportFormat::Csv) out << csvHeader();
  auto r = query(filter, [&](const LogEntry& e) {
    if (format == ExportFormat::Jsonl) {
      out << e.line << '\n';
    } else {
      out << csvRow(e.fields);
    }
    return static_cast<bool>(out);
  });
  if (!r.ok()) return r.error();
  out.flush();
  if (!out) return Error{EIO, "export: output stream failed"};
  return r;
}

// --- LogFollower ----------------------------------------------------------------

LogFollower::LogFollower(ReaderOptions options, QueryFilter filter)
    : reader_(std::move(options)), filter_(std::move(filter)) {}

Result<std::unique_ptr<LogFollower>> LogFollower::create(ReaderOptions options, QueryFilter filter) {
  auto matcher = Matcher::make(filter);
  if (!matcher.ok()) return matcher.error();
  std::unique_ptr<LogFollower> f(new LogFollower(std::move(options), std::move(filter)));
  auto tenants = tenantsFor(f->reader_.options_.dir, f->filter_);
  if (!tenants.ok()) return tenants.error();
  auto today = f->reader_.options_.zone.localDate(f->reader_.now());
  for (const auto& tenant : *tenants) {
    Position pos;
    pos.date = today;
    std::string path = f->reader_.options_.dir + "/" + tenant + "/" +
                       std::string(logTypeName(f->filter_.type)) + "/" +
                       dayFileName(f->filter_.type, today, false);
    struct stat sb {};
    if (::stat(path.c_str(), &sb) == 0) pos.offset = static_cast<uint64_t>(sb.st_size);
    f->positions_[tenant] = pos;
  }
  return f;
}

void LogFollower::readPlain(const std::string& tenant, const std::string& path, Position* pos,
                            std::vector<LogEntry>* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat sb {};
  if (::fstat(fd, &sb) != 0) {
    ::close(fd);
    return;
  }
  uint64_t size = static_cast<uint64_t>(sb.st_size);
  if (size < pos->offset) pos->offset = 0;  // replaced or truncated: start over
  uint64_t want = std::min(size - pos->offset, kMaxFollowRead);
  std::string buf(want, '\0');
  size_t got = 0;
  while (got < want) {
    ssize_t r = ::pread(fd, buf.data() + got, want - got, static_cast<off_t>(pos->offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  buf.resize(got);
  auto matcher = Matcher::make(filter_);
  size_t start = 0;
  for (;;) {
    size_t nl = buf.find('\n', start);
    if (nl == std::string::npos) break;  // an unfinished line waits for the next poll
    auto e = toEntry(std::string_view(buf).substr(start, nl - start), true, tenant,
                     reader_.options_.counters.get());
    if (e && matcher->matches(*e, false, Time{})) out->push_back(std::move(*e));
    start = nl + 1;
  }
  if (start == 0 && got == kMaxFollowRead) start = got;  // one absurdly long line: skip it
  pos->offset += start;
}

void LogFollower::finishDay(const std::string& tenant, Position* pos, std::vector<LogEntry>* out) {
  std::string base = reader_.options_.dir + "/" + tenant + "/" + std::string(logTypeName(filter_.type)) +
                     "/" + dayFileName(filter_.type, pos->date, false);
  if (::access(base.c_str(), F_OK) == 0) {
    // Read it to the end, whatever its size.
    uint64_t before;
    do {
      before = pos->offset;
      readPlain(tenant, base, pos, out);
    } while (pos->offset != before);
    return;
  }
  // Already compressed: the .gz holds the same bytes, so skip what we had.
  auto matcher = Matcher::make(filter_);
  uint64_t offset = 0;
  (void)forEachLine(base + ".gz", [&](std::string_view line, bool complete) {
    uint64_t end = offset + line.size() + (complete ? 1 : 0);
    if (offset >= pos->offset) {
      auto e = toEntry(line, complete, tenant, reader_.options_.counters.get());
      if (e && matcher->matches(*e, false, Time{})) out->push_back(std::move(*e));
    }
    offset = end;
    return true;
  });
}

Result<std::vector<LogEntry>> LogFollower::poll() {
  auto tenants = tenantsFor(reader_.options_.dir, filter_);
  if (!tenants.ok()) return tenants.error();
  auto today = reader_.options_.zone.localDate(reader_.now());
  std::vector<LogEntry> out;
  for (const auto& tenant : *tenants) {
    auto [it, added] = positions_.try_emplace(tenant);
    Position& pos = it->second;
    if (added) pos.date = today;  // a tenant that appeared after we started: from its start
    if (pos.date < today) {
      finishDay(tenant, &pos, &out);
      pos.date = today;
      pos.offset = 0;
    }
    std::string path = reader_.options_.dir + "/" + tenant + "/" + std::string(logTypeName(filter_.type)) +
                       "/" + dayFileName(filter_.type, today, false);
    readPlain(tenant, path, &pos, &out);
  }
  sortEntries(&out, false);
  return out;
}

}  // namespace mamori::logs
