// Fuzz target for the bot data file parser (STYLE.md §6): YAML bytes in,
// lists or an error out, never a crash or an escaping exception. Checks the
// properties mamorid relies on when it reloads the files:
//   - every error line names the file and a position ("fuzz.yaml:LINE:COL: ...");
//   - a refused file leaves the lists it was added to unchanged;
//   - loaded entries are usable: non-empty names and patterns, JA3 of 32
//     hex digits, crawler domains with at least two labels;
//   - a request whose User-Agent is the input classifies without trouble.
// Violations abort, so libFuzzer and the replay both see them.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "guard/bot_lists.h"

namespace {

using namespace mamori::guard;

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  BotLists lists;
  UaPattern seed{"seed", BotClass::Tool, "seed", "seed.yaml:1:1"};
  lists.user_agents.push_back(seed);
  auto st = parseBotListText(in, "fuzz.yaml", lists);
  if (!st.ok()) {
    const std::string& message = st.error().message;
    check(!message.empty());
    std::size_t start = 0;
    while (start < message.size()) {
      check(message.compare(start, 10, "fuzz.yaml:") == 0);
      const std::size_t nl = message.find('\n', start);
      start = nl == std::string::npos ? message.size() : nl + 1;
    }
    check(lists.user_agents.size() == 1 && lists.files.empty());
    return 0;
  }
  for (const auto& u : lists.user_agents) check(!u.name.empty() && !u.pattern.empty());
  for (const auto& f : lists.fingerprints) {
    check(!f.name.empty() && (!f.ja3.empty() || !f.ja4.empty()));
    check(f.ja3.empty() || f.ja3.size() == 32);
  }
  for (const auto& g : lists.good_bots) {
    check(!g.domains.empty());
    for (const auto& d : g.domains) check(d.find('.') != std::string::npos);
  }
  mamori::http::Request request;
  request.headers.push_back({"User-Agent", std::string(in.substr(0, 512))});
  ClassifyInput input;
  input.request = &request;
  (void)classifyRequest(lists, input);
  return 0;
}
