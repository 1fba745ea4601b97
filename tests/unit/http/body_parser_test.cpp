#include "http/body_parser.h"

#include <gtest/gtest.h>

#include <chrono>
#include <ostream>
#include <string>
#include <vector>

namespace mamori::http {

// Readable failure output for field lists.
void PrintTo(const BodyField& f, std::ostream* os) {
  *os << "{" << ::testing::PrintToString(f.name) << ", " << ::testing::PrintToString(f.value);
  if (f.is_file) *os << ", file " << ::testing::PrintToString(f.filename);
  *os << "}";
}

namespace {

using namespace std::string_literals;

BodyField F(std::string name, std::string value) {
  BodyField f;
  f.name = std::move(name);
  f.value = std::move(value);
  return f;
}

BodyField File(std::string name, std::string filename, std::string value) {
  BodyField f = F(std::move(name), std::move(value));
  f.filename = std::move(filename);
  f.is_file = true;
  return f;
}

// One table row: a body, the fields expected (also on error: what was
// parsed before it) and the error expected.
struct Case {
  const char* label;
  std::string body;
  std::vector<BodyField> fields;
  BodyError error = BodyError::None;
};

void runCases(std::string_view content_type, const std::vector<Case>& cases,
              const BodyLimits& limits = {}) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    ParsedBody got = parseBody(content_type, c.body, limits);
    EXPECT_EQ(got.kind, bodyKindFromContentType(content_type));
    EXPECT_EQ(bodyErrorName(got.error), std::string(bodyErrorName(c.error)))
        << "detail: " << got.error_detail;
    EXPECT_EQ(got.fields, c.fields);
    // A reason is given exactly when there is an error.
    EXPECT_EQ(got.error_detail.empty(), got.error == BodyError::None) << got.error_detail;
  }
}

// ---------------------------------------------------------------- kinds

TEST(BodyParser, KindFromContentType) {
  struct Row {
    const char* content_type;
    BodyKind kind;
  };
  const Row rows[] = {
      {"application/x-www-form-urlencoded", BodyKind::UrlEncoded},
      {"Application/X-WWW-Form-URLEncoded; charset=UTF-8", BodyKind::UrlEncoded},
      {"application/json", BodyKind::Json},
      {" application/json ;charset=utf-8", BodyKind::Json},
      {"application/vnd.api+json", BodyKind::Json},
      {"application/problem+JSON", BodyKind::Json},
      {"multipart/form-data; boundary=x", BodyKind::Multipart},
      {"MULTIPART/FORM-DATA", BodyKind::Multipart},
      {"application/xml", BodyKind::Xml},
      {"text/xml; charset=iso-8859-1", BodyKind::Xml},
      {"application/soap+xml", BodyKind::Xml},
      {"text/plain", BodyKind::Other},
      {"application/octet-stream", BodyKind::Binary},
      {"Image/PNG", BodyKind::Binary},
      {"application/zip", BodyKind::Binary},
      {"video/mp4; codecs=avc1", BodyKind::Binary},
      {"multipart/mixed; boundary=x", BodyKind::Other},
      {"application/jsonx", BodyKind::Other},
      {"application/json x", BodyKind::Other},
      {"json", BodyKind::Other},
      {"/json", BodyKind::Other},
      {"", BodyKind::Other},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(bodyKindFromContentType(row.content_type), row.kind) << row.content_type;
  }
}

TEST(BodyParser, EmptyBodyIsNoneWhateverTheType) {
  for (const char* ct : {"application/json", "application/xml", "multipart/form-data", ""}) {
    ParsedBody got = parseBody(ct, "");
    EXPECT_EQ(got.kind, BodyKind::None) << ct;
    EXPECT_EQ(got.error, BodyError::None) << ct;
    EXPECT_TRUE(got.fields.empty()) << ct;
  }
}

TEST(BodyParser, OtherTypeGivesNoFieldsAndNoError) {
  ParsedBody got = parseBody("text/plain", "a=1&b=2");
  EXPECT_EQ(got.kind, BodyKind::Other);
  EXPECT_EQ(got.error, BodyError::None);
  EXPECT_TRUE(got.fields.empty());
}

TEST(BodyParser, ErrorNamesAreStable) {
  EXPECT_STREQ(bodyErrorName(BodyError::None), "none");
  EXPECT_STREQ(bodyErrorName(BodyError::Malformed), "malformed");
  EXPECT_STREQ(bodyErrorName(BodyError::TooDeep), "too_deep");
  EXPECT_STREQ(bodyErrorName(BodyError::TooManyFields), "too_many_fields");
  EXPECT_STREQ(bodyErrorName(BodyError::FieldTooLarge), "field_too_large");
  EXPECT_STREQ(bodyErrorName(BodyError::MissingBoundary), "missing_boundary");
  EXPECT_STREQ(bodyErrorName(BodyError::Truncated), "truncated");
  EXPECT_STREQ(bodyErrorName(static_cast<BodyError>(200)), "unknown");
}

// ----------------------------------------------------------- urlencoded

constexpr const char* kForm = "application/x-www-form-urlencoded";

