#include "guard/keyed_hash.h"

#include <gtest/gtest.h>

#include <string>

namespace mamori::guard {
namespace {

KeyedHash referenceKey() {
  KeyedHash::Key key{};
  for (int i = 0; i < 16; ++i) key[i] = static_cast<std::uint8_t>(i);
  return KeyedHash(key);
}

// The SipHash paper's reference vectors: key 00..0f, message 00..(n-1).
TEST(KeyedHash, MatchesSipHash24ReferenceVectors) {
  KeyedHash h = referenceKey();
  std::string msg;
  EXPECT_EQ(h(msg), 0x726fdb47dd0e0e31ULL);
  for (int i = 0; i < 15; ++i) msg.push_back(static_cast<char>(i));
  EXPECT_EQ(h(msg), 0xa129ca6149be45e5ULL);
}

TEST(KeyedHash, DifferentKeysGiveDifferentHashes) {
  KeyedHash a = referenceKey();
  KeyedHash b = KeyedHash::random();
  KeyedHash c = KeyedHash::random();
  EXPECT_NE(a("alice"), b("alice"));
  EXPECT_NE(b("alice"), c("alice"));
  EXPECT_EQ(b("alice"), b("alice"));
  EXPECT_NE(b("alice"), b("alicf"));
}

TEST(KeyedHash, EveryTailLengthIsHashed) {
  KeyedHash h = referenceKey();
  std::string msg = "0123456789abcdefg";
  std::uint64_t previous = 0;
  for (std::size_t n = 0; n <= msg.size(); ++n) {
    const std::uint64_t v = h(std::string_view(msg).substr(0, n));
    EXPECT_NE(v, previous) << n;
    previous = v;
  }
}

}  // namespace
}  // namespace mamori::guard
