#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader.h"

namespace mamori::config {
namespace {

LoadOptions noFileChecks() {
  LoadOptions options;
  options.check_file = nullptr;
  return options;
}

TEST(QuickStart, BuildsOneDefaultSiteForAnyHost) {
  QuickStart quick;
  quick.listen = "0.0.0.0:8080";
  quick.upstream = "127.0.0.1:3000";
  auto result = quickStartConfig(quick, noFileChecks());
  ASSERT_TRUE(result.ok()) << result.error().message;
  const Config& c = result.value();
  EXPECT_EQ(c.workers, 0u);
  EXPECT_EQ(c.metrics.listen.toString(), "127.0.0.1:9464");
  EXPECT_TRUE(c.shield.interfaces.empty());
  ASSERT_EQ(c.tenants.size(), 1u);
  EXPECT_EQ(c.tenants[0].id, "default");
  ASSERT_EQ(c.tenants[0].sites.size(), 1u);
  const Site& site = c.tenants[0].sites[0];
  EXPECT_EQ(site.name, "default");
  EXPECT_EQ(site.hosts, (std::vector<std::string>{"*"}));
  ASSERT_EQ(site.listeners.size(), 1u);
  EXPECT_EQ(site.listeners[0].address.toString(), "0.0.0.0:8080");
  EXPECT_FALSE(site.listeners[0].tls);
  EXPECT_TRUE(site.certificates.empty());
  ASSERT_EQ(site.upstreams.size(), 1u);
  EXPECT_EQ(site.upstreams[0].address.toString(), "127.0.0.1:3000");
  EXPECT_EQ(site.mode, SiteMode::Block);
  EXPECT_EQ(site.limits.max_headers, 100u);
}

TEST(QuickStart, TlsXdpWorkersAndMetrics) {
  QuickStart quick;
  quick.listen = "[::]:443";
  quick.upstream = "app.internal:8080";
  quick.tls_cert = "/etc/ssl/web.pem";
  quick.tls_key = "/etc/ssl/web.key";
  quick.xdp_interfaces = {"eth0"};
  quick.workers = 2;
  quick.metrics_listen = "[::1]:9100";
  std::vector<std::string> checked;
  LoadOptions options;
  options.check_file = [&](const std::string& path) -> std::string {
    checked.push_back(path);
    return "";
  };
  auto result = quickStartConfig(quick, options);
  ASSERT_TRUE(result.ok()) << result.error().message;
  const Config& c = result.value();
  EXPECT_EQ(c.workers, 2u);
  EXPECT_EQ(c.metrics.listen.toString(), "[::1]:9100");
  EXPECT_EQ(c.shield.interfaces, (std::vector<std::string>{"eth0"}));
  const Site& site = c.tenants[0].sites[0];
  EXPECT_TRUE(site.listeners[0].tls);
  ASSERT_EQ(site.certificates.size(), 1u);
  EXPECT_EQ(site.certificates[0].cert, "/etc/ssl/web.pem");
  EXPECT_EQ(site.certificates[0].key, "/etc/ssl/web.key");
  EXPECT_EQ(site.upstreams[0].address.host, "app.internal");
  EXPECT_EQ(checked, (std::vector<std::string>{"/etc/ssl/web.pem", "/etc/ssl/web.key"}));
}

TEST(QuickStart, ReportsEveryBadFlagByField) {
  QuickStart quick;
  quick.listen = "localhost:80";
  quick.upstream = "127.0.0.1";
  quick.tls_cert = "/etc/ssl/web.pem";
  quick.xdp_interfaces = {"eth0", "eth0"};
  quick.workers = 5000;
  auto result = quickStartConfig(quick, noFileChecks());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message,
            "workers: out of range: 5000 (allowed 0..1024)\n"
            "xdp_interfaces: duplicate interface 'eth0'\n"
            "listen: invalid address 'localhost:80': expected an IP address, not a host name "
            "(names are not resolved here)\n"
            "tls_key: TLS needs both a certificate and a key\n"
            "upstream: invalid address '127.0.0.1': missing port (expected host:port)");
}

TEST(QuickStart, ChecksCertificateFilesForReal) {
  QuickStart quick;
  quick.listen = "127.0.0.1:8443";
  quick.upstream = "127.0.0.1:8080";
  quick.tls_cert = "/nonexistent/mamori/web.pem";
  quick.tls_key = "/nonexistent/mamori/web.key";
  auto result = quickStartConfig(quick);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message,
            "tls_cert: cannot read '/nonexistent/mamori/web.pem': No such file or directory\n"
            "tls_key: cannot read '/nonexistent/mamori/web.key': No such file or directory");
}

}  // namespace
}  // namespace mamori::config
