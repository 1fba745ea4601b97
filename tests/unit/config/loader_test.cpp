#include "config/loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace mamori::config {
namespace {

using namespace std::chrono_literals;

const std::string kTestdata = MAMORI_CONFIG_TESTDATA;

LoadOptions noFileChecks() {
  LoadOptions options;
  options.check_file = nullptr;
  return options;
}

// Loads `yaml` as "t.yaml" without touching the filesystem and returns the
// error text, or "<ok>".
std::string errorsOf(const std::string& yaml) {
  auto result = loadConfigString(yaml, "t.yaml", noFileChecks());
  return result.ok() ? "<ok>" : result.error().message;
}

// A valid one-site config; tests splice a few lines into it.
std::string siteYaml(const std::string& site_extra, const std::string& top_extra = "") {
  return top_extra +
         "tenants:\n"
         "  - id: acme\n"
         "    sites:\n"
         "      - name: web\n"
         "        hosts: [www.example.com]\n"
         "        listeners:\n"
         "          - address: 127.0.0.1:8080\n"
         "        upstreams:\n"
         "          - address: 127.0.0.1:9000\n" +
         site_extra;
}

TEST(LoadConfig, FullExampleSetsEveryField) {
  LoadOptions options = noFileChecks();
  options.base_dir = "/etc/mamori";
  auto result = loadConfigFile(kTestdata + "/full.yaml", options);
  ASSERT_TRUE(result.ok()) << result.error().message;
  const Config& c = result.value();
  EXPECT_EQ(c.workers, 4u);
  EXPECT_EQ(c.metrics.listen.toString(), "[::1]:9500");
  EXPECT_EQ(c.control.socket, "/run/mamori-test/control.sock");
  EXPECT_EQ(c.logs.dir, "/srv/logs/mamori");
  EXPECT_EQ(c.logs.timezone, "Asia/Tokyo");

  const ShieldConfig& s = c.shield;
  EXPECT_EQ(s.interfaces, (std::vector<std::string>{"eth0", "eth1"}));
  EXPECT_EQ(s.attach_mode, AttachMode::Generic);
  ASSERT_EQ(s.allow.size(), 3u);
  EXPECT_EQ(s.allow[0].toString(), "192.0.2.10");  // a host prints without /32
  EXPECT_EQ(s.allow[1].toString(), "10.0.0.0/8");
  EXPECT_EQ(s.allow[2].toString(), "2001:db8::/32");
  ASSERT_EQ(s.deny.size(), 2u);
  EXPECT_EQ(s.deny[0].toString(), "198.51.100.0/24");
  EXPECT_EQ(s.deny[1].toString(), "2001:db8:bad::1");
  EXPECT_EQ(s.rates.syn, (RateLimit{100, 200}));
  EXPECT_EQ(s.rates.udp, (RateLimit{1000, 1000}));  // burst defaults to one second
  EXPECT_FALSE(s.rates.icmp.enabled());
  EXPECT_EQ(s.rates.all, (RateLimit{50000, 100000}));
  EXPECT_EQ(s.ports.tcp, (std::vector<uint16_t>{80, 443}));
  EXPECT_EQ(s.ports.udp, (std::vector<uint16_t>{53}));
  EXPECT_TRUE(s.scanner_syn);
  EXPECT_EQ(s.malformed, MalformedAction::Drop);
  EXPECT_TRUE(s.ban_ipv6_prefix64);
  EXPECT_EQ(s.max_sources, 2048u);

  ASSERT_EQ(c.tenants.size(), 2u);
  const Tenant& acme = c.tenants[0];
  EXPECT_EQ(acme.id, "acme");
  EXPECT_EQ(acme.labels.at("plan"), "gold");
  EXPECT_EQ(acme.labels.at("region"), "ap-northeast-1");
  ASSERT_TRUE(acme.removed_at.has_value());
  EXPECT_EQ(*acme.removed_at, std::chrono::sys_days(std::chrono::year(2025) / 3 / 1));

  ASSERT_EQ(acme.sites.size(), 1u);
  const Site& shop = acme.sites[0];
  EXPECT_EQ(shop.name, "shop");
  EXPECT_EQ(shop.hosts, (std::vector<std::string>{"shop.example.com", "*.shop.example.com"}));
  ASSERT_EQ(shop.listeners.size(), 2u);
  EXPECT_EQ(shop.listeners[0].address.toString(), "0.0.0.0:443");
  EXPECT_TRUE(shop.listeners[0].tls);
  EXPECT_EQ(shop.listeners[1].address.toString(), "[::]:80");
  EXPECT_FALSE(shop.listeners[1].tls);
  ASSERT_EQ(shop.certificates.size(), 1u);
  EXPECT_EQ(shop.certificates[0].hosts, (std::vector<std::string>{"shop.example.com"}));
  EXPECT_EQ(shop.certificates[0].cert, "/etc/mamori/certs/shop.pem");  // resolved
  EXPECT_EQ(shop.certificates[0].key, "/etc/mamori/shop.key");
  ASSERT_EQ(shop.upstreams.size(), 2u);
  EXPECT_EQ(shop.upstreams[0].address.toString(), "10.0.0.5:8080");
  EXPECT_EQ(shop.upstreams[0].weight, 3u);
  EXPECT_EQ(shop.upstreams[1].address.host, "app.internal");
  EXPECT_EQ(shop.upstreams[1].weight, 1u);
  EXPECT_EQ(shop.mode, SiteMode::Detect);
  ASSERT_EQ(shop.trusted_proxies.size(), 2u);
  EXPECT_EQ(shop.trusted_proxies[1].toString(), "fd00::/8");
  EXPECT_EQ(shop.block.status, 429);
  EXPECT_EQ(shop.block.page, "/etc/mamori/blocked.html");
  const SiteLimits& l = shop.limits;
  EXPECT_EQ(l.max_body_bytes, 512u * 1024);
  EXPECT_EQ(l.body_over_limit, BodyOverLimit::InspectPrefix);
  EXPECT_EQ(l.max_request_line, 4096u);
  EXPECT_EQ(l.max_header_bytes, 16384u);
  EXPECT_EQ(l.max_headers, 50u);
  EXPECT_EQ(l.header_timeout, 5s);
  EXPECT_EQ(l.body_timeout, 60s);
  EXPECT_EQ(l.idle_timeout, 120s);
  EXPECT_EQ(l.upstream_connect_timeout, 3s);
  EXPECT_EQ(l.upstream_read_timeout, 3600s);
  EXPECT_EQ(l.max_conns_per_source, 64u);

  const Tenant& beta = c.tenants[1];
  EXPECT_EQ(beta.id, "beta-2");
  EXPECT_FALSE(beta.removed_at.has_value());
  ASSERT_EQ(beta.sites.size(), 1u);
  EXPECT_EQ(beta.sites[0].hosts, (std::vector<std::string>{"*"}));
  EXPECT_TRUE(beta.sites[0].certificates[0].hosts.empty());
  EXPECT_EQ(beta.sites[0].upstreams[0].address.toString(), "[2001:db8::7]:9000");
}

TEST(LoadConfig, MinimalConfigGetsDocumentedDefaults) {
  auto result = loadConfigFile(kTestdata + "/minimal.yaml", noFileChecks());
  ASSERT_TRUE(result.ok()) << result.error().message;
  const Config& c = result.value();
  EXPECT_EQ(c.workers, 0u);
  EXPECT_EQ(c.metrics.listen.toString(), "127.0.0.1:9464");
  EXPECT_EQ(c.control.socket, "/run/mamori/control.sock");
  EXPECT_EQ(c.logs.dir, "/var/log/mamori");
  EXPECT_EQ(c.logs.timezone, "local");
  EXPECT_TRUE(c.shield.interfaces.empty());
  EXPECT_EQ(c.shield.attach_mode, AttachMode::Auto);
  EXPECT_EQ(c.shield.malformed, MalformedAction::Pass);
  EXPECT_EQ(c.shield.max_sources, 1048576u);
  // Shield defaults are the quick start's (shield::defaultSettings()).
  EXPECT_EQ(c.shield.rates.syn, (RateLimit{200, 400}));
  EXPECT_EQ(c.shield.rates.udp, (RateLimit{2000, 4000}));
  EXPECT_EQ(c.shield.rates.icmp, (RateLimit{50, 100}));
  EXPECT_EQ(c.shield.rates.all, (RateLimit{20000, 40000}));
  EXPECT_TRUE(c.shield.scanner_syn);
  const Site& site = c.tenants.at(0).sites.at(0);
  EXPECT_EQ(site.mode, SiteMode::Block);
  EXPECT_EQ(site.block.status, 403);
  EXPECT_FALSE(site.block.page.has_value());
  EXPECT_EQ(site.limits.max_body_bytes, 1024u * 1024);
  EXPECT_EQ(site.limits.body_over_limit, BodyOverLimit::Reject);
  EXPECT_EQ(site.limits.max_request_line, 8192u);
  EXPECT_EQ(site.limits.max_header_bytes, 32768u);
  EXPECT_EQ(site.limits.max_headers, 100u);
  EXPECT_EQ(site.limits.header_timeout, 10s);
  EXPECT_EQ(site.limits.body_timeout, 30s);
  EXPECT_EQ(site.limits.idle_timeout, 60s);
  EXPECT_EQ(site.limits.upstream_connect_timeout, 5s);
  EXPECT_EQ(site.limits.upstream_read_timeout, 60s);
  EXPECT_EQ(site.limits.max_conns_per_source, 256u);
}

TEST(LoadConfig, ShippedExampleIsValid) {
  auto result = loadConfigFile(std::string(MAMORI_EXAMPLES_DIR) + "/mamori.yaml", noFileChecks());
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_FALSE(result->tenants.empty());
}

TEST(LoadConfig, DocumentedFullExampleIsValid) {
  std::ifstream in(std::string(MAMORI_DOCS_DIR) + "/config.md");
  std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t section = doc.find("## Full example");
  ASSERT_NE(section, std::string::npos);
  size_t start = doc.find("```yaml\n", section);
  ASSERT_NE(start, std::string::npos);
  start += 8;
  size_t end = doc.find("```", start);
  ASSERT_NE(end, std::string::npos);
  auto result = loadConfigString(doc.substr(start, end - start), "config.md", noFileChecks());
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->tenants.size(), 2u);
}

