// Table-driven tests for the SMTP command splitter and the verb table (RFC 5321 §4.1.1,
// RFC 2920 §3.1).
#include "smtp/command.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tern::smtp {
namespace {

using namespace std::literals;

TEST(CommandTest, ParseTable) {
  struct Case {
    std::string line;
    Verb verb;
    std::string arg;
  };
  const std::vector<Case> cases = {
      {"EHLO client.example", Verb::ehlo, "client.example"},
      {"ehlo client.example", Verb::ehlo, "client.example"},
      {"EhLo client.example", Verb::ehlo, "client.example"},
      {"EHLO", Verb::ehlo, ""},
      {"HELO client.example", Verb::helo, "client.example"},
      {"MAIL FROM:<a@b.example>", Verb::mail, "FROM:<a@b.example>"},
      {"mail from:<a@b.example> SIZE=10   ", Verb::mail, "from:<a@b.example> SIZE=10"},
      {"MAIL  FROM:<a@b.example>", Verb::mail, " FROM:<a@b.example>"},  // one SP only
      {"MAIL FROM:<a@b.example>\t", Verb::mail, "FROM:<a@b.example>"},
      {"RCPT TO:<u@d.example> NOTIFY=NEVER", Verb::rcpt, "TO:<u@d.example> NOTIFY=NEVER"},
      {"DATA", Verb::data, ""},
      {"data", Verb::data, ""},
      {"DATA ", Verb::data, ""},
      {"DATA x", Verb::data, "x"},
      {"BDAT 1000 LAST", Verb::bdat, "1000 LAST"},
      {"RSET", Verb::rset, ""},
      {"NOOP", Verb::noop, ""},
      {"NOOP hello world", Verb::noop, "hello world"},
      {"QUIT", Verb::quit, ""},
      {"quit", Verb::quit, ""},
      {"VRFY user", Verb::vrfy, "user"},
      {"EXPN list", Verb::expn, "list"},
      {"HELP", Verb::help, ""},
      {"HELP MAIL", Verb::help, "MAIL"},
      {"STARTTLS", Verb::starttls, ""},
      {"AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", Verb::auth, "PLAIN dGVzdAB0ZXN0AHRlc3Q="},
      // Anything but SP or the end after the verb is not that verb.
      {"MAILX FROM:<a@b>", Verb::unknown, "FROM:<a@b>"},
      {"MAIL\tFROM:<a@b>", Verb::unknown, ""},
      {"MAIL:FROM:<a@b>", Verb::unknown, ""},
      {"QUIT\r", Verb::unknown, ""},
      {"QUIT\0"s, Verb::unknown, ""},
      {"QUITS", Verb::unknown, ""},
      {"QUI", Verb::unknown, ""},
      {" QUIT", Verb::unknown, "QUIT"},
      {"", Verb::unknown, ""},
      {" ", Verb::unknown, ""},
      {"STARTTLSX", Verb::unknown, ""},
      {"GET / HTTP/1.1", Verb::unknown, "/ HTTP/1.1"},
      {"POST /submit HTTP/1.0", Verb::unknown, "/submit HTTP/1.0"},
      {"\xC3\x89HLO x", Verb::unknown, "x"},
      {"TURN", Verb::unknown, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.line);
    Command cmd = parse_command(c.line);
    EXPECT_EQ(cmd.verb, c.verb);
    EXPECT_EQ(cmd.arg, c.arg);
  }
}

TEST(CommandTest, EveryNameParsesToItsRow) {
  for (const VerbInfo& row : verb_table()) {
    if (row.verb == Verb::unknown) continue;
    SCOPED_TRACE(std::string(row.name));
    EXPECT_EQ(parse_command(row.name).verb, row.verb);
    std::string lower(row.name);
    for (char& ch : lower) ch = static_cast<char>(ch - 'A' + 'a');
    EXPECT_EQ(parse_command(lower + " x").verb, row.verb);
    EXPECT_EQ(&verb_info(row.verb), &row);
  }
}

TEST(CommandTest, TableFollowsEnum) {
  auto table = verb_table();
  ASSERT_EQ(table.size(), static_cast<std::size_t>(Verb::unknown) + 1);
  for (std::size_t i = 0; i < table.size(); ++i)
    EXPECT_EQ(static_cast<std::size_t>(table[i].verb), i);
  EXPECT_EQ(verb_info(Verb::unknown).verb, Verb::unknown);
  EXPECT_TRUE(verb_info(Verb::unknown).name.empty());
}

// RFC 2920 §3.1: the commands after which a pipelining client must wait for replies.
TEST(CommandTest, EndsGroupTable) {
  struct Case {
    Verb verb;
    bool ends_group;
    bool takes_argument;
  };
  const std::vector<Case> cases = {
      {Verb::ehlo, true, true},      {Verb::helo, true, true},  {Verb::mail, false, true},
      {Verb::rcpt, false, true},     {Verb::data, true, false}, {Verb::bdat, false, true},
      {Verb::rset, false, false},    {Verb::noop, true, true},  {Verb::quit, true, false},
      {Verb::vrfy, true, true},      {Verb::expn, true, true},  {Verb::help, true, true},
      {Verb::starttls, true, false}, {Verb::auth, true, true},
  };
  ASSERT_EQ(cases.size() + 1, verb_table().size());
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(verb_info(c.verb).name));
    EXPECT_EQ(verb_info(c.verb).ends_group, c.ends_group);
    EXPECT_EQ(verb_info(c.verb).takes_argument, c.takes_argument);
  }
}

}  // namespace
}  // namespace tern::smtp
