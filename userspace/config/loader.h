#pragma once

// Loads and validates mamori's YAML configuration into a typed Config. This
// is the only place yaml-cpp is seen; it throws, and every exception is
// caught here and turned into a Result (STYLE.md §4).
//
// Loading has no side effects beyond reading the config file and checking
// that the files it names are readable: nothing is bound, attached or
// swapped. A reload is "load a new Config, and if it is ok, swap the
// pointer" — done by the daemon. All functions may be called from any
// thread; they share no state.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "config/types.h"

namespace mamori::config {

// Checks one file named by the config (certificate, key, block page).
// Returns "" when the file is usable, or the reason it is not, e.g.
// "No such file or directory".
using FileCheck = std::function<std::string(const std::string& path)>;

// The real check: the path opens for reading and is a regular file.
// Touches the filesystem; thread-safe.
std::string checkReadableFile(const std::string& path);

struct LoadOptions {
  // Called for every certificate, key and block page path after relative
  // paths are resolved. nullptr skips file checks (unit tests, `--check`
  // on another host's config).
  FileCheck check_file = checkReadableFile;
  // Directory against which relative file paths are resolved. loadConfigFile
  // sets it to the config file's directory when left empty; for
  // loadConfigString, empty leaves relative paths as written.
  std::string base_dir;
};

// Reads and validates the YAML file at `path`.
// Out: the Config, or an Error (code EINVAL, or the errno of a failed read)
// whose message holds one line per problem, in file order:
//   "FILE:LINE:COLUMN: message (hint)"
// with 1-based positions of the offending YAML node. All problems found are
// reported, not only the first.
Result<Config> loadConfigFile(const std::string& path, const LoadOptions& options = {});

// As loadConfigFile, for YAML text already in memory; `name_for_errors` is
// the FILE part of every error line.
Result<Config> loadConfigString(std::string_view yaml, const std::string& name_for_errors,
                                const LoadOptions& options = {});

// The one-site setup built from command-line flags (`mamorid --listen ...
// --upstream ...`), for trying mamori without writing a file.
struct QuickStart {
  std::string listen;    // "ip:port" to accept on, e.g. "0.0.0.0:8080"
  std::string upstream;  // "host:port" of the protected application
  // Both or neither: with them the listener speaks TLS.
  std::optional<std::string> tls_cert;
  std::optional<std::string> tls_key;
  std::vector<std::string> xdp_interfaces;  // empty: no XDP shield
  uint32_t workers = 0;
  std::string metrics_listen = "127.0.0.1:9464";
};

// Builds a Config with tenant "default" and site "default" answering any
// host (hosts: ["*"]), one listener and one upstream, everything else at its
// default. Values are checked with the same parsers and file check as the
// loader. Out: the Config, or an Error with one line per problem, each
// starting with the QuickStart field name ("listen: invalid address ...").
Result<Config> quickStartConfig(const QuickStart& quick, const LoadOptions& options = {});

}  // namespace mamori::config