TEST(LoadConfig, EmptyValueMeansDefault) {
  EXPECT_EQ(errorsOf(siteYaml("        trusted_proxies:\n", "shield:\n  allow:\n")), "<ok>");
}

TEST(LoadConfig, UnknownKeySuggestsClosest) {
  std::string yaml =
      "tenants:\n"
      "  - id: acme\n"
      "    sites:\n"
      "      - name: web\n"
      "        hosts: [www.example.com]\n"
      "        listeners:\n"
      "          - address: 127.0.0.1:8080\n"
      "        upstream:\n"
      "          - address: 127.0.0.1:9000\n";
  // One mistake, one message: no extra "missing required key 'upstreams'".
  EXPECT_EQ(errorsOf(yaml), "t.yaml:8:9: unknown key 'upstream' (did you mean 'upstreams'?)");
}

TEST(LoadConfig, UnknownKeySuggestsTransposition) {
  EXPECT_EQ(errorsOf("shield:\n  scanner_sny: true\n"),
            "t.yaml:2:3: unknown key 'scanner_sny' (did you mean 'scanner_syn'?)");
}

TEST(LoadConfig, UnknownKeyWithoutCloseMatchListsKnownKeys) {
  EXPECT_EQ(errorsOf("metrics:\n  frobnicate: 1\n"),
            "t.yaml:2:3: unknown key 'frobnicate' (known keys: listen)");
}

