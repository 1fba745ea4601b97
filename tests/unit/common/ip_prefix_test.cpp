#include "common/ip_prefix.h"

#include <gtest/gtest.h>

namespace mamori::common {
namespace {

TEST(ParseIpPrefix, BareAddressesAreHostPrefixes) {
  auto v4 = parseIpPrefix("192.0.2.7");
  ASSERT_TRUE(v4.ok());
  EXPECT_FALSE(v4->is_v6);
  EXPECT_EQ(v4->prefix_len, 32);
  EXPECT_EQ(v4->toString(), "192.0.2.7");
  auto v6 = parseIpPrefix("2001:db8::1");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->is_v6);
  EXPECT_EQ(v6->prefix_len, 128);
  EXPECT_EQ(v6->toString(), "2001:db8::1");
}

TEST(ParseIpPrefix, ClearsHostBits) {
  EXPECT_EQ(parseIpPrefix("10.1.2.3/8")->toString(), "10.0.0.0/8");
  EXPECT_EQ(parseIpPrefix("2001:db8:1:2:3::9/64")->toString(), "2001:db8:1:2::/64");
  EXPECT_EQ(parseIpPrefix("192.168.7.255/23")->toString(), "192.168.6.0/23");
}

TEST(ParseIpPrefix, RejectsGarbage) {
  for (const char* bad : {"", "300.1.1.1", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x",
                          "fe80::1%eth0", "1.2.3", "example.com", "10.0.0.0/8/8"}) {
    EXPECT_FALSE(parseIpPrefix(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace mamori::common
