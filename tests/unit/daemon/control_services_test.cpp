#include "daemon/control_services.h"

#include <gtest/gtest.h>

#include <thread>

#include "config/loader.h"

namespace mamori::daemon {
namespace {

std::shared_ptr<const config::Config> quickStart() {
  config::QuickStart quick;
  quick.listen = "127.0.0.1:8080";
  quick.upstream = "127.0.0.1:3000";
  config::LoadOptions options;
  options.check_file = nullptr;
  auto c = config::quickStartConfig(quick, options);
  EXPECT_TRUE(c.ok());
  return std::make_shared<const config::Config>(c.value());
}

TEST(ControlServices, SitesComeFromThePublishedConfig) {
  ControlServices sv("/nonexistent/pins", "", 2);
  EXPECT_TRUE(sv.sites().empty());
  sv.setConfig(quickStart());
  auto sites = sv.sites();
  ASSERT_EQ(sites.size(), 1u);
  EXPECT_EQ(sites[0].tenant, "default");
  EXPECT_EQ(sites[0].listeners, std::vector<std::string>{"127.0.0.1:8080"});
  EXPECT_EQ(sites[0].upstreams, std::vector<std::string>{"127.0.0.1:3000"});
  EXPECT_EQ(sites[0].mode, "block");
  EXPECT_EQ(sv.daemonInfo().workers, 2u);
  EXPECT_EQ(sv.engineStats().requests, 0u) << "no engine: zeros";
}

TEST(ControlServices, ShieldCallsSayWhenNoShieldIsLoaded) {
  ControlServices sv("/nonexistent/pins", "", 1);
  auto bans = sv.listBans();
  ASSERT_FALSE(bans.ok());
  EXPECT_NE(bans.error().message.find("not loaded"), std::string::npos);
  sv.setShield({true, {"eth0 (native)"}, "/nonexistent/pins/v2"});
  auto again = sv.listBans();
  ASSERT_FALSE(again.ok()) << "loaded, but the pins are missing";
  EXPECT_NE(again.error().message.find("/nonexistent/pins"), std::string::npos);
}

TEST(ControlServices, QuickStartHasNothingToReload) {
  ControlServices sv("/p", "", 1);
  auto r = sv.reload();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("nothing to reload"), std::string::npos);
}

TEST(ControlServices, ReloadRunsOnTheMainLoopAndReturnsItsResult) {
  ControlServices sv("/p", "/etc/mamori/mamori.yaml", 1);
  common::Result<std::string> got = common::Error{0, "not set"};
  std::thread control([&] { got = sv.reload(); });
  int served = 0;
  // The "main loop": serves until the control thread has its answer.
  while (served == 0) {
    sv.serveReloadRequest([&]() -> common::Result<std::string> {
      ++served;
      return std::string("reloaded: 1 site");
    });
    std::this_thread::yield();
  }
  control.join();
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(*got, "reloaded: 1 site");
  sv.serveReloadRequest([&]() -> common::Result<std::string> { ++served;
    return std::string("again");
  });
  EXPECT_EQ(served, 1) << "no request queued: the loop does nothing";
}

TEST(ControlServices, ShutdownReleasesAWaitingReload) {
  ControlServices sv("/p", "/etc/mamori/mamori.yaml", 1);
  common::Result<std::string> got = std::string("not set");
  std::thread control([&] { got = sv.reload(); });
  sv.shutdown();
  control.join();
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().message.find("stopping"), std::string::npos);
}

}  // namespace
}  // namespace mamori::daemon
