#pragma once

// The daemon's adapter from the config's per-site `login:` sections to the
// guard module's own types (config does not know guard; daemon/ wires
// them, as shield_settings.h does for the shield). Pure functions on plain
// data: any thread.

#include <vector>

#include "common/result.h"
#include "config/types.h"
#include "guard/types.h"

namespace mamori::daemon {

// One guard::SiteGuardConfig per site of `config` that has a `login:`
// section, in config order. A route starts from its preset (or guard's
// defaults) and the fields written in the config replace the preset's;
// unset limits, ladders and sizes keep guard's defaults. A site in
// `mode: detect` is detection-only. Fails only when guard::validate refuses
// the result (the loader checks every range, so that means the two have
// drifted apart): Error{EINVAL, "site S: ..."}. Control plane.
common::Result<std::vector<guard::SiteGuardConfig>> loginSettings(const config::Config& config);

// The same for one site; `site.login` must be set.
common::Result<guard::SiteGuardConfig> loginSettings(const config::Site& site);

}  // namespace mamori::daemon
