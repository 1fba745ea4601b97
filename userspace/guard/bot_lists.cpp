#include "guard/bot_lists.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/yaml_documents.h"
#include "guard/http_fingerprint.h"

namespace mamori::guard {

using common::Error;
using common::Result;
using common::Status;

namespace {

constexpr const char* kClassNames[kBotClassCount] = {
    "none", "verified_good", "unverified_good_claim", "fake_good_bot",
    "scanner", "tool", "inconsistent", "behaviour"};
constexpr const char* kActionNames[kBotActionCount] = {"allow", "log", "challenge", "block", "ban"};

// Problems of one file, each "FILE:LINE:COLUMN: message".
class Problems {
 public:
  explicit Problems(std::string file) : file_(std::move(file)) {}
  void addAt(const std::string& where, const std::string& message) {
    lines_.push_back(where + ": " + message);
  }
  void add(const YAML::Mark& mark, const std::string& message) {
    lines_.push_back(file_ + ":" + std::to_string(mark.line + 1) + ":" +
                     std::to_string(mark.column + 1) + ": " + message);
  }
  std::string where(const YAML::Mark& mark) const {
    return file_ + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
  bool empty() const { return lines_.empty(); }
  std::string joined() const {
    std::string out;
    for (const auto& l : lines_) out += (out.empty() ? "" : "\n") + l;
    return out;
  }

 private:
  std::string file_;
  std::vector<std::string> lines_;
};

bool isHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Reads a mapping entry of a list; reports unknown keys. Returns the
// values of the known keys that are present.
std::map<std::string, YAML::Node> fields(Problems& p, const YAML::Node& node,
                                         std::initializer_list<const char*> known,
                                         const char* what) {
  std::map<std::string, YAML::Node> out;
  if (!node.IsMap()) {
    p.add(node.Mark(), std::string(what) + " entry must be a mapping");
    return out;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    const std::string k = key.IsScalar() ? key.Scalar() : "";
    if (std::find_if(known.begin(), known.end(), [&](const char* n) { return k == n; }) ==
        known.end()) {
      std::string names;
      for (const char* n : known) names += (names.empty() ? "" : ", ") + std::string(n);
      p.add(key.Mark(), "unknown key '" + k + "' in " + what + " (known keys: " + names + ")");
      continue;
    }
    if (out.count(k)) {
      p.add(key.Mark(), "duplicate key '" + k + "'");
      continue;
    }
    out.emplace(k, value);
  }
  return out;
}

// A non-empty scalar under `key`, or "" after reporting the problem.
std::string requiredScalar(Problems& p, const YAML::Node& entry,
                           const std::map<std::string, YAML::Node>& f, const char* key) {
  auto it = f.find(key);
  if (it == f.end() || it->second.IsNull()) {
    p.add(entry.Mark(), std::string("missing required key '") + key + "'");
    return {};
  }
  if (!it->second.IsScalar() || it->second.Scalar().empty()) {
    p.add(it->second.Mark(), std::string("'") + key + "' must be a non-empty string");
    return {};
  }
  return it->second.Scalar();
}

BotClass listClass(Problems& p, const YAML::Node& entry,
                   const std::map<std::string, YAML::Node>& f, bool* ok) {
  const std::string text = requiredScalar(p, entry, f, "class");
  if (text.empty()) {
    *ok = false;
    return BotClass::Tool;
  }
  if (text == "scanner") return BotClass::Scanner;
  if (text == "tool") return BotClass::Tool;
  p.add(f.at("class").Mark(), "invalid class '" + text + "' (expected scanner or tool)");
  *ok = false;
  return BotClass::Tool;
}

void parseDocument(Problems& p, const YAML::Node& root, BotLists& out) {
  if (root.IsNull()) return;  // an empty file (all entries commented out) is fine
  auto top = fields(p, root, {"user_agents", "fingerprints", "good_bots"}, "bot list file");
  auto listOf = [&](const char* key) -> std::vector<YAML::Node> {
    std::vector<YAML::Node> items;
    auto it = top.find(key);
    if (it == top.end() || it->second.IsNull()) return items;
    if (!it->second.IsSequence()) {
      p.add(it->second.Mark(), std::string("'") + key + "' must be a list");
      return items;
    }
    for (const auto& item : it->second) items.push_back(item);
    return items;
  };
  for (const auto& item : listOf("user_agents")) {
    auto f = fields(p, item, {"name", "class", "contains"}, "user_agents");
    if (!item.IsMap()) continue;
    bool ok = true;
    UaPattern u;
    u.name = requiredScalar(p, item, f, "name");
    u.cls = listClass(p, item, f, &ok);
    u.pattern = asciiLower(requiredScalar(p, item, f, "contains"));
    u.source = p.where(item.Mark());
    if (ok && !u.name.empty() && !u.pattern.empty()) out.user_agents.push_back(std::move(u));
  }
  for (const auto& item : listOf("fingerprints")) {
    auto f = fields(p, item, {"name", "class", "ja3", "ja4"}, "fingerprints");
    if (!item.IsMap()) continue;
    bool ok = true;
    FingerprintEntry e;
    e.name = requiredScalar(p, item, f, "name");
    e.cls = listClass(p, item, f, &ok);
    e.source = p.where(item.Mark());
    if (f.count("ja3")) {
      const YAML::Node& n = f["ja3"];
      e.ja3 = n.IsScalar() ? asciiLower(n.Scalar()) : "";
      if (e.ja3.size() != 32 || !isHex(e.ja3)) {
        p.add(n.Mark(), "'ja3' must be an MD5 hash: 32 hex digits");
        ok = false;
      }
    }
    if (f.count("ja4")) {
      const YAML::Node& n = f["ja4"];
      e.ja4 = n.IsScalar() ? n.Scalar() : "";
      // JA4 "a_b_c": a is 10 characters, b and c 12 hex digits each.
      if (e.ja4.size() != 36 || e.ja4[10] != '_' || e.ja4[23] != '_' ||
          !isHex(e.ja4.substr(11, 12)) || !isHex(e.ja4.substr(24))) {
        p.add(n.Mark(), "'ja4' must be a JA4 fingerprint like t13d1516h2_8daaf6152771_e5627efa2ab1");
        ok = false;
      }
    }
    if (!f.count("ja3") && !f.count("ja4")) {
      p.add(item.Mark(), "a fingerprint needs 'ja3' or 'ja4'");
      ok = false;
    }
    if (ok && !e.name.empty()) out.fingerprints.push_back(std::move(e));
  }
  for (const auto& item : listOf("good_bots")) {
    auto f = fields(p, item, {"name", "contains", "domains"}, "good_bots");
    if (!item.IsMap()) continue;
    GoodBot g;
    g.name = requiredScalar(p, item, f, "name");
    g.pattern = asciiLower(requiredScalar(p, item, f, "contains"));
    g.source = p.where(item.Mark());
    bool ok = !g.name.empty() && !g.pattern.empty();
    auto d = f.find("domains");
    if (d == f.end() || !d->second.IsSequence() || d->second.size() == 0) {
      p.add(d == f.end() ? item.Mark() : d->second.Mark(),
            "'domains' must be a non-empty list of DNS suffixes (e.g. [googlebot.com])");
      ok = false;
    } else {
      for (const auto& dn : d->second) {
        std::string name = dn.IsScalar() ? asciiLower(dn.Scalar()) : "";
        while (!name.empty() && name.front() == '.') name.erase(0, 1);
        if (!name.empty() && name.back() == '.') name.pop_back();
        const bool valid = !name.empty() && name.find('.') != std::string::npos &&
                           std::all_of(name.begin(), name.end(), [](char c) {
                             return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                                    c == '.';
                           });
        if (!valid) {
          p.add(dn.Mark(), "invalid domain '" + (dn.IsScalar() ? dn.Scalar() : std::string()) +
                               "' (a DNS name with at least two labels)");
          ok = false;
          continue;
        }
        g.domains.push_back(std::move(name));
      }
    }
    if (ok) out.good_bots.push_back(std::move(g));
  }
}

}  // namespace

const char* botClassName(BotClass cls) {
  const auto i = static_cast<std::size_t>(cls);
  return i < kBotClassCount ? kClassNames[i] : "unknown";
}

std::optional<BotClass> parseBotClass(std::string_view name) {
  for (std::size_t i = 0; i < kBotClassCount; ++i)
    if (name == kClassNames[i]) return static_cast<BotClass>(i);
  return std::nullopt;
}

const char* botActionName(BotAction action) {
  const auto i = static_cast<std::size_t>(action);
  return i < kBotActionCount ? kActionNames[i] : "unknown";
}

std::optional<BotAction> parseBotAction(std::string_view name) {
  for (std::size_t i = 0; i < kBotActionCount; ++i)
    if (name == kActionNames[i]) return static_cast<BotAction>(i);
  return std::nullopt;
}

std::string asciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool nameInDomain(std::string_view host, std::string_view domain) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.size() < domain.size() || domain.empty()) return false;
  const std::string tail = asciiLower(host.substr(host.size() - domain.size()));
  if (tail != domain) return false;
  return host.size() == domain.size() || host[host.size() - domain.size() - 1] == '.';
}

