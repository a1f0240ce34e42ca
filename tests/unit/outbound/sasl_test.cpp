// SMTP AUTH, client side, without I/O: base64 (RFC 4648 §10 test vectors), the PLAIN
// response (RFC 4616 §2), the AUTH keyword of EHLO replies (RFC 4954 §3, and "AUTH="), and
// the choice of mechanism.
#include <gtest/gtest.h>

#include "outbound/sasl.hpp"

namespace tern::outbound {
namespace {

TEST(Sasl, Base64MatchesRfc4648Vectors) {
  const std::pair<const char*, const char*> table[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (auto [in, out] : table) EXPECT_EQ(base64(in), out) << in;
  EXPECT_EQ(base64(std::string("\xff\xfe\x00", 3)), "//4A");
}

TEST(Sasl, PlainResponseIsNulUserNulPassword) {
  // RFC 4616 §4 example: authcid "tim", password "tanstaaftanstaaf", no authzid.
  EXPECT_EQ(plain_response({"tim", "tanstaaftanstaaf"}), "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
  EXPECT_EQ(base64(std::string("\0user\0p\xc3\xa4ss", 11)), plain_response({"user", "p\xc3\xa4ss"}));
}

smtp::Reply ehlo(const char* text) { return smtp::Reply{250, "", text}; }

TEST(Sasl, ParsesTheAuthKeyword) {
  struct Case {
    const char* reply;
    bool plain, login;
  } table[] = {
      {"mx.example\nPIPELINING\nAUTH PLAIN LOGIN", true, true},
      {"mx.example\nauth login", false, true},
      {"mx.example\nAUTH=LOGIN PLAIN", true, true},  // pre-RFC 2554 servers
      {"mx.example\nAUTH CRAM-MD5 XOAUTH2", false, false},
      {"mx.example\nAUTHX PLAIN", false, false},
      {"mx.example\nAUTH", false, false},
      {"AUTH PLAIN", false, false},  // the first line is the server's name
      {"mx.example\nSIZE 100\nAUTH  PLAIN", true, false},
  };
  for (auto& c : table) {
    auto got = parse_auth(ehlo(c.reply));
    EXPECT_EQ(got.plain, c.plain) << c.reply;
    EXPECT_EQ(got.login, c.login) << c.reply;
  }
}

TEST(Sasl, PrefersPlainThenLogin) {
  EXPECT_EQ(choose({true, true}), SaslMechanism::plain);
  EXPECT_EQ(choose({false, true}), SaslMechanism::login);
  EXPECT_EQ(choose({false, false}), std::nullopt);
}

TEST(Sasl, WipeClearsTheSecret) {
  std::string s = "secret";
  wipe(s);
  EXPECT_TRUE(s.empty());
}

}  // namespace
}  // namespace tern::outbound
