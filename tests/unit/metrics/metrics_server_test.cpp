#include "metrics/metrics_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace mamori::metrics {
namespace {

// One HTTP/1.0 request over loopback; returns the whole answer ("" on error).
std::string httpGet(std::uint16_t port, const std::string& path,
                    const std::string& method = "GET") {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string req = method + " " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    }
  }
  close(fd);
  return out;
}

std::shared_ptr<Registry> sampleRegistry(int* scrapes) {
  auto r = std::make_shared<Registry>();
  EXPECT_TRUE(
      r->add("test", [scrapes](std::vector<Family>& out) -> common::Status {
         ++*scrapes;
         out.push_back(counter("mamori_test_events_total", "Events").add(42, {{"kind", "a"}}));
         HistogramValue h;
         h.buckets = {{0.1, 2}, {1, 3}};
         h.count = 4;
         h.sum = 2.5;
         out.push_back(histogram("mamori_test_duration_seconds", "Durations").addHistogram(h));
         return {};
       }).ok());
  return r;
}

TEST(MetricsServer, ServesRegistryOnLoopbackPortZero) {
  int scrapes = 0;
  auto server = MetricsServer::start("127.0.0.1:0", sampleRegistry(&scrapes));
  ASSERT_TRUE(server.ok()) << server.error().message;
  ASSERT_GT((*server)->port(), 0);
  std::string body = httpGet((*server)->port(), "/metrics");
  EXPECT_NE(body.find("200 OK"), std::string::npos) << body;
  EXPECT_NE(body.find("# TYPE mamori_test_events_total counter"), std::string::npos) << body;
  EXPECT_NE(body.find("mamori_test_events_total{kind=\"a\"} 42"), std::string::npos) << body;
  EXPECT_NE(body.find("mamori_test_duration_seconds_bucket{le=\"+Inf\"} 4"), std::string::npos)
      << body;
  EXPECT_NE(body.find("mamori_metrics_collector_up{collector=\"test\"} 1"), std::string::npos);
  EXPECT_EQ(scrapes, 1);
}

TEST(MetricsServer, OnlyGetAndHeadOnMetricsOnly) {
  int scrapes = 0;
  auto server = MetricsServer::start("127.0.0.1:0", sampleRegistry(&scrapes));
  ASSERT_TRUE(server.ok()) << server.error().message;
  const auto port = (*server)->port();
  auto head = httpGet(port, "/metrics", "HEAD");
  EXPECT_NE(head.find("200 OK"), std::string::npos) << head;
  EXPECT_EQ(head.find("mamori_test_events_total{"), std::string::npos) << head;
  EXPECT_NE(httpGet(port, "/metrics", "POST").find("405"), std::string::npos);
  EXPECT_NE(httpGet(port, "/other", "GET").find("404"), std::string::npos);
  EXPECT_NE(httpGet(port, "/metrics/x", "GET").find("404"), std::string::npos);
}

TEST(MetricsServer, BusyPortIsAClearError) {
  int scrapes = 0;
  auto first = MetricsServer::start("127.0.0.1:0", sampleRegistry(&scrapes));
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = MetricsServer::start("127.0.0.1:" + std::to_string((*first)->port()),
                                     sampleRegistry(&scrapes));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, EADDRINUSE);
  EXPECT_NE(second.error().message.find("cannot listen"), std::string::npos);
}

TEST(MetricsServer, MalformedAddressesAreRefused) {
  int scrapes = 0;
  for (const char* bad : {"", "9464", "localhost:9464", "127.0.0.1:", "127.0.0.1:99999",
                          "127.0.0.1:http", "[::1:9464", ":9464"}) {
    auto s = MetricsServer::start(bad, sampleRegistry(&scrapes));
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.error().code, EINVAL) << bad;
  }
  EXPECT_FALSE(MetricsServer::start("127.0.0.1:0", nullptr).ok());
}

TEST(RenderText, WritesTheExpositionFormat) {
  std::vector<Family> fs;
  fs.push_back(gauge("mamori_x_bytes", "Some bytes").add(1.5, {{"a", "b"}}));
  std::string text = renderText(fs);
  EXPECT_NE(text.find("# HELP mamori_x_bytes Some bytes"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE mamori_x_bytes gauge"), std::string::npos) << text;
  EXPECT_NE(text.find("mamori_x_bytes{a=\"b\"} 1.5"), std::string::npos) << text;
}

}  // namespace
}  // namespace mamori::metrics
