#include "logs/time_zone.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace mamori::logs {

using common::Error;
using common::Result;
namespace chr = std::chrono;

// A POSIX TZ string: "std offset [dst [offset] [,start[/time],end[/time]]]".
// Offsets are stored the ECS/ISO way round (east of UTC positive), the
// opposite of the POSIX text.
struct TimeZone::Rule {
  struct Date {
    enum class Form : uint8_t { Julian1, Julian0, MonthWeekDay } form = Form::MonthWeekDay;
    int n = 0;  // Julian day, or month 1..12
    int week = 0;  // 1..5 (5 = last)
    int wday = 0;  // 0 = Sunday
    int32_t time = 7200;  // seconds after local midnight; may be negative or > 24 h
  };
  int32_t std_offset = 0;
  bool has_dst = false;
  int32_t dst_offset = 0;
  Date start;
  Date end;

  int32_t offsetAt(int64_t t) const;
};

namespace {

Error invalid(std::string message) { return Error{EINVAL, std::move(message)}; }

// --- POSIX TZ string --------------------------------------------------------

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}

  bool name() {
    if (pos_ < s_.size() && s_[pos_] == '<') {
      size_t close = s_.find('>', pos_);
      if (close == std::string_view::npos || close - pos_ < 4) return false;
      pos_ = close + 1;
      return true;
    }
    size_t start = pos_;
    while (pos_ < s_.size() && ((s_[pos_] >= 'A' && s_[pos_] <= 'Z') ||
                                (s_[pos_] >= 'a' && s_[pos_] <= 'z'))) {
      ++pos_;
    }
    return pos_ - start >= 3;
  }

  // [+-]h[h][:mm[:ss]] with hours up to `max_hours`; returns seconds.
  bool hms(int32_t* out, int max_hours) {
    int sign = 1;
    if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) {
      sign = s_[pos_] == '-' ? -1 : 1;
      ++pos_;
    }
    int parts[3] = {0, 0, 0};
    for (int i = 0; i < 3; ++i) {
      if (i > 0) {
        if (pos_ >= s_.size() || s_[pos_] != ':') break;
        ++pos_;
      }
      size_t start = pos_;
      int v = 0;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9' && pos_ - start < 3) {
        v = v * 10 + (s_[pos_] - '0');
        ++pos_;
      }
      if (pos_ == start) return false;
      parts[i] = v;
    }
    if (parts[0] > max_hours || parts[1] > 59 || parts[2] > 59) return false;
    *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
    return true;
  }

  bool number(int* out, int lo, int hi) {
    size_t start = pos_;
    int v = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9' && pos_ - start < 4) {
      v = v * 10 + (s_[pos_] - '0');
      ++pos_;
    }
    if (pos_ == start || v < lo || v > hi) return false;
    *out = v;
    return true;
  }

  bool date(TimeZone::Rule::Date* d) {
    using Form = TimeZone::Rule::Date::Form;
    if (peek('J')) {
      ++pos_;
      d->form = Form::Julian1;
      if (!number(&d->n, 1, 365)) return false;
    } else if (peek('M')) {
      ++pos_;
      d->form = Form::MonthWeekDay;
      if (!number(&d->n, 1, 12) || !eat('.') || !number(&d->week, 1, 5) || !eat('.') ||
          !number(&d->wday, 0, 6)) {
        return false;
      }
    } else {
      d->form = Form::Julian0;
      if (!number(&d->n, 0, 365)) return false;
    }
    d->time = 7200;
    if (peek('/')) {
      ++pos_;
      if (!hms(&d->time, 167)) return false;  // RFC 8536 §3.3.1 extension: -167..167 h
    }
    return true;
  }

  bool peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  bool eat(char c) {
    if (!peek(c)) return false;
    ++pos_;
    return true;
  }
  bool done() const { return pos_ == s_.size(); }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

Result<TimeZone::Rule> parsePosixRule(std::string_view tz) {
  TimeZone::Rule r;
  PosixParser p(tz);
  int32_t off = 0;
  if (!p.name() || !p.hms(&off, 24)) return invalid("bad POSIX TZ string '" + std::string(tz) + "'");
  r.std_offset = -off;
  if (p.done()) return r;
  if (!p.name()) return invalid("bad DST name in TZ string '" + std::string(tz) + "'");
  r.has_dst = true;
  r.dst_offset = r.std_offset + 3600;
  if (!p.peek(',') && !p.done()) {
    if (!p.hms(&off, 24)) return invalid("bad DST offset in TZ string '" + std::string(tz) + "'");
    r.dst_offset = -off;
  }
  if (p.done()) {
    // No rule: POSIX leaves it to the implementation; glibc uses the US rule.
    r.start = {TimeZone::Rule::Date::Form::MonthWeekDay, 3, 2, 0, 7200};
    r.end = {TimeZone::Rule::Date::Form::MonthWeekDay, 11, 1, 0, 7200};
    return r;
  }
  if (!p.eat(',') || !p.date(&r.start) || !p.eat(',') || !p.date(&r.end) || !p.done()) {
    return invalid("bad DST rule in TZ string '" + std::string(tz) + "'");
  }
  return r;
}

