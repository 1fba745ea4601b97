// SQL injection detector: a SQL lexer, a folding pass that turns the token
// stream into "core" tokens (comments inside the text, parentheses, unary
// operators and redundant words dropped), and a grammar of injection shapes
// checked on the start of the stream (break-outs) and on a sliding window
// (shapes that are an attack wherever they appear). See sqli_detector.h.
//
// Everything lives on the stack: tokens are string_views into the input,
// the analysis keeps the first kPrefixMax core tokens and the last kRing.

#include "inspect/sqli_detector.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>

namespace mamori::inspect {
namespace {

// Token classes. The letter is also what the fingerprint shows.
enum TokenType : char {
  kStr = 's',      // string literal
  kNum = 'n',      // number, NULL, TRUE, FALSE
  kBare = 'b',     // identifier or other word
  kVar = 'v',      // @var, @@sysvar
  kFunc = 'f',     // word followed by '('
  kCmp = 'o',      // comparison: = <> != < > <= >= <=> LIKE IS RLIKE REGEXP ...
  kArith = 'a',    // + - * / % | & ^ DIV MOD
  kLogic = '&',    // AND OR XOR && ||
  kComment = 'c',  // -- # /* */
  kSemi = ';',
  kComma = ',',
  kUnion = 'U',
  kStmt = 'E',     // statement verb: SELECT INSERT UPDATE DELETE DROP EXEC ...
  kKeyword = 'k',  // FROM WHERE HAVING ORDER BY ...
  kOpen = '(',
  kClose = ')',
  kNot = '!',      // NOT ! ~ (unary, dropped when folding)
  kOther = 'x',    // any other punctuation
};

// Words the grammar needs to tell apart within a class.
enum class Word : std::uint8_t {
  None,
  Select, Insert, Update, Delete, Drop, Create, Alter, Truncate, Rename, Exec, Declare,
  Shutdown, Replace,
  From, Where, Having, Limit, Into, Outfile, Set, Table, Database, Schema, Procedure,
  Order, Group, By, OrderBy, All, Distinct, Waitfor, Delay,
  Sleep, Benchmark, Boolean, Collate, Any, Analyse, Values,
  Postfix,  // ISNULL / NOTNULL: a comparison with no right-hand side
};

// Token flags.
constexpr std::uint8_t kUnterminated = 1;  // kStr: closing quote missing
constexpr std::uint8_t kNumericArg = 2;    // kFunc: first argument is a bare number
constexpr std::uint8_t kSymbolic = 4;      // kCmp: written with symbols, not a word
constexpr std::uint8_t kDanger = 8;        // a name only an attack mentions (@@version, ...)
constexpr std::uint8_t kStar = 16;         // kBare: the '*' of SELECT *
constexpr std::uint8_t kEndsExpr = 32;     // kFunc: after its ')' the value ends or an operator follows
constexpr std::uint8_t kProseTail = 64;    // kComment: "--"/"#" followed by several words
constexpr std::uint8_t kAfterParen = 128;  // core token that came right after a '(' 

// Trivially constructible on purpose: the analyzer keeps 20 of them per
// context and only reads slots it has written, so zeroing them would be
// pure cost on every value.
struct Token {
  char type;
  Word word;
  std::uint8_t flags;
  std::string_view text;
};

struct KeywordEntry {
  std::string_view name;
  char type;
  Word word;
};

// Sorted by name for binary search. Words not listed are kBare (or kFunc
// before '(').
constexpr KeywordEntry kKeywords[] = {
    {"all", kKeyword, Word::All},
    {"alter", kStmt, Word::Alter},
    {"analyse", kBare, Word::Analyse},
    {"analyze", kBare, Word::Analyse},
    {"and", kLogic, Word::None},
    {"any", kKeyword, Word::Any},
    {"as", kKeyword, Word::None},
    {"benchmark", kBare, Word::Benchmark},
    {"between", kCmp, Word::None},
    {"by", kKeyword, Word::By},
    {"case", kKeyword, Word::None},
    {"collate", kKeyword, Word::Collate},
    {"create", kStmt, Word::Create},
    {"database", kKeyword, Word::Database},
    {"declare", kStmt, Word::Declare},
    {"delay", kKeyword, Word::Delay},
    {"delete", kStmt, Word::Delete},
    {"distinct", kKeyword, Word::Distinct},
    {"distinctrow", kKeyword, Word::Distinct},
    {"div", kArith, Word::None},
    {"drop", kStmt, Word::Drop},
    {"dumpfile", kKeyword, Word::Outfile},
    {"else", kKeyword, Word::None},
    {"end", kKeyword, Word::None},
    {"exec", kStmt, Word::Exec},
    {"execute", kStmt, Word::Exec},
    {"exists", kKeyword, Word::None},
    {"false", kNum, Word::Boolean},
    {"from", kKeyword, Word::From},
    {"glob", kCmp, Word::None},
    {"group", kBare, Word::Group},
    {"having", kKeyword, Word::Having},
    {"ilike", kCmp, Word::None},
    {"insert", kStmt, Word::Insert},
    {"into", kKeyword, Word::Into},
    {"is", kCmp, Word::None},
    {"isnull", kCmp, Word::Postfix},
    {"join", kKeyword, Word::None},
    {"like", kCmp, Word::None},
    {"limit", kKeyword, Word::Limit},
    {"mod", kArith, Word::None},
    {"not", kNot, Word::None},
    {"notnull", kCmp, Word::Postfix},
    {"null", kNum, Word::None},
    {"offset", kKeyword, Word::None},
    {"or", kLogic, Word::None},
    {"order", kBare, Word::Order},
    {"outfile", kKeyword, Word::Outfile},
    {"pg_sleep", kBare, Word::Sleep},
    {"procedure", kKeyword, Word::Procedure},
    {"regexp", kCmp, Word::None},
    {"rename", kStmt, Word::Rename},
    {"replace", kStmt, Word::Replace},
    {"rlike", kCmp, Word::None},
    {"schema", kKeyword, Word::Schema},
    {"select", kStmt, Word::Select},
    {"set", kKeyword, Word::Set},
    {"shutdown", kStmt, Word::Shutdown},
    {"sleep", kBare, Word::Sleep},
    {"sounds", kCmp, Word::None},
    {"table", kKeyword, Word::Table},
    {"then", kKeyword, Word::None},
    {"true", kNum, Word::Boolean},
    {"truncate", kStmt, Word::Truncate},
    {"union", kUnion, Word::None},
    {"update", kStmt, Word::Update},
    {"values", kKeyword, Word::Values},
    {"waitfor", kKeyword, Word::Waitfor},
    {"when", kKeyword, Word::None},
    {"where", kKeyword, Word::Where},
    {"xor", kLogic, Word::None},
};

// Names that only an attack sends: catalog tables, command-execution and
// out-of-band procedures, error-based extraction functions. Matched as a
// prefix of the lowercased word (words include dots: "information_schema.tables").
constexpr std::array<std::string_view, 17> kDangerPrefixes{{
    "information_schema", "xp_cmdshell", "sp_executesql", "sp_oacreate", "sysobjects",
    "syscolumns", "pg_catalog", "pg_shadow", "mysql.user", "load_file", "extractvalue",
    "updatexml", "utl_http", "dbms_pipe", "lo_import", "lo_export", "msysaccessobjects",
}};

constexpr std::size_t kShortestDangerPrefix = 8;  // "utl_http"; most words are shorter
constexpr std::size_t kLongestKeyword = 11;       // "distinctrow"

// kKeywords bucketed by first letter and length: the entries of bucket
// b = (c - 'a') * (kLongestKeyword + 1) + length are
// kKeywords[order[start[b]]] .. kKeywords[order[start[b + 1] - 1]], so a
// lookup compares a word with the zero to three keywords of its letter
// and length. Every word of a value is looked up: on 3 KB of prose the
// earlier per-letter buckets (up to 9 entries, lengths compared one by
// one) were a fifth of the lexer's time.
struct KeywordIndex {
  static constexpr std::size_t kBuckets = 26 * (kLongestKeyword + 1);
  constexpr KeywordIndex() {
    constexpr std::size_t n = std::size(kKeywords);
    std::size_t k = 0;
    for (std::size_t b = 0; b < kBuckets; ++b) {
      start[b] = static_cast<std::uint8_t>(k);
      for (std::size_t i = 0; i < n; ++i) {
        const std::string_view name = kKeywords[i].name;
        if (static_cast<std::size_t>(name[0] - 'a') * (kLongestKeyword + 1) + name.size() == b) {
          order[k++] = static_cast<std::uint8_t>(i);
        }
      }
    }
    start[kBuckets] = static_cast<std::uint8_t>(k);
  }
  std::uint8_t start[kBuckets + 1] = {};
  std::uint8_t order[std::size(kKeywords)] = {};
};
constexpr KeywordIndex kKeywordIndex;
static_assert(std::size(kKeywords) < 256, "KeywordIndex stores offsets in a byte");
static_assert(kKeywordIndex.start[KeywordIndex::kBuckets] == std::size(kKeywords),
              "every keyword is a-z first and at most kLongestKeyword long");
static_assert(std::is_sorted(std::begin(kKeywords), std::end(kKeywords),
                             [](const KeywordEntry& a, const KeywordEntry& b) {
                               return a.name < b.name;
                             }),
              "kKeywords must stay sorted");

// The keyword entry for lowercase `lw` (first byte a..z, length at most
// kLongestKeyword), or null.
const KeywordEntry* findKeyword(std::string_view lw) {
  const std::size_t b = static_cast<std::size_t>(lw[0] - 'a') * (kLongestKeyword + 1) + lw.size();
  for (std::size_t i = kKeywordIndex.start[b]; i < kKeywordIndex.start[b + 1]; ++i) {
    const KeywordEntry& e = kKeywords[kKeywordIndex.order[i]];
    std::size_t k = 1;
    while (k < lw.size() && e.name[k] == lw[k]) ++k;
    if (k == lw.size()) return &e;
  }
  return nullptr;
}

// Byte classes, one table lookup each: the lexer asks them of every byte
// (words are most of a long natural-language value), and the chains of
// comparisons they replace were a large part of its time on prose.
constexpr std::uint8_t kClassSpace = 1;
constexpr std::uint8_t kClassDigit = 2;
constexpr std::uint8_t kClassWordStart = 4;
constexpr std::uint8_t kClassWord = 8;

struct ByteClasses {
  constexpr ByteClasses() {
    for (unsigned c = 0; c < 256; ++c) {
      std::uint8_t k = 0;
      // C0 controls and DEL count as blanks: several servers skip them, and
      // an attacker uses them to split words.
      if (c <= 0x20 || c == 0x7f || c == 0xa0) k |= kClassSpace;
      const bool digit = c >= '0' && c <= '9';
      const bool word_start =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
      if (digit) k |= kClassDigit;
      if (word_start) k |= kClassWordStart;
      if (word_start || digit || c == '$') k |= kClassWord;
      of[c] = k;
    }
  }
  std::uint8_t of[256] = {};
};
constexpr ByteClasses kByteClasses;

bool isSpace(unsigned char c) { return kByteClasses.of[c] & kClassSpace; }

bool isDigit(unsigned char c) { return kByteClasses.of[c] & kClassDigit; }

bool isHexDigit(unsigned char c) {
  return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool isWordStart(unsigned char c) { return kByteClasses.of[c] & kClassWordStart; }

bool isWordChar(unsigned char c) { return kByteClasses.of[c] & kClassWord; }

char lower(unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); }

bool isOperand(char type) {
  return type == kStr || type == kNum || type == kBare || type == kVar || type == kFunc;
}

bool isLiteral(char type) { return type == kStr || type == kNum; }

// Lexes SQL. With `quote` set, the input is taken to start inside a string
// literal delimited by that quote, so the first token is that string.
class SqlLexer {
 public:
  SqlLexer(std::string_view in, char quote) : in_(in), quote_(quote) {}

