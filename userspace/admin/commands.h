#pragma once

// The mamorictl command set, run inside mamorid for each control-socket
// call (control_server.h). Nouns then verbs: status, stats, sites, shield,
// bans, lists, config. `--output json` anywhere in the arguments switches
// to one JSON document on stdout. Exit codes: 0 ok, 1 the operation failed,
// 2 wrong usage (a one-line reason on stderr).

#include "admin/control_server.h"
#include "admin/services.h"

namespace mamori::admin {

// Runs the call's command against `services`, writing to the call's
// streams and filling its audit before/after for changes. Any control
// thread; `services` must be thread-safe.
int runCommand(Call& call, Services& services);

// Escapes `text` as a JSON string literal, quotes included; bytes under
// 0x20 become \u00XX. Any thread.
std::string jsonString(std::string_view text);

// A site's under-attack state in words, as `sites show` and `site
// under-attack` print it: "off", "off (cli)", "on (cli)", "on (config)",
// "on (auto, 120s left)". Any thread.
std::string underAttackText(const UnderAttackInfo& info);

}  // namespace mamori::admin