TEST(LoadConfig, RefusesWrongTypes) {
  EXPECT_EQ(errorsOf("workers: many\n"),
            "t.yaml:1:10: expected an integer for 'workers', got 'many'");
  EXPECT_EQ(errorsOf("shield: [eth0]\n"), "t.yaml:1:9: expected a mapping for 'shield', got a list");
  EXPECT_EQ(errorsOf("shield:\n  interfaces: eth0\n"),
            "t.yaml:2:15: expected a list for 'interfaces', got 'eth0'");
  EXPECT_EQ(errorsOf("shield:\n  scanner_syn: yes\n"),
            "t.yaml:2:16: expected true or false for 'scanner_syn', got 'yes'");
  EXPECT_EQ(errorsOf("logs:\n  timezone: {a: 1}\n"),
            "t.yaml:2:13: expected a string for 'timezone', got a mapping");
}

TEST(LoadConfig, RefusesOutOfRangeValues) {
  EXPECT_EQ(errorsOf("workers: 5000\n"),
            "t.yaml:1:10: 'workers' out of range: 5000 (allowed 0..1024)");
  EXPECT_EQ(errorsOf("workers: -1\n"), "t.yaml:1:10: 'workers' out of range: -1 (allowed 0..1024)");
  EXPECT_EQ(errorsOf("workers: 99999999999999999999\n"),
            "t.yaml:1:10: 'workers' out of range: 99999999999999999999 (allowed 0..1024)");
  EXPECT_EQ(errorsOf("shield:\n  ports:\n    tcp: [80, 70000]\n"),
            "t.yaml:3:15: 'tcp' out of range: 70000 (allowed 1..65535)");
  EXPECT_EQ(errorsOf("shield:\n  rates:\n    syn: {rate: 10, burst: 0}\n"),
            "t.yaml:3:28: 'burst' out of range: 0 (allowed 1..4000000)");
  EXPECT_EQ(errorsOf(siteYaml("        block: {status: 302}\n")),
            "t.yaml:10:25: 'status' out of range: 302 (allowed 400..599)");
  EXPECT_EQ(errorsOf(siteYaml("        limits: {header_timeout: 0s}\n")),
            "t.yaml:10:34: 'header_timeout' out of range: 0s (allowed 1s..86400s)");
  EXPECT_EQ(errorsOf(siteYaml("        limits: {max_body_bytes: 2GiB}\n")),
            "t.yaml:10:34: 'max_body_bytes' out of range: 2GiB (allowed 0..1GiB)");
}

TEST(LoadConfig, RefusesBadValuesWithTheirOwnMessages) {
  EXPECT_EQ(errorsOf("shield:\n  attach_mode: fast\n"),
            "t.yaml:2:16: invalid value 'fast' for 'attach_mode' "
            "(expected one of: auto, native, generic)");
  EXPECT_EQ(errorsOf(siteYaml("        limits: {idle_timeout: 5w}\n")),
            "t.yaml:10:32: invalid duration '5w': unknown unit (use e.g. 30s, 10m, 1h, 2d)");
  EXPECT_EQ(errorsOf(siteYaml("        limits: {max_body_bytes: 1mb}\n")),
            "t.yaml:10:34: invalid size '1mb': unknown unit "
            "(use e.g. 512KiB, 1MiB, 10MB or a number of bytes)");
  EXPECT_EQ(errorsOf("shield:\n  allow: [10.0.0.0/33]\n"),
            "t.yaml:2:11: prefix length 33 is over 32 in '10.0.0.0/33'");
  EXPECT_EQ(errorsOf("metrics:\n  listen: localhost:9464\n"),
            "t.yaml:2:11: invalid address 'localhost:9464': expected an IP address, not a host "
            "name (names are not resolved here)");
  EXPECT_EQ(errorsOf("control:\n  socket: run/control.sock\n"),
            "t.yaml:2:11: 'socket' must be an absolute path, got 'run/control.sock'");
  EXPECT_EQ(errorsOf("shield:\n  interfaces: [this-name-is-too-long]\n"),
            "t.yaml:2:16: interface name 'this-name-is-too-long' must be 1..15 characters");
}

