// [transport] values: maildir, discard, lmtp:unix:/path, lmtp:[host]:port, smtp:[host]:port,
// smtp:domain, error:CODE [X.Y.Z] TEXT; what each parses to, which domains count as ours,
// and the values that are errors.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config/config.hpp"

namespace tern::config {
namespace {

Result<std::shared_ptr<const Config>> load_transport(const std::string& value) {
  static int n = 0;
  auto path = std::filesystem::temp_directory_path() /
              ("tern-transport-" + std::to_string(::getpid()) + "-" + std::to_string(n++) +
               ".toml");
  std::ofstream(path) << "[server]\nhostname = \"mx.example.test\"\n[spool]\npath = \"s\"\n"
                         "[[listener]]\naddress = \"127.0.0.1:2525\"\n"
                         "[delivery.maildir]\nroot = \"m\"\n[transport]\n\"x.test\" = \""
                      << value << "\"\n";
  auto c = load(path.string());
  std::filesystem::remove(path);
  return c;
}

const Transport& transport(const std::string& value) {
  static std::shared_ptr<const Config> keep;
  auto c = load_transport(value);
  EXPECT_TRUE(c.ok()) << value << ": " << c.error().message;
  keep = *c;
  return *keep->transport_for("x.test");
}

TEST(Transport, LocalKinds) {
  EXPECT_EQ(transport("maildir").kind, TransportKind::maildir);
  EXPECT_EQ(transport("discard").kind, TransportKind::discard);
  EXPECT_TRUE(transport("discard").accepts_mail());
}

TEST(Transport, LmtpUnixSocket) {
  const auto& t = transport("lmtp:unix:/run/dovecot/lmtp");
  EXPECT_EQ(t.kind, TransportKind::lmtp);
  EXPECT_EQ(t.socket_path, "/run/dovecot/lmtp");
  EXPECT_TRUE(t.accepts_mail());
}

TEST(Transport, LmtpTcp) {
  struct Case {
    const char* value;
    const char* host;
    std::uint16_t port;
  };
  for (auto c : {Case{"lmtp:[127.0.0.1]:2424", "127.0.0.1", 2424},
                 Case{"lmtp:[::1]:24", "::1", 24}, Case{"lmtp:[127.0.0.1]", "127.0.0.1", 24},
                 Case{"lmtp:mailstore.example:2003", "mailstore.example", 2003}}) {
    const auto& t = transport(c.value);
    EXPECT_EQ(t.kind, TransportKind::lmtp) << c.value;
    EXPECT_TRUE(t.socket_path.empty()) << c.value;
    EXPECT_EQ(t.host, c.host) << c.value;
    EXPECT_EQ(t.port, c.port) << c.value;
  }
}

TEST(Transport, SmtpNextHopRoutesButDoesNotAccept) {
  const auto& bracketed = transport("smtp:[relay.example]:587");
  EXPECT_EQ(bracketed.kind, TransportKind::smtp);
  EXPECT_EQ(bracketed.host, "relay.example");
  EXPECT_EQ(bracketed.port, 587);
  EXPECT_FALSE(bracketed.accepts_mail());
  const auto& mx = transport("smtp:example.net");
  EXPECT_EQ(mx.domain, "example.net");
  EXPECT_TRUE(mx.host.empty());
  EXPECT_EQ(mx.port, 25);
}

TEST(Transport, ErrorReply) {
  const auto& full = transport("error:550 5.1.6 moved to new.example");
  EXPECT_EQ(full.kind, TransportKind::error);
  EXPECT_EQ(full.code, 550);
  EXPECT_EQ(full.dsn, "5.1.6");
  EXPECT_EQ(full.text, "moved to new.example");
  const auto& bare = transport("error:451");
  EXPECT_EQ(bare.code, 451);
  EXPECT_EQ(bare.dsn, "4.0.0");
  EXPECT_FALSE(bare.text.empty());
  // An enhanced code of the other class is just text.
  const auto& other = transport("error:450 5.1.1 hm");
  EXPECT_EQ(other.dsn, "4.0.0");
  EXPECT_EQ(other.text, "5.1.1 hm");
}

TEST(Transport, BadValuesAreErrorsWithTheLine) {
  for (const char* v :
       {"", "lmtp", "lmtp:", "lmtp:unix:", "lmtp:unix:relative", "lmtp:[127.0.0.1]:0",
        "lmtp:[127.0.0.1]:65536", "smtp:", "error:", "error:250 ok", "error:5", "error:5500",
        "maildir:x", "discard:", "pipe:/bin/cat", "LMTP:unix:/x"}) {
    auto c = load_transport(v);
    ASSERT_FALSE(c.ok()) << v;
    EXPECT_NE(c.error().message.find(":10: transport.x.test"), std::string::npos)
        << v << ": " << c.error().message;
  }
  std::string long_path = "lmtp:unix:/" + std::string(120, 'p');
  EXPECT_FALSE(load_transport(long_path).ok());
}

}  // namespace
}  // namespace tern::config
