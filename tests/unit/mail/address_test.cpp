// Table-driven tests for the RFC 5321 §4.1.2 path/mailbox parser: quoting, escapes,
// source routes, address literals, IDN (RFC 5890), UTF-8 under SMTPUTF8 (RFC 6531),
// length limits (RFC 5321 §4.5.3.1) and garbage.
#include "mail/address.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tern::mail {
namespace {

using namespace std::literals;

enum class Expect { ok, syntax, too_long, utf8 };

// Options as flags, to keep table rows short.
enum : unsigned { none = 0, U = 1 /* SMTPUTF8 */, N = 2 /* null ok */, P = 4 /* postmaster */ };

struct PathCase {
  std::string in;
  unsigned options;
  Expect expect;
  std::string local;
  std::string domain;
  std::string domain_ascii;  // empty: same as domain
};

PathCase good(std::string in, std::string local, std::string domain, std::string ascii = "",
              unsigned options = none) {
  return {std::move(in),    options,           Expect::ok,
          std::move(local), std::move(domain), std::move(ascii)};
}
PathCase good_utf8(std::string in, std::string local, std::string domain, std::string ascii = "") {
  return good(std::move(in), std::move(local), std::move(domain), std::move(ascii), U);
}
PathCase bad(std::string in, Expect e = Expect::syntax, unsigned options = none) {
  return {std::move(in), options, e, "", "", ""};
}

Expect expect_of(AddressError e) {
  switch (e) {
    case AddressError::syntax:
      return Expect::syntax;
    case AddressError::too_long:
      return Expect::too_long;
    case AddressError::utf8_not_allowed:
      return Expect::utf8;
  }
  return Expect::ok;
}

const std::string l63(63, 'a');
// Four labels, 252 octets: "<a@" + d252 + ">" is a 256-octet path, the longest allowed.
const std::string d252 = l63 + "." + l63 + "." + l63 + "." + std::string(60, 'd');

std::vector<PathCase> path_cases() {
  return {
      // Plain mailboxes; the domain is lower-cased, the local part kept as sent.
      good("<user@example.org>", "user", "example.org"),
      good("<User.Name@Example.ORG>", "User.Name", "example.org"),
      good("<a!#$%&'*+-/=?^_`{|}~@x.example>", "a!#$%&'*+-/=?^_`{|}~", "x.example"),
      good("<a@b>", "a", "b"),
      good("<1@2.3>", "1", "2.3"),
      good("<a@x-y.example>", "a", "x-y.example"),
      good("<a@x--y.example>", "a", "x--y.example"),
      // Quoted local parts and escapes.
      good(R"(<"a b"@x.org>)", "a b", "x.org"),
      good(R"(<"a\"b"@x.org>)", "a\"b", "x.org"),
      good(R"(<"a\\b"@x.org>)", "a\\b", "x.org"),
      good(R"(<"a\bc"@x.org>)", "abc", "x.org"),
      good(R"(<""@x.org>)", "", "x.org"),
      good(R"(<"a>b"@x.org>)", "a>b", "x.org"),
      good(R"(<"a@b"@x.org>)", "a@b", "x.org"),
      good(R"(<"..."@x.org>)", "...", "x.org"),
      bad(R"(<"unterminated@x.org>)"),
      bad("<\"a\\\x01\"@x.org>"),  // quoted-pairSMTP is "\" %d32-126
      bad("<\"a\tb\"@x.org>"),     // HTAB is not qtextSMTP
      bad(R"(<"a\)"),
      bad(R"(<"a"b@x.org>)"),
      bad(R"(<a"b"@x.org>)"),
      // Source routes: checked, then ignored (RFC 5321 Appendix C).
      good("<@a.example,@b.example:user@c.example>", "user", "c.example"),
      good("<@a.example:user@c.example>", "user", "c.example"),
      bad("<@a..example:user@c.example>"),
      bad("<@a.example user@c.example>"),
      bad("<@a.example,b.example:user@c.example>"),
      bad("<@:user@c.example>"),
      bad("<@a.example:>"),
      bad("<@a.example:<user@c.example>>"),
      // Address literals: IPv4 and "IPv6:" (RFC 5321 §4.1.3).
      good("<user@[192.0.2.1]>", "user", "[192.0.2.1]"),
      good("<user@[0.0.0.0]>", "user", "[0.0.0.0]"),
      good("<user@[IPv6:2001:db8::1]>", "user", "[IPv6:2001:db8::1]"),
      good("<user@[ipv6:2001:DB8::1]>", "user", "[IPv6:2001:db8::1]"),
      good("<user@[IPv6:1:2:3:4:5:6:7:8]>", "user", "[IPv6:1:2:3:4:5:6:7:8]"),
      good("<user@[IPv6:::1]>", "user", "[IPv6:::1]"),
      good("<user@[IPv6:::]>", "user", "[IPv6:::]"),
      good("<user@[IPv6:1::]>", "user", "[IPv6:1::]"),
      good("<user@[IPv6:::ffff:192.0.2.1]>", "user", "[IPv6:::ffff:192.0.2.1]"),
      good("<user@[IPv6:1:2:3:4:5:6:192.0.2.1]>", "user", "[IPv6:1:2:3:4:5:6:192.0.2.1]"),
      bad("<user@[256.0.0.1]>"),
      bad("<user@[1.2.3]>"),
      bad("<user@[1.2.3.4.5]>"),
      bad("<user@[1.2.3.1000]>"),
      bad("<user@[1.2.3.]>"),
      bad("<user@[IPv6:1:2:3:4:5:6:7:8:9]>"),
      bad("<user@[IPv6:1:2:3:4:5:6:7]>"),
      bad("<user@[IPv6:1:2:3:4:5:6:7:192.0.2.1]>"),
      bad("<user@[IPv6:1::2::3]>"),
      bad("<user@[IPv6:12345::1]>"),
      bad("<user@[IPv6:g::1]>"),
      bad("<user@[IPv6:1:]>"),
      bad("<user@[IPv6::1]>"),
      bad("<user@[IPv6:::1.2.3]>"),
      bad("<user@[IPv6:192.0.2.1]>"),
      bad("<user@[IPv6:]>"),
      bad("<user@[x-tag:foo]>"),  // General-address-literal: no tag but IPv6 is registered
      bad("<user@[]>"),
      bad("<user@[192.0.2.1>"),
      bad("<user@[192.0.2.1].x>"),
      bad("<user@[ 192.0.2.1]>"),
      // Domains.
      bad("<user@example.org.>"),  // no trailing dot
      bad("<user@.example.org>"),
      bad("<user@example..org>"),
      bad("<user@-bad.example>"),
      bad("<user@bad-.example>"),
      bad("<user@exa_mple.org>"),
      bad("<user@>"),
      good("<user@" + l63 + ".example>", "user", l63 + ".example"),
      bad("<user@a" + l63 + ".example>"),  // a 64-octet label (RFC 1035 §2.3.4)
      // IDN: U-labels need SMTPUTF8; the routing form is the A-label.
      good_utf8("<user@bücher.example>", "user", "bücher.example", "xn--bcher-kva.example"),
      good_utf8("<user@BÜCHER.Example>", "user", "bÜcher.example", "xn--bcher-kva.example"),
      bad("<user@bücher.example>", Expect::utf8),
      good("<user@xn--bcher-kva.example>", "user", "xn--bcher-kva.example"),
      good("<user@XN--BCHER-KVA.example>", "user", "xn--bcher-kva.example"),
      good_utf8("<user@ß.de>", "user", "ß.de", "xn--zca.de"),  // non-transitional
      good_utf8("<用户@例子.广告>", "用户", "例子.广告", "xn--fsqu00a.xn--4rr70v"),
      bad("<user@xn--zz.example>"),  // malformed punycode
      bad("<user@-ü.example>", Expect::syntax, U),
      bad("<user@ü-.example>", Expect::syntax, U),
      good_utf8("<user@a．b>", "user", "a．b", "a.b"),  // UTS #46 maps U+FF0E to '.'
      bad("<user@ü．>", Expect::syntax, U),             // ...so this ends in '.'
      // UTF-8 local parts (RFC 6531 §3.3).
      good_utf8("<üser@example.org>", "üser", "example.org"),
      bad("<üser@example.org>", Expect::utf8),
      good_utf8("<\"ü x\"@example.org>", "ü x", "example.org"),
      bad("<\"ü x\"@example.org>", Expect::utf8),
      bad("<\xC3@example.org>", Expect::syntax, U),              // truncated sequence
      bad("<\xC0\xAF@example.org>", Expect::syntax, U),          // overlong '/'
      bad("<\xED\xA0\x80@example.org>", Expect::syntax, U),      // surrogate
      bad("<\xF4\x90\x80\x80@example.org>", Expect::syntax, U),  // above U+10FFFF
      bad("<\xFF@example.org>", Expect::syntax, U),
      bad("<a@exam\xC3ple.org>", Expect::syntax, U),
      bad("<\"\xC3\"@example.org>", Expect::syntax, U),
      bad("<\"a\\\xC3\xBC\"@example.org>", Expect::syntax, U),  // quoted-pair is ASCII only
      // The null path and the bare postmaster (RFC 5321 §4.1.1.3).
      good("<>", "", "", "", N),
      bad("<>"),
      good("<postmaster>", "postmaster", "", "", P),
      good("<PostMaster>", "postmaster", "", "", P),
      bad("<postmaster>"),
      good("<postmaster@example.org>", "postmaster", "example.org", "", P),
      bad("<user>", Expect::syntax, P),
      bad("<postmaster >", Expect::syntax, P),
      // Garbage.
      bad("", Expect::syntax, N | P),
      bad("<", Expect::syntax, N | P),
      bad(">", Expect::syntax, N | P),
      bad("user@example.org"),
      bad("<user@example.org"),
      bad("< user@example.org>"),
      bad("<user@example.org >"),
      bad("<user @example.org>"),
      bad("<a..b@x.org>"),
      bad("<.a@x.org>"),
      bad("<a.@x.org>"),
      bad("<a b@x.org>"),
      bad("<a@b@c.org>"),
      bad("<@x.org>"),
      bad("<a(comment)@x.org>"),
      bad("<a@x.org\r\n>"),
      bad("<a\0b@x.org>"s),
      bad("<a@x\0.org>"s),
      bad("<<a@x.org>>"),
      // Length limits (RFC 5321 §4.5.3.1): local part 64 octets as sent, path 256.
      good("<" + std::string(64, 'l') + "@x.org>", std::string(64, 'l'), "x.org"),
      bad("<" + std::string(65, 'l') + "@x.org>", Expect::too_long),
      good("<\"" + std::string(62, 'l') + "\"@x.org>", std::string(62, 'l'), "x.org"),
      bad("<\"" + std::string(63, 'l') + "\"@x.org>", Expect::too_long),
      good("<a@" + d252 + ">", "a", d252),
      bad("<ab@" + d252 + ">", Expect::too_long),
      bad("<a@" + d252 + "d>", Expect::too_long),
      bad("<a@" + l63 + "." + l63 + "." + l63 + "." + l63 + "." + l63 + ">", Expect::too_long),
      bad("<@" + l63 + "." + l63 + "." + l63 + ":a@" + l63 + ">", Expect::too_long),
  };
}

