// SCRAM-SHA-256 (RFC 5802, RFC 7677): the RFC 7677 §3 example exchange byte for byte, a
// table of client exchanges (gs2 flags, authzid, saslname escapes, extensions, wrong
// password, unknown user, wrong nonce, channel binding, cancel), and Dovecot's
// `{SCRAM-SHA-256}` text form (a vector written by `doveadm pw` 2.3.19).
#include "auth/scram.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "auth/sasl.hpp"
#include "auth/scram_exchange.hpp"
#include "scram_client.hpp"

namespace tern::auth {
namespace {

using namespace std::literals;

// RFC 7677 §3.
constexpr std::string_view rfc_client_nonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view rfc_server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view rfc_salt = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr std::string_view rfc_client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view rfc_server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view rfc_client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view rfc_server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

ScramCredentials pencil() { return derive_scram_credentials("pencil", unb64(rfc_salt), 4096); }

SaslServer server_with_rfc_nonce() {
  return SaslServer(SaslOptions{[] { return std::string(rfc_server_nonce); }, "test secret"});
}

TEST(AuthScram, DerivesRfc7677Credentials) {
  // StoredKey and ServerKey of "pencil" as the RFC 7677 §3 exchange implies them: the
  // exchange test below checks them end to end; here the Dovecot text form round-trips.
  ScramCredentials c = pencil();
  EXPECT_EQ(c.iterations, 4096u);
  EXPECT_EQ(c.stored_key.size(), scram_key_octets);
  auto parsed = parse_dovecot_scram(format_dovecot_scram(c));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->salt, c.salt);
  EXPECT_EQ(parsed->stored_key, c.stored_key);
  EXPECT_EQ(parsed->server_key, c.server_key);
  EXPECT_TRUE(check_scram_password("pencil", c));
  EXPECT_FALSE(check_scram_password("pencil ", c));
  EXPECT_FALSE(check_scram_password("", c));
}

TEST(AuthScram, Rfc7677ExchangeByteForByte) {
  SaslServer server = server_with_rfc_nonce();
  Step step = server.start(Mechanism::scram_sha_256, std::nullopt);
  ASSERT_TRUE(std::holds_alternative<Challenge>(step));
  EXPECT_EQ(std::get<Challenge>(step).text, "");  // RFC 4954 §4: empty challenge
  step = server.respond(b64(rfc_client_first));
  ASSERT_TRUE(std::holds_alternative<NeedCredentials>(step));
  EXPECT_EQ(std::get<NeedCredentials>(step).user, "user");
  step = server.provide(pencil());
  ASSERT_TRUE(std::holds_alternative<Challenge>(step));
  EXPECT_EQ(unb64(std::get<Challenge>(step).text), rfc_server_first);
  step = server.respond(b64(rfc_client_final));
  ASSERT_TRUE(std::holds_alternative<Challenge>(step)) << std::get<Failed>(step).reason;
  EXPECT_EQ(unb64(std::get<Challenge>(step).text), rfc_server_final);
  step = server.respond("");
  ASSERT_TRUE(std::holds_alternative<Authenticated>(step));
  EXPECT_EQ(std::get<Authenticated>(step).user, "user");
  // Over: anything more is a caller error.
  auto after = server.respond("");
  ASSERT_TRUE(std::holds_alternative<Failed>(after));
  EXPECT_EQ(std::get<Failed>(after).kind, FailureKind::out_of_order);
}

TEST(AuthScram, Rfc7677ClientFirstAsInitialResponse) {
  SaslServer server = server_with_rfc_nonce();
  Step step = server.start(Mechanism::scram_sha_256, b64(rfc_client_first));
  ASSERT_TRUE(std::holds_alternative<NeedCredentials>(step));
  step = server.provide(pencil());
  ASSERT_TRUE(std::holds_alternative<Challenge>(step));
  EXPECT_EQ(unb64(std::get<Challenge>(step).text), rfc_server_first);
}

// One exchange from client-first on, against credentials for "pencil".
struct Exchange {
  const char* name;
  std::string client_first;
  // Makes client-final from server-first; default: the right proof for `password`.
  std::function<std::string(const std::string& first, const std::string& server_first)> final;
  bool known_user = true;  // false: provide(nullopt)
  // The end: Authenticated (kind unused), or Failed with `kind`.
  bool ok = false;
  FailureKind kind = FailureKind::malformed;
  bool fails_at_first = false;  // the client-first message itself is refused
};

auto proof_for(std::string_view password, std::string channel = "c=biws") {
  return
      [password = std::string(password), channel](const std::string& first, const std::string& sf) {
        return client_final(first, sf, password, channel);
      };
}

// Edits the right client-final with `edit`.
auto edited(std::function<std::string(std::string)> edit) {
  return [edit](const std::string& first, const std::string& sf) {
    return edit(client_final(first, sf, "pencil"));
  };
}

TEST(AuthScram, ExchangesEndAsRfc5802Says) {
  const std::string cf = "n,,n=user,r=abcdefghij";
  const Exchange table[] = {
      {"right password", cf, proof_for("pencil"), true, true},
      {"gs2 flag y: client could bind, thinks we cannot", "y,,n=user,r=abcdefghij",
       proof_for("pencil", "c=eSws"), true, true},
      {"authzid equal to the user", "n,a=user,n=user,r=abcdefghij",
       proof_for("pencil", "c=" + b64("n,a=user,")), true, true},
      {"unknown extension in client-first ignored", cf + ",x=whatever", proof_for("pencil"), true,
       true},
      {"saslname escapes", "n,,n=a=2Cb=3Dc,r=abcdefghij", proof_for("pencil"), true, true},
      {"wrong password", cf, proof_for("pencil!"), true, false, FailureKind::bad_proof},
      {"unknown user", cf, proof_for("pencil"), false, false, FailureKind::bad_proof},
      {"nonce without the server part", cf,
       edited([](std::string s) { return "c=biws,r=abcdefghij" + s.substr(s.find(",p=")); }), true,
       false, FailureKind::bad_proof},
      {"c= not the gs2 header", cf, edited([](std::string s) { return "c=eSws" + s.substr(6); }),
       true, false, FailureKind::malformed},
      {"proof missing", cf, edited([](std::string s) { return s.substr(0, s.find(",p=")); }), true,
       false, FailureKind::malformed},
      {"proof not last", cf, edited([](std::string s) { return s + ",x=1"; }), true, false,
       FailureKind::malformed},
      {"proof too short", cf,
       edited([](std::string s) { return s.substr(0, s.find(",p=")) + ",p=" + b64("short"); }),
       true, false, FailureKind::malformed},
      {"flipped proof bit", cf, edited([](std::string s) {
         auto at = s.find(",p=") + 3;
         s[at] = s[at] == 'A' ? 'B' : 'A';
         return s;
       }),
       true, false, FailureKind::bad_proof},
      {"channel binding asked for",
       "p=tls-unique,,n=user,r=abcdefghij",
       {},
       true,
       false,
       FailureKind::channel_binding,
       true},
      {"bad gs2 flag", "x,,n=user,r=abcdefghij", {}, true, false, FailureKind::malformed, true},
      {"authzid of another user",
       "n,a=root,n=user,r=abcdefghij",
       {},
       true,
       false,
       FailureKind::authz_mismatch,
       true},
      {"mandatory extension",
       "n,,m=ext,n=user,r=abcdefghij",
       {},
       true,
       false,
       FailureKind::malformed,
       true},
      {"no user", "n,,r=abcdefghij", {}, true, false, FailureKind::malformed, true},
      {"empty user", "n,,n=,r=abcdefghij", {}, true, false, FailureKind::malformed, true},
      {"bad saslname escape",
       "n,,n=us=41er,r=abcdefghij",
       {},
       true,
       false,
       FailureKind::malformed,
       true},
      {"NUL in user", "n,,n=us\0er,r=abcdefghij"s, {}, true, false, FailureKind::malformed, true},
      {"no nonce", "n,,n=user", {}, true, false, FailureKind::malformed, true},
      {"nonce with a space", "n,,n=user,r=abc def", {}, true, false, FailureKind::malformed, true},
      {"attributes swapped",
       "n,,r=abcdefghij,n=user",
       {},
       true,
       false,
       FailureKind::malformed,
       true},
      {"malformed extension", cf + ",xyz", {}, true, false, FailureKind::malformed, true},
      {"user too long",
       "n,,n=" + std::string(max_field_octets + 1, 'u') + ",r=abc",
       {},
       true,
       false,
       FailureKind::field_too_long,
       true},
  };
  for (const Exchange& x : table) {
    SCOPED_TRACE(x.name);
    SaslServer server(SaslOptions{[] { return std::string("SERVERNONCE"); }, "test secret"});
    Step step = server.start(Mechanism::scram_sha_256, b64(x.client_first));
    if (x.fails_at_first) {
      ASSERT_TRUE(std::holds_alternative<Failed>(step));
      EXPECT_EQ(std::get<Failed>(step).kind, x.kind) << std::get<Failed>(step).reason;
      continue;
    }
    ASSERT_TRUE(std::holds_alternative<NeedCredentials>(step));
    std::optional<ScramCredentials> credentials;
    if (x.known_user) credentials = pencil();
    step = server.provide(std::move(credentials));
    ASSERT_TRUE(std::holds_alternative<Challenge>(step));
    std::string server_first = unb64(std::get<Challenge>(step).text);
    EXPECT_TRUE(server_first.starts_with("r=abcdefghijSERVERNONCE,s=")) << server_first;
    step = server.respond(b64(x.final(x.client_first, server_first)));
    if (!x.ok) {
      ASSERT_TRUE(std::holds_alternative<Failed>(step));
      EXPECT_EQ(std::get<Failed>(step).kind, x.kind) << std::get<Failed>(step).reason;
      EXPECT_EQ(std::get<Failed>(step).reason.find("pencil"), std::string::npos);
      continue;
    }
    ASSERT_TRUE(std::holds_alternative<Challenge>(step)) << std::get<Failed>(step).reason;
    EXPECT_TRUE(unb64(std::get<Challenge>(step).text).starts_with("v="));
    step = server.respond("");
    ASSERT_TRUE(std::holds_alternative<Authenticated>(step));
  }
}

TEST(AuthScram, UnknownUsersLookLikeKnownOnes) {
  // RFC 5802 §9: a stable salt per user, the default iteration count, no error before the
  // proof; another secret (another server) gives other salts.
  auto server_first = [](std::string_view user, std::string secret) {
    SaslServer server(SaslOptions{[] { return std::string("N"); }, std::move(secret)});
    (void)server.start(Mechanism::scram_sha_256, b64("n,,n=" + std::string(user) + ",r=c"));
    return unb64(std::get<Challenge>(server.provide(std::nullopt)).text);
  };
  std::string ghost = server_first("ghost", "secret one");
  EXPECT_EQ(ghost, server_first("ghost", "secret one"));
  EXPECT_NE(ghost, server_first("phantom", "secret one"));
  EXPECT_NE(ghost, server_first("ghost", "secret two"));
  EXPECT_TRUE(ghost.ends_with(",i=4096")) << ghost;
  auto salt =
      base64_decode(ghost.substr(ghost.find(",s=") + 3, ghost.find(",i=") - ghost.find(",s=") - 3));
  ASSERT_TRUE(salt);
  EXPECT_EQ(salt->size(), 16u);
}

TEST(AuthScram, DefaultNoncesAreRandom) {
  auto server_nonce = [] {
    SaslServer server;
    (void)server.start(Mechanism::scram_sha_256, b64("n,,n=user,r=c"));
    std::string first = unb64(std::get<Challenge>(server.provide(pencil())).text);
    return first.substr(2, first.find(',') - 2);
  };
  std::string a = server_nonce(), b = server_nonce();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 1u + 24u);  // the client's "c" and 18 octets in base64
  EXPECT_EQ(a.find(','), std::string::npos);
}