TEST(BodyParser, UrlEncodedTable) {
  runCases(
      kForm,
      {
          {"simple", "a=1&b=2", {F("a", "1"), F("b", "2")}},
          {"repeats kept in order", "a=1&b=2&a=3", {F("a", "1"), F("b", "2"), F("a", "3")}},
          {"plus and percent", "first+name=J%C3%B6rg+%2B1", {F("first name", "J\xC3\xB6rg +1")}},
          {"semicolon is not a separator", "a=1;b=2", {F("a", "1;b=2")}},
          {"name without '='", "flag&b=", {F("flag", ""), F("b", "")}},
          {"empty pieces skipped", "&&a=1&&", {F("a", "1")}},
          {"empty name", "=x", {F("", "x")}},
          {"second '=' is value", "a=b=c", {F("a", "b=c")}},
          {"NUL byte decoded", "a=%00", {F("a", "\0"s)}},
          {"bad escape keeps all fields",
           "a=%zz&b=1",
           {F("a", "%zz"), F("b", "1")},
           BodyError::Malformed},
          {"escape cut at end", "a=1&b=%4", {F("a", "1"), F("b", "%4")}, BodyError::Malformed},
          {"bad escape in name", "%g1=x", {F("%g1", "x")}, BodyError::Malformed},
      });
}

TEST(BodyParser, UrlEncodedMalformedDetailNamesFirstBadOffset) {
  ParsedBody got = parseBody(kForm, "a=1&bb=x%2");
  EXPECT_EQ(got.error, BodyError::Malformed);
  EXPECT_NE(got.error_detail.find("at 8"), std::string::npos) << got.error_detail;
}

TEST(BodyParser, UrlEncodedLimits) {
  BodyLimits limits;
  limits.max_fields = 2;
  limits.max_field_bytes = 4;
  runCases(kForm,
           {
               {"count", "a=1&b=2&c=3", {F("a", "1"), F("b", "2")}, BodyError::TooManyFields},
               {"value size", "a=1&b=12345", {F("a", "1")}, BodyError::FieldTooLarge},
               {"decoded size counts", "a=%41%41%41%41", {F("a", "AAAA")}},
               {"name size", "abcde=1", {}, BodyError::FieldTooLarge},
           },
           limits);
}

// ----------------------------------------------------------------- JSON

constexpr const char* kJson = "application/json";

TEST(BodyParser, JsonStructureTable) {
  runCases(
      kJson,
      {
          {"nested object",
           R"({"user":{"name":"bob","age":30}})",
           {F("user.name", "bob"), F("user.age", "30")}},
          {"array of objects",
           R"({"items":[{"id":1},{"id":2},{"id":3}]})",
           {F("items[0].id", "1"), F("items[1].id", "2"), F("items[2].id", "3")}},
          {"top-level string", R"("hi")", {F("", "hi")}},
          {"top-level number", " 42 ", {F("", "42")}},
          {"top-level array", "[1,[2,3]]", {F("[0]", "1"), F("[1][0]", "2"), F("[1][1]", "3")}},
          {"object in top-level array", R"([{"a":true}])", {F("[0].a", "true")}},
          {"literals as text",
           R"({"t":true,"f":false,"n":null})",
           {F("t", "true"), F("f", "false"), F("n", "null")}},
          {"numbers as written",
           "[-0.5e-2,1E+3,0,-0]",
           {F("[0]", "-0.5e-2"), F("[1]", "1E+3"), F("[2]", "0"), F("[3]", "-0")}},
          {"duplicate keys both kept", R"({"a":1,"a":2})", {F("a", "1"), F("a", "2")}},
          // An empty member or element is still a field: its key is client
          // input (unsplit_body leaves a clean JSON body to its fields).
          {"empty containers",
           R"({"a":{},"b":[],"c":1})",
           {F("a", "{}"), F("b", "[]"), F("c", "1")}},
          {"empty container in array", "[[],{}]", {F("[0]", "[]"), F("[1]", "{}")}},
          {"empty top-level object", "{}", {}},
          {"empty top-level array", " [ ] ", {}},
          {"empty key", R"({"":{"x":1}})", {F(".x", "1")}},
          {"whitespace everywhere",
           " {\t\"a\" :\r\n[ 1 , 2 ] } ",
           {F("a[0]", "1"), F("a[1]", "2")}},
          {"BOM skipped", "\xEF\xBB\xBF{\"a\":1}", {F("a", "1")}},
      });
}

TEST(BodyParser, JsonStringEscapesTable) {
  runCases(kJson,
           {
               {"simple escapes", R"(["\"\\\/\b\f\n\r\t"])", {F("[0]", "\"\\/\b\f\n\r\t")}},
               {"BMP escape", R"(["caf\u00e9 \u20AC"])", {F("[0]", "caf\xC3\xA9 \xE2\x82\xAC")}},
               {"surrogate pair", R"(["\ud83d\ude00"])", {F("[0]", "\xF0\x9F\x98\x80")}},
               {"escaped NUL", R"(["a\u0000b"])", {F("[0]", "a\0b"s)}},
               {"raw UTF-8 passes", "[\"\xC3\xA9\"]", {F("[0]", "\xC3\xA9")}},
               {"escaped key", R"({"us\u0065r":1})", {F("user", "1")}},
               {"lone high surrogate", R"(["\ud83d"])", {}, BodyError::Malformed},
               {"high then letter", R"(["\ud83dx"])", {}, BodyError::Malformed},
               {"high then non-low", R"(["\ud83d\u0041"])", {}, BodyError::Malformed},
               {"lone low surrogate", R"(["\ude00"])", {}, BodyError::Malformed},
               {"bad hex", R"(["\u12g4"])", {}, BodyError::Malformed},
               {"unknown escape", R"(["\x41"])", {}, BodyError::Malformed},
               {"raw control byte", "[\"a\nb\"]", {}, BodyError::Malformed},
               {"unterminated", R"(["abc)", {}, BodyError::Truncated},
               {"cut in escape", R"(["\u12)", {}, BodyError::Truncated},
               {"cut after high surrogate", R"(["\ud83d\)", {}, BodyError::Truncated},
           });
}

