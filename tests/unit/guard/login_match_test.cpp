#include "guard/login_match.h"

#include <gtest/gtest.h>

#include <string>

namespace mamori::guard {
namespace {

http::Request post(std::string path, std::string content_type, std::string body) {
  http::Request r;
  r.method = http::Method::Post;
  r.method_name = "POST";
  r.target = r.path = r.decoded_path = std::move(path);
  r.headers = {{"Host", "shop.example"}};
  if (!content_type.empty()) r.headers.push_back({"Content-Type", std::move(content_type)});
  r.body = std::move(body);
  return r;
}

TEST(GlobMatch, StarsAndQuestionMarks) {
  EXPECT_TRUE(globMatch("/api/*/login", "/api/v1/login"));
  EXPECT_TRUE(globMatch("/api/*/login", "/api/v1/x/login"));  // '*' crosses '/'
  EXPECT_FALSE(globMatch("/api/*/login", "/api/v1/logout"));
  EXPECT_TRUE(globMatch("/u?er", "/user"));
  EXPECT_FALSE(globMatch("/u?er", "/uer"));
  EXPECT_TRUE(globMatch("*", ""));
  EXPECT_TRUE(globMatch("/a*b*c", "/aXXbYYc"));
  EXPECT_FALSE(globMatch("/a*b*c", "/aXXbYY"));
  EXPECT_FALSE(globMatch("", "/x"));
}

TEST(GlobMatch, ManyStarsOnALongPathStayFast) {
  const std::string path(8000, 'a');
  EXPECT_FALSE(globMatch("*a*a*a*a*a*a*a*a*b", path));
}

TEST(PathMatches, ExactPrefixGlob) {
  EXPECT_TRUE(pathMatches(PathMatch::Exact, "/login", "/login"));
  EXPECT_FALSE(pathMatches(PathMatch::Exact, "/login", "/login/"));
  EXPECT_TRUE(pathMatches(PathMatch::Prefix, "/auth/", "/auth/token"));
  EXPECT_FALSE(pathMatches(PathMatch::Prefix, "/auth/", "/aut"));
  EXPECT_TRUE(pathMatches(PathMatch::Glob, "/*/login", "/shop/login"));
}

TEST(MatchRoute, NeedsMethodAndDecodedPath) {
  std::vector<LoginRoute> routes = {presetRoute(Preset::WordPress),
                                    presetRoute(Preset::JsonApiOkFalse, "/api/login")};
  http::Request r = post("/wp-login.php", "", "");
  EXPECT_EQ(matchRoute(routes, r), 0u);
  r.path = "/wp-login%2ephp";  // decoded_path stays what the upstream sees
  EXPECT_EQ(matchRoute(routes, r), 0u);
  r.method_name = "GET";
  EXPECT_FALSE(matchRoute(routes, r).has_value());
  EXPECT_EQ(matchRoute(routes, post("/api/login", "", "")), 1u);
  EXPECT_FALSE(matchRoute(routes, post("/api/login2", "", "")).has_value());
}

TEST(ExtractUsername, FormFieldNormalised) {
  LoginRoute wp = presetRoute(Preset::WordPress);
  auto r = post("/wp-login.php", "application/x-www-form-urlencoded",
                "log=+Admin%40Example.com+&pwd=hunter2&wp-submit=Log+In");
  EXPECT_EQ(extractUsername(wp, r, true), "admin@example.com");
  EXPECT_EQ(extractUsername(wp, r, false), "Admin@Example.com");
}

TEST(ExtractUsername, MultipartFormField) {
  LoginRoute route = presetRoute(Preset::GenericForm401);
  auto r = post("/login", "multipart/form-data; boundary=XyZ",
                "--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\ncarol\r\n"
                "--XyZ\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\npw\r\n--XyZ--\r\n");
  EXPECT_EQ(extractUsername(route, r, true), "carol");
}

TEST(ExtractUsername, MissingOrEmptyFieldIsNone) {
  LoginRoute wp = presetRoute(Preset::WordPress);
  EXPECT_FALSE(extractUsername(wp, post("/wp-login.php", "application/x-www-form-urlencoded",
                                        "pwd=x"), true));
  EXPECT_FALSE(extractUsername(wp, post("/wp-login.php", "application/x-www-form-urlencoded",
                                        "log=++&pwd=x"), true));
  // A JSON body where a form is expected is not read.
  EXPECT_FALSE(extractUsername(wp, post("/wp-login.php", "application/json", "{\"log\":\"a\"}"),
                               true));
}

TEST(ExtractUsername, JsonPointer) {
  LoginRoute route = presetRoute(Preset::JsonApiOkFalse, "/api/login", "/user/email");
  auto r = post("/api/login", "application/json",
                R"({"user":{"email":"Bob@Example.com"},"password":"x"})");
  EXPECT_EQ(extractUsername(route, r, true), "bob@example.com");
  auto bad = post("/api/login", "application/json", R"({"user":{"email":)");
  EXPECT_FALSE(extractUsername(route, bad, true));
}

TEST(ExtractUsername, UsesAnAlreadyParsedBody) {
  LoginRoute route = presetRoute(Preset::JsonApiOkFalse);
  auto r = post("/login", "application/json", "{}");
  http::ParsedBody parsed = http::parseBody("application/json", R"({"username":"dave"})");
  EXPECT_EQ(extractUsername(route, r, true, &parsed), "dave");
}

TEST(ExtractUsername, BasicAuthUserOnly) {
  LoginRoute route = presetRoute(Preset::GenericForm401);
  route.username_source = UsernameSource::BasicAuth;
  auto r = post("/login", "", "");
  r.headers.push_back({"Authorization", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="});  // Aladdin:open sesame
  EXPECT_EQ(extractUsername(route, r, false), "Aladdin");
  r.headers.back().value = "basic   QWxhZGRpbjpvcGVuIHNlc2FtZQ";  // scheme is case-insensitive
  EXPECT_EQ(extractUsername(route, r, true), "aladdin");
  r.headers.back().value = "Basic QWxhZGRpbg==";  // no ':'
  EXPECT_FALSE(extractUsername(route, r, true));
  r.headers.back().value = "Basic !!!";
  EXPECT_FALSE(extractUsername(route, r, true));
  r.headers.back().value = "Bearer abc";
  EXPECT_FALSE(extractUsername(route, r, true));
}

TEST(JsonFieldMatchesPointer, ObjectsArraysAndEscapes) {
  EXPECT_TRUE(jsonFieldMatchesPointer("ok", "/ok"));
  EXPECT_TRUE(jsonFieldMatchesPointer("user.email", "/user/email"));
  EXPECT_TRUE(jsonFieldMatchesPointer("items[2].id", "/items/2/id"));
  EXPECT_TRUE(jsonFieldMatchesPointer("[0].x", "/0/x"));
  EXPECT_TRUE(jsonFieldMatchesPointer("m.2", "/m/2"));  // member named "2"
  EXPECT_TRUE(jsonFieldMatchesPointer("a/b", "/a~1b"));
  EXPECT_TRUE(jsonFieldMatchesPointer("a~b", "/a~0b"));
  EXPECT_FALSE(jsonFieldMatchesPointer("user.emails", "/user/email"));
  EXPECT_FALSE(jsonFieldMatchesPointer("user", "/user/email"));
  EXPECT_FALSE(jsonFieldMatchesPointer("ok", "ok"));
  EXPECT_FALSE(jsonFieldMatchesPointer("a", "/a~2"));
}

std::vector<http::Header> hdrs(std::initializer_list<http::Header> list) { return list; }

TEST(ClassifyResponse, WordPressPreset) {
  LoginRoute wp = presetRoute(Preset::WordPress);
  const std::string form_again =
      "<!DOCTYPE html><html><body class=\"login\"><div id=\"login_error\"><strong>Error:"
      "</strong> The password you entered for the username <strong>admin</strong> is "
      "incorrect.</div><form name=\"loginform\" id=\"loginform\" action=\"/wp-login.php\" "
      "method=\"post\"></form></body></html>";
  EXPECT_EQ(classifyResponse(wp, 200, hdrs({{"Content-Type", "text/html; charset=UTF-8"}}),
                             form_again),
            Outcome::Failed);
  EXPECT_EQ(classifyResponse(
                wp, 302,
                hdrs({{"Set-Cookie", "wordpress_test_cookie=WP%20Cookie%20check; path=/"},
                      {"Set-Cookie", "wordpress_logged_in_3f1a=admin%7C1700000000; path=/"},
                      {"Location", "https://blog.example/wp-admin/"}}),
                ""),
            Outcome::Succeeded);
  // redirect_to elsewhere: the logged-in cookie still tells.
  EXPECT_EQ(classifyResponse(wp, 302,
                             hdrs({{"Set-Cookie", "wordpress_logged_in_3f1a=x; path=/"},
                                   {"Location", "https://blog.example/shop/"}}),
                             ""),
            Outcome::Succeeded);
  // A redirect without the cookie and not to wp-admin (e.g. to the login page) says nothing.
  EXPECT_EQ(classifyResponse(wp, 302, hdrs({{"Location", "/wp-login.php?loggedout=true"}}), ""),
            Outcome::Unknown);
}

TEST(ClassifyResponse, GenericForm401Preset) {
  LoginRoute route = presetRoute(Preset::GenericForm401);
  EXPECT_EQ(classifyResponse(route, 401, hdrs({{"WWW-Authenticate", "Basic realm=x"}}), ""),
            Outcome::Failed);
  EXPECT_EQ(classifyResponse(route, 403, {}, "Forbidden"), Outcome::Failed);
  EXPECT_EQ(classifyResponse(route, 303, hdrs({{"Location", "/home"}}), ""), Outcome::Succeeded);
  EXPECT_EQ(classifyResponse(route, 500, {}, "oops"), Outcome::Unknown);
}

TEST(ClassifyResponse, JsonApiPreset) {
  LoginRoute route = presetRoute(Preset::JsonApiOkFalse);
  EXPECT_EQ(classifyResponse(route, 200, hdrs({{"Content-Type", "application/json"}}),
                             R"({"ok":false,"error":"invalid credentials"})"),
            Outcome::Failed);
  EXPECT_EQ(classifyResponse(route, 200, {}, R"({"ok": true, "token": "abc"})"),
            Outcome::Succeeded);
  EXPECT_EQ(classifyResponse(route, 200, {}, R"({"ok":"false"})"), Outcome::Failed);
  EXPECT_EQ(classifyResponse(route, 502, {}, "<html>bad gateway</html>"), Outcome::Unknown);
  EXPECT_EQ(classifyResponse(route, 200, {}, R"({"result":{"ok":false}})"), Outcome::Unknown);
}

TEST(ClassifyResponse, RulesAreConjunctions) {
  LoginRoute route = presetRoute(Preset::GenericForm401);
  OutcomeRule rule;
  rule.statuses = {200};
  rule.body_contains = "Invalid password";
  rule.header = HeaderTest{"x-login", "fail"};
  route.failure = {rule};
  route.success.clear();
  EXPECT_EQ(classifyResponse(route, 200, hdrs({{"X-Login", "failed"}}), "<p>Invalid password</p>"),
            Outcome::Failed);
  EXPECT_EQ(classifyResponse(route, 200, hdrs({{"X-Login", "ok"}}), "<p>Invalid password</p>"),
            Outcome::Unknown);
  EXPECT_EQ(classifyResponse(route, 401, hdrs({{"X-Login", "failed"}}), "Invalid password"),
            Outcome::Unknown);
}

TEST(ClassifyResponse, LocationPrefix) {
  LoginRoute route = presetRoute(Preset::GenericForm401);
  OutcomeRule fail;
  fail.location_prefix = "/login?error";
  route.failure = {fail};
  EXPECT_EQ(classifyResponse(route, 302, hdrs({{"Location", "/login?error=1"}}), ""),
            Outcome::Failed);
  EXPECT_EQ(classifyResponse(route, 302, hdrs({{"Location", "/x/login?error=1"}}), ""),
            Outcome::Succeeded);
  EXPECT_EQ(classifyResponse(route, 401, {}, ""), Outcome::Unknown);  // no Location
}

TEST(ClassifyResponse, OnlyTheFirst64KiBOfTheBodyAreRead) {
  LoginRoute route = presetRoute(Preset::GenericForm401);
  OutcomeRule fail;
  fail.body_contains = "LOGIN FAILED";
  route.failure = {fail};
  route.success.clear();
  std::string body(kBodyPrefixBytes - 5, ' ');
  body += "LOGIN FAILED";  // straddles the cut
  EXPECT_EQ(classifyResponse(route, 200, {}, body), Outcome::Unknown);
  EXPECT_EQ(classifyResponse(route, 200, {}, std::string(1000, ' ') + "LOGIN FAILED"),
            Outcome::Failed);
}

}  // namespace
}  // namespace mamori::guard
