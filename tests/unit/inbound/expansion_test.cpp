// The stored recipients of an expanded recipient: the extension put back on a mailbox
// (target the mailbox name), ORCPT added when the address changed, file/pipe/error kinds
// on the original address with their target and run-as user, the owner- sender dropped for
// the null sender.
#include <gtest/gtest.h>

#include "inbound/expansion.hpp"

namespace tern::inbound {
namespace {

route::Destination dest(route::Destination::Kind kind, std::string_view address = "") {
  route::Destination d;
  d.kind = kind;
  if (!address.empty()) d.address = *mail::parse_mailbox(address, true);
  return d;
}

TEST(StoredRecipients, EachKind) {
  auto from = *mail::parse_mailbox("list+x@example.test", true);
  spool::Recipient original;
  original.address = "list+x@example.test";
  original.domain = "example.test";
  original.notify = 6;

  auto mailbox = dest(route::Destination::Kind::mailbox, "alice@example.test");
  mailbox.extension = "x";
  mailbox.sender = "owner-list@example.test";
  auto remote = dest(route::Destination::Kind::address, "bob@remote.example");
  auto pipe = dest(route::Destination::Kind::pipe);
  pipe.target = "/usr/bin/prog -q";
  pipe.run_as = "daemon";
  auto error = dest(route::Destination::Kind::error);
  error.code = 550;
  error.enhanced = "5.1.1";
  error.text = "gone";

  auto out = stored_recipients({mailbox, remote, pipe, error}, from, original, "+", false);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].address, "alice+x@example.test");
  EXPECT_EQ(out[0].target, "alice");
  EXPECT_EQ(out[0].orcpt, "rfc822;list+x@example.test");
  EXPECT_EQ(out[0].sender, "owner-list@example.test");
  EXPECT_EQ(out[0].notify, 6);
  EXPECT_EQ(out[1].address, "bob@remote.example");
  EXPECT_EQ(out[1].domain, "remote.example");
  EXPECT_EQ(out[1].sender, "");
  EXPECT_EQ(out[2].kind, spool::RecipientKind::pipe);
  EXPECT_EQ(out[2].address, "list+x@example.test");
  EXPECT_EQ(out[2].target, "/usr/bin/prog -q");
  EXPECT_EQ(out[2].run_as, "daemon");
  EXPECT_EQ(out[3].kind, spool::RecipientKind::error);
  EXPECT_EQ(out[3].target, "550 5.1.1 gone");

  // The null sender stays null for every recipient; an unchanged address gets no ORCPT.
  auto same = dest(route::Destination::Kind::address, "list+x@example.test");
  same.sender = "owner-list@example.test";
  auto kept = stored_recipients({same}, from, original, "+", true);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].sender, "");
  EXPECT_EQ(kept[0].orcpt, "");
}

}  // namespace
}  // namespace tern::inbound
