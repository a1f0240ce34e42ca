// Password file backend: parsing (comments, blank lines, addresses as users, file:line
// errors), refused schemes, and verification with libxcrypt against hashes made at test time
// with crypt_gensalt_rn + crypt_rn for $y$, $6$ and $2b$, plus fixed vectors written by
// `doveadm pw` (Dovecot 2.3) and Python's crypt module; `{SCRAM-SHA-256}` entries beside
// crypt hashes (PLAIN against them, SCRAM credentials for them only, a whole exchange).
#include "auth/password_file.hpp"

#include <crypt.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "scram_client.hpp"

namespace tern::auth {
namespace {

// A crypt(3) hash of `password` made now, at a low cost so the tests stay fast.
std::string make_hash(const char* prefix, unsigned long cost, const char* password) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!crypt_gensalt_rn(prefix, cost, nullptr, 0, setting, sizeof setting)) return "";
  crypt_data data{};
  const char* out = crypt_rn(password, setting, &data, sizeof data);
  return out && out[0] != '*' ? out : "";
}

Result<bool> verify(PasswordFile& file, std::string_view user, std::string_view password) {
  return file.verify(user, password);
}

TEST(AuthPasswordFile, VerifiesHashesMadeAtTestTime) {
  struct Case {
    const char* prefix;
    unsigned long cost;
    const char* scheme;  // Dovecot prefix to put in front, or ""
  } table[] = {
      {"$y$", 1, ""},     {"$6$", 1000, ""}, {"$2b$", 4, ""},
      {"$6$", 1000, "{SHA512-CRYPT}"}, {"$y$", 1, "{CRYPT}"}, {"$2b$", 4, "{BLF-CRYPT}"},
  };
  for (const Case& c : table) {
    SCOPED_TRACE(std::string(c.scheme) + c.prefix);
    std::string hash = make_hash(c.prefix, c.cost, "correct horse");
    ASSERT_TRUE(hash.starts_with(c.prefix)) << hash;
    auto file = PasswordFile::parse("alice@example.org:" + std::string(c.scheme) + hash + "\n",
                                    "test.passwd");
    ASSERT_TRUE(file) << file.error().message;
    EXPECT_TRUE((*file)->warnings().empty());
    auto good = verify(**file, "alice@example.org", "correct horse");
    ASSERT_TRUE(good);
    EXPECT_TRUE(*good);
    for (const char* wrong : {"correct horsE", "correct hors", "", "correct horse "}) {
      auto bad = verify(**file, "alice@example.org", wrong);
      ASSERT_TRUE(bad);
      EXPECT_FALSE(*bad) << wrong;
    }
    auto unknown = verify(**file, "bob@example.org", "correct horse");
    ASSERT_TRUE(unknown);
    EXPECT_FALSE(*unknown);
  }
}

TEST(AuthPasswordFile, VerifiesFixedVectors) {
  // All are "correct horse". doveadm pw -s SHA512-CRYPT / -s BLF-CRYPT -r 5 (Dovecot 2.3.19);
  // the yescrypt one is Python's crypt.crypt with a chosen salt.
  const char* text =
      "# written by doveadm pw\n"
      "sha512:{SHA512-CRYPT}$6$0BFQUVClEx.MELqY$sAIxxVafknZCX9fjATvbk91QD7i2sKNyZZRzW6aFfa2aZJUEgDv/"
      "fN3YiyiEYyrzQFDAMhHb3.pQwWVOVn7Np1\n"
      "blf:{BLF-CRYPT}$2y$05$n3a6pZislplMdh07VVNbC.AbB83Fg91hZ0k85pTpN8cf5xsmYzgbq\n"
      "sha512-bare:$6$2PxZtI4jDWZ5FSvx$SIw7GJ7jxNcCoZWzscd2QAmHnmX3IZXN9Flg7vwQ5GuSPCx6QeE7lX6QkKncpr"
      "SwFo2SdyqkwZ4uEWyC1lMNt.\n"
      "yescrypt:$y$j9T$F5Jx5fExrKuPp53xLKQ..1$zwtVrjrUCmXcyLTs6oxLTQlzifSUkF8RHJ./tK5KU79\n";
  auto file = PasswordFile::parse(text, "vectors");
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ((*file)->size(), 4u);
  for (const char* user : {"sha512", "blf", "sha512-bare", "yescrypt"}) {
    auto good = verify(**file, user, "correct horse");
    ASSERT_TRUE(good) << user;
    EXPECT_TRUE(*good) << user;
    auto bad = verify(**file, user, "correct horse battery");
    ASSERT_TRUE(bad) << user;
    EXPECT_FALSE(*bad) << user;
  }
}

