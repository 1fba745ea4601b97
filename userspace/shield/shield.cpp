#include "shield/shield.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <unordered_map>

#include "shield.skel.h"
#include "shield_abi.h"

namespace mamori::shield {

using common::Error;
using common::errnoError;
using common::IpPrefix;
using common::Result;
using common::Status;

static_assert(sizeof(shield_config) == 40);
static_assert(sizeof(shield_counter) == 16);
static_assert(sizeof(shield_lpm_v4) == 8);
static_assert(sizeof(shield_lpm_v6) == 20);
static_assert(sizeof(shield_ban_v6_key) == 20);
static_assert(sizeof(shield_ban) == 16);
static_assert(sizeof(shield_src) == 16);
static_assert(sizeof(shield_rate_state) == 48);
static_assert(sizeof(shield_src_gen) == 8);
static_assert(sizeof(shield_event) == 40);
static_assert(SHIELD_R_MAX == kReasonCount);

namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;
constexpr const char* kProgramName = "shield_xdp";

std::string pinDirFor(const std::string& pin_root) {
  return pin_root + "/" + SHIELD_PIN_ABI;
}

// bpffs is not mounted on every host (no systemd in containers and VMs):
// mount it rather than fail, since pinning is what keeps bans across restarts.
Status ensureBpfFs(const std::string& pin_root) {
  const std::string mount_point = "/sys/fs/bpf";
  struct statfs fs {};
  if (statfs(mount_point.c_str(), &fs) == 0 && static_cast<long>(fs.f_type) == kBpfFsMagic)
    return {};
  if (mount("bpf", mount_point.c_str(), "bpf", 0, nullptr) != 0)
    return errnoError("mount bpffs on " + mount_point, errno);
  (void)pin_root;
  return {};
}

Status makeDirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error{ec.value(), "create " + dir + ": " + ec.message()};
  return {};
}

int libbpfErrno(int ret) { return ret < 0 ? -ret : errno; }

// "v" then one or more ASCII digits: the names pinDirFor gives, has given
// and will give to an ABI's pin directory. Nothing else under the pin root
// is ours to remove.
bool isAbiDirName(const char* name) {
  if (name[0] != 'v' || name[1] == '\0') return false;
  for (const char* c = name + 1; *c; ++c)
    if (*c < '0' || *c > '9') return false;
  return true;
}

using DirHandle = std::unique_ptr<DIR, int (*)(DIR*)>;

// Opens `name` under `parent_fd` for reading entries; with `no_follow`, a
// symlink is refused (ELOOP). On failure returns nullptr with errno set.
DirHandle openDirAt(int parent_fd, const char* name, bool no_follow) {
  const int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (no_follow ? O_NOFOLLOW : 0);
  const int fd = openat(parent_fd, name, flags);
  if (fd < 0) return DirHandle(nullptr, closedir);
  DIR* dir = fdopendir(fd);  // owns fd from here on
  if (!dir) {
    const int saved = errno;
    close(fd);
    errno = saved;
  }
  return DirHandle(dir, closedir);
}