// Seconds from 1970-01-01 to local midnight of the rule's day in `year`,
// plus the rule's time of day.
int64_t ruleLocalTime(const TimeZone::Rule::Date& d, int year) {
  using Form = TimeZone::Rule::Date::Form;
  chr::year y{year};
  chr::sys_days day;
  if (d.form == Form::Julian1) {
    // 1..365, February 29 never counted.
    int n = d.n - 1;
    if (y.is_leap() && d.n >= 60) ++n;
    day = chr::sys_days(y / chr::January / 1) + chr::days(n);
  } else if (d.form == Form::Julian0) {
    day = chr::sys_days(y / chr::January / 1) + chr::days(d.n);
  } else {
    chr::sys_days first = chr::sys_days(y / chr::month(d.n) / 1);
    unsigned first_wd = chr::weekday(first).c_encoding();
    int delta = (d.wday - static_cast<int>(first_wd) + 7) % 7 + (d.week - 1) * 7;
    chr::sys_days last = chr::sys_days(y / chr::month(d.n) / chr::last);
    day = first + chr::days(delta);
    while (day > last) day -= chr::days(7);
  }
  return day.time_since_epoch().count() * 86400LL + d.time;
}

int yearOf(int64_t local_seconds) {
  chr::sys_days day = chr::floor<chr::days>(chr::sys_seconds(chr::seconds(local_seconds)));
  return static_cast<int>(chr::year_month_day(day).year());
}

// --- TZif ---------------------------------------------------------------------

class ByteReader {
 public:
  explicit ByteReader(std::string_view b) : b_(b) {}
  bool has(size_t n) const { return b_.size() - pos_ >= n; }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(b_[pos_++]);
    return v;
  }
  int64_t i64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(b_[pos_++]);
    return static_cast<int64_t>(v);
  }
  uint8_t u8() { return static_cast<uint8_t>(b_[pos_++]); }
  void skip(size_t n) { pos_ += n; }
  size_t pos() const { return pos_; }
  std::string_view rest() const { return b_.substr(pos_); }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

struct TzifHeader {
  char version = 0;
  uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

bool readHeader(ByteReader* r, TzifHeader* h) {
  if (!r->has(44)) return false;
  std::string_view magic = r->rest().substr(0, 4);
  if (magic != "TZif") return false;
  r->skip(4);
  h->version = static_cast<char>(r->u8());
  r->skip(15);
  h->isutcnt = r->u32();
  h->isstdcnt = r->u32();
  h->leapcnt = r->u32();
  h->timecnt = r->u32();
  h->typecnt = r->u32();
  h->charcnt = r->u32();
  // Bounds from RFC 8536 §3.1; they also keep the size arithmetic below from overflowing.
  return h->typecnt >= 1 && h->typecnt <= 256 && h->timecnt <= 100000 && h->leapcnt <= 100000 &&
         h->charcnt >= 1 && h->charcnt <= 100000 && (h->isutcnt == 0 || h->isutcnt == h->typecnt) &&
         (h->isstdcnt == 0 || h->isstdcnt == h->typecnt);
}

size_t dataSize(const TzifHeader& h, size_t time_size) {
  return h.timecnt * time_size + h.timecnt + h.typecnt * 6 + h.charcnt +
         h.leapcnt * (time_size + 4) + h.isstdcnt + h.isutcnt;
}

bool validZoneName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '/' || name.front() == '-') return false;
  if (name.find("..") != std::string_view::npos) return false;
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+';
    if (!ok) return false;
  }
  return true;
}

Result<std::string> readWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return common::errnoError("open " + path, errno ? errno : ENOENT);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return common::errnoError("read " + path, EIO);
  std::string s = ss.str();
  if (s.size() > (1u << 20)) return invalid(path + ": not a TZif file (too large)");
  return s;
}

}  // namespace