TEST(AddressTest, ParsePathTable) {
  for (const PathCase& c : path_cases()) {
    SCOPED_TRACE(c.in);
    PathOptions options;
    options.allow_utf8 = c.options & U;
    options.allow_null = c.options & N;
    options.allow_bare_postmaster = c.options & P;
    std::size_t consumed = 12345;
    auto r = parse_path(c.in, options, consumed);
    if (c.expect != Expect::ok) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(expect_of(r.error()), c.expect);
      continue;
    }
    ASSERT_TRUE(r.ok()) << static_cast<int>(expect_of(r.error()));
    EXPECT_EQ(consumed, c.in.size());
    EXPECT_EQ(r->local, c.local);
    EXPECT_EQ(r->domain, c.domain);
    EXPECT_EQ(r->domain_ascii, c.domain_ascii.empty() ? c.domain : c.domain_ascii);
    bool non_ascii = false;
    for (unsigned char ch : c.local + c.domain) non_ascii |= ch >= 0x80;
    EXPECT_EQ(r->utf8(), non_ascii);

    // text() re-parses to the same address (the source route is gone).
    if (r->null() || r->domain.empty()) continue;
    auto again = parse_mailbox(r->text(), c.options & U);
    ASSERT_TRUE(again.ok()) << r->text();
    EXPECT_EQ(again->local, r->local);
    EXPECT_EQ(again->domain, r->domain);
    EXPECT_EQ(again->domain_ascii, r->domain_ascii);
  }
}