// Every entry name of `dir` but "." and "..", read in full before the
// caller removes any, so removal cannot disturb the walk.
std::vector<std::string> entryNames(DIR* dir) {
  std::vector<std::string> names;
  while (const dirent* entry = readdir(dir)) {
    if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
    names.emplace_back(entry->d_name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Unlinks the pinned objects in <root>/<name>, then the directory. A
// subdirectory is not a pin and is left (reported, as is the directory
// that stays because of it); so is a directory that is not on bpffs, which
// cannot hold pins of ours.
StaleAbiDir removeAbiDir(int root_fd, const std::string& root, const std::string& name) {
  StaleAbiDir out;
  out.path = root + "/" + name;
  DirHandle dir = openDirAt(root_fd, name.c_str(), /*no_follow=*/true);
  if (!dir) {
    out.failures.push_back(errnoError("open " + out.path, errno));
    return out;
  }
  struct statfs fs {};
  if (fstatfs(dirfd(dir.get()), &fs) != 0) {
    out.failures.push_back(errnoError("statfs " + out.path, errno));
    return out;
  }
  if (static_cast<long>(fs.f_type) != kBpfFsMagic) {
    out.failures.push_back(
        Error{ENOTSUP,
              out.path + " is not on bpffs, so holds no pins of ours: " + std::strerror(ENOTSUP)});
    return out;
  }
  for (const auto& entry : entryNames(dir.get())) {
    if (unlinkat(dirfd(dir.get()), entry.c_str(), 0) == 0)
      ++out.pins_removed;
    else
      out.failures.push_back(errnoError("unlink " + out.path + "/" + entry, errno));
  }
  dir.reset();
  if (unlinkat(root_fd, name.c_str(), AT_REMOVEDIR) == 0)
    out.removed = true;
  else
    out.failures.push_back(errnoError("remove directory " + out.path, errno));
  return out;
}

// The log lines for what removeStaleAbiPins did: one notice per directory
// it removed pins from, one warning per failure (path and errno).
void reportStaleAbiDirs(const std::vector<StaleAbiDir>& dirs) {
  for (const auto& d : dirs) {
    if (d.pins_removed > 0 || d.removed)
      std::fprintf(stderr,
                   "mamorid: removed %d pin%s of map ABI %s from %s%s (this build uses %s); "
                   "their bans are not carried over: the map layout differs\n",
                   d.pins_removed, d.pins_removed == 1 ? "" : "s",
                   d.path.substr(d.path.rfind('/') + 1).c_str(), d.path.c_str(),
                   d.removed ? ", then the directory" : "", SHIELD_PIN_ABI);
    for (const auto& e : d.failures)
      std::fprintf(stderr, "mamorid: warning: %s (errno %d); left in place, loading goes on\n",
                   e.message.c_str(), e.code);
  }
}

void libbpfQuiet() {
  // libbpf prints warnings to stderr by default; keep its errors only.
  static bool once = [] {
    libbpf_set_print([](enum libbpf_print_level level, const char* fmt, va_list args) {
      if (level != LIBBPF_WARN) return 0;
      return vfprintf(stderr, fmt, args);
    });
    return true;
  }();
  (void)once;
}

IpPrefix fromMapped(const uint8_t addr[16]) {
  static const uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  IpPrefix p;
  if (std::memcmp(addr, kMappedPrefix, 12) == 0) {
    p.is_v6 = false;
    std::memcpy(p.bytes.data(), addr + 12, 4);
    p.prefix_len = 32;
  } else {
    p.is_v6 = true;
    std::memcpy(p.bytes.data(), addr, 16);
    p.prefix_len = 128;
  }
  return p;
}

// A fresh non-zero 64-bit token for src_gen. getrandom() rather than a
// counter: mamorid and mamorictl may both replace the token, and random
// values need no read-modify-write between them (shield_abi.h). Should
// getrandom fail, the clock, pid and a per-process counter still give a
// value that differs from every earlier one.
uint64_t freshSourceToken() {
  uint64_t token = 0;
  if (getrandom(&token, sizeof(token), GRND_NONBLOCK) != static_cast<ssize_t>(sizeof(token))) {
    static std::atomic<uint64_t> counter{0};  // PinnedMaps is used from several threads
    uint64_t x = monotonicNowNs() ^ (static_cast<uint64_t>(getpid()) << 40) ^ ++counter;
    // splitmix64 finaliser, to spread nearby inputs over all 64 bits.
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    token = x ^ (x >> 31);
  }
  return token ? token : 1;
}

// Replaces the src_gen token: every source that cached "on no list, not
// banned" asks the list tries and ban maps again on its next packet.
// Called after the map writes of a list or ban change, never before, so a
// packet that reads the new token also sees the change.
Status refreshSourceToken(int src_gen_fd) {
  uint32_t zero = 0;
  shield_src_gen value{freshSourceToken()};
  if (bpf_map_update_elem(src_gen_fd, &zero, &value, BPF_ANY))
    return errnoError("write src_gen (the change may not reach sources seen before)", errno);
  return {};
}

}  // namespace

uint64_t monotonicNowNs() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

const char* attachModeName(AttachMode mode) {
  switch (mode) {
    case AttachMode::Auto: return "auto";
    case AttachMode::Native: return "native";
    case AttachMode::Generic: return "generic";
  }
  return "unknown";
}

Settings defaultSettings() {
  Settings s;
  s.syn = {200, 400};
  s.udp = {2000, 4000};
  s.icmp = {50, 100};
  s.all = {20000, 40000};
  s.scanner_syn = true;
  return s;
}

const char* reasonName(int reason) {
  static const char* const kNames[kReasonCount] = {
      "pass",         "allow",        "not_ip",         "malformed_l2",
      "malformed_l3", "malformed_ext", "malformed_l4",  "fragment",
      "deny",         "ban",           "rate_syn",      "rate_udp",
      "rate_icmp",    "rate_all",      "port",          "scanner"};
  return reason >= 0 && reason < kReasonCount ? kNames[reason] : "unknown";
}

const char* banReasonName(BanReason reason) {
  switch (reason) {
    case BanReason::Manual: return "manual";
    case BanReason::Signature: return "signature";
    case BanReason::Login: return "login";
    case BanReason::Bot: return "bot";
    case BanReason::Flood: return "flood";
  }
  return "unknown";
}

bool parseBanReason(const std::string& name, BanReason* out) {
  for (auto r : {BanReason::Manual, BanReason::Signature, BanReason::Login, BanReason::Bot,
                 BanReason::Flood}) {
    if (name == banReasonName(r)) {
      *out = r;
      return true;
    }
  }
  return false;
}

Counter Counters::totalPassed() const {
  Counter sum;
  for (const auto& c : passed) sum.packets += c.packets, sum.bytes += c.bytes;
  return sum;
}

Counter Counters::totalDropped() const {
  Counter sum;
  for (const auto& c : dropped) sum.packets += c.packets, sum.bytes += c.bytes;
  return sum;
}

// ---------------------------------------------------------------------------
// Shield

struct AttachedIface {
  int ifindex;
  std::string name;
  uint32_t mode_flag;
};

struct Shield::Impl {
  struct shield* skel = nullptr;
  std::vector<AttachedIface> attached;
  ~Impl() {
    if (skel) shield__destroy(skel);
  }
};

Shield::Shield(std::unique_ptr<Impl> impl, std::string pin_dir)
    : impl_(std::move(impl)), pin_dir_(std::move(pin_dir)) {}

Shield::~Shield() { detachAll(); }

Result<std::unique_ptr<Shield>> Shield::open(const Options& options) {
  libbpfQuiet();
  if (auto st = ensureBpfFs(options.pin_root); !st) return st.error();
  // Before the load, not after: the old maps (rate_src alone is up to
  // 128 MiB) are freed before the new ones are allocated, and this build
  // could never reuse them anyway. A failure here costs memory, not
  // protection, so it is a warning and the load goes on.
  std::vector<StaleAbiDir> stale;
  if (auto found = removeStaleAbiPins(options.pin_root); found)
    stale = std::move(found.value());
  else
    std::fprintf(stderr, "mamorid: warning: %s (errno %d); pins of other map ABIs, if any, stay\n",
                 found.error().message.c_str(), found.error().code);
  reportStaleAbiDirs(stale);
  const std::string pin_dir = pinDirFor(options.pin_root);
  if (auto st = makeDirs(pin_dir); !st) return st.error();

  auto impl = std::make_unique<Impl>();
  LIBBPF_OPTS(bpf_object_open_opts, open_opts, .pin_root_path = pin_dir.c_str());
  impl->skel = shield__open_opts(&open_opts);
  if (!impl->skel) return errnoError("shield__open_opts", errno);

  auto* maps = &impl->skel->maps;
  int err = bpf_map__set_max_entries(maps->rate_src, options.max_sources);
  if (!err) err = bpf_map__set_max_entries(maps->bans_v4, options.max_bans);
  if (!err) err = bpf_map__set_max_entries(maps->bans_v6, options.max_bans);
  if (err) return errnoError("bpf_map__set_max_entries", libbpfErrno(err));

  err = shield__load(impl->skel);
  if (err) {
    Error e = errnoError("load XDP shield (pins in " + pin_dir + ")", libbpfErrno(err));
    e.message += "; if the pinned maps are from another build or size, remove them with "
                 "`mamorid --purge`";
    return e;
  }
  std::unique_ptr<Shield> shield(new Shield(std::move(impl), pin_dir));
  shield->stale_abi_dirs_ = std::move(stale);
  return shield;
}

int Shield::programFd() const { return bpf_program__fd(impl_->skel->progs.shield_xdp); }

Result<AttachMode> Shield::attach(const std::string& ifname, AttachMode mode) {
  const int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (ifindex == 0) return errnoError("interface " + ifname, errno);

  // Replace a shield left attached by a previous mamorid (crash, kill -9),
  // but never someone else's XDP program.
  uint32_t existing_id = 0;
  if (bpf_xdp_query_id(ifindex, 0, &existing_id) == 0 && existing_id != 0) {
    int existing_fd = bpf_prog_get_fd_by_id(existing_id);
    bool ours = false;
    if (existing_fd >= 0) {
      bpf_prog_info info{};
      uint32_t len = sizeof(info);
      if (bpf_obj_get_info_by_fd(existing_fd, &info, &len) == 0)
        ours = std::strncmp(info.name, kProgramName, sizeof(info.name)) == 0;
      close(existing_fd);
    }
    if (!ours)
      return Error{EBUSY, "interface " + ifname + " already has another XDP program (id " +
                              std::to_string(existing_id) + "); detach it first"};
    for (uint32_t flag : {XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE})
      bpf_xdp_detach(ifindex, flag, nullptr);
  }

  const int fd = programFd();
  auto try_mode = [&](uint32_t flag) { return bpf_xdp_attach(ifindex, fd, flag, nullptr); };
  if (mode == AttachMode::Native || mode == AttachMode::Auto) {
    int err = try_mode(XDP_FLAGS_DRV_MODE);
    if (err == 0) {
      impl_->attached.push_back({ifindex, ifname, XDP_FLAGS_DRV_MODE});
      return AttachMode::Native;
    }
    if (mode == AttachMode::Native)
      return errnoError("attach XDP in native mode to " + ifname, libbpfErrno(err));
    std::fprintf(stderr,
                 "mamorid: %s: native XDP not supported by the driver (%s); using generic "
                 "mode, which is slower\n",
                 ifname.c_str(), std::strerror(libbpfErrno(err)));
  }
  int err = try_mode(XDP_FLAGS_SKB_MODE);
  if (err) return errnoError("attach XDP in generic mode to " + ifname, libbpfErrno(err));
  impl_->attached.push_back({ifindex, ifname, XDP_FLAGS_SKB_MODE});
  return AttachMode::Generic;
}

void Shield::detach(const std::string& ifname) {
  const int fd = programFd();
  auto& attached = impl_->attached;
  for (auto it = attached.begin(); it != attached.end();) {
    if (it->name != ifname) {
      ++it;
      continue;
    }
    // As in detachAll: only if our program is still the one attached.
    LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = fd);
    bpf_xdp_detach(it->ifindex, it->mode_flag | XDP_FLAGS_REPLACE, &opts);
    it = attached.erase(it);
  }
}

void Shield::detachAll() {
  if (!impl_) return;
  const int fd = programFd();
  for (const auto& a : impl_->attached) {
    // Detach only if our program is still the one attached.
    LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = fd);
    bpf_xdp_detach(a.ifindex, a.mode_flag | XDP_FLAGS_REPLACE, &opts);
  }
  impl_->attached.clear();
}

