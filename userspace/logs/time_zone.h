#pragma once

// The zone log timestamps are written in and days are rotated by.
//
// GCC 12's libstdc++ (Debian 12) has no std::chrono::locate_zone, and TZ +
// localtime_r would make the zone process-global and racy with setenv, so
// this reads the TZif files of Debian's tzdata package itself (RFC 8536:
// the 64-bit v2+ data block, then the POSIX TZ footer for instants after
// the last transition). Immutable after load: any thread may call the const
// methods concurrently.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace mamori::logs {

class TimeZone {
 public:
  // UTC, the zone used when none could be loaded.
  TimeZone();

  // Loads a zone by its config name:
  //  - "UTC" (or "Etc/UTC", "Z"): UTC, written with a "Z" suffix;
  //  - "local": $TZ if set (":Area/City", "Area/City" or a POSIX string),
  //    else /etc/localtime, else UTC;
  //  - an IANA name such as "Asia/Tokyo": <zoneinfo_dir>/<name>.
  // Fails with Error{ENOENT/EINVAL, message} for an unknown name, a name that
  // tries to leave zoneinfo_dir ("..", leading '/'), or a malformed file.
  // Control plane (startup, reload).
  static common::Result<TimeZone> load(std::string_view name,
                                       const std::string& zoneinfo_dir = "/usr/share/zoneinfo");

  // Builds a zone from a POSIX TZ string ("JST-9", "CET-1CEST,M3.5.0,M10.5.0/3").
  // Fails with EINVAL on a malformed string.
  static common::Result<TimeZone> fromPosix(std::string_view tz);

  // Parses the bytes of a TZif file (version 1, 2, 3 or 4).
  static common::Result<TimeZone> fromTzif(std::string_view bytes, std::string name);

  // The zone's offset from UTC at instant `t` (local = t + offset).
  std::chrono::seconds offsetAt(std::chrono::sys_seconds t) const;

  // The local calendar day that contains `t`.
  std::chrono::year_month_day localDate(std::chrono::system_clock::time_point t) const;

  // The name given to load(), or "UTC" / the POSIX string.
  const std::string& name() const { return name_; }
  bool isUtc() const { return is_utc_; }

  struct Rule;  // a POSIX TZ rule; an implementation detail of time_zone.cpp

 private:
  std::string name_ = "UTC";
  bool is_utc_ = true;
  std::vector<int64_t> transitions_;  // UTC seconds, ascending
  std::vector<uint8_t> indices_;      // local-time type index per transition
  std::vector<int32_t> offsets_;      // UTC offset per local-time type
  int32_t initial_offset_ = 0;        // before the first transition
  std::shared_ptr<const Rule> footer_;  // after the last transition; may be null
};

// Writes `t` as RFC 3339 with milliseconds in `zone`:
// "2026-03-29T03:00:00.000+02:00"; UTC zones end in "Z". Any thread.
std::string formatTimestamp(std::chrono::system_clock::time_point t, const TimeZone& zone);

// Parses an RFC 3339 timestamp with "Z" or a ±HH:MM offset, any number of
// fraction digits (kept to microseconds), 'T' or 't' or ' ' as separator.
// Also accepts a bare date "YYYY-MM-DD" (midnight UTC) for CLI convenience.
// Fails with EINVAL on anything else or an impossible date/time. Any thread.
common::Result<std::chrono::system_clock::time_point> parseTimestamp(std::string_view text);

}  // namespace mamori::logs