  // Fills *t with the next token; false at the end of the input.
  bool next(Token* t) {
    if (quote_ != 0) {
      char q = quote_;
      quote_ = 0;
      // No backslash escapes in the context string: a value ending in \'
      // is how an attacker defeats addslashes(), and standard SQL has none.
      lexString(q, 0, 0, t, /*backslash=*/false);
      return true;
    }
    while (pos_ < in_.size()) {
      unsigned char c = static_cast<unsigned char>(in_[pos_]);
      if (isSpace(c)) {
        ++pos_;
        continue;
      }
      if (c == '{' || c == '}') {  // ODBC/MySQL escapes {fn ...} {if ...}; JSON braces
        ++pos_;
        continue;
      }
      if (c == ':' && peek(1) == ':') {  // PostgreSQL cast 'x'::jsonb: the type name adds nothing
        pos_ += 2;
        while (pos_ < in_.size() && isSpace(peek(0))) ++pos_;
        while (pos_ < in_.size() && isWordChar(peek(0))) ++pos_;
        continue;
      }
      if (c == '*' && peek(1) == '/') {  // end of a /*! ... */ block: transparent
        pos_ += 2;
        continue;
      }
      if (c == '/' && peek(1) == '*' && peek(2) == '!') {
        // MySQL executes the body of /*!50000 ... */: lex it as code.
        pos_ += 3;
        while (pos_ < in_.size() && isDigit(static_cast<unsigned char>(in_[pos_]))) ++pos_;
        continue;
      }
      if (first_token_ == kNoToken) first_token_ = pos_;
      return lexOne(c, t);
    }
    return false;
  }