Status Shield::applySettings(const Settings& s) {
  shield_config cfg{};
  if (s.scanner_syn) cfg.flags |= SHIELD_F_SCANNER_SYN;
  if (s.malformed_drop) cfg.flags |= SHIELD_F_MALFORMED_DROP;
  if (s.ban_v6_prefix64) cfg.flags |= SHIELD_F_BAN_V6_64;
  if (!s.tcp_ports.empty() || !s.udp_ports.empty()) cfg.flags |= SHIELD_F_PORT_POLICY;
  cfg.events_per_sec = s.events_per_sec;
  const RateLimit* limits[SHIELD_B_MAX] = {};
  limits[SHIELD_B_SYN] = &s.syn;
  limits[SHIELD_B_UDP] = &s.udp;
  limits[SHIELD_B_ICMP] = &s.icmp;
  limits[SHIELD_B_ALL] = &s.all;
  for (int b = 0; b < SHIELD_B_MAX; ++b) {
    const RateLimit& l = *limits[b];
    if (l.rate > SHIELD_RATE_MAX || l.burst > SHIELD_BURST_MAX || (l.rate && !l.burst))
      return Error{EINVAL, "rate limit out of range: rate " + std::to_string(l.rate) +
                               "/s burst " + std::to_string(l.burst)};
    cfg.rates[b] = {l.rate, l.burst};
  }

  // Port policy first, so the flag never turns on over a stale port table.
  std::vector<uint32_t> keys(65536), values(65536, 0);
  for (uint32_t i = 0; i < keys.size(); ++i) keys[i] = i;
  for (uint16_t p : s.tcp_ports) values[p] |= SHIELD_PORT_TCP;
  for (uint16_t p : s.udp_ports) values[p] |= SHIELD_PORT_UDP;
  uint32_t count = static_cast<uint32_t>(keys.size());
  int ports_fd = bpf_map__fd(impl_->skel->maps.ports);
  if (int err = bpf_map_update_batch(ports_fd, keys.data(), values.data(), &count, nullptr))
    return errnoError("write port policy", libbpfErrno(err));

  uint32_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(impl_->skel->maps.shield_cfg), &zero, &cfg, BPF_ANY))
    return errnoError("write shield_cfg", errno);
  // The /64 flag changes which bans apply to a source, so cached "not
  // banned" verdicts are stale.
  return refreshSourceToken(bpf_map__fd(impl_->skel->maps.src_gen));
}

