// Recipient expansion (route::Expander): alias recursion, self-aliases, loops, the depth
// limit, owner- lists, address extensions with several delimiters, virtual precedence
// user@domain > user > @domain, extension propagation, remote results, duplicates, error
// entries, unknown users.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>

#include "route/expander.hpp"

namespace tern::route {
namespace {

mail::Address addr(std::string_view s) {
  auto a = mail::parse_mailbox(s, true);
  EXPECT_TRUE(a) << s;
  return a ? *a : mail::Address{};
}

// One destination as a string: "mbox:bob@x.test", "mbox:bob@x.test+tag", "addr:a@r.test",
// "file:/p", "pipe:cmd", "error:550 5.1.1 text"; " <sender>" appended when it is set.
std::string show(const Destination& d) {
  std::string s;
  switch (d.kind) {
    case Destination::Kind::mailbox:
      s = "mbox:" + d.address.text() + (d.extension.empty() ? "" : "+" + d.extension);
      break;
    case Destination::Kind::address: s = "addr:" + d.address.text(); break;
    case Destination::Kind::file: s = "file:" + d.target; break;
    case Destination::Kind::pipe: s = "pipe:" + d.target; break;
    case Destination::Kind::error:
      s = "error:" + std::to_string(d.code) + " " + d.enhanced + " " + d.text;
      break;
  }
  if ((d.kind == Destination::Kind::file || d.kind == Destination::Kind::pipe) &&
      !d.extension.empty())
    s += " ext=" + d.extension;
  if (!d.sender.empty()) s += " <" + d.sender + ">";
  return s;
}

struct Tables {
  std::string aliases;
  std::string virtual_map;
  ExpanderConfig config;
};

// Expands `rcpt` and returns the destinations, or "ERROR kind enhanced: text".
std::vector<std::string> run(const Tables& s, std::string_view rcpt) {
  auto aliases = Aliases::parse(s.aliases, "aliases");
  EXPECT_TRUE(aliases) << aliases.error().message;
  auto vmap = VirtualMap::parse(s.virtual_map, "virtual");
  EXPECT_TRUE(vmap) << vmap.error().message;
  if (!aliases || !vmap) return {"bad table"};
  ExpanderConfig config = s.config;
  if (config.local_domains.empty()) config.local_domains = {"x.test", "y.test"};
  Expander e(&*aliases, &*vmap, config);
  auto r = e.expand(addr(rcpt));
  if (!r) {
    const char* kinds[] = {"loop", "too_deep", "too_many", "unknown", "empty"};
    return {std::string("ERROR ") + kinds[static_cast<int>(r.error().kind)] + " " +
            r.error().enhanced + ": " + r.error().text};
  }
  std::vector<std::string> out;
  for (const auto& d : *r) out.push_back(show(d));
  return out;
}

struct Case {
  const char* name;
  std::string aliases;
  std::string virtual_map;
  const char* rcpt;
  std::vector<std::string> want;
};

void check(const std::vector<Case>& cases, const ExpanderConfig& config = {}) {
  for (const auto& c : cases) {
    Tables s{c.aliases, c.virtual_map, config};
    EXPECT_EQ(run(s, c.rcpt), c.want) << c.name;
  }
}

TEST(RouteExpand, Aliases) {
  check({
      {"no alias: the user's mailbox", "", "", "Bob@X.test", {"mbox:bob@x.test"}},
      {"remote stays an address", "", "", "Bob@remote.test", {"addr:Bob@remote.test"}},
      {"aliases only apply to local domains", "bob: alice\n", "", "bob@remote.test",
       {"addr:bob@remote.test"}},
      {"chain", "postmaster: root\nroot: admin\n", "", "postmaster@x.test",
       {"mbox:admin@x.test"}},
      {"bare names stay in the recipient's domain", "a: b\n", "", "a@y.test", {"mbox:b@y.test"}},
      {"list with every kind",
       "l: a, r@remote.test, /var/archive, \"|/bin/cmd -x\", error:550 5.1.1 gone\n", "",
       "l@x.test",
       {"mbox:a@x.test", "addr:r@remote.test", "file:/var/archive", "pipe:/bin/cmd -x",
        "error:550 5.1.1 gone"}},
      {"local address in a list", "l: a@y.test\n", "", "l@x.test", {"mbox:a@y.test"}},
      {"keys are case-insensitive", "Info: bob\n", "", "INFO@x.test", {"mbox:bob@x.test"}},
      {"self alias: mailbox and a copy", "bob: bob, bob@other.test\n", "", "bob@x.test",
       {"mbox:bob@x.test", "addr:bob@other.test"}},
      {"self alias with the domain", "bob: bob@x.test, carl\n", "", "bob@x.test",
       {"mbox:bob@x.test", "mbox:carl@x.test"}},
      {"duplicates removed", "l: a, b, a\nb: a, c\n", "", "l@x.test",
       {"mbox:a@x.test", "mbox:c@x.test"}},
      {"shared sublists expanded once", "l: m, n\nm: s\nn: s\ns: z, z@remote.test\n", "",
       "l@x.test", {"mbox:z@x.test", "addr:z@remote.test"}},
      {"loop a → b → a", "a: b\nb: a\n", "", "a@x.test",
       {"ERROR loop 5.4.6: alias loop for a"}},
      {"loop inside a list", "a: x, b\nb: c\nc: a\n", "", "a@x.test",
       {"ERROR loop 5.4.6: alias loop for a"}},
      {"error entry alone", "gone: error:550 5.1.1 left the company\n", "", "gone@x.test",
       {"error:550 5.1.1 left the company"}},
  });
}

TEST(RouteExpand, EmptyIncludeIsAnError) {
  // A list whose include file became empty: nothing to deliver to, so defer (Postfix:
  // "no recipient in alias lookup result", 4.3.0). Without tables: the mailbox.
  VirtualMap vmap;
  ExpanderConfig config;
  config.local_domains = {"x.test"};
  char tmpl[] = "/tmp/tern-empty-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  auto a = Aliases::parse(std::string("l: :include:") + tmpl + "\n", "t");
  ::unlink(tmpl);
  ASSERT_TRUE(a);
  Expander e(&*a, &vmap, config);
  auto r = e.expand(addr("l@x.test"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ExpandError::Kind::empty);
  EXPECT_EQ(r.error().enhanced, "4.3.0");
  Expander none(nullptr, nullptr, config);
  ASSERT_TRUE(none.expand(addr("l@x.test")));
}

TEST(RouteExpand, DepthLimit) {
  // A chain of max_depth + 1 aliases, no cycle: too deep. One shorter is fine.
  auto chain = [](std::size_t n) {
    std::string text;
    for (std::size_t i = 0; i < n; ++i)
      text += "a" + std::to_string(i) + ": a" + std::to_string(i + 1) + "\n";
    return text;
  };
  Tables ok{chain(max_depth), "", {}};
  EXPECT_EQ(run(ok, "a0@x.test"),
            std::vector<std::string>{"mbox:a" + std::to_string(max_depth) + "@x.test"});
  Tables deep{chain(max_depth + 1), "", {}};
  auto r = run(deep, "a0@x.test");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].rfind("ERROR too_deep 5.4.6: aliases nest more than 100 deep", 0), 0u) << r[0];
}

TEST(RouteExpand, TooManyDestinations) {
  std::string list = "big: ";
  for (std::size_t i = 0; i <= max_destinations; ++i) list += "u" + std::to_string(i) + ", ";
  list += "last\n";
  auto r = run({list, "", {}}, "big@x.test");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0], "ERROR too_many 5.4.6: more than 1000 destinations");
}

