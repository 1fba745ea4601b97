#include "metrics/lint.h"

#include <gtest/gtest.h>

namespace mamori::metrics {
namespace {

bool mentions(const std::vector<std::string>& problems, const std::string& what) {
  for (const auto& p : problems)
    if (p.find(what) != std::string::npos) return true;
  return false;
}

TEST(Lint, AcceptsWellNamedFamilies) {
  std::vector<Family> fs;
  fs.push_back(counter("mamori_http_verdicts_total", "v")
                   .add(1, {{"verdict", "pass"}})
                   .add(2, {{"verdict", "block"}}));
  fs.push_back(gauge("mamori_process_threads", "t").add(3));
  fs.push_back(histogram("mamori_http_request_duration_seconds", "d").addHistogram({}));
  EXPECT_TRUE(lintFamilies(fs).empty());
}

TEST(Lint, FlagsMissingPrefix) {
  auto p = lintFamilies({gauge("process_threads", "t").add(1)});
  EXPECT_TRUE(mentions(p, "mamori_"));
}

TEST(Lint, FlagsCounterWithoutTotalAndGaugeWithTotal) {
  EXPECT_TRUE(mentions(lintFamilies({counter("mamori_requests", "r").add(1)}), "_total"));
  EXPECT_TRUE(mentions(lintFamilies({gauge("mamori_bans_total", "b").add(1)}), "non-counter"));
}

TEST(Lint, FlagsForbiddenLabels) {
  for (const char* name : {"ip", "path", "user_agent", "source_ip", "url"}) {
    auto p = lintFamilies({counter("mamori_x_total", "x").add(1, {{name, "v"}})});
    EXPECT_TRUE(mentions(p, "unbounded")) << name;
  }
}

TEST(Lint, FlagsBadNamesAndReservedLabels) {
  EXPECT_FALSE(lintFamilies({gauge("mamori_Bad-Name", "x").add(1)}).empty());
  EXPECT_FALSE(lintFamilies({gauge("mamori_x", "x").add(1, {{"le", "1"}})}).empty());
  EXPECT_FALSE(lintFamilies({gauge("mamori_x", "x").add(1, {{"__name__", "1"}})}).empty());
  EXPECT_TRUE(mentions(lintFamilies({gauge("mamori_x", "").add(1)}), "help"));
}

TEST(Lint, FlagsDuplicateFamiliesAndSeries) {
  EXPECT_TRUE(mentions(lintFamilies({gauge("mamori_x", "x"), gauge("mamori_x", "x")}), "twice"));
  auto p = lintFamilies({gauge("mamori_x", "x").add(1, {{"a", "1"}}).add(2, {{"a", "1"}})});
  EXPECT_TRUE(mentions(p, "two series"));
}

TEST(Lint, FlagsSeriesWithDifferentLabelNames) {
  auto p = lintFamilies({gauge("mamori_x", "x").add(1, {{"a", "1"}}).add(2, {{"b", "1"}})});
  EXPECT_TRUE(mentions(p, "differ in label names"));
}

}  // namespace
}  // namespace mamori::metrics
