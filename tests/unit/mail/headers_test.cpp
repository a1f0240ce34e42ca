// find_header: first field of a name in the header section, unfolded, case-insensitive.
// header_addresses: the addr-specs of an address list (display names, comments, groups and
// routes dropped; quoted strings kept); unbalanced input ends the scan.
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

struct AddressesCase {
  const char* value;
  std::vector<std::string> addresses;
};

TEST(HeaderAddresses, Table) {
  const AddressesCase cases[] = {
      {"", {}},
      {"  \t ", {}},
      {", ,;", {}},
      {"a@b.example", {"a@b.example"}},
      {"  a@b.example  ,c@d.example", {"a@b.example", "c@d.example"}},
      // Display names, plain and quoted.
      {"Alice <alice@example.com>", {"alice@example.com"}},
      {"Alice Smith <alice@example.com>, Bob <bob@example.com>",
       {"alice@example.com", "bob@example.com"}},
      {"<alice@example.com>", {"alice@example.com"}},
      {"< alice@example.com >", {"alice@example.com"}},
      {"\"Smith, Alice\" <alice@example.com>, bob@example.com",
       {"alice@example.com", "bob@example.com"}},
      {"\"Team: a; b\" <t@example.com>", {"t@example.com"}},
      {"\"<fake@evil.example>\" <real@example.com>", {"real@example.com"}},
      {"\"say \\\"hi\\\", ok\" <q@example.com>", {"q@example.com"}},
      {"Nobody <>", {}},
      // Comments, nested and escaped, anywhere.
      {"alice@example.com (Alice)", {"alice@example.com"}},
      {"alice@example.com (Alice (the first), of Wonderland), bob@example.com",
       {"alice@example.com", "bob@example.com"}},
      {"(<fake@evil.example>) real@example.com", {"real@example.com"}},
      {"Alice (<fake@evil.example>) <real@example.com> (note, with comma)", {"real@example.com"}},
      {"a@example.com (x \\) y, z), b@example.com", {"a@example.com", "b@example.com"}},
      {"a@example.com (\"quote in comment), b@example.com", {"a@example.com", "b@example.com"}},
      // Groups.
      {"team: a@b.example, c@d.example;", {"a@b.example", "c@d.example"}},
      {"team: a@b.example, c@d.example;, e@f.example",
       {"a@b.example", "c@d.example", "e@f.example"}},
      {"undisclosed-recipients:;", {}},
      {"Team (ours): Alice <a@b.example>, c@d.example; x@y.example",
       {"a@b.example", "c@d.example", "x@y.example"}},
      // Routes in angle brackets are dropped.
      {"<@relay.example:a@b.example>", {"a@b.example"}},
      {"Alice <@r1.example,@r2.example:a@b.example>, c@d.example", {"a@b.example", "c@d.example"}},
      // Quoted local parts are kept as written.
      {"\"john smith\"@example.com", {"\"john smith\"@example.com"}},
      {"John <\"john smith\"@example.com>", {"\"john smith\"@example.com"}},
      {"\"a,b\"@example.com, c@example.com", {"\"a,b\"@example.com", "c@example.com"}},
      {"\"a\\\"b\"@example.com", {"\"a\\\"b\"@example.com"}},
      {"<\"x>y\"@example.com>", {"\"x>y\"@example.com"}},
  };
  for (const auto& c : cases) {
    auto got = header_addresses(c.value);
    ASSERT_TRUE(got) << c.value;
    EXPECT_EQ(*got, c.addresses) << c.value;
  }
}

// Values a policy cannot trust to mean what a mail client shows: refused whole, never read
// as far as they go.
TEST(HeaderAddresses, UntrustworthyValuesAreRefused) {
  const char* refused[] = {
      "a@example.com, \"unterminated@example.com",
      "a@example.com, <b@example.com",
      "<ceo@example.com",
      "ceo@example.com (",
      "a@example.com, b@example.com (open comment",
      "a@example.com, b@example.com (nested (open) comment",
      "a@example.com, b@example.com> c@example.com",
      "a@example.com, <<b@example.com>>",
      "b@example.com>",
      "(",
      "\"",
      "ceo@example.com <bob@example.com>",      // '@' in a display name
      "<bob@example.com> ceo@example.com",      // text after the angle-addr
      "Bob <bob@example.com> <ceo@example.com>",
  };
  for (const char* v : refused) EXPECT_FALSE(header_addresses(v)) << v;
}

TEST(FindHeaders, EveryFieldOfTheNameAndNoContinuation) {
  std::string message =
      "X-A: a\r\n From: folded@example.com\r\nFrom: one@example.com\r\n"
      "Subject: s\r\nfrom : two@example.com,\r\n three@example.com\r\n\r\nFrom: body@x\r\n";
  EXPECT_EQ(find_headers(message, "From"),
            (std::vector<std::string>{"one@example.com", "two@example.com, three@example.com"}));
  EXPECT_EQ(find_header(message, "from"), "one@example.com");
  EXPECT_TRUE(find_headers(message, "To").empty());
}

}  // namespace
}  // namespace tern::mail
