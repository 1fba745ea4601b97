// daemon::Inspection's snapshot hand-over: workers read the rule set and
// site settings through PublishedSnapshot (no lock, issue #8), so a rule
// switched off or a reload on the control thread reaches a worker at its
// next request, and workers inspecting while the control thread publishes
// see one whole snapshot or the next.

#include "daemon/inspection.h"

#include <gtest/gtest.h>

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "config/loader.h"
#include "http/request_parser.h"

namespace mamori::daemon {
namespace {

constexpr std::uint32_t kRule = 250990;

// One rule that scores a query argument containing "snapmarker" at the
// default threshold, in a directory of its own.
class RulesDir {
 public:
  RulesDir() {
    char tmpl[] = "/tmp/mamori_inspection_test_XXXXXX";
    const char* dir = ::mkdtemp(tmpl);
    EXPECT_NE(dir, nullptr);
    path_ = dir ? dir : "/nonexistent";
    std::ofstream(path_ + "/test.yaml") << "rules:\n"
                                           "  - id: 250990\n"
                                           "    message: test marker\n"
                                           "    category: generic\n"
                                           "    severity: critical\n"
                                           "    tags: [generic]\n"
                                           "    targets: [args]\n"
                                           "    operator:\n"
                                           "      pattern: 'snapmarker'\n"
                                           "    score: 5\n"
                                           "    samples:\n"
                                           "      match:\n"
                                           "        - {target: args, name: q, value: snapmarker}\n"
                                           "      nomatch:\n"
                                           "        - {target: args, name: q, value: hello}\n";
  }
  ~RulesDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

config::Config loadConfig(const std::string& inspection) {
  const std::string yaml =
      "tenants:\n"
      "  - id: acme\n"
      "    sites:\n"
      "      - name: web\n"
      "        hosts: [www.example.com]\n"
      "        listeners:\n"
      "          - address: 127.0.0.1:8080\n"
      "        upstreams:\n"
      "          - address: 127.0.0.1:9000\n" +
      inspection;
  config::LoadOptions options;
  options.check_file = nullptr;
  auto c = config::loadConfigString(yaml, "t.yaml", options);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : config::Config{};
}

http::Request request(const std::string& target) {
  const std::string raw = "GET " + target + " HTTP/1.1\r\nHost: www.example.com\r\n\r\n";
  http::RequestParser parser;
  std::size_t used = 0;
  EXPECT_EQ(parser.feed(raw, &used), http::ParseStatus::Done) << raw;
  return parser.takeRequest();
}

net::RequestContext webContext() {
  net::RequestContext context;
  context.site = "web";
  return context;
}

TEST(Inspection, ARuleSwitchedOffReachesAWorkerAtItsNextRequest) {
  RulesDir rules;
  auto inspection = Inspection::create(loadConfig(""), rules.path(), nullptr);
  ASSERT_TRUE(inspection.ok()) << inspection.error().message;
  Inspection& in = **inspection;
  const http::Request attack = request("/?q=snapmarker");
  const net::RequestContext context = webContext();
  // This thread keeps its snapshot copy across the publishes, as an engine
  // worker does; a thread started later reads the current one.
  std::vector<net::Verdict::Action> seen;
  auto onWorker = [&] {
    std::thread([&] { seen.push_back(in.onRequest(attack, context).action); }).join();
  };
  EXPECT_EQ(in.onRequest(attack, context).action, net::Verdict::Action::Block);
  ASSERT_TRUE(in.setEnabled(kRule, false).ok());
  EXPECT_EQ(in.onRequest(attack, context).action, net::Verdict::Action::Pass);
  onWorker();
  ASSERT_TRUE(in.setEnabled(kRule, true).ok());
  EXPECT_EQ(in.onRequest(attack, context).action, net::Verdict::Action::Block);
  onWorker();
  EXPECT_EQ(seen, (std::vector<net::Verdict::Action>{net::Verdict::Action::Pass,
                                                     net::Verdict::Action::Block}));
  EXPECT_FALSE(in.setEnabled(999999, false).ok());
}

TEST(Inspection, AReloadedSiteSettingReachesTheWorkers) {
  RulesDir rules;
  auto inspection = Inspection::create(loadConfig(""), rules.path(), nullptr);
  ASSERT_TRUE(inspection.ok()) << inspection.error().message;
  Inspection& in = **inspection;
  const http::Request attack = request("/?q=snapmarker");
  EXPECT_EQ(in.onRequest(attack, webContext()).action, net::Verdict::Action::Block);
  // Threshold above the rule's score: detected, not blocked.
  auto reloaded = in.reload(loadConfig("        inspection:\n          threshold: 10\n"), rules.path());
  ASSERT_TRUE(reloaded.ok()) << reloaded.error().message;
  EXPECT_EQ(in.onRequest(attack, webContext()).action, net::Verdict::Action::Pass);
  EXPECT_EQ(in.stats().with_detections, 2u);
  EXPECT_EQ(in.stats().would_block, 1u);
}

TEST(Inspection, WorkersInspectWhileTheControlThreadPublishes) {
  RulesDir rules;
  auto inspection = Inspection::create(loadConfig(""), rules.path(), nullptr);
  ASSERT_TRUE(inspection.ok()) << inspection.error().message;
  Inspection& in = **inspection;
  const http::Request attack = request("/?q=snapmarker");
  const http::Request clean = request("/?q=hello");
  const net::RequestContext context = webContext();
  std::atomic<bool> done{false};
  std::atomic<int> clean_blocked{0};
  std::atomic<std::uint64_t> blocks{0}, passes{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&] {
      while (!done.load()) {
        if (in.onRequest(clean, context).action != net::Verdict::Action::Pass) clean_blocked.fetch_add(1);
        if (in.onRequest(attack, context).action == net::Verdict::Action::Block) blocks.fetch_add(1);
        else passes.fetch_add(1);
      }
    });
  }
  while (blocks.load() + passes.load() < 3) std::this_thread::yield();  // workers are running
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(in.setEnabled(kRule, i % 2 == 1).ok());
    if (i % 16 == 0) std::this_thread::yield();  // two cores: let workers see some of them
  }
  done.store(true);
  for (auto& w : workers) w.join();
  EXPECT_EQ(clean_blocked.load(), 0);
  EXPECT_EQ(in.stats().inspected, 2 * (blocks.load() + passes.load()));
  // The last publish left the rule on.
  EXPECT_EQ(in.onRequest(attack, context).action, net::Verdict::Action::Block);
}

}  // namespace
}  // namespace mamori::daemon
