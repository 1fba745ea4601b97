// Fuzz target for the ClientHello parser and the JA3/JA4 fingerprints
// (guard/tls_fingerprint.h). The input is tried both as a handshake message
// (what the engine captures) and as raw TLS records. Besides "never crashes,
// never reads out of bounds", it checks what callers rely on:
//   - a parse either succeeds or gives a non-empty error message;
//   - a parsed hello always yields a 36-character JA4 in the a_b_c shape,
//     a 32-hex-digit JA3 hash, and the same values on a second call;
//   - fingerprintClientHello agrees with the step-by-step functions;
//   - records that reassemble give a message no larger than the input.
// Violations abort, so libFuzzer and the corpus replay both report them.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "guard/tls_fingerprint.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool isLowerHex(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void checkMessage(std::span<const std::uint8_t> msg) {
  using namespace mamori::guard;
  auto hello = parseClientHello(msg);
  auto full = fingerprintClientHello(msg);
  check(hello.ok() == full.ok());
  if (!hello.ok()) {
    check(!hello.error().message.empty());
    return;
  }
  Ja4 ja4 = computeJa4(*hello);
  check(ja4.ja4.size() == 36);
  check(ja4.ja4[10] == '_' && ja4.ja4[23] == '_');
  check(isLowerHex(ja4.ja4.substr(11, 12)) && isLowerHex(ja4.ja4.substr(24, 12)));
  check(ja4.ja4_o.size() == 36);
  check(ja4.ja4_r.compare(0, 11, ja4.ja4, 0, 11) == 0);
  Ja3 ja3 = computeJa3(*hello);
  check(ja3.hash.size() == 32 && isLowerHex(ja3.hash));
  check(computeJa3(*hello).text == ja3.text);
  check(full->ja4.ja4 == ja4.ja4 && full->ja4.ja4_ro == ja4.ja4_ro);
  check(full->ja3.hash == ja3.hash);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  checkMessage(in);
  auto msg = mamori::guard::handshakeFromRecords(in);
  if (msg.ok()) {
    check(msg->size() <= size);
    checkMessage(*msg);
  } else {
    check(!msg.error().message.empty());
  }
  return 0;
}
