// mbox delivery: the From_ line, mboxrd quoting and the blank line after each message; the
// file's mode; bounces for what can never be a mailbox; both locks (fcntl, also against
// another process's classic lock, and the dot-lock with its stale bound); two threads and
// two processes appending many messages leave every message whole; a write that fails under
// a file size limit leaves the mailbox as it was.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "scratch.hpp"
#include "delivery/mbox.hpp"

namespace tern::delivery {
namespace {

namespace fs = std::filesystem;
using Kind = mail::Outcome::Kind;

using testing::read_file;

// The asctime() date of `when` in local time, as a reader expects it.
std::string asctime_of(std::time_t when) {
  std::tm tm{};
  ::localtime_r(&when, &tm);
  char buf[64];
  ::asctime_r(&tm, buf);
  std::string s(buf);
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

struct Entry {
  std::string from_line;  // without '\n'
  std::string text;       // unquoted (mboxrd), without the blank line that ends it
};

// Splits an mbox into entries at "From " lines that follow a blank line (or begin the
// file), undoing mboxrd quoting. Fails the test on anything not well-formed.
std::vector<Entry> parse_mbox(const std::string& box) {
  std::vector<Entry> out;
  std::size_t pos = 0;
  bool prev_blank = true;
  while (pos < box.size()) {
    std::size_t nl = box.find('\n', pos);
    EXPECT_NE(nl, std::string::npos) << "mbox does not end with a newline";
    if (nl == std::string::npos) break;
    std::string line = box.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.rfind("From ", 0) == 0) {
      EXPECT_TRUE(prev_blank) << "From_ line without a blank line before it";
      if (!out.empty()) out.back().text.pop_back();  // the blank line ending the previous one
      out.push_back({line, {}});
    } else {
      EXPECT_FALSE(out.empty()) << "text before the first From_ line";
      if (out.empty()) return out;
      std::size_t j = 0;
      while (j < line.size() && line[j] == '>') ++j;
      if (j > 0 && line.compare(j, 5, "From ") == 0) line.erase(0, 1);
      out.back().text += line + "\n";
    }
    prev_blank = line.empty();
  }
  EXPECT_TRUE(prev_blank) << "mbox does not end with a blank line";
  if (!out.empty() && !out.back().text.empty()) out.back().text.pop_back();
  return out;
}

std::string to_lf(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (!(s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n')) out += s[i];
  return out;
}

// A message big enough to take two write() calls (over 64 KiB), with lines that need
// quoting, identified by writer and number.
std::string big_message(const std::string& writer, int n) {
  std::string id = writer + "-" + std::to_string(n);
  std::string m = "Subject: " + id + "\r\n\r\n";
  for (int k = 0; k < 3000; ++k) {
    if (k % 500 == 0) m += "From the body " + id + "\r\n>From quoted\r\n";
    m += "line " + std::to_string(k) + " of message " + id + "\r\n";
  }
  return m;
}

struct MboxTest : testing::ScratchDir {
  MboxTest() : ScratchDir("tern-mbox") {}

  // Checks that `box` holds exactly the big messages of these writers, each once and whole.
  void expect_all_whole(const fs::path& box, const std::vector<std::string>& writers,
                        int per_writer) {
    auto entries = parse_mbox(read_file(box));
    ASSERT_EQ(entries.size(), writers.size() * per_writer);
    std::map<std::string, int> seen;
    for (const auto& e : entries) {
      std::string subject = e.text.substr(e.text.find("Subject: ") + 9);
      subject = subject.substr(0, subject.find('\n'));
      auto dash = subject.rfind('-');
      std::string writer = subject.substr(0, dash);
      int n = std::stoi(subject.substr(dash + 1));
      EXPECT_EQ(e.from_line.rfind("From " + writer + "@example.org ", 0), 0u) << e.from_line;
      EXPECT_EQ(e.text, "Return-Path: <" + writer + "@example.org>\nDelivered-To: u@example.test\n" +
                            to_lf(big_message(writer, n)))
          << subject;
      ++seen[subject];
    }
    EXPECT_EQ(seen.size(), writers.size() * per_writer);
    for (auto& [id, count] : seen) EXPECT_EQ(count, 1) << id;
  }
};

TEST(MboxFormat, FromLineQuotingAndBlankLine) {
  const std::time_t when = 1700000000;
  EXPECT_EQ(mbox_from_line("", when), "From MAILER-DAEMON " + asctime_of(when) + "\n");
  EXPECT_EQ(mbox_from_line("a@b.example", when), "From a@b.example " + asctime_of(when) + "\n");
  EXPECT_EQ(mbox_from_line("\"a b\"@x.example", when),
            "From \"a_b\"@x.example " + asctime_of(when) + "\n");

  const std::string msg =
      "Subject: q\r\n\r\nFrom here\r\n>From there\r\n>>From x\r\nFrom\r\nFromage\r\n"
      " From indented\r\n>> From spaced\r\nlast";
  EXPECT_EQ(mbox_entry("s@x.example", "R@y.example", msg, when),
            "From s@x.example " + asctime_of(when) +
                "\nReturn-Path: <s@x.example>\nDelivered-To: R@y.example\n"
                "Subject: q\n\n>From here\n>>From there\n>>>From x\nFrom\nFromage\n"
                " From indented\n>> From spaced\nlast\n\n");
  EXPECT_EQ(mbox_entry("", "r@y.example", "a\r\n", when, false),
            "From MAILER-DAEMON " + asctime_of(when) + "\na\n\n");
  // A lone CR is data, not a line ending.
  EXPECT_EQ(mbox_entry("", "r", "a\rb\r\n", when, false),
            "From MAILER-DAEMON " + asctime_of(when) + "\na\rb\n\n");
}

TEST_F(MboxTest, AppendsWithTraceHeadersAndMode0600) {
  Mbox m(dir.string());
  auto o = m.deliver("a@example.org", "Alice@example.test", "alice", "Subject: 1\r\n\r\nx\r\n");
  EXPECT_EQ(o.kind, Kind::sent) << o.text;
  EXPECT_EQ(o.dsn, "2.0.0");
  EXPECT_TRUE(o.final_delivery);
  o = m.deliver("", "alice@example.test", "alice", "Subject: 2\r\n\r\nFrom y\r\n");
  EXPECT_EQ(o.kind, Kind::sent) << o.text;

  auto entries = parse_mbox(read_file(dir / "alice"));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].from_line.rfind("From a@example.org ", 0), 0u);
  EXPECT_EQ(entries[0].text,
            "Return-Path: <a@example.org>\nDelivered-To: Alice@example.test\nSubject: 1\n\nx\n");
  EXPECT_EQ(entries[1].from_line.rfind("From MAILER-DAEMON ", 0), 0u);
  EXPECT_EQ(entries[1].text,
            "Return-Path: <>\nDelivered-To: alice@example.test\nSubject: 2\n\nFrom y\n");
  EXPECT_NE(read_file(dir / "alice").find("\n>From y\n\n"), std::string::npos);

  struct stat st{};
  ASSERT_EQ(::stat((dir / "alice").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_FALSE(fs::exists(dir / "alice.lock"));
}

TEST_F(MboxTest, ExistingFileKeepsItsModeAndContent) {
  {
    std::ofstream(dir / "bob") << "From x Thu Jan  1 00:00:00 1970\nold\n\n";
  }
  fs::permissions(dir / "bob", fs::perms(0660));
  Mbox m(dir.string());
  EXPECT_EQ(m.deliver_to_file((dir / "bob").string(), "s@x", "r@y", "new\r\n").kind, Kind::sent);
  auto entries = parse_mbox(read_file(dir / "bob"));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].text, "old\n");
  EXPECT_EQ(entries[1].text, "Return-Path: <s@x>\nDelivered-To: r@y\nnew\n");
  EXPECT_EQ(static_cast<unsigned>(fs::status(dir / "bob").permissions()), 0660u);
}

TEST_F(MboxTest, WhatCannotBeAMailboxBounces) {
  Mbox m(dir.string());
  fs::create_directories(dir / "adir");
  auto o = m.deliver("", "r@y", "adir", "x\r\n");
  EXPECT_EQ(o.kind, Kind::bounced) << o.text;
  EXPECT_EQ(o.dsn, "5.2.0");
  EXPECT_NE(o.text.find("directory"), std::string::npos) << o.text;

  std::ofstream(dir / "target") << "";
  fs::create_symlink(dir / "target", dir / "link");
  o = m.deliver("", "r@y", "link", "x\r\n");
  EXPECT_EQ(o.kind, Kind::bounced) << o.text;
  EXPECT_NE(o.text.find("symbolic link"), std::string::npos) << o.text;

  fs::create_hard_link(dir / "target", dir / "hard");
  o = m.deliver("", "r@y", "hard", "x\r\n");
  EXPECT_EQ(o.kind, Kind::bounced) << o.text;
  EXPECT_EQ(read_file(dir / "target"), "");

  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  o = m.deliver("", "r@y", "fifo", "x\r\n");
  EXPECT_EQ(o.kind, Kind::bounced) << o.text;

  for (const char* user : {"../etc", ".hidden", "a/b", ""}) {
    o = m.deliver("", "r@y", user, "x\r\n");
    EXPECT_EQ(o.kind, Kind::bounced) << user;
    EXPECT_EQ(o.dsn, "5.1.3");
  }
  EXPECT_EQ(m.deliver_to_file("relative/file", "", "r@y", "x\r\n").kind, Kind::bounced);

  // A missing directory is the admin's to fix: deferred.
  o = m.deliver_to_file((dir / "no" / "such" / "file").string(), "", "r@y", "x\r\n");
  EXPECT_EQ(o.kind, Kind::deferred) << o.text;
  EXPECT_EQ(o.dsn.substr(0, 2), "4.");
}

TEST_F(MboxTest, FreshDotLockMakesItWaitThenDefer) {
  MboxOptions opt;
  opt.lock_wait = std::chrono::milliseconds(300);
  Mbox m(dir.string(), opt);
  std::ofstream(dir / "carol.lock") << "12345\n";
  auto o = m.deliver("", "r@y", "carol", "x\r\n");
  EXPECT_EQ(o.kind, Kind::deferred) << o.text;
  EXPECT_EQ(o.dsn, "4.2.0");
  EXPECT_NE(o.text.find("busy"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir / "carol.lock"));  // not ours to remove
  EXPECT_EQ(read_file(dir / "carol"), "");

  // Released while we wait: the delivery goes through.
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    fs::remove(dir / "carol.lock");
  });
  opt.lock_wait = std::chrono::seconds(10);
  o = Mbox(dir.string(), opt).deliver("", "r@y", "carol", "x\r\n");
  release.join();
  EXPECT_EQ(o.kind, Kind::sent) << o.text;
}