TEST(AuthScram, CallerMistakesAndCancelsAtEveryStage) {
  // A line while credentials are being looked up, provide out of turn.
  {
    SaslServer server = server_with_rfc_nonce();
    ASSERT_TRUE(std::holds_alternative<Failed>(server.provide(pencil())));
  }
  {
    SaslServer server = server_with_rfc_nonce();
    (void)server.start(Mechanism::scram_sha_256, b64(rfc_client_first));
    auto step = server.respond(b64(rfc_client_final));
    ASSERT_TRUE(std::holds_alternative<Failed>(step));
    EXPECT_EQ(std::get<Failed>(step).kind, FailureKind::out_of_order);
  }
  // "*" at each point where the client speaks; "=" (empty) and data after server-final.
  struct Case {
    const char* name;
    int stage;  // client lines sent right before `last`: 0 none, 1 client-first, 2 +final
    std::string last;
    FailureKind kind;
  } table[] = {
      {"cancel client-first", 0, "*", FailureKind::cancelled},
      {"empty client-first", 0, "", FailureKind::malformed},
      {"cancel client-final", 1, "*", FailureKind::cancelled},
      {"cancel after server-final", 2, "*", FailureKind::cancelled},
      {"data after server-final", 2, b64("v=x"), FailureKind::malformed},
  };
  for (const Case& c : table) {
    SCOPED_TRACE(c.name);
    SaslServer server = server_with_rfc_nonce();
    Step step = server.start(Mechanism::scram_sha_256, std::nullopt);
    if (c.stage >= 1) {
      (void)server.respond(b64(rfc_client_first));
      step = server.provide(pencil());
    }
    if (c.stage >= 2) step = server.respond(b64(rfc_client_final));
    ASSERT_TRUE(std::holds_alternative<Challenge>(step));
    step = server.respond(c.last);
    ASSERT_TRUE(std::holds_alternative<Failed>(step));
    EXPECT_EQ(std::get<Failed>(step).kind, c.kind);
  }
}