Status Shield::replaceList(ListKind kind, const std::vector<IpPrefix>& prefixes) {
  auto maps = PinnedMaps::open(pin_dir_.substr(0, pin_dir_.rfind('/')));
  if (!maps) return maps.error();
  return maps->replaceList(kind, prefixes);
}

// ---------------------------------------------------------------------------
// PinnedMaps

namespace {
constexpr const char* kMapNames[] = {"shield_cfg", "lists_v4", "lists_v6", "list_state", "bans_v4",
                                     "bans_v6",    "stats",    "ev_lost",  "ports",      "src_gen"};
constexpr size_t kMapCount = sizeof(kMapNames) / sizeof(kMapNames[0]);
}  // namespace

struct PinnedMaps::Fds {
  int fd[kMapCount];
  Fds() {
    for (int& f : fd) f = -1;
  }
  ~Fds() {
    for (int f : fd)
      if (f >= 0) close(f);
  }
};

PinnedMaps::PinnedMaps(PinnedMaps&&) noexcept = default;
PinnedMaps& PinnedMaps::operator=(PinnedMaps&&) noexcept = default;
PinnedMaps::~PinnedMaps() = default;

Result<PinnedMaps> PinnedMaps::open(const std::string& pin_root) {
  PinnedMaps maps;
  maps.pin_dir_ = pinDirFor(pin_root);
  maps.fds_ = std::make_unique<Fds>();
  for (size_t i = 0; i < kMapCount; ++i) {
    const std::string path = maps.pin_dir_ + "/" + kMapNames[i];
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) {
      Error e = errnoError("open pinned map " + path, errno);
      if (e.code == ENOENT)
        e.message += " (is mamorid running with the XDP shield? start it with --xdp-iface)";
      return e;
    }
    maps.fds_->fd[i] = fd;
  }
  return maps;
}

