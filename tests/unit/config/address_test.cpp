#include "config/address.h"

#include <gtest/gtest.h>

#include <string>

namespace mamori::config {
namespace {

std::string errorOf(const Result<Endpoint>& r) { return r.ok() ? "<ok>" : r.error().message; }
std::string errorOf(const Result<IpAddress>& r) { return r.ok() ? "<ok>" : r.error().message; }
std::string errorOf(const Result<std::string>& r) { return r.ok() ? "<ok>" : r.error().message; }

TEST(ParseIpAddress, AcceptsIpv4AndIpv6) {
  auto v4 = parseIpAddress("192.0.2.1");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->family, AddressFamily::Ipv4);
  EXPECT_EQ(v4->bytes[0], 192);
  EXPECT_EQ(v4->bytes[3], 1);
  EXPECT_EQ(v4->bytes[4], 0);
  EXPECT_EQ(v4->toString(), "192.0.2.1");

  auto v6 = parseIpAddress("2001:DB8:0:0::1");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->family, AddressFamily::Ipv6);
  EXPECT_EQ(v6->toString(), "2001:db8::1");
  EXPECT_EQ(parseIpAddress("::ffff:192.0.2.1")->family, AddressFamily::Ipv6);
}

TEST(ParseIpAddress, RejectsBadOctets) {
  EXPECT_EQ(errorOf(parseIpAddress("256.1.1.1")), "invalid IPv4 address '256.1.1.1'");
  EXPECT_FALSE(parseIpAddress("1.2.3").ok());
  EXPECT_FALSE(parseIpAddress("1.2.3.4.5").ok());
  EXPECT_FALSE(parseIpAddress("01.2.3.4").ok());  // leading zero: octal to inet_aton
  EXPECT_FALSE(parseIpAddress(" 1.2.3.4").ok());
  EXPECT_FALSE(parseIpAddress("1.2.3.-4").ok());
  EXPECT_EQ(errorOf(parseIpAddress("")), "empty address");
  EXPECT_EQ(errorOf(parseIpAddress("2001:db8:::1")), "invalid IPv6 address '2001:db8:::1'");
}

TEST(ParseIpAddress, RejectsZonesAndBrackets) {
  EXPECT_EQ(errorOf(parseIpAddress("fe80::1%eth0")),
            "IPv6 zone ids are not supported: 'fe80::1%eth0' (remove the '%zone' part)");
  EXPECT_EQ(errorOf(parseIpAddress("[::1]")),
            "invalid address '[::1]' (write IPv6 without brackets here)");
}

// CIDR parsing is common::parseIpPrefix, tested in tests/unit/common/ip_prefix_test.cpp.
TEST(ParseIpAddress, RefusesAPrefixLength) {
  EXPECT_EQ(errorOf(parseIpAddress("10.0.0.1/32")),
            "invalid address '10.0.0.1/32' (no prefix length here)");
}

TEST(ParseEndpoint, AcceptsIpv4Ipv6AndNames) {
  auto v4 = parseEndpoint("192.0.2.1:80", HostKind::IpOnly);
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "192.0.2.1");
  EXPECT_EQ(v4->port, 80);
  EXPECT_TRUE(v4->isIp());
  EXPECT_EQ(v4->toString(), "192.0.2.1:80");

  auto v6 = parseEndpoint("[::1]:443", HostKind::IpOnly);
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->ip->family, AddressFamily::Ipv6);
  EXPECT_EQ(v6->toString(), "[::1]:443");

  auto name = parseEndpoint("App.Internal:65535", HostKind::IpOrName);
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->host, "app.internal");
  EXPECT_FALSE(name->isIp());
  EXPECT_EQ(name->port, 65535);
}

TEST(ParseEndpoint, RejectsPortsOutOfRange) {
  EXPECT_EQ(errorOf(parseEndpoint("1.2.3.4:0", HostKind::IpOnly)),
            "invalid address '1.2.3.4:0': port 0 out of range (expected 1..65535)");
  EXPECT_EQ(errorOf(parseEndpoint("1.2.3.4:65536", HostKind::IpOnly)),
            "invalid address '1.2.3.4:65536': port 65536 out of range (expected 1..65535)");
  EXPECT_EQ(errorOf(parseEndpoint("1.2.3.4:", HostKind::IpOnly)),
            "invalid address '1.2.3.4:': missing port");
  EXPECT_EQ(errorOf(parseEndpoint("1.2.3.4:http", HostKind::IpOnly)),
            "invalid address '1.2.3.4:http': invalid port 'http' (expected 1..65535)");
  EXPECT_FALSE(parseEndpoint("1.2.3.4:+80", HostKind::IpOnly).ok());
  EXPECT_FALSE(parseEndpoint("1.2.3.4:000080", HostKind::IpOnly).ok());
  EXPECT_FALSE(parseEndpoint("1.2.3.4:99999999999", HostKind::IpOnly).ok());
}