int32_t TimeZone::Rule::offsetAt(int64_t t) const {
  if (!has_dst) return std_offset;
  int year = yearOf(t + std_offset);
  // The start time is given in standard time, the end time in DST.
  int64_t start = ruleLocalTime(this->start, year) - std_offset;
  int64_t finish = ruleLocalTime(this->end, year) - dst_offset;
  bool in_dst = start < finish ? (t >= start && t < finish) : !(t >= finish && t < start);
  return in_dst ? dst_offset : std_offset;
}

TimeZone::TimeZone() = default;

Result<TimeZone> TimeZone::fromPosix(std::string_view tz) {
  auto rule = parsePosixRule(tz);
  if (!rule.ok()) return rule.error();
  TimeZone z;
  z.name_ = std::string(tz);
  z.is_utc_ = !rule->has_dst && rule->std_offset == 0 && (tz == "UTC0" || tz == "UTC");
  z.initial_offset_ = rule->std_offset;
  z.footer_ = std::make_shared<Rule>(*rule);
  return z;
}

Result<TimeZone> TimeZone::fromTzif(std::string_view bytes, std::string name) {
  ByteReader r(bytes);
  TzifHeader h{};
  if (!readHeader(&r, &h)) return invalid(name + ": not a TZif file");
  size_t time_size = 4;
  if (h.version >= '2') {
    // Skip the 32-bit block: the v2+ block after it has 64-bit times.
    size_t skip = dataSize(h, 4);
    if (!r.has(skip)) return invalid(name + ": truncated TZif file");
    r.skip(skip);
    if (!readHeader(&r, &h)) return invalid(name + ": bad TZif v2 header");
    time_size = 8;
  }
  if (!r.has(dataSize(h, time_size))) return invalid(name + ": truncated TZif file");
  TimeZone z;
  z.name_ = std::move(name);
  z.is_utc_ = false;
  z.transitions_.resize(h.timecnt);
  for (auto& t : z.transitions_) t = time_size == 8 ? r.i64() : static_cast<int32_t>(r.u32());
  z.indices_.resize(h.timecnt);
  for (auto& i : z.indices_) {
    i = r.u8();
    if (i >= h.typecnt) return invalid(z.name_ + ": bad TZif type index");
  }
  for (size_t i = 1; i < z.transitions_.size(); ++i) {
    if (z.transitions_[i] <= z.transitions_[i - 1]) return invalid(z.name_ + ": unsorted TZif transitions");
  }
  z.offsets_.resize(h.typecnt);
  for (auto& o : z.offsets_) {
    o = static_cast<int32_t>(r.u32());
    r.skip(2);  // isdst, desigidx
    if (o <= -89999 || o >= 93600) return invalid(z.name_ + ": bad TZif UT offset");
  }
  z.initial_offset_ = z.offsets_[0];  // RFC 8536 §3.2: type 0 applies before the first transition
  r.skip(h.charcnt + h.leapcnt * (time_size + 4) + h.isstdcnt + h.isutcnt);
  if (time_size == 8) {
    std::string_view rest = r.rest();
    if (rest.size() >= 2 && rest[0] == '\n') {
      size_t nl = rest.find('\n', 1);
      if (nl == std::string_view::npos) return invalid(z.name_ + ": bad TZif footer");
      std::string_view tz = rest.substr(1, nl - 1);
      if (!tz.empty()) {
        auto rule = parsePosixRule(tz);
        if (!rule.ok()) return Error{EINVAL, z.name_ + ": " + rule.error().message};
        z.footer_ = std::make_shared<Rule>(*rule);
      }
    }
  }
  z.is_utc_ = z.transitions_.empty() && z.offsets_.size() == 1 && z.offsets_[0] == 0 &&
              (!z.footer_ || (!z.footer_->has_dst && z.footer_->std_offset == 0));
  return z;
}

Result<TimeZone> TimeZone::load(std::string_view name, const std::string& zoneinfo_dir) {
  if (name == "UTC" || name == "Etc/UTC" || name == "Z" || name == "utc") return TimeZone();
  if (name == "local") {
    const char* tz = std::getenv("TZ");
    if (tz != nullptr && *tz != '\0') {
      std::string_view v(tz);
      if (v.front() == ':') v.remove_prefix(1);
      if (validZoneName(v)) {
        auto z = load(v, zoneinfo_dir);
        if (z.ok()) return z;
      }
      auto posix = fromPosix(v);
      if (posix.ok()) return posix;
      return invalid("TZ='" + std::string(tz) + "' is neither a zone name nor a POSIX TZ string");
    }
    auto bytes = readWholeFile("/etc/localtime");
    if (!bytes.ok()) return TimeZone();  // no /etc/localtime: the C library uses UTC too
    auto z = fromTzif(*bytes, "local");
    if (!z.ok()) return z.error();
    return z;
  }
  if (!validZoneName(name)) return invalid("invalid time zone name '" + std::string(name) + "'");
  std::string path = zoneinfo_dir + "/" + std::string(name);
  auto bytes = readWholeFile(path);
  if (!bytes.ok()) {
    return Error{ENOENT, "unknown time zone '" + std::string(name) + "' (" + bytes.error().message + ")"};
  }
  return fromTzif(*bytes, std::string(name));
}