int PinnedMaps::fd(const char* name) const {
  for (size_t i = 0; i < kMapCount; ++i)
    if (std::strcmp(kMapNames[i], name) == 0) return fds_->fd[i];
  return -1;
}

Result<Counters> PinnedMaps::counters() const {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return errnoError("libbpf_num_possible_cpus", -cpus);
  Counters out;
  std::vector<shield_counter> per_cpu(static_cast<size_t>(cpus));
  for (uint32_t slot = 0; slot < SHIELD_STATS_SLOTS; ++slot) {
    if (bpf_map_lookup_elem(fd("stats"), &slot, per_cpu.data()))
      return errnoError("read stats", errno);
    Counter sum;
    for (const auto& c : per_cpu) sum.packets += c.packets, sum.bytes += c.bytes;
    (slot % 2 ? out.dropped : out.passed)[slot / 2] = sum;
  }
  std::vector<uint64_t> lost(static_cast<size_t>(cpus));
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(fd("ev_lost"), &zero, lost.data()))
    return errnoError("read ev_lost", errno);
  for (uint64_t l : lost) out.events_lost += l;
  return out;
}

Result<Settings> PinnedMaps::settings() const {
  shield_config cfg{};
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(fd("shield_cfg"), &zero, &cfg)) return errnoError("read shield_cfg", errno);
  Settings s;
  s.scanner_syn = cfg.flags & SHIELD_F_SCANNER_SYN;
  s.malformed_drop = cfg.flags & SHIELD_F_MALFORMED_DROP;
  s.ban_v6_prefix64 = cfg.flags & SHIELD_F_BAN_V6_64;
  s.events_per_sec = cfg.events_per_sec;
  s.syn = {cfg.rates[SHIELD_B_SYN].rate, cfg.rates[SHIELD_B_SYN].burst};
  s.udp = {cfg.rates[SHIELD_B_UDP].rate, cfg.rates[SHIELD_B_UDP].burst};
  s.icmp = {cfg.rates[SHIELD_B_ICMP].rate, cfg.rates[SHIELD_B_ICMP].burst};
  s.all = {cfg.rates[SHIELD_B_ALL].rate, cfg.rates[SHIELD_B_ALL].burst};
  if (cfg.flags & SHIELD_F_PORT_POLICY) {
    for (uint32_t port = 1; port < 65536; ++port) {
      uint32_t v = 0;
      if (bpf_map_lookup_elem(fd("ports"), &port, &v)) return errnoError("read ports", errno);
      if (v & SHIELD_PORT_TCP) s.tcp_ports.push_back(static_cast<uint16_t>(port));
      if (v & SHIELD_PORT_UDP) s.udp_ports.push_back(static_cast<uint16_t>(port));
    }
  }
  return s;
}

Status PinnedMaps::addBan(const IpPrefix& source, std::chrono::seconds ttl, BanReason reason) {
  if (ttl.count() <= 0) return Error{EINVAL, "ban TTL must be positive"};
  shield_ban value{};
  value.expires_ns = monotonicNowNs() + static_cast<uint64_t>(ttl.count()) * 1000000000ull;
  value.reason = static_cast<uint32_t>(reason);
  if (!source.is_v6) {
    if (!source.isHost())
      return Error{EINVAL, "IPv4 bans take a single address; use the deny list for ranges"};
    uint32_t key;
    std::memcpy(&key, source.bytes.data(), 4);
    if (bpf_map_update_elem(fd("bans_v4"), &key, &value, BPF_ANY))
      return errnoError("write bans_v4", errno);
    return refreshSourceToken(fd("src_gen"));
  }
  if (source.prefix_len != 128 && source.prefix_len != 64)
    return Error{EINVAL, "IPv6 bans take a single address or a /64; use the deny list for ranges"};
  shield_ban_v6_key key{};
  key.prefixlen = source.prefix_len;
  std::memcpy(key.addr, source.bytes.data(), 16);
  if (bpf_map_update_elem(fd("bans_v6"), &key, &value, BPF_ANY))
    return errnoError("write bans_v6", errno);
  return refreshSourceToken(fd("src_gen"));
}

