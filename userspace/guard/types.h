#pragma once

// Plain data of the login-abuse detector (issue #7): the per-site login
// configuration it is built from, and the verdicts, decisions and status it
// hands back to the engine, the event log and the CLI. No logic beyond
// defaults and small lookups; LoginGuard (guard/login_guard.h) acts on it.
// Values are owned by one thread at a time; const access from several
// threads is safe.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip_prefix.h"
#include "common/result.h"

namespace mamori::guard {

using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

// How a login route's path is matched against the request's decoded path.
// No regular expressions on purpose: a glob is matched in O(path x pattern)
// with no backtracking blow-up and no third-party engine in guard
// (docs/login-abuse.md, "Path matching").
enum class PathMatch : std::uint8_t {
  Exact,   // whole path equal ("/wp-login.php")
  Prefix,  // path starts with the pattern ("/api/auth/")
  Glob,    // '*' any run of characters (including '/'), '?' one character
};

// Where the username of a login attempt is found in the request.
enum class UsernameSource : std::uint8_t {
  None,         // not extracted: only per-source counters run
  FormField,    // urlencoded or multipart form field called `username_field`
  JsonPointer,  // RFC 6901 pointer into a JSON body, e.g. "/user/email"
  BasicAuth,    // "Authorization: Basic" user-id (the password is discarded)
};

// One field of the upstream's response that must contain a value.
struct HeaderTest {
  std::string name;      // header name, case-insensitive
  std::string contains;  // substring of any header of that name (case-sensitive)
  bool operator==(const HeaderTest&) const = default;
};

// A scalar in a JSON response body: `pointer` ("/ok") must hold `equals`,
// compared as the body parser writes scalars ("false", "42", unescaped text).
struct JsonTest {
  std::string pointer;
  std::string equals;
  bool operator==(const JsonTest&) const = default;
};

// A conjunction of tests on the upstream's response; empty parts are not
// tested, so an all-empty rule matches every response (validate() refuses it).
struct OutcomeRule {
  std::vector<int> statuses;        // status must be one of these
  std::string location_prefix;      // Location header starts with this
  std::string location_contains;    // Location header contains this
  std::optional<HeaderTest> header;
  std::string body_contains;        // substring of the body prefix
  std::optional<JsonTest> json;     // scalar in a JSON body prefix
  bool operator==(const OutcomeRule&) const = default;
};

// One login endpoint of a site.
struct LoginRoute {
  std::string name;  // for events and status ("wp-login")
  PathMatch path_match = PathMatch::Exact;
  std::string path;
  std::string method = "POST";  // method token, case-sensitive (RFC 9110 §9.1)
  UsernameSource username_source = UsernameSource::FormField;
  std::string username_field = "username";  // form field name or JSON pointer
  // The response is Failed when any failure rule matches, else Succeeded
  // when any success rule matches, else Unknown (not counted).
  std::vector<OutcomeRule> failure;
  std::vector<OutcomeRule> success;
  bool operator==(const LoginRoute&) const = default;
};

// Shipped shapes of common login endpoints.
enum class Preset : std::uint8_t {
  GenericForm401,   // POST form; failure 401/403, success 2xx/3xx
  WordPress,        // POST /wp-login.php, field "log"; failure 200, success 302 to wp-admin
  JsonApiOkFalse,   // POST JSON; failure {"ok": false}, success {"ok": true}
};

// Stable config name of a preset ("generic_form_401", "wordpress",
// "json_api_ok_false"). Any thread.
const char* presetName(Preset preset);

// Parses a preset name; Error{EINVAL} naming the known presets otherwise.
common::Result<Preset> parsePreset(std::string_view name);

// The route of `preset`. An empty `path` keeps the preset's own
// ("/wp-login.php" for WordPress, "/login" otherwise); an empty
// `username_field` keeps its field ("log", "username", "/username").
LoginRoute presetRoute(Preset preset, std::string path = {}, std::string username_field = {});

// The counters the detector keeps, each a sliding window with a threshold.
enum class Counter : std::uint8_t {
  FailuresPerIp,           // source address
  FailuresPerUser,         // username, from any source
  FailuresPerUserIp,       // (username, source); reset by a success
  DistinctUsersPerIp,      // password spraying / credential stuffing
  DistinctIpsPerUser,      // distributed cracking of one account
  FailuresPerV4Prefix24,   // IPv4 /24 of the source
  FailuresPerV6Prefix64,   // IPv6 /64 of the source
};
inline constexpr std::size_t kCounterCount = 7;

// Stable snake_case name ("failures_per_ip"), for event fields and config
// keys; "unknown" out of range. Any thread.
const char* counterName(Counter counter);

// A counter's window and threshold: the counter trips when its value over
// the last `window` reaches `threshold`.
struct CounterLimit {
  std::uint32_t threshold = 0;
  std::chrono::seconds window{0};
  bool enabled = true;
  bool operator==(const CounterLimit&) const = default;
};

// Defaults chosen so that a user who mistypes a few times never trips
// anything, while one address guessing passwords for one account is stopped
// after 5 failures (fail2ban's default jail is 5 per 10 minutes).
struct Limits {
  CounterLimit failures_per_ip{10, 10min};
  CounterLimit failures_per_user{20, 10min};
  CounterLimit failures_per_user_ip{5, 10min};
  CounterLimit distinct_users_per_ip{10, 10min};
  CounterLimit distinct_ips_per_user{10, 10min};
  CounterLimit failures_per_v4_24{50, 10min};
  CounterLimit failures_per_v6_64{50, 10min};
  // A success on a username that has at least this many failures in the
  // failures_per_user window is reported as a possible account takeover;
  // 0 turns the event off.
  std::uint32_t takeover_after_failures = 5;

