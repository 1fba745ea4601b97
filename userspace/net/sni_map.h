#pragma once

// Which certificate a TLS listener serves for a given SNI name. Pure data
// and string matching, no OpenSSL: the TLS context (tls_context.cpp) asks it
// from the ClientHello callback, and tests/unit/net/sni_map_test.cpp drives
// it directly.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mamori::net {

class SniMap {
 public:
  // Registers certificate number `index` (the caller's numbering, e.g. the
  // position in its own list of loaded certificates).
  //  - `cert_hosts`: the certificate's own host patterns (config
  //    Certificate::hosts: exact names, "*.example.com" or "*"). Empty
  //    means the certificate is its site's fallback: it serves the site's
  //    host patterns, `site_hosts`, at a lower priority than any
  //    certificate naming the host itself.
  // The first certificate added is the listener's default unless a later
  // one is added with `is_default`. Call before pick(); not thread-safe
  // against pick() (build once, then share read-only).
  void add(std::size_t index, std::vector<std::string> cert_hosts,
           std::vector<std::string> site_hosts, bool is_default = false);

  // The certificate for `sni` (as the client sent it; case and a trailing
  // dot are ignored). In order: a certificate naming the host exactly; one
  // naming it by the longest matching wildcard; a site fallback
  // certificate whose site names the host exactly, then by wildcard; a
  // certificate for "*"; a fallback whose site is "*"; otherwise the
  // default. An empty `sni` (the client
  // sent none) gets the default. Returns the caller's index; requires at
  // least one add(). Any thread once built.
  std::size_t pick(std::string_view sni) const;

  bool empty() const { return entries_.empty(); }

  // Lower-cases and strips one trailing dot: the form pick() compares.
  static std::string normalise(std::string_view name);

 private:
  struct Entry {
    std::size_t index;
    std::vector<std::string> patterns;
    bool fallback;  // patterns are the site's hosts, not the certificate's
  };
  std::vector<Entry> entries_;
  std::size_t default_ = 0;
  bool default_set_ = false;
};

}  // namespace mamori::net