TEST(BodyParser, JsonSyntaxErrorsTable) {
  runCases(kJson,
           {
               {"trailing garbage", R"({"a":1} x)", {F("a", "1")}, BodyError::Malformed},
               {"two documents", "{}{}", {}, BodyError::Malformed},
               {"trailing comma in array", "[1,]", {F("[0]", "1")}, BodyError::Malformed},
               {"trailing comma in object", R"({"a":1,})", {F("a", "1")}, BodyError::Malformed},
               {"single quotes", "['a']", {}, BodyError::Malformed},
               {"unquoted key", "{a:1}", {}, BodyError::Malformed},
               {"comment", "[1 /* x */]", {F("[0]", "1")}, BodyError::Malformed},
               {"NaN", "[NaN]", {}, BodyError::Malformed},
               {"leading zero", "[01]", {F("[0]", "0")}, BodyError::Malformed},
               {"plus sign", "[+1]", {}, BodyError::Malformed},
               {"leading dot", "[.5]", {}, BodyError::Malformed},
               {"bad literal", "[trux]", {}, BodyError::Malformed},
               {"missing colon", R"({"a" 1})", {}, BodyError::Malformed},
               {"missing comma", "[1 2]", {F("[0]", "1")}, BodyError::Malformed},
               {"mismatched close", "[1}", {F("[0]", "1")}, BodyError::Malformed},
               {"only whitespace", " \r\n ", {}, BodyError::Malformed},
               {"form body sent as JSON", "a=1&b=2", {}, BodyError::Malformed},
               {"unclosed object", R"({"a":1)", {F("a", "1")}, BodyError::Truncated},
               {"unclosed after comma", "[1,", {F("[0]", "1")}, BodyError::Truncated},
               {"cut in key", R"({"ab)", {}, BodyError::Truncated},
               {"cut after key", R"({"ab")", {}, BodyError::Truncated},
               {"cut in literal", "[tru", {}, BodyError::Truncated},
               {"cut in number", "[1.", {}, BodyError::Truncated},
               {"cut in exponent", "[1e", {}, BodyError::Truncated},
               {"lone minus", "-", {}, BodyError::Truncated},
           });
}

TEST(BodyParser, JsonDeepNestingIsTooDeepAndFast) {
  std::string hostile(100000, '[');
  auto start = std::chrono::steady_clock::now();
  ParsedBody got = parseBody(kJson, hostile);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(got.error, BodyError::TooDeep);
  EXPECT_TRUE(got.fields.empty());
  EXPECT_LT(took, std::chrono::seconds(1));  // it stops at depth 33

  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  EXPECT_EQ(parseBody(kJson, objects).error, BodyError::TooDeep);
}

TEST(BodyParser, JsonDepthLimitIsInclusive) {
  BodyLimits limits;
  limits.max_depth = 3;
  runCases(kJson,
           {
               {"at the limit", "[[[1]]]", {F("[0][0][0]", "1")}},
               {"one over", R"({"a":[1,{"b":[2]}]})", {F("a[0]", "1")}, BodyError::TooDeep},
               {"scalars need no depth", "7", {F("", "7")}},
           },
           limits);
}

TEST(BodyParser, JsonFieldLimits) {
  BodyLimits limits;
  limits.max_fields = 2;
  limits.max_field_bytes = 8;
  runCases(kJson,
           {
               {"count", "[1,2,3,4]", {F("[0]", "1"), F("[1]", "2")}, BodyError::TooManyFields},
               {"value size", R"({"a":"123456789"})", {}, BodyError::FieldTooLarge},
               {"path size", R"({"abcd":{"efgh":1}})", {}, BodyError::FieldTooLarge},
               {"value at limit", R"({"a":"12345678"})", {F("a", "12345678")}},
           },
           limits);
}

// ------------------------------------------------------------ multipart

constexpr const char* kMultipart = "multipart/form-data; boundary=XyZ";

// Joins lines with CRLF (the way browsers frame multipart bodies).
std::string crlf(std::initializer_list<std::string_view> lines) {
  std::string out;
  for (std::string_view line : lines) {
    out.append(line);
    out += "\r\n";
  }
  return out;
}