TEST(AddressTest, ConsumedStopsAtClosingBracket) {
  std::size_t consumed = 0;
  auto r = parse_path("<a@b.example> SIZE=10", PathOptions{}, consumed);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(consumed, 13u);
  r = parse_path(R"(<"x> y"@b.example> BODY=8BITMIME)", PathOptions{}, consumed);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(consumed, 18u);
  PathOptions null_ok;
  null_ok.allow_null = true;
  r = parse_path("<> SIZE=1", null_ok, consumed);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->null());
  EXPECT_EQ(consumed, 2u);
}

TEST(AddressTest, Utf8Flag) {
  EXPECT_FALSE((Address{"a", "b", "b"}.utf8()));
  EXPECT_TRUE((Address{"ü", "b", "b"}.utf8()));
  EXPECT_TRUE((Address{"a", "bücher.example", "xn--bcher-kva.example"}.utf8()));
}

TEST(AddressTest, TextQuotesWhenNotDotString) {
  struct Case {
    Address a;
    std::string text;
  };
  const std::vector<Case> cases = {
      {{"user", "example.org", ""}, "user@example.org"},
      {{"a.b", "x", ""}, "a.b@x"},
      {{"a b", "x", ""}, R"("a b"@x)"},
      {{"a\"b", "x", ""}, R"("a\"b"@x)"},
      {{"a\\b", "x", ""}, R"("a\\b"@x)"},
      {{"", "x", ""}, R"(""@x)"},
      {{".a", "x", ""}, R"(".a"@x)"},
      {{"a.", "x", ""}, R"("a."@x)"},
      {{"a..b", "x", ""}, R"("a..b"@x)"},
      {{"a@b", "x", ""}, R"("a@b"@x)"},
      {{"ü", "x", ""}, "ü@x"},
      {{"ü x", "x", ""}, R"("ü x"@x)"},
      {{"user", "[192.0.2.1]", "[192.0.2.1]"}, "user@[192.0.2.1]"},
      {{"postmaster", "", ""}, "postmaster"},
      {{"", "", ""}, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(c.a.text(), c.text);
  }
}

TEST(AddressTest, ParseMailboxTable) {
  struct Case {
    std::string in;
    bool utf8;
    Expect expect;
  };
  const std::vector<Case> cases = {
      {"user@example.org", false, Expect::ok},
      {R"("a b"@example.org)", false, Expect::ok},
      {"user@[192.0.2.1]", false, Expect::ok},
      {"üser@bücher.example", true, Expect::ok},
      {"üser@example.org", false, Expect::utf8},
      {"<user@example.org>", false, Expect::syntax},
      {"user@example.org x", false, Expect::syntax},
      {"user@example.org>", false, Expect::syntax},
      {"user", false, Expect::syntax},
      {"postmaster", false, Expect::syntax},
      {"", false, Expect::syntax},
      {"@a:user@example.org", false, Expect::syntax},  // no source route outside a path
      {"a@" + d252, false, Expect::ok},
      {"ab@" + d252, false, Expect::too_long},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    auto r = parse_mailbox(c.in, c.utf8);
    if (c.expect == Expect::ok) {
      EXPECT_TRUE(r.ok());
    } else {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(expect_of(r.error()), c.expect);
    }
  }
}

TEST(AddressTest, DomainToAscii) {
  struct Case {
    std::string in;
    std::string out;
  };
  const std::vector<Case> cases = {
      {"example.org", "example.org"},
      {"EXAMPLE.Org", "example.org"},
      {"bücher.example", "xn--bcher-kva.example"},
      {"Bücher.Example", "xn--bcher-kva.example"},
      {"xn--bcher-kva.example", "xn--bcher-kva.example"},
      {"ß.de", "xn--zca.de"},  // non-transitional: ß is kept, not mapped to "ss"
      {"localhost", "localhost"},
      {"[192.0.2.1]", "[192.0.2.1]"},
      {"[IPv6:2001:DB8::1]", "[IPv6:2001:db8::1]"},
      {"example.org.", ""},
      {"", ""},
      {"a..b", ""},
      {"-a.example", ""},
      {"a_b.example", ""},
      {"xn--zz.example", ""},
      {"bad\xC3.example", ""},
      {"a b.example", ""},
      {"[300.1.1.1]", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    EXPECT_EQ(domain_to_ascii(c.in), c.out);
  }
}

TEST(AddressTest, ValidUtf8) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain"));
  EXPECT_TRUE(valid_utf8("bücher 例子 \xF0\x9F\x98\x80"));
  EXPECT_FALSE(valid_utf8("\xC3"));
  EXPECT_FALSE(valid_utf8("\xC0\x80"));
  EXPECT_FALSE(valid_utf8("\xE0\x80\x80"));
  EXPECT_FALSE(valid_utf8("\xED\xB0\x80"));
  EXPECT_FALSE(valid_utf8("\xF8\x88\x80\x80\x80"));
  EXPECT_FALSE(valid_utf8("\x80"));
}

}  // namespace
}  // namespace tern::mail
