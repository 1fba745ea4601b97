#include "logs/time_zone.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <optional>
#include <string>

#include "test_util.h"

namespace mamori::logs {
namespace {

using testing::at;
namespace chr = std::chrono;

TimeZone mustLoad(const char* name) {
  auto z = TimeZone::load(name);
  EXPECT_TRUE(z.ok()) << name << ": " << (z.ok() ? "" : z.error().message);
  return z.ok() ? *z : TimeZone();
}

// Sets TZ for the scope and restores it (the tests run single-threaded).
class ScopedTz {
 public:
  explicit ScopedTz(const char* value) {
    const char* old = ::getenv("TZ");
    if (old != nullptr) old_ = old;
    if (value != nullptr) ::setenv("TZ", value, 1);
    else ::unsetenv("TZ");
    ::tzset();
  }
  ~ScopedTz() {
    if (old_) ::setenv("TZ", old_->c_str(), 1);
    else ::unsetenv("TZ");
    ::tzset();
  }

 private:
  std::optional<std::string> old_;
};

TEST(TimeZone, UtcWritesZ) {
  auto z = mustLoad("UTC");
  EXPECT_TRUE(z.isUtc());
  EXPECT_EQ(formatTimestamp(at("2026-11-28T23:59:59.999Z"), z), "2026-11-28T23:59:59.999Z");
  EXPECT_EQ(formatTimestamp(at("1999-12-31T00:00:00.5Z"), z), "1999-12-31T00:00:00.500Z");
}

TEST(TimeZone, FixedIanaZone) {
  auto z = mustLoad("Asia/Tokyo");
  EXPECT_FALSE(z.isUtc());
  EXPECT_EQ(formatTimestamp(at("2026-11-28T15:00:00Z"), z), "2026-11-29T00:00:00.000+09:00");
  EXPECT_EQ(z.localDate(at("2026-11-28T14:59:59Z")), chr::year(2026) / 11 / 28);
  EXPECT_EQ(z.localDate(at("2026-11-28T15:00:00Z")), chr::year(2026) / 11 / 29);
}

TEST(TimeZone, BerlinAroundSpringForward) {
  auto z = mustLoad("Europe/Berlin");
  // 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
  EXPECT_EQ(formatTimestamp(at("2026-03-29T00:59:59.999Z"), z), "2026-03-29T01:59:59.999+01:00");
  EXPECT_EQ(formatTimestamp(at("2026-03-29T01:00:00Z"), z), "2026-03-29T03:00:00.000+02:00");
}

TEST(TimeZone, BerlinAroundFallBack) {
  auto z = mustLoad("Europe/Berlin");
  // 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC; 02:xx happens twice.
  EXPECT_EQ(formatTimestamp(at("2026-10-25T00:30:00Z"), z), "2026-10-25T02:30:00.000+02:00");
  EXPECT_EQ(formatTimestamp(at("2026-10-25T01:30:00Z"), z), "2026-10-25T02:30:00.000+01:00");
  // Both map back to distinct instants because the offset is written.
  EXPECT_NE(at("2026-10-25T02:30:00+02:00"), at("2026-10-25T02:30:00+01:00"));
}

TEST(TimeZone, BerlinBeyondTheTableUsesTheFooterRule) {
  auto z = mustLoad("Europe/Berlin");
  // Last Sunday of March 2100 is the 28th.
  EXPECT_EQ(formatTimestamp(at("2100-03-28T00:59:59Z"), z), "2100-03-28T01:59:59.000+01:00");
  EXPECT_EQ(formatTimestamp(at("2100-03-28T01:00:00Z"), z), "2100-03-28T03:00:00.000+02:00");
}

// Cross-checks offsets against glibc's own reading of the same tzdata, every
// 6 hours (plus the exact moments around each transition the table holds).
void expectMatchesGlibc(const char* zone_name, int from_year, int to_year) {
  auto z = mustLoad(zone_name);
  ScopedTz tz(zone_name);
  auto from = chr::sys_seconds(chr::sys_days(chr::year(from_year) / 1 / 1));
  auto to = chr::sys_seconds(chr::sys_days(chr::year(to_year) / 1 / 1));
  int mismatches = 0;
  for (auto t = from; t < to; t += chr::hours(6)) {
    time_t tt = static_cast<time_t>(t.time_since_epoch().count());
    struct tm tm {};
    ASSERT_NE(::localtime_r(&tt, &tm), nullptr);
    if (z.offsetAt(t).count() != tm.tm_gmtoff && ++mismatches < 5) {
      ADD_FAILURE() << zone_name << " at " << tt << ": ours " << z.offsetAt(t).count() << " glibc "
                    << tm.tm_gmtoff;
    }
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(TimeZone, MatchesGlibcForSeveralZones) {
  expectMatchesGlibc("Europe/Berlin", 1990, 2060);
  expectMatchesGlibc("America/New_York", 1990, 2060);
  expectMatchesGlibc("Australia/Sydney", 1990, 2060);  // southern hemisphere: DST spans new year
  expectMatchesGlibc("Asia/Tokyo", 1990, 2010);
  expectMatchesGlibc("America/Sao_Paulo", 2010, 2030);  // DST abolished in 2019
}

TEST(TimeZone, LocalFollowsTzVariable) {
  {
    ScopedTz tz(":Asia/Tokyo");
    auto z = mustLoad("local");
    EXPECT_EQ(z.offsetAt(chr::sys_seconds{}), chr::hours(9));
  }
  {
    ScopedTz tz("EST5EDT,M3.2.0,M11.1.0");
    auto z = mustLoad("local");
    EXPECT_EQ(formatTimestamp(at("2026-07-01T12:00:00Z"), z), "2026-07-01T08:00:00.000-04:00");
    EXPECT_EQ(formatTimestamp(at("2026-01-01T12:00:00Z"), z), "2026-01-01T07:00:00.000-05:00");
  }
}

TEST(TimeZone, LocalWithoutTzMatchesTheHost) {
  ScopedTz tz(nullptr);
  auto z = mustLoad("local");
  time_t now = ::time(nullptr);
  struct tm tm {};
  ::localtime_r(&now, &tm);
  EXPECT_EQ(z.offsetAt(chr::sys_seconds(chr::seconds(now))).count(), tm.tm_gmtoff);
}

TEST(TimeZone, PosixRulesSouthernHemisphereAndQuotedNames) {
  auto sydney = TimeZone::fromPosix("AEST-10AEDT,M10.1.0,M4.1.0/3");
  ASSERT_TRUE(sydney.ok());
  EXPECT_EQ(sydney->offsetAt(chr::floor<chr::seconds>(at("2026-01-15T00:00:00Z"))), chr::hours(11));
  EXPECT_EQ(sydney->offsetAt(chr::floor<chr::seconds>(at("2026-07-15T00:00:00Z"))), chr::hours(10));
  auto minus3 = TimeZone::fromPosix("<-03>3");
  ASSERT_TRUE(minus3.ok());
  EXPECT_EQ(formatTimestamp(at("2026-01-01T00:00:00Z"), *minus3), "2025-12-31T21:00:00.000-03:00");
  auto india = TimeZone::fromPosix("IST-5:30");
  ASSERT_TRUE(india.ok());
  EXPECT_EQ(formatTimestamp(at("2026-01-01T00:00:00Z"), *india), "2026-01-01T05:30:00.000+05:30");
}

TEST(TimeZone, RejectsBadNamesAndData) {
  auto traversal = TimeZone::load("../../etc/passwd");
  ASSERT_FALSE(traversal.ok());
  EXPECT_EQ(traversal.error().code, EINVAL);
  EXPECT_FALSE(TimeZone::load("/etc/localtime").ok());
  auto unknown = TimeZone::load("Mars/Olympus_Mons");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ENOENT);
  EXPECT_FALSE(TimeZone::load("").ok());
  EXPECT_FALSE(TimeZone::fromTzif("not a tzif file at all, not even close........", "x").ok());
  std::string berlin = testing::readFile("/usr/share/zoneinfo/Europe/Berlin");
  ASSERT_GT(berlin.size(), 100u);
  EXPECT_TRUE(TimeZone::fromTzif(berlin, "Berlin").ok());
  for (size_t cut : {size_t{10}, size_t{44}, size_t{60}, berlin.size() / 2}) {
    EXPECT_FALSE(TimeZone::fromTzif(berlin.substr(0, cut), "Berlin").ok()) << cut;
  }
  EXPECT_FALSE(TimeZone::fromPosix("").ok());
  EXPECT_FALSE(TimeZone::fromPosix("CET-1CEST,M13.5.0,M10.5.0").ok());
  EXPECT_FALSE(TimeZone::fromPosix("X1").ok());
}

TEST(Timestamp, ParsesRfc3339) {
  auto t = parseTimestamp("2026-03-29T03:00:00.123456+02:00");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, at("2026-03-29T01:00:00.123456Z"));
  EXPECT_EQ(*parseTimestamp("2026-03-29"), at("2026-03-29T00:00:00Z"));
  EXPECT_EQ(*parseTimestamp("2026-03-29 00:00:00z"), at("2026-03-29T00:00:00Z"));
  EXPECT_EQ(*parseTimestamp("2026-03-29T00:00:00-00:30"), at("2026-03-29T00:30:00Z"));
}

TEST(Timestamp, RejectsMalformed) {
  for (const char* bad : {"", "2026", "2026-02-30", "2026-13-01", "2026-01-01T24:00:00Z",
                          "2026-01-01T00:00:00", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00+0100",
                          "2026-01-01T00:00:00Zjunk", "2026-1-01"}) {
    EXPECT_FALSE(parseTimestamp(bad).ok()) << bad;
  }
}

TEST(Timestamp, FormatThenParseRoundTrips) {
  auto z = mustLoad("Europe/Berlin");
  auto t = at("2026-10-25T01:30:00.250Z");
  EXPECT_EQ(*parseTimestamp(formatTimestamp(t, z)), t);
}

}  // namespace
}  // namespace mamori::logs