TEST(RouteExpand, OwnerSetsTheSender) {
  check({
      {"owner- changes the sender of the list's destinations",
       "list: a, r@remote.test, |/bin/archive\nowner-list: admin\n", "", "list@x.test",
       {"mbox:a@x.test <owner-list@x.test>", "addr:r@remote.test <owner-list@x.test>",
        "pipe:/bin/archive <owner-list@x.test>"}},
      {"an alias without owner resets it (Postfix)",
       "list: sub, a\nowner-list: admin\nsub: b\n", "", "list@x.test",
       {"mbox:b@x.test", "mbox:a@x.test <owner-list@x.test>"}},
      {"inner owner wins", "list: sub\nowner-list: admin\nsub: b\nowner-sub: boss\n", "",
       "list@x.test", {"mbox:b@x.test <owner-sub@x.test>"}},
      {"no owner, no change", "list: a\n", "", "list@x.test", {"mbox:a@x.test"}},
      {"the owner alias itself expands normally", "list: a\nowner-list: admin\n", "",
       "owner-list@x.test", {"mbox:admin@x.test"}},
  });
}

TEST(RouteExpand, Extensions) {
  check({
      {"no entry: mailbox with the tag", "", "", "bob+Tag@x.test", {"mbox:bob@x.test+Tag"}},
      {"exact entry first", "bob+lists: lists\nbob: other\n", "", "bob+lists@x.test",
       {"mbox:lists@x.test"}},
      {"falls back to user", "bob: robert\n", "", "bob+tag@x.test", {"mbox:robert@x.test"}},
      {"self alias keeps the tag", "bob: bob, |/bin/notify\n", "", "bob+tag@x.test",
       {"mbox:bob@x.test+tag", "pipe:/bin/notify ext=tag"}},
      {"no split at the start", "", "", "+tag@x.test", {"mbox:+tag@x.test"}},
      {"extension on a remote address is left alone", "", "", "bob+tag@remote.test",
       {"addr:bob+tag@remote.test"}},
  });
  ExpanderConfig multi;
  multi.delimiters = "+-";
  check({
          {"first delimiter wins", "", "", "bob-a+b@x.test", {"mbox:bob@x.test+a+b"}},
          {"either character", "bob: robert\n", "", "bob+x@x.test", {"mbox:robert@x.test"}},
          {"dash too", "bob: robert\n", "", "bob-x@x.test", {"mbox:robert@x.test"}},
          {"owner- never split on '-'", "list: a\n", "", "owner-list@x.test",
           {"mbox:owner-list@x.test"}},
          {"-request never split on '-'", "list: a\n", "", "list-request@x.test",
           {"mbox:list-request@x.test"}},
          {"mailer-daemon never split on '-'", "mailer: x\n", "", "mailer-daemon@x.test",
           {"mbox:mailer-daemon@x.test"}},
      },
      multi);
  ExpanderConfig off;
  off.delimiters = "";
  check({{"delimiter off", "bob: robert\n", "", "bob+x@x.test", {"mbox:bob+x@x.test"}}}, off);
}