 private:
  unsigned char peek(std::size_t ahead) const {
    return pos_ + ahead < in_.size() ? static_cast<unsigned char>(in_[pos_ + ahead]) : 0;
  }

  void emit(Token* t, char type, std::size_t start, std::uint8_t flags = 0) {
    t->type = type;
    t->word = Word::None;
    t->flags = flags;
    t->text = in_.substr(start, pos_ - start);
  }

  bool lexOne(unsigned char c, Token* t) {
    std::size_t start = pos_;
    switch (c) {
      case '\'':
      case '"':
        lexString(static_cast<char>(c), pos_ + 1, start, t);
        return true;
      case '`': {  // quoted identifier: `information_schema` is still the catalog
        std::size_t end = in_.find('`', pos_ + 1);
        pos_ = end == std::string_view::npos ? in_.size() : end + 1;
        emit(t, kBare, start);
        std::size_t body_end = end == std::string_view::npos ? in_.size() : end;
        if (isDangerName(in_.substr(start + 1, body_end - start - 1))) t->flags |= kDanger;
        return true;
      }
      case '#':
        // MySQL's '#' comment. Directly before a word it is prose or
        // markup ("#quick-start", '#foo', "#3"), not the end of a query.
        if (isWordChar(peek(1)) || peek(1) == '!') {  // "#3", "#foo", "#!/bin/sh"
          ++pos_;
          emit(t, kOther, start);
          return true;
        }
        if (peek(1) == '>' || peek(1) == '-') {  // PostgreSQL jsonb #> #>> #-
          pos_ += (peek(1) == '>' && peek(2) == '>') ? 3 : 2;
          emit(t, kCmp, start, kSymbolic);
          return true;
        }
        lexLineComment(t);
        return true;
      case '-':
        // "--" before a letter is a command-line option ("--disable-cpp");
        // MySQL needs a blank after "--" anyway.
        if (peek(1) == '-' && !isWordStart(peek(2))) {
          lexLineComment(t);
          return true;
        }
        if (peek(1) == '>') {  // -> ->> JSON extraction
          pos_ += peek(2) == '>' ? 3 : 2;
          emit(t, kCmp, start, kSymbolic);
          return true;
        }
        ++pos_;
        emit(t, kArith, start);
        return true;
      case '/':
        if (peek(1) == '*') {
          std::size_t end = in_.find("*/", pos_ + 2);
          pos_ = end == std::string_view::npos ? in_.size() : end + 2;
          emit(t, kComment, start);
          return true;
        }
        ++pos_;
        emit(t, kArith, start);
        return true;
      case ';':
      case ',':
      case '(':
      case ')':
        ++pos_;
        emit(t, static_cast<char>(c), start);
        return true;
      case '=':
        pos_ += peek(1) == '=' ? 2 : 1;
        emit(t, kCmp, start, kSymbolic);
        return true;
      case '<':
        if (peek(1) == '<') {
          pos_ += 2;
          emit(t, kArith, start);
          return true;
        }
        pos_ += (peek(1) == '=' && peek(2) == '>') ? 3
                : (peek(1) == '=' || peek(1) == '>' || peek(1) == '@') ? 2  // <@ jsonb contained-in
                                                                        : 1;
        emit(t, kCmp, start, kSymbolic);
        return true;
      case '>':
        if (peek(1) == '>') {
          pos_ += 2;
          emit(t, kArith, start);
          return true;
        }
        pos_ += peek(1) == '=' ? 2 : 1;
        emit(t, kCmp, start, kSymbolic);
        return true;
      case '!':
        if (peek(1) == '=' || peek(1) == '<' || peek(1) == '>') {
          pos_ += 2;
          emit(t, kCmp, start, kSymbolic);
          return true;
        }
        ++pos_;
        emit(t, kNot, start);
        return true;
      case '~':
        ++pos_;
        emit(t, kNot, start);
        return true;
      case '|':
      case '&':
        if (peek(1) == c) {
          pos_ += 2;
          emit(t, kLogic, start);
          return true;
        }
        ++pos_;
        emit(t, kArith, start);
        return true;
      case ':':
        if (peek(1) == '=') {
          pos_ += 2;
          emit(t, kCmp, start, kSymbolic);
          return true;
        }
        ++pos_;
        emit(t, kOther, start);
        return true;
      case '+':
      case '*':
      case '%':
      case '^':
        ++pos_;
        emit(t, kArith, start);
        return true;
      case '@':
        if (peek(1) == '>' || peek(1) == '?') {  // @> @? jsonb operators
          pos_ += 2;
          emit(t, kCmp, start, kSymbolic);
          return true;
        }
        lexVariable(t);
        return true;
      case '?':  // jsonb ? ?| ?&
        pos_ += (peek(1) == '|' || peek(1) == '&') ? 2 : 1;
        emit(t, kCmp, start, kSymbolic);
        return true;
      case '.':
        if (isDigit(peek(1))) {
          lexNumber(t);
          return true;
        }
        ++pos_;
        emit(t, kOther, start);
        return true;
      default:
        break;
    }
    if (isDigit(c)) {
      lexNumber(t);
      return true;
    }
    if (isWordStart(c)) {
      lexWord(t);
      return true;
    }
    ++pos_;
    emit(t, kOther, start);
    return true;
  }