TEST(LoadConfig, RefusesBadTenantFields) {
  EXPECT_EQ(errorsOf("tenants:\n  - id: Acme\n"),
            "t.yaml:2:9: invalid tenant id 'Acme' "
            "(use 1..63 of a-z, 0-9 and '-', starting with a letter or digit)");
  EXPECT_EQ(errorsOf("tenants:\n  - id: acme\n    removed_at: 2025-02-30\n"),
            "t.yaml:3:17: invalid timestamp '2025-02-30' "
            "(use RFC 3339, e.g. 2025-01-31 or 2025-01-31T00:00:00Z)");
  EXPECT_EQ(errorsOf("tenants:\n  - id: acme\n    labels: {Team: x}\n"),
            "t.yaml:3:14: invalid label name 'Team' (use 1..63 of a-z, 0-9, '-', '.' and '_')");
  EXPECT_EQ(errorsOf("tenants:\n  - labels: {}\n"), "t.yaml:2:5: missing required key 'id'");
}

TEST(LoadConfig, ReportsMissingRequiredSiteKeys) {
  EXPECT_EQ(errorsOf("tenants:\n  - id: acme\n    sites:\n      - name: web\n"),
            "t.yaml:4:9: missing required key 'hosts'\n"
            "t.yaml:4:9: missing required key 'listeners'\n"
            "t.yaml:4:9: missing required key 'upstreams'");
  std::string yaml =
      "tenants:\n"
      "  - id: acme\n"
      "    sites:\n"
      "      - name: web\n"
      "        hosts: [www.example.com]\n"
      "        listeners: [{address: 127.0.0.1:8080}]\n"
      "        upstreams: []\n";
  EXPECT_EQ(errorsOf(yaml), "t.yaml:7:20: 'upstreams' is empty (a site needs at least one)");
}

// yaml-cpp 0.7's LoadAll never returns on this input (it reports a new
// document forever); the loader must answer instead.
TEST(LoadConfig, AnswersOnYamlThatMakesLoadAllSpin) {
  EXPECT_NE(errorsOf("!binar,y \"AAAA\"\n"), "");
}

TEST(LoadConfig, LogsRetentionAndFsync) {
  auto result = loadConfigString(
      "logs: {readable_days: 30, keep_days: 400, fsync: every_line, flush_interval: 5s}\n", "t.yaml",
      noFileChecks());
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->logs.readable_days, 30u);
  EXPECT_EQ(result->logs.keep_days, 400u);
  EXPECT_EQ(result->logs.fsync, LogFsync::EveryLine);
  EXPECT_EQ(result->logs.flush_interval, std::chrono::seconds(5));
  EXPECT_EQ(errorsOf("logs: {readable_days: 90, keep_days: 30}\n"),
            "t.yaml:1:7: 'keep_days' (30) is shorter than 'readable_days' (90) (files must be kept "
            "at least as long as they are readable)");
  EXPECT_EQ(errorsOf("logs: {fsync: sometimes}\n"),
            "t.yaml:1:15: invalid value 'sometimes' for 'fsync' (expected one of: interval, "
            "every_line, never)");
}

TEST(LoadConfig, InspectionAndRulesSections) {
  auto result = loadConfigString(
      siteYaml("        inspection:\n"
               "          paranoia: 2\n"
               "          threshold: 10\n"
               "          on_budget: pass\n"
               "          exclude_rules: [942100, 941110]\n"
               "          exclude_tags: [scanner]\n"
               "          exclusions:\n"
               "            - {path_prefix: /admin/, rules: [930100]}\n"
               "            - {target: comment, rules: [941100]}\n",
               "rules: {dir: /srv/mamori-rules}\n"),
      "t.yaml", noFileChecks());
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->rules.dir, "/srv/mamori-rules");
  const InspectionConfig& in = result->tenants[0].sites[0].inspection;
  EXPECT_EQ(in.paranoia, 2u);
  EXPECT_EQ(in.threshold, 10u);
  EXPECT_FALSE(in.block_on_budget);
  EXPECT_EQ(in.exclude_rules, (std::vector<uint32_t>{942100, 941110}));
  EXPECT_EQ(in.exclude_tags, std::vector<std::string>{"scanner"});
  ASSERT_EQ(in.exclusions.size(), 2u);
  EXPECT_EQ(in.exclusions[0].path_prefix, "/admin/");
  EXPECT_EQ(in.exclusions[1].target, "comment");

  EXPECT_EQ(errorsOf(siteYaml("        inspection: {paranoia: 5}\n")),
            "t.yaml:10:32: 'paranoia' out of range: 5 (allowed 1..4)");
  EXPECT_EQ(errorsOf(siteYaml("        inspection:\n          exclusions: [{rules: [1]}]\n")),
            "t.yaml:11:24: an exclusion needs exactly one of 'path_prefix' and 'target' "
            "(e.g. {path_prefix: /admin/, rules: [942100]})");
}

TEST(LoadConfig, RefusesDuplicateKeys) {
  EXPECT_EQ(errorsOf("workers: 1\nworkers: 2\n"),
            "t.yaml:2:1: duplicate key 'workers' (first defined at 1:1)");
}

TEST(LoadConfig, RefusesDuplicateTenantIds) {
  EXPECT_EQ(errorsOf("tenants:\n  - id: acme\n  - id: acme\n"),
            "t.yaml:3:9: duplicate tenant id 'acme' (first defined at 2:9)");
}

TEST(LoadConfig, RefusesTheReservedHostTenant) {
  EXPECT_EQ(errorsOf("tenants:\n  - id: mamori\n"),
            "t.yaml:2:9: tenant id 'mamori' is reserved (mamori keeps its host-wide logs (audit, "
            "XDP drops) under it; pick another id)");
}

