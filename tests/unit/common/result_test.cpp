#include "common/result.h"

#include <gtest/gtest.h>

#include <string>

namespace mamori::common {
namespace {

Result<int> half(int n) {
  if (n % 2 != 0) return Error{EINVAL, "odd"};
  return n / 2;
}

TEST(Result, CarriesValueOrError) {
  auto good = half(8);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 4);
  auto bad = half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, EINVAL);
  EXPECT_EQ(bad.error().message, "odd");
}

TEST(Result, StatusDefaultsToSuccess) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  Status failed = errnoError("open", ENOENT);
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ENOENT);
  EXPECT_NE(failed.error().message.find("open: "), std::string::npos);
}

}  // namespace
}  // namespace mamori::common