  // String body from `body` up to the closing `q`; a doubled quote or a
  // backslash escape does not close it. `start` is where the token begins.
  void lexString(char q, std::size_t body, std::size_t start, Token* t, bool backslash = true) {
    std::size_t i = body;
    while (i < in_.size()) {
      char c = in_[i];
      if (c == '\\' && backslash) {
        i += 2;
        continue;
      }
      if (c == q) {
        if (i + 1 < in_.size() && in_[i + 1] == q) {
          i += 2;
          continue;
        }
        pos_ = i + 1;
        emit(t, kStr, start);
        return;
      }
      ++i;
    }
    pos_ = in_.size();
    emit(t, kStr, start, kUnterminated);
  }

  // A "--" or "#" comment to the end of the line. What an attacker puts
  // after it is nothing or one token ("-- -", "--+", "#x"); several words
  // are prose ("the \"Foo\" -- a classic"), flagged kProseTail.
  void lexLineComment(Token* t) {
    std::size_t start = pos_;
    std::size_t end = in_.find('\n', pos_);
    pos_ = end == std::string_view::npos ? in_.size() : end + 1;
    std::string_view body = in_.substr(start, (end == std::string_view::npos ? in_.size() : end) - start);
    std::size_t b = body.find_first_not_of("-#");
    std::uint8_t flags = 0;
    if (b != std::string_view::npos) {
      std::string_view tail = body.substr(b);
      std::size_t first = 0;
      while (first < tail.size() && isSpace(static_cast<unsigned char>(tail[first]))) ++first;
      std::size_t last = tail.size();
      while (last > first && isSpace(static_cast<unsigned char>(tail[last - 1]))) --last;
      for (std::size_t i = first; i < last; ++i) {
        if (isSpace(static_cast<unsigned char>(tail[i]))) {
          flags = kProseTail;
          break;
        }
      }
      // '--' or ("#") quoted in prose: the tail starts with the closing quote.
      if (last > first && (tail[first] == '\'' || tail[first] == '"')) flags = kProseTail;
    }
    emit(t, kComment, start, flags);
  }

  void lexVariable(Token* t) {
    std::size_t start = pos_;
    ++pos_;
    // @@version, @@datadir, ...: server internals no form field mentions;
    // glued to a word (memcpy@@GLIBC_2.14) it is an ELF symbol version.
    const bool system = peek(0) == '@' && !(start > 0 && isWordChar(static_cast<unsigned char>(in_[start - 1])));
    if (system) ++pos_;
    std::size_t name = pos_;
    if (peek(0) == '`' || peek(0) == '\'' || peek(0) == '"') {
      char q = static_cast<char>(peek(0));
      std::size_t end = in_.find(q, pos_ + 1);
      pos_ = end == std::string_view::npos ? in_.size() : end + 1;
    } else {
      while (pos_ < in_.size() && (isWordChar(peek(0)) || peek(0) == '.')) ++pos_;
    }
    if (pos_ == name) {
      emit(t, kOther, start);  // a lone '@'
      return;
    }
    emit(t, kVar, start, system ? kDanger : 0);
  }

  void lexNumber(Token* t) {
    std::size_t start = pos_;
    if (peek(0) == '0' && (peek(1) == 'x' || peek(1) == 'X' || peek(1) == 'b' || peek(1) == 'B')) {
      pos_ += 2;
      while (pos_ < in_.size() && isHexDigit(peek(0))) ++pos_;
    } else {
      while (pos_ < in_.size() && (isDigit(peek(0)) || peek(0) == '.')) ++pos_;
      if ((peek(0) == 'e' || peek(0) == 'E') &&
          (isDigit(peek(1)) || ((peek(1) == '+' || peek(1) == '-') && isDigit(peek(2))))) {
        pos_ += 2;
        while (pos_ < in_.size() && isDigit(peek(0))) ++pos_;
      }
    }
    emit(t, kNum, start);
  }

  // True when `name` starts (case-insensitively) with a kDangerPrefixes entry.
  static bool isDangerName(std::string_view name) {
    if (name.size() < kShortestDangerPrefix) return false;
    for (std::string_view p : kDangerPrefixes) {
      if (name.size() < p.size()) continue;
      std::size_t k = 0;
      while (k < p.size() && lower(static_cast<unsigned char>(name[k])) == p[k]) ++k;
      if (k == p.size()) return true;
    }
    return false;
  }

  // Index of the next byte that is not blank or inside a /* */ comment.
  std::size_t skipBlank(std::size_t i) const {
    while (i < in_.size()) {
      unsigned char c = static_cast<unsigned char>(in_[i]);
      if (isSpace(c)) {
        ++i;
      } else if (c == '/' && i + 1 < in_.size() && in_[i + 1] == '*') {
        std::size_t end = in_.find("*/", i + 2);
        i = end == std::string_view::npos ? in_.size() : end + 2;
      } else {
        break;
      }
    }
    return i;
  }

  // True when the call starting at `open` (the '(') has a number as its
  // first argument: SLEEP(5), SLEEP(20.to_i), BENCHMARK(5000000, ...).
  bool numericFirstArg(std::size_t open) const {
    std::size_t i = skipBlank(open + 1);
    return i < in_.size() && isDigit(static_cast<unsigned char>(in_[i]));
  }