TEST(LoadConfig, RefusesDuplicateSiteNamesAcrossTenants) {
  std::string yaml = siteYaml("") +
                     "  - id: other\n"
                     "    sites:\n"
                     "      - name: web\n"
                     "        hosts: [other.example.com]\n"
                     "        listeners: [{address: 127.0.0.1:8080}]\n"
                     "        upstreams: [{address: 127.0.0.1:9001}]\n";
  EXPECT_EQ(errorsOf(yaml), "t.yaml:12:15: duplicate site name 'web' (first defined at 4:15)");
}

TEST(LoadConfig, RefusesHostsUsedByTwoSites) {
  std::string yaml = siteYaml("") +
                     "      - name: web2\n"
                     "        hosts: [other.example.com, WWW.example.com]\n"
                     "        listeners: [{address: 127.0.0.1:8080}]\n"
                     "        upstreams: [{address: 127.0.0.1:9001}]\n";
  EXPECT_EQ(errorsOf(yaml),
            "t.yaml:11:36: host 'www.example.com' is already used by site 'web' (at 5:17)");
  EXPECT_EQ(errorsOf(siteYaml("").replace(siteYaml("").find("[www.example.com]"), 17,
                                          "[a.example.com, A.example.com]")),
            "t.yaml:5:32: duplicate host 'a.example.com' in 'hosts'");
}

TEST(LoadConfig, TlsListenerNeedsACertificate) {
  std::string yaml =
      "tenants:\n"
      "  - id: acme\n"
      "    sites:\n"
      "      - name: web\n"
      "        hosts: [www.example.com]\n"
      "        listeners:\n"
      "          - address: 0.0.0.0:443\n"
      "            tls: true\n"
      "        upstreams: [{address: 127.0.0.1:9000}]\n";
  EXPECT_EQ(errorsOf(yaml),
            "t.yaml:7:13: TLS listener 0.0.0.0:443 has no certificate "
            "(add one under 'certificates')");
}

TEST(LoadConfig, SharedListenerMustAgreeOnTls) {
  std::string yaml = siteYaml("") +
                     "      - name: web2\n"
                     "        hosts: [two.example.com]\n"
                     "        listeners: [{address: 127.0.0.1:8080, tls: true}]\n"
                     "        certificates: [{cert: /c.pem, key: /c.key}]\n"
                     "        upstreams: [{address: 127.0.0.1:9001}]\n";
  EXPECT_EQ(errorsOf(yaml),
            "t.yaml:12:31: listener 127.0.0.1:8080 is TLS here but plain in site 'web' (at 7:22)");
}

TEST(LoadConfig, RefusesPrefixOnBothAllowAndDeny) {
  EXPECT_EQ(errorsOf("shield:\n  allow: [10.0.0.0/8]\n  deny: [10.1.0.0/8]\n"),
            "t.yaml:3:10: '10.0.0.0/8' is in both 'allow' and 'deny' (allow wins; remove one)");
}

TEST(LoadConfig, ReportsYamlSyntaxErrorsWithPosition) {
  EXPECT_EQ(errorsOf("workers: 1\nshield:\n  interfaces: [eth0\n"),
            "t.yaml:4:1: invalid YAML: end of sequence flow not found");
  EXPECT_EQ(errorsOf("a: b: c\n"), "t.yaml:1:5: invalid YAML: illegal map value");
}

TEST(LoadConfig, SurvivesDeepNesting) {
  // yaml-cpp's depth guard turns runaway nesting into a parser error, which
  // must come back as a Result, not a crash (the loader is a fuzz target).
  std::string yaml = "workers: " + std::string(5000, '[') + std::string(5000, ']') + "\n";
  std::string errors = errorsOf(yaml);
  EXPECT_EQ(errors.rfind("t.yaml:1:", 0), 0u) << errors;
}

TEST(LoadConfig, RefusesEmptyAndNonMappingDocuments) {
  EXPECT_EQ(errorsOf(""),
            "t.yaml:1:1: the config is empty "
            "(expected a mapping with keys such as 'shield' and 'tenants')");
  EXPECT_EQ(errorsOf("# only a comment\n"),
            "t.yaml:1:1: the config is empty "
            "(expected a mapping with keys such as 'shield' and 'tenants')");
  EXPECT_EQ(errorsOf("hello\n"), "t.yaml:1:1: expected a mapping for 'config', got 'hello'");
  EXPECT_EQ(errorsOf("workers: 1\n---\nworkers: 2\n"),
            "t.yaml:2:1: more than one YAML document (remove the '---' separator)");
}

TEST(LoadConfig, CollectsAllErrorsInFileOrder) {
  std::string yaml =
      "workers: lots\n"
      "shield:\n"
      "  malformed: reject\n"
      "  max_sources: 0\n"
      "tenants:\n"
      "  - id: acme\n"
      "    sites:\n"
      "      - name: web\n"
      "        hosts: [www.example.com]\n"
      "        listeners: [{address: 127.0.0.1:80}]\n"
      "        upstreams: [{address: 'app:0'}]\n"
      "        mode: detect\n"
      "        modes: block\n";
  EXPECT_EQ(errorsOf(yaml),
            "t.yaml:1:10: expected an integer for 'workers', got 'lots'\n"
            "t.yaml:3:14: invalid value 'reject' for 'malformed' (expected one of: pass, drop)\n"
            "t.yaml:4:16: 'max_sources' out of range: 0 (allowed 1..16777216)\n"
            "t.yaml:11:31: invalid address 'app:0': port 0 out of range (expected 1..65535)\n"
            "t.yaml:13:9: unknown key 'modes' (did you mean 'mode'?)");
}