TEST(AuthPasswordFile, ParsesCommentsBlankLinesAndAddresses) {
  std::string y = make_hash("$y$", 1, "pw");
  std::string text = "# users\n\n   \n  # indented comment\nalice:" + y +
                     "\r\n"
                     "bob@example.org : " + y + "  \n"
                     "last:" + y;  // no final newline
  auto file = PasswordFile::parse(text, "f");
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ((*file)->size(), 3u);
  ASSERT_TRUE((*file)->find("alice"));
  EXPECT_EQ((*file)->find("alice")->line, 5u);
  ASSERT_TRUE((*file)->find("bob@example.org"));
  EXPECT_EQ((*file)->find("bob@example.org")->hash, y);
  EXPECT_TRUE((*file)->find("last"));
  EXPECT_FALSE((*file)->find("Alice"));
}

TEST(AuthPasswordFile, SyntaxErrorsNameFileAndLine) {
  std::string y = make_hash("$y$", 1, "pw");
  struct Case {
    std::string text;
    std::string error;
  } table[] = {
      {"# c\nalice\n", "users:2: expected user:hash"},
      {":" + y + "\n", "users:1: empty user name"},
      {"alice:\n", "users:1: no password hash for alice"},
      {"alice:" + y + ":1000:1000::/home/alice\n", "users:1: more than one ':'"},
      {"alice:" + y + "\n\nalice:" + y + "\n", "users:3: user alice already defined on line 1"},
  };
  for (const Case& c : table) {
    auto file = PasswordFile::parse(c.text, "users");
    ASSERT_FALSE(file) << c.text;
    EXPECT_TRUE(file.error().message.starts_with(c.error)) << file.error().message;
  }
}