  // True when, after the ')' matching the '(' at `open`, the value ends or
  // goes on with an operator or comment rather than with more words
  // ("sleep(5)--" but not "sleep(5) is what my cat does"). Looks at most
  // kCallScan bytes ahead so the lexer stays linear.
  bool callEndsExpression(std::size_t open) const {
    constexpr std::size_t kCallScan = 256;
    int depth = 0;
    std::size_t limit = std::min(in_.size(), open + kCallScan);
    for (std::size_t i = open; i < limit; ++i) {
      if (in_[i] == '(') {
        ++depth;
      } else if (in_[i] == ')' && --depth == 0) {
        std::size_t j = skipBlank(i + 1);
        return j >= in_.size() || !isWordChar(static_cast<unsigned char>(in_[j]));
      }
    }
    return depth > 0 && limit == in_.size();  // unclosed call at the end of the value
  }

  void lexWord(Token* t) {
    std::size_t start = pos_;
    // The word's first bytes, lowercased while it is read (keyword and
    // danger-name lookups need no more than these).
    char buf[24];
    std::size_t n = 0;
    while (pos_ < in_.size()) {
      unsigned char c = peek(0);
      if (isWordChar(c) || (c == '.' && isWordStart(peek(1)))) {
        if (n < sizeof(buf)) buf[n++] = lower(c);
        ++pos_;
      } else {
        break;
      }
    }
    // N'..', X'..', B'..', E'..': prefixed string literals.
    if (pos_ - start == 1 && peek(0) == '\'') {
      lexString('\'', pos_ + 1, start, t);
      return;
    }
    emit(t, kBare, start);
    std::size_t len = pos_ - start;
    std::string_view lw(buf, n);
    if (lw.size() >= kShortestDangerPrefix && isDangerName(lw)) t->flags |= kDanger;
    std::size_t after = skipBlank(pos_);
    bool call = after < in_.size() && in_[after] == '(';
    if (len >= 2 && len <= kLongestKeyword && lw[0] >= 'a' && lw[0] <= 'z') {
      if (const KeywordEntry* e = findKeyword(lw)) {
        t->type = e->type;
        t->word = e->word;
      }
    }
    // Logic and arithmetic words, UNION and SELECT keep their class before
    // '(' (UNION(SELECT ...), OR(1=1)); any other word followed by '(' is a
    // function call.
    // (A comparison word before '(' is SQLite's function form: GLOB(x, y).)
    bool keeps = t->type == kLogic || t->type == kArith || t->type == kUnion ||
                 t->type == kNot || t->word == Word::Select;
    if (call && !keeps) {
      t->type = kFunc;
      if (t->word == Word::Sleep || t->word == Word::Benchmark) {
        if (numericFirstArg(after)) t->flags |= kNumericArg;
        // Only the value's first token is judged on what follows the call;
        // skipping the scan elsewhere keeps "sleep(sleep(sleep(..." linear
        // with a small constant.
        if (start == first_token_ && callEndsExpression(after)) t->flags |= kEndsExpr;
      }
    }
  }

  static constexpr std::size_t kNoToken = static_cast<std::size_t>(-1);
  std::string_view in_;
  std::size_t pos_ = 0;
  std::size_t first_token_ = kNoToken;  // where the first token of the value starts
  char quote_;
};

constexpr int kPrefixMax = 12;
constexpr int kRing = 8;

// Folds the raw token stream and applies the grammar. One instance per
// context; lives on the caller's stack.
class Analyzer {
 public:
  Analyzer(std::string_view input, char quote) : input_(input), quote_(quote) {}

  // Feeds one raw token; returns true once an anywhere-shape matched.
  bool push(const Token& raw) {
    const bool call_open = call_open_;
    call_open_ = false;
    switch (raw.type) {
      case kOpen:
        ++depth_;
        // A call's argument list stays out of the prefix: the break-out
        // shapes see "' OR f(...) = 1" as s & f o n.
        if (call_open && hide_above_ < 0) hide_above_ = depth_ - 1;
        after_close_ = false;
        after_open_ = true;
        return false;
      case kClose:
        if (depth_ > 0) --depth_;
        if (hide_above_ >= 0 && depth_ <= hide_above_) hide_above_ = -1;
        after_close_ = true;
        return false;
      case kComment:
        pending_comment_ = !(raw.flags & kProseTail);
        return false;
      case kNot:
        return false;
      default:
        break;
    }
    Token t = raw;
    if (after_open_) t.flags |= kAfterParen;
    after_open_ = false;
    pending_comment_ = false;
    const Token* prev = last();
    if (t.type == kArith) {
      bool binary = after_close_ || (prev != nullptr && isOperand(prev->type));
      if (t.text == "*" && prev != nullptr &&
          (prev->word == Word::Select || prev->type == kComma)) {
        t.type = kBare;  // SELECT * / SELECT a,*
        t.flags |= kStar;
      } else if (!binary) {
        after_close_ = false;
        return false;  // unary + - : -1 is a number
      }
    }
    after_close_ = false;
    if (prev != nullptr) {
      if (t.type == kStr && prev->type == kStr && !(prev->flags & kUnterminated)) return false;
      if (t.word == Word::By && prev->type == kBare &&
          (prev->word == Word::Order || prev->word == Word::Group)) {
        Token merged = *prev;
        merged.type = kKeyword;
        merged.word = Word::OrderBy;
        replaceLast(merged);
        return checkWindow();
      }
      if ((t.word == Word::All || t.word == Word::Distinct) && prev->type == kUnion) return false;
    }
    append(t);
    call_open_ = t.type == kFunc;
    return checkWindow();
  }

  // Ends the stream: a trailing comment becomes a 'c' token, then the
  // break-out shapes are checked on the prefix.
  bool finish() {
    if (pending_comment_) {
      Token c{kComment, Word::None, 0, {}};
      append(c);
      if (checkWindow()) return true;
    }
    // ; SHUTDOWN as the last statement.
    if (count_ > 1 && at(0).word == Word::Shutdown && at(1).type == kSemi) return true;
    if (checkPrefix()) {
      matched_prefix_ = true;
      return true;
    }
    return false;
  }