TEST(BodyParser, MultipartTable) {
  runCases(
      kMultipart,
      {
          {"fields and a file",
           crlf({"--XyZ", "Content-Disposition: form-data; name=\"user\"", "", "bob", "--XyZ",
                 "Content-Disposition: form-data; name=\"up\"; filename=\"a.php\"",
                 "Content-Type: application/octet-stream", "", "<?php system($_GET[c]); ?>",
                 "--XyZ--"}),
           {F("user", "bob"), File("up", "a.php", "<?php system($_GET[c]); ?>")}},
          {"preamble and epilogue ignored",
           "this is a preamble\r\n" +
               crlf({"--XyZ", "Content-Disposition: form-data; name=a", "", "1", "--XyZ--"}) +
               "epilogue --XyZ junk",
           {F("a", "1")}},
          {"no CRLF after close delimiter",
           "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ--",
           {F("a", "1")}},
          {"empty content",
           crlf({"--XyZ", "Content-Disposition: form-data; name=a", "", "", "--XyZ--"}),
           {F("a", "")}},
          {"content keeps inner CRLFs",
           crlf({"--XyZ", "Content-Disposition: form-data; name=a", "", "l1", "l2", "", "--XyZ--"}),
           {F("a", "l1\r\nl2\r\n")}},
          {"boundary text not at line start is content",
           crlf({"--XyZ", "Content-Disposition: form-data; name=a", "", "x--XyZ--y", "--XyZ--"}),
           {F("a", "x--XyZ--y")}},
          {"no parts", "--XyZ--\r\n", {}},
          {"empty filename is a file part",
           crlf({"--XyZ", "Content-Disposition: form-data; name=f; filename=\"\"", "", "",
                 "--XyZ--"}),
           {File("f", "", "")}},
          {"case-insensitive header and params",
           crlf({"--XyZ", "content-disposition: Form-Data; NAME=a; FileName=b.txt", "", "x",
                 "--XyZ--"}),
           {File("a", "b.txt", "x")}},
          {"filename* UTF-8",
           crlf({"--XyZ",
                 "Content-Disposition: form-data; name=f; filename*=UTF-8''%E2%82%AC%20rates.txt",
                 "", "x", "--XyZ--"}),
           {File("f", "\xE2\x82\xAC rates.txt", "x")}},
          {"filename* ISO-8859-1 to UTF-8",
           crlf({"--XyZ", "Content-Disposition: form-data; name=f; filename*=iso-8859-1'en'%E9t%E9",
                 "", "x", "--XyZ--"}),
           {File("f", "\xC3\xA9t\xC3\xA9", "x")}},
          {"filename and filename* agreeing",
           crlf({"--XyZ",
                 "Content-Disposition: form-data; name=f; filename=\"a b\"; filename*=UTF-8''a%20b",
                 "", "x", "--XyZ--"}),
           {File("f", "a b", "x")}},
          {"allowed transfer encoding",
           crlf({"--XyZ", "Content-Disposition: form-data; name=a",
                 "Content-Transfer-Encoding: binary", "", "x", "--XyZ--"}),
           {F("a", "x")}},
          {"other headers ignored",
           crlf({"--XyZ", "X-Thing: 1", "Content-Disposition: form-data; name=a", "", "x",
                 "--XyZ--"}),
           {F("a", "x")}},
          {"nested multipart is content",
           crlf({"--XyZ", "Content-Disposition: form-data; name=a",
                 "Content-Type: multipart/mixed; boundary=in", "", "--in", "inner", "--in--",
                 "--XyZ--"}),
           {F("a", "--in\r\ninner\r\n--in--")}},
          {"windows path kept literally",
           crlf({"--XyZ", "Content-Disposition: form-data; name=f; filename=\"C:\\dir\\a.txt\"", "",
                 "x", "--XyZ--"}),
           {File("f", "C:\\dir\\a.txt", "x")}},
      });
}

