// XSS detector: a small HTML tokenizer (start tags and their attributes,
// as the HTML5 tokenizer splits them), a character-reference decoder and a
// CSS reader, all streaming over the input without copies. See
// xss_detector.h for the contexts and the shapes flagged.

#include "inspect/xss_detector.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>

#include "common/bytes16.h"

namespace mamori::inspect {
namespace {

using std::size_t;

constexpr char lower(unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); }
int lowerCp(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

// HTML whitespace (the tokenizer's "tab, LF, FF, space"; CR is folded
// into LF before tokenizing).
constexpr bool isBlank(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

bool isAlpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isDigit(int c) { return c >= '0' && c <= '9'; }
int hexValue(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Case-insensitive equality of `s` with lowercase `lit`.
bool iequals(std::string_view s, std::string_view lit) {
  if (s.size() != lit.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (lower(static_cast<unsigned char>(s[i])) != lit[i]) return false;
  }
  return true;
}

bool icontains(std::string_view s, std::string_view lit) {
  if (lit.size() > s.size()) return false;
  for (size_t i = 0; i + lit.size() <= s.size(); ++i) {
    if (iequals(s.substr(i, lit.size()), lit)) return true;
  }
  return false;
}

// True when `s` holds one of the bytes Cs. (string_view::find_first_of
// calls memchr on the set once per input byte; this is one pass, 16 bytes
// per step: on prose, which holds none of the bytes, every byte is read.)
template <char... Cs>
bool containsAny(std::string_view s) {
  return common::anyByte(s, [](auto c) { return ((c == static_cast<unsigned char>(Cs)) | ...); });
}

struct NamedRef {
  std::string_view name;
  int cp;
};

// The named character references an obfuscated payload uses to spell
// schemes, calls and quotes. Sorted by name; matched case-insensitively.
constexpr NamedRef kNamedRefs[] = {
    {"amp", '&'},    {"apos", '\''},  {"ast", '*'},     {"bsol", '\\'},   {"colon", ':'},
    {"comma", ','},  {"dollar", '$'}, {"equals", '='},  {"excl", '!'},    {"grave", '`'},
    {"gt", '>'},     {"lcub", '{'},   {"lowbar", '_'},  {"lpar", '('},    {"lsqb", '['},
    {"lt", '<'},     {"nbsp", 0xa0},  {"newline", '\n'}, {"num", '#'},    {"percnt", '%'},
    {"period", '.'}, {"plus", '+'},   {"quest", '?'},   {"quot", '"'},    {"rcub", '}'},
    {"rpar", ')'},   {"rsqb", ']'},   {"semi", ';'},    {"sol", '/'},     {"tab", '\t'},
    {"verbar", '|'},
};

static_assert(std::is_sorted(std::begin(kNamedRefs), std::end(kNamedRefs),
                             [](const NamedRef& a, const NamedRef& b) { return a.name < b.name; }),
              "kNamedRefs must stay sorted for lower_bound");

// Decodes HTML character references (&#106; &#x6A &colon; ...) one code
// point at a time. Numeric references may omit the ';' and carry any
// number of leading zeros, as browsers accept.
class RefDecoder {
 public:
  explicit RefDecoder(std::string_view s) : s_(s) {}

  // The next code point, or -1 at the end. The common case (no '&') is
  // small enough to inline into the readers' loops.
  int next() {
    if (i_ >= s_.size()) return -1;
    unsigned char c = static_cast<unsigned char>(s_[i_]);
    if (c != '&') {
      ++i_;
      return c;
    }
    return reference();
  }

  size_t pos() const { return i_; }

 private:
  // s_[i_] is '&': decodes the reference there, or yields the '&' itself.
  int reference() {
    size_t j = i_ + 1;
    if (j < s_.size() && s_[j] == '#') return numeric(j + 1);
    size_t k = j;
    char name[8];
    size_t len = 0;
    while (k < s_.size() && isAlpha(static_cast<unsigned char>(s_[k])) && len < sizeof(name)) {
      name[len++] = lower(static_cast<unsigned char>(s_[k]));
      ++k;
    }
    std::string_view key(name, len);
    auto it = std::lower_bound(std::begin(kNamedRefs), std::end(kNamedRefs), key,
                               [](const NamedRef& r, std::string_view n) { return r.name < n; });
    if (len > 0 && it != std::end(kNamedRefs) && it->name == key) {
      i_ = k < s_.size() && s_[k] == ';' ? k + 1 : k;
      return it->cp;
    }
    ++i_;
    return '&';
  }

  int numeric(size_t j) {
    bool hex = j < s_.size() && (s_[j] == 'x' || s_[j] == 'X');
    if (hex) ++j;
    long value = 0;
    size_t digits = 0;
    while (j < s_.size()) {
      int d = hex ? hexValue(static_cast<unsigned char>(s_[j])) : (isDigit(s_[j]) ? s_[j] - '0' : -1);
      if (d < 0) break;
      if (value <= 0x10ffff) value = value * (hex ? 16 : 10) + d;
      ++digits;
      ++j;
    }
    if (digits == 0) {  // "&#" or "&#x" without digits stays literal
      ++i_;
      return '&';
    }
    i_ = j < s_.size() && s_[j] == ';' ? j + 1 : j;
    return value > 0x10ffff || value == 0 ? 0xfffd : static_cast<int>(value);
  }

  std::string_view s_;
  size_t i_ = 0;
};

// Reads an attribute value as a URL: decodes references, drops what the
// URL parser drops (leading C0 controls and spaces, tab/LF/CR anywhere) and
// returns true when the scheme runs script or renders attacker markup.
// With `need_body` (the value is the whole URL, not an attribute of a tag
// we saw) "javascript:" must be followed by something that runs: a call,
// a template, an assignment.
bool dangerousUrl(std::string_view value, bool need_body) {
  RefDecoder d(value);
  char buf[24];
  size_t n = 0;
  size_t colon_end = 0;
  // A scheme spelled with references or split by tabs/newlines is itself
  // the sign of an attack: nobody writes ja&Tab;vascript: by accident.
  bool obfuscated = false;
  int c;
  size_t before = 0;
  while ((c = d.next()) >= 0 && n < sizeof(buf)) {
    if (colon_end == 0 && d.pos() - before > 1) obfuscated = true;
    before = d.pos();
    if (c == '\t' || c == '\n' || c == '\r') {
      if (n > 0 && colon_end == 0) obfuscated = true;
      continue;
    }
    if (n == 0 && c <= 0x20) continue;
    if (c <= 0x20 || c >= 0x80) {
      if (colon_end == 0) return false;  // not a scheme
      break;
    }
    buf[n++] = lower(static_cast<unsigned char>(c));
    if (c == ':' && colon_end == 0) colon_end = d.pos();
  }
  std::string_view got(buf, n);
  auto starts = [&](std::string_view p) { return got.substr(0, p.size()) == p; };
  if (starts("javascript:") || starts("vbscript:") || starts("livescript:")) {
    if (!need_body || obfuscated) return true;
    std::string_view body = value.substr(colon_end);
    return containsAny<'(', '`', '='>(body);
  }
  return starts("data:text/html") || starts("data:image/svg") || starts("data:text/xml") ||
         starts("data:application/x");
}

// Reads CSS as the browser's CSS tokenizer would see the letters: character
// references decoded, comments, blanks and quotes dropped, backslash escapes
// (\65 \000065 \e) resolved, lowercased.
class CssReader {
 public:
  explicit CssReader(std::string_view s) : d_(s) {}

  int next() {
    for (;;) {
      int c = raw();
      if (c < 0) return -1;
      if (c == '/') {
        int c2 = raw();
        if (c2 == '*') {
          int prev = 0;
          while ((c2 = raw()) >= 0 && !(prev == '*' && c2 == '/')) prev = c2;
          continue;
        }
        pending_ = c2;
        return '/';
      }
      if (c == '\\') {
        int v = 0;
        int digits = 0;
        int e;
        while (digits < 6 && (e = raw()) >= 0) {
          int h = hexValue(e);
          if (h < 0) {
            if (digits == 0) {
              if (e == '\n') break;  // line continuation
              return lowerCp(e);
            }
            if (!isBlank(static_cast<unsigned char>(e))) pending_ = e;
            break;
          }
          v = v * 16 + h;
          ++digits;
        }
        if (digits == 0) continue;
        if (v <= 0x20) continue;
        return lowerCp(v);
      }
      if (c <= 0x20 || c == '"' || c == '\'') continue;
      return lowerCp(c);
    }
  }

 private:
  int raw() {
    if (pending_ != kNone) {
      int c = pending_;
      pending_ = kNone;
      return c;
    }
    return d_.next();
  }

  static constexpr int kNone = -2;
  RefDecoder d_;
  int pending_ = kNone;
};

// What makes CSS run script: IE's expression() and behavior, Firefox's
// -moz-binding, a javascript:/vbscript: URL. In a style attribute any
// mention counts; for a bare value (which may be pasted into a style) the
// patterns carry their CSS syntax, so that "regular expression (regex)" or
// "JavaScript: the good parts" stay clean.
constexpr std::string_view kStyleList[] = {"expression(", "javascript:", "vbscript:",
                                          "-moz-binding", "behavior:"};
constexpr std::string_view kBareCssList[] = {":expression(", "url(javascript", "url(vbscript",
                                            "-moz-binding:", "behavior:url("};

// A fixed list of patterns, indexed by their last letter: the window below
// compares nothing for a character that ends none, and for one that does
// only the patterns ending with it. (A plain scan of every pattern on each
// 'e', 'l', 'n', 't' was most of detectXss's time on prose: ~14 ns a byte.)
template <size_t N>
struct PatternSet {
  static_assert(N <= 64, "by_end holds one bit per pattern");
  constexpr explicit PatternSet(const std::string_view (&list)[N]) {
    for (size_t i = 0; i < N; ++i) {
      patterns[i] = list[i];
      by_end[static_cast<unsigned char>(list[i].back())] |= std::uint64_t{1} << i;
    }
  }
  std::string_view patterns[N] = {};
  std::uint64_t by_end[256] = {};  // bit i: patterns[i] ends with this byte
};

// For a set whose patterns mostly hold a '.': which patterns hold none, and
// the most characters any pattern has after its last '.'. A pattern with a
// '.' can end at the newest character only if a '.' was read at most that
// many characters back; further from the last '.', only the others can.
template <size_t N>
struct DotTails {
  constexpr explicit DotTails(const std::string_view (&list)[N]) {
    for (size_t i = 0; i < N; ++i) {
      const size_t dot = list[i].rfind('.');
      if (dot == std::string_view::npos) {
        undotted |= std::uint64_t{1} << i;
      } else {
        longest_tail = std::max(longest_tail, list[i].size() - 1 - dot);
      }
    }
  }
  std::uint64_t undotted = 0;
  size_t longest_tail = 0;
};

// The last kWindow characters read, to match patterns ending at the newest
// one.
class MatchWindow {
 public:
  static constexpr size_t kWindow = 32;  // a power of two, longer than every pattern

  // Pushes `c`; true when a pattern of `set` among `allowed` (bit i:
  // patterns[i]) ends with it.
  template <size_t N>
  bool push(char c, const PatternSet<N>& set, std::uint64_t allowed = ~std::uint64_t{0}) {
    ++end_;
    win_[end_ & (kWindow - 1)] = c;
    for (std::uint64_t candidates = set.by_end[static_cast<unsigned char>(c)] & allowed;
         candidates != 0;
         candidates &= candidates - 1) {
      std::string_view p = set.patterns[std::countr_zero(candidates)];
      if (p.size() > end_) continue;
      size_t k = 1;
      while (k < p.size() && win_[(end_ - k) & (kWindow - 1)] == p[p.size() - 1 - k]) ++k;
      if (k == p.size()) return true;
    }
    return false;
  }

  char last() const { return at(0); }

  // The character `back` places before the newest one ('\0' before the start).
  char at(size_t back) const {
    return back >= end_ ? '\0' : win_[(end_ - back) & (kWindow - 1)];
  }

 private:
  char win_[kWindow] = {};
  size_t end_ = 0;  // characters pushed so far
};

constexpr PatternSet kStylePatterns(kStyleList);
constexpr PatternSet kBareCssPatterns(kBareCssList);

template <size_t N>
bool dangerousCss(std::string_view value, const PatternSet<N>& patterns) {
  // Every pattern holds a '(' or a ':' (or one spelled as a reference or an
  // escape, which needs '&' or '\\').
  if (!containsAny<'(', ':', '&', '\\'>(value)) return false;
  MatchWindow win;
  if (!containsAny<'&', '\\'>(value) &&
      value.find("/*") == std::string_view::npos) {
    // Nothing to decode: the same reading as CssReader, inline.
    for (char ch : value) {
      unsigned char c = static_cast<unsigned char>(ch);
      if (c <= 0x20 || c == '"' || c == '\'') continue;
      if (win.push(c < 0x80 ? lower(c) : '\x80', patterns)) return true;
    }
    return false;
  }
  CssReader r(value);
  int c;
  while ((c = r.next()) >= 0) {
    if (win.push(c < 0x80 ? static_cast<char>(c) : '\x80', patterns)) return true;
  }
  return false;
}

// Event handler names without the "on", sorted: what a break-out out of an
// unquoted attribute must name (elsewhere any on<letters>= counts).
constexpr std::string_view kHandlers[] = {
    "abort", "activate", "afterprint", "animationcancel", "animationend", "animationiteration",
    "animationstart", "auxclick", "beforeactivate", "beforecopy", "beforecut",
    "beforedeactivate", "beforeinput", "beforepaste", "beforeprint", "beforetoggle",
    "beforeunload", "begin", "blur", "canplay", "canplaythrough", "change", "click", "close",
    "contextmenu", "copy", "cuechange", "cut", "dblclick", "deactivate", "drag", "dragend",
    "dragenter", "dragleave", "dragover", "dragstart", "drop", "durationchange", "emptied",
    "end", "ended", "error", "focus", "focusin", "focusout", "formdata", "fullscreenchange",
    "hashchange", "input", "invalid", "keydown", "keypress", "keyup", "load", "loadeddata",
    "loadedmetadata", "loadend", "loadstart", "message", "mousedown", "mouseenter",
    "mouseleave", "mousemove", "mouseout", "mouseover", "mouseup", "mousewheel", "offline",
    "online", "pagehide", "pageshow", "paste", "pause", "play", "playing", "pointercancel",
    "pointerdown", "pointerenter", "pointerleave", "pointermove", "pointerout", "pointerover",
    "pointerrawupdate", "pointerup", "popstate", "progress", "propertychange", "ratechange",
    "readystatechange", "repeat", "reset", "resize", "scroll", "scrollend", "search", "seeked",
    "seeking", "select", "selectionchange", "selectstart", "show", "stalled", "start",
    "storage", "submit", "suspend", "timeupdate", "toggle", "touchend", "touchmove",
    "touchstart", "transitioncancel", "transitionend", "transitionrun", "transitionstart",
    "unload", "volumechange", "waiting", "webkitanimationend", "webkitanimationiteration",
    "webkitanimationstart", "webkittransitionend", "wheel",
};

static_assert(std::is_sorted(std::begin(kHandlers), std::end(kHandlers)),
              "kHandlers must stay sorted for binary_search");

bool isKnownHandler(std::string_view name) {
  return std::binary_search(std::begin(kHandlers), std::end(kHandlers), name);
}

// What a start tag is, as far as the detector cares.
enum class TagKind : std::uint8_t {
  None,       // no tag: attributes after an attribute-value break-out
  Plain,      // any other element
  Dangerous,  // runs script or loads a document by itself
  Meta,       // <meta>: http-equiv refresh/set-cookie, or UTF-7
  Link,       // <link>: href loads a stylesheet or an HTML import
};

// Elements that run script or load a document (or change where relative
// URLs point) whatever their attributes. Sorted.
constexpr std::string_view kDangerousTags[] = {
    "applet", "base", "embed", "frame", "frameset", "iframe", "import",
    "object", "portal", "script", "style", "vmlframe", "xml",
};

static_assert(std::is_sorted(std::begin(kDangerousTags), std::end(kDangerousTags)),
              "kDangerousTags must stay sorted for binary_search");

TagKind classifyTag(std::string_view lname) {
  // <svg:script>, <x:iframe>: namespaced forms in XML-parsed documents.
  size_t colon = lname.rfind(':');
  if (colon != std::string_view::npos) lname = lname.substr(colon + 1);
  if (std::binary_search(std::begin(kDangerousTags), std::end(kDangerousTags), lname)) {
    return TagKind::Dangerous;
  }
  if (lname == "meta") return TagKind::Meta;
  if (lname == "link") return TagKind::Link;
  return TagKind::Plain;
}

// Judges one attribute (name=value) of a tag of `kind`. `strict_handlers`
// limits on* names to the known event handlers.
bool dangerousAttribute(TagKind kind, std::string_view name, std::string_view value,
                        bool strict_handlers) {
  char buf[32];
  if (name.size() > sizeof(buf)) return dangerousUrl(value, false);
  for (size_t i = 0; i < name.size(); ++i) buf[i] = lower(static_cast<unsigned char>(name[i]));
  std::string_view lname(buf, name.size());
  if (lname.size() >= 5 && lname[0] == 'o' && lname[1] == 'n') {
    bool letters = std::all_of(lname.begin() + 2, lname.end(),
                               [](char c) { return c >= 'a' && c <= 'z'; });
    if (letters && (!strict_handlers || isKnownHandler(lname.substr(2)))) return true;
  }
  if (dangerousUrl(value, false)) return true;
  if (lname == "style" && dangerousCss(value, kStylePatterns)) return true;
  if (lname == "srcdoc" && (value.find('<') != std::string_view::npos || icontains(value, "&lt"))) {
    return true;
  }
  // <meta http-equiv=refresh|set-cookie>, and any meta naming UTF-7 (the
  // charset that turns +ADw- into '<'); a plain <meta charset=utf-8> is
  // everyday markup.
  if (kind == TagKind::Meta &&
      ((lname == "http-equiv" && (icontains(value, "refresh") || icontains(value, "cookie"))) ||
       icontains(value, "utf-7") || icontains(value, "utf7"))) {
    return true;
  }
  if (kind == TagKind::Link && (lname == "href" || (lname == "rel" && icontains(value, "import")))) {
    return true;
  }
  return false;
}

// Attribute list from *i up to and including the closing '>' (or the end
// of the input; an unclosed tag still counts, the page may close it).
// Advances *i past what it read.
bool scanAttributes(std::string_view s, size_t* i, TagKind kind, bool strict_handlers) {
  const size_t n = s.size();
  size_t p = *i;
  bool hit = false;
  while (!hit) {
    while (p < n && (isBlank(static_cast<unsigned char>(s[p])) || s[p] == '/')) ++p;
    if (p >= n) break;
    if (s[p] == '>') {
      ++p;
      break;
    }
    size_t name_start = p;
    if (s[p] == '=') ++p;  // a leading '=' belongs to the name
    while (p < n && !isBlank(static_cast<unsigned char>(s[p])) && s[p] != '/' && s[p] != '>' &&
           s[p] != '=') {
      ++p;
    }
    std::string_view name = s.substr(name_start, p - name_start);
    size_t q = p;
    while (q < n && isBlank(static_cast<unsigned char>(s[q]))) ++q;
    if (q >= n || s[q] != '=') continue;  // attribute without a value
    p = q + 1;
    while (p < n && isBlank(static_cast<unsigned char>(s[p]))) ++p;
    std::string_view value;
    if (p < n && (s[p] == '"' || s[p] == '\'')) {
      size_t end = s.find(s[p], p + 1);
      size_t stop = end == std::string_view::npos ? n : end;
      value = s.substr(p + 1, stop - p - 1);
      p = end == std::string_view::npos ? n : end + 1;
    } else {
      size_t vs = p;
      while (p < n && !isBlank(static_cast<unsigned char>(s[p])) && s[p] != '>') ++p;
      value = s.substr(vs, p - vs);
    }
    hit = dangerousAttribute(kind, name, value, strict_handlers);
  }
  *i = p;
  return hit;
}

// HTML data state from `i`: every start tag (a '<' followed by an ASCII
// letter) is read with its attributes; scanning resumes after the tag, as
// the browser's tokenizer does, so the cost stays linear.
bool scanData(std::string_view s, size_t i) {
  const size_t n = s.size();
  while (i < n) {
    size_t lt = s.find('<', i);
    if (lt == std::string_view::npos || lt + 1 >= n) return false;
    i = lt + 1;
    // <?import implementation=...>: IE's HTML component import.
    if (s[i] == '?' && iequals(s.substr(i + 1, 6), "import")) return true;
    if (!isAlpha(static_cast<unsigned char>(s[i]))) continue;  // "< 5", "</b>", "<!--"
    size_t name_start = i;
    while (i < n && !isBlank(static_cast<unsigned char>(s[i])) && s[i] != '/' && s[i] != '>') ++i;
    std::string_view name = s.substr(name_start, i - name_start);
    char buf[24];
    if (name.size() <= sizeof(buf)) {
      for (size_t k = 0; k < name.size(); ++k) buf[k] = lower(static_cast<unsigned char>(name[k]));
      TagKind kind = classifyTag(std::string_view(buf, name.size()));
      if (kind == TagKind::Dangerous) return true;
      if (scanAttributes(s, &i, kind, false)) return true;
    } else if (scanAttributes(s, &i, TagKind::Plain, false)) {
      return true;
    }
  }
  return false;
}

// The value sits inside an attribute value and ends it at `end` (its
// closing quote, or for an unquoted value the first blank): what follows
// is read as more attributes of that tag, then as page text.
bool scanBreakOut(std::string_view s, size_t end, bool strict_handlers) {
  // scanAttributes judges an attribute only once it has seen its '=', and
  // scanData needs a '<': without either after `end` there is nothing to
  // find, and prose (a blank every few bytes) is skipped in one pass.
  if (end >= s.size()) return false;
  std::string_view rest = s.substr(end);
  if (rest.find('=') == std::string_view::npos && rest.find('<') == std::string_view::npos) {
    return false;
  }
  size_t i = end;
  if (scanAttributes(s, &i, TagKind::None, strict_handlers)) return true;
  return i < s.size() && scanData(s, i);
}

// --- Script context: the value lands inside a <script> block or an event
// handler, so it needs no tag at all.

bool isIdentStart(unsigned char c) { return isAlpha(c) || c == '_' || c == '$'; }
bool isIdentChar(unsigned char c) { return isIdentStart(c) || isDigit(c) || c == '.'; }

// Member chains that reach the browser's sinks, written the way the reader
// below normalises them ("window['document'] /*x*/ ['cookie']" becomes
// "window.document.cookie"), plus the call shapes of template-literal and
// constructor tricks.
constexpr std::string_view kScriptList[] = {
    "document.cookie", "document.domain",  "document.write",   "document.location",
    "window.location", "self.alert",       "window.alert",     "top.alert",
    "parent.alert",    "self.eval",        "window.eval",      "self.$",
    ".constructor.constructor", "constructor.constructor", ".call`", ".apply`",
    ".fromcharcode",   "globaleval",       "document.createelement",
    "document.body.",  ".innerhtml",       ".outerhtml",       ".insertadjacenthtml",
};
constexpr PatternSet kScriptPatterns(kScriptList);
constexpr DotTails kScriptDots(kScriptList);

// How scriptSinks reads each byte: dropped (blanks, quotes, ')' ']' '('),
// or the character it stands for ('[' as '.', letters lowercased). One
// lookup instead of a chain of compares per byte.
struct SinkReading {
  constexpr SinkReading() {
    for (int b = 0; b < 256; ++b) {
      const auto c = static_cast<unsigned char>(b);
      drop[b] = isBlank(c) || c == '"' || c == '\'' || c == ')' || c == ']' || c == '(';
      as[b] = c == '[' ? '.' : lower(c);
    }
  }
  bool drop[256] = {};
  char as[256] = {};
};
constexpr SinkReading kSinkReading;

// JavaScript as the sink patterns see it: comments, blanks, quotes, ')' ']'
// and '(' dropped, '[' read as '.', lowercased.
bool scriptSinks(std::string_view s) {
  // Every pattern is a member access ('.' or '[') or a template call ('`').
  if (!containsAny<'.', '[', '`'>(s)) return false;
  MatchWindow win;
  size_t n = s.size();
  // Characters pushed since the last '.': past kScriptDots.longest_tail,
  // only the patterns without a '.' can end here (on prose, most
  // characters), so the others are not compared. Exact: see DotTails.
  size_t since_dot = kScriptDots.longest_tail + 1;
  for (size_t i = 0; i < n; ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u == '/' && i + 1 < n && s[i + 1] == '*') {
      size_t end = s.find("*/", i + 2);
      if (end == std::string_view::npos) break;
      i = end + 1;
      continue;
    }
    if (kSinkReading.drop[u]) continue;
    const char c = kSinkReading.as[u];
    if (c == '.') {
      if (win.last() == '.') continue;
      since_dot = 0;
    } else if (since_dot <= kScriptDots.longest_tail) {
      ++since_dot;
    }
    const std::uint64_t allowed =
        since_dot <= kScriptDots.longest_tail ? ~std::uint64_t{0} : kScriptDots.undotted;
    if (win.push(c, kScriptPatterns, allowed)) {
      // ".call`" right after a closing backtick is Markdown prose
      // ("`renderer`. Call `render`"), not a tagged template.
      bool tagged = c == '`' && (win.at(5) == '.' || win.at(6) == '.');
      size_t dot = win.at(5) == '.' ? 5 : 6;
      if (!tagged || win.at(dot + 1) != '`') return true;
    }
  }
  return false;
}

// JSFuck: script written with []()!+ only. "!![]", "+![]", "(![]+" and
// "(![][" do not occur in text; a Markdown image ("![](x)", "[![](x)](y)")
// has neither.
bool jsFuck(std::string_view s) {
  if (s.find("[]") == std::string_view::npos) return false;
  char w[5] = {0, 0, 0, 0, 0};  // last five non-blank bytes, oldest first
  for (char c : s) {
    if (isBlank(static_cast<unsigned char>(c))) continue;
    std::memmove(w, w + 1, 4);
    w[4] = c;
    // "X![]" just completed, with X in w[1]
    if (w[4] == ']' && w[3] == '[' && w[2] == '!' && (w[1] == '!' || w[1] == '+')) return true;
    // "(![]" followed by '+' or '['
    if ((c == '+' || c == '[') && w[3] == ']' && w[2] == '[' && w[1] == '!' && w[0] == '(') {
      return true;
    }
  }
  return false;
}

// Functions whose call is the classic script probe.
constexpr std::string_view kProbeCalls[] = {"alert", "confirm", "eval", "execscript", "function",
                                            "prompt", "setinterval", "settimeout"};

// Reads an identifier (dotted) at *i; returns it (empty if none).
std::string_view identAt(std::string_view s, size_t* i) {
  size_t start = *i;
  if (start >= s.size() || !isIdentStart(static_cast<unsigned char>(s[start]))) return {};
  size_t p = start + 1;
  while (p < s.size() && isIdentChar(static_cast<unsigned char>(s[p]))) ++p;
  *i = p;
  return s.substr(start, p - start);
}

bool isProbeCall(std::string_view ident) {
  size_t dot = ident.rfind('.');
  std::string_view last = dot == std::string_view::npos ? ident : ident.substr(dot + 1);
  // A member of some object (new.function(), obj.eval()) is somebody's
  // method; only the global object's names count.
  if (dot != std::string_view::npos) {
    std::string_view owner = ident.substr(0, dot);
    if (!iequals(owner, "window") && !iequals(owner, "self") && !iequals(owner, "top") &&
        !iequals(owner, "parent") && !iequals(owner, "globalthis") && !iequals(owner, "this")) {
      return false;
    }
  }
  for (std::string_view f : kProbeCalls) {
    if (iequals(last, f)) return true;
  }
  return false;
}

// The whole value is a call of a probe function: alert(1), eval('...'),
// new Function(...), setTimeout`...`.
bool probeCall(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && isBlank(static_cast<unsigned char>(s[i]))) ++i;
  size_t save = i;
  std::string_view id = identAt(s, &i);
  if (iequals(id, "new")) {
    while (i < s.size() && isBlank(static_cast<unsigned char>(s[i]))) ++i;
    save = i;
    id = identAt(s, &i);
  }
  (void)save;
  return !id.empty() && isProbeCall(id) && i < s.size() && (s[i] == '(' || s[i] == '`');
}

// The value closes a JavaScript string it sits in and calls something:
// ';alert(1)//  "-confirm`1`-"  x');top.eval(name)//
bool scriptBreakOut(std::string_view s, char quote) {
  size_t p = s.find(quote);
  if (p == std::string_view::npos) return false;
  size_t i = p + 1;
  bool op = false;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (isBlank(c)) {
      ++i;
    } else if (std::strchr(";+-*/%|&^,)}<>=!?:", c) != nullptr && c != 0) {
      op = true;
      ++i;
    } else {
      break;
    }
  }
  if (!op) return false;
  std::string_view id = identAt(s, &i);
  if (id.empty()) return false;
  // A tagged template (alert`1`) must be glued to its name, and not in a
  // backtick context, where `-v` and `./configure` are Markdown code.
  if (quote != '`' && i < s.size() && s[i] == '`') return true;
  while (i < s.size() && isBlank(static_cast<unsigned char>(s[i]))) ++i;
  return i < s.size() && s[i] == '(';
}

// UTF-7 "+ADw-" is '<': a page served (or sniffed) as UTF-7 turns
// "+ADw-script+AD4-" into a tag.
bool utf7Tag(std::string_view s) {
  for (size_t p = 0; (p = s.find('+', p)) != std::string_view::npos; ++p) {
    if (iequals(s.substr(p, 5), "+adw-") && p + 5 < s.size() &&
        isAlpha(static_cast<unsigned char>(s[p + 5]))) {
      return true;
    }
  }
  return false;
}

bool scriptContext(std::string_view s) {
  return probeCall(s) || scriptBreakOut(s, '\'') || scriptBreakOut(s, '"') ||
         scriptBreakOut(s, '`') || scriptSinks(s) || jsFuck(s) || utf7Tag(s);
}

}  // namespace

bool detectXss(std::string_view input) {
  if (dangerousUrl(input, true)) return true;
  if (scanData(input, 0)) return true;
  for (char q : {'"', '\''}) {
    size_t p = input.find(q);
    if (p != std::string_view::npos && scanBreakOut(input, p + 1, false)) return true;
  }
  size_t blank = std::find_if(input.begin(), input.end(),
                              [](char c) { return isBlank(static_cast<unsigned char>(c)); }) -
                 input.begin();
  if (blank < input.size() && scanBreakOut(input, blank, true)) return true;
  // The value pasted into a style attribute or a stylesheet.
  if (dangerousCss(input, kBareCssPatterns)) return true;
  return scriptContext(input);
}

}  // namespace mamori::inspect
