#pragma once

// The daemon's adapter from the config's `shield:` section to the shield
// module's own types (STYLE.md §1: config does not know shield and shield
// does not know config; daemon/ wires them). Pure functions on plain data:
// no BPF, no root, callable from any thread, nothing here fails.

#include <string>
#include <vector>

#include "config/types.h"
#include "shield/shield.h"
#include "shield/types.h"

namespace mamori::daemon {

// Runtime settings for Shield::applySettings. Rates, ports and flags map one
// to one; a rate of 0 stays 0 (that bucket off). The config's defaults equal
// shield::defaultSettings(), so a config that sets nothing but `interfaces`
// behaves like `mamorid --xdp-iface`. Values are in range because the loader
// checked them against the shield's limits.
shield::Settings shieldSettings(const config::ShieldConfig& config);

shield::AttachMode shieldAttachMode(config::AttachMode mode);

// Load-time options: the pin root (from the command line) and the size of the
// per-source rate map (`max_sources`).
shield::Options shieldOptions(const config::ShieldConfig& config, const std::string& pin_root);

// What a reload does to the attached interfaces, each list in config order.
struct InterfaceChanges {
  std::vector<std::string> attach;  // wanted, not attached yet
  std::vector<std::string> detach;  // attached, no longer wanted
  bool operator==(const InterfaceChanges&) const = default;
};
InterfaceChanges interfaceChanges(const std::vector<std::string>& attached,
                                  const std::vector<std::string>& wanted);

// Changes in `next` that a reload cannot apply to a running shield, one
// operator-facing sentence each (empty: everything applies): `max_sources`
// sizes a map at load time, and interfaces already attached keep the
// attach mode they were attached with.
std::vector<std::string> changesNeedingRestart(const config::ShieldConfig& running,
                                               const config::ShieldConfig& next);

}  // namespace mamori::daemon
