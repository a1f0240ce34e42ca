// [route] and domains.users/catch_all in the configuration, and route::load_tables: the
// tables the configuration names load whole or fail with file:line; several alias files
// merge with the first one winning; the users file restricts the mailbox domains.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "route/tables.hpp"

namespace tern::route {
namespace {

namespace fs = std::filesystem;

class TablesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tern-tables-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }

  // Mailbox domains must say which local parts exist: all of them, unless the test says.
  static std::string users_or_all(const std::string& domains) {
    if (domains.find("users") != std::string::npos || domains.find("catch_all") != std::string::npos)
      return domains;
    return domains + "catch_all = true\n";
  }

  Result<std::shared_ptr<const config::Config>> config(const std::string& route,
                                                       const std::string& domains = "",
                                                       const std::string& maildir_root = "m") {
    auto path = write("tern.toml",
                      "[server]\nhostname = \"mx.example.test\"\n[spool]\npath = \"s\"\n"
                      "[[listener]]\naddress = \"127.0.0.1:2525\"\n"
                      "[delivery.maildir]\nroot = \"" + maildir_root + "\"\n"
                      "[domains]\nlocal = [\"example.test\"]\n" + users_or_all(domains) +
                          "[route]\n" + route);
    return config::load(path);
  }

  // The tables of a configuration with `domains` lines and other.test as a second Maildir
  // domain; null (and a failure) when it does not load.
  std::shared_ptr<const Tables> two_domain_tables(const std::string& domains,
                                                  const std::string& maildir_root = "m") {
    auto c = config("", domains + "[transport]\n\"other.test\" = \"maildir\"\n", maildir_root);
    EXPECT_TRUE(c.ok()) << c.error().message;
    if (!c) return nullptr;
    auto t = load_tables(**c);
    EXPECT_TRUE(t.ok()) << t.error().message;
    return t ? *t : nullptr;
  }

  mail::Address addr(std::string_view s) { return *mail::parse_mailbox(s, true); }

  // Table-driven: whether each address expands (a user or an alias) or is unknown.
  void expect_known(const Expander& e, std::vector<std::pair<std::string_view, bool>> cases) {
    for (auto [address, known] : cases)
      EXPECT_EQ(e.expand(addr(address)).ok(), known) << address;
  }

  fs::path dir_;
};

TEST_F(TablesTest, Defaults) {
  auto c = config("");
  ASSERT_TRUE(c.ok()) << c.error().message;
  const auto& r = (*c)->route;
  EXPECT_TRUE(r.alias_files.empty());
  EXPECT_TRUE(r.virtual_alias_maps.empty());
  EXPECT_EQ(r.recipient_delimiter, "+");
  EXPECT_FALSE(r.allow_include_commands);
  EXPECT_FALSE(r.allow_include_files);
  EXPECT_TRUE(r.users_file.empty());
  EXPECT_TRUE(r.catch_all);  // said by config(): a mailbox domain must say it
  EXPECT_EQ(r.default_privs, "nobody");
  auto t = load_tables(**c);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE((*t)->users());
  auto d = (*t)->expander().expand(addr("anyone@example.test"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->size(), 1u);
}

TEST_F(TablesTest, AMailboxDomainMustSayWhichLocalPartsExist) {
  auto c = config("", "users_maildirs = false\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("which local parts exist in the mailbox domains? set "
                                   "domains.users (a file of users), domains.users_maildirs = "
                                   "true, or domains.catch_all = true"),
            std::string::npos)
      << c.error().message;
}

TEST_F(TablesTest, BadValuesAreFileLineErrors) {
  auto c = config("aliases = \"/etc/aliases\"\nrecipient_delimiter = \"@\"\n"
                  "allow_include_commands = 1\nbogus = true\n",
                  "catch_all = \"yes\"\n");
  ASSERT_FALSE(c.ok());
  const auto& m = c.error().message;
  EXPECT_NE(m.find("tern.toml:11: domains.catch_all must be true or false"), std::string::npos) << m;
  EXPECT_NE(m.find("tern.toml:13: route.aliases must be a list of strings"), std::string::npos) << m;
  EXPECT_NE(m.find("tern.toml:14: route.recipient_delimiter"), std::string::npos) << m;
  EXPECT_NE(m.find("tern.toml:15: route.allow_include_commands must be true or false"),
            std::string::npos) << m;
  EXPECT_NE(m.find("tern.toml:16: unknown setting 'route.bogus'"), std::string::npos) << m;
}

