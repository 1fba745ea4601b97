#pragma once

// The TLS part of net's public face: what the daemon needs to validate
// certificates without starting anything. No OpenSSL types here (STYLE.md
// §1: the library stays behind net's own headers).

#include "common/result.h"
#include "config/types.h"

namespace mamori::net {

// Loads every certificate chain and private key named by the sites of
// `config` (config::Certificate::cert / key) and checks that each file
// parses as PEM, that a chain has at least one certificate, and that each
// key matches its certificate. This is the same loading Engine::create()
// does, so a config that passes here starts (file contents unchanged).
// Out: ok, or EINVAL with one line per problem, each naming the site and
// the file, e.g. "site shop: key /etc/mamori/shop.key does not match
// certificate /etc/mamori/shop.pem". Reads files; any thread.
common::Status checkTlsCertificates(const config::Config& config);

}  // namespace mamori::net
