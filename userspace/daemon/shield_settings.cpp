#include "daemon/shield_settings.h"

#include <algorithm>

namespace mamori::daemon {
namespace {

shield::RateLimit rate(const config::RateLimit& limit) { return {limit.rate, limit.burst}; }

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

const char* modeName(config::AttachMode mode) {
  return shield::attachModeName(shieldAttachMode(mode));
}

}  // namespace

shield::Settings shieldSettings(const config::ShieldConfig& config) {
  shield::Settings s;
  s.syn = rate(config.rates.syn);
  s.udp = rate(config.rates.udp);
  s.icmp = rate(config.rates.icmp);
  s.all = rate(config.rates.all);
  s.scanner_syn = config.scanner_syn;
  s.malformed_drop = config.malformed == config::MalformedAction::Drop;
  s.ban_v6_prefix64 = config.ban_ipv6_prefix64;
  s.tcp_ports = config.ports.tcp;
  s.udp_ports = config.ports.udp;
  return s;  // events_per_sec: not configurable yet, the shield's default
}

shield::AttachMode shieldAttachMode(config::AttachMode mode) {
  switch (mode) {
    case config::AttachMode::Auto:
      return shield::AttachMode::Auto;
    case config::AttachMode::Native:
      return shield::AttachMode::Native;
    case config::AttachMode::Generic:
      return shield::AttachMode::Generic;
  }
  return shield::AttachMode::Auto;
}

shield::Options shieldOptions(const config::ShieldConfig& config, const std::string& pin_root) {
  shield::Options options;
  options.pin_root = pin_root;
  options.max_sources = config.max_sources;
  return options;
}

InterfaceChanges interfaceChanges(const std::vector<std::string>& attached,
                                  const std::vector<std::string>& wanted) {
  InterfaceChanges changes;
  for (const auto& name : wanted)
    if (!contains(attached, name)) changes.attach.push_back(name);
  for (const auto& name : attached)
    if (!contains(wanted, name)) changes.detach.push_back(name);
  return changes;
}

std::vector<std::string> changesNeedingRestart(const config::ShieldConfig& running,
                                               const config::ShieldConfig& next) {
  std::vector<std::string> out;
  if (running.max_sources != next.max_sources) {
    // rate_src is pinned at its load-time size; a restart with another size
    // fails until the old pins are removed (docs/shield.md, "Memory").
    out.push_back("max_sources " + std::to_string(running.max_sources) + " -> " +
                  std::to_string(next.max_sources) +
                  " needs a restart after `mamorid --purge` (which also drops bans); "
                  "keeping " +
                  std::to_string(running.max_sources));
  }
  if (running.attach_mode != next.attach_mode) {
    std::string kept;
    for (const auto& name : next.interfaces)
      if (contains(running.interfaces, name)) kept += (kept.empty() ? "" : ", ") + name;
    if (!kept.empty()) {
      out.push_back(std::string("attach_mode ") + modeName(running.attach_mode) + " -> " +
                    modeName(next.attach_mode) + " applies to newly attached interfaces; " + kept +
                    " keep their mode until a restart");
    }
  }
  return out;
}

}  // namespace mamori::daemon
