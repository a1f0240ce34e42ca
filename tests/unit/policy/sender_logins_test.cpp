// The sender login map: the line forms it reads ("addr login", "addr: a, b", comments,
// blank lines, any case), its errors as file:line, the lookup (exact address, then
// @domain), and owns_by_name against our domains and [transport].
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "domains.hpp"
#include "policy/sender_logins.hpp"

namespace tern::policy {
namespace {

using Logins = std::vector<std::string>;

std::shared_ptr<const SenderLogins> parse_ok(std::string_view text) {
  std::string errors;
  auto map = SenderLogins::parse(text, "logins", errors);
  EXPECT_EQ(errors, "") << text;
  return map;
}

struct LookupCase {
  const char* address;
  std::optional<Logins> logins;  // nullopt: no entry
};

TEST(SenderLogins, FormsAndLookup) {
  auto map = parse_ok(
      "# who may send as whom\n"
      "\n"
      "alice@example.com      alice\n"
      "Sales@Example.COM:\tAlice, BOB\n"
      "   \t\n"
      "  support@example.com bob,carol  dave\r\n"
      "info@example.com:carol\n"
      "@example.org           carol\n"
      "    # an indented comment\n"
      "postmaster@example.org  root");
  const LookupCase cases[] = {
      {"alice@example.com", Logins{"alice"}},
      {"ALICE@EXAMPLE.COM", Logins{"alice"}},
      {"sales@example.com", Logins{"alice", "bob"}},
      {"support@example.com", Logins{"bob", "carol", "dave"}},
      {"info@example.com", Logins{"carol"}},
      // Exact first, then the domain.
      {"postmaster@example.org", Logins{"root"}},
      {"anyone@example.org", Logins{"carol"}},
      {"anyone@EXAMPLE.org", Logins{"carol"}},
      {"\"a@b\"@example.org", Logins{"carol"}},
      {"bob@example.com", std::nullopt},
      {"alice@sub.example.org", std::nullopt},
      {"alice", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& c : cases) {
    const Logins* got = map->logins_for(c.address);
    if (!c.logins) {
      EXPECT_EQ(got, nullptr) << c.address;
    } else {
      ASSERT_NE(got, nullptr) << c.address;
      EXPECT_EQ(*got, *c.logins) << c.address;
    }
  }
}

TEST(SenderLogins, EmptyMapHasNoEntries) {
  auto map = parse_ok("# nothing yet\n\n");
  EXPECT_EQ(map->logins_for("alice@example.com"), nullptr);
}

struct ErrorCase {
  const char* text;
  const char* errors;
};

TEST(SenderLogins, ErrorsNameFileAndLine) {
  const ErrorCase cases[] = {
      {"alice@example.com\n",
       "map:1: 'alice@example.com' has no login: write 'address  login, login'"},
      {"# c\nalice@example.com:\n", "map:2: 'alice@example.com' has no login"},
      {"alice@example.com  , ,\n", "map:1: 'alice@example.com' has no login"},
      {"\nalice bob\n", "map:2: 'alice' is not an address or @domain"},
      {"Example.com: bob\n", "map:1: 'example.com' is not an address or @domain"},
      {"a@x.test a\nA@X.TEST b\n", "map:2: 'a@x.test' is listed twice"},
      {"@x.test a\n@x.test: b\n", "map:2: '@x.test' is listed twice"},
      // Every problem, one per line; the good lines around them still count.
      {"a@x.test a\nbad\n\nb@x.test\nc bob\na@x.test z\n",
       "map:2: 'bad' has no login: write 'address  login, login'\n"
       "map:4: 'b@x.test' has no login: write 'address  login, login'\n"
       "map:5: 'c' is not an address or @domain\n"
       "map:6: 'a@x.test' is listed twice"},
  };
  for (const auto& c : cases) {
    std::string errors;
    auto map = SenderLogins::parse(c.text, "map", errors);
    EXPECT_EQ(errors, c.errors) << c.text;
    ASSERT_NE(map, nullptr);
  }
  std::string errors;
  auto map = SenderLogins::parse("a@x.test a\nbad\n", "map", errors);
  ASSERT_NE(map->logins_for("a@x.test"), nullptr);
}

TEST(SenderLogins, LoadReadsTheFileAndReportsProblems) {
  auto dir =
      std::filesystem::temp_directory_path() / ("tern-sender-logins-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto good = (dir / "good").string(), bad = (dir / "bad").string();
  std::ofstream(good) << "alice@example.com alice\n";
  std::ofstream(bad) << "alice@example.com alice\nbob\n";

  auto map = SenderLogins::load(good);
  ASSERT_TRUE(map.ok()) << map.error().message;
  EXPECT_NE((*map)->logins_for("alice@example.com"), nullptr);

  auto broken = SenderLogins::load(bad);
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().message, bad + ":2: 'bob' has no login: write 'address  login, login'");

  auto missing = SenderLogins::load((dir / "missing").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "cannot read sender login map " + (dir / "missing").string() +
                                         ": No such file or directory");
  std::filesystem::remove_all(dir);
}

struct OwnsCase {
  const char* login;
  const char* sender;
  bool owns;
};

TEST(OwnsByName, OwnAddressInOurDomains) {
  const config::Config c = testing::config_with_domains();
  const OwnsCase cases[] = {
      {"alice", "alice@example.com", true},
      {"Alice", "ALICE@Example.Com", true},
      {"alice", "alice@lmtp.example", true},
      {"alice", "alice@gone.example", true},
      // Routed elsewhere, not ours: the name alone proves nothing there.
      {"alice", "alice@routed.example", false},
      {"alice", "alice@other.example", false},
      {"alice", "bob@example.com", false},
      {"alice", "alice.smith@example.com", false},
      {"alice", "alice", true},
      {"alice", "", false},
      // A login with a domain owns that address only.
      {"alice@other.example", "alice@other.example", true},
      {"alice@other.example", "ALICE@OTHER.EXAMPLE", true},
      {"alice@other.example", "alice@example.com", false},
      {"alice@example.com", "alice@example.com", true},
  };
  for (const auto& t : cases)
    EXPECT_EQ(owns_by_name(t.login, t.sender, c), t.owns) << t.login << " " << t.sender;
}

}  // namespace
}  // namespace tern::policy
