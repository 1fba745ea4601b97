#pragma once

// The one owner of the XDP shield's BPF skeleton (STYLE.md §5): opens and
// loads the embedded object, reuses or creates the maps pinned under
// `pin_root`, attaches to interfaces, writes settings, lists and bans, reads
// counters and drop events, and detaches on destruction.
//
// Threading: a Shield is used from one control thread. Map reads and writes
// are safe while packets flow (the kernel synchronises map access).

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "shield/types.h"

namespace mamori::shield {

inline constexpr const char* kDefaultPinRoot = "/sys/fs/bpf/mamori";

// A pin directory of another map ABI (<pin_root>/v<N>, N not the current
// SHIELD_PIN_ABI) and what removing it did. Its maps cannot be reused: their
// layout differs, so their bans are dropped, not carried over.
struct StaleAbiDir {
  std::string path;      // <pin_root>/v<N>
  int pins_removed = 0;  // pinned objects unlinked from it
  bool removed = false;  // the directory itself is gone
  // One per object or directory that could not be removed, each naming the
  // path and carrying its errno; the rest of the directory is still tried.
  std::vector<common::Error> failures;
};

struct Options {
  // Maps are pinned in <pin_root>/<abi>/; tests pass a private root.
  std::string pin_root = kDefaultPinRoot;
  uint32_t max_sources = 1u << 20;  // rate_src entries (~128 B each, docs/shield.md)
  uint32_t max_bans = 1u << 18;     // bans_v4 and bans_v6 entries each
};

class Shield {
 public:
  // Loads the program. Needs CAP_BPF/CAP_NET_ADMIN and bpffs (mounted here
  // if missing). Fails with the libbpf call and errno on any step.
  // First removes the pin directories of other map ABIs under the pin root
  // (removeStaleAbiPins), so an upgrade does not leave the old maps' kernel
  // memory pinned; says on stderr how many pins went from which directory,
  // and warns (path and errno) about any it could not remove, then loads.
  static common::Result<std::unique_ptr<Shield>> open(const Options& options);

  ~Shield();  // detaches from every interface it attached to
  Shield(const Shield&) = delete;
  Shield& operator=(const Shield&) = delete;

  // Attaches to `ifname`. Auto tries native mode first, then generic; the
  // mode taken is returned so the caller can say which.
  common::Result<AttachMode> attach(const std::string& ifname, AttachMode mode);
  // Detaches from `ifname` if this Shield attached to it (config reload:
  // an interface left out of the new config). An interface it never
  // attached to is not touched and is no error.
  void detach(const std::string& ifname);
  // Detaches from every interface this Shield attached to.
  void detachAll();

  common::Status applySettings(const Settings& settings);
  // Replaces the allow or deny list with `prefixes` (entries not listed go).
  common::Status replaceList(ListKind kind, const std::vector<common::IpPrefix>& prefixes);

  int programFd() const;
  const std::string& pinDir() const { return pin_dir_; }
  // The stale ABI directories open() found and what it removed of each.
  const std::vector<StaleAbiDir>& staleAbiDirs() const { return stale_abi_dirs_; }

 private:
  struct Impl;
  explicit Shield(std::unique_ptr<Impl> impl, std::string pin_dir);
  std::unique_ptr<Impl> impl_;
  std::string pin_dir_;
  std::vector<StaleAbiDir> stale_abi_dirs_;
};

// Access to the pinned maps without loading the program: used by mamorictl
// and by mamorid after the shield is loaded. All calls are short map
// operations; each opens what it needs from `pin_dir`.
class PinnedMaps {
 public:
  // Fails with ENOENT (and a hint that mamorid is not running with a
  // shield) when the pins are absent.
  static common::Result<PinnedMaps> open(const std::string& pin_root = kDefaultPinRoot);

  PinnedMaps(PinnedMaps&&) noexcept;
  PinnedMaps& operator=(PinnedMaps&&) noexcept;
  ~PinnedMaps();

  common::Result<Counters> counters() const;
  common::Result<Settings> settings() const;

  // Adds or refreshes a ban that expires `ttl` from now (CLOCK_MONOTONIC,
  // the clock bpf_ktime_get_ns reads). IPv4 takes host addresses only; IPv6
  // takes a host or a /64. Both calls then replace the src_gen token, so
  // the change applies from the source's next packet even where the program
  // had cached "not banned" for it (bpf/shield_abi.h, struct shield_src_gen).
  // Fails with the map call's errno; deleting an absent ban is ENOENT.
  common::Status addBan(const common::IpPrefix& source, std::chrono::seconds ttl, BanReason reason);
  common::Status deleteBan(const common::IpPrefix& source);
  common::Result<std::vector<Ban>> listBans() const;  // unexpired only

  // List changes, like ban changes, replace the src_gen token: they apply
  // from each source's next packet. Fail with the map call's errno.
  common::Status addToList(ListKind kind, const common::IpPrefix& prefix);
  common::Status deleteFromList(ListKind kind, const common::IpPrefix& prefix);
  common::Result<std::vector<common::IpPrefix>> list(ListKind kind) const;
  // Makes `prefixes` the whole `kind` list (both families), in one pass.
  common::Status replaceList(ListKind kind, const std::vector<common::IpPrefix>& prefixes);

  const std::string& pinDir() const { return pin_dir_; }

 private:
  // One entry of a merged list trie: which lists its prefix is on (own) and
  // which apply once covering prefixes are counted (eff).
  struct ListRow {
    common::IpPrefix prefix;
    uint8_t own = 0;
    uint8_t eff = 0;
  };
  common::Result<std::vector<ListRow>> readList(bool v6) const;
  // Writes `after` over the family's trie (entries first, then removals,
  // then list_state) and replaces the src_gen token, even on failure.
  common::Status writeList(bool v6, const std::vector<ListRow>& before, std::vector<ListRow> after);
  common::Status writeListEntries(bool v6, const std::vector<ListRow>& before,
                                  std::vector<ListRow> after);

  PinnedMaps() = default;
  std::string pin_dir_;
  int fd(const char* name) const;
  struct Fds;
  std::unique_ptr<Fds> fds_;
};

// Reads sampled drop events from the pinned ring buffer.
class DropEventReader {
 public:
  static common::Result<std::unique_ptr<DropEventReader>> open(
      const std::string& pin_root, std::function<void(const DropEvent&)> on_event);
  ~DropEventReader();
  // Waits up to `timeout` for events and delivers them; returns how many.
  common::Result<int> poll(std::chrono::milliseconds timeout);

 private:
  DropEventReader() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Removes the pin directories of other map ABIs under `pin_root`: only
// directories named `v` and digits, other than SHIELD_PIN_ABI, that are real
// directories (not symlinks) on bpffs. Unlinks the pinned objects in each,
// then the directory; never recurses into a subdirectory, and never touches
// any other name a user keeps under the root. Returns one entry per such
// directory, failures included (StaleAbiDir::failures); fails only when
// `pin_root` exists but cannot be read. An absent root gives an empty list.
// Control thread; called by Shield::open and purgePins.
common::Result<std::vector<StaleAbiDir>> removeStaleAbiPins(const std::string& pin_root);

// Removes the pinned maps under `pin_root` (mamorid --purge): the current
// ABI's directory and those of other ABIs (removeStaleAbiPins), then the
// root if that left it empty. Fails naming every path that could not go,
// with the first one's errno; what could go is gone all the same.
common::Status purgePins(const std::string& pin_root = kDefaultPinRoot);

// Current CLOCK_MONOTONIC in ns, the clock of ban expiries.
uint64_t monotonicNowNs();

}  // namespace mamori::shield
