// DovecotBackend against a scripted fake auth server (fake_dovecot.hpp): each reply Dovecot
// may give (OK, FAIL, FAIL temp, nologin, CONT) and garbage, handshakes good and bad,
// timeouts, a missing socket, the request line byte for byte with the client context and
// tab escaping, connection reuse and the retry after Dovecot drops an idle connection.
#include "auth/dovecot.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include "auth/sasl.hpp"
#include "fake_dovecot.hpp"

namespace tern::auth {
namespace {

using namespace std::literals;
using testing::FakeDovecot;
using testing::FakePeer;

// A short timeout where a test waits for it; otherwise enough for a loaded machine.
constexpr std::chrono::milliseconds short_timeout{300};

DovecotBackend backend_for(const FakeDovecot& fake, std::chrono::milliseconds timeout = 5s) {
  return DovecotBackend(DovecotOptions{fake.socket(), timeout});
}

// Does the handshake, then answers each AUTH request with `reply` ("{id}" = its id) until
// the client goes away.
FakeDovecot::Script answering(std::string reply,
                              std::string_view handshake = testing::dovecot_handshake) {
  return [reply = std::move(reply), handshake](FakePeer& peer, int) {
    if (!testing::fake_handshake(peer, handshake)) return;
    while (auto line = peer.read_line()) {
      std::string id = testing::request_id(*line);
      if (id.empty()) return;
      peer.send(testing::with_id(reply, id));
    }
  };
}

// The outcome a case expects: true, false, or an error whose message holds `error`.
struct Outcome {
  std::optional<bool> verdict;
  std::string error{};
};

void expect_outcome(const Result<bool>& got, const Outcome& want) {
  if (want.verdict) {
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(*got, *want.verdict);
  } else {
    ASSERT_FALSE(got) << "verdict " << *got;
    EXPECT_NE(got.error().message.find(want.error), std::string::npos) << got.error().message;
    EXPECT_EQ(got.error().message.find("hunter2"), std::string::npos);
  }
}

// One verify of alice/hunter2 against a fake running `script`.
void expect_verify(FakeDovecot::Script script, const Outcome& want,
                   std::chrono::milliseconds timeout = 5s) {
  FakeDovecot fake(std::move(script));
  auto backend = backend_for(fake, timeout);
  expect_outcome(backend.verify("alice", "hunter2"), want);
}

TEST(AuthDovecot, RepliesBecomeVerdictsOrErrors) {
  struct Case {
    const char* name;
    std::string reply;
    Outcome want;
  } table[] = {
      {"OK", "OK\t{id}\tuser=alice\n", {true}},
      {"FAIL", "FAIL\t{id}\tuser=alice\n", {false}},
      {"FAIL with reason", "FAIL\t{id}\tuser=alice\treason=Password expired\n", {false}},
      {"OK but nologin", "OK\t{id}\tuser=alice\tnologin\treason=Go away\n", {false}},
      {"FAIL temp", "FAIL\t{id}\tuser=alice\ttemp\n", {std::nullopt, "temporary failure"}},
      {"FAIL code=temp_fail", "FAIL\t{id}\tcode=temp_fail\n", {std::nullopt, "temporary failure"}},
      {"CONT for PLAIN", "CONT\t{id}\t\n", {std::nullopt, "unexpected reply"}},
      {"garbage", "HELLO WORLD\n", {std::nullopt, "unexpected reply"}},
      {"binary garbage", "\x01\x02\x03\xff\n", {std::nullopt, "unexpected reply \"????\""}},
      {"OK without id", "OK\n", {std::nullopt, "unexpected reply"}},
      {"OK for another id", "OK\t{id}9\tuser=alice\n", {std::nullopt, "another request"}},
      {"endless line", std::string(max_dovecot_line_octets + 10, 'x'), {std::nullopt, "too long"}},
  };
  for (const Case& c : table) {
    SCOPED_TRACE(c.name);
    expect_verify(answering(c.reply), c.want);
  }
}

TEST(AuthDovecot, HandshakesAreChecked) {
  struct Case {
    const char* name;
    std::string handshake;
    Outcome want;
  } table[] = {
      {"unknown lines and a newer minor version",
       "VERSION\t1\t3\nMECH\tPLAIN\tplaintext\nFUTURE\tx\nSPID\t1\nCUID\t2\nCOOKIE\tc\nDONE\n",
       {true}},
      {"no VERSION first", "MECH\tPLAIN\nVERSION\t1\t2\nDONE\n", {std::nullopt, "VERSION"}},
      {"major version 2", "VERSION\t2\t0\nMECH\tPLAIN\nDONE\n", {std::nullopt, "protocol version"}},
      {"no PLAIN",
       "VERSION\t1\t2\nMECH\tLOGIN\tplaintext\nMECH\tCRAM-MD5\nDONE\n",
       {std::nullopt, "does not offer PLAIN"}},
      {"empty MECH", "VERSION\t1\t2\nMECH\nDONE\n", {std::nullopt, "malformed"}},
      {"SMTP greeting: not Dovecot", "220 mail.example.org ESMTP\n", {std::nullopt, "VERSION"}},
  };
  for (const Case& c : table) {
    SCOPED_TRACE(c.name);
    expect_verify(answering("OK\t{id}\n", c.handshake), c.want);
  }
}

TEST(AuthDovecot, ClosedOrSilentServersAreErrors) {
  struct Case {
    const char* name;
    FakeDovecot::Script script;
    std::string error;
  } table[] = {
      {"closes at once", [](FakePeer&, int) {}, "closed the connection"},
      {"closes in the handshake",
       [](FakePeer& peer, int) { peer.send("VERSION\t1\t2\nMECH\tPLAIN\n"); },
       "closed the connection"},
      {"closes instead of replying",
       [](FakePeer& peer, int) {
         testing::fake_handshake(peer);
         (void)peer.read_line();
       },
       "closed the connection"},
      {"silent after connect", [](FakePeer& peer, int) { peer.wait_for_close(); }, "in time"},
      {"handshake without DONE",
       [](FakePeer& peer, int) {
         peer.send("VERSION\t1\t2\nMECH\tPLAIN\n");
         peer.wait_for_close();
       },
       "in time"},
      {"no reply",
       [](FakePeer& peer, int) {
         testing::fake_handshake(peer);
         peer.wait_for_close();
       },
       "in time"},
  };
  for (const Case& c : table) {
    SCOPED_TRACE(c.name);
    expect_verify(c.script, {std::nullopt, c.error}, short_timeout);
  }
}

TEST(AuthDovecot, MissingOrBadSocketIsAnError) {
  DovecotBackend missing(DovecotOptions{"/tmp/tern-no-such-dir/auth-client"});
  expect_outcome(missing.verify("alice", "hunter2"),
                 {std::nullopt, "/tmp/tern-no-such-dir/auth-client: connect: No such file"});
  DovecotBackend too_long(DovecotOptions{"/tmp/" + std::string(200, 'x')});
  expect_outcome(too_long.verify("alice", "hunter2"), {std::nullopt, "too long"});
  DovecotBackend empty(DovecotOptions{""});
  expect_outcome(empty.verify("alice", "hunter2"), {std::nullopt, "empty"});
}

TEST(AuthDovecot, SendsTheHandshakeAndOneRequestLine) {
  FakeDovecot fake(answering("OK\t{id}\n"));
  auto backend = backend_for(fake);
  ClientContext client{"198.51.100.7", "192.0.2.25", 40000, 587, true};
  auto ok = backend.verify("alice@example.org", "pa\tss word", client);
  ASSERT_TRUE(ok && *ok);
  EXPECT_EQ(fake.lines(),
            (std::vector<std::string>{
                "VERSION\t1\t2",
                "CPID\t" + std::to_string(::getpid()),
                "AUTH\t1\tPLAIN\tservice=smtp\tsecured\tlip=192.0.2.25\trip=198.51.100.7\t"
                "lport=587\trport=40000\tresp=" +
                    base64_encode("\0alice@example.org\0pa\tss word"sv),
            }));
}

TEST(AuthDovecot, AuthenticateReturnsDovecotsNameForTheUser) {
  struct Case {
    const char* reply;
    std::optional<std::string> who;
  };
  const Case cases[] = {
      {"OK\t{id}\tuser=bob\n", "bob"},  // auth_username_format=%Ln dropped the domain
      {"OK\t{id}\n", "Bob@Tenant-B.example"},  // no user=: the name as typed
      {"OK\t{id}\tuser=b\001to\n", "b\to"},   // unescaped (\001t is a tab)
      {"FAIL\t{id}\tuser=bob\n", std::nullopt},
  };
  for (const auto& c : cases) {
    FakeDovecot fake(answering(c.reply));
    auto backend = backend_for(fake);
    auto who = backend.authenticate("Bob@Tenant-B.example", "pw", ClientContext{});
    ASSERT_TRUE(who) << c.reply;
    EXPECT_EQ(*who, c.who) << c.reply;
  }
}

TEST(AuthDovecot, RequestLinesCarryOnlyWhatIsKnownAndEscapeValues) {
  struct Case {
    const char* name;
    std::string service;
    ClientContext client;
    std::string want;  // between "AUTH\t5\tPLAIN\t" and "\tresp="
  } table[] = {
      {"nothing known", "smtp", {}, "service=smtp"},
      {"plain text, IPv6",
       "submission",
       {"2001:db8::1", "2001:db8::25", 0, 0, false},
       "service=submission\tlip=2001:db8::25\trip=2001:db8::1"},
      {"TLS only", "smtp", {"", "", 0, 0, true}, "service=smtp\tsecured"},
      {"tab, newline and \\001 escaped",
       "s\tm\nt\001p",
       {"a\tb", "", 0, 0, false},
       "service=s\001tm\001nt\0011p\trip=a\001tb"},
  };
  for (const Case& c : table) {
    SCOPED_TRACE(c.name);
    std::string line = dovecot_auth_request(5, c.service, "u", "p", c.client);
    EXPECT_EQ(line, "AUTH\t5\tPLAIN\t" + c.want + "\tresp=" + base64_encode("\0u\0p"sv) + "\n");
  }
}

TEST(AuthDovecot, EscapesAsDovecotDoes) {
  const std::pair<std::string_view, std::string_view> table[] = {
      {"plain", "plain"},
      {"a\tb", "a\001tb"},
      {"a\nb", "a\001nb"},
      {"a\rb", "a\001rb"},
      {"a\001b", "a\0011b"},
      {"\t\t", "\001t\001t"},
      {"", ""},
  };
  for (auto [raw, escaped] : table) {
    EXPECT_EQ(dovecot_escape(raw), escaped);
    EXPECT_EQ(dovecot_unescape(escaped), std::string(raw));
  }
  for (std::string_view bad : {"a\001", "a\001x", "\001\001"})
    EXPECT_FALSE(dovecot_unescape(bad)) << bad;
}

TEST(AuthDovecot, NulInNameOrPasswordFailsWithoutAsking) {
  FakeDovecot fake(answering("OK\t{id}\n"));
  auto backend = backend_for(fake);
  for (auto [user, password] :
       {std::pair{"al\0ice"sv, "pw"sv}, std::pair{"alice"sv, "p\0w"sv}, std::pair{""sv, "pw"sv}}) {
    auto r = backend.verify(user, password);
    ASSERT_TRUE(r);
    EXPECT_FALSE(*r);
  }
  EXPECT_EQ(fake.connections(), 0);
}

TEST(AuthDovecot, ReusesOneConnectionWithNewIds) {
  FakeDovecot fake(answering("OK\t{id}\n"));
  auto backend = backend_for(fake);
  for (int i = 0; i < 3; ++i) {
    auto r = backend.verify("alice", "pw");
    ASSERT_TRUE(r && *r);
  }
  EXPECT_EQ(fake.connections(), 1);
  std::vector<std::string> ids;
  for (const auto& line : fake.lines())
    if (auto id = testing::request_id(line); !id.empty()) ids.push_back(id);
  EXPECT_EQ(ids, (std::vector<std::string>{"1", "2", "3"}));
}

TEST(AuthDovecot, RetriesOnceWhenDovecotDroppedTheIdleConnection) {
  // The first connection answers one request and closes on reading the second (as a
  // restarting Dovecot would); the second connection answers.
  FakeDovecot fake([](FakePeer& peer, int n) {
    if (!testing::fake_handshake(peer)) return;
    auto line = peer.read_line();
    if (!line) return;
    if (n > 0) peer.send(testing::with_id("OK\t{id}\n", testing::request_id(*line)));
    if (n == 0) {
      peer.send(testing::with_id("FAIL\t{id}\n", testing::request_id(*line)));
      (void)peer.read_line();  // the second request: dropped unanswered
    }
  });
  auto backend = backend_for(fake);
  auto first = backend.verify("alice", "wrong");
  ASSERT_TRUE(first);
  EXPECT_FALSE(*first);
  auto second = backend.verify("alice", "right");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_TRUE(*second);
  EXPECT_EQ(fake.connections(), 2);
}

TEST(AuthDovecot, AFreshConnectionIsNotRetried) {
  // Only an idle connection may have gone stale; a new one that breaks is an error.
  FakeDovecot fake([](FakePeer& peer, int) {
    testing::fake_handshake(peer);
    (void)peer.read_line();
  });
  auto backend = backend_for(fake);
  expect_outcome(backend.verify("alice", "hunter2"), {std::nullopt, "closed the connection"});
  EXPECT_EQ(fake.connections(), 1);
}

TEST(AuthDovecot, ListsMechanisms) {
  FakeDovecot fake(answering("OK\t{id}\n"));
  auto backend = backend_for(fake);
  auto mechanisms = backend.mechanisms();
  ASSERT_TRUE(mechanisms) << mechanisms.error().message;
  EXPECT_EQ(*mechanisms, (std::vector<std::string>{"PLAIN", "LOGIN"}));
}

}  // namespace
}  // namespace tern::auth