TEST(LoadConfig, ChecksFilesThroughTheInjectedCheck) {
  std::vector<std::string> checked;
  LoadOptions options;
  options.base_dir = "/etc/mamori";
  options.check_file = [&](const std::string& path) -> std::string {
    checked.push_back(path);
    return path == "/etc/mamori/missing.key" ? "No such file or directory" : "";
  };
  std::string yaml = siteYaml(
      "        certificates:\n"
      "          - cert: tls/web.pem\n"
      "            key: missing.key\n"
      "        block: {page: /srv/block.html}\n");
  auto result = loadConfigString(yaml, "t.yaml", options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message,
            "t.yaml:12:18: cannot read private key '/etc/mamori/missing.key': "
            "No such file or directory");
  EXPECT_EQ(checked, (std::vector<std::string>{"/etc/mamori/tls/web.pem",
                                               "/etc/mamori/missing.key", "/srv/block.html"}));
}

// Real files in a private temporary directory: relative paths resolve
// against the config file's directory and the default check reads them.
class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "mamori-config-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigFileTest, ReadsCertificatesRelativeToTheConfigFile) {
  write("web.pem", "cert");
  write("web.key", "key");
  write("mamori.yaml", siteYaml("        certificates: [{cert: web.pem, key: web.key}]\n"));
  auto result = loadConfigFile((dir_ / "mamori.yaml").string());
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->tenants[0].sites[0].certificates[0].cert, (dir_ / "web.pem").string());
}

TEST_F(ConfigFileTest, ReportsAMissingCertificateFile) {
  write("web.pem", "cert");
  write("mamori.yaml", siteYaml("        certificates: [{cert: web.pem, key: web.key}]\n"));
  std::string path = (dir_ / "mamori.yaml").string();
  auto result = loadConfigFile(path);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message, path + ":10:45: cannot read private key '" +
                                        (dir_ / "web.key").string() +
                                        "': No such file or directory");
}

TEST_F(ConfigFileTest, RefusesADirectoryAsCertificate) {
  std::filesystem::create_directory(dir_ / "certs");
  write("web.key", "key");
  write("mamori.yaml", siteYaml("        certificates: [{cert: certs, key: web.key}]\n"));
  auto result = loadConfigFile((dir_ / "mamori.yaml").string());
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("certs': not a regular file"), std::string::npos)
      << result.error().message;
}

TEST_F(ConfigFileTest, ReportsAMissingConfigFile) {
  auto result = loadConfigFile((dir_ / "absent.yaml").string());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ENOENT);
  EXPECT_EQ(result.error().message, "cannot open config " + (dir_ / "absent.yaml").string() +
                                        ": No such file or directory");
}

TEST(LoadConfig, IsRepeatableAndSideEffectFree) {
  // Reload loads a fresh Config each time; the same text gives equal results.
  std::string yaml = siteYaml("");
  auto first = loadConfigString(yaml, "t.yaml", noFileChecks());
  auto second = loadConfigString(yaml, "t.yaml", noFileChecks());
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->tenants[0].sites[0].hosts, second->tenants[0].sites[0].hosts);
}

TEST(LoadConfig, RateKeysNotGivenKeepTheirDefaults) {
  auto result = loadConfigString(
      "shield:\n  rates:\n    syn: {rate: 0}\n    udp: {burst: 100}\n    icmp: {rate: 10}\n",
      "t.yaml", noFileChecks());
  ASSERT_TRUE(result.ok()) << result.error().message;
  const ShieldRates& r = result->shield.rates;
  EXPECT_FALSE(r.syn.enabled());                // rate 0: this limit is off
  EXPECT_EQ(r.udp, (RateLimit{2000, 100}));     // rate keeps its default
  EXPECT_EQ(r.icmp, (RateLimit{10, 10}));       // burst: one second of rate
  EXPECT_EQ(r.all, (RateLimit{20000, 40000}));  // bucket not named: default
}

TEST(LoadConfig, BurstIsCappedAtWhatTheShieldHolds) {
  EXPECT_EQ(errorsOf("shield:\n  rates:\n    all: {rate: 10, burst: 4000001}\n"),
            "t.yaml:3:28: 'burst' out of range: 4000001 (allowed 1..4000000)");
  auto result =
      loadConfigString("shield:\n  rates:\n    all: {rate: 10000000}\n", "t.yaml", noFileChecks());
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->shield.rates.all, (RateLimit{10000000, 4000000}));
}

TEST(LoadConfig, LoginSectionIsParsed) {
  auto result = loadConfigString(
      siteYaml("        login:\n"
               "          detection_only: true\n"
               "          allow: [192.0.2.0/24]\n"
               "          routes:\n"
               "            - preset: wordpress\n"
               "            - path: /api/login\n"
               "              username: {json: /user}\n"
               "              failure: [{json: {pointer: /ok, equals: 'false'}}]\n"
               "          limits: {failures_per_ip: {threshold: 3}}\n"
               "          source_ladder: [{excess: 1, action: ban_source}]\n"),
      "t.yaml", noFileChecks());
  ASSERT_TRUE(result.ok()) << result.error().message;
  const auto& login = result->tenants[0].sites[0].login;
  ASSERT_TRUE(login.has_value());
  EXPECT_TRUE(login->detection_only);
  ASSERT_EQ(login->routes.size(), 2u);
  EXPECT_EQ(login->routes[0].preset, "wordpress");
  EXPECT_EQ(login->routes[1].path, "/api/login");
  EXPECT_EQ(login->routes[1].username_source, LoginUsernameSource::Json);
  ASSERT_TRUE(login->routes[1].failure.has_value());
  EXPECT_EQ(login->routes[1].failure->at(0).json->equals, "false");
  EXPECT_EQ(login->limits.at("failures_per_ip").threshold, 3u);
  EXPECT_EQ(login->source_ladder->at(0).action, LoginAction::BanSource);
}

