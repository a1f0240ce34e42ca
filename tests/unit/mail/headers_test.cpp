// find_header: first field of a name in the header section, unfolded, case-insensitive.
#include <gtest/gtest.h>

#include "mail/headers.hpp"

namespace tern::mail {
namespace {

TEST(FindHeader, Table) {
  const std::string msg =
      "Received: from a\r\n\tby b\r\nMessage-ID: <1@x>\r\nSubject: one\r\n two\r\n"
      "message-id: <second@x>\r\n\r\nMessage-ID: <body@x>\r\n";
  EXPECT_EQ(find_header(msg, "message-id"), "<1@x>");
  EXPECT_EQ(find_header(msg, "Subject"), "one two");
  EXPECT_EQ(find_header(msg, "Received"), "from a by b");
  EXPECT_EQ(find_header(msg, "From"), std::nullopt);
  EXPECT_EQ(find_header("\r\nMessage-ID: <b@x>\r\n", "Message-ID"), std::nullopt);
  EXPECT_EQ(find_header("", "Message-ID"), std::nullopt);
  EXPECT_EQ(find_header("Message-ID:<n@x>", "Message-ID"), "<n@x>");
  EXPECT_EQ(find_header("garbage without colon\r\nTo: t\r\n", "To"), "t");
}

}  // namespace
}  // namespace tern::mail