  // Writes the token classes of what matched.
  void fingerprint(std::string* out) const {
    out->clear();
    if (matched_prefix_) {
      for (int i = 0; i < prefix_len_; ++i) out->push_back(prefix_[i].type);
      return;
    }
    int n = std::min(count_, kRing);
    for (int i = n - 1; i >= 0; --i) out->push_back(at(i).type);
  }

 private:
  // The i-th most recent core token (0 = newest); i < min(count_, kRing).
  const Token& at(int i) const { return ring_[static_cast<unsigned>(count_ - 1 - i) % kRing]; }
  const Token* last() const { return count_ > 0 ? &at(0) : nullptr; }
  bool has(int i) const { return i < count_ && i < kRing; }

  void append(const Token& t) {
    ring_[static_cast<unsigned>(count_) % kRing] = t;
    if (prefix_len_ < kPrefixMax && hide_above_ < 0) prefix_[prefix_len_++] = t;
    last_in_prefix_ = prefix_len_ > 0 && hide_above_ < 0 && prefix_len_ <= kPrefixMax &&
                      prefix_[prefix_len_ - 1].text.data() == t.text.data();
    ++count_;
  }

  void replaceLast(const Token& t) {
    ring_[static_cast<unsigned>(count_ - 1) % kRing] = t;
    if (last_in_prefix_) prefix_[prefix_len_ - 1] = t;
  }

  bool is(int i, char type) const { return has(i) && at(i).type == type; }
  bool isWord(int i, Word w) const { return has(i) && at(i).word == w; }

  // Shapes that are an injection wherever they occur, checked each time a
  // token arrives by looking back from the newest one.
  bool checkWindow() const {
    const Token& t0 = at(0);
    // A plain word (no keyword, no danger name), most tokens of prose: of
    // the shapes below, only those after SELECT or FROM, or two tokens
    // after a ';', can end with one. Without those, none can fire.
    if (t0.type == kBare && t0.word == Word::None && !(t0.flags & kDanger) &&
        !isWord(1, Word::Select) && !isWord(1, Word::From) && !is(2, kSemi)) {
      return false;
    }
    // Server internals and attack-only names: @@version, information_schema,
    // xp_cmdshell, load_file(...), extractvalue(...).
    if (t0.flags & kDanger) return true;
    // UNION [ALL|DISTINCT] SELECT.
    if (t0.word == Word::Select && is(1, kUnion)) return true;
    // Time delays: SLEEP(5), PG_SLEEP(5), BENCHMARK(1e7, ...), WAITFOR DELAY.
    // In an expression position (after an operator, SELECT, a string...)
    // any call counts; as the whole value it needs a number and must not run
    // on into prose ("sleep(8) is what I need").
    if (t0.type == kFunc && (t0.word == Word::Sleep || t0.word == Word::Benchmark)) {
      if (!has(1)) return (t0.flags & kNumericArg) && (t0.flags & kEndsExpr);
      const Token& p = at(1);
      if (p.word == Word::Select || p.type == kLogic || p.type == kArith || p.type == kCmp ||
          p.type == kComma || p.type == kSemi || p.type == kUnion || p.type == kKeyword ||
          p.type == kStr) {
        return true;
      }
    }
    // SELECT f(...), SELECT @v: a select list no sentence has, unless the
    // SELECT itself follows a word ("add missing select IIO_(X)BUFFER").
    if ((t0.type == kFunc || t0.type == kVar) && isWord(1, Word::Select) && !is(2, kBare)) {
      return true;
    }
    // SELECT 1, ... / SELECT 1 FROM
    if ((t0.type == kComma || t0.word == Word::From) && is(1, kNum) && isWord(2, Word::Select)) {
      return true;
    }
    // "= (SELECT", "IN (SELECT": a parenthesised SELECT after an operator.
    if (t0.word == Word::Select && (t0.flags & kAfterParen) && has(1) &&
        (at(1).type == kCmp || at(1).type == kFunc || at(1).type == kLogic ||
         at(1).word == Word::From)) {
      return true;
    }
    // Subqueries: f((SELECT x, = (SELECT x, ALL/ANY (SELECT x, FROM (SELECT x;
    // judged when the select list starts ("> select." is prose).
    if (isWord(1, Word::Select) && has(2) && (isOperand(t0.type) || (t0.flags & kStar))) {
      const Token& p = at(2);
      if (p.type == kFunc || p.type == kCmp || p.word == Word::All || p.word == Word::Any ||
          p.word == Word::From) {
        return true;
      }
    }
    // DECLARE @v, EXEC(@v), EXEC @proc: T-SQL dynamic SQL.
    if (t0.type == kVar && (isWord(1, Word::Declare) || isWord(1, Word::Exec))) return true;
    // PROCEDURE ANALYSE(): MySQL column-type disclosure.
    if (t0.word == Word::Analyse && isWord(1, Word::Procedure)) return true;
    if (t0.word == Word::Delay && isWord(1, Word::Waitfor)) return true;
    // INTO OUTFILE / DUMPFILE: writing files from a query.
    if (t0.word == Word::Outfile && isWord(1, Word::Into)) return true;
    // Stacked queries: ; DROP TABLE, ; DELETE FROM, ; INSERT INTO,
    // ; UPDATE t SET, ; SELECT <value>, ; EXEC <proc>, ; DECLARE @v, ; WAITFOR.
    if (t0.word == Word::Waitfor && is(1, kSemi)) return true;
    if (is(2, kSemi) && is(1, kStmt)) {
      switch (at(1).word) {
        case Word::Drop:
        case Word::Create:
        case Word::Alter:
        case Word::Truncate:
        case Word::Rename:
          if (t0.word == Word::Table || t0.word == Word::Database || t0.word == Word::Schema ||
              t0.word == Word::Procedure) {
            return true;
          }
          break;
        case Word::Delete:
          if (t0.word == Word::From) return true;
          break;
        case Word::Insert:
        case Word::Replace:
          if (t0.word == Word::Into) return true;
          break;
        case Word::Select:
          if (t0.type == kNum || t0.type == kVar || t0.type == kFunc || t0.type == kStr ||
              (t0.flags & kStar)) {
            return true;
          }
          break;
        case Word::Exec:
          if (t0.type == kBare || t0.type == kFunc || t0.type == kVar) return true;
          break;
        case Word::Declare:
          if (t0.type == kVar) return true;
          break;
        case Word::Shutdown:
          return true;
        default:
          break;
      }
    }
    if (t0.word == Word::Set && is(1, kBare) && isWord(2, Word::Update) && is(3, kSemi)) return true;
    if (t0.word == Word::Values) {  // ; INSERT t(a, b) VALUES ...   ; REPLACE t VALUES ...
      for (int i = 1; has(i + 1); ++i) {
        const Token& t = at(i);
        if (t.word == Word::Insert || t.word == Word::Replace) return is(i + 1, kSemi);
        if (t.type != kBare && t.type != kFunc && t.type != kComma && t.word != Word::Into) break;
      }
    }
    // SELECT PG_SLEEP / SELECT BENCHMARK, even without the call.
    if ((t0.word == Word::Sleep || t0.word == Word::Benchmark) && isWord(1, Word::Select)) return true;
    if (t0.type == kComment && is(1, kStmt) && isWord(1, Word::Shutdown) && is(2, kSemi)) return true;
    // SELECT <columns> FROM <table>, where the column list is clearly SQL
    // (a *, a function, a variable, a number or a comma list), or follows a
    // break-out (quote, ';', UNION, AND/OR).
    if ((t0.type == kBare || t0.word == Word::Select) && isWord(1, Word::From)) {
      bool sqlish = false;
      for (int i = 2; has(i); ++i) {
        const Token& t = at(i);
        if (t.word == Word::Select) {
          if (i == 2) return false;  // nothing between SELECT and FROM
          if (sqlish) return true;
          if (!has(i + 1)) return false;
          char before = at(i + 1).type;
          return before == kStr || before == kSemi || before == kUnion || before == kLogic;
        }
        if (t.type == kFunc || t.type == kVar || t.type == kNum || t.type == kComma ||
            (t.flags & kStar)) {
          sqlish = true;
        } else if (t.type != kBare && t.type != kStr && t.type != kKeyword) {
          return false;
        }
      }
    }
    // SELECT c FROM t WHERE: a whole query.
    if (t0.word == Word::Where && is(1, kBare) && isWord(2, Word::From) && has(3)) {
      for (int i = 3; has(i) && i < 7; ++i) {
        if (at(i).word == Word::Select) return true;
        if (at(i).type != kBare && at(i).type != kComma && at(i).type != kFunc) break;
      }
    }
    // AND/OR <literal> <symbolic comparison> <literal>: OR 1=1, AND 'a'='a'.
    if (isLiteral(t0.type) && is(1, kCmp) && (at(1).flags & kSymbolic) && has(2) &&
        isLiteral(at(2).type) && is(3, kLogic)) {
      return true;
    }
    return false;
  }

