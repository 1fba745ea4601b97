#pragma once

// A fluent builder of raw Ethernet frames for BPF_PROG_TEST_RUN fixtures:
//   Packet().vlan(10).ipv4("10.0.0.1", "10.0.0.2").tcp(40000, 80, kSyn).bytes()
// Checksums are left zero: XDP never checks them and the frames never reach
// a socket.

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace mamori::testing {

inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;

class Packet {
 public:
  Packet& vlan(uint16_t id, uint16_t tpid = 0x8100) {
    vlans_.push_back({tpid, id});
    return *this;
  }
  Packet& ipv4(const std::string& src, const std::string& dst, uint8_t ttl = 64,
               uint16_t ip_id = 1, int options_bytes = 0) {
    ethertype_ = 0x0800;
    l3_.assign(20 + options_bytes, 0);
    l3_[0] = static_cast<uint8_t>(0x40 | ((20 + options_bytes) / 4));
    put16(&l3_[4], ip_id);
    l3_[8] = ttl;
    inet_pton(AF_INET, src.c_str(), &l3_[12]);
    inet_pton(AF_INET, dst.c_str(), &l3_[16]);
    for (int i = 0; i < options_bytes; ++i) l3_[20 + i] = 1;  // NOP options
    return *this;
  }
  // Marks an IPv4 packet as a non-first fragment (offset in 8-byte units).
  Packet& fragmentOffset(uint16_t offset) {
    put16(&l3_[6], offset & 0x1FFF);
    return *this;
  }
  Packet& ipv6(const std::string& src, const std::string& dst, uint8_t hop_limit = 64) {
    ethertype_ = 0x86DD;
    l3_.assign(40, 0);
    l3_[0] = 0x60;
    l3_[7] = hop_limit;
    inet_pton(AF_INET6, src.c_str(), &l3_[8]);
    inet_pton(AF_INET6, dst.c_str(), &l3_[24]);
    return *this;
  }
  // Appends an IPv6 extension header (0 hop-by-hop, 43 routing, 60 dest
  // options: 8 bytes; 44 fragment with `frag_offset`).
  Packet& ipv6Ext(uint8_t type, uint16_t frag_offset = 0) {
    ext_.push_back({type, frag_offset});
    return *this;
  }
  Packet& tcp(uint16_t sport, uint16_t dport, uint8_t flags, uint16_t window = 64240,
              bool with_mss = true) {
    proto_ = 6;
    l4_.assign(with_mss ? 24 : 20, 0);
    put16(&l4_[0], sport);
    put16(&l4_[2], dport);
    l4_[12] = static_cast<uint8_t>((l4_.size() / 4) << 4);
    l4_[13] = flags;
    put16(&l4_[14], window);
    if (with_mss) {
      l4_[20] = 2;
      l4_[21] = 4;
      put16(&l4_[22], 1460);
    }
    return *this;
  }
  Packet& udp(uint16_t sport, uint16_t dport) {
    proto_ = 17;
    l4_.assign(8, 0);
    put16(&l4_[0], sport);
    put16(&l4_[2], dport);
    put16(&l4_[4], 8);
    return *this;
  }
  Packet& icmpEcho() {
    proto_ = ethertype_ == 0x86DD ? 58 : 1;
    l4_.assign(8, 0);
    l4_[0] = ethertype_ == 0x86DD ? 128 : 8;
    return *this;
  }
  Packet& payload(size_t n) {
    payload_.assign(n, 'x');
    return *this;
  }
  Packet& etherType(uint16_t type) {
    ethertype_ = type;
    return *this;
  }

  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> out(12, 0);
    out[0] = 0x02;  // locally administered MACs
    out[6] = 0x02;
    out[11] = 1;
    for (const auto& v : vlans_) {
      append16(out, v.tpid);
      append16(out, v.id);
    }
    append16(out, ethertype_);
    std::vector<uint8_t> l3 = l3_;
    size_t l4_len = l4_.size() + payload_.size();
    if (ethertype_ == 0x0800 && !l3.empty()) {
      l3[9] = proto_;
      put16(&l3[2], static_cast<uint16_t>(l3.size() + l4_len));
    } else if (ethertype_ == 0x86DD && !l3.empty()) {
      // Each header's first byte names the next one; the last names L4.
      std::vector<uint8_t> ext(ext_.size() * 8, 0);
      l3[6] = ext_.empty() ? proto_ : ext_[0].type;
      for (size_t i = 0; i < ext_.size(); ++i) {
        ext[i * 8] = i + 1 < ext_.size() ? ext_[i + 1].type : proto_;
        if (ext_[i].type == 44)
          put16(&ext[i * 8 + 2], static_cast<uint16_t>(ext_[i].frag_offset << 3));
      }
      put16(&l3[4], static_cast<uint16_t>(ext.size() + l4_len));
      l3.insert(l3.end(), ext.begin(), ext.end());
    }
    out.insert(out.end(), l3.begin(), l3.end());
    out.insert(out.end(), l4_.begin(), l4_.end());
    out.insert(out.end(), payload_.begin(), payload_.end());
    return out;
  }

 private:
  struct Vlan {
    uint16_t tpid, id;
  };
  struct Ext {
    uint8_t type;
    uint16_t frag_offset;
  };
  static void put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
  }
  static void append16(std::vector<uint8_t>& out, uint16_t v) {
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
  }
  std::vector<Vlan> vlans_;
  std::vector<Ext> ext_;
  uint16_t ethertype_ = 0x0800;
  uint8_t proto_ = 0;
  std::vector<uint8_t> l3_, l4_, payload_;
};

}  // namespace mamori::testing
