// runVerdictChain (daemon/verdict_chain.h): the composition mamorid gives
// the engine. The first Block ends the chain; in a detect-mode site every
// step still runs (inspection keeps logging what a bot or flood step
// flagged) and the first Block is the answer; a Pass that asks for a delay
// or a watch survives later plain Passes.

#include "daemon/verdict_chain.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace mamori::daemon {
namespace {

using namespace std::chrono_literals;

struct Recorder {
  std::vector<std::string> ran;
  VerdictStep step(std::string name, net::Verdict v) {
    return [this, name, v](const http::Request&, const net::RequestContext&) {
      ran.push_back(name);
      return v;
    };
  }
};

TEST(VerdictChain, FirstBlockEndsTheChain) {
  Recorder r;
  std::vector<VerdictStep> steps{r.step("flood", net::Verdict::pass()),
                                 r.step("bots", net::Verdict::block(403, "bot")),
                                 r.step("inspection", net::Verdict::block(403, "sig"))};
  http::Request request;
  net::RequestContext context;
  const net::Verdict v = runVerdictChain(steps, request, context);
  EXPECT_EQ(v.action, net::Verdict::Action::Block);
  EXPECT_EQ(v.page, "bot");
  EXPECT_EQ(r.ran, (std::vector<std::string>{"flood", "bots"}));
}

TEST(VerdictChain, DetectModeRunsEveryStepAndAnswersTheFirstBlock) {
  Recorder r;
  std::vector<VerdictStep> steps{r.step("bots", net::Verdict::block(403, "bot")),
                                 r.step("challenge", net::Verdict::block(403, "page")),
                                 r.step("login", net::Verdict::pass()),
                                 r.step("inspection", net::Verdict::block(403, "sig"))};
  http::Request request;
  net::RequestContext context;
  context.detect_only = true;
  const net::Verdict v = runVerdictChain(steps, request, context);
  EXPECT_EQ(v.action, net::Verdict::Action::Block);
  EXPECT_EQ(v.page, "bot");
  EXPECT_EQ(r.ran, (std::vector<std::string>{"bots", "challenge", "login", "inspection"}));
}

TEST(VerdictChain, PassThatAsksForSomethingIsKeptUnlessSomethingBlocks) {
  Recorder r;
  net::Verdict watched = net::Verdict::pass();
  watched.watch = std::make_shared<int>(7);
  watched.delay = 250ms;
  std::vector<VerdictStep> steps{VerdictStep{}, r.step("login", watched),
                                 r.step("inspection", net::Verdict::pass())};
  http::Request request;
  net::RequestContext context;
  net::Verdict v = runVerdictChain(steps, request, context);
  EXPECT_EQ(v.action, net::Verdict::Action::Pass);
  EXPECT_EQ(v.watch, watched.watch);
  EXPECT_EQ(v.delay, 250ms);
  steps.push_back(r.step("last", net::Verdict::block(429)));
  v = runVerdictChain(steps, request, context);
  EXPECT_EQ(v.action, net::Verdict::Action::Block);
  EXPECT_EQ(v.status, 429);
  EXPECT_EQ(v.watch, nullptr);
}

TEST(VerdictChain, NoStepsIsAPlainPass) {
  http::Request request;
  net::RequestContext context;
  const net::Verdict v = runVerdictChain({}, request, context);
  EXPECT_EQ(v.action, net::Verdict::Action::Pass);
  EXPECT_EQ(v.watch, nullptr);
  EXPECT_EQ(v.delay, 0ms);
}

}  // namespace
}  // namespace mamori::daemon