const GoodBot* BotLists::claimedGoodBot(std::string_view ua_lower) const {
  for (const auto& g : good_bots)
    if (ua_lower.find(g.pattern) != std::string_view::npos) return &g;
  return nullptr;
}

const UaPattern* BotLists::matchUserAgent(std::string_view ua_lower) const {
  // Scanners first: "sqlmap" built on python-requests must be a scanner.
  for (const auto& u : user_agents)
    if (u.cls == BotClass::Scanner && ua_lower.find(u.pattern) != std::string_view::npos) return &u;
  for (const auto& u : user_agents)
    if (u.cls != BotClass::Scanner && ua_lower.find(u.pattern) != std::string_view::npos) return &u;
  return nullptr;
}

const FingerprintEntry* BotLists::matchFingerprint(std::string_view ja3,
                                                   std::string_view ja4) const {
  for (const auto& f : fingerprints) {
    if (!ja3.empty() && !f.ja3.empty() && f.ja3 == ja3) return &f;
    if (!ja4.empty() && !f.ja4.empty() && f.ja4 == ja4) return &f;
  }
  return nullptr;
}

Status parseBotListText(std::string_view text, const std::string& file_name, BotLists& into) {
  Problems p(file_name);
  BotLists staged = into;
  const std::size_t ua_from = staged.user_agents.size();
  const std::size_t fp_from = staged.fingerprints.size();
  const std::size_t gb_from = staged.good_bots.size();
  try {
    const std::string owned(text);
    YAML::Mark second;
    if (common::countYamlDocuments(owned, &second) > 1) {
      p.add(second, "a bot list file holds one YAML document");
      return Error{EINVAL, p.joined()};
    }
    YAML::Node root = YAML::Load(owned);
    parseDocument(p, root, staged);
  } catch (const YAML::Exception& e) {
    p.add(e.mark, e.msg);
    return Error{EINVAL, p.joined()};
  }
  // Names are unique across all files: the BOT log and `bots status` name
  // entries, and two entries of one name would make them ambiguous.
  auto dup = [&](const auto& items, std::size_t from, const char* what) {
    for (std::size_t i = from; i < items.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (items[i].name == items[j].name) {
          p.addAt(items[i].source, std::string("duplicate ") + what + " name '" + items[i].name +
                                       "' (first at " + items[j].source + ")");
          break;
        }
  };
  dup(staged.user_agents, ua_from, "user_agents");
  dup(staged.fingerprints, fp_from, "fingerprints");
  dup(staged.good_bots, gb_from, "good_bots");
  if (!p.empty()) return Error{EINVAL, p.joined()};
  staged.files.push_back(file_name);
  into = std::move(staged);
  return {};
}

Result<BotLists> loadBotListsDirectory(const std::string& dir) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".yaml") files.push_back(it->path());
  if (ec) return Error{ENOENT, "bot lists: " + dir + ": " + ec.message()};
  if (files.empty()) return Error{ENOENT, "bot lists: no *.yaml file in " + dir};
  std::sort(files.begin(), files.end());
  BotLists lists;
  std::string problems;
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      problems += (problems.empty() ? "" : "\n") + path.string() + ": cannot read";
      continue;
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (auto st = parseBotListText(text.str(), path.string(), lists); !st)
      problems += (problems.empty() ? "" : "\n") + st.error().message;
  }
  if (!problems.empty()) return Error{EINVAL, problems};
  return lists;
}