TEST(RouteExpand, SplitExtension) {
  auto s = split_extension("User+Ext+More", "+");
  EXPECT_EQ(s.user, "User");
  EXPECT_EQ(s.extension, "Ext+More");
  EXPECT_EQ(s.delimiter, '+');
  EXPECT_EQ(split_extension("user", "+").delimiter, '\0');
  EXPECT_EQ(split_extension("Owner-x", "-").delimiter, '\0');
  EXPECT_EQ(split_extension("a-b+c", "+-").delimiter, '-');
}

TEST(RouteExpand, Virtual) {
  const std::string vmap =
      "info@x.test    alice@x.test, r@remote.test\n"
      "info           wrong@x.test\n"
      "@x.test        catchall@x.test\n"
      "catchall@x.test catchall@x.test\n"
      "alice@x.test   alice@x.test\n"  // exempt from the catch-all, as in Postfix
      "bob@x.test     bob@x.test\n"
      "sales          bob\n"
      "@remote.test   relay@other.test\n"
      "@old.test      @x.test\n"
      "self@x.test    self@x.test, copy@remote2.test\n"
      "v1@y.test      v2@y.test\n"
      "v2@y.test      v1@y.test\n"
      "tag@y.test     t@z.test\n"
      "user           u@z.test\n"
      "info2@y.test   someone@x.test\n";
  check({
      {"user@domain beats user and @domain", "", vmap, "info@x.test",
       {"mbox:alice@x.test", "addr:relay@other.test"}},
      {"user for a local domain beats @domain", "", vmap, "sales@x.test",
       {"mbox:bob@x.test"}},
      {"virtual is recursive: results meet the catch-all", "", vmap, "info2@y.test",
       {"mbox:catchall@x.test"}},
      {"user in another local domain", "", vmap, "sales@y.test", {"mbox:bob@x.test"}},
      {"bare key never for remote domains", "", vmap, "user@remote3.test",
       {"addr:user@remote3.test"}},
      {"catch-all", "", vmap, "nobody@x.test", {"mbox:catchall@x.test"}},
      {"catch-all for a remote domain", "", vmap, "a@remote.test", {"addr:relay@other.test"}},
      {"@domain result: same user elsewhere", "", vmap, "Ann@old.test",
       {"mbox:catchall@x.test"}},
      {"self ends recursion", "", vmap, "self@x.test",
       {"mbox:self@x.test", "addr:copy@remote2.test"}},
      {"virtual loop", "", vmap, "v1@y.test", {"ERROR loop 5.4.6: virtual alias loop for v1@y.test"}},
      {"extension propagated when matched without it", "", vmap, "tag+x@y.test",
       {"addr:t+x@z.test"}},
      {"bare key with extension", "", vmap, "user+x@y.test", {"addr:u+x@z.test"}},
      {"then aliases for local results", "alice: al, /var/log/alice\n", vmap, "info@x.test",
       {"mbox:al@x.test", "file:/var/log/alice", "addr:relay@other.test"}},
      {"alias results that leave go through virtual again", "a: x@remote.test\n", vmap,
       "a@y.test", {"addr:relay@other.test"}},
      {"loop across virtual and aliases", "a: v@remote4.test\n",
       "v@remote4.test a@y.test\n", "a@y.test",
       {"ERROR loop 5.4.6: alias loop for a"}},
  });
  // Virtual order with an extension: user+ext@d, user@d, user+ext, user, @d.
  const std::string order =
      "u+e@x.test r1@r.test\nu@x.test r2@r.test\nu+e r3@r.test\nu r4@r.test\n@x.test r5@r.test\n";
  auto drop_first = [&](int n) {
    std::string text = order;
    for (int i = 0; i < n; ++i) text = text.substr(text.find('\n') + 1);
    return text;
  };
  check({
      {"1", "", drop_first(0), "u+e@x.test", {"addr:r1@r.test"}},
      {"2", "", drop_first(1), "u+e@x.test", {"addr:r2+e@r.test"}},
      {"3", "", drop_first(2), "u+e@x.test", {"addr:r3@r.test"}},
      {"4", "", drop_first(3), "u+e@x.test", {"addr:r4+e@r.test"}},
      {"5", "", drop_first(4), "u+e@x.test", {"addr:r5+e@r.test"}},
  });
  ExpanderConfig origin;
  origin.origin = "y.test";
  check({{"bare results get the origin", "", "k@x.test someone\n", "k@x.test",
          {"mbox:someone@y.test"}}},
        origin);
}

TEST(RouteExpand, UnknownUsers) {
  ExpanderConfig config;
  config.user_exists = [](std::string_view u, std::string_view) { return u == "bob" || u == "root"; };
  check({
      {"known", "", "", "bob+x@x.test", {"mbox:bob@x.test+x"}},
      {"unknown recipient", "", "", "carl@x.test",
       {"ERROR unknown 5.1.1: carl@x.test: no such user here"}},
      {"alias is not a user", "postmaster: root\n", "", "postmaster@x.test", {"mbox:root@x.test"}},
      {"unknown member of a list bounces alone", "l: bob, carl\n", "", "l@x.test",
       {"mbox:bob@x.test", "error:550 5.1.1 carl@x.test: no such user here"}},
  },
        config);
}

}  // namespace
}  // namespace tern::route