TEST_F(MboxTest, StaleDotLockIsRemoved) {
  MboxOptions opt;
  opt.lock_wait = std::chrono::seconds(5);
  opt.stale_lock_age = std::chrono::seconds(60);
  std::ofstream(dir / "dave.lock") << "1\n";
  fs::last_write_time(dir / "dave.lock",
                      fs::file_time_type::clock::now() - std::chrono::seconds(120));
  auto o = Mbox(dir.string(), opt).deliver("", "r@y", "dave", "x\r\n");
  EXPECT_EQ(o.kind, Kind::sent) << o.text;
  EXPECT_FALSE(fs::exists(dir / "dave.lock"));
}

TEST_F(MboxTest, FcntlLockOfAnotherOpenFileAndOfAnotherProcessIsHonoured) {
  MboxOptions opt;
  opt.lock_wait = std::chrono::milliseconds(200);
  Mbox m(dir.string(), opt);
  const fs::path box = dir / "erin";
  std::ofstream(box) << "";

  {  // an open-file-description lock in this very process
    int fd = ::open(box.c_str(), O_RDWR);
    struct flock fl{};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    ASSERT_EQ(::fcntl(fd, F_OFD_SETLK, &fl), 0);
    auto o = m.deliver("", "r@y", "erin", "x\r\n");
    EXPECT_EQ(o.kind, Kind::deferred) << o.text;
    EXPECT_NE(o.text.find("fcntl"), std::string::npos) << o.text;
    ::close(fd);
  }
  {  // a classic POSIX lock held by another process, as mutt or procmail take it
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int fd = ::open(box.c_str(), O_RDWR);
      struct flock fl{};
      fl.l_type = F_WRLCK;
      fl.l_whence = SEEK_SET;
      if (fd < 0 || ::fcntl(fd, F_SETLK, &fl) != 0) ::_exit(1);
      (void)!::write(ready[1], "x", 1);
      ::sleep(2);
      ::_exit(0);
    }
    char c;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    auto o = m.deliver("", "r@y", "erin", "x\r\n");
    EXPECT_EQ(o.kind, Kind::deferred) << o.text;
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(ready[0]);
    ::close(ready[1]);
  }
  EXPECT_EQ(read_file(box), "");
  EXPECT_EQ(m.deliver("", "r@y", "erin", "x\r\n").kind, Kind::sent);
}

