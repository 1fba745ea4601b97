#include "guard/tls_fingerprint.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

namespace mamori::guard {
namespace {

using Bytes = std::vector<std::uint8_t>;

// Reads one of the recorded captures: TLS records as one line of hex.
Bytes readHexCapture(const std::string& name) {
  std::ifstream in(std::string(MAMORI_GUARD_TESTDATA) + "/" + name);
  std::stringstream text;
  text << in.rdbuf();
  std::string hex = text.str();
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    if (hex[i] == '\n') break;
    out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

Bytes handshakeOf(const std::string& capture) {
  auto records = readHexCapture(capture);
  EXPECT_FALSE(records.empty()) << capture;
  auto msg = handshakeFromRecords(records);
  EXPECT_TRUE(msg.ok()) << capture << ": " << (msg.ok() ? "" : msg.error().message);
  return msg.ok() ? *msg : Bytes{};
}

void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

// Builds a ClientHello handshake message field by field, so a test states
// exactly which values went in.
class HelloBuilder {
 public:
  HelloBuilder& version(std::uint16_t v) { version_ = v; return *this; }
  HelloBuilder& ciphers(std::initializer_list<std::uint16_t> c) { ciphers_ = c; return *this; }
  HelloBuilder& noExtensionsBlock() { no_ext_block_ = true; return *this; }
  HelloBuilder& ext(std::uint16_t type, Bytes body = {}) {
    put16(exts_, type);
    put16(exts_, static_cast<std::uint16_t>(body.size()));
    exts_.insert(exts_.end(), body.begin(), body.end());
    return *this;
  }
  HelloBuilder& sni(const std::string& host) {
    Bytes entry{0};
    put16(entry, static_cast<std::uint16_t>(host.size()));
    entry.insert(entry.end(), host.begin(), host.end());
    Bytes body;
    put16(body, static_cast<std::uint16_t>(entry.size()));
    body.insert(body.end(), entry.begin(), entry.end());
    return ext(kExtServerName, body);
  }
  HelloBuilder& alpn(std::initializer_list<Bytes> names) {
    Bytes list;
    for (const auto& n : names) {
      list.push_back(static_cast<std::uint8_t>(n.size()));
      list.insert(list.end(), n.begin(), n.end());
    }
    Bytes body;
    put16(body, static_cast<std::uint16_t>(list.size()));
    body.insert(body.end(), list.begin(), list.end());
    return ext(kExtAlpn, body);
  }
  HelloBuilder& u16ListExt(std::uint16_t type, std::initializer_list<std::uint16_t> values) {
    Bytes body;
    put16(body, static_cast<std::uint16_t>(values.size() * 2));
    for (auto v : values) put16(body, v);
    return ext(type, body);
  }
  HelloBuilder& versions(std::initializer_list<std::uint16_t> values) {
    Bytes body{static_cast<std::uint8_t>(values.size() * 2)};
    for (auto v : values) put16(body, v);
    return ext(kExtSupportedVersions, body);
  }

  Bytes build() const {
    Bytes body;
    put16(body, version_);
    body.insert(body.end(), 32, 0x11);  // random
    body.push_back(0);                  // empty session id
    put16(body, static_cast<std::uint16_t>(ciphers_.size() * 2));
    for (auto c : ciphers_) put16(body, c);
    body.push_back(1);  // one compression method: null
    body.push_back(0);
    if (!no_ext_block_) {
      put16(body, static_cast<std::uint16_t>(exts_.size()));
      body.insert(body.end(), exts_.begin(), exts_.end());
    }
    Bytes msg{1, static_cast<std::uint8_t>(body.size() >> 16),
              static_cast<std::uint8_t>(body.size() >> 8), static_cast<std::uint8_t>(body.size())};
    msg.insert(msg.end(), body.begin(), body.end());
    return msg;
  }

 private:
  std::uint16_t version_ = 0x0303;
  std::vector<std::uint16_t> ciphers_;
  Bytes exts_;
  bool no_ext_block_ = false;
};

// The worked example of the JA4 specification (FoxIO-LLC/ja4,
// technical_details/JA4.md): its cipher list, extension list (in that wire
// order) and signature algorithms, with GREASE values added the way Chrome
// sends them, which the fingerprint must ignore.
HelloBuilder specExample() {
  HelloBuilder b;
  b.ciphers({0x2a2a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
             0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035});
  b.ext(0x3a3a);  // GREASE extension
  b.ext(0x001b, {2, 0, 2});
  b.sni("example.com");
  b.ext(0x0033, {0, 0});
  b.alpn({{'h', '2'}, {'h', 't', 't', 'p', '/', '1', '.', '1'}});
  b.ext(0x4469, {0, 3, 2, 'h', '2'});
  b.ext(0x0017);
  b.ext(0x002d, {1, 1});
  b.u16ListExt(kExtSignatureAlgorithms,
               {0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601});
  b.ext(0x0005, {1, 0, 0, 0, 0});
  b.ext(0x0023);
  b.ext(0x0012);
  b.versions({0x6a6a, 0x0304, 0x0303});
  b.ext(0xff01, {0});
  b.ext(kExtEcPointFormats, {1, 0});
  b.u16ListExt(kExtSupportedGroups, {0x4a4a, 0x001d, 0x0017, 0x0018});
  b.ext(0x0015, {0, 0, 0});
  return b;
}

TEST(TlsFingerprint, GreaseValuesAreTheSixteenRfc8701Codepoints) {
  int count = 0;
  for (std::uint32_t v = 0; v <= 0xffff; ++v) {
    if (isGrease(static_cast<std::uint16_t>(v))) ++count;
  }
  EXPECT_EQ(count, 16);
  EXPECT_TRUE(isGrease(0x0a0a));
  EXPECT_TRUE(isGrease(0xfafa));
  EXPECT_FALSE(isGrease(0x0a1a));
  EXPECT_FALSE(isGrease(0xca34));
}

TEST(TlsFingerprint, Ja4MatchesTheSpecificationExample) {
  auto hello = parseClientHello(specExample().build());
  ASSERT_TRUE(hello.ok()) << hello.error().message;
  Ja4 fp = computeJa4(*hello);
  // Every expected string below is quoted from JA4.md.
  EXPECT_EQ(fp.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
  EXPECT_EQ(fp.ja4_r,
            "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,"
            "cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,"
            "0804,0401,0503,0805,0501,0806,0601");
  EXPECT_EQ(fp.ja4_o, "t13d1516h2_acb858a92679_18f69afefd3d");
  EXPECT_EQ(fp.ja4_ro,
            "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,"
            "0035_001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,"
            "0015_0403,0804,0401,0503,0805,0501,0806,0601");
}

TEST(TlsFingerprint, Ja4WithoutSignatureAlgorithmsDropsTheUnderscore) {
  // Same hello, but signature_algorithms carries an empty list: the spec's
  // second worked value ("... ,4469,ff01 = 6d807ffa2a79").
  HelloBuilder b = specExample();
  Bytes msg = b.build();
  auto hello = parseClientHello(msg);
  ASSERT_TRUE(hello.ok());
  hello->signature_algorithms.clear();
  EXPECT_EQ(computeJa4(*hello).ja4, "t13d1516h2_8daaf6152771_6d807ffa2a79");
  std::string raw = computeJa4(*hello).ja4_r;
  EXPECT_TRUE(raw.ends_with("_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01"))
      << raw;
}

TEST(TlsFingerprint, Ja4EmptyListsHashToZeros) {
  auto hello = parseClientHello(HelloBuilder().noExtensionsBlock().build());
  ASSERT_TRUE(hello.ok()) << hello.error().message;
  EXPECT_EQ(computeJa4(*hello).ja4, "t12i000000_000000000000_000000000000");
}

TEST(TlsFingerprint, Ja4VersionFallsBackToLegacyWhenOnlyGreaseIsOffered) {
  auto hello = parseClientHello(HelloBuilder().version(0x0301).ciphers({0x002f})
                                    .versions({0x7a7a}).build());
  ASSERT_TRUE(hello.ok());
  EXPECT_EQ(computeJa4(*hello).ja4.substr(0, 4), "t10i");
  hello->legacy_version = 0x1234;
  EXPECT_EQ(computeJa4(*hello).ja4.substr(0, 3), "t00");
  EXPECT_EQ(computeJa4(*hello, TlsTransport::Quic).ja4.substr(0, 1), "q");
}

TEST(TlsFingerprint, Ja4AlpnRulesFromTheSpecification) {
  struct Case {
    Bytes first;
    std::string want;
  };
  // The hex cases are the spec's own list under "ALPN Extension Value".
  const Case cases[] = {
      {{'h', '2'}, "h2"},
      {{'h', 't', 't', 'p', '/', '1', '.', '1'}, "h1"},
      {{'x'}, "xx"},
      {{0xab}, "ab"},
      {{0xab, 0xcd}, "ad"},
      {{0x30, 0xab}, "3b"},
      {{0x30, 0x31, 0xab, 0xcd}, "3d"},
      {{0x30, 0xab, 0xcd, 0x31}, "01"},
      {{}, "00"},
  };
  for (const auto& c : cases) {
    auto hello = parseClientHello(HelloBuilder().ciphers({0x1301}).alpn({c.first, {'h', '2'}})
                                      .build());
    ASSERT_TRUE(hello.ok()) << hello.error().message;
    EXPECT_EQ(computeJa4(*hello).ja4.substr(8, 2), c.want) << c.want;
  }
}

TEST(TlsFingerprint, Ja4CountsAreCappedAtNinetyNine) {
  ClientHello hello;
  hello.legacy_version = 0x0303;
  for (std::uint16_t i = 1; i <= 120; ++i) {
    hello.cipher_suites.push_back(i);
    hello.extensions.push_back(static_cast<std::uint16_t>(0x0100 + i));
  }
  EXPECT_EQ(computeJa4(hello).ja4.substr(0, 8), "t12i9999");
}

TEST(TlsFingerprint, Ja3SkipsGreaseAndKeepsWireOrder) {
  auto hello = parseClientHello(specExample().build());
  ASSERT_TRUE(hello.ok());
  Ja3 fp = computeJa3(*hello);
  EXPECT_EQ(fp.text,
            "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,"
            "27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-23-24,0");
  EXPECT_EQ(fp.hash.size(), 32u);
}

TEST(TlsFingerprint, ParsesTheDecodedExtensions) {
  auto hello = parseClientHello(specExample().build());
  ASSERT_TRUE(hello.ok());
  EXPECT_TRUE(hello->has_server_name);
  EXPECT_EQ(hello->server_name, "example.com");
  ASSERT_EQ(hello->alpn.size(), 2u);
  EXPECT_EQ(hello->alpn[1], "http/1.1");
  EXPECT_EQ(hello->supported_versions, (std::vector<std::uint16_t>{0x6a6a, 0x0304, 0x0303}));
  EXPECT_EQ(hello->supported_groups, (std::vector<std::uint16_t>{0x4a4a, 0x001d, 0x0017, 0x0018}));
  EXPECT_EQ(hello->ec_point_formats, (std::vector<std::uint8_t>{0}));
  EXPECT_EQ(hello->extensions.size(), 17u);  // GREASE kept in the parsed form
}

// Recorded hellos (docs/fingerprints.md, "Test data"). JA3 strings and
// hashes equal Wireshark 4.0's tls.handshake.ja3 / ja3_full for the same
// bytes; the JA4 forms come from testdata/fingerprint_reference.py, a
// separate implementation of the specification.
struct Recorded {
  const char* file;
  const char* ja3_text;
  const char* ja3_hash;
  const char* ja4;
  const char* ja4_o;
};

const Recorded kRecorded[] = {
    {"openssl_s_client_tls13.hex",
     "771,4866-4867-4865-255,0-11-10-35-22-23-13-43-45-51,29-23-30-25-24-256-257-258-259-260,0-1-2",
     "f146948b4a599d4d7ddf071b74696983", "t13d041000_16476d049b0b_78f1d400d464",
     "t13d041000_b9c790168325_2ce11668703f"},
    {"openssl_s_client_tls12.hex",
     "771,49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-49191-103-49162-"
     "49172-57-49161-49171-51-157-156-61-60-53-47-255,11-10-35-22-23-13,29-23-30-25-24,0-1-2",
     "fbe7e189e37a07ee33706f86bc746344", "t12i280600_d943125447b4_e7e480e5a997",
     "t12i280600_fb9300bf4368_de96c9571173"},
    {"curl_7_88.hex",
     "771,4866-4867-4865-49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-"
     "49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,11-10-16-22-23-49-13-43-45-"
     "51-21,29-23-30-25-24-256-257-258-259-260,0-1-2",
     "78f0dc5ac5b19daf131a133cfdee9691", "t13i3111h2_e8f1e7e78f70_b26ce05bbdd6",
     "t13i3111h2_d7c3e2abb617_816d91d437ed"},
    {"curl_7_88_sni.hex",
     "771,4866-4867-4865-49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-"
     "49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,0-11-10-16-22-23-49-13-43-"
     "45-51-21,29-23-30-25-24-256-257-258-259-260,0-1-2",
     "0149f47eabf9a20d0893e2a44e5a6323", "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",
     "t13d3112h2_d7c3e2abb617_cad92ccb4254"},
    {"python_ssl.hex",
     "771,4866-4867-4865-49196-49200-49195-49199-52393-52392-49188-49192-49187-49191-159-158-107-"
     "103-255,0-11-10-35-16-22-23-13-43-45-51-21,29-23-30-25-24-256-257-258-259-260,0-1-2",
     "304734bb1c086c3453b387400cf83f11", "t13d1812h1_85036bcba153_d41ae481755e",
     "t13d1812h1_a2fb288ce784_958d92f00bb5"},
    {"chromium_headless.hex",
     "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,51764-10-43-"
     "11-18-65037-13-16-0-5-27-35-17613-45-51-65281-23,4588-29-23-24,0",
     "2732b25b8f693e0e113c7e17a4151606", "t13d1517h2_8daaf6152771_cb7bf5808d99",
     "t13d1517h2_acb858a92679_2da89b8fa72a"},
    {"firefox_esr_headless.hex",
     "771,4865-4867-4866-49195-49199-52393-52392-49196-49200-49162-49171-49172-156-157-47-53,0-23-"
     "65281-10-11-35-16-5-34-18-51-43-13-45-28-27-65037,4588-29-23-24-25-256-257,0",
     "6447ab086255d194909d4013b1a89e87", "t13d1617h2_86a278354501_3cbfd9057e0d",
     "t13d1617h2_d6294ab6b85e_df135d36b6d5"},
};

TEST(TlsFingerprint, RecordedClientHellosMatchIndependentFingerprints) {
  for (const auto& r : kRecorded) {
    SCOPED_TRACE(r.file);
    auto fp = fingerprintClientHello(handshakeOf(r.file));
    ASSERT_TRUE(fp.ok()) << fp.error().message;
    EXPECT_EQ(fp->ja3.text, r.ja3_text);
    EXPECT_EQ(fp->ja3.hash, r.ja3_hash);
    EXPECT_EQ(fp->ja4.ja4, r.ja4);
    EXPECT_EQ(fp->ja4.ja4_o, r.ja4_o);
  }
}

TEST(TlsFingerprint, ChromiumHelloHandDerivedJa4Parts) {
  // Chromium 156's hello by hand: 15 ciphers plus one GREASE; 17 extensions
  // plus two GREASE; ALPN "h2" first; SNI present. Its cipher set is the
  // one of the spec's example, hence the same JA4_b.
  auto hello = parseClientHello(handshakeOf("chromium_headless.hex"));
  ASSERT_TRUE(hello.ok());
  EXPECT_EQ(hello->cipher_suites.size(), 16u);
  EXPECT_TRUE(isGrease(hello->cipher_suites.front()));
  EXPECT_EQ(hello->extensions.size(), 19u);
  EXPECT_EQ(hello->server_name, "chromium.test");
  EXPECT_EQ(hello->alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(computeJa4(*hello).ja4.substr(0, 23), "t13d1517h2_8daaf6152771");
  TlsTraits t = tlsTraits(*hello);
  EXPECT_TRUE(t.grease);
  EXPECT_TRUE(t.alps);
  EXPECT_TRUE(t.compress_certificate);
  EXPECT_TRUE(t.offers_tls13);
  EXPECT_TRUE(t.alpn_h2);
  EXPECT_FALSE(t.record_size_limit);
}

TEST(TlsFingerprint, ToolAndFirefoxTraits) {
  auto curl = parseClientHello(handshakeOf("curl_7_88.hex"));
  ASSERT_TRUE(curl.ok());
  TlsTraits c = tlsTraits(*curl);
  EXPECT_FALSE(c.grease);
  EXPECT_FALSE(c.compress_certificate);
  EXPECT_FALSE(curl->has_server_name);  // curl sends no SNI to an IP literal
  auto ff = parseClientHello(handshakeOf("firefox_esr_headless.hex"));
  ASSERT_TRUE(ff.ok());
  TlsTraits f = tlsTraits(*ff);
  EXPECT_TRUE(f.record_size_limit);
  EXPECT_FALSE(f.alps);
  EXPECT_EQ(ff->server_name, "localhost");
}

TEST(TlsFingerprint, EveryTruncationOfARealHelloIsAnError) {
  Bytes msg = handshakeOf("chromium_headless.hex");
  ASSERT_FALSE(msg.empty());
  for (std::size_t n = 0; n < msg.size(); ++n) {
    auto r = parseClientHello(std::span<const std::uint8_t>(msg.data(), n));
    ASSERT_FALSE(r.ok()) << "prefix " << n;
  }
  EXPECT_TRUE(parseClientHello(msg).ok());
}

TEST(TlsFingerprint, InnerLengthCorruptionNeverCrashes) {
  // Bumps every byte of a real hello in turn; each result is either a clean
  // error or a parse whose fingerprints can be computed.
  Bytes msg = handshakeOf("firefox_esr_headless.hex");
  for (std::size_t i = 0; i < msg.size(); ++i) {
    Bytes copy = msg;
    copy[i] = static_cast<std::uint8_t>(copy[i] + 0x41);
    auto r = parseClientHello(copy);
    if (r.ok()) {
      EXPECT_EQ(computeJa4(*r).ja4.size(), 36u);
      EXPECT_EQ(computeJa3(*r).hash.size(), 32u);
    } else {
      EXPECT_FALSE(r.error().message.empty());
    }
  }
}

TEST(TlsFingerprint, RejectsMalformedMessagesWithAReason) {
  struct Case {
    const char* name;
    Bytes bytes;
    const char* reason;
  };
  Bytes good = HelloBuilder().ciphers({0x1301}).sni("a.example").build();
  Bytes trailing = good;
  trailing.push_back(0);
  Bytes server_hello = good;
  server_hello[0] = 2;
  Bytes too_long = good;
  too_long[3] = static_cast<std::uint8_t>(too_long[3] + 1);
  // handshake header 4, legacy_version 2, random 32, empty session id 1:
  // the cipher_suites length is at 39..40; 3 is odd.
  Bytes odd_ciphers = HelloBuilder().ciphers({0x1301}).build();
  odd_ciphers[40] = 3;
  const Case cases[] = {
      {"empty", {}, "short handshake header"},
      {"server hello", server_hello, "not a ClientHello"},
      {"trailing", trailing, "trailing bytes"},
      {"length past end", too_long, "truncated"},
      {"odd cipher list", odd_ciphers, "cipher_suites"},
      {"bad alpn", HelloBuilder().ext(kExtAlpn, {0, 3, 5, 'h', '2'}).build(), "alpn"},
      {"bad sni", HelloBuilder().ext(kExtServerName, {0, 9, 0, 0, 1}).build(), "server_name"},
      {"odd groups", HelloBuilder().ext(kExtSupportedGroups, {0, 3, 0, 0x1d, 0}).build(),
       "supported_groups"},
      {"versions with tail", HelloBuilder().ext(kExtSupportedVersions, {2, 3, 4, 9}).build(),
       "supported_versions"},
      {"sigalgs odd", HelloBuilder().ext(kExtSignatureAlgorithms, {0, 1, 4}).build(),
       "signature_algorithms"},
      {"point formats long", HelloBuilder().ext(kExtEcPointFormats, {5, 0}).build(),
       "ec_point_formats"},
  };
  for (const auto& c : cases) {
    auto r = parseClientHello(c.bytes);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_NE(r.error().message.find(c.reason), std::string::npos)
        << c.name << ": " << r.error().message;
  }
}

TEST(TlsFingerprint, RejectsOversizedSessionId) {
  Bytes msg = HelloBuilder().ciphers({0x1301}).build();
  // Replace the empty session id by a 33-byte one and fix the lengths.
  std::size_t sid = 4 + 2 + 32;
  msg[sid] = 33;
  msg.insert(msg.begin() + static_cast<long>(sid) + 1, 33, 0);
  std::size_t body = msg.size() - 4;
  msg[1] = static_cast<std::uint8_t>(body >> 16);
  msg[2] = static_cast<std::uint8_t>(body >> 8);
  msg[3] = static_cast<std::uint8_t>(body);
  auto r = parseClientHello(msg);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("32 bytes"), std::string::npos);
}

TEST(TlsFingerprint, ReassemblesAHelloSplitAcrossRecords) {
  Bytes msg = specExample().build();
  Bytes records;
  std::size_t half = msg.size() / 2;
  for (auto [from, to] : {std::pair{std::size_t{0}, half}, std::pair{half, msg.size()}}) {
    records.push_back(22);
    put16(records, 0x0301);
    put16(records, static_cast<std::uint16_t>(to - from));
    records.insert(records.end(), msg.begin() + static_cast<long>(from),
                   msg.begin() + static_cast<long>(to));
  }
  auto joined = handshakeFromRecords(records);
  ASSERT_TRUE(joined.ok()) << joined.error().message;
  EXPECT_EQ(*joined, msg);
  // Cut inside the second record, and a non-handshake record.
  records.pop_back();
  EXPECT_FALSE(handshakeFromRecords(records).ok());
  Bytes alert{21, 3, 1, 0, 2, 2, 40};
  auto r = handshakeFromRecords(alert);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not a handshake record"), std::string::npos);
}

TEST(TlsFingerprint, FingerprintClientHelloReportsParseErrors) {
  Bytes junk{0x16, 0x03, 0x01, 0x00};
  auto r = fingerprintClientHello(junk);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("client hello"), std::string::npos);
}

}  // namespace
}  // namespace mamori::guard
