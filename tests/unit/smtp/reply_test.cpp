// Table-driven tests for reply formatting (RFC 5321 §4.2, RFC 2034 §4) and the shared
// replies.
#include "smtp/reply.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tern::smtp {
namespace {

TEST(ReplyTest, WireTable) {
  struct Case {
    Reply reply;
    std::string wire;
  };
  const std::vector<Case> cases = {
      {{250, "2.0.0", "Ok"}, "250 2.0.0 Ok\r\n"},
      {{220, "", "mx.example ESMTP Tern"}, "220 mx.example ESMTP Tern\r\n"},
      {{250, "", "mx.example\nPIPELINING\nSIZE 10240000"},
       "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 10240000\r\n"},
      {{550, "5.1.1", "No such user here\nCheck the address"},
       "550-5.1.1 No such user here\r\n550 5.1.1 Check the address\r\n"},
      {{421, "4.7.0", "a\nb\nc"}, "421-4.7.0 a\r\n421-4.7.0 b\r\n421 4.7.0 c\r\n"},
      {{250, "2.0.0", ""}, "250 2.0.0\r\n"},
      {{250, "", ""}, "250\r\n"},
      {{250, "", "a\n"}, "250-a\r\n250\r\n"},
      {{250, "2.0.0", "a\n"}, "250-2.0.0 a\r\n250 2.0.0\r\n"},
      {{354, "", "End data with <CR><LF>.<CR><LF>"}, "354 End data with <CR><LF>.<CR><LF>\r\n"},
      // Control characters cannot end a line early or forge a reply.
      {{550, "5.7.1", "evil\r250 2.0.0 Ok"}, "550 5.7.1 evil?250 2.0.0 Ok\r\n"},
      {{550, "5.7.1", std::string("a\0b", 3)}, "550 5.7.1 a?b\r\n"},
      {{550, "5.7.1", "tab\tok\x7f"}, "550 5.7.1 tab\tok?\r\n"},
      {{550, "5.7.1", "x\r\ny"}, "550-5.7.1 x?\r\n550 5.7.1 y\r\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.wire);
    EXPECT_EQ(c.reply.wire(), c.wire);
  }
}

TEST(ReplyTest, LongLinesAreCut) {
  // RFC 5321 §4.5.3.1.5: 512 octets per reply line, CRLF included.
  Reply r{550, "5.0.0", std::string(1000, 'x') + "\nshort"};
  std::string wire = r.wire();
  std::size_t first = wire.find("\r\n");
  EXPECT_EQ(first + 2, 512u);
  EXPECT_EQ(wire.substr(first + 2), "550 5.0.0 short\r\n");
}

TEST(ReplyTest, LogTextTable) {
  struct Case {
    Reply reply;
    std::string log;
  };
  const std::vector<Case> cases = {
      {{550, "5.1.1", "No such user\nCheck the address"},
       "550 5.1.1 No such user / Check the address"},
      {{250, "2.0.0", "Ok"}, "250 2.0.0 Ok"},
      {{220, "", "mx ready"}, "220 mx ready"},
      {{250, "2.0.0", ""}, "250 2.0.0"},
      {{250, "", ""}, "250"},
      {{550, "5.7.1", "a\rb"}, "550 5.7.1 a?b"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.log);
    EXPECT_EQ(c.reply.log_text(), c.log);
  }
}

TEST(ReplyTest, Classes) {
  EXPECT_TRUE((Reply{250, "", ""}.positive()));
  EXPECT_TRUE((Reply{354, "", ""}.positive()));
  EXPECT_TRUE((Reply{421, "", ""}.transient()));
  EXPECT_FALSE((Reply{421, "", ""}.positive()));
  EXPECT_TRUE((Reply{550, "", ""}.permanent()));
  EXPECT_FALSE((Reply{550, "", ""}.transient()));
}

TEST(ReplyTest, SharedReplies) {
  struct Case {
    Reply reply;
    int code;
    std::string enhanced;
  };
  const std::vector<Case> cases = {
      {replies::ok(), 250, "2.0.0"},
      {replies::ok("2.1.5", "Recipient ok"), 250, "2.1.5"},
      {replies::syntax_error(), 500, "5.5.2"},
      {replies::line_too_long(), 500, "5.5.2"},
      {replies::bad_sequence("send MAIL first"), 503, "5.5.1"},
      {replies::not_implemented(), 502, "5.5.1"},
      {replies::param_not_implemented(), 504, "5.5.4"},
      {replies::service_closing("mx.example"), 221, "2.0.0"},
      {replies::too_many_errors(), 421, "4.7.0"},
      {replies::timeout(), 421, "4.4.2"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.reply.log_text());
    EXPECT_EQ(c.reply.code, c.code);
    EXPECT_EQ(c.reply.enhanced, c.enhanced);
    EXPECT_FALSE(c.reply.text.empty());
    // The enhanced code's class matches the reply code's (RFC 3463 §2).
    EXPECT_EQ(c.reply.enhanced.front() - '0', c.code / 100);
    for (unsigned char ch : c.reply.text) EXPECT_TRUE(ch >= 0x20 && ch < 0x7F) << c.reply.text;
  }
  EXPECT_EQ(replies::ok("2.1.5", "Recipient ok").text, "Recipient ok");
  EXPECT_NE(replies::bad_sequence("send MAIL first").text.find("send MAIL first"),
            std::string::npos);
  EXPECT_NE(replies::service_closing("mx.example").text.find("mx.example"), std::string::npos);
}

}  // namespace
}  // namespace tern::smtp