Status PinnedMaps::deleteBan(const IpPrefix& source) {
  int err;
  if (!source.is_v6) {
    uint32_t key;
    std::memcpy(&key, source.bytes.data(), 4);
    err = bpf_map_delete_elem(fd("bans_v4"), &key);
  } else {
    shield_ban_v6_key key{};
    key.prefixlen = source.prefix_len;
    std::memcpy(key.addr, source.bytes.data(), 16);
    err = bpf_map_delete_elem(fd("bans_v6"), &key);
  }
  if (err) {
    Error e = errnoError("delete ban " + source.toString(), errno);
    if (e.code == ENOENT) e.message = "no ban for " + source.toString();
    return e;
  }
  return refreshSourceToken(fd("src_gen"));
}

Result<std::vector<Ban>> PinnedMaps::listBans() const {
  std::vector<Ban> out;
  const uint64_t now = monotonicNowNs();
  auto add = [&](const IpPrefix& p, const shield_ban& v) {
    if (v.expires_ns <= now) return;
    out.push_back(Ban{p, std::chrono::seconds((v.expires_ns - now) / 1000000000ull),
                      static_cast<BanReason>(v.reason)});
  };
  {
    uint32_t key = 0, next = 0;
    uint32_t* prev = nullptr;
    while (bpf_map_get_next_key(fd("bans_v4"), prev, &next) == 0) {
      shield_ban v{};
      if (bpf_map_lookup_elem(fd("bans_v4"), &next, &v) == 0) {
        IpPrefix p;
        std::memcpy(p.bytes.data(), &next, 4);
        p.prefix_len = 32;
        add(p, v);
      }
      key = next;
      prev = &key;
    }
  }
  {
    shield_ban_v6_key key{}, next{};
    shield_ban_v6_key* prev = nullptr;
    while (bpf_map_get_next_key(fd("bans_v6"), prev, &next) == 0) {
      shield_ban v{};
      if (bpf_map_lookup_elem(fd("bans_v6"), &next, &v) == 0) {
        IpPrefix p;
        p.is_v6 = true;
        std::memcpy(p.bytes.data(), next.addr, 16);
        p.prefix_len = static_cast<uint8_t>(next.prefixlen);
        add(p, v);
      }
      key = next;
      prev = &key;
    }
  }
  return out;
}

// The allow and deny lists live in one LPM trie per family (lists_v4,
// lists_v6; shield_abi.h says why). Every change reads the family's trie,
// edits the `own` bits, recomputes every entry's `eff` bits and writes back
// what changed. Entries are written before removed ones are deleted, so
// while a change is in flight a packet sees either the old or the new
// entry for its longest match, never none.
namespace {

uint8_t listBit(ListKind kind) { return kind == ListKind::Allow ? SHIELD_L_ALLOW : SHIELD_L_DENY; }

struct ListEntry {
  IpPrefix prefix;
  uint8_t own = 0;
  uint8_t eff = 0;
};

// `p` with every bit past `len` cleared.
IpPrefix truncated(const IpPrefix& p, int len) {
  IpPrefix out = p;
  out.prefix_len = static_cast<uint8_t>(len);
  for (int bit = len; bit < p.maxPrefix(); ++bit)
    out.bytes[static_cast<size_t>(bit / 8)] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  return out;
}

std::string prefixKey(const IpPrefix& p) {
  return std::string(reinterpret_cast<const char*>(p.bytes.data()), p.is_v6 ? 16 : 4) +
         static_cast<char>(p.prefix_len);
}

// Sets each entry's eff to the OR of the own bits of every entry covering
// it (itself included): one hash probe per prefix length present.
void computeEffective(std::vector<ListEntry>& entries) {
  std::unordered_map<std::string, uint8_t> own_by_prefix;
  std::set<int> lengths;
  for (const auto& e : entries) {
    own_by_prefix[prefixKey(e.prefix)] = e.own;
    lengths.insert(e.prefix.prefix_len);
  }
  for (auto& e : entries) {
    e.eff = 0;
    for (int len : lengths) {
      if (len > e.prefix.prefix_len) break;
      auto it = own_by_prefix.find(prefixKey(truncated(e.prefix, len)));
      if (it != own_by_prefix.end()) e.eff |= it->second;
    }
  }
}

}  // namespace