  const CounterLimit& of(Counter counter) const;
  bool operator==(const Limits&) const = default;
};

// What the detector may do. The engine carries out the ones that concern a
// request (Delay, TooManyRequests, answering blocked / locked attempts); the
// detector keeps the state and calls the BanSink itself.
enum class Action : std::uint8_t {
  Log,              // event only
  Delay,            // hold this response for `delay`
  TooManyRequests,  // answer the source's login attempts 429 for `duration`
  BlockSource,      // answer every request of the source to the site 403 for `duration`
  BanSource,        // ban at XDP through the BanSink, TTL from ban_ttls
  LockUsername,     // answer attempts on the username locally for `duration`
};

// Stable snake_case name ("ban_source"); "unknown" out of range. Any thread.
const char* actionName(Action action);

// One rung of an escalation ladder. `excess` is how far the worst tripped
// counter is over its threshold: 1 when it has just reached it, 2 one
// attempt later, ... The highest rung whose excess is reached applies.
struct LadderStep {
  std::uint32_t excess = 1;
  Action action = Action::Log;
  std::chrono::milliseconds delay{0};  // Delay
  std::chrono::seconds duration{0};    // TooManyRequests, BlockSource, LockUsername
  bool operator==(const LadderStep&) const = default;
};

// Source ladder default: slow down, then 429 for a minute, then block the
// source for the site, then ban it at XDP.
std::vector<LadderStep> defaultSourceLadder();
// Username ladder default: lock the username for 15 minutes.
std::vector<LadderStep> defaultUsernameLadder();

// How usernames appear in decisions, events and status.
enum class UsernameStorage : std::uint8_t {
  Hashed,  // "h:" + 16 hex digits of a keyed hash (default)
  Clear,   // as sent (after normalisation), truncated to 63 bytes in tables
};

// Sizes of the fixed tables, in entries (rounded up to a power-of-two
// number of 8-way sets). Memory per entry is in docs/login-abuse.md.
struct TableSizes {
  std::size_t counters = 32768;  // each of the five count tables
  std::size_t distinct = 8192;   // each of the two distinct-count tables
  std::size_t blocks = 8192;     // throttled / blocked / banned sources
  std::size_t locks = 4096;      // locked usernames
  std::size_t offenders = 8192;  // ban history for growing TTLs
  bool operator==(const TableSizes&) const = default;
};

// The login-abuse settings of one site.
struct SiteGuardConfig {
  std::string site;  // site name, as in the config's sites section
  bool detection_only = false;  // compute and report decisions, enforce nothing
  std::vector<LoginRoute> routes;
  std::vector<common::IpPrefix> allow;  // sources never counted nor acted on
  Limits limits;
  std::vector<LadderStep> source_ladder = defaultSourceLadder();
  std::vector<LadderStep> username_ladder = defaultUsernameLadder();
  // TTL of the 1st, 2nd, ... ban of the same source; the last repeats.
  std::vector<std::chrono::seconds> ban_ttls{10min, 1h, 24h};
  std::chrono::seconds offender_memory{7 * 24h};  // ban history kept this long
  bool ban_ipv6_prefix64 = false;  // ban a v6 source's /64 rather than the host
  UsernameStorage usernames = UsernameStorage::Hashed;
  bool username_case_insensitive = true;  // "Alice@X" and "alice@x" are one account
  int locked_status = 429;  // status answered to attempts on a locked username
  TableSizes tables;
  bool operator==(const SiteGuardConfig&) const = default;
};

// Checks one site's settings: routes with a path and outcome rules that test
// something, JSON pointers that start with '/', windows of 1 s .. 1 day,
// thresholds >= 1 on enabled counters, ladders sorted by excess with the
// durations their actions need, ban TTLs > 0, locked_status 4xx/5xx, table
// sizes >= 1. Error{EINVAL, "site S: routes[2].path: ..."} for the first
// problem. Control plane.
common::Status validate(const SiteGuardConfig& site);

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

// What the upstream's answer says about a login attempt.
enum class Outcome : std::uint8_t { Unknown, Failed, Succeeded };
const char* outcomeName(Outcome outcome);

// One counter that tripped, for the event log.
struct Trigger {
  Counter counter = Counter::FailuresPerIp;
  std::uint32_t value = 0;
  std::uint32_t threshold = 0;
  std::chrono::seconds window{0};
  bool operator==(const Trigger&) const = default;
};

enum class EventKind : std::uint8_t {
  SourceAbuse,      // source counters tripped: source ladder applied
  UsernameAbuse,    // username counters tripped: username ladder applied
  AccountTakeover,  // success after takeover_after_failures failures
};
const char* eventKindName(EventKind kind);

// One detection for the event log.
struct Event {
  EventKind kind = EventKind::SourceAbuse;
  Action action = Action::Log;
  std::chrono::milliseconds delay{0};
  std::chrono::seconds duration{0};  // 429 / block / lock length, or the ban TTL
  common::IpPrefix subject;  // address or prefix acted on (the source for user events)
  std::string username;      // "h:<hex>" or clear text per UsernameStorage; may be empty
  std::string route;         // LoginRoute::name, empty for reportOutcome()
  std::vector<Trigger> triggers;
  bool enforced = true;      // false in detection-only mode
};

// How the engine must answer a request locally; status 0 means forward.
struct LocalAnswer {
  int status = 0;                        // 403 or 429 (or locked_status)
  std::chrono::seconds retry_after{0};   // Retry-After for 429, 0 otherwise
};

using SiteId = std::uint32_t;

// Result of LoginGuard::beforeUpstream, passed back to afterResponse.
struct PreCheck {
  SiteId site = 0;
  bool login = false;     // the request matched a login route
  bool allowed = false;   // source is on the allow list: nothing counted or enforced
  std::uint32_t route = 0;
  bool has_username = false;
  std::uint64_t user_hash = 0;
  std::string username;   // display form (hash or clear)
  common::IpPrefix source;
  // Answer locally (without the upstream) when answer.status != 0 and
  // enforced; in detection-only mode `answer` says what would have happened.
  LocalAnswer answer;
  bool enforced = true;
  std::vector<Event> events;

  bool answerLocally() const { return enforced && answer.status != 0; }
};

// Result of LoginGuard::afterResponse / reportOutcome.
struct Decision {
  Outcome outcome = Outcome::Unknown;
  // Hold the response this long before sending it (0 in detection-only).
  std::chrono::milliseconds delay{0};
  bool enforced = true;
  std::vector<Event> events;
};

// LoginGuard::status(): what `mamorictl login status` prints.
struct SourceStatus {
  common::IpPrefix source;
  std::uint32_t failures = 0;              // in the failures_per_ip window
  std::chrono::seconds throttled_for{0};   // remaining 429 time
  std::chrono::seconds blocked_for{0};     // remaining block (site level)
  std::chrono::seconds banned_for{0};      // remaining ban (XDP), as issued
  std::uint32_t bans = 0;                  // bans remembered for this source
};

struct LockedUser {
  std::string username;  // display form
  std::chrono::seconds remaining{0};
};

struct SiteStatus {
  std::string site;
  std::vector<SourceStatus> top_sources;  // most failures first
  std::vector<SourceStatus> restricted;   // throttled, blocked or banned now
  std::vector<LockedUser> locked;
};

}  // namespace mamori::guard
