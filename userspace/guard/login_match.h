#pragma once

// The stateless half of the login detector: which login route a request is
// for, which username it tries, and what the upstream's answer says about
// it. Pure functions over http types: any thread, no locks, no allocation
// beyond the returned values. LoginGuard calls them; tests call them alone.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "guard/types.h"
#include "http/body_parser.h"
#include "http/types.h"

namespace mamori::guard {

// At most this many bytes of an upstream response body are looked at.
inline constexpr std::size_t kBodyPrefixBytes = 64 * 1024;

// '*' matches any run of characters (including '/' and none), '?' exactly
// one; everything else matches itself. Linear-space, O(pattern x text) in
// the worst case, no recursion.
bool globMatch(std::string_view pattern, std::string_view text);

// True when `path` matches `pattern` under `mode`.
bool pathMatches(PathMatch mode, std::string_view pattern, std::string_view path);

// Index of the first route of `routes` whose method and path match the
// request (path compared on Request::decoded_path, the form the upstream
// acts on, so "/wp-login%2ephp" cannot slip past), or nullopt.
std::optional<std::size_t> matchRoute(const std::vector<LoginRoute>& routes,
                                      const http::Request& request);

// Username of a login attempt on `route`, normalised: ASCII whitespace
// trimmed, ASCII-lowercased when `case_insensitive`. nullopt when the route
// names no source, the field is missing or empty, or the body does not
// parse. `parsed` may be the body already parsed by inspection (saves a
// second parse); otherwise the body is parsed here with http::parseBody and
// the parse result (which holds the password field) is dropped before
// returning. A Basic-auth credential is decoded only up to the ':', so
// its password is never decoded. Never stores anything.
std::optional<std::string> extractUsername(const LoginRoute& route, const http::Request& request,
                                           bool case_insensitive,
                                           const http::ParsedBody* parsed = nullptr);

// True when the body field called `field_name` (the body parser's dotted
// path: "user.email", "items[2].id") is what the RFC 6901 `pointer`
// ("/user/email", "/items/2/id") designates. An all-digit segment matches
// an array element or an object member of that name.
bool jsonFieldMatchesPointer(std::string_view field_name, std::string_view pointer);

// True when the response satisfies every part of `rule`. `body_prefix` is
// at most kBodyPrefixBytes of the (decoded) body; longer input is cut.
bool ruleMatches(const OutcomeRule& rule, int status, const std::vector<http::Header>& headers,
                 std::string_view body_prefix);

// Failed when a failure rule matches, else Succeeded when a success rule
// matches, else Unknown.
Outcome classifyResponse(const LoginRoute& route, int status,
                         const std::vector<http::Header>& headers, std::string_view body_prefix);

}  // namespace mamori::guard