TEST(BodyParser, MultipartEvasionsAreMalformed) {
  const std::string part = "Content-Disposition: form-data; name=a\r\n\r\nx\r\n";
  runCases(
      kMultipart,
      {
          {"transport padding after boundary",
           "--XyZ \r\n" + part + "--XyZ--",
           {},
           BodyError::Malformed},
          {"tab after boundary", "--XyZ\t\r\n" + part + "--XyZ--", {}, BodyError::Malformed},
          {"longer boundary in preamble",
           "--XyZa\r\n--XyZ\r\n" + part + "--XyZ--",
           {},
           BodyError::Malformed},
          {"LF-only boundary line", "--XyZ\n" + part + "--XyZ--", {}, BodyError::Malformed},
          {"bare LF before boundary",
           "--XyZ\r\n" + part.substr(0, part.size() - 2) + "\n--XyZ--",
           {},
           BodyError::Malformed},
          {"boundary prefix inside content",
           "--XyZ\r\n" + part + "--XyZX\r\n" + part + "--XyZ--",
           {F("a", "x")},
           BodyError::Malformed},
          {"LF-only part headers",
           "--XyZ\r\nContent-Disposition: form-data; name=a\n\nx\r\n--XyZ--",
           {},
           BodyError::Malformed},
          {"bare CR in part header",
           "--XyZ\r\nContent-Disposition: form-data;\r name=a\r\n\r\nx\r\n--XyZ--",
           {},
           BodyError::Malformed},
          {"folded part header",
           "--XyZ\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nx\r\n--XyZ--",
           {},
           BodyError::Malformed},
          {"space before colon",
           "--XyZ\r\nContent-Disposition : form-data; name=a\r\n\r\nx\r\n--XyZ--",
           {},
           BodyError::Malformed},
          {"no Content-Disposition",
           "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--",
           {},
           BodyError::Malformed},
          {"not form-data",
           "--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--XyZ--",
           {},
           BodyError::Malformed},
          {"no name",
           "--XyZ\r\nContent-Disposition: form-data; filename=a\r\n\r\nx\r\n--XyZ--",
           {},
           BodyError::Malformed},
          {"two Content-Dispositions",
           "--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; "
           "name=b\r\n\r\nx\r\n--XyZ--",
           {},
           BodyError::Malformed},
          {"two names",
           "--XyZ\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nx\r\n--XyZ--",
           {},
           BodyError::Malformed},
          {"two filenames",
           "--XyZ\r\nContent-Disposition: form-data; name=a; filename=x; "
           "filename=y\r\n\r\nx\r\n--XyZ--",
           {},
           BodyError::Malformed},
          {"filename and filename* disagree",
           "--XyZ\r\nContent-Disposition: form-data; name=a; filename=a.jpg; "
           "filename*=UTF-8''a.php\r\n\r\nx\r\n--XyZ--",
           {},
           BodyError::Malformed},
          {"filename* unknown charset",
           "--XyZ\r\nContent-Disposition: form-data; name=a; "
           "filename*=koi8-r''x\r\n\r\nx\r\n--XyZ--",
           {},
           BodyError::Malformed},
          {"filename* bad escape",
           "--XyZ\r\nContent-Disposition: form-data; name=a; "
           "filename*=UTF-8''%zz\r\n\r\nx\r\n--XyZ--",
           {},
           BodyError::Malformed},
          {"backslash-quote in filename",
           "--XyZ\r\nContent-Disposition: form-data; name=a; "
           "filename=\"a.php\\\".jpg\"\r\n\r\nx\r\n--XyZ--",
           {},
           BodyError::Malformed},
          {"unterminated quoted name",
           "--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--XyZ--",
           {},
           BodyError::Malformed},
          {"base64 transfer encoding",
           "--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Transfer-Encoding: "
           "base64\r\n\r\neA==\r\n--XyZ--",
           {},
           BodyError::Malformed},
          {"boundary right after headers",
           "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n--XyZ--",
           {},
           BodyError::Malformed},
          {"boundary in headers",
           "--XyZ\r\n--XyZ\r\n" + part + "--XyZ--",
           {},
           BodyError::Malformed},
          {"no boundary at all", "just text", {}, BodyError::Malformed},
          {"later part bad, first kept",
           "--XyZ\r\n" + part + "--XyZ\r\nContent-Type: x\r\n\r\ny\r\n--XyZ--",
           {F("a", "x")},
           BodyError::Malformed},
      });
}

TEST(BodyParser, MultipartTruncationTable) {
  const std::string part = "Content-Disposition: form-data; name=a\r\n\r\nx\r\n";
  runCases(
      kMultipart,
      {
          {"no close delimiter",
           "--XyZ\r\n" + part + "--XyZ\r\n" + "Content-Disposition: form-data; name=b\r\n\r\nrest",
           {F("a", "x")},
           BodyError::Truncated},
          {"ends after boundary",
           "--XyZ\r\n" + part + "--XyZ",
           {F("a", "x")},
           BodyError::Truncated},
          {"ends after one dash",
           "--XyZ\r\n" + part + "--XyZ-",
           {F("a", "x")},
           BodyError::Truncated},
          {"ends in headers", "--XyZ\r\nContent-Disposition: form-da", {}, BodyError::Truncated},
          {"ends before blank line",
           "--XyZ\r\nContent-Disposition: form-data; name=a\r\n",
           {},
           BodyError::Truncated},
      });
}

TEST(BodyParser, MultipartBoundaryParameter) {
  const std::string body =
      "--a b'c\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n--a b'c--";
  ParsedBody got = parseBody("multipart/form-data; Boundary=\"a b'c\"", body);
  EXPECT_EQ(got.error, BodyError::None) << got.error_detail;
  EXPECT_EQ(got.fields, std::vector<BodyField>{F("x", "1")});

  std::string b70(70, 'b');
  got = parseBody(
      "multipart/form-data; boundary=" + b70,
      "--" + b70 + "\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n--" + b70 + "--");
  EXPECT_EQ(got.error, BodyError::None) << got.error_detail;

  const char* bad[] = {
      "multipart/form-data",
      "multipart/form-data; charset=utf-8",
      "multipart/form-data; boundary=",
      "multipart/form-data; boundary=\"\"",
      "multipart/form-data; boundary=a; boundary=b",
      "multipart/form-data; boundary=\"a b \"",
      "multipart/form-data; boundary=\"a\x01\"",
      "multipart/form-data; boundary=\"a{b\"",
      "multipart/form-data; boundary=\"unterminated",
      "multipart/form-data; boundary",
  };
  for (const char* ct : bad) {
    ParsedBody r = parseBody(ct, body);
    EXPECT_EQ(r.error, BodyError::MissingBoundary) << ct;
    EXPECT_FALSE(r.error_detail.empty()) << ct;
  }
  std::string ct71 = "multipart/form-data; boundary=" + std::string(71, 'b');
  EXPECT_EQ(parseBody(ct71, body).error, BodyError::MissingBoundary);
}

