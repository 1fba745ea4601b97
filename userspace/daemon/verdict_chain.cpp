#include "daemon/verdict_chain.h"

#include <optional>

namespace mamori::daemon {

net::Verdict runVerdictChain(std::span<const VerdictStep> steps, const http::Request& request,
                             const net::RequestContext& context) {
  std::optional<net::Verdict> block;  // detect mode: the first Block, held
  std::optional<net::Verdict> asks;   // the first Pass with a delay or a watch
  for (const VerdictStep& step : steps) {
    if (!step) continue;
    net::Verdict v = step(request, context);
    if (v.action == net::Verdict::Action::Block) {
      if (!context.detect_only) return v;
      if (!block) block = std::move(v);
      continue;
    }
    if (!asks && (v.watch || v.delay.count() > 0)) asks = std::move(v);
  }
  if (block) return std::move(*block);
  if (asks) return std::move(*asks);
  return net::Verdict::pass();
}

}  // namespace mamori::daemon
