// SMTP AUTH server side without I/O: strict base64 (RFC 4648 §4, §3.5), PLAIN (RFC 4616 §2)
// with and without an initial response, LOGIN (draft-murchison-sasl-login) prompts, cancel
// with "*" and the RFC 4954 §4 line limit, each failure with its reply.
#include "auth/sasl.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tern::auth {
namespace {

using namespace std::literals;

TEST(AuthBase64, RoundTripsRfc4648Vectors) {
  const std::pair<std::string_view, std::string_view> table[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
      {"\0tim\0tanstaaftanstaaf"sv, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"},  // RFC 4616 §4
  };
  for (auto [raw, text] : table) {
    EXPECT_EQ(base64_encode(raw), text);
    auto decoded = base64_decode(text);
    ASSERT_TRUE(decoded) << text;
    EXPECT_EQ(*decoded, raw) << text;
  }
}

TEST(AuthBase64, RejectsWhatIsNotStrictBase64) {
  const char* table[] = {
      "Zg=",       // length not a multiple of 4
      "Zm9v Zg==",  // whitespace
      "Z===",      // one digit cannot make a byte
      "Zg==Zg==",  // padding in the middle
      "Zh==",      // unused bits set (RFC 4648 §3.5)
      "Zm9=",      // unused bits set
      "Zm9v!A==",  // not in the alphabet
      "=Zg=",      // padding first
      "Zm9vYg-_",  // the URL-safe alphabet is not SASL's
  };
  for (const char* text : table) EXPECT_FALSE(base64_decode(text)) << text;
}

TEST(AuthSasl, ParsesMechanismNames) {
  EXPECT_EQ(parse_mechanism("PLAIN"), Mechanism::plain);
  EXPECT_EQ(parse_mechanism("plain"), Mechanism::plain);
  EXPECT_EQ(parse_mechanism("Login"), Mechanism::login);
  EXPECT_FALSE(parse_mechanism("CRAM-MD5"));
  EXPECT_FALSE(parse_mechanism("PLAINX"));
  EXPECT_FALSE(parse_mechanism(""));
  EXPECT_EQ(mechanism_name(Mechanism::login), "LOGIN");
}

// One exchange: the AUTH command, then client lines; what the server ends with.
struct Exchange {
  const char* name;
  Mechanism mechanism;
  std::optional<std::string> initial;
  std::vector<std::string> lines;
  std::vector<std::string> challenges;  // every challenge the server sends, in order
  // The end: Done with user and password, or Failed with a kind.
  bool done;
  std::string user, password;
  FailureKind kind = FailureKind::malformed;
};

std::string b64(std::string_view s) { return base64_encode(s); }

TEST(AuthSasl, ExchangesEndAsTheRfcsSay) {
  const std::string long_field(max_field_octets + 1, 'x');
  const std::string long_line(max_line_octets + 4, 'A');
  const Exchange table[] = {
      // PLAIN, initial response (RFC 4954 §4 example shape).
      {"plain initial", Mechanism::plain, b64("\0tim\0tanstaaftanstaaf"sv), {}, {}, true, "tim",
       "tanstaaftanstaaf"},
      {"plain after empty challenge", Mechanism::plain, std::nullopt,
       {b64("\0tim\0secret"sv)}, {""}, true, "tim", "secret"},
      {"plain authzid equal to authcid", Mechanism::plain, b64("a@example.org\0a@example.org\0pw"sv),
       {}, {}, true, "a@example.org", "pw"},
      {"plain utf-8 password", Mechanism::plain, b64("\0u\0p\xc3\xa4ss"sv), {}, {}, true, "u",
       "p\xc3\xa4ss"},
      {"plain authzid mismatch", Mechanism::plain, b64("root\0tim\0pw"sv), {}, {}, false, "", "",
       FailureKind::authz_mismatch},
      {"plain no NUL", Mechanism::plain, b64("timpw"), {}, {}, false, "", "", FailureKind::malformed},
      {"plain one NUL", Mechanism::plain, b64("tim\0pw"sv), {}, {}, false, "", "",
       FailureKind::malformed},
      {"plain three NULs", Mechanism::plain, b64("\0tim\0p\0w"sv), {}, {}, false, "", "",
       FailureKind::malformed},
      {"plain empty user", Mechanism::plain, b64("\0\0pw"sv), {}, {}, false, "", "",
       FailureKind::malformed},
      {"plain empty password", Mechanism::plain, b64("\0tim\0"sv), {}, {}, false, "", "",
       FailureKind::malformed},
      {"plain '=' is an empty response", Mechanism::plain, "=", {}, {}, false, "", "",
       FailureKind::malformed},
      {"plain bad base64", Mechanism::plain, "AHRpbQB0YW5zdGFh!", {}, {}, false, "", "",
       FailureKind::bad_base64},
      {"plain bad base64 after challenge", Mechanism::plain, std::nullopt, {"not base64"}, {""},
       false, "", "", FailureKind::bad_base64},
      {"plain cancelled", Mechanism::plain, std::nullopt, {"*"}, {""}, false, "", "",
       FailureKind::cancelled},
      {"plain cancelled as initial response", Mechanism::plain, "*", {}, {}, false, "", "",
       FailureKind::cancelled},
      {"plain password too long", Mechanism::plain, b64("\0tim\0"s + long_field), {}, {}, false,
       "", "", FailureKind::field_too_long},
      {"plain line too long", Mechanism::plain, std::nullopt, {long_line}, {""}, false, "", "",
       FailureKind::line_too_long},
      // LOGIN.
      {"login", Mechanism::login, std::nullopt, {b64("tim"), b64("secret")},
       {"VXNlcm5hbWU6", "UGFzc3dvcmQ6"}, true, "tim", "secret"},
      {"login user as initial response", Mechanism::login, b64("tim"), {b64("secret")},
       {"UGFzc3dvcmQ6"}, true, "tim", "secret"},
      {"login cancel at user", Mechanism::login, std::nullopt, {"*"}, {"VXNlcm5hbWU6"}, false, "",
       "", FailureKind::cancelled},
      {"login cancel at password", Mechanism::login, std::nullopt, {b64("tim"), "*"},
       {"VXNlcm5hbWU6", "UGFzc3dvcmQ6"}, false, "", "", FailureKind::cancelled},
      {"login empty user", Mechanism::login, std::nullopt, {""}, {"VXNlcm5hbWU6"}, false, "", "",
       FailureKind::malformed},
      {"login empty password", Mechanism::login, std::nullopt, {b64("tim"), ""},
       {"VXNlcm5hbWU6", "UGFzc3dvcmQ6"}, false, "", "", FailureKind::malformed},
      {"login NUL in password", Mechanism::login, std::nullopt, {b64("tim"), b64("a\0b"sv)},
       {"VXNlcm5hbWU6", "UGFzc3dvcmQ6"}, false, "", "", FailureKind::malformed},
      {"login bad base64", Mechanism::login, std::nullopt, {"dGlt="}, {"VXNlcm5hbWU6"}, false, "",
       "", FailureKind::bad_base64},
      {"login user too long", Mechanism::login, std::nullopt, {b64(long_field)}, {"VXNlcm5hbWU6"},
       false, "", "", FailureKind::field_too_long},
  };
  for (const Exchange& x : table) {
    SCOPED_TRACE(x.name);
    SaslServer server;
    std::optional<std::string_view> initial;
    if (x.initial) initial = *x.initial;
    Step step = server.start(x.mechanism, initial);
    std::vector<std::string> challenges;
    for (const std::string& line : x.lines) {
      auto* challenge = std::get_if<Challenge>(&step);
      ASSERT_TRUE(challenge) << "ended before the line " << line.substr(0, 40);
      challenges.push_back(challenge->text);
      step = server.respond(line);
    }
    EXPECT_EQ(challenges, x.challenges);
    if (x.done) {
      auto* done = std::get_if<Done>(&step);
      ASSERT_TRUE(done);
      EXPECT_EQ(done->user, x.user);
      EXPECT_EQ(done->password, x.password);
    } else {
      auto* failed = std::get_if<Failed>(&step);
      ASSERT_TRUE(failed);
      EXPECT_EQ(failed->kind, x.kind) << failed->reason;
      if (!x.password.empty()) {
        EXPECT_EQ(failed->reason.find(x.password), std::string::npos);
      }
    }
    // The exchange is over: any further line is a caller error.
    auto after = server.respond(b64("x"));
    ASSERT_TRUE(std::holds_alternative<Failed>(after));
    EXPECT_EQ(std::get<Failed>(after).kind, FailureKind::out_of_order);
  }
}

TEST(AuthSasl, FailureReasonsNeverHoldThePassword) {
  SaslServer server;
  auto step = server.start(Mechanism::plain, b64("root\0tim\0hunter2"sv));
  ASSERT_TRUE(std::holds_alternative<Failed>(step));
  EXPECT_EQ(std::get<Failed>(step).reason.find("hunter2"), std::string::npos);
}

TEST(AuthSasl, RepliesFollowRfc4954) {
  struct Case {
    FailureKind kind;
    int code;
    std::string_view enhanced;
  } table[] = {
      {FailureKind::cancelled, 501, "5.7.0"},      {FailureKind::line_too_long, 500, "5.5.6"},
      {FailureKind::bad_base64, 501, "5.5.2"},     {FailureKind::malformed, 501, "5.5.2"},
      {FailureKind::authz_mismatch, 535, "5.7.8"}, {FailureKind::field_too_long, 535, "5.7.8"},
      {FailureKind::out_of_order, 503, "5.5.1"},
  };
  for (const Case& c : table) {
    auto reply = reply_for(c.kind);
    EXPECT_EQ(reply.code, c.code);
    EXPECT_EQ(reply.enhanced, c.enhanced);
    EXPECT_FALSE(reply.text.empty());
  }
}

TEST(AuthSasl, StartTwiceIsOutOfOrder) {
  SaslServer server;
  ASSERT_TRUE(std::holds_alternative<Challenge>(server.start(Mechanism::login, std::nullopt)));
  auto again = server.start(Mechanism::plain, std::nullopt);
  ASSERT_TRUE(std::holds_alternative<Failed>(again));
  EXPECT_EQ(std::get<Failed>(again).kind, FailureKind::out_of_order);
}

}  // namespace
}  // namespace tern::auth