Result<std::vector<PinnedMaps::ListRow>> PinnedMaps::readList(bool v6) const {
  std::vector<ListRow> out;
  const int map_fd = fd(v6 ? "lists_v6" : "lists_v4");
  shield_lpm_v6 key{}, next{};  // the v6 key is the larger; v4 keys use its first 8 bytes
  void* prev = nullptr;
  while (bpf_map_get_next_key(map_fd, prev, &next) == 0) {
    shield_list_entry value{};
    if (bpf_map_lookup_elem(map_fd, &next, &value) == 0) {
      IpPrefix p;
      p.is_v6 = v6;
      std::memcpy(p.bytes.data(), next.addr, v6 ? 16 : 4);
      p.prefix_len = static_cast<uint8_t>(next.prefixlen);
      out.push_back({p, value.own, value.eff});
    } else if (errno != ENOENT) {
      return errnoError(std::string("read ") + (v6 ? "lists_v6" : "lists_v4"), errno);
    }
    key = next;
    prev = &key;
  }
  return out;
}

Status PinnedMaps::writeList(bool v6, const std::vector<ListRow>& before,
                             std::vector<ListRow> after) {
  Status written = writeListEntries(v6, before, std::move(after));
  // Also after a failure half-way: entries already written must reach the
  // sources that cached "on no list".
  Status refreshed = refreshSourceToken(fd("src_gen"));
  return written ? refreshed : written;
}

Status PinnedMaps::writeListEntries(bool v6, const std::vector<ListRow>& before,
                                    std::vector<ListRow> after) {
  const char* name = v6 ? "lists_v6" : "lists_v4";
  const int map_fd = fd(name);
  std::vector<ListEntry> entries;
  for (const auto& r : after) entries.push_back({r.prefix, r.own, 0});
  computeEffective(entries);

  std::unordered_map<std::string, const ListRow*> old_rows;
  for (const auto& r : before) old_rows[prefixKey(r.prefix)] = &r;
  for (const auto& e : entries) {
    auto it = old_rows.find(prefixKey(e.prefix));
    if (it != old_rows.end() && it->second->own == e.own && it->second->eff == e.eff) continue;
    shield_lpm_v6 key{e.prefix.prefix_len, {}};
    std::memcpy(key.addr, e.prefix.bytes.data(), v6 ? 16 : 4);
    shield_list_entry value{e.own, e.eff, 0};
    if (bpf_map_update_elem(map_fd, &key, &value, BPF_ANY))
      return errnoError(std::string("write ") + name + " " + e.prefix.toString(), errno);
  }
  std::set<std::string> kept;
  for (const auto& e : entries) kept.insert(prefixKey(e.prefix));
  for (const auto& r : before) {
    if (kept.count(prefixKey(r.prefix))) continue;
    shield_lpm_v6 key{r.prefix.prefix_len, {}};
    std::memcpy(key.addr, r.prefix.bytes.data(), v6 ? 16 : 4);
    if (bpf_map_delete_elem(map_fd, &key) && errno != ENOENT)
      return errnoError(std::string("delete from ") + name + " " + r.prefix.toString(), errno);
  }

  // The entry count gates the trie walk; raise it before the program could
  // need it and lower it only once the trie is empty.
  uint32_t zero = 0;
  shield_list_state state{};
  if (bpf_map_lookup_elem(fd("list_state"), &zero, &state)) return errnoError("read list_state", errno);
  (v6 ? state.v6_entries : state.v4_entries) = static_cast<uint32_t>(entries.size());
  if (bpf_map_update_elem(fd("list_state"), &zero, &state, BPF_ANY))
    return errnoError("write list_state", errno);
  return {};
}

Status PinnedMaps::addToList(ListKind kind, const IpPrefix& prefix) {
  auto rows = readList(prefix.is_v6);
  if (!rows) return rows.error();
  std::vector<ListRow> after = *rows;
  bool found = false;
  for (auto& r : after)
    if (r.prefix == prefix) {
      r.own |= listBit(kind);
      found = true;
    }
  if (!found) after.push_back({prefix, listBit(kind), 0});
  return writeList(prefix.is_v6, *rows, std::move(after));
}

Status PinnedMaps::deleteFromList(ListKind kind, const IpPrefix& prefix) {
  auto rows = readList(prefix.is_v6);
  if (!rows) return rows.error();
  std::vector<ListRow> after;
  bool found = false;
  for (const auto& r : *rows) {
    ListRow next = r;
    if (r.prefix == prefix && (r.own & listBit(kind))) {
      found = true;
      next.own &= static_cast<uint8_t>(~listBit(kind));
    }
    if (next.own) after.push_back(next);
  }
  if (!found) return Error{ENOENT, prefix.toString() + " is not on the list"};
  return writeList(prefix.is_v6, *rows, std::move(after));
}

