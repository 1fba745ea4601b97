#include "net/sni_map.h"

#include <utility>

#include "net/forward.h"

namespace mamori::net {

void SniMap::add(std::size_t index, std::vector<std::string> cert_hosts,
                 std::vector<std::string> site_hosts, bool is_default) {
  bool fallback = cert_hosts.empty();
  Entry e{index, fallback ? std::move(site_hosts) : std::move(cert_hosts), fallback};
  for (auto& p : e.patterns) p = normalise(p);
  if (entries_.empty() || (is_default && !default_set_)) {
    default_ = index;
    default_set_ = is_default;
  }
  entries_.push_back(std::move(e));
}

std::string SniMap::normalise(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string out(name);
  for (auto& ch : out)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return out;
}

std::size_t SniMap::pick(std::string_view sni) const {
  if (sni.empty()) return default_;
  std::string host = normalise(sni);
  // Rank of a match, best first: the certificate's own exact name (6), its
  // wildcard (5), a fallback certificate's site by exact name (4) or
  // wildcard (3), a certificate for "*" (2), a site for "*" (1). Longer
  // wildcards beat shorter ones; among equals the earlier entry (config
  // order) wins.
  std::size_t found = default_;
  int found_rank = 0;
  std::size_t found_len = 0;
  for (const auto& e : entries_) {
    for (const auto& p : e.patterns) {
      int rank = 0;
      if (p == host) {
        rank = e.fallback ? 4 : 6;
      } else if (p == "*") {
        rank = e.fallback ? 1 : 2;
      } else if (hostMatches(p, host)) {
        rank = e.fallback ? 3 : 5;
      }
      const bool wildcard = rank == 5 || rank == 3;
      if (rank > found_rank || (rank == found_rank && wildcard && p.size() > found_len)) {
        found = e.index;
        found_rank = rank;
        found_len = p.size();
      }
    }
  }
  return found;
}

}  // namespace mamori::net
