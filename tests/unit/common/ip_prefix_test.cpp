#include "common/ip_prefix.h"

#include <gtest/gtest.h>

#include <string>

namespace mamori::common {
namespace {

std::string errorOf(const Result<IpPrefix>& r) { return r.ok() ? "<ok>" : r.error().message; }
IpPrefix p(const char* text) { return parseIpPrefix(text).value(); }

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

TEST(IpPrefix, NetworkClearsTheHostBits) {
  EXPECT_EQ(parseIpPrefix("2001:db8:1:2:aaaa::1").value().network(64).toString(), "2001:db8:1:2::/64");
  EXPECT_EQ(parseIpPrefix("192.0.2.77").value().network(24).toString(), "192.0.2.0/24");
  EXPECT_EQ(parseIpPrefix("192.0.2.77").value().network(31).toString(), "192.0.2.76/31");
  // Never longer than the prefix itself.
  EXPECT_EQ(parseIpPrefix("10.0.0.0/8").value().network(24).toString(), "10.0.0.0/8");
  EXPECT_EQ(parseIpPrefix("10.1.2.3").value().network(32), parseIpPrefix("10.1.2.3").value());
}

TEST(ParseIpPrefix, RejectsGarbage) {
  for (const char* bad : {"", "300.1.1.1", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x",
                          "fe80::1%eth0", "1.2.3", "example.com", "10.0.0.0/8/8"}) {
    EXPECT_FALSE(parseIpPrefix(bad).ok()) << bad;
  }
}

TEST(ParseIpPrefix, ToStringReadsBack) {
  for (const char* text :
       {"192.0.2.7", "10.0.0.0/8", "0.0.0.0/0", "2001:db8::/32", "::/0", "2001:db8:bad::1"}) {
    EXPECT_EQ(p(text).toString(), text);
    EXPECT_EQ(p(p(text).toString().c_str()), p(text));
  }
}

TEST(ParseIpPrefix, ExplainsBadPrefixLengths) {
  EXPECT_EQ(errorOf(parseIpPrefix("10.0.0.0/33")), "prefix length 33 is over 32 in '10.0.0.0/33'");
  EXPECT_EQ(errorOf(parseIpPrefix("::/129")), "prefix length 129 is over 128 in '::/129'");
  EXPECT_EQ(errorOf(parseIpPrefix("10.0.0.0/")),
            "missing prefix length in '10.0.0.0/' (e.g. 10.0.0.0/8)");
  EXPECT_EQ(errorOf(parseIpPrefix("10.0.0.0/-1")), "invalid prefix length in '10.0.0.0/-1'");
  EXPECT_FALSE(parseIpPrefix("10.0.0.0/+8").ok());
  EXPECT_FALSE(parseIpPrefix("10.0.0.0/0008").ok());
  EXPECT_FALSE(parseIpPrefix("10.0.0.0/ 8").ok());
  EXPECT_FALSE(parseIpPrefix("/8").ok());
}

TEST(ParseIpPrefix, ExplainsBadAddresses) {
  EXPECT_EQ(errorOf(parseIpPrefix("256.1.1.1/8")), "invalid IPv4 address '256.1.1.1'");
  EXPECT_EQ(errorOf(parseIpPrefix("2001:db8:::1")), "invalid IPv6 address '2001:db8:::1'");
  EXPECT_EQ(errorOf(parseIpPrefix("fe80::%eth0/64")),
            "IPv6 zone ids are not supported: 'fe80::%eth0' (remove the '%zone' part)");
  EXPECT_EQ(errorOf(parseIpPrefix("[::1]")),
            "invalid address '[::1]' (write IPv6 without brackets here)");
  EXPECT_FALSE(parseIpPrefix("01.2.3.4").ok());  // leading zero: octal to inet_aton
  EXPECT_FALSE(parseIpPrefix(" 1.2.3.4").ok());
}

TEST(IpPrefix, ContainsChecksFamilyAndPrefix) {
  const IpPrefix net = p("10.0.0.0/9");
  EXPECT_TRUE(net.contains(p("10.127.255.255")));
  EXPECT_TRUE(net.contains(p("10.64.0.0/10")));
  EXPECT_TRUE(net.contains(net));
  EXPECT_FALSE(net.contains(p("10.128.0.0")));
  EXPECT_FALSE(net.contains(p("10.0.0.0/8")));  // wider than the prefix
  EXPECT_FALSE(net.contains(p("::a00:1")));     // other family
  EXPECT_FALSE(p("0.0.0.0/0").contains(p("::ffff:10.0.0.1")));
  EXPECT_TRUE(p("::/0").contains(p("2001:db8::1")));
  EXPECT_TRUE(p("2001:db8:1:2::/64").contains(p("2001:db8:1:2:ffff::1")));
  EXPECT_FALSE(p("2001:db8:1:2::/64").contains(p("2001:db8:1:3::1")));
  EXPECT_TRUE(p("192.0.2.7").contains(p("192.0.2.7")));
}

}  // namespace
}  // namespace mamori::common
