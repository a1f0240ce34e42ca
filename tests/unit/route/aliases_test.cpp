// /etc/aliases parsing: every right-hand-side form, continuation lines, comments, quoted
// and case-folded keys, error: entries, :include: allowed and refused, and the
// "file:line: problem" messages of tables that do not load.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "route/aliases.hpp"

namespace tern::route {
namespace {

namespace fs = std::filesystem;
using Kind = AliasTarget::Kind;

// A target in one string: "addr:a@b", "local:bob", "file:/x", "pipe:cmd", "error:550 5.1.1 t".
std::string show(const AliasTarget& t) {
  switch (t.kind) {
    case Kind::address: return "addr:" + t.address.text();
    case Kind::local: return "local:" + t.value;
    case Kind::file: return "file:" + t.value;
    case Kind::pipe: return "pipe:" + t.value;
    case Kind::error:
      return "error:" + std::to_string(t.code) + " " + t.enhanced + " " + t.value;
  }
  return "?";
}

std::vector<std::string> show(const AliasEntry* e) {
  std::vector<std::string> out;
  if (e == nullptr) return {"<none>"};
  for (const auto& t : e->targets) out.push_back(show(t));
  return out;
}

struct Good {
  const char* text;
  const char* key;
  std::vector<std::string> targets;
};

TEST(AliasesParse, EveryForm) {
  const Good cases[] = {
      {"root: admin@example.org\n", "root", {"addr:admin@example.org"}},
      {"postmaster:\troot\n", "postmaster", {"local:root"}},
      {"list: a, b@example.net,c\n", "list", {"local:a", "addr:b@example.net", "local:c"}},
      {"arch: /var/mail/archive\n", "arch", {"file:/var/mail/archive"}},
      {"bug: |/usr/bin/tracker\n", "bug", {"pipe:/usr/bin/tracker"}},
      {"bug: \"|/usr/bin/tracker -q, --x\"\n", "bug", {"pipe:/usr/bin/tracker -q, --x"}},
      {"bug: |/usr/bin/tracker -q\n", "bug", {"pipe:/usr/bin/tracker -q"}},
      {"gone: error:550 5.1.1 gone\n", "gone", {"error:550 5.1.1 gone"}},
      {"gone: error:450 try later\n", "gone", {"error:450 4.0.0 try later"}},
      {"gone: \"error:550 5.7.1 no, never\"\n", "gone", {"error:550 5.7.1 no, never"}},
      {"gone: ERROR:553\n", "gone", {"error:553 5.0.0 delivery refused by the alias table"}},
      {"nul: /dev/null\n", "nul", {"file:/dev/null"}},
      {"a: <bob@example.org>\n", "a", {"addr:bob@example.org"}},
      {"a: \"odd name\"\n", "a", {"local:odd name"}},
      {"a: \"x y\"@example.org\n", "a", {"addr:\"x y\"@example.org"}},
      {"a: b#c@example.org\n", "a", {"addr:b#c@example.org"}},
      // Keys: case folded, quoted, with dots and dashes.
      {"Root: admin\n", "ROOT", {"local:admin"}},
      {"\"x y\": bob\n", "X Y", {"local:bob"}},
      {"\"a:b\" : bob\n", "a:b", {"local:bob"}},
      {"owner-list: admin\n", "owner-list", {"local:admin"}},
      {"first.last: fl\n", "first.last", {"local:fl"}},
      // Continuation lines, with comments and blank lines between.
      {"list: a,\n  b,\n\tc\n", "list", {"local:a", "local:b", "local:c"}},
      {"list: a,\n# comment\n\n  b\n", "list", {"local:a", "local:b"}},
      {"list:\n  a, b\n", "list", {"local:a", "local:b"}},
      // Comments: whole-line (also indented), trailing (OpenSMTPD).
      {"# head\n  # indented\nroot: admin # the admin\n", "root", {"local:admin"}},
      {"root: admin,# no space\n", "root", {"local:admin"}},
      // CRLF files.
      {"root: admin\r\nabuse: root\r\n", "abuse", {"local:root"}},
      // Duplicates: the first wins.
      {"root: a\nroot: b\n", "root", {"local:a"}},
      // :include: is case-insensitive and may have space after the colon (read in another test).
  };
  for (const auto& c : cases) {
    auto a = Aliases::parse(c.text, "t");
    ASSERT_TRUE(a) << c.text << " → " << a.error().message;
    EXPECT_EQ(show(a->find(c.key)), c.targets) << c.text;
  }
}

TEST(AliasesParse, DebianDefaultFile) {
  const char* text =
      "# Enter mail aliases below in the format described by aliases(5)\n"
      "root:\t\tadmin@example.org\n"
      "# RFC 2142 NETWORK OPERATIONS MAILBOX NAMES\n"
      "abuse:\t\troot\nnoc:\t\troot\nsecurity:\troot\n"
      "postmaster:\troot\nhostmaster:\troot\nwebmaster:\troot\nwww:\t\twebmaster\nftp:\t\troot\n";
  auto a = Aliases::parse(text, "/etc/aliases");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->size(), 9u);
  EXPECT_TRUE(a->warnings().empty());
  EXPECT_EQ(a->find("www")->where, "/etc/aliases:10");
}

TEST(AliasesParse, DuplicateIsAWarning) {
  auto a = Aliases::parse("root: a\n\nroot: b\n", "t");
  ASSERT_TRUE(a);
  ASSERT_EQ(a->warnings().size(), 1u);
  EXPECT_EQ(a->warnings()[0], "t:3: duplicate entry for \"root\" ignored; the one at line 1 is used");
}

struct Bad {
  std::string_view text;
  const char* error;  // the start of the message
};

TEST(AliasesParse, ErrorsNameFileAndLine) {
  const Bad cases[] = {
      {"root admin\n", "t:1: expected \"name: destination, ...\""},
      {"ok: a\nroot admin: x\n", "t:2: the name \"root admin\" holds whitespace"},
      {"ok: a,\n\n  b,\n c\nbad\n", "t:5: expected"},
      {"  a: b\n", "t:1: continuation line"},
      {"root:\n", "t:1: no destinations for \"root\""},
      {"root: ,\n", "t:1: no destinations for \"root\""},
      {": a\n", "t:1: empty name"},
      {"\"x y: a\n", "t:1: unterminated quote"},
      {"\"x y\" a\n", "t:1: expected ':' after the quoted name"},
      {"a: b c\n", "t:1: \"b c\": not a valid local name"},
      {"a: b@\n", "t:1: \"b@\": not a valid address"},
      {"a: @x\n", "t:1: \"@x\": not a valid address"},
      {"a: |\n", "t:1: \"|\": no command"},
      {"a: \"|procmail -f-\"\n", "t:1: \"\"|procmail -f-\"\": the command must start with the "
                                  "program's absolute path"},
      {"a: error:gone\n", "t:1: \"error:gone\": error: needs a 4xx or 5xx"},
      {"a: error:250 ok\n", "t:1: \"error:250 ok\": error: needs a 4xx or 5xx"},
      {"a: error:5501 x\n", "t:1: \"error:5501 x\": error: needs"},
      {"a: error:550 4.1.1 x\n", "t:1: \"error:550 4.1.1 x\": error: enhanced status"},
      {"a: error:550 5.1 x\n", "t:1: \"error:550 5.1 x\": error: enhanced status"},
      {"a: :include:relative\n", "t:1: \":include:relative\": :include: needs an absolute path"},
      {"a: :include:/nonexistent/tern-x\n", "t:1: \":include:/nonexistent/tern-x\": cannot read"},
      {"a: b\nc: d\ne: \"f\n", "t:3: unterminated quote"},
      {std::string_view("a: b\0c\n", 7), "t:1: NUL"},
  };
  for (const auto& c : cases) {
    auto a = Aliases::parse(c.text, "t");
    ASSERT_FALSE(a) << c.text;
    EXPECT_EQ(a.error().message.rfind(c.error, 0), 0u) << c.text << " → " << a.error().message;
  }
}

struct AliasesInclude : ::testing::Test {
  fs::path dir;
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("tern-aliases-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  }
};

TEST_F(AliasesInclude, LoadsFileWithIncludes) {
  std::string staff = write("staff", "# the staff\nann, bob@example.net\n\ncarl\n");
  std::string path = write("aliases", "staff: dave, :include:" + staff + "\n");
  auto a = Aliases::load(path);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(show(a->find("staff")),
            (std::vector<std::string>{"local:dave", "local:ann", "addr:bob@example.net",
                                      "local:carl"}));
  EXPECT_FALSE(a->find("staff")->targets[0].from_include);
  EXPECT_TRUE(a->find("staff")->targets[1].from_include);
}

// Files and commands run as the alias file's owner, or default_privs when root owns it
// (or the owner has no passwd entry). Needs root to give the file away.
TEST_F(AliasesInclude, RunAsIsTheFilesOwnerOrDefaultPrivs) {
  std::string path = write("aliases", "bug: \"|/bin/true\"\n");
  AliasOptions options;
  options.default_privs = "nobody";
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown the file";
  ASSERT_EQ(::chown(path.c_str(), 0, 0), 0);
  EXPECT_EQ(Aliases::load(path, options)->find("bug")->run_as, "nobody");
  ASSERT_EQ(::chown(path.c_str(), 1, 1), 0);  // Debian: daemon
  EXPECT_EQ(Aliases::load(path, options)->find("bug")->run_as, "daemon");
  ASSERT_EQ(::chown(path.c_str(), 54321, 0), 0);  // no such user
  EXPECT_EQ(Aliases::load(path, options)->find("bug")->run_as, "nobody");
  EXPECT_EQ(Aliases::parse("bug: \"|/bin/true\"\n", "t")->find("bug")->run_as, "");
}

TEST_F(AliasesInclude, CommandsAndFilesRefusedUnlessAllowed) {
  std::string inc = write("inc", "\"|/bin/evil\", /tmp/file, ann\n");
  std::string text = "list: :INCLUDE: " + inc + ", |/bin/ok, /var/ok\n";
  auto a = Aliases::parse(text, "t");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(show(a->find("list")),
            (std::vector<std::string>{
                "error:550 5.7.1 mail to a command from an :include: file is not allowed",
                "error:550 5.7.1 mail to a file from an :include: file is not allowed",
                "local:ann", "pipe:/bin/ok", "file:/var/ok"}));
  ASSERT_EQ(a->warnings().size(), 2u);
  EXPECT_EQ(a->warnings()[0].rfind(inc + ":1: mail to a command", 0), 0u) << a->warnings()[0];

  AliasOptions allow;
  allow.allow_include_commands = true;
  allow.allow_include_files = true;
  auto b = Aliases::parse(text, "t", allow);
  ASSERT_TRUE(b);
  EXPECT_EQ(show(b->find("list")),
            (std::vector<std::string>{"pipe:/bin/evil", "file:/tmp/file", "local:ann",
                                      "pipe:/bin/ok", "file:/var/ok"}));
  EXPECT_TRUE(b->warnings().empty());
}

TEST_F(AliasesInclude, NestedIncludesLoopsAndErrors) {
  std::string inner = write("inner", "x\n");
  std::string outer = write("outer", "y, :include:" + inner + "\n");
  auto a = Aliases::parse("l: :include:" + outer + "\n", "t");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(show(a->find("l")), (std::vector<std::string>{"local:y", "local:x"}));

  std::string self = (dir / "self").string();
  write("self", "a, :include:" + self + "\n");
  auto loop = Aliases::parse("l: :include:" + self + "\n", "t");
  ASSERT_FALSE(loop);
  EXPECT_EQ(loop.error().message.rfind(self + ":1: ", 0), 0u) << loop.error().message;
  EXPECT_NE(loop.error().message.find(":include: loop"), std::string::npos);

  std::string broken = write("broken", "ok\nnot ok\n");
  auto bad = Aliases::parse("l: :include:" + broken + "\n", "t");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.rfind(broken + ":2: \"not ok\"", 0), 0u) << bad.error().message;

  std::string empty = write("empty", "# nobody yet\n");
  auto e = Aliases::parse("l: :include:" + empty + "\n", "t");
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->find("l")->targets.empty());

  AliasOptions off;
  off.allow_includes = false;
  auto no = Aliases::parse("l: :include:" + inner + "\n", "t", off);
  ASSERT_FALSE(no);
  EXPECT_NE(no.error().message.find(":include: is not allowed here"), std::string::npos);
}

TEST_F(AliasesInclude, LoadErrors) {
  auto missing = Aliases::load((dir / "none").string());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("No such file"), std::string::npos);
  auto directory = Aliases::load(dir.string());
  ASSERT_FALSE(directory);
  EXPECT_NE(directory.error().message.find("not a regular file"), std::string::npos);
  std::string path = write("aliases", "root: admin\nbroken\n");
  auto bad = Aliases::load(path);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.rfind(path + ":2: ", 0), 0u) << bad.error().message;
}

}  // namespace
}  // namespace tern::route
