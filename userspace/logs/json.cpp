#include "logs/json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>

namespace mamori::logs {

using common::Error;
using common::Result;

namespace {

const char kHex[] = "0123456789abcdef";

// Length of the well-formed UTF-8 sequence starting at s[i] (Unicode 15 table
// 3-7), or 0 when the byte there does not start one.
size_t utf8SequenceLength(std::string_view s, size_t i) {
  auto at = [&](size_t k) -> unsigned { return static_cast<unsigned char>(s[k]); };
  unsigned c = at(i);
  size_t left = s.size() - i;
  auto cont = [&](size_t k, unsigned lo, unsigned hi) { return k < s.size() && at(k) >= lo && at(k) <= hi; };
  if (c >= 0xc2 && c <= 0xdf) return left >= 2 && cont(i + 1, 0x80, 0xbf) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    unsigned lo = c == 0xe0 ? 0xa0 : 0x80;  // no overlong forms
    unsigned hi = c == 0xed ? 0x9f : 0xbf;  // no UTF-16 surrogates
    return left >= 3 && cont(i + 1, lo, hi) && cont(i + 2, 0x80, 0xbf) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    unsigned lo = c == 0xf0 ? 0x90 : 0x80;
    unsigned hi = c == 0xf4 ? 0x8f : 0xbf;  // nothing above U+10FFFF
    return left >= 4 && cont(i + 1, lo, hi) && cont(i + 2, 0x80, 0xbf) && cont(i + 3, 0x80, 0xbf) ? 4 : 0;
  }
  return 0;
}

// Writes a JSON object member by member, adding commas.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string* out) : out_(out) { out_->push_back('{'); }
  void key(std::string_view k) {
    if (!first_) out_->push_back(',');
    first_ = false;
    appendJsonString(out_, k);
    out_->push_back(':');
  }
  void str(std::string_view k, std::string_view v) {
    if (v.empty()) return;
    key(k);
    appendJsonString(out_, v);
  }
  void strAlways(std::string_view k, std::string_view v) {
    key(k);
    appendJsonString(out_, v);
  }
  void num(std::string_view k, uint64_t v) {
    key(k);
    out_->append(std::to_string(v));
  }
  // Appends a pre-built member value (an object) when it is not empty "{}".
  void raw(std::string_view k, const std::string& v) {
    if (v.size() <= 2) return;
    key(k);
    out_->append(v);
  }
  void close() { out_->push_back('}'); }

 private:
  std::string* out_;
  bool first_ = true;
};

void appendValue(std::string* out, const Value& v, int depth);

void appendObject(std::string* out, const std::vector<Field>& fields, int depth) {
  ObjectWriter w(out);
  for (const auto& f : fields) {
    w.key(f.key);
    appendValue(out, f.value, depth + 1);
  }
  w.close();
}

void appendValue(std::string* out, const Value& v, int depth) {
  switch (v.kind) {
    case Value::Kind::Null: out->append("null"); return;
    case Value::Kind::Bool: out->append(v.b ? "true" : "false"); return;
    case Value::Kind::Int: out->append(std::to_string(v.i)); return;
    case Value::Kind::Uint: out->append(std::to_string(v.u)); return;
    case Value::Kind::Double: {
      if (!std::isfinite(v.d)) {
        out->append("null");
        return;
      }
      char buf[32];
      int n = std::snprintf(buf, sizeof buf, "%.17g", v.d);
      out->append(buf, static_cast<size_t>(n));
      return;
    }
    case Value::Kind::String: appendJsonString(out, v.s); return;
    case Value::Kind::Object:
      // The reader refuses nesting deeper than 32; never write what we cannot read back.
      if (depth >= 24) {
        out->append("null");
        return;
      }
      appendObject(out, v.object, depth);
      return;
  }
}

template <typename Fill>
std::string group(Fill fill) {
  std::string s;
  ObjectWriter w(&s);
  fill(w);
  w.close();
  return s;
}

}  // namespace

