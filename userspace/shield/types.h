#pragma once

// Plain data exchanged with the XDP shield: settings, counters, bans, events.
// No libbpf types here, so callers (daemon, CLI, guard adapters) need only
// this header.

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/ip_prefix.h"

namespace mamori::shield {

// Where the program is attached. Auto tries native (driver) mode and falls
// back to generic (skb) mode.
enum class AttachMode { Auto, Native, Generic };

const char* attachModeName(AttachMode mode);

// A token-bucket limit; rate 0 turns it off.
struct RateLimit {
  uint32_t rate = 0;   // packets per second
  uint32_t burst = 0;  // packets
  bool operator==(const RateLimit&) const = default;
};

// Runtime settings of the shield (the `shield:` config section minus the
// interfaces and lists).
struct Settings {
  RateLimit syn{};
  RateLimit udp{};
  RateLimit icmp{};
  RateLimit all{};
  bool scanner_syn = false;
  bool malformed_drop = false;  // default: malformed frames pass, counted
  bool ban_v6_prefix64 = false;
  // Both empty: no port policy. Otherwise only the listed destination ports
  // pass, for TCP and UDP alike: with tcp_ports {80} and no udp_ports, all
  // UDP is dropped (reason "port").
  std::vector<uint16_t> tcp_ports;
  std::vector<uint16_t> udp_ports;
  uint32_t events_per_sec = 100;  // per CPU
  bool operator==(const Settings&) const = default;
};

// Defaults used by the quick start (`mamorid --xdp-iface IFACE`): generous
// enough for a busy web host, tight enough that one source cannot flood it.
Settings defaultSettings();

// Verdict reasons, mirroring enum shield_reason in bpf/shield_abi.h.
inline constexpr int kReasonCount = 16;
const char* reasonName(int reason);  // stable snake_case, used as metric label

struct Counter {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

// Counters summed over every possible CPU.
struct Counters {
  std::array<Counter, kReasonCount> passed{};
  std::array<Counter, kReasonCount> dropped{};
  uint64_t events_lost = 0;

  Counter totalPassed() const;
  Counter totalDropped() const;
};

enum class BanReason : uint32_t { Manual = 0, Signature = 1, Login = 2, Bot = 3, Flood = 4 };
const char* banReasonName(BanReason reason);
// Parses a ban reason name ("manual", "flood", ...); false if unknown.
bool parseBanReason(const std::string& name, BanReason* out);

struct Ban {
  common::IpPrefix source;  // a host address, or an IPv6 /64
  std::chrono::seconds remaining{0};
  BanReason reason = BanReason::Manual;
};

// A sampled drop from the ring buffer.
struct DropEvent {
  uint64_t monotonic_ns = 0;
  common::IpPrefix source;
  int reason = 0;
  int protocol = 0;
  uint32_t suppressed = 0;  // drops on that CPU not reported since the previous event
  uint32_t ifindex = 0;
};

enum class ListKind { Allow, Deny };

}  // namespace mamori::shield
