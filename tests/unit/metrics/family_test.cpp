#include "metrics/family.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace mamori::metrics {
namespace {

const Family* find(const std::vector<Family>& fs, const std::string& name) {
  for (const auto& f : fs)
    if (f.name == name) return &f;
  return nullptr;
}

const Sample* series(const Family& f, const std::string& label, const std::string& value) {
  for (const auto& s : f.samples)
    if (s.label(label) == value) return &s;
  return nullptr;
}

TEST(Registry, CollectsEveryCollectorInOrder) {
  Registry r;
  ASSERT_TRUE(r.add("a", [](std::vector<Family>& out) -> common::Status {
                 out.push_back(gauge("mamori_a", "a").add(1));
                 return {};
               }).ok());
  ASSERT_TRUE(r.add("b", [](std::vector<Family>& out) -> common::Status {
                 out.push_back(gauge("mamori_b", "b").add(2));
                 return {};
               }).ok());
  auto fs = r.collect();
  ASSERT_GE(fs.size(), 2u);
  EXPECT_EQ(fs[0].name, "mamori_a");
  EXPECT_EQ(fs[1].name, "mamori_b");
  EXPECT_DOUBLE_EQ(fs[1].samples[0].value, 2);
}

TEST(Registry, RefusesDuplicateAndEmptyCollectors) {
  Registry r;
  auto ok = [](std::vector<Family>&) -> common::Status { return {}; };
  ASSERT_TRUE(r.add("x", ok).ok());
  auto dup = r.add("x", ok);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, EEXIST);
  EXPECT_FALSE(r.add("", ok).ok());
  EXPECT_FALSE(r.add("y", Collector{}).ok());
}

TEST(Registry, FailingCollectorIsCountedAndOthersStillServed) {
  Registry r;
  bool fail = true;
  ASSERT_TRUE(r.add("flaky", [&](std::vector<Family>&) -> common::Status {
                 if (fail) return common::Error{ENOENT, "pins gone"};
                 return {};
               }).ok());
  ASSERT_TRUE(r.add("good", [](std::vector<Family>& out) -> common::Status {
                 out.push_back(gauge("mamori_good", "g").add(1));
                 return {};
               }).ok());
  r.collect();
  auto fs = r.collect();
  EXPECT_NE(find(fs, "mamori_good"), nullptr);
  const Family* up = find(fs, "mamori_metrics_collector_up");
  ASSERT_NE(up, nullptr);
  EXPECT_DOUBLE_EQ(series(*up, "collector", "flaky")->value, 0);
  EXPECT_DOUBLE_EQ(series(*up, "collector", "good")->value, 1);
  const Family* errors = find(fs, "mamori_metrics_collector_errors_total");
  ASSERT_NE(errors, nullptr);
  EXPECT_DOUBLE_EQ(series(*errors, "collector", "flaky")->value, 2);
  EXPECT_DOUBLE_EQ(series(*errors, "collector", "good")->value, 0);
  EXPECT_EQ(r.lastError("flaky"), "pins gone");

  fail = false;
  fs = r.collect();
  EXPECT_DOUBLE_EQ(series(*find(fs, "mamori_metrics_collector_up"), "collector", "flaky")->value,
                   1);
}

TEST(Registry, ServesBuildInfo) {
  Registry r;
  auto fs = r.collect();
  const Family* info = find(fs, "mamori_build_info");
  ASSERT_NE(info, nullptr);
  ASSERT_EQ(info->samples.size(), 1u);
  EXPECT_FALSE(info->samples[0].label("version").empty());
  EXPECT_DOUBLE_EQ(info->samples[0].value, 1);
}

TEST(Sample, LabelOfMissingNameIsEmpty) {
  Sample s;
  s.labels = {{"a", "1"}};
  EXPECT_EQ(s.label("a"), "1");
  EXPECT_EQ(s.label("b"), "");
}

}  // namespace
}  // namespace mamori::metrics
