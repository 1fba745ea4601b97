#include "guard/bot_lists.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "http/request_parser.h"

namespace mamori::guard {
namespace {

http::Request parse(const std::string& head) {
  http::RequestParser parser;
  std::size_t consumed = 0;
  EXPECT_EQ(parser.feed(head, &consumed), http::ParseStatus::Done) << head;
  return parser.takeRequest();
}

http::Request recorded(const std::string& name) {
  std::ifstream in(std::string(MAMORI_GUARD_TESTDATA) + "/" + name, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str());
}

http::Request withUa(const std::string& ua) {
  return parse("GET / HTTP/1.1\r\nHost: shop\r\nUser-Agent: " + ua + "\r\nAccept: */*\r\n\r\n");
}

// The shipped data files: they must load, and they are what the tests
// below classify against.
const BotLists& shipped() {
  static const BotLists lists = [] {
    auto l = loadBotListsDirectory(MAMORI_BOTS_DATA_DIR);
    EXPECT_TRUE(l.ok()) << (l.ok() ? "" : l.error().message);
    return l.ok() ? std::move(*l) : BotLists{};
  }();
  return lists;
}

Classification classify(const http::Request& r,
                        ClassifyInput::ClaimState claim = ClassifyInput::ClaimState::Pending) {
  ClassifyInput in;
  in.request = &r;
  in.claim = claim;
  return classifyRequest(shipped(), in);
}

TEST(BotLists, ShippedFilesLoad) {
  const BotLists& l = shipped();
  EXPECT_EQ(l.files.size(), 3u);
  EXPECT_GE(l.user_agents.size(), 30u);
  EXPECT_GE(l.good_bots.size(), 5u);
  EXPECT_GE(l.fingerprints.size(), 4u);
}

TEST(BotLists, SqlmapIsScanner) {
  auto c = classify(withUa("sqlmap/1.7.2#stable (https://sqlmap.org)"));
  EXPECT_EQ(c.cls, BotClass::Scanner);
  EXPECT_EQ(c.name, "sqlmap");
  EXPECT_EQ(c.signals.front(), "ua:sqlmap");
}

TEST(BotLists, UaMatchIsCaseInsensitive) {
  EXPECT_EQ(classify(withUa("Mozilla/5.0 (compatible; NIKTO/2.5)")).cls, BotClass::Scanner);
}

TEST(BotLists, CurlIsTool) {
  auto c = classify(recorded("curl.http"));
  EXPECT_EQ(c.cls, BotClass::Tool);
  EXPECT_EQ(c.name, "curl");
}

TEST(BotLists, RealBrowsersAreNone) {
  EXPECT_EQ(classify(recorded("chromium.http")).cls, BotClass::None);
  EXPECT_EQ(classify(recorded("firefox.http")).cls, BotClass::None);
}

TEST(BotLists, CurlWithChromeUaIsInconsistent) {
  // What `curl -A "<Chrome UA>"` sends: curl's headers, Chrome's claim.
  auto r = parse(
      "GET / HTTP/1.1\r\nHost: shop\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) "
      "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\nAccept: */*\r\n\r\n");
  auto c = classify(r);
  EXPECT_EQ(c.cls, BotClass::Inconsistent);
  EXPECT_NE(std::find(c.signals.begin(), c.signals.end(), "ua_browser_without_accept_language"),
            c.signals.end());
}

TEST(BotLists, BrowserUaOverToolTlsIsInconsistent) {
  auto r = recorded("chromium.http");
  ClassifyInput in;
  in.request = &r;
  in.ja3 = "78f0dc5ac5b19daf131a133cfdee9691";  // curl 7.88's hello
  auto c = classifyRequest(shipped(), in);
  EXPECT_EQ(c.cls, BotClass::Inconsistent);
  EXPECT_EQ(c.name, "curl-7.88-openssl");
}

TEST(BotLists, ToolTlsWithoutUaIsTool) {
  auto r = parse("GET / HTTP/1.1\r\nHost: shop\r\n\r\n");
  ClassifyInput in;
  in.request = &r;
  in.ja4 = "t13d1812h1_85036bcba153_d41ae481755e";
  EXPECT_EQ(classifyRequest(shipped(), in).cls, BotClass::Tool);
}

TEST(BotLists, GoodBotClaimFollowsVerification) {
  auto r = withUa("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
  EXPECT_EQ(classify(r, ClassifyInput::ClaimState::Pending).cls, BotClass::UnverifiedGoodClaim);
  EXPECT_EQ(classify(r, ClassifyInput::ClaimState::Verified).cls, BotClass::VerifiedGood);
  auto fake = classify(r, ClassifyInput::ClaimState::Failed);
  EXPECT_EQ(fake.cls, BotClass::FakeGoodBot);
  EXPECT_EQ(fake.name, "googlebot");
  ASSERT_NE(fake.claim, nullptr);
  EXPECT_EQ(fake.claim->domains.front(), "googlebot.com");
}

TEST(BotLists, BehaviourIsTheLastResort) {
  auto r = recorded("firefox.http");
  ClassifyInput in;
  in.request = &r;
  in.behaviour_over = true;
  EXPECT_EQ(classifyRequest(shipped(), in).cls, BotClass::Behaviour);
  auto s = withUa("sqlmap/1.7");
  in.request = &s;
  EXPECT_EQ(classifyRequest(shipped(), in).cls, BotClass::Scanner);
}

// A crawler claim that has no answer (its owner's reverse DNS may time out
// on purpose) does not shield a source over the behaviour thresholds; a
// verified one does.
TEST(BotLists, BehaviourBeatsAnUnansweredCrawlerClaim) {
  auto r = withUa("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
  ClassifyInput in;
  in.request = &r;
  in.behaviour_over = true;
  in.claim = ClassifyInput::ClaimState::Pending;
  EXPECT_EQ(classifyRequest(shipped(), in).cls, BotClass::Behaviour);
  in.claim = ClassifyInput::ClaimState::Verified;
  EXPECT_EQ(classifyRequest(shipped(), in).cls, BotClass::VerifiedGood);
  in.claim = ClassifyInput::ClaimState::Failed;
  EXPECT_EQ(classifyRequest(shipped(), in).cls, BotClass::FakeGoodBot);
}

TEST(BotLists, NameInDomainNeedsALabelBoundary) {
  EXPECT_TRUE(nameInDomain("crawl-66-249-66-1.googlebot.com", "googlebot.com"));
  EXPECT_TRUE(nameInDomain("crawl-66-249-66-1.GoogleBot.com.", "googlebot.com"));
  EXPECT_TRUE(nameInDomain("googlebot.com", "googlebot.com"));
  EXPECT_FALSE(nameInDomain("evilgooglebot.com", "googlebot.com"));
  EXPECT_FALSE(nameInDomain("googlebot.com.evil.net", "googlebot.com"));
  EXPECT_FALSE(nameInDomain("", "googlebot.com"));
}

TEST(BotLists, ErrorsCarryFileLineColumn) {
  BotLists l;
  auto st = parseBotListText("user_agents:\n  - {name: x, class: evil, contains: y}\n", "a.yaml", l);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("a.yaml:2:"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("invalid class 'evil'"), std::string::npos);
  EXPECT_TRUE(l.user_agents.empty());
}

TEST(BotLists, RejectsUnknownKeysBadHashesAndDomains) {
  BotLists l;
  auto st = parseBotListText(
      "user_agent: []\n"
      "fingerprints:\n  - {name: f, class: tool, ja3: nothex}\n"
      "good_bots:\n  - {name: g, contains: g, domains: [com]}\n",
      "b.yaml", l);
  ASSERT_FALSE(st.ok());
  const std::string& m = st.error().message;
  EXPECT_NE(m.find("b.yaml:1:1: unknown key 'user_agent'"), std::string::npos) << m;
  EXPECT_NE(m.find("b.yaml:3:"), std::string::npos) << m;
  EXPECT_NE(m.find("'ja3' must be an MD5"), std::string::npos) << m;
  EXPECT_NE(m.find("invalid domain 'com'"), std::string::npos) << m;
}

TEST(BotLists, RejectsDuplicateNamesAcrossFiles) {
  BotLists l;
  ASSERT_TRUE(parseBotListText("user_agents:\n  - {name: x, class: tool, contains: x}\n", "a.yaml", l).ok());
  auto st = parseBotListText("user_agents:\n  - {name: x, class: tool, contains: z}\n", "b.yaml", l);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("b.yaml:2:5: duplicate user_agents name 'x' (first at a.yaml:2:5)"),
            std::string::npos)
      << st.error().message;
  EXPECT_EQ(l.user_agents.size(), 1u);  // unchanged by the refused file
}

TEST(BotLists, RejectsBrokenYaml) {
  BotLists l;
  auto st = parseBotListText("user_agents: [\n", "c.yaml", l);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message.rfind("c.yaml:", 0), 0u);
}

TEST(BotLists, DirectoryErrors) {
  EXPECT_EQ(loadBotListsDirectory("/nonexistent-mamori-bots").error().code, ENOENT);
  const auto dir = std::filesystem::temp_directory_path() / "mamori_bot_lists_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  EXPECT_EQ(loadBotListsDirectory(dir.string()).error().code, ENOENT);  // no *.yaml
  std::ofstream(dir / "a.yaml") << "user_agents:\n  - {name: x, class: tool}\n";
  auto l = loadBotListsDirectory(dir.string());
  ASSERT_FALSE(l.ok());
  EXPECT_NE(l.error().message.find("a.yaml:2:5: missing required key 'contains'"), std::string::npos)
      << l.error().message;
  std::filesystem::remove_all(dir);
}

TEST(BotLists, ClassAndActionNamesRoundTrip) {
  for (std::size_t i = 0; i < kBotClassCount; ++i) {
    auto c = static_cast<BotClass>(i);
    EXPECT_EQ(parseBotClass(botClassName(c)), c);
  }
  for (std::size_t i = 0; i < kBotActionCount; ++i) {
    auto a = static_cast<BotAction>(i);
    EXPECT_EQ(parseBotAction(botActionName(a)), a);
  }
  EXPECT_FALSE(parseBotClass("robot"));
  EXPECT_FALSE(parseBotAction("drop"));
}

}  // namespace
}  // namespace mamori::guard
