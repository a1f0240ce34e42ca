// [transport] values: maildir, discard, mbox, lmtp:unix:/path, lmtp:[host]:port,
// smtp:[host]:port, smtp:domain, pipe:/program args, error:CODE [X.Y.Z] TEXT; what each
// parses to, which domains count as ours, the "*" default transport, [delivery.mbox] and
// [delivery.pipe], and the values that are errors.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config/config.hpp"

namespace tern::config {
namespace {

// A configuration whose last lines (from line 9 on) are `tail`.
// Mailbox domains must say which local parts exist: these tests take every one.
std::string with_catch_all(std::string tail) {
  auto at = tail.find("[domains]\n");
  // Appended, so the line numbers of `tail` stay as the tests expect them.
  if (at == std::string::npos) return tail + "\n[domains]\ncatch_all = true\n";
  return tail.insert(at + 10, "catch_all = true\n");
}

Result<std::shared_ptr<const Config>> load_text(const std::string& tail) {
  static int n = 0;
  auto path = std::filesystem::temp_directory_path() /
              ("tern-transport-" + std::to_string(::getpid()) + "-" + std::to_string(n++) +
               ".toml");
  std::ofstream(path) << "[server]\nhostname = \"mx.example.test\"\n[spool]\npath = \"s\"\n"
                         "[[listener]]\naddress = \"127.0.0.1:2525\"\n"
                         "[delivery.maildir]\nroot = \"m\"\n"
                      << with_catch_all(tail);
  auto c = load(path.string());
  std::filesystem::remove(path);
  return c;
}

Result<std::shared_ptr<const Config>> load_transport(const std::string& value) {
  return load_text("[transport]\n\"x.test\" = \"" + value + "\"\n");
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
  EXPECT_EQ(transport("mbox").kind, TransportKind::mbox);
  EXPECT_TRUE(transport("mbox").accepts_mail());
}

TEST(Transport, PipeArgvIsSplitWithMacrosKept) {
  const auto& t = transport("pipe:/usr/bin/prog  -f ${sender}\t--to=${user}+${extension}");
  EXPECT_EQ(t.kind, TransportKind::pipe);
  EXPECT_TRUE(t.accepts_mail());
  EXPECT_EQ(t.argv, (std::vector<std::string>{"/usr/bin/prog", "-f", "${sender}",
                                              "--to=${user}+${extension}"}));
}

TEST(Transport, StarIsTheDefaultForUnlistedDomains) {
  auto c = load_text("[domains]\nlocal = [\"example.test\"]\n[transport]\n\"*\" = \"mbox\"\n"
                     "\"y.test\" = \"smtp:[relay.example]\"\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ((*c)->transport_for("anything.example")->kind, TransportKind::mbox);
  EXPECT_EQ((*c)->transport_for("example.test")->kind, TransportKind::maildir);
  EXPECT_EQ((*c)->transport_for("y.test")->kind, TransportKind::smtp);
  auto none = load_text("");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ((*none)->transport_for("anything.example"), nullptr);  // MX or smarthost
}

TEST(Transport, MboxAndPipeSettings) {
  auto d = load_text("");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)->local_delivery.mbox_directory, "/var/mail");
  EXPECT_EQ((*d)->local_delivery.pipe_user, "nobody");
  auto c = load_text("[delivery.mbox]\ndirectory = \"/srv/mail\"\n[delivery.pipe]\nuser = \"mail\"\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ((*c)->local_delivery.mbox_directory, "/srv/mail");
  EXPECT_EQ((*c)->local_delivery.pipe_user, "mail");
  for (const char* bad : {"[delivery.mbox]\ndirectory = \"relative\"\n",
                          "[delivery.pipe]\nuser = \"root\"\n",
                          "[delivery.pipe]\nuser = \"\"\n", "[delivery.pipe]\nhome = \"/\"\n"}) {
    auto b = load_text(bad);
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_NE(b.error().message.find(":10:"), std::string::npos) << b.error().message;
  }
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
  // Bare "smtp": the recipient domain's own MX hosts (no host, no domain of its own).
  const auto& bare = transport("smtp");
  EXPECT_EQ(bare.kind, TransportKind::smtp);
  EXPECT_TRUE(bare.host.empty() && bare.domain.empty());
  EXPECT_FALSE(bare.accepts_mail());
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
        "maildir:x", "discard:", "mbox:/var/mail", "pipe:", "pipe:bin/cat",
        "pipe:${user}", "pipe:/bin/x ${nope}", "pipe:/bin/x ${user", "LMTP:unix:/x"}) {
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