TEST(AuthScram, MechanismNameAndReplies) {
  EXPECT_EQ(parse_mechanism("scram-sha-256"), Mechanism::scram_sha_256);
  EXPECT_EQ(mechanism_name(Mechanism::scram_sha_256), "SCRAM-SHA-256");
  EXPECT_FALSE(parse_mechanism("SCRAM-SHA-256-PLUS"));
  EXPECT_FALSE(parse_mechanism("SCRAM-SHA-1"));
  EXPECT_EQ(reply_for(FailureKind::bad_proof).code, 535);
  EXPECT_EQ(reply_for(FailureKind::channel_binding).code, 504);
  EXPECT_EQ(reply_for(FailureKind::temporary).code, 454);
}

TEST(AuthScram, DecodesSaslnames) {
  const std::pair<std::string_view, std::optional<std::string>> table[] = {
      {"user", "user"},       {"a=2Cb", "a,b"},     {"=3D=3D", "=="},      {"", ""},
      {"a=2c", std::nullopt}, {"a=", std::nullopt}, {"a=3", std::nullopt}, {"a,b", std::nullopt},
  };
  for (auto [text, want] : table) EXPECT_EQ(decode_saslname(text), want) << text;
}

TEST(AuthScram, ReadsDovecotCredentials) {
  auto c = parse_dovecot_scram(doveadm_secret);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->iterations, 4096u);
  EXPECT_TRUE(check_scram_password("secret", *c));
  EXPECT_FALSE(check_scram_password("Secret", *c));
  EXPECT_EQ(format_dovecot_scram(*c), doveadm_secret);
  // Our derivation agrees with Dovecot's for the same salt.
  ScramCredentials ours = derive_scram_credentials("secret", c->salt, 4096);
  EXPECT_EQ(ours.stored_key, c->stored_key);
  EXPECT_EQ(ours.server_key, c->server_key);
}

TEST(AuthScram, RefusesMalformedDovecotCredentials) {
  const std::string key = b64(std::string(32, 'k'));
  const std::string salt = b64("saltsaltsaltsalt");
  const std::string table[] = {
      "",
      "4096," + salt + "," + key,                     // three fields
      "4096," + salt + "," + key + "," + key + ",x",  // five
      "4095," + salt + "," + key + "," + key,         // under RFC 7677's minimum
      "1000001," + salt + "," + key + "," + key,      // over our maximum
      "4096x," + salt + "," + key + "," + key,        // not a number
      "-4096," + salt + "," + key + "," + key,
      "4096,," + key + "," + key,                        // empty salt
      "4096," + salt + ",AAAA," + key,                   // short key
      "4096," + salt + "," + key + "," + key.substr(1),  // not base64
  };
  for (const std::string& text : table) {
    auto c = parse_dovecot_scram(text);
    EXPECT_FALSE(c) << text;
    if (!c) {
      EXPECT_EQ(c.error().message.find(key), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace tern::auth
