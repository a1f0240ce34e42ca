// The client's side of the protocol: replies read from a buffer (multi-line, partial,
// malformed), enhanced codes with defaults, EHLO keywords, dot-stuffing for DATA.
#include <gtest/gtest.h>

#include "smtp/client_protocol.hpp"

namespace tern::smtp {
namespace {

TEST(TakeReply, SingleMultiPartialMalformed) {
  std::size_t used = 0;
  bool bad = false;
  auto r = take_reply("250 2.1.0 Ok\r\nrest", used, bad);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 250);
  EXPECT_EQ(r->enhanced, "2.1.0");
  EXPECT_EQ(r->text, "Ok");
  EXPECT_EQ(used, 14u);

  r = take_reply("250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n", used, bad);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text, "mx.example\nPIPELINING\nSIZE 1000");
  EXPECT_EQ(r->enhanced, "");

  EXPECT_FALSE(take_reply("250-first\r\n250 sec", used, bad));
  EXPECT_FALSE(bad);  // incomplete, not malformed
  EXPECT_FALSE(take_reply("", used, bad));
  EXPECT_FALSE(bad);

  for (const char* junk : {"hello\r\n", "999 x\r\n", "25\r\n", "250-a\r\n251 b\r\n", "250xabc\r\n"}) {
    EXPECT_FALSE(take_reply(junk, used, bad)) << junk;
    EXPECT_TRUE(bad) << junk;
  }
  // A line without end that grows past the bound is malformed, not waited for.
  EXPECT_FALSE(take_reply(std::string(max_reply_line + 10, '2'), used, bad));
  EXPECT_TRUE(bad);

  r = take_reply("550 5.1.1 <u@x>: no such user\r\n", used, bad);
  ASSERT_TRUE(r);
  EXPECT_EQ(enhanced_or_default(*r), "5.1.1");
  r = take_reply("451 try later\r\n", used, bad);
  ASSERT_TRUE(r);
  EXPECT_EQ(enhanced_or_default(*r), "4.0.0");
  r = take_reply("550 2.1.1 inconsistent\r\n", used, bad);  // class must match the code
  ASSERT_TRUE(r);
  EXPECT_EQ(enhanced_or_default(*r), "5.0.0");
  r = take_reply("220\r\n", used, bad);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 220);
}

TEST(ParseEhlo, Keywords) {
  Reply r{250, "", "mx.example greets you\nPIPELINING\nSIZE 10240000\n8bitmime\nSMTPUTF8\n"
                   "CHUNKING\nDSN\nSTARTTLS\nENHANCEDSTATUSCODES\nAUTH PLAIN LOGIN"};
  auto x = parse_ehlo(r);
  EXPECT_TRUE(x.pipelining && x.eight_bit_mime && x.smtputf8 && x.chunking && x.dsn &&
              x.starttls && x.enhanced_status_codes && x.size);
  EXPECT_EQ(x.size_limit, 10240000u);
  auto none = parse_ehlo(Reply{250, "", "PIPELINING"});  // the first line is the name only
  EXPECT_FALSE(none.pipelining);
  auto size_only = parse_ehlo(Reply{250, "", "mx\nSIZE"});
  EXPECT_TRUE(size_only.size);
  EXPECT_EQ(size_only.size_limit, 0u);
}

TEST(DotStuff, Table) {
  const std::pair<std::string, std::string> cases[] = {
      {"", ".\r\n"},
      {"a\r\n", "a\r\n.\r\n"},
      {".\r\n", "..\r\n.\r\n"},
      {"a\r\n.b\r\n..c\r\n", "a\r\n..b\r\n...c\r\n.\r\n"},
      {"no final newline", "no final newline\r\n.\r\n"},
      {"x\r\n.", "x\r\n..\r\n.\r\n"},
      // Bare line ends (from BDAT): the dot after them is stuffed as well.
      {"a\n.\r\nb\r\n", "a\n..\r\nb\r\n.\r\n"},
      {"a\r.\rb\r\n", "a\r..\rb\r\n.\r\n"},
  };
  for (auto& [in, want] : cases) EXPECT_EQ(dot_stuff(in), want) << in;
}

}  // namespace
}  // namespace tern::smtp