TEST(BodyParser, MultipartLimits) {
  BodyLimits limits;
  limits.max_fields = 1;
  limits.max_field_bytes = 64;
  const std::string part = "Content-Disposition: form-data; name=a\r\n\r\nx\r\n";
  runCases(kMultipart,
           {
               {"count",
                "--XyZ\r\n" + part + "--XyZ\r\n" + part + "--XyZ--",
                {F("a", "x")},
                BodyError::TooManyFields},
               {"content size",
                "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n" + std::string(65, 'x') +
                    "\r\n--XyZ--",
                {},
                BodyError::FieldTooLarge},
               {"unterminated huge content",
                "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n" + std::string(100, 'x'),
                {},
                BodyError::FieldTooLarge},
               {"header line size",
                "--XyZ\r\nX: " + std::string(80, 'h') + "\r\n" + part + "--XyZ--",
                {},
                BodyError::FieldTooLarge},
           },
           limits);

  std::string many = "--XyZ\r\n";
  for (int i = 0; i < 40; ++i) many += "X-H: 1\r\n";
  many += part + "--XyZ--";
  EXPECT_EQ(parseBody(kMultipart, many).error, BodyError::Malformed);
}

// ------------------------------------------------------------------ XML

constexpr const char* kXml = "application/xml";

TEST(BodyParser, XmlTable) {
  runCases(
      kXml,
      {
          {"elements and attributes",
           R"(<a><b>x</b><c k="v" j='w'>y</c></a>)",
           {F("a.b", "x"), F("a.c@k", "v"), F("a.c@j", "w"), F("a.c", "y")}},
          {"declaration, PI and comment skipped",
           "<?xml version=\"1.0\"?>\n<!-- c --><?pi x?><r>t</r>\n<!-- tail -->",
           {F("r", "t")}},
          {"predefined entities",
           "<r a=\"&lt;&quot;&apos;\">&amp;&gt;</r>",
           {F("r@a", "<\"'"), F("r", "&>")}},
          {"character references",
           "<r>&#65;&#x42;&#x1F600;&#xe9;</r>",
           {F("r", "AB\xF0\x9F\x98\x80\xC3\xA9")}},
          {"CDATA is raw text", "<r><![CDATA[<script>&amp;]]></r>", {F("r", "<script>&amp;")}},
          {"comment inside text joins it", "<r>SEL<!-- x -->ECT</r>", {F("r", "SELECT")}},
          {"CDATA joins text", "<r>a<![CDATA[b]]>c</r>", {F("r", "abc")}},
          {"child element splits text",
           "<a>x<b>y</b>z</a>",
           {F("a", "x"), F("a.b", "y"), F("a", "z")}},
          {"whitespace-only text skipped", "<a>\n  <b>1</b>\n</a>", {F("a.b", "1")}},
          {"text kept as is", "<a> 1 </a>", {F("a", " 1 ")}},
          {"self-closing", "<a><b/><c x=\"1\"/></a>", {F("a.c@x", "1")}},
          {"namespaces kept",
           "<s:Env xmlns:s=\"u\"><s:Body>x</s:Body></s:Env>",
           {F("s:Env@xmlns:s", "u"), F("s:Env.s:Body", "x")}},
          {"attribute whitespace normalised", "<r a=\"x\ty\nz\"/>", {F("r@a", "x y z")}},
          {"attribute CRLF is one space", "<r a=\"x\r\ny\"/>", {F("r@a", "x y")}},
          {"line ends normalised", "<r>a\r\nb\rc<![CDATA[\r\nd]]></r>", {F("r", "a\nb\nc\nd")}},
          {"spaces around '='", "<r a = '1' ></r >", {F("r@a", "1")}},
          {"'>' in text allowed", "<r>a>b</r>", {F("r", "a>b")}},
          {"BOM skipped", "\xEF\xBB\xBF<?xml version=\"1.0\"?><r>1</r>", {F("r", "1")}},
          {"doctype recorded, entity kept literally",
           "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
           "<r>&xxe;</r>",
           {F("!doctype", "<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"),
            F("r", "&xxe;")}},
          {"doctype with '>' and ']' in literals and comments",
           "<!DOCTYPE r [<!-- ]> --><!ENTITY e \"a>]b\">]><r/>",
           {F("!doctype", "<!DOCTYPE r [<!-- ]> --><!ENTITY e \"a>]b\">]>")}},
      });
}

