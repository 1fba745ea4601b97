#include "daemon/challenge_protection.h"

#include "daemon/daemon_logs.h"
#include "logs/log_writer.h"
#include "net/forward.h"

namespace mamori::daemon {

using common::Error;
using common::Result;

static_assert(config::kChallengeKeySlots == guard::ChallengeAuthority::kKeySlots,
              "the loader's clearance_ttl check must match the key ring");

namespace {

constexpr std::uint8_t kOverrideAuto = 0;
constexpr std::uint8_t kOverrideOn = 1;
constexpr std::uint8_t kOverrideOff = 2;

// The address is the client's: the peer, or the X-Forwarded-For client
// when the peer is one of the site's trusted_proxies (as the flood limits
// and the bot detector name it). Bound to the proxy instead, one solved
// challenge would clear every client behind it that sends the same UA.
guard::ChallengeBinding bindingOf(const std::vector<common::IpPrefix>& trusted_proxies,
                                  const http::Request& request,
                                  const net::RequestContext& context) {
  guard::ChallengeBinding who;
  who.site = context.site;
  who.address = net::requestClient(request, context.peer, trusted_proxies).address;
  if (auto ua = request.header("user-agent")) who.user_agent = *ua;
  return who;
}

// The request's own path and query: where the browser goes back to.
std::string returnPathOf(const http::Request& request) {
  std::string target = request.path;
  if (request.has_query) target += "?" + request.query;
  return guard::isSafeReturnPath(target) ? target : std::string("/");
}

const std::string* firstArg(const http::Request& request, std::string_view name) {
  for (const auto& a : request.args)
    if (a.name == name) return &a.value;
  return nullptr;
}

// Expired cookies and keys that rotated out are how cookies normally age:
// counted, not logged. Everything else was made up or moved to another
// client, which is worth a BOT log line.
bool worthLogging(guard::ChallengeCheck c) {
  return c != guard::ChallengeCheck::Expired && c != guard::ChallengeCheck::UnknownKey;
}

constexpr std::string_view kPassedPage =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Checked</title></head>"
    "<body><p>Browser checked, loading the page.</p></body></html>\n";

}  // namespace

std::optional<UnderAttackSwitch> parseUnderAttackSwitch(std::string_view text) {
  if (text == "on") return UnderAttackSwitch::On;
  if (text == "off") return UnderAttackSwitch::Off;
  if (text == "auto") return UnderAttackSwitch::Auto;
  return std::nullopt;
}

Result<std::unique_ptr<ChallengeProtection>> ChallengeProtection::create(
    const config::Config& config, const guard::Clock& clock, DaemonLogs* logs) {
  std::unique_ptr<ChallengeProtection> out(new ChallengeProtection(clock, logs));
  auto snap = out->build(config, nullptr);
  if (!snap) return snap.error();
  out->snapshot_.publish(std::move(*snap));
  return out;
}

Result<std::shared_ptr<const ChallengeProtection::Snapshot>> ChallengeProtection::build(
    const config::Config& config, const Snapshot* previous) const {
  auto snap = std::make_shared<Snapshot>();
  for (const auto& tenant : config.tenants) {
    for (const auto& site : tenant.sites) {
      SiteEntry e;
      e.name = site.name;
      e.tenant = tenant.id;
      e.challenge = site.challenge.value_or(config::ChallengeConfig{});
      e.under_attack = site.under_attack.value_or(config::UnderAttackConfig{});
      e.trusted_proxies = site.trusted_proxies;
      if (previous) {
        auto old = previous->sites.find(site.name);
        if (old != previous->sites.end()) e.runtime = old->second.runtime;
      }
      if (!e.runtime) {
        auto authority = guard::ChallengeAuthority::create(clock_);
        if (!authority)
          return Error{authority.error().code, "site " + site.name + ": " + authority.error().message};
        e.runtime = std::make_shared<Runtime>();
        e.runtime->authority = std::move(*authority);
      }
      snap->order.push_back(site.name);
      snap->sites.emplace(site.name, std::move(e));
    }
  }
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

Result<std::string> ChallengeProtection::reload(const config::Config& config) {
  auto old = snapshot_.current();
  auto snap = build(config, old.get());
  if (!snap) return snap.error();
  std::size_t on = 0, automatic = 0;
  for (const auto& [name, e] : (*snap)->sites) {
    if (e.under_attack.enabled) ++on;
    if (e.under_attack.automatic) ++automatic;
  }
  const std::size_t sites = (*snap)->sites.size();
  snapshot_.publish(std::move(*snap));
  return "challenge: " + std::to_string(sites) + " site" + (sites == 1 ? "" : "s") +
         " (keys and runtime switches kept), under attack by config: " + std::to_string(on) +
         ", with auto threshold: " + std::to_string(automatic);
}

const ChallengeProtection::SiteEntry* ChallengeProtection::entryFor(
    const net::RequestContext& context) {
  const Snapshot& snap = *snapshot_.local();
  auto it = snap.sites.find(context.site);
  return it == snap.sites.end() ? nullptr : &it->second;
}

bool ChallengeProtection::underAttackNow(const SiteEntry& e) const {
  const std::uint8_t o = e.runtime->override_state.load(std::memory_order_relaxed);
  if (o == kOverrideOn) return true;
  if (o == kOverrideOff) return false;
  if (e.under_attack.enabled) return true;
  return e.runtime->auto_until_ns.load(std::memory_order_relaxed) > clock_.now().count();
}

void ChallengeProtection::countForAuto(const SiteEntry& e, const http::Request& request,
                                       const net::RequestContext& context) {
  if (!e.under_attack.automatic) return;
  Runtime& rt = *e.runtime;
  const std::int64_t now_ns = clock_.now().count();
  const std::int64_t second = now_ns / 1'000'000'000;
  std::int64_t seen = rt.bucket_second.load(std::memory_order_relaxed);
  // A new second: whoever moves the bucket resets it. Requests of the new
  // second counted by another worker between the move and the reset are
  // lost, so the count can only fall short by a few (documented).
  if (seen != second && rt.bucket_second.compare_exchange_strong(seen, second, std::memory_order_relaxed))
    rt.bucket_count.store(0, std::memory_order_relaxed);
  const std::uint64_t n = rt.bucket_count.fetch_add(1, std::memory_order_relaxed) + 1;
  const auto& a = *e.under_attack.automatic;
  if (n < a.requests_per_second) return;
  // Over the threshold: (re)arm the episode. Once per second per site is
  // enough, so only the request that reaches the threshold writes.
  if (n != a.requests_per_second) return;
  // A CLI switch holds until `auto`: `off` keeps the threshold from
  // starting an episode (which `auto` would then reveal, and whose DoS
  // record would say "on" while the site is off); under `on` there is
  // nothing to switch.
  if (rt.override_state.load(std::memory_order_relaxed) != kOverrideAuto) return;
  const std::int64_t until =
      now_ns + std::chrono::duration_cast<std::chrono::nanoseconds>(a.duration).count();
  const std::int64_t before = rt.auto_until_ns.exchange(until, std::memory_order_relaxed);
  if (before > now_ns) return;  // the episode was running: extended, not new
  auto_switches_.fetch_add(1, std::memory_order_relaxed);
  const common::IpPrefix client =
      net::requestClient(request, context.peer, e.trusted_proxies).address;
  submit(underAttackAutoRecord(e.tenant, e.name, client, n, a.requests_per_second, a.duration));
}

void ChallengeProtection::submit(logs::LogRecord record) {
  if (!logs_) return;
  thread_local std::shared_ptr<logs::LogProducer> producer;
  thread_local const DaemonLogs* producer_owner = nullptr;
  if (producer_owner != logs_) {
    producer = logs_->registerProducer();
    producer_owner = logs_;
  }
  producer->submit(std::move(record));
}

logs::LogRecord underAttackAutoRecord(const std::string& tenant, const std::string& site,
                                      const common::IpPrefix& client, std::uint64_t requests,
                                      std::uint64_t threshold, std::chrono::seconds duration) {
  logs::LogRecord r;
  r.type = logs::LogType::Dos;
  r.time = std::chrono::system_clock::now();
  r.kind = "alert";
  r.category = "web";
  r.event_type = "start";
  r.action = "under_attack";
  r.tenant = tenant;
  r.site = site;
  r.source_ip = client.toString();
  r.rule_id = "dos.under_attack_auto";
  r.rule_name = "under_attack_auto";
  r.rule_category = "dos";
  r.message = "under-attack mode on for site " + site + ": " + std::to_string(requests) +
              " requests within one second (threshold " + std::to_string(threshold) + "), for " +
              std::to_string(duration.count()) + "s";
  r.details.push_back({"requests_per_second", logs::Value::unsignedInt(threshold)});
  r.details.push_back({"duration_s", logs::Value::integer(duration.count())});
  return r;
}

logs::LogRecord challengeRefusalRecord(const std::string& tenant, const std::string& site,
                                       const common::IpPrefix& client,
                                       const http::Request& request,
                                       const net::RequestContext& context, ChallengeRefusal what,
                                       guard::ChallengeCheck check, unsigned difficulty) {
  const bool answer = what == ChallengeRefusal::Answer;
  logs::LogRecord r;
  r.type = logs::LogType::Bot;
  r.time = std::chrono::system_clock::now();
  r.kind = "alert";
  r.category = "web";
  r.event_type = "denied";
  r.action = "challenge";
  r.outcome = "failure";
  r.tenant = tenant;
  r.site = site;
  r.source_ip = client.toString();
  r.source_port = context.peer_port;
  r.url_path = request.path;
  r.http_method = request.method_name;
  r.request_id = std::string(context.request_id);
  if (auto ua = request.header("user-agent")) r.user_agent = std::string(*ua);
  r.rule_name = answer ? "challenge_failed" : "clearance_refused";
  r.rule_id = "bot." + r.rule_name;
  r.rule_category = "bot";
  r.message = std::string(answer ? "challenge answer refused: " : "clearance cookie refused: ") +
              guard::challengeCheckName(check);
  r.details.push_back({"check", logs::Value::string(guard::challengeCheckName(check))});
  r.details.push_back({"difficulty", logs::Value::unsignedInt(difficulty)});
  return r;
}

void ChallengeProtection::logRefusal(const SiteEntry& e, const guard::ChallengeBinding& who,
                                     const http::Request& request,
                                     const net::RequestContext& context, ChallengeRefusal what,
                                     guard::ChallengeCheck check) {
  submit(challengeRefusalRecord(e.tenant, e.name, who.address, request, context, what, check,
                                e.challenge.difficulty));
}

net::Verdict ChallengeProtection::challengeVerdict(const SiteEntry& e,
                                                   const guard::ChallengeBinding& who,
                                                   std::string return_to,
                                                   const net::RequestContext& context) {
  if (context.detect_only) {
    // The engine counts the Block and forwards the request: no page is
    // served, so none is signed and "issued" stays what browsers got.
    detect_only_.fetch_add(1, std::memory_order_relaxed);
    return net::Verdict::block(403);
  }
  std::string token =
      e.runtime->authority->issueChallenge(who, e.challenge.difficulty, kChallengeSolveTtl);
  if (token.empty()) {
    // No key to sign with: fail closed (the gate exists because the site
    // is being protected), briefly.
    unsigned_answers_.fetch_add(1, std::memory_order_relaxed);
    net::Verdict v = net::Verdict::block(503);
    v.retry_after = std::chrono::seconds(5);
    return v;
  }
  issued_.fetch_add(1, std::memory_order_relaxed);
  net::Verdict v =
      net::Verdict::block(403, guard::challengePage(token, e.challenge.difficulty, return_to));
  v.headers.push_back({"Content-Type", "text/html; charset=utf-8"});
  v.headers.push_back({"Cache-Control", "no-store, private"});
  v.headers.push_back({"X-Robots-Tag", "noindex"});
  return v;
}

net::Verdict ChallengeProtection::answerSubmission(const SiteEntry& e, const http::Request& request,
                                                   const net::RequestContext& context) {
  const guard::ChallengeBinding who = bindingOf(e.trusted_proxies, request, context);
  const std::string* token = firstArg(request, "t");
  const std::string* counter = firstArg(request, "n");
  const std::string* back = firstArg(request, "r");
  std::string return_to = back && guard::isSafeReturnPath(*back) ? *back : std::string("/");
  const guard::ChallengeCheck check =
      token && counter ? e.runtime->authority->checkSolution(*token, *counter, who)
                       : guard::ChallengeCheck::Malformed;
  if (check != guard::ChallengeCheck::Valid) {
    failed_.fetch_add(1, std::memory_order_relaxed);
    logRefusal(e, who, request, context, ChallengeRefusal::Answer, check);
    // A fresh challenge: a browser whose token expired simply solves again.
    return challengeVerdict(e, who, std::move(return_to), context);
  }
  passed_.fetch_add(1, std::memory_order_relaxed);
  const std::string cookie = e.runtime->authority->issueClearance(who, e.challenge.clearance_ttl);
  if (cookie.empty()) {
    unsigned_answers_.fetch_add(1, std::memory_order_relaxed);
    net::Verdict v = net::Verdict::block(503);
    v.retry_after = std::chrono::seconds(5);
    return v;
  }
  net::Verdict v = net::Verdict::block(303, std::string(kPassedPage));
  v.headers.push_back({"Location", return_to});
  v.headers.push_back(
      {"Set-Cookie", std::string(guard::kClearanceCookie) + "=" + cookie + "; Path=/; Max-Age=" +
                         std::to_string(e.challenge.clearance_ttl.count()) + "; HttpOnly; SameSite=Lax" +
                         (context.tls ? "; Secure" : "")});
  v.headers.push_back({"Content-Type", "text/html; charset=utf-8"});
  v.headers.push_back({"Cache-Control", "no-store, private"});
  return v;
}

net::Verdict ChallengeProtection::gate(const SiteEntry& e, const http::Request& request,
                                       const net::RequestContext& context) {
  const guard::ChallengeBinding who = bindingOf(e.trusted_proxies, request, context);
  // A browser may hold more than one (an old path, a parent domain): any
  // valid one clears; at most a few are checked so junk costs little.
  std::optional<guard::ChallengeCheck> refused;
  int checked = 0;
  for (const auto& c : request.cookies) {
    if (c.name != guard::kClearanceCookie) continue;
    if (++checked > 4) break;
    const guard::ChallengeCheck check = e.runtime->authority->checkClearance(c.value, who);
    if (check == guard::ChallengeCheck::Valid) {
      cleared_.fetch_add(1, std::memory_order_relaxed);
      return net::Verdict::pass();
    }
    if (!refused) refused = check;
  }
  if (refused) {
    bad_cookies_.fetch_add(1, std::memory_order_relaxed);
    if (worthLogging(*refused))
      logRefusal(e, who, request, context, ChallengeRefusal::Cookie, *refused);
  }
  return challengeVerdict(e, who, returnPathOf(request), context);
}

net::Verdict ChallengeProtection::onRequest(const http::Request& request,
                                            const net::RequestContext& context) {
  const SiteEntry* e = entryFor(context);
  if (!e) return net::Verdict::pass();
  e->runtime->authority->rotateIfDue(e->challenge.key_rotation);
  if (request.path == guard::kChallengePath) return answerSubmission(*e, request, context);
  countForAuto(*e, request, context);
  if (!underAttackNow(*e)) return net::Verdict::pass();
  if (good_bot_ && good_bot_(request, context)) {
    good_bots_.fetch_add(1, std::memory_order_relaxed);
    return net::Verdict::pass();
  }
  return gate(*e, request, context);
}

net::Verdict ChallengeProtection::require(const http::Request& request,
                                          const net::RequestContext& context) {
  const SiteEntry* e = entryFor(context);
  // Every configured site has an entry; a site we do not know cannot be
  // challenged, and the caller asked for a gate: refuse.
  if (!e) return net::Verdict::block(403);
  e->runtime->authority->rotateIfDue(e->challenge.key_rotation);
  if (request.path == guard::kChallengePath) return answerSubmission(*e, request, context);
  return gate(*e, request, context);
}

UnderAttackStatus ChallengeProtection::statusOf(const SiteEntry& e) const {
  UnderAttackStatus s;
  s.site = e.name;
  const std::uint8_t o = e.runtime->override_state.load(std::memory_order_relaxed);
  s.override_state = o == kOverrideOn ? "on" : o == kOverrideOff ? "off" : "auto";
  const std::int64_t now = clock_.now().count();
  const std::int64_t until = e.runtime->auto_until_ns.load(std::memory_order_relaxed);
  if (until > now) s.auto_remaining_s = (until - now + 999'999'999) / 1'000'000'000;
  if (e.under_attack.automatic) s.auto_threshold = e.under_attack.automatic->requests_per_second;
  s.on = underAttackNow(e);
  if (o != kOverrideAuto) s.reason = "cli";
  else if (e.under_attack.enabled) s.reason = "config";
  else if (s.on) s.reason = "auto";
  return s;
}

Result<UnderAttackStatus> ChallengeProtection::setUnderAttack(const std::string& site,
                                                              UnderAttackSwitch to) {
  auto snap = snapshot_.current();
  auto it = snap->sites.find(site);
  if (it == snap->sites.end()) return Error{ENOENT, "no site named '" + site + "'"};
  Runtime& rt = *it->second.runtime;
  switch (to) {
    case UnderAttackSwitch::On: rt.override_state.store(kOverrideOn, std::memory_order_relaxed); break;
    case UnderAttackSwitch::Off:
      rt.override_state.store(kOverrideOff, std::memory_order_relaxed);
      rt.auto_until_ns.store(0, std::memory_order_relaxed);
      break;
    case UnderAttackSwitch::Auto:
      rt.override_state.store(kOverrideAuto, std::memory_order_relaxed);
      break;
  }
  return statusOf(it->second);
}

std::vector<UnderAttackStatus> ChallengeProtection::underAttack() const {
  auto snap = snapshot_.current();
  std::vector<UnderAttackStatus> out;
  for (const auto& name : snap->order) out.push_back(statusOf(snap->sites.at(name)));
  return out;
}

ChallengeStats ChallengeProtection::stats() const {
  ChallengeStats s;
#define MAMORI_CHALLENGE_READ(name) s.name = name##_.load(std::memory_order_relaxed);
  MAMORI_CHALLENGE_COUNTERS(MAMORI_CHALLENGE_READ)
#undef MAMORI_CHALLENGE_READ
  return s;
}

}  // namespace mamori::daemon
