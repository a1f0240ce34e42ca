// Reading DNS answers without a server: wire-format names and MX/A/AAAA RDATA (malformed
// ones refused), caller names, how raw answers combine into MX and address answers, the
// order of the address questions per Family, and order_mx. Table-driven.
#include "dns/records.hpp"

#include <gtest/gtest.h>

#include <set>

#include "dns/resolver.hpp"

namespace tern::dns {
namespace {

using namespace std::string_literals;

TEST(DnsRecords, ParseName) {
  struct Case {
    std::string wire;
    std::optional<std::string> text;
  };
  const Case cases[] = {
      {"\x00"s, ""},
      {"\x03mx1\x07"
       "example\x03"
       "com\x00"s,
       "mx1.example.com"},
      {"\x03MX1\x07"
       "ExAmPlE\x03"
       "COM\x00"s,
       "mx1.example.com"},
      {"\x05mx_-1\x00"s, "mx_-1"},
      {""s, std::nullopt},                                      // no root label
      {"\x03mx1"s, std::nullopt},                               // no root label
      {"\x05mx1\x00"s, std::nullopt},                           // label runs past the data
      {"\x03mx1\x00\x00"s, std::nullopt},                       // bytes after the name
      {"\xc0\x0c"s, std::nullopt},                              // compression pointer
      {"\x40" + std::string(64, 'a') + "\x00"s, std::nullopt},  // label over 63
      {"\x03m\x00x\x00"s, std::nullopt},                        // NUL in a label
      {"\x03m.x\x00"s, std::nullopt},                           // dot in a label
      {"\x03m x\x00"s, std::nullopt},                           // space
      {"\x03m\xc3\xa9\x00"s, std::nullopt},                     // non-ASCII
  };
  for (const auto& c : cases) {
    EXPECT_EQ(parse_name(c.wire), c.text) << testing::PrintToString(c.wire);
  }
  // 255 octets on the wire is the limit: three labels of 63, one of 61, and the root.
  std::string label63 = "\x3f" + std::string(63, 'a');
  std::string longest = label63 + label63 + label63 + "\x3d" + std::string(61, 'b') + "\x00"s;
  ASSERT_EQ(longest.size(), 255u);
  EXPECT_TRUE(parse_name(longest));
  std::string too_long = label63 + label63 + label63 + "\x3e" + std::string(62, 'b') + "\x00"s;
  ASSERT_EQ(too_long.size(), 256u);
  EXPECT_FALSE(parse_name(too_long));
}

TEST(DnsRecords, ParseMx) {
  auto r = parse_mx("\x00\x0a\x03mx1\x04test\x00"s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->preference, 10);
  EXPECT_EQ(r->exchange, "mx1.test");
  auto big = parse_mx("\xff\xfe\x00"s);
  ASSERT_TRUE(big);
  EXPECT_EQ(big->preference, 65534);
  EXPECT_EQ(big->exchange, "");  // the null MX exchange "."
  EXPECT_FALSE(parse_mx(""s));
  EXPECT_FALSE(parse_mx("\x00"s));
  EXPECT_FALSE(parse_mx("\x00\x0a"s));
  EXPECT_FALSE(parse_mx("\x00\x0a\x03mx1"s));
}

TEST(DnsRecords, ParseAddresses) {
  EXPECT_EQ(parse_a("\xc0\x00\x02\x01"s), "192.0.2.1");
  EXPECT_FALSE(parse_a("\xc0\x00\x02"s));
  EXPECT_FALSE(parse_a("\xc0\x00\x02\x01\x01"s));
  EXPECT_EQ(parse_aaaa("\x20\x01\x0d\xb8" + std::string(11, '\0') + "\x01"), "2001:db8::1");
  EXPECT_FALSE(parse_aaaa(std::string(15, '\0')));
  EXPECT_FALSE(parse_aaaa(std::string(17, '\0')));
}

TEST(DnsRecords, QueryName) {
  struct Case {
    std::string in;
    std::optional<std::string> out;
  };
  const Case cases[] = {
      {"example.com", "example.com"},
      {"Example.COM.", "example.com"},
      {"xn--caf-dma.example", "xn--caf-dma.example"},
      {"_dmarc.example", "_dmarc.example"},
      {std::string(63, 'a') + ".test", std::string(63, 'a') + ".test"},
      {"", std::nullopt},
      {".", std::nullopt},
      {"..", std::nullopt},
      {"a..b", std::nullopt},
      {".a", std::nullopt},
      {"a b", std::nullopt},
      {"a\0b"s, std::nullopt},
      {"caf\xc3\xa9.example", std::nullopt},
      {"a@b", std::nullopt},
      {std::string(64, 'a') + ".test", std::nullopt},
  };
  for (const auto& c : cases) {
    auto r = query_name(c.in);
    if (c.out) {
      ASSERT_TRUE(r) << c.in << ": " << r.error().message;
      EXPECT_EQ(*r, *c.out);
    } else {
      EXPECT_FALSE(r) << c.in;
    }
  }
  // 253 characters of text is 255 octets on the wire.
  std::string l63(63, 'a');
  std::string longest = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b');
  ASSERT_EQ(longest.size(), 253u);
  EXPECT_TRUE(query_name(longest));
  EXPECT_TRUE(query_name(longest + "."));
  EXPECT_FALSE(query_name(longest + "b"));
}

TEST(DnsRecords, MxAnswer) {
  RawAnswer ok{Status::ok, {"\x00\x0a\x02mx\x04test\x00"s, "\x00\x14\xc0\x0c"s}, true, ""};
  auto a = mx_answer(ok);
  EXPECT_EQ(a.status, Status::ok);
  ASSERT_EQ(a.records.size(), 1u);  // the compressed (malformed) one is dropped
  EXPECT_EQ(a.records[0].exchange, "mx.test");
  EXPECT_TRUE(a.secure);

  RawAnswer all_bad{Status::ok, {"\x00"s}, false, ""};
  auto b = mx_answer(all_bad);
  EXPECT_EQ(b.status, Status::temporary);
  EXPECT_TRUE(b.records.empty());
  EXPECT_FALSE(b.error.empty());

  for (auto s : {Status::nxdomain, Status::nodata, Status::temporary}) {
    auto c = mx_answer(RawAnswer{s, {}, false, "why"});
    EXPECT_EQ(c.status, s);
    EXPECT_EQ(c.error, "why");
  }
}

TEST(DnsRecords, AddressAnswerCombines) {
  const std::string a1 = "\xc0\x00\x02\x01"s;
  const std::string aaaa1 = "\x20\x01\x0d\xb8" + std::string(11, '\0') + "\x01";
  const RawAnswer v4{Status::ok, {a1}, true, ""};
  const RawAnswer v6{Status::ok, {aaaa1}, true, ""};
  const RawAnswer nodata{Status::nodata, {}, true, ""};
  const RawAnswer nx{Status::nxdomain, {}, false, ""};
  const RawAnswer temp{Status::temporary, {}, false, "timeout"};
  const RawAnswer bad_v4{Status::ok, {"\x01"s}, false, ""};
  const std::vector<int> a_aaaa{rr_type_a, rr_type_aaaa};
  const std::vector<int> aaaa_a{rr_type_aaaa, rr_type_a};

  struct Case {
    std::vector<RawAnswer> answers;
    std::vector<int> types;
    Status status;
    std::vector<std::string> addresses;
    bool secure;
  };
  const Case cases[] = {
      {{v4, v6}, a_aaaa, Status::ok, {"192.0.2.1", "2001:db8::1"}, true},
      {{v6, v4}, aaaa_a, Status::ok, {"2001:db8::1", "192.0.2.1"}, true},
      {{v4, nodata}, a_aaaa, Status::ok, {"192.0.2.1"}, true},
      {{v4, temp}, a_aaaa, Status::ok, {"192.0.2.1"}, false},  // addresses win; error kept
      {{nodata, nodata}, a_aaaa, Status::nodata, {}, true},
      {{nx, nx}, a_aaaa, Status::nxdomain, {}, false},
      {{nodata, temp}, a_aaaa, Status::temporary, {}, false},
      {{nx, temp}, a_aaaa, Status::temporary, {}, false},
      {{bad_v4, nodata}, a_aaaa, Status::temporary, {}, false},  // malformed A only
      {{v4}, {rr_type_a}, Status::ok, {"192.0.2.1"}, true},
      {{nodata}, {rr_type_aaaa}, Status::nodata, {}, true},
  };
  for (std::size_t i = 0; i < std::size(cases); ++i) {
    const auto& c = cases[i];
    auto a = address_answer(c.answers, c.types);
    EXPECT_EQ(a.status, c.status) << "case " << i;
    EXPECT_EQ(a.addresses, c.addresses) << "case " << i;
    EXPECT_EQ(a.secure, c.secure) << "case " << i;
    if (c.status == Status::temporary) {
      EXPECT_FALSE(a.error.empty()) << "case " << i;
    }
  }
  auto partial = address_answer(std::vector<RawAnswer>{v4, temp}, a_aaaa);
  EXPECT_NE(partial.error.find("AAAA: timeout"), std::string::npos) << partial.error;
}

TEST(DnsRecords, AddressTypesPerFamily) {
  EXPECT_EQ(address_types(Family::ipv4), (std::vector<int>{rr_type_a}));
  EXPECT_EQ(address_types(Family::ipv6), (std::vector<int>{rr_type_aaaa}));
  EXPECT_EQ(address_types(Family::both), (std::vector<int>{rr_type_a, rr_type_aaaa}));
  EXPECT_EQ(address_types(Family::prefer_ipv6), (std::vector<int>{rr_type_aaaa, rr_type_a}));
}

TEST(DnsOrderMx, PreferenceFirstEqualOnesShuffled) {
  std::vector<MxRecord> in{{30, "c"}, {10, "a1"}, {20, "b"}, {10, "a2"}, {10, "a3"}};
  std::set<std::vector<std::string>> orders;
  for (int i = 0; i < 300; ++i) {
    auto o = order_mx(in);
    ASSERT_EQ(o.size(), 5u);
    for (std::size_t j = 0; j < 3; ++j) ASSERT_EQ(o[j].preference, 10);
    ASSERT_EQ(o[3].exchange, "b");
    ASSERT_EQ(o[4].exchange, "c");
    orders.insert({o[0].exchange, o[1].exchange, o[2].exchange});
  }
  EXPECT_EQ(orders.size(), 6u);  // every order of the three equal ones occurs
  EXPECT_TRUE(order_mx({}).empty());
}

}  // namespace
}  // namespace tern::dns