TEST(BodyParser, XmlErrorsTable) {
  runCases(
      kXml,
      {
          {"mismatched end tag", "<a><b>x</c></a>", {F("a.b", "x")}, BodyError::Malformed},
          {"stray end tag", "</a>", {}, BodyError::Malformed},
          {"second root", "<a/><b/>", {}, BodyError::Malformed},
          {"text outside root", "x<a/>", {}, BodyError::Malformed},
          {"text after root", "<a/>x", {}, BodyError::Malformed},
          {"no root", "<!-- only -->", {}, BodyError::Truncated},
          {"undeclared entity", "<a>&xxe;</a>", {}, BodyError::Malformed},
          {"entity without ';'", "<a>&amp x</a>", {}, BodyError::Malformed},
          {"bare '&'", "<a>a & b</a>", {}, BodyError::Malformed},
          {"NUL char ref", "<a>&#0;</a>", {}, BodyError::Malformed},
          {"surrogate char ref", "<a>&#xD800;</a>", {}, BodyError::Malformed},
          {"char ref over range", "<a>&#x110000;</a>", {}, BodyError::Malformed},
          {"huge char ref", "<a>&#99999999999999999999;</a>", {}, BodyError::Malformed},
          {"empty char ref", "<a>&#;</a>", {}, BodyError::Malformed},
          {"duplicate attribute", "<a x=\"1\" x=\"2\"/>", {F("a@x", "1")}, BodyError::Malformed},
          {"'<' in attribute", "<a x=\"<\"/>", {}, BodyError::Malformed},
          {"unquoted attribute", "<a x=1/>", {}, BodyError::Malformed},
          {"attributes not separated",
           "<a x=\"1\"y=\"2\"/>",
           {F("a@x", "1")},
           BodyError::Malformed},
          {"']]>' in text", "<a>x]]>y</a>", {}, BodyError::Malformed},
          {"'--' in comment", "<a><!-- a -- b --></a>", {}, BodyError::Malformed},
          {"declaration not first", "<a><?xml version=\"1.0\"?></a>", {}, BodyError::Malformed},
          {"lowercase doctype", "<!doctype a><a/>", {}, BodyError::Malformed},
          {"doctype after root", "<a/><!DOCTYPE a>", {}, BodyError::Malformed},
          {"two doctypes",
           "<!DOCTYPE a><!DOCTYPE a><a/>",
           {F("!doctype", "<!DOCTYPE a>")},
           BodyError::Malformed},
          {"unknown declaration", "<a><!ELEMENT x></a>", {}, BodyError::Malformed},
          {"CDATA outside root", "<![CDATA[x]]><a/>", {}, BodyError::Malformed},
          {"bad element name", "<1a/>", {}, BodyError::Malformed},
          {"JSON sent as XML", "{\"a\":1}", {}, BodyError::Malformed},
          {"unclosed element", "<a><b>x</b>", {F("a.b", "x")}, BodyError::Truncated},
          {"unclosed CDATA", "<a><![CDATA[x", {}, BodyError::Truncated},
          {"unclosed comment", "<a><!-- x", {}, BodyError::Truncated},
          {"comment ends in '--'", "<a><!-- x --", {}, BodyError::Truncated},
          {"unclosed PI", "<?xml version=\"1.0\"", {}, BodyError::Truncated},
          {"unclosed start tag", "<a x=\"1\"", {F("a@x", "1")}, BodyError::Truncated},
          {"unclosed attribute value", "<a x=\"1", {}, BodyError::Truncated},
          {"unclosed doctype", "<!DOCTYPE a [<!ENTITY x \"y\">", {}, BodyError::Truncated},
          {"cut in reference", "<a>x&am", {}, BodyError::Truncated},
          {"cut in char reference", "<a>&#x4", {}, BodyError::Truncated},
          {"cut after '<'", "<a><", {}, BodyError::Truncated},
          {"cut in markup", "<a><!-", {}, BodyError::Truncated},
          {"cut in DOCTYPE keyword", "<!DOCT", {}, BodyError::Truncated},
          {"short unknown markup", "<a><!x", {}, BodyError::Malformed},
      });
}

TEST(BodyParser, XmlDeepNestingIsTooDeepAndFast) {
  std::string hostile;
  for (int i = 0; i < 100000; ++i) hostile += "<a>";
  auto start = std::chrono::steady_clock::now();
  ParsedBody got = parseBody(kXml, hostile);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(got.error, BodyError::TooDeep);
  EXPECT_LT(took, std::chrono::seconds(1));  // it stops at depth 33
}

TEST(BodyParser, XmlLimits) {
  BodyLimits limits;
  limits.max_depth = 2;
  limits.max_fields = 2;
  limits.max_field_bytes = 8;
  runCases(kXml,
           {
               {"depth at limit", "<a><b>1</b></a>", {F("a.b", "1")}},
               {"depth over", "<a><b><c>1</c></b></a>", {}, BodyError::TooDeep},
               {"count",
                "<a x=\"1\" y=\"2\" z=\"3\"/>",
                {F("a@x", "1"), F("a@y", "2")},
                BodyError::TooManyFields},
               {"text size", "<a>123456789</a>", {}, BodyError::FieldTooLarge},
               {"doctype size", "<!DOCTYPE a SYSTEM \"x\"><a/>", {}, BodyError::FieldTooLarge},
           },
           limits);
}

// A value over the default 1 MiB limit is refused in every format, with
// the fields before it kept.
TEST(BodyParser, HugeFieldIsTooLargeWithDefaultLimits) {
  const std::string huge(BodyLimits{}.max_field_bytes + 1, 'A');
  struct Doc {
    const char* content_type;
    std::string body;
  };
  const Doc docs[] = {
      {kForm, "a=1&b=" + huge},
      {kJson, R"({"a":"1","b":")" + huge + "\"}"},
      {kMultipart,
       "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ\r\n"
       "Content-Disposition: form-data; name=b\r\n\r\n" +
           huge + "\r\n--XyZ--"},
      {kXml, "<r><a>1</a><b>" + huge + "</b></r>"},
  };
  for (const Doc& doc : docs) {
    ParsedBody got = parseBody(doc.content_type, doc.body);
    EXPECT_EQ(got.error, BodyError::FieldTooLarge) << doc.content_type;
    ASSERT_EQ(got.fields.size(), 1u) << doc.content_type;
    EXPECT_EQ(got.fields[0].value, "1") << doc.content_type;
  }
}