void appendJsonString(std::string* out, std::string_view in) {
  out->push_back('"');
  size_t i = 0;
  while (i < in.size()) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (c >= 0x80) {
      size_t n = utf8SequenceLength(in, i);
      if (n == 0) {
        out->append("\\ufffd");
        ++i;
      } else {
        out->append(in.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out->push_back('"');
}

std::string encodeRecord(const LogRecord& r, const TimeZone& zone) {
  std::string out;
  out.reserve(512);
  ObjectWriter top(&out);
  top.str("@timestamp", formatTimestamp(r.time, zone));

  std::string kind = r.kind;
  if (kind.empty()) kind = r.type == LogType::Audit ? "event" : "alert";
  top.raw("event", group([&](ObjectWriter& w) {
            w.str("kind", kind);
            w.str("category", r.category);
            w.str("type", r.event_type);
            w.str("action", r.action);
            w.str("outcome", r.outcome);
            w.str("dataset", std::string("mamori.") + std::string(logTypeName(r.type)));
          }));
  top.str("message", r.message);
  top.str("tenant", r.tenant);
  top.str("site", r.site);
  if (!r.labels.empty()) {
    top.raw("labels", group([&](ObjectWriter& w) {
              for (const auto& [k, v] : r.labels) w.strAlways(k, v);
            }));
  }
  top.raw("source", group([&](ObjectWriter& w) {
            w.str("ip", r.source_ip);
            if (r.source_port) w.num("port", *r.source_port);
          }));
  top.raw("destination", group([&](ObjectWriter& w) {
            w.str("ip", r.destination_ip);
            if (r.destination_port) w.num("port", *r.destination_port);
          }));
  std::string request = group([&](ObjectWriter& w) {
    w.str("method", r.http_method);
    w.str("id", r.request_id);
  });
  std::string response = group([&](ObjectWriter& w) {
    if (r.http_status) w.num("status_code", *r.http_status);
  });
  top.raw("http", group([&](ObjectWriter& w) {
            w.raw("request", request);
            w.raw("response", response);
          }));
  top.raw("url", group([&](ObjectWriter& w) {
            w.str("original", r.url_original);
            w.str("path", r.url_path);
            w.str("query", r.url_query);
          }));
  top.raw("user_agent", group([&](ObjectWriter& w) { w.str("original", r.user_agent); }));
  top.raw("rule", group([&](ObjectWriter& w) {
            w.str("id", r.rule_id);
            w.str("name", r.rule_name);
            w.str("category", r.rule_category);
          }));
  std::string client = group([&](ObjectWriter& w) {
    w.str("ja3", r.tls_ja3);
    w.str("ja4", r.tls_ja4);
  });
  top.raw("tls", group([&](ObjectWriter& w) { w.raw("client", client); }));
  if (!r.details.empty()) {
    std::string details;
    appendObject(&details, r.details, 0);
    top.raw("mamori", details);
  }
  top.close();
  out.push_back('\n');
  return out;
}

// --- reader -------------------------------------------------------------------

namespace {

class Parser {
 public:
  Parser(std::string_view s, FlatRecord* out) : s_(s), out_(out) {}

  bool parseTop() {
    ws();
    if (!peek('{')) return false;
    std::string path;
    if (!object(&path, 0)) return false;
    ws();
    return pos_ == s_.size();
  }

 private:
  bool peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  void ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r' || s_[pos_] == '\n')) ++pos_;
  }

  static std::string join(const std::string& prefix, std::string_view key) {
    if (prefix.empty()) return std::string(key);
    std::string p = prefix;
    p.push_back('.');
    p.append(key);
    return p;
  }

  bool object(std::string* path, int depth) {
    if (depth > 32) return false;
    ++pos_;  // '{'
    ws();
    if (peek('}')) {
      ++pos_;
      return true;
    }
    for (;;) {
      ws();
      std::string key;
      if (!peek('"') || !string(&key)) return false;
      ws();
      if (!peek(':')) return false;
      ++pos_;
      std::string child = join(*path, key);
      if (!value(&child, depth + 1)) return false;
      ws();
      if (peek(',')) {
        ++pos_;
        continue;
      }
      if (peek('}')) {
        ++pos_;
        return true;
      }
      return false;
    }
  }

  bool array(std::string* path, int depth) {
    if (depth > 32) return false;
    ++pos_;  // '['
    ws();
    if (peek(']')) {
      ++pos_;
      return true;
    }
    for (size_t index = 0;; ++index) {
      std::string child = join(*path, std::to_string(index));
      if (!value(&child, depth + 1)) return false;
      ws();
      if (peek(',')) {
        ++pos_;
        continue;
      }
      if (peek(']')) {
        ++pos_;
        return true;
      }
      return false;
    }
  }

  bool value(std::string* path, int depth) {
    ws();
    if (pos_ >= s_.size()) return false;
    char c = s_[pos_];
    if (c == '{') return object(path, depth);
    if (c == '[') return array(path, depth);
    if (c == '"') {
      std::string v;
      if (!string(&v)) return false;
      out_->fields.push_back({*path, std::move(v), true});
      return true;
    }
    for (std::string_view lit : {"true", "false", "null"}) {
      if (s_.substr(pos_, lit.size()) == lit) {
        pos_ += lit.size();
        out_->fields.push_back({*path, lit == "null" ? "" : std::string(lit), false});
        return true;
      }
    }
    return number(path);
  }

  bool number(std::string* path) {
    size_t start = pos_;
    if (peek('-')) ++pos_;
    auto digits = [&] {
      size_t d = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - d;
    };
    size_t int_start = pos_;
    size_t n = digits();
    if (n == 0 || (n > 1 && s_[int_start] == '0')) return false;
    if (peek('.')) {
      ++pos_;
      if (digits() == 0) return false;
    }
    if (peek('e') || peek('E')) {
      ++pos_;
      if (peek('+') || peek('-')) ++pos_;
      if (digits() == 0) return false;
    }
    out_->fields.push_back({*path, std::string(s_.substr(start, pos_ - start)), false});
    return true;
  }

  static void appendUtf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }

  bool hex4(uint32_t* out) {
    if (s_.size() - pos_ < 4) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else return false;
    }
    *out = v;
    return true;
  }

  bool string(std::string* out) {
    ++pos_;  // '"'
    while (pos_ < s_.size()) {
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return false;
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= s_.size()) return false;
      char e = s_[pos_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp;
          if (!hex4(&cp)) return false;
          if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t lo;
            if (s_.substr(pos_, 2) != "\\u") return false;
            pos_ += 2;
            if (!hex4(&lo) || lo < 0xdc00 || lo > 0xdfff) return false;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            return false;
          }
          appendUtf8(out, cp);
          break;
        }
        default: return false;
      }
    }
    return false;
  }

  std::string_view s_;
  FlatRecord* out_;
  size_t pos_ = 0;
};

}  // namespace

std::string_view FlatRecord::get(std::string_view path) const {
  for (const auto& f : fields) {
    if (f.path == path) return f.value;
  }
  return {};
}

bool FlatRecord::has(std::string_view path) const {
  for (const auto& f : fields) {
    if (f.path == path) return true;
  }
  return false;
}

Result<FlatRecord> parseFlatJson(std::string_view line) {
  FlatRecord rec;
  Parser p(line, &rec);
  if (!p.parseTop()) return Error{EINVAL, "not a well-formed JSON object"};
  return rec;
}

}  // namespace mamori::logs