TEST(AuthPasswordFile, RefusesPlaintextAndWeakSchemes) {
  struct Case {
    const char* stored;
    const char* why;  // part of the warning
  } table[] = {
      {"hunter2", "not a crypt(3) hash"},
      {"{PLAIN}hunter2", "{PLAIN} is not supported"},
      {"{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "{SSHA} is not supported"},
      {"{SHA512-CRYPT", "unterminated"},
      {"$1$abcdefgh$IrmUZBfOl3Iy6J4yRUvKg0", "$1$ is not accepted"},      // MD5-crypt
      {"abJnggxhB/yWI", "not a crypt(3) hash"},                           // DES
      {"{BLF-CRYPT}$6$0BFQUVClEx.MELqY$sAIxxVafknZCX9fjATvbk91QD7i2sKNyZZRzW6aFfa2aZJUEgDv/"
       "fN3YiyiEYyrzQFDAMhHb3.pQwWVOVn7Np1",
       "does not match"},
      {"$y$", "malformed"},
      {"$6$saltsalt$", "malformed"},  // a setting, no hash
      {"$6$rounds=1000$saltsalt$!!!", "malformed"},
  };
  for (const Case& c : table) {
    SCOPED_TRACE(c.stored);
    auto file = PasswordFile::parse(std::string("carol:") + c.stored + "\n", "users");
    ASSERT_TRUE(file) << file.error().message;  // a refused hash does not fail the load
    ASSERT_EQ((*file)->warnings().size(), 1u);
    const std::string& warning = (*file)->warnings()[0];
    EXPECT_TRUE(warning.starts_with("users:1: user carol cannot log in")) << warning;
    EXPECT_NE(warning.find(c.why), std::string::npos) << warning;
    EXPECT_EQ(warning.find("hunter2"), std::string::npos) << "a plaintext password was echoed";
    auto result = verify(**file, "carol", "hunter2");
    ASSERT_TRUE(result);
    EXPECT_FALSE(*result);
  }
}

TEST(AuthPasswordFile, OverlongOrNulPasswordsNeverMatch) {
  std::string y = make_hash("$y$", 1, "pw");
  auto file = PasswordFile::parse("alice:" + y + "\n", "f");
  ASSERT_TRUE(file);
  auto nul = verify(**file, "alice", std::string_view("pw\0x", 4));
  ASSERT_TRUE(nul);
  EXPECT_FALSE(*nul);
  auto huge = verify(**file, "alice", std::string(CRYPT_MAX_PASSPHRASE_SIZE, 'p'));
  ASSERT_TRUE(huge);
  EXPECT_FALSE(*huge);
}

TEST(AuthPasswordFile, LoadsFromDiskAndReportsMissingFiles) {
  auto dir = std::filesystem::temp_directory_path() /
             ("tern-auth-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / "passwd";
  {
    std::ofstream out(path);
    out << "# test\nalice@example.org:" << make_hash("$6$", 1000, "s3cret") << "\n";
  }
  auto file = PasswordFile::load(path);
  ASSERT_TRUE(file) << file.error().message;
  auto good = verify(**file, "alice@example.org", "s3cret");
  ASSERT_TRUE(good);
  EXPECT_TRUE(*good);

  auto missing = PasswordFile::load(dir / "nope");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(AuthPasswordFile, ServesScramCredentialsBesideCrypt) {
  auto file = PasswordFile::parse(
      "scram@example.org:{SCRAM-SHA-256}" + std::string(doveadm_secret) + "\n"
      "crypt@example.org:" + make_hash("$6$", 1000, "secret") + "\n"
      "weak@example.org:{SCRAM-SHA-256}1000," + b64("salt") + "," + b64(std::string(32, 'k')) + "," +
          b64(std::string(32, 'k')) + "\n",
      "test.passwd");
  ASSERT_TRUE(file) << file.error().message;
  PasswordFile& f = **file;
  EXPECT_TRUE(f.supports_scram());
  ASSERT_EQ(f.warnings().size(), 1u);
  EXPECT_NE(f.warnings()[0].find("test.passwd:3: user weak@example.org cannot log in"), std::string::npos)
      << f.warnings()[0];
  // PLAIN/LOGIN against the SCRAM entry.
  EXPECT_TRUE(*f.verify("scram@example.org", "secret"));
  EXPECT_FALSE(*f.verify("scram@example.org", "secret2"));
  EXPECT_FALSE(*f.verify("weak@example.org", "secret"));
  EXPECT_TRUE(*f.verify("crypt@example.org", "secret"));
  // SCRAM credentials only for the SCRAM user.
  auto scram = f.scram_credentials("scram@example.org");
  ASSERT_TRUE(scram && *scram);
  EXPECT_EQ((*scram)->iterations, 4096u);
  for (const char* user : {"crypt@example.org", "weak@example.org", "nobody@example.org"}) {
    auto none = f.scram_credentials(user);
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none) << user;
  }
  // A whole exchange with the file's credentials, and the context overload of verify.
  SaslServer server(SaslOptions{[] { return std::string("S"); }, "test secret"});
  const std::string first = "n,,n=scram@example.org,r=cnonce";
  Step step = server.start(Mechanism::scram_sha_256, b64(first));
  ASSERT_TRUE(std::holds_alternative<NeedCredentials>(step));
  auto credentials = f.scram_credentials(std::get<NeedCredentials>(step).user);
  step = server.provide(std::move(**credentials));
  std::string server_first = unb64(std::get<Challenge>(step).text);
  step = server.respond(b64(client_final(first, server_first, "secret")));
  ASSERT_TRUE(std::holds_alternative<Challenge>(step)) << std::get<Failed>(step).reason;
  EXPECT_TRUE(std::holds_alternative<Authenticated>(server.respond("")));
  EXPECT_TRUE(*f.verify("scram@example.org", "secret", ClientContext{"192.0.2.1", "", 0, 0, true}));
}

TEST(AuthPasswordFile, WithoutScramEntriesDoesNotOfferScram) {
  auto file = PasswordFile::parse("a:" + make_hash("$6$", 1000, "x") + "\n", "t");
  ASSERT_TRUE(file);
  EXPECT_FALSE((*file)->supports_scram());
}

}  // namespace
}  // namespace tern::auth