TEST(BodyParser, ZeroFieldLimitRefusesTheFirstField) {
  BodyLimits limits;
  limits.max_fields = 0;
  EXPECT_EQ(parseBody(kJson, "1", limits).error, BodyError::TooManyFields);
  EXPECT_EQ(parseBody(kJson, "[]", limits).error, BodyError::None);
  EXPECT_EQ(parseBody(kForm, "a", limits).error, BodyError::TooManyFields);
}

TEST(BodyParser, MultipartFilenameCountsTowardsFieldSize) {
  BodyLimits limits;
  limits.max_field_bytes = 8;
  ParsedBody got = parseBody(
      kMultipart,
      "--XyZ\r\nContent-Disposition: form-data; name=a; filename=\"123456789\"\r\n\r\nx\r\n--XyZ--",
      limits);
  EXPECT_EQ(got.error, BodyError::FieldTooLarge);
  EXPECT_TRUE(got.fields.empty());
}

// Every kind: a prefix of a valid body never crashes and never reports
// success with more fields than the whole body has.
TEST(BodyParser, EveryPrefixIsHandled) {
  struct Doc {
    const char* content_type;
    std::string body;
  };
  const Doc docs[] = {
      {kForm, "a=1&b=%41&c"},
      {kJson, R"({"a":[1,{"b":"\ud83d\ude00"}],"c":null})"},
      {kMultipart, crlf({"--XyZ", "Content-Disposition: form-data; name=a; filename*=UTF-8''%41",
                         "", "x", "--XyZ--"})},
      {kXml, "<!DOCTYPE r><r a='1'><![CDATA[x]]>&amp;<!--c--><b/></r>"},
  };
  for (const Doc& doc : docs) {
    ParsedBody whole = parseBody(doc.content_type, doc.body);
    ASSERT_EQ(whole.error, BodyError::None) << doc.body << ": " << whole.error_detail;
    for (std::size_t n = 1; n < doc.body.size(); ++n) {
      ParsedBody part = parseBody(doc.content_type, doc.body.substr(0, n));
      EXPECT_LE(part.fields.size(), whole.fields.size()) << doc.body.substr(0, n);
      EXPECT_EQ(part.error_detail.empty(), part.error == BodyError::None);
    }
  }
}

// ---- Prefix of a longer body (body_over_limit: inspect_prefix) ----------

TEST(BodyParser, PrefixCutInsideJsonIsNotAnError) {
  const std::string doc = R"({"user":"bob","items":[1,2,3],"note":"a long text")";
  for (std::size_t cut = 1; cut < doc.size(); ++cut) {
    ParsedBody b = parseBody("application/json", doc.substr(0, cut), {}, BodyExtent::Prefix);
    EXPECT_EQ(b.error, BodyError::None) << cut << ": " << b.error_detail;
    EXPECT_TRUE(b.prefix_only);
  }
  ParsedBody b = parseBody("application/json", doc.substr(0, 30), {}, BodyExtent::Prefix);
  ASSERT_GE(b.fields.size(), 1u);
  EXPECT_EQ(b.fields[0], F("user", "bob"));
}

TEST(BodyParser, WholeJsonCutShortIsStillTruncated) {
  ParsedBody b = parseBody("application/json", R"({"user":"bo)");
  EXPECT_EQ(b.error, BodyError::Truncated);
  EXPECT_FALSE(b.prefix_only);
}

TEST(BodyParser, PrefixStillReportsRealSyntaxErrors) {
  ParsedBody b = parseBody("application/json", R"({"a":1,,"b":)", {}, BodyExtent::Prefix);
  EXPECT_EQ(b.error, BodyError::Malformed);
  b = parseBody("application/x-www-form-urlencoded", "a=%zz&b=1", {}, BodyExtent::Prefix);
  EXPECT_EQ(b.error, BodyError::Malformed);
}

TEST(BodyParser, PrefixCutInsideFormEscapeIsNotAnError) {
  for (std::string body : {"a=1&b=x%", "a=1&b=x%4", "a=1&b=x%41"}) {
    ParsedBody b = parseBody("application/x-www-form-urlencoded", body, {}, BodyExtent::Prefix);
    EXPECT_EQ(b.error, BodyError::None) << body;
    ASSERT_EQ(b.fields.size(), 2u) << body;
    EXPECT_EQ(b.fields[0], F("a", "1"));
  }
  ParsedBody whole = parseBody("application/x-www-form-urlencoded", "a=1&b=x%4");
  EXPECT_EQ(whole.error, BodyError::Malformed);
}

TEST(BodyParser, PrefixCutInsideMultipartOrXmlIsNotAnError) {
  const std::string mp =
      "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nfirst\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n\r\n"
      "0123456789";
  for (std::size_t cut = 1; cut < mp.size(); ++cut) {
    ParsedBody b =
        parseBody("multipart/form-data; boundary=XyZ", mp.substr(0, cut), {}, BodyExtent::Prefix);
    EXPECT_EQ(b.error, BodyError::None) << cut << ": " << b.error_detail;
  }
  const std::string xml = R"(<?xml version="1.0"?><a x="1"><b>text &amp; more</b><c>)";
  for (std::size_t cut = 1; cut < xml.size(); ++cut) {
    ParsedBody b = parseBody("application/xml", xml.substr(0, cut), {}, BodyExtent::Prefix);
    EXPECT_EQ(b.error, BodyError::None) << cut << ": " << b.error_detail;
  }
}

}  // namespace
}  // namespace mamori::http
