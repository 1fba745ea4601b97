// SniMap: which certificate a TLS listener serves for an SNI name.

#include "net/sni_map.h"

#include <gtest/gtest.h>

namespace mamori::net {
namespace {

TEST(SniMap, ExactNameBeatsWildcard) {
  SniMap m;
  m.add(0, {"*.example.com"}, {});
  m.add(1, {"shop.example.com"}, {});
  EXPECT_EQ(m.pick("shop.example.com"), 1u);
  EXPECT_EQ(m.pick("blog.example.com"), 0u);
}

TEST(SniMap, WildcardCoversOneOrMoreLabelsButNotTheApex) {
  SniMap m;
  m.add(0, {"default.test"}, {});
  m.add(1, {"*.example.com"}, {});
  EXPECT_EQ(m.pick("a.example.com"), 1u);
  EXPECT_EQ(m.pick("a.b.example.com"), 1u);
  EXPECT_EQ(m.pick("example.com"), 0u);  // the apex is not under "*.example.com"
}

TEST(SniMap, LongerWildcardWins) {
  SniMap m;
  m.add(0, {"*.example.com"}, {});
  m.add(1, {"*.eu.example.com"}, {});
  EXPECT_EQ(m.pick("shop.eu.example.com"), 1u);
  EXPECT_EQ(m.pick("shop.us.example.com"), 0u);
}

TEST(SniMap, FallbackCertificateServesItsSiteHosts) {
  SniMap m;
  m.add(0, {"a.test"}, {"a.test"});
  m.add(1, {}, {"b.test", "*.b.test"});  // site b's fallback certificate
  EXPECT_EQ(m.pick("b.test"), 1u);
  EXPECT_EQ(m.pick("www.b.test"), 1u);
  EXPECT_EQ(m.pick("a.test"), 0u);
}

TEST(SniMap, CertificateHostBeatsSiteFallback) {
  SniMap m;
  m.add(0, {}, {"*.example.com"});
  m.add(1, {"api.example.com"}, {"*.example.com"});
  EXPECT_EQ(m.pick("api.example.com"), 1u);
  EXPECT_EQ(m.pick("www.example.com"), 0u);
}

TEST(SniMap, SiteFallbackBeatsCatchAllCertificate) {
  SniMap m;
  m.add(0, {"*"}, {});
  m.add(1, {}, {"b.test"});
  EXPECT_EQ(m.pick("b.test"), 1u);
  EXPECT_EQ(m.pick("other.test"), 0u);
}

TEST(SniMap, UnknownOrMissingSniGetsTheDefault) {
  SniMap m;
  m.add(7, {"a.test"}, {});
  m.add(8, {"b.test"}, {});
  EXPECT_EQ(m.pick("unknown.test"), 7u);
  EXPECT_EQ(m.pick(""), 7u);
}

TEST(SniMap, ExplicitDefault) {
  SniMap m;
  m.add(0, {"a.test"}, {});
  m.add(1, {"b.test"}, {}, /*is_default=*/true);
  EXPECT_EQ(m.pick("unknown.test"), 1u);
  EXPECT_EQ(m.pick("a.test"), 0u);
}

TEST(SniMap, CaseAndTrailingDotIgnored) {
  SniMap m;
  m.add(0, {"x.test"}, {});
  m.add(1, {"Shop.Example.com"}, {});
  EXPECT_EQ(m.pick("SHOP.example.COM."), 1u);
  EXPECT_EQ(SniMap::normalise("A.B."), "a.b");
}

TEST(SniMap, EqualMatchesKeepConfigOrder) {
  SniMap m;
  m.add(0, {"*.example.com"}, {});
  m.add(1, {"*.example.com"}, {});
  EXPECT_EQ(m.pick("a.example.com"), 0u);
}

}  // namespace
}  // namespace mamori::net