  // Break-out shapes, checked on the start of the stream: the value closes
  // the literal it was pasted into (quoted contexts) or ends a numeric
  // value (bare context), then continues as SQL.
  bool checkPrefix() const {
    const int n = prefix_len_;
    const Token* t = prefix_;
    if (n < 2) return false;
    const bool quoted = quote_ != 0;
    auto type = [&](int i) { return i < n ? t[i].type : '\0'; };
    // Who may start a break-out: the closed string, or in the bare
    // context a literal or variable; a bare word only for the strictest
    // tautology below.
    const char p = t[0].type;
    // A value that starts with AND/OR continues whatever it is pasted after.
    const bool logic_start = !quoted && p == kLogic;
    const bool literal_start = quoted || p == kNum || p == kVar ||
                               (p == kStr && !(t[0].flags & kUnterminated));
    // A bare word or a leading AND/OR only for the strictest tautology:
    // prose starts with both ("or BSD (or more ...)").
    const bool word_start = !quoted && (p == kBare || p == kLogic);
    // The value ends a statement: x'; or x'--.
    const bool terminated = t[n - 1].type == kSemi || t[n - 1].type == kComment;
    // ALTER TABLE t ..., TRUNCATE TABLE t, DROP TABLE t: DDL as the value.
    if (!quoted && p == kStmt && type(1) == kKeyword &&
        (t[1].word == Word::Table || t[1].word == Word::Database) &&
        (type(2) == kBare || type(2) == kStr)) {
      if (t[0].word == Word::Alter || t[0].word == Word::Truncate) return true;
      if (t[0].word == Word::Drop && (n == 3 || terminated)) return true;
    }
    if (!literal_start && !word_start) return false;

    int i = logic_start ? 0 : 1;
    if (quoted && type(1) == kCmp && type(2) == kStr && n == 3 && (t[2].flags & kUnterminated) &&
        closesAsWord(t[2])) {
      return true;  // x'='x : the application's closing quote completes 'x'='x'
    }
    if (quoted && type(1) == kCmp && isOperand(type(2))) i = 3;  // x'=1 OR ...

    const char next = type(i);
    if (word_start) {
      // OR 1#   OR 'x'--
      if (p == kLogic && (type(1) == kNum || type(1) == kStr) && type(2) == kComment) return true;
      // word AND 1=1, OR 1=1: only with a symbolic comparison and a literal side.
      return next == kLogic && isOperand(type(i + 1)) && type(i + 2) == kCmp &&
             (t[i + 2].flags & kSymbolic) && isOperand(type(i + 3)) &&
             (isLiteral(type(i + 1)) || isLiteral(type(i + 3)));
    }
    switch (next) {
      case kComment:  // admin'--  admin'#  admin'/*
        return quoted;
      case kSemi:  // 1; DROP ...  '; WAITFOR ...  ';--  x';
        return type(i + 1) == kStmt || type(i + 1) == kComment ||
               (i + 1 < n && t[i + 1].word == Word::Waitfor) || (quoted && i + 1 == n);
      case kLogic: {
        const char x = type(i + 1);
        if (x == kStmt && t[i + 1].word == Word::Select) return true;  // ' AND (SELECT ...
        if (x == kFunc) return true;                                    // ' OR version()
        if (isOperand(x) && type(i + 2) == kCmp && isOperand(type(i + 3))) {
          // ' OR 'a'='a   1 OR 1=1   ' OR name LIKE '%'   x' AND a GLOB b;
          return (t[i + 2].flags & kSymbolic) || isLiteral(x) || isLiteral(type(i + 3)) ||
                 (quoted && terminated);
        }
        // x' OR email NOTNULL--
        if (quoted && isOperand(x) && type(i + 2) == kCmp && t[i + 2].word == Word::Postfix &&
            (i + 3 == n || type(i + 3) == kComment || type(i + 3) == kSemi)) {
          return true;
        }
        // ' OR TRUE   1 OR TRUE   1 OR TRUE--
        if (x == kNum && t[i + 1].word == Word::Boolean &&
            (((quoted || (p == kNum && t[0].word != Word::Boolean)) && i + 2 == n) ||
             type(i + 2) == kComment || type(i + 2) == kSemi)) {
          return true;
        }
        if ((x == kNum || x == kStr || x == kVar) && type(i + 2) == kComment) return true;
        // x' OR 1=  : the application's closing quote supplies the '' operand.
        if (quoted && isOperand(x) && type(i + 2) == kCmp && (t[i + 2].flags & kSymbolic) &&
            i + 3 == n) {
          return true;
        }
        // ' OR 'x  : the application's closing quote makes it 'x'.
        // Glued forms (a'or'a) only with a plain word after the last quote:
        // "and": { in JSON or a quoted "or" in prose are not this.
        if (quoted && x == kStr && (t[i + 1].flags & kUnterminated) && i + 2 == n &&
            closesAsWord(t[i + 1]) && (spaced(t[i]) || plainWord(t[i + 1].text.substr(1)))) {
          return true;
        }
        // ' OR 1 GROUP BY ...   ' AND 1 HAVING ...
        if (quoted && isOperand(x) && type(i + 2) == kKeyword &&
            (t[i + 2].word == Word::OrderBy || t[i + 2].word == Word::Having)) {
          return true;
        }
        return false;
      }
      case kKeyword:
        switch (t[i].word) {
          case Word::OrderBy:  // ' ORDER BY 3--   1 GROUP BY 1
            return type(i + 1) == kNum || type(i + 1) == kBare || type(i + 1) == kVar;
          case Word::Having:  // ' HAVING 1=1   ' WHERE 1=1
          case Word::Where:
            return quoted && isOperand(type(i + 1)) && type(i + 2) == kCmp && isOperand(type(i + 3));
          case Word::Limit:  // ' LIMIT 1
            return quoted && type(i + 1) == kNum;
          case Word::Waitfor:
            return true;
          case Word::Collate:  // x' COLLATE nocase--
            return quoted;
          default:
            return false;
        }
      case kCmp:  // ' NOTNULL --
        return quoted && t[i].word == Word::Postfix &&
               (i + 1 == n || type(i + 1) == kComment || type(i + 1) == kSemi);
      case kArith:  // '+SLEEP(5)+'   '||(SELECT ...)||'
        return quoted && (type(i + 1) == kFunc || (i + 1 < n && t[i + 1].word == Word::Select));
      default:
        return false;
    }
  }

