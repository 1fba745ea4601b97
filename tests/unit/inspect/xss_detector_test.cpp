#include "inspect/xss_detector.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace mamori::inspect {
namespace {

// Payloads for each context and trick the detector handles.
constexpr std::string_view kAttacks[] = {
    // Tags that run script or load documents.
    "<script>alert(1)</script>",
    "<ScRiPt src=//evil.example/x.js></script>",
    "<script/x>alert(1)</script>",
    "<<script>alert(1)//<</script>",
    "<iframe src=\"https://evil.example\"></iframe>",
    "<object data=x.swf>",
    "<embed src=x.swf>",
    "<applet code=x.class>",
    "<base href=//evil.example/>",
    "<style>@import 'http://evil.example/x.css';</style>",
    "<x:script xmlns:x=\"http://www.w3.org/1999/xhtml\">alert(1)</x:script>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<meta charset=\"UTF-7\">",
    "<link rel=import href=//evil.example/x.html>",
    "<link href=\"xss.js\" rel=stylesheet>",
    "<?import implementation=\"#default#time2\">",
    // Event handlers.
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "<body onload=alert(1)>",
    "<x onclick=alert(1)>click",
    "<img src=x ONERROR = \"alert(1)\">",
    "<details open ontoggle=alert(1)>",
    "<img src=x onerror=alert(1)",
    // Script URLs, with reference and whitespace obfuscation.
    "<a href=\"javascript:alert(1)\">x</a>",
    "<a href=\"  JaVaScRiPt:alert(1)\">x</a>",
    "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
    "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">x</a>",
    "<a href=\"&#0000106avascript:alert(1)\">x</a>",
    "<a href=javascript&colon;alert(1)>x</a>",
    "<a href=\"java\nscript:alert(1)\">x</a>",
    "<form action=javascript:alert(1)><input type=submit>",
    "<button formaction=\"javascript:alert(1)\">x</button>",
    "<a href=\"vbscript:msgbox(1)\">x</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
    "<math><maction xlink:href=\"javascript:alert(1)\">x</maction></math>",
    "<iframe srcdoc=\"&lt;script&gt;alert(1)&lt;/script&gt;\">",
    "javascript:alert(document.cookie)",
    "ja&Tab;vascript:",
    // Styles.
    "<div style=\"width: expression(alert(1))\">",
    "<div style=\"background:url(javascript:alert(1))\">",
    "<div style=\"x:\\65xpression(alert(1))\">",
    "<div style=\"x:ex/**/pression(alert(1))\">",
    "<p style=\"-moz-binding:url(//evil.example/x.xml#x)\">",
    "style=color:red;background:url(javascript:alert(1))",
    "-moz-binding:url(http://example.com/xss.xml#xss)",
    // Attribute break-outs.
    "\"><script>alert(1)</script>",
    "\" onmouseover=\"alert(1)",
    "' onfocus='alert(1)' autofocus='",
    "x onmouseover=alert(1)",
    "\" style=\"background:url(javascript:alert(1))",
    "'><img src=x onerror=alert(1)>",
    // Script contexts.
    "';alert(1)//",
    "\";alert(1);//",
    "'-alert(1)-'",
    "x\";setTimeout(name, 1)//",
    "alert(1)",
    "eval('2 + 2')",
    "new Function()",
    "document.cookie",
    "document /*foo*/ .     cookie",
    "window[\"document\"][\"cookie\"]",
    "self[\"alert\"](1)",
    "(document)[\"cookie\"]",
    "document.body.appendChild(document.createElement(\"h1\"))",
    "x.innerHTML=location.hash",
    "{{constructor.constructor('alert(1)')()}}",
    "[].sort.call`${alert}1337`",
    "(![]+[])[+!![]]",
    "+ADw-script+AD4-alert(1)+ADw-/script+AD4-",
};

constexpr std::string_view kOrdinary[] = {
    "John Smith",
    "O'Reilly",
    "it's 5 o'clock",
    "He said \"hello\" and left",
    "Tom & Jerry",
    "AT&T",
    "I <3 NY",
    "x < y",
    "a<b",
    "1<2 and 3>2",
    "5 > 3",
    "a < b and c > d",
    "<b>bold</b>",
    "<i>italic</i>",
    "<p>Hello</p>",
    "<br>",
    "<a href=\"https://example.com\">a link</a>",
    "<img src=\"cat.jpg\" alt=\"a cat\">",
    "<strong>Note:</strong> read this",
    "JavaScript: The Good Parts",
    "javascript tutorial",
    "onload event",
    "online",
    "on sale",
    "one=1",
    "x onion=3",
    "status online=true",
    "onion rings",
    "the script was great",
    "iframe",
    "style guide",
    "regular expression (regex)",
    "Please alert me (by email)",
    "alert",
    "eval",
    "document",
    "cookie policy",
    "window seat",
    "![](https://example.com/cat.png)",
    "![alt text](image.png)",
    "john.doe@example.com",
    "https://www.example.com/path?query=1&b=2",
    "{\"name\": \"John\", \"age\": 30}",
    "{\"items\": [1, 2, 3], \"online\": true}",
    "a=1&b=2",
    "$19.99",
    "f(x) = x^2",
    "select a car",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "data:image/png;base64,iVBORw0KGgo=",
    "C:\\Users\\Public",
    "It's 'quoted'; fine",
    "you're right; let's go",
    "1 + 2 = 3",
    "2 * (3 + 4)",
    "Ünïcödé text ñ 日本語",
    "&amp; &lt; &gt; &quot;",
    "Fish &amp; Chips",
    // Lines of Debian READMEs that earlier versions flagged: Markdown code
    // spans, badges, DOM reads, a UTF-8 meta tag.
    "`-v`: specifies the version to upgrade to; defaults to the newest available version.",
    "Invalid configuration `i786v': machine `i786v' not recognized",
    "If you can't find the `/dist` folder in the Git repository",
    "[![](https://opencollective.com/x/avatar.svg)](https://opencollective.com/x/website)",
    "var reference = document.querySelector(\".my-button\");",
    "<meta charset=\"utf-8\" />",
    "Specify any properties the constructor accepts, including `width` and `renderer`.  Call `render`",
    "new.function(): \"In the face of ambiguity, refuse the",
};

TEST(XssDetector, DetectsKnownPayloads) {
  for (std::string_view attack : kAttacks) {
    EXPECT_TRUE(detectXss(attack)) << "missed: " << attack;
  }
}

TEST(XssDetector, PassesOrdinaryValues) {
  for (std::string_view value : kOrdinary) {
    EXPECT_FALSE(detectXss(value)) << "flagged: " << value;
  }
}

TEST(XssDetector, EventHandlerNeedsAValueInsideATag) {
  EXPECT_TRUE(detectXss("<b onclick=x>"));
  EXPECT_FALSE(detectXss("<b onclick>"));
  EXPECT_FALSE(detectXss("<b on=1>"));  // "on" alone is no handler
}

TEST(XssDetector, UnquotedBreakOutNeedsAKnownHandler) {
  // After a blank, only real event names count: "x online=1" is a value.
  EXPECT_TRUE(detectXss("x onfocus=alert(1)"));
  EXPECT_FALSE(detectXss("x online=1"));
}

TEST(XssDetector, WholeValueScriptUrlNeedsABody) {
  EXPECT_TRUE(detectXss("javascript:alert(1)"));
  EXPECT_TRUE(detectXss("  javascript:x=1"));
  EXPECT_FALSE(detectXss("javascript: the definitive guide"));
}

TEST(XssDetector, EndTagsAndCommentsAreNotStartTags) {
  EXPECT_FALSE(detectXss("</script>"));
  EXPECT_FALSE(detectXss("<!-- note -->"));
  EXPECT_FALSE(detectXss("< script>"));  // a blank after '<' is text to a browser
}

TEST(XssDetector, FindsTagDeepInsideALongValue) {
  std::string value(5000, 'a');
  value += "<svg onload=alert(1)>";
  EXPECT_TRUE(detectXss(value));
}

// The sink reader compares the patterns with a '.' only within a few
// characters of the last '.' it read: sinks after long prose, spelled
// with dropped characters, at the longest tail after a '.', and the one
// pattern without a '.' far from any, must all still be found.
TEST(XssDetector, ScriptSinksAfterLongProse) {
  const std::string prose =
      "We walked along the river for hours and talked about nothing at all. ";
  EXPECT_TRUE(detectXss(prose + prose + "x=document.cookie"));
  EXPECT_TRUE(detectXss(prose + "el.insertAdjacentHTML"));   // 18 characters after the '.'
  EXPECT_TRUE(detectXss(prose + "el[ 'insertAdjacentHTML' ]"));
  EXPECT_TRUE(detectXss(prose + "document /* c */ . createElement"));
  EXPECT_TRUE(detectXss(prose + "document['body']."));     // ends with the '.'
  EXPECT_TRUE(detectXss("a." + std::string(200, 'x') + " globalEval"));
  EXPECT_TRUE(detectXss("a. and then a long while later global eval"));
  EXPECT_TRUE(detectXss(prose + "the document. cookies are tasty"));  // blanks are dropped
  EXPECT_FALSE(detectXss(prose + "the document, cookies are tasty"));
  EXPECT_FALSE(detectXss(prose + ", insertAdjacentHTML without a dot"));
  EXPECT_FALSE(detectXss(prose + "x.yinsertAdjacentHTML"));  // the '.' is 19 back
}

TEST(XssDetector, ManyUnclosedTagsStayCheap) {
  // Every '<' opens a tag whose quoted value never closes: the scanner
  // resumes after each tag, so this stays linear and clean.
  std::string value;
  for (int i = 0; i < 5000; ++i) value += "<a title=\"";
  EXPECT_FALSE(detectXss(value));
}

TEST(XssDetector, AcceptsEmptyAndBinaryInput) {
  EXPECT_FALSE(detectXss(""));
  EXPECT_FALSE(detectXss(std::string_view("\0\0\0", 3)));
  std::string bytes;
  for (int c = 0; c < 256; ++c) bytes.push_back(static_cast<char>(c));
  detectXss(bytes);  // must not crash; the verdict is not the point
  for (std::string_view v : {"<", "&", "&#", "&#x", "&#99999999999;", "<a", "<a b", "<a b=",
                             "<a b='", "\\", "/*", "+ADw-", "'", "\""}) {
    detectXss(v);
  }
  EXPECT_TRUE(detectXss("<a href='&#x6a;avascript:1'"));
}

}  // namespace
}  // namespace mamori::inspect