Status PinnedMaps::replaceList(ListKind kind, const std::vector<IpPrefix>& prefixes) {
  for (bool v6 : {false, true}) {
    auto rows = readList(v6);
    if (!rows) return rows.error();
    std::vector<ListRow> after;
    std::set<std::string> wanted;
    for (const auto& p : prefixes)
      if (p.is_v6 == v6) wanted.insert(prefixKey(p));
    for (const auto& r : *rows) {
      ListRow next = r;
      next.own &= static_cast<uint8_t>(~listBit(kind));
      if (wanted.erase(prefixKey(r.prefix))) next.own |= listBit(kind);
      if (next.own) after.push_back(next);
    }
    for (const auto& p : prefixes)
      if (p.is_v6 == v6 && wanted.erase(prefixKey(p))) after.push_back({p, listBit(kind), 0});
    if (auto st = writeList(v6, *rows, std::move(after)); !st) return st;
  }
  return {};
}

Result<std::vector<IpPrefix>> PinnedMaps::list(ListKind kind) const {
  std::vector<IpPrefix> out;
  for (bool v6 : {false, true}) {
    auto rows = readList(v6);
    if (!rows) return rows.error();
    for (const auto& r : *rows)
      if (r.own & listBit(kind)) out.push_back(r.prefix);
  }
  return out;
}

// ---------------------------------------------------------------------------
// DropEventReader

struct DropEventReader::Impl {
  ring_buffer* rb = nullptr;
  int map_fd = -1;
  std::function<void(const DropEvent&)> on_event;
  ~Impl() {
    if (rb) ring_buffer__free(rb);
    if (map_fd >= 0) close(map_fd);
  }
};

DropEventReader::~DropEventReader() = default;

Result<std::unique_ptr<DropEventReader>> DropEventReader::open(
    const std::string& pin_root, std::function<void(const DropEvent&)> on_event) {
  std::unique_ptr<DropEventReader> reader(new DropEventReader());
  reader->impl_ = std::make_unique<Impl>();
  auto* impl = reader->impl_.get();
  impl->on_event = std::move(on_event);
  const std::string path = pinDirFor(pin_root) + "/events";
  impl->map_fd = bpf_obj_get(path.c_str());
  if (impl->map_fd < 0) return errnoError("open pinned ring buffer " + path, errno);
  impl->rb = ring_buffer__new(
      impl->map_fd,
      [](void* ctx, void* data, size_t size) -> int {
        if (size < sizeof(shield_event)) return 0;
        shield_event raw;
        std::memcpy(&raw, data, sizeof(raw));
        DropEvent ev;
        ev.monotonic_ns = raw.ts_ns;
        ev.source = fromMapped(raw.addr);
        ev.reason = static_cast<int>(raw.reason);
        ev.protocol = static_cast<int>(raw.protocol);
        ev.suppressed = raw.suppressed;
        ev.ifindex = raw.ifindex;
        static_cast<Impl*>(ctx)->on_event(ev);
        return 0;
      },
      impl, nullptr);
  if (!impl->rb) return errnoError("ring_buffer__new", errno);
  return reader;
}

Result<int> DropEventReader::poll(std::chrono::milliseconds timeout) {
  int n = ring_buffer__poll(impl_->rb, static_cast<int>(timeout.count()));
  if (n < 0 && n != -EINTR) return errnoError("ring_buffer__poll", -n);
  return n < 0 ? 0 : n;
}

// ---------------------------------------------------------------------------

Result<std::vector<StaleAbiDir>> removeStaleAbiPins(const std::string& pin_root) {
  std::vector<StaleAbiDir> out;
  // The root may be a symlink (an operator's choice, which libbpf follows
  // too); the ABI directories under it may not.
  DirHandle root = openDirAt(AT_FDCWD, pin_root.c_str(), /*no_follow=*/false);
  if (!root) {
    if (errno == ENOENT) return out;  // nothing pinned yet
    return errnoError("open pin root " + pin_root, errno);
  }
  const int root_fd = dirfd(root.get());
  for (const auto& name : entryNames(root.get())) {
    if (!isAbiDirName(name.c_str()) || name == SHIELD_PIN_ABI) continue;
    // A symlink or a non-directory of that name is someone else's.
    struct stat st {};
    if (fstatat(root_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
      continue;
    out.push_back(removeAbiDir(root_fd, pin_root, name));
  }
  return out;
}

Status purgePins(const std::string& pin_root) {
  const std::string dir = pinDirFor(pin_root);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return Error{ec.value(), "remove " + dir + ": " + ec.message()};
  auto stale = removeStaleAbiPins(pin_root);
  if (!stale) return stale.error();
  Error failed;
  for (const auto& d : *stale)
    for (const auto& e : d.failures) {
      if (failed.message.empty()) failed.code = e.code;
      failed.message += (failed.message.empty() ? "" : "; ") + e.message;
    }
  if (!failed.message.empty()) return failed;
  std::filesystem::remove(pin_root, ec);  // only if now empty; ignore otherwise
  return {};
}

}  // namespace mamori::shield