TEST_F(TablesTest, CatchAllWithUsersIsAnError) {
  auto users = write("users", "alice\n");
  auto c = config("", "users = \"" + users + "\"\ncatch_all = true\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("domains.catch_all = true"), std::string::npos);
}

TEST_F(TablesTest, AliasSyntaxErrorIsFileLine) {
  auto a = write("aliases", "root: admin\n\nbad line without colon\n");
  auto c = config("aliases = [\"" + a + "\"]\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  auto t = load_tables(**c);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find(a + ":3:"), std::string::npos) << t.error().message;
}

TEST_F(TablesTest, MissingFilesAreErrors) {
  auto c = config("aliases = [\"" + (dir_ / "none").string() + "\"]\nvirtual_alias_maps = [\"" +
                  (dir_ / "nonev").string() + "\"]\n");
  ASSERT_TRUE(c.ok());
  auto t = load_tables(**c);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find((dir_ / "none").string()), std::string::npos);
  EXPECT_NE(t.error().message.find((dir_ / "nonev").string()), std::string::npos);
}

TEST_F(TablesTest, SeveralTablesFirstWins) {
  auto a1 = write("a1", "postmaster: alice\n");
  auto a2 = write("a2", "postmaster: bob\nsales: carol\n");
  auto v = write("v", "info@example.test dave@example.test\n");
  auto c = config("aliases = [\"" + a1 + "\", \"" + a2 + "\"]\nvirtual_alias_maps = [\"" + v +
                  "\"]\nrecipient_delimiter = \"-+\"\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  auto t = load_tables(**c);
  ASSERT_TRUE(t.ok()) << t.error().message;
  auto one = [&](std::string_view rcpt) {
    auto d = (*t)->expander().expand(addr(rcpt));
    EXPECT_TRUE(d.ok()) << rcpt;
    return d.ok() && d->size() == 1 ? (*d)[0].address.text() : std::string("?");
  };
  EXPECT_EQ(one("postmaster@example.test"), "alice@example.test");
  EXPECT_EQ(one("sales@example.test"), "carol@example.test");
  EXPECT_EQ(one("info@example.test"), "dave@example.test");
  auto ext = (*t)->expander().expand(addr("erin-news@example.test"));
  ASSERT_TRUE(ext.ok());
  EXPECT_EQ((*ext)[0].extension, "news");
}

TEST_F(TablesTest, UsersFileRestrictsMailboxDomains) {
  auto users = write("users", "# users\nAlice\nbob@example.test  # trailing\n\n");
  auto a = write("aliases", "postmaster: alice\n");
  auto c = config("aliases = [\"" + a + "\"]\n", "users = \"" + users + "\"\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  auto t = load_tables(**c);
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_TRUE((*t)->users());
  EXPECT_EQ(*(*t)->users(), (std::set<std::string>{"alice", "bob@example.test"}));
  const auto& e = (*t)->expander();
  EXPECT_TRUE(e.expand(addr("ALICE@example.test")).ok());
  EXPECT_TRUE(e.expand(addr("bob+x@example.test")).ok());
  EXPECT_TRUE(e.expand(addr("postmaster@example.test")).ok());
  auto unknown = e.expand(addr("mallory@example.test"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind, ExpandError::Kind::unknown);
  EXPECT_TRUE(e.expand(addr("mallory@remote.example")).ok());  // not ours: not checked
}

// "user@domain" is a user of that domain only; a bare local part of every mailbox domain.
TEST_F(TablesTest, UsersWithADomainMatchOnlyThatDomain) {
  auto users = write("users", "alice\nbob@example.test\nCarol@Other.Test\n");
  auto t = two_domain_tables("users = \"" + users + "\"\n");
  ASSERT_TRUE(t);
  expect_known(t->expander(), {{"alice@example.test", true},
                               {"alice@other.test", true},
                               {"bob@example.test", true},
                               {"bob@other.test", false},
                               {"carol+x@other.test", true},
                               {"carol@example.test", false}});
}

// A user's domain written as a U-label is the same domain as its A-label.
TEST_F(TablesTest, UsersWithAnIdnDomain) {
  auto users = write("users", "dave@bücher.example\n");
  auto c = config("", "users = \"" + users + "\"\n[transport]\n\"bücher.example\" = \"maildir\"\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  auto t = load_tables(**c);
  ASSERT_TRUE(t.ok()) << t.error().message;
  expect_known((*t)->expander(), {{"dave@xn--bcher-kva.example", true},
                                  {"dave@bücher.example", true},
                                  {"dave@example.test", false}});
  auto bad = write("bad-users", "erin@-bad-.example\n");
  auto c2 = config("", "users = \"" + bad + "\"\n");
  ASSERT_TRUE(c2.ok());
  auto t2 = load_tables(**c2);
  ASSERT_FALSE(t2.ok());
  EXPECT_NE(t2.error().message.find(bad + ":1: 'erin@-bad-.example' has no valid domain"),
            std::string::npos)
      << t2.error().message;
}

// domains.users_maildirs: a user is one whose Maildir directory exists, checked at each
// expansion; with a users file as well, either makes a user.
TEST_F(TablesTest, UsersFromMaildirDirectories) {
  const auto root = dir_ / "maildirs";
  fs::create_directories(root / "example.test" / "alice");
  fs::create_directories(root / "other.test" / "bob");
  auto users = write("users", "zed\n");
  auto t = two_domain_tables("users = \"" + users + "\"\nusers_maildirs = true\n", root.string());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->users_maildirs(), root.string());
  expect_known(t->expander(), {{"Alice+tag@example.test", true},
                               {"alice@other.test", false},
                               {"bob@other.test", true},
                               {"zed@other.test", true},
                               {"mallory@example.test", false}});
  fs::create_directories(root / "example.test" / "mallory");  // takes effect at once
  expect_known(t->expander(), {{"mallory@example.test", true}});
}

TEST_F(TablesTest, DefaultPrivsIsNeverRoot) {
  auto c = config("default_privs = \"mail\"\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ((*c)->route.default_privs, "mail");
  auto root = config("default_privs = \"root\"\n");
  ASSERT_FALSE(root.ok());
  EXPECT_NE(root.error().message.find("route.default_privs must name a user other than root"),
            std::string::npos);
}

TEST_F(TablesTest, UsersMaildirsConflictsWithCatchAll) {
  auto c = config("", "users_maildirs = true\ncatch_all = true\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("domains.users_maildirs"), std::string::npos);
}

TEST_F(TablesTest, UsersFileErrors) {
  auto users = write("users", "alice\n\"quoted\"\nok\n");
  auto u = load_users(users);
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.error().message.find(users + ":2:"), std::string::npos) << u.error().message;
}

}  // namespace
}  // namespace tern::route