chr::seconds TimeZone::offsetAt(chr::sys_seconds t) const {
  int64_t s = t.time_since_epoch().count();
  if (transitions_.empty()) {
    return chr::seconds(footer_ ? footer_->offsetAt(s) : initial_offset_);
  }
  if (s < transitions_.front()) return chr::seconds(initial_offset_);
  if (s >= transitions_.back() && footer_) return chr::seconds(footer_->offsetAt(s));
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), s);
  size_t idx = static_cast<size_t>(it - transitions_.begin()) - 1;
  return chr::seconds(offsets_[indices_[idx]]);
}

chr::year_month_day TimeZone::localDate(chr::system_clock::time_point t) const {
  chr::sys_seconds s = chr::floor<chr::seconds>(t);
  return chr::year_month_day(chr::floor<chr::days>(s + offsetAt(s)));
}

std::string formatTimestamp(chr::system_clock::time_point t, const TimeZone& zone) {
  auto ms = chr::floor<chr::milliseconds>(t);
  chr::sys_seconds s = chr::floor<chr::seconds>(ms);
  chr::seconds off = zone.offsetAt(s);
  auto local = ms + off;
  chr::sys_days day = chr::floor<chr::days>(local);
  chr::year_month_day ymd(day);
  chr::hh_mm_ss<chr::milliseconds> tod(local - day);
  char buf[48];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03d",
                        static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                        static_cast<unsigned>(ymd.day()), static_cast<int>(tod.hours().count()),
                        static_cast<int>(tod.minutes().count()),
                        static_cast<int>(tod.seconds().count()),
                        static_cast<int>(tod.subseconds().count()));
  std::string out(buf, static_cast<size_t>(n));
  if (zone.isUtc()) {
    out += 'Z';
  } else {
    long o = static_cast<long>(off.count());
    char sign = o < 0 ? '-' : '+';
    if (o < 0) o = -o;
    std::snprintf(buf, sizeof buf, "%c%02ld:%02ld", sign, o / 3600, (o / 60) % 60);
    out += buf;
  }
  return out;
}

Result<chr::system_clock::time_point> parseTimestamp(std::string_view text) {
  auto bad = [&] { return invalid("invalid RFC 3339 timestamp '" + std::string(text) + "'"); };
  size_t pos = 0;
  auto digits = [&](size_t n, int* out) {
    if (text.size() - pos < n) return false;
    int v = 0;
    for (size_t i = 0; i < n; ++i) {
      char c = text[pos + i];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    pos += n;
    *out = v;
    return true;
  };
  auto eat = [&](char c) {
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  };
  int y, mo, d;
  if (!digits(4, &y) || !eat('-') || !digits(2, &mo) || !eat('-') || !digits(2, &d)) return bad();
  chr::year_month_day ymd{chr::year(y), chr::month(static_cast<unsigned>(mo)),
                          chr::day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return bad();
  chr::sys_days day(ymd);
  if (pos == text.size()) return chr::system_clock::time_point(day);
  if (!(eat('T') || eat('t') || eat(' '))) return bad();
  int h, mi, s;
  if (!digits(2, &h) || !eat(':') || !digits(2, &mi) || !eat(':') || !digits(2, &s)) return bad();
  if (h > 23 || mi > 59 || s > 60) return bad();  // 60: a leap second, folded into :59 + 1
  int64_t micros = 0;
  if (eat('.')) {
    size_t start = pos;
    int64_t scale = 100000;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      micros += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return bad();
  }
  int64_t offset = 0;
  if (eat('Z') || eat('z')) {
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int oh, om;
    if (!digits(2, &oh) || !eat(':') || !digits(2, &om) || oh > 23 || om > 59) return bad();
    offset = sign * (oh * 3600 + om * 60);
  } else {
    return bad();
  }
  if (pos != text.size()) return bad();
  auto tp = chr::system_clock::time_point(day) + chr::hours(h) + chr::minutes(mi) +
            chr::seconds(s) + chr::microseconds(micros) - chr::seconds(offset);
  return chr::time_point_cast<chr::system_clock::duration>(tp);
}

}  // namespace mamori::logs