constexpr int kPerWriter = 60;

TEST_F(MboxTest, TwoThreadsInterleaveNothing) {
  Mbox m(dir.string());
  auto writer = [&](std::string name) {
    for (int i = 0; i < kPerWriter; ++i) {
      auto o = m.deliver(name + "@example.org", "u@example.test", "shared", big_message(name, i));
      EXPECT_EQ(o.kind, Kind::sent) << o.text;
    }
  };
  std::thread a(writer, "ta"), b(writer, "tb");
  a.join();
  b.join();
  expect_all_whole(dir / "shared", {"ta", "tb"}, kPerWriter);
  EXPECT_FALSE(fs::exists(dir / "shared.lock"));
}

TEST_F(MboxTest, TwoProcessesInterleaveNothing) {
  Mbox m(dir.string());
  std::vector<pid_t> children;
  for (std::string name : {"pa", "pb"}) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int failures = 0;
      for (int i = 0; i < kPerWriter; ++i) {
        auto o = m.deliver(name + "@example.org", "u@example.test", "shared", big_message(name, i));
        if (o.kind != Kind::sent) ++failures;
      }
      ::_exit(failures == 0 ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  expect_all_whole(dir / "shared", {"pa", "pb"}, kPerWriter);
}

TEST_F(MboxTest, FailedWriteTruncatesBack) {
  Mbox m(dir.string());
  ASSERT_EQ(m.deliver("s@x", "r@y", "frank", "first\r\n").kind, Kind::sent);
  const std::string before = read_file(dir / "frank");

  // In a child, so the file size limit and the ignored SIGXFSZ stay there.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl{};
    rl.rlim_cur = rl.rlim_max = before.size() + 20 * 1024;  // the message is ~90 KiB
    if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) ::_exit(2);
    auto o = m.deliver("s@x", "r@y", "frank", big_message("big", 1));
    ::_exit(o.kind == Kind::deferred && o.dsn == "4.2.2" ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(read_file(dir / "frank"), before);
  EXPECT_FALSE(fs::exists(dir / "frank.lock"));
  // And the mailbox takes the next message normally.
  EXPECT_EQ(m.deliver("s@x", "r@y", "frank", "second\r\n").kind, Kind::sent);
  EXPECT_EQ(parse_mbox(read_file(dir / "frank")).size(), 2u);
}

}  // namespace
}  // namespace tern::delivery