TEST(ParseEndpoint, RequiresBracketsForIpv6) {
  EXPECT_EQ(errorOf(parseEndpoint("::1:443", HostKind::IpOnly)),
            "invalid address '::1:443': IPv6 addresses need brackets (e.g. [::1]:443)");
  EXPECT_EQ(errorOf(parseEndpoint("[::1:443", HostKind::IpOnly)),
            "invalid address '[::1:443': missing ']'");
  EXPECT_EQ(errorOf(parseEndpoint("[::1]", HostKind::IpOnly)),
            "invalid address '[::1]': missing port (e.g. [::1]:443)");
  EXPECT_EQ(errorOf(parseEndpoint("[::1]443", HostKind::IpOnly)),
            "invalid address '[::1]443': expected ':' after ']'");
  EXPECT_EQ(errorOf(parseEndpoint("[1.2.3.4]:80", HostKind::IpOnly)),
            "invalid address '[1.2.3.4]:80': only IPv6 addresses go in brackets");
}

TEST(ParseEndpoint, RefusesIpv6Zones) {
  EXPECT_EQ(errorOf(parseEndpoint("[fe80::1%eth0]:443", HostKind::IpOnly)),
            "invalid address '[fe80::1%eth0]:443': IPv6 zone ids are not supported: "
            "'fe80::1%eth0' (remove the '%zone' part)");
}

TEST(ParseEndpoint, RejectsMissingPartsAndBadHosts) {
  EXPECT_EQ(errorOf(parseEndpoint("", HostKind::IpOnly)), "empty address (expected host:port)");
  EXPECT_EQ(errorOf(parseEndpoint("1.2.3.4", HostKind::IpOnly)),
            "invalid address '1.2.3.4': missing port (expected host:port)");
  EXPECT_EQ(errorOf(parseEndpoint(":80", HostKind::IpOnly)), "invalid address ':80': missing host");
  EXPECT_EQ(errorOf(parseEndpoint("300.1.1.1:80", HostKind::IpOrName)),
            "invalid address '300.1.1.1:80': invalid IPv4 address '300.1.1.1'");
  EXPECT_EQ(errorOf(parseEndpoint("localhost:80", HostKind::IpOnly)),
            "invalid address 'localhost:80': expected an IP address, not a host name "
            "(names are not resolved here)");
  EXPECT_FALSE(parseEndpoint("bad_name:80", HostKind::IpOrName).ok());
  EXPECT_FALSE(parseEndpoint("-bad.example:80", HostKind::IpOrName).ok());
}

TEST(ParseHostName, ValidatesLabels) {
  EXPECT_EQ(parseHostName("WWW.Example.COM").value(), "www.example.com");
  EXPECT_EQ(parseHostName("a-b.c1").value(), "a-b.c1");
  EXPECT_EQ(errorOf(parseHostName("example.com.")),
            "invalid host name 'example.com.' (remove the trailing dot)");
  EXPECT_EQ(errorOf(parseHostName("a..b")), "invalid host name 'a..b' (labels are 1..63 characters)");
  EXPECT_EQ(errorOf(parseHostName("a-.b")),
            "invalid host name 'a-.b' (a label cannot start or end with '-')");
  EXPECT_EQ(errorOf(parseHostName("a b")),
            "invalid host name 'a b' (use letters, digits, '-' and '.')");
  EXPECT_EQ(errorOf(parseHostName("1.2.3")), "invalid host name '1.2.3'");
  EXPECT_FALSE(parseHostName(std::string(64, 'a')).ok());
  EXPECT_TRUE(parseHostName(std::string(63, 'a')).ok());
  std::string long_name;
  for (int i = 0; i < 64; ++i) long_name += "abc.";
  long_name += "com";
  EXPECT_EQ(errorOf(parseHostName(long_name)), "host name longer than 253 characters");
}

TEST(ParseHostPattern, AcceptsWildcardsAndLiterals) {
  EXPECT_EQ(parseHostPattern("*").value(), "*");
  EXPECT_EQ(parseHostPattern("*.Example.com").value(), "*.example.com");
  EXPECT_EQ(parseHostPattern("192.0.2.1").value(), "192.0.2.1");
  EXPECT_EQ(parseHostPattern("[2001:DB8::1]").value(), "[2001:db8::1]");
  EXPECT_EQ(errorOf(parseHostPattern("www.*.com")),
            "invalid host 'www.*.com' (a wildcard is only allowed as a leading '*.' or as '*' "
            "alone)");
  EXPECT_EQ(errorOf(parseHostPattern("example.com:80")),
            "invalid host 'example.com:80' (no port here; write an IPv6 address as "
            "[2001:db8::1])");
  EXPECT_FALSE(parseHostPattern("*.").ok());
  EXPECT_FALSE(parseHostPattern("[1.2.3.4]").ok());
  EXPECT_FALSE(parseHostPattern("1.2.3.256").ok());
}

TEST(ParsePort, AcceptsOnlyDecimal1To65535) {
  EXPECT_EQ(parsePort("1").value(), 1);
  EXPECT_EQ(parsePort("65535").value(), 65535);
  EXPECT_FALSE(parsePort("0").ok());
  EXPECT_FALSE(parsePort("65536").ok());
  EXPECT_FALSE(parsePort("").ok());
  EXPECT_FALSE(parsePort("0x50").ok());
}

}  // namespace
}  // namespace mamori::config
