#include "logs/json.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"

namespace mamori::logs {
namespace {

std::string encodeString(std::string_view in) {
  std::string out;
  appendJsonString(&out, in);
  return out;
}

LogRecord fullRecord() {
  LogRecord r;
  r.type = LogType::Event;
  r.time = testing::at("2026-05-01T12:34:56.789Z");
  r.category = "web";
  r.event_type = "denied";
  r.action = "block";
  r.outcome = "success";
  r.source_ip = "203.0.113.7";
  r.source_port = 51234;
  r.destination_ip = "192.0.2.1";
  r.destination_port = 443;
  r.url_path = "/login";
  r.url_query = "user=admin'--";
  r.url_original = "/login?user=admin'--";
  r.http_method = "POST";
  r.http_status = 403;
  r.request_id = "req-42";
  r.user_agent = "curl/7.88";
  r.rule_id = "942100";
  r.rule_name = "SQL injection";
  r.rule_category = "sqli";
  r.tls_ja3 = "ja3hash";
  r.tls_ja4 = "t13d1516h2_8daaf6152771_b186095e22b6";
  r.tenant = "acme";
  r.site = "shop";
  r.labels = {{"env", "prod"}};
  r.message = "SQL injection blocked";
  r.details = {{"score", Value::integer(7)}, {"paranoia", Value::unsignedInt(2)}};
  return r;
}

TEST(Json, EscapesQuotesBackslashAndControls) {
  EXPECT_EQ(encodeString("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(encodeString("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(encodeString(std::string("\x01\x1f\x7f", 3)), R"("\u0001\u001f\u007f")");
  EXPECT_EQ(encodeString(std::string("a\0b", 3)), R"("a\u0000b")");
}

TEST(Json, PassesValidUtf8Through) {
  EXPECT_EQ(encodeString("é€😀"), "\"é€😀\"");
}

TEST(Json, ReplacesInvalidUtf8WithReplacementCharacter) {
  EXPECT_EQ(encodeString("\xff"), R"("\ufffd")");
  EXPECT_EQ(encodeString("a\x80z"), R"("a\ufffdz")");                 // stray continuation byte
  EXPECT_EQ(encodeString("\xc0\xaf"), R"("\ufffd\ufffd")");           // overlong '/'
  EXPECT_EQ(encodeString("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")"); // UTF-16 surrogate
  EXPECT_EQ(encodeString("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
  EXPECT_EQ(encodeString("x\xe2\x82"), R"("x\ufffd\ufffd")");         // truncated at the end
}

TEST(Json, EveryByteValueRoundTripsThroughTheReader) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  std::string line = "{\"v\":" + encodeString(all) + "}";
  auto rec = parseFlatJson(line);
  ASSERT_TRUE(rec.ok());
  std::string v(rec->get("v"));
  EXPECT_EQ(v.substr(0, 128), all.substr(0, 128));  // ASCII comes back unchanged
  EXPECT_EQ(v.substr(128), [] {
    std::string s;
    for (int i = 128; i < 256; ++i) s += "\xef\xbf\xbd";  // each invalid byte → U+FFFD
    return s;
  }());
}

TEST(Json, WritesEcsFieldNames) {
  auto line = encodeRecord(fullRecord(), TimeZone());
  ASSERT_EQ(line.back(), '\n');
  ASSERT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  auto rec = parseFlatJson(std::string_view(line).substr(0, line.size() - 1));
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->get("@timestamp"), "2026-05-01T12:34:56.789Z");
  EXPECT_EQ(rec->get("event.kind"), "alert");
  EXPECT_EQ(rec->get("event.category"), "web");
  EXPECT_EQ(rec->get("event.type"), "denied");
  EXPECT_EQ(rec->get("event.action"), "block");
  EXPECT_EQ(rec->get("event.outcome"), "success");
  EXPECT_EQ(rec->get("event.dataset"), "mamori.event");
  EXPECT_EQ(rec->get("source.ip"), "203.0.113.7");
  EXPECT_EQ(rec->get("source.port"), "51234");
  EXPECT_EQ(rec->get("destination.ip"), "192.0.2.1");
  EXPECT_EQ(rec->get("destination.port"), "443");
  EXPECT_EQ(rec->get("url.path"), "/login");
  EXPECT_EQ(rec->get("url.query"), "user=admin'--");
  EXPECT_EQ(rec->get("url.original"), "/login?user=admin'--");
  EXPECT_EQ(rec->get("http.request.method"), "POST");
  EXPECT_EQ(rec->get("http.request.id"), "req-42");
  EXPECT_EQ(rec->get("http.response.status_code"), "403");
  EXPECT_EQ(rec->get("user_agent.original"), "curl/7.88");
  EXPECT_EQ(rec->get("rule.id"), "942100");
  EXPECT_EQ(rec->get("rule.name"), "SQL injection");
  EXPECT_EQ(rec->get("rule.category"), "sqli");
  EXPECT_EQ(rec->get("tls.client.ja3"), "ja3hash");
  EXPECT_EQ(rec->get("tls.client.ja4"), "t13d1516h2_8daaf6152771_b186095e22b6");
  EXPECT_EQ(rec->get("tenant"), "acme");
  EXPECT_EQ(rec->get("site"), "shop");
  EXPECT_EQ(rec->get("labels.env"), "prod");
  EXPECT_EQ(rec->get("message"), "SQL injection blocked");
  EXPECT_EQ(rec->get("mamori.score"), "7");
  EXPECT_EQ(rec->get("mamori.paranoia"), "2");
}

TEST(Json, LeavesOutEmptyFieldsAndDerivesDataset) {
  LogRecord r;
  r.type = LogType::Audit;
  r.time = testing::at("2026-05-01T00:00:00Z");
  r.tenant = "acme";
  r.action = "rules.reload";
  r.details = {{"user", Value::string("alice")},
               {"before", Value::objectOf({{"version", Value::integer(3)}})},
               {"ok", Value::boolean(true)},
               {"ratio", Value::number(0.5)},
               {"nan", Value::number(std::nan(""))},
               {"none", Value::null()}};
  auto line = encodeRecord(r, TimeZone());
  EXPECT_EQ(line,
            R"({"@timestamp":"2026-05-01T00:00:00.000Z","event":{"kind":"event","action":"rules.reload",)"
            R"("dataset":"mamori.audit"},"tenant":"acme","mamori":{"user":"alice","before":{"version":3},)"
            R"("ok":true,"ratio":0.5,"nan":null,"none":null}})"
            "\n");
}

TEST(Json, EscapesHostileValuesInEveryField) {
  LogRecord r = fullRecord();
  r.user_agent = "evil\"},\"rule\":{\"id\":\"0\"}\n{\"x\":\"";
  r.url_path = "/\xff\xfe";
  r.labels = {{"k\"ey", "v\nal"}};
  auto line = encodeRecord(r, TimeZone());
  ASSERT_EQ(std::count(line.begin(), line.end(), '\n'), 1);  // no line injection
  auto rec = parseFlatJson(std::string_view(line).substr(0, line.size() - 1));
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->get("user_agent.original"), r.user_agent);
  EXPECT_EQ(rec->get("rule.id"), "942100");
  EXPECT_EQ(rec->get("url.path"), "/\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(rec->get("labels.k\"ey"), "v\nal");
}

TEST(Json, ReaderRejectsTornAndMalformedLines) {
  std::string line = encodeRecord(fullRecord(), TimeZone());
  line.pop_back();
  ASSERT_TRUE(parseFlatJson(line).ok());
  for (size_t cut : {size_t{1}, line.size() / 2, line.size() - 1}) {
    EXPECT_FALSE(parseFlatJson(line.substr(0, cut)).ok()) << cut;
  }
  EXPECT_FALSE(parseFlatJson("").ok());
  EXPECT_FALSE(parseFlatJson("[1]").ok());
  EXPECT_FALSE(parseFlatJson(R"({"a":1} x)").ok());
  EXPECT_FALSE(parseFlatJson(R"({"a":"\x"})").ok());
  EXPECT_FALSE(parseFlatJson(R"({"a":"\ud800"})").ok());
  EXPECT_FALSE(parseFlatJson(R"({"a":01})").ok());
  EXPECT_FALSE(parseFlatJson("{\"a\":\"\x01\"}").ok());
  EXPECT_FALSE(parseFlatJson(std::string(100, '{')).ok());
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "{\"a\":";
  deep += "1" + std::string(40, '}');
  EXPECT_FALSE(parseFlatJson(deep).ok());
}

TEST(Json, ReaderFlattensArraysAndDecodesSurrogatePairs) {
  auto rec = parseFlatJson(R"({"a":[1,{"b":"\ud83d\ude00"}],"n":null,"t":true,"e":-1.5e3})");
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->get("a.0"), "1");
  EXPECT_EQ(rec->get("a.1.b"), "😀");
  EXPECT_TRUE(rec->has("n"));
  EXPECT_EQ(rec->get("n"), "");
  EXPECT_EQ(rec->get("t"), "true");
  EXPECT_EQ(rec->get("e"), "-1.5e3");
}

}  // namespace
}  // namespace mamori::logs