TEST(LoadConfig, FloodSectionIsParsed) {
  auto result = loadConfigString(siteYaml("        flood:\n"
                                          "          detection_only: true\n"
                                          "          per_ip: {requests: 100, window: 10s}\n"
                                          "          per_prefix: {requests: 0}\n"
                                          "          per_site: {requests: 5000, window: 1m}\n"
                                          "          ban: {after: 50, ttl: 15m, ipv6_prefix64: true}\n"
                                          "          allow: [192.0.2.0/24]\n"
                                          "          tables: {sources: 4096}\n"),
                                 "t.yaml", noFileChecks());
  ASSERT_TRUE(result.ok()) << result.error().message;
  const auto& flood = result->tenants[0].sites[0].flood;
  ASSERT_TRUE(flood.has_value());
  EXPECT_TRUE(flood->enabled);
  EXPECT_TRUE(flood->detection_only);
  EXPECT_EQ(flood->per_ip.requests, 100u);
  EXPECT_EQ(flood->per_ip.window, std::chrono::seconds(10));
  EXPECT_EQ(flood->per_prefix.requests, 0u);
  EXPECT_FALSE(flood->per_prefix.window.has_value());
  EXPECT_FALSE(flood->per_path.requests.has_value());
  EXPECT_EQ(flood->per_site.window, std::chrono::seconds(60));
  EXPECT_EQ(flood->ban_after, 50u);
  EXPECT_EQ(flood->ban_ttl, std::chrono::seconds(900));
  EXPECT_FALSE(flood->ban_window.has_value());
  EXPECT_TRUE(flood->ban_ipv6_prefix64);
  ASSERT_EQ(flood->allow.size(), 1u);
  EXPECT_EQ(flood->table_sources, 4096u);
  EXPECT_FALSE(flood->table_paths.has_value());
}

TEST(LoadConfig, FloodSectionAbsentOrDisabled) {
  auto absent = loadConfigString(siteYaml(""), "t.yaml", noFileChecks());
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->tenants[0].sites[0].flood.has_value());
  auto off =
      loadConfigString(siteYaml("        flood: {enabled: false}\n"), "t.yaml", noFileChecks());
  ASSERT_TRUE(off.ok());
  ASSERT_TRUE(off->tenants[0].sites[0].flood.has_value());
  EXPECT_FALSE(off->tenants[0].sites[0].flood->enabled);
}

TEST(LoadConfig, FloodSectionErrorsPointAtTheValue) {
  auto flood = [](const std::string& body) {
    return errorsOf(siteYaml("        flood:\n" + body));
  };
  EXPECT_EQ(flood("          per_ipp: {requests: 3}\n"),
            "t.yaml:11:11: unknown key 'per_ipp' (did you mean 'per_ip'?)");
  EXPECT_EQ(flood("          per_ip: {requests: 60001}\n"),
            "t.yaml:11:30: 'requests' out of range: 60001 (allowed 0..60000)");
  EXPECT_EQ(flood("          per_ip: {requests: -1}\n"),
            "t.yaml:11:30: 'requests' out of range: -1 (allowed 0..60000)");
  EXPECT_EQ(flood("          per_path: {window: 0s}\n"),
            "t.yaml:11:30: 'window' out of range: 0s (allowed 1s..86400s)");
  EXPECT_NE(flood("          ban: {after: 5, ttl: forever}\n").find("t.yaml:11:32: "),
            std::string::npos);
  EXPECT_EQ(flood("          ban: {afterr: 5}\n"),
            "t.yaml:11:17: unknown key 'afterr' (did you mean 'after'?)");
  EXPECT_EQ(flood("          enabled: yes\n"),
            "t.yaml:11:20: expected true or false for 'enabled', got 'yes'");
  EXPECT_EQ(flood("          tables: {paths: 0}\n"),
            "t.yaml:11:27: 'paths' out of range: 0 (allowed 1..67108864)");
  EXPECT_EQ(flood("          per_site: 100\n"),
            "t.yaml:11:21: expected a mapping for 'per_site', got '100'");
}