  // True when the token is set off by blanks (or the value's edges) on both
  // sides: " or " rather than the glued "and" of a JSON key ("and": ...).
  bool spaced(const Token& t) const {
    std::size_t begin = static_cast<std::size_t>(t.text.data() - input_.data());
    std::size_t end = begin + t.text.size();
    bool left = begin == 0 || isSpace(static_cast<unsigned char>(input_[begin - 1]));
    bool right = end >= input_.size() || isSpace(static_cast<unsigned char>(input_[end]));
    return left && right;
  }

  // An unterminated final string the application's quote would close into
  // a short literal: it opens with the context's quote and holds one
  // blank-free word ('x, '1). "8.2.4.45 Markup declaration" or '>' are prose.
  bool closesAsWord(const Token& t) const {
    if (t.text.size() < 2 || t.text[0] != quote_) return false;
    for (char c : t.text.substr(1)) {
      if (isSpace(static_cast<unsigned char>(c))) return false;
    }
    return true;
  }

  static bool plainWord(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
      if (!isWordChar(static_cast<unsigned char>(c))) return false;
    }
    return true;
  }

  std::string_view input_;
  char quote_;
  Token ring_[kRing];        // last kRing core tokens, by count_ % kRing
  Token prefix_[kPrefixMax];  // first core tokens outside call arguments
  int prefix_len_ = 0;
  int count_ = 0;
  bool after_close_ = false;
  bool pending_comment_ = false;
  bool call_open_ = false;      // the last core token is a function call
  bool after_open_ = false;     // a '(' came after the last core token
  bool last_in_prefix_ = false;  // the last core token was also stored in prefix_
  int depth_ = 0;               // parenthesis depth
  int hide_above_ = -1;         // >= 0: inside a call's arguments opened at this depth
  bool matched_prefix_ = false;
};

bool analyze(std::string_view input, char quote, std::string* fingerprint) {
  SqlLexer lexer(input, quote);
  Analyzer analyzer(input, quote);
  Token t{kOther, Word::None, 0, {}};
  bool hit = false;
  while (lexer.next(&t)) {
    if (analyzer.push(t)) {
      hit = true;
      break;
    }
  }
  if (!hit) hit = analyzer.finish();
  if (hit && fingerprint != nullptr) analyzer.fingerprint(fingerprint);
  return hit;
}

}  // namespace

bool detectSqli(std::string_view input, std::string* fingerprint) {
  if (analyze(input, 0, fingerprint)) return true;
  // The quoted contexts only differ from the bare one when the value can
  // close the literal it sits in.
  if (input.find('\'') != std::string_view::npos && analyze(input, '\'', fingerprint)) return true;
  if (input.find('"') != std::string_view::npos && analyze(input, '"', fingerprint)) return true;
  return false;
}

}  // namespace mamori::inspect
