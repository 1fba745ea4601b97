#include "daemon/tls_fingerprints.h"

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace mamori::daemon {
namespace {

using Bytes = std::vector<std::uint8_t>;

// The ClientHello handshake message of a recorded capture (guard testdata:
// TLS records as one line of hex).
Bytes helloOf(const std::string& name) {
  std::ifstream in(std::string(MAMORI_GUARD_TESTDATA) + "/" + name);
  std::stringstream text;
  text << in.rdbuf();
  const std::string hex = text.str();
  Bytes records;
  for (std::size_t i = 0; i + 1 < hex.size() && hex[i] != '\n'; i += 2)
    records.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  auto msg = guard::handshakeFromRecords(records);
  EXPECT_TRUE(msg.ok()) << name;
  return msg.ok() ? *msg : Bytes{};
}

net::RequestContext tlsContext(const Bytes& hello, std::shared_ptr<void>* memo) {
  net::RequestContext ctx;
  ctx.tls = true;
  ctx.client_hello = hello;
  ctx.connection_memo = memo;
  return ctx;
}

TEST(ConnectionFingerprint, IsParsedOncePerConnection) {
  const Bytes curl = helloOf("curl_7_88.hex");
  const Bytes python = helloOf("python_ssl.hex");
  std::shared_ptr<void> memo;
  const guard::TlsFingerprint* first = connectionFingerprint(tlsContext(curl, &memo));
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->ja3.hash, "78f0dc5ac5b19daf131a133cfdee9691");
  // Later requests of the connection read the memo, not the bytes: other
  // bytes give the same answer, from the same object.
  const guard::TlsFingerprint* again = connectionFingerprint(tlsContext(python, &memo));
  EXPECT_EQ(again, first);
  EXPECT_EQ(clientFingerprints(tlsContext(python, &memo)).ja4, "t13i3111h2_e8f1e7e78f70_b26ce05bbdd6");
  // Another connection has its own.
  std::shared_ptr<void> other;
  EXPECT_EQ(clientFingerprints(tlsContext(python, &other)).ja3, "304734bb1c086c3453b387400cf83f11");
}

TEST(ConnectionFingerprint, NoTlsOrABadHelloHasNoneAndIsRememberedAsNone) {
  std::shared_ptr<void> memo;
  net::RequestContext plain;
  plain.connection_memo = &memo;
  EXPECT_EQ(connectionFingerprint(plain), nullptr);
  EXPECT_TRUE(clientFingerprints(plain).ja3.empty());

  const Bytes garbage{0x01, 0x00, 0x00, 0x02, 0xff, 0xff};
  std::shared_ptr<void> bad_memo;
  EXPECT_EQ(connectionFingerprint(tlsContext(garbage, &bad_memo)), nullptr);
  EXPECT_EQ(connectionFingerprint(tlsContext(helloOf("curl_7_88.hex"), &bad_memo)), nullptr);

  Bytes truncated = helloOf("curl_7_88.hex");
  net::RequestContext cut = tlsContext(truncated, nullptr);
  cut.client_hello_truncated = true;
  EXPECT_EQ(connectionFingerprint(cut), nullptr);
}

TEST(ConnectionFingerprint, WithoutAMemoEachCallParses) {
  const Bytes curl = helloOf("curl_7_88.hex");
  const Bytes python = helloOf("python_ssl.hex");
  EXPECT_EQ(clientFingerprints(tlsContext(curl, nullptr)).ja3, "78f0dc5ac5b19daf131a133cfdee9691");
  EXPECT_EQ(clientFingerprints(tlsContext(python, nullptr)).ja3, "304734bb1c086c3453b387400cf83f11");
}

}  // namespace
}  // namespace mamori::daemon