TEST(LoadConfig, LoginSectionErrorsPointAtTheValue) {
  auto login = [](const std::string& body) { return errorsOf(siteYaml("        login:\n" + body)); };
  EXPECT_EQ(login("          routes: [{preset: drupal}]\n"), "t.yaml:11:29: unknown login preset 'drupal' (expected one of: "
            "generic_form_401, wordpress, json_api_ok_false)");
  EXPECT_EQ(login("          routes: [{path: /login}]\n"), "t.yaml:11:20: a login route without a preset needs 'failure' rules "
            "(e.g. failure: [{status: [401, 403]}])");
  EXPECT_EQ(login("          routes: [{path: login, failure: [{status: 401}]}]\n"), "t.yaml:11:27: login path 'login' must start with '/'");
  EXPECT_EQ(login("          routes: [{path: /l, failure: [{}]}]\n"), "t.yaml:11:41: this failure rule tests nothing (set status, "
            "location_prefix, location_contains, header, body_contains or json)");
  EXPECT_EQ(login("          routes: [{path: /l, failure: [{status: 99}]}]\n"), "t.yaml:11:50: 'status' out of range: 99 (allowed 100..599)");
  EXPECT_EQ(login("          routes: [{preset: wordpress, username: {form: a, json: /b}}]\n"),
            "t.yaml:11:50: 'username' needs exactly one of 'form', 'json' or "
            "'basic' (or the word none)");
  EXPECT_EQ(login("          limits: {failures_per_ipp: {threshold: 3}}\n"), "t.yaml:11:20: unknown key 'failures_per_ipp' (did you mean "
            "'failures_per_ip'?)");
  EXPECT_EQ(login("          limits: {failures_per_ip: {threshold: 0}}\n"), "t.yaml:11:49: 'threshold' out of range: 0 (allowed 1..60000)");
  EXPECT_EQ(login("          source_ladder: [{excess: 2, action: log}, {excess: 2, action: log}]\n"),
            "t.yaml:11:62: 'excess' must grow from one step to the next (the "
            "previous step has excess 2)");
  EXPECT_EQ(login("          username_ladder: [{excess: 1, action: ban_source}]\n"), "t.yaml:11:49: invalid value 'ban_source' for 'action' (expected one "
            "of: log, delay, lock_username)");
  EXPECT_EQ(login("          source_ladder: [{excess: 1, action: delay}]\n"), "t.yaml:11:27: missing required key 'delay_ms'");
  EXPECT_EQ(login("          source_ladder: [{excess: 1, action: block_source}]\n"), "t.yaml:11:27: missing required key 'duration'");
  EXPECT_EQ(login("          usernames: plain\n"), "t.yaml:11:22: invalid value 'plain' for 'usernames' (expected one of: "
            "hashed, clear)");
  EXPECT_EQ(login("          ban_ttls: []\n"), "t.yaml:11:21: 'ban_ttls' is empty (give at least one TTL, e.g. [10m, "
            "1h, 1d])");
  EXPECT_EQ(login("          tables: {counters: 0}\n"), "t.yaml:11:30: 'counters' out of range: 0 (allowed 1..67108864)");
}

}  // namespace
}  // namespace mamori::config

namespace mamori::config {
namespace {

TEST(LoadConfig, BotsSectionsAreParsed) {
  auto result = loadConfigString(
      siteYaml("        bots:\n"
               "          actions: {scanner: ban, tool: challenge, inconsistent: block}\n"
               "          ban_ttl: 2h\n"
               "          behaviour: {window: 30s, max_requests: 100, max_4xx_percent: 80}\n",
               "bots:\n  dir: /opt/bots\n  resolver: 127.0.0.1:5353\n  sources: 1000\n"),
      "t.yaml", noFileChecks());
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->bots.dir, "/opt/bots");
  EXPECT_EQ(result->bots.resolver, "127.0.0.1:5353");
  EXPECT_EQ(result->bots.sources, 1000u);
  const auto& bots = result->tenants[0].sites[0].bots;
  ASSERT_TRUE(bots.has_value());
  EXPECT_TRUE(bots->enabled);
  EXPECT_EQ(bots->actions.at("scanner"), "ban");
  EXPECT_EQ(bots->actions.at("tool"), "challenge");
  EXPECT_EQ(bots->ban_ttl, 2h);
  EXPECT_EQ(bots->behaviour.window, 30s);
  EXPECT_EQ(bots->behaviour.max_requests, 100u);
  EXPECT_EQ(bots->behaviour.max_4xx_percent, 80u);
  EXPECT_EQ(bots->behaviour.max_paths, 60u);  // default kept
  EXPECT_FALSE(result->tenants[0].sites[0].login.has_value());
}

TEST(LoadConfig, BotsErrorsHaveLineAndColumn) {
  EXPECT_EQ(errorsOf(siteYaml("        bots:\n          actions: {scaner: block}\n")),
            "t.yaml:11:21: unknown bot class 'scaner' (did you mean 'scanner'?)");
  EXPECT_EQ(errorsOf(siteYaml("        bots:\n          actions: {scanner: drop}\n")),
            "t.yaml:11:30: invalid action 'drop' for bot class 'scanner' (expected one of: "
            "allow, log, challenge, block, ban)");
  EXPECT_EQ(errorsOf(siteYaml("        bots:\n          behaviour: {max_4xx_percent: 101}\n")),
            "t.yaml:11:40: 'max_4xx_percent' out of range: 101 (allowed 0..100)");
  EXPECT_EQ(errorsOf(siteYaml("", "bots:\n  resolver: dns.example\n")),
            "t.yaml:2:13: invalid resolver 'dns.example' (an IPv4 address with an optional "
            "port, e.g. 127.0.0.1:53)");
  EXPECT_EQ(errorsOf(siteYaml("", "bots:\n  resolver: '[::1]:53'\n")).substr(0, 12), "t.yaml:2:13:");
  EXPECT_EQ(errorsOf(siteYaml("", "bots:\n  dir: relative/bots\n")).substr(0, 12), "t.yaml:2:8: ");
}

}  // namespace
}  // namespace mamori::config