Classification classifyRequest(const BotLists& lists, const ClassifyInput& input) {
  Classification out;
  const http::Request& request = *input.request;
  std::string ua;
  std::string_view ua_original;
  if (auto v = request.header("user-agent")) {
    ua_original = *v;
    ua = asciiLower(*v);
  }
  const UaPattern* ua_match = ua.empty() ? nullptr : lists.matchUserAgent(ua);
  const FingerprintEntry* fp_match = lists.matchFingerprint(input.ja3, input.ja4);
  out.claim = ua.empty() ? nullptr : lists.claimedGoodBot(ua);
  if (ua_match) out.signals.push_back("ua:" + ua_match->name);
  if (fp_match) out.signals.push_back("tls:" + fp_match->name);
  if (out.claim) {
    const char* state = input.claim == ClassifyInput::ClaimState::Verified ? "verified"
                        : input.claim == ClassifyInput::ClaimState::Failed ? "failed"
                                                                             : "pending";
    out.signals.push_back("claim:" + out.claim->name + ":" + state);
  }
  // Only a browser claim is checked for consistency: a crawler or a tool
  // that says what it is has nothing to contradict.
  const UserAgentClaim claim = classifyUserAgent(ua_original);
  std::vector<std::string_view> mismatches;
  if (claim.browser() && !out.claim) {
    const HttpFingerprint hf = computeHttpFingerprint(request, input.http2);
    mismatches = checkUserAgentConsistency(request, hf, input.tls, input.http2);
    for (auto m : mismatches) out.signals.emplace_back(m);
  }
  if (input.behaviour_over) out.signals.push_back("behaviour");

  auto set = [&](BotClass cls, std::string name) {
    out.cls = cls;
    out.name = std::move(name);
    return out;
  };
  if (ua_match && ua_match->cls == BotClass::Scanner) return set(BotClass::Scanner, ua_match->name);
  if (fp_match && fp_match->cls == BotClass::Scanner) return set(BotClass::Scanner, fp_match->name);
  if (out.claim && input.claim == ClassifyInput::ClaimState::Failed)
    return set(BotClass::FakeGoodBot, out.claim->name);
  if (out.claim && input.claim == ClassifyInput::ClaimState::Verified)
    return set(BotClass::VerifiedGood, out.claim->name);
  if (ua_match) return set(BotClass::Tool, ua_match->name);
  // A tool's TLS stack behind a browser's UA is a contradiction, not a
  // tool that says what it is.
  if (fp_match && claim.browser()) {
    out.signals.push_back("ua_browser_with_tool_tls");
    return set(BotClass::Inconsistent, fp_match->name);
  }
  if (fp_match) return set(BotClass::Tool, fp_match->name);
  if (!mismatches.empty()) return set(BotClass::Inconsistent, std::string(claim.browser() ? uaFamilyName(claim.family) : ""));
  // Behaviour before an unanswered claim: whoever controls the reverse
  // zone of its own addresses can keep a crawler claim unanswered (PTR
  // queries that time out stay pending) and would otherwise flood under
  // the claim's mild default action. A verified crawler never gets here.
  if (input.behaviour_over) return set(BotClass::Behaviour, "");
  if (out.claim) return set(BotClass::UnverifiedGoodClaim, out.claim->name);
  return out;
}

}  // namespace mamori::guard
