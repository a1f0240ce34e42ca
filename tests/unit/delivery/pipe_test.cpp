// Pipe delivery with small /bin/sh scripts written into a temporary directory: the message
// and the environment the program receives (and nothing else: no inherited variables or
// descriptors, arguments never seen by a shell); every sysexits code through a real exit;
// the program's output in the outcome; the time limit kills the whole process group; a
// program that never reads its input; a missing program; a signal; running as another user.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "scratch.hpp"
#include "delivery/pipe.hpp"

namespace tern::delivery {
namespace {

namespace fs = std::filesystem;
using Kind = mail::Outcome::Kind;

using testing::read_file;

struct PipeTest : testing::ScratchDir {
  PipeTest() : ScratchDir("tern-pipe") {}
  void SetUp() override {
    ScratchDir::SetUp();
    fs::permissions(dir, fs::perms(0755));
  }

  // Writes an executable /bin/sh script and returns its path.
  std::string script(const std::string& name, const std::string& body) {
    fs::path p = dir / name;
    std::ofstream(p) << "#!/bin/sh\n" << body;
    fs::permissions(p, fs::perms(0755));
    return p.string();
  }

  PipeEnvelope envelope() const {
    return {"sender@example.org", "bob+list@example.test", "bob", "bob+list", "list",
            "example.test", home_};
  }
  std::string home_ = "/";
};

TEST(PipeExits, TableFollowsSysexitsAndPostfix) {
  struct Row {
    int code;
    Kind kind;
    const char* dsn;
  };
  const Row rows[] = {
      {0, Kind::sent, "2.0.0"},       {64, Kind::bounced, "5.3.0"},  {65, Kind::bounced, "5.6.0"},
      {66, Kind::bounced, "5.3.0"},   {67, Kind::bounced, "5.1.1"},  {68, Kind::bounced, "5.1.2"},
      {69, Kind::bounced, "5.3.0"},   {70, Kind::bounced, "5.3.0"},  {71, Kind::deferred, "4.3.0"},
      {72, Kind::bounced, "5.3.0"},   {73, Kind::bounced, "5.2.0"},  {74, Kind::bounced, "5.3.0"},
      {75, Kind::deferred, "4.3.0"},  {76, Kind::bounced, "5.5.0"},  {77, Kind::bounced, "5.7.0"},
      {78, Kind::bounced, "5.3.5"},   {1, Kind::bounced, "5.3.0"},   {2, Kind::bounced, "5.3.0"},
      {126, Kind::bounced, "5.3.0"},
  };
  for (const auto& row : rows) {
    auto o = outcome_of_exit(row.code, "");
    EXPECT_EQ(o.kind, row.kind) << row.code;
    EXPECT_EQ(o.dsn, row.dsn) << row.code;
    EXPECT_EQ(o.text.find("command output"), std::string::npos);
  }
  EXPECT_EQ(find_sys_exit(67)->name, "EX_NOUSER");
  EXPECT_EQ(find_sys_exit(63), nullptr);
  EXPECT_EQ(find_sys_exit(79), nullptr);
  EXPECT_EQ(outcome_of_exit(75, "try later").text,
            "temporary failure (command exit status 75, EX_TEMPFAIL); command output: try later");
}

TEST(PipeExits, OutputTextIsPrintableAndShort) {
  EXPECT_EQ(command_output_text("  no such\tuser\r\n\n", false), "no such user");
  EXPECT_EQ(command_output_text("a\x01\x7f\xc3\xa9z", false), "a????z");
  EXPECT_EQ(command_output_text("abc", true), "abc...");
  EXPECT_EQ(command_output_text("", true), "");
}

TEST_F(PipeTest, ReceivesMessageEnvironmentAndArgumentsWithoutShell) {
  // The script finds its directory from its own path: no variable of ours reaches it.
  std::string prog = script("deliver", "OUT=$(dirname \"$0\")\n"
                           "cat > \"$OUT/stdin\"\n"
                           "env | sort > \"$OUT/env\"\n"
                           "for a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$OUT/args\"\n"
                           "pwd > \"$OUT/pwd\"\n");
  ::setenv("TERN_TEST_SECRET", "leak", 1);
  Pipe p;
  home_ = dir.string();
  auto o = p.deliver({{prog, "two words", "$HOME;`id`", "*"}, std::nullopt}, envelope(),
                     "Subject: hi\r\n\r\nFrom body\r\n.\r\n");
  ::unsetenv("TERN_TEST_SECRET");
  EXPECT_EQ(o.kind, Kind::sent) << o.text;
  EXPECT_EQ(o.dsn, "2.0.0");
  EXPECT_TRUE(o.final_delivery);
  EXPECT_EQ(read_file(dir / "stdin"), "Return-Path: <sender@example.org>\n"
                                 "Delivered-To: bob+list@example.test\n"
                                 "Subject: hi\n\nFrom body\n.\n");
  EXPECT_EQ(read_file(dir / "args"), "two words\n$HOME;`id`\n*\n");
  EXPECT_EQ(read_file(dir / "pwd"), dir.string() + "\n");

  std::set<std::string> lines;
  std::istringstream env(read_file(dir / "env"));
  for (std::string line; std::getline(env, line);) lines.insert(line);
  lines.erase("PWD=" + dir.string());  // the shell sets it itself
  const std::set<std::string> expected = {
      "PATH=/usr/bin:/bin",        "SENDER=sender@example.org", "RECIPIENT=bob+list@example.test",
      "USER=bob",                  "LOCAL=bob+list",            "EXTENSION=list",
      "DOMAIN=example.test",       "HOME=" + dir.string(),
  };
  EXPECT_EQ(lines, expected);
}

TEST_F(PipeTest, WithoutTraceHeadersAndWithTheNullSender) {
  std::string prog = script("cat", "cat > \"$(dirname \"$0\")/stdin\"\n"
                                   "printf '%s' \"$SENDER\" > \"$(dirname \"$0\")/sender\"\n");
  PipeOptions opt;
  opt.trace_headers = false;
  auto env = envelope();
  env.sender = "";
  auto o = Pipe(opt).deliver({{prog}, std::nullopt}, env, "a\r\nb");
  EXPECT_EQ(o.kind, Kind::sent) << o.text;
  EXPECT_EQ(read_file(dir / "stdin"), "a\nb");
  EXPECT_EQ(read_file(dir / "sender"), "");
}

TEST_F(PipeTest, EverySysexitsCodeThroughARealExit) {
  std::string prog = script("exit", "cat > /dev/null\nexit \"$1\"\n");
  Pipe p;
  for (int code = 64; code <= 78; ++code) {
    auto o = p.deliver({{prog, std::to_string(code)}, std::nullopt}, envelope(), "x\r\n");
    const SysExit* e = find_sys_exit(code);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(o.dsn, e->dsn) << code;
    EXPECT_EQ(o.kind, e->dsn[0] == '4' ? Kind::deferred : Kind::bounced) << code;
  }
}

TEST_F(PipeTest, TempfailDefersAndNoUserBouncesWithTheProgramsWords) {
  Pipe p;
  auto o = p.deliver({{script("t", "cat >/dev/null\nexit 75\n")}, std::nullopt}, envelope(),
                     "x\r\n");
  EXPECT_EQ(o.kind, Kind::deferred) << o.text;
  EXPECT_EQ(o.dsn, "4.3.0");

  o = p.deliver({{script("u", "echo 'no such user: bob' >&2\necho and more\nexit 67\n")},
                 std::nullopt},
                envelope(), "x\r\n");
  EXPECT_EQ(o.kind, Kind::bounced) << o.text;
  EXPECT_EQ(o.dsn, "5.1.1");
  EXPECT_EQ(o.text, "user unknown (command exit status 67, EX_NOUSER); "
                    "command output: no such user: bob and more");

  o = p.deliver({{script("one", "exit 1\n")}, std::nullopt}, envelope(), "x\r\n");
  EXPECT_EQ(o.kind, Kind::bounced) << o.text;
  EXPECT_EQ(o.dsn, "5.3.0");
}

TEST_F(PipeTest, TimeLimitKillsTheWholeProcessGroup) {
  // A background child that also holds stdout open: neither it nor the script may outlive
  // the limit, and its open stdout must not keep us waiting.
  std::string prog = script("slow", "sleep 30 &\necho $! > \"$(dirname \"$0\")/bg\"\n"
                                    "echo started\nwait\n");
  PipeOptions opt;
  opt.time_limit = std::chrono::milliseconds(500);
  const auto start = std::chrono::steady_clock::now();
  auto o = Pipe(opt).deliver({{prog}, std::nullopt}, envelope(), "x\r\n");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(o.kind, Kind::deferred) << o.text;
  EXPECT_EQ(o.dsn, "4.3.0");
  EXPECT_EQ(o.text, "command time limit exceeded; command output: started");
  EXPECT_LT(took, std::chrono::seconds(5));

  pid_t bg = std::stoi(read_file(dir / "bg"));
  // Killed: gone, or a zombie waiting for a reaper that is not us.
  bool dead = false;
  for (int i = 0; i < 100 && !dead; ++i) {
    std::string stat = read_file("/proc/" + std::to_string(bg) + "/stat");
    dead = stat.empty() || stat.find(") Z ") != std::string::npos;
    if (!dead) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(dead) << "background child " << bg << " survived";
}

TEST_F(PipeTest, LeftoverChildHoldingOutputDoesNotDelayTheResult) {
  // The script exits at once; its child keeps stdout open for a while. Reported after the
  // drain bound, not after the child.
  std::string prog = script("fork", "cat >/dev/null\n(sleep 5; echo late) &\necho done\nexit 0\n");
  const auto start = std::chrono::steady_clock::now();
  auto o = Pipe().deliver({{prog}, std::nullopt}, envelope(), "x\r\n");
  EXPECT_EQ(o.kind, Kind::sent) << o.text;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
}

TEST_F(PipeTest, ProgramThatDoesNotReadItsInput) {
  // Bigger than any pipe buffer, so writing meets EPIPE; no SIGPIPE may reach us.
  const std::string big(4 * 1024 * 1024, 'x');
  Pipe p;
  auto o = p.deliver({{script("ignore", "exit 0\n")}, std::nullopt}, envelope(), big);
  EXPECT_EQ(o.kind, Kind::sent) << o.text;
  o = p.deliver({{script("ignore75", "echo busy\nexit 75\n")}, std::nullopt}, envelope(), big);
  EXPECT_EQ(o.kind, Kind::deferred) << o.text;
  EXPECT_NE(o.text.find("command output: busy"), std::string::npos) << o.text;
  // And SIGPIPE is neither pending nor left blocked in this thread.
  sigset_t pending, mask;
  sigpending(&pending);
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0);
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  EXPECT_EQ(sigismember(&mask, SIGPIPE), 0);
}

TEST_F(PipeTest, ReadsAndWritesConcurrently) {
  // Prints more than a pipe holds before reading anything: a writer that did one thing at
  // a time would deadlock here.
  std::string prog = script("chatty", "head -c 300000 /dev/zero | tr '\\0' 'y'\n"
                                      "wc -c > \"$(dirname \"$0\")/count\"\nexit 75\n");
  const std::string big(1024 * 1024, 'x');
  PipeOptions opt;
  opt.trace_headers = false;
  opt.time_limit = std::chrono::seconds(20);
  auto o = Pipe(opt).deliver({{prog}, std::nullopt}, envelope(), big);
  EXPECT_EQ(o.kind, Kind::deferred) << o.text;
  EXPECT_EQ(std::stoul(read_file(dir / "count")), big.size());
  EXPECT_LT(o.text.size(), 1200u);  // output kept short
  EXPECT_NE(o.text.find("yyy..."), std::string::npos);
}

TEST_F(PipeTest, MissingOrBadProgramIsAClearError) {
  Pipe p;
  auto o = p.deliver({{(dir / "no-such-program").string()}, std::nullopt}, envelope(), "x\r\n");
  EXPECT_EQ(o.kind, Kind::deferred) << o.text;
  EXPECT_EQ(o.dsn, "4.3.5");
  EXPECT_EQ(o.text, "cannot execute " + (dir / "no-such-program").string() +
                        ": No such file or directory");

  std::ofstream(dir / "plain") << "not executable\n";
  o = p.deliver({{(dir / "plain").string()}, std::nullopt}, envelope(), "x\r\n");
  EXPECT_EQ(o.kind, Kind::deferred) << o.text;
  EXPECT_NE(o.text.find("Permission denied"), std::string::npos) << o.text;

  o = p.deliver({{"procmail", "-d", "bob"}, std::nullopt}, envelope(), "x\r\n");
  EXPECT_EQ(o.kind, Kind::deferred) << o.text;
  EXPECT_EQ(o.text, "command must be an absolute path: procmail");
  o = p.deliver({{}, std::nullopt}, envelope(), "x\r\n");
  EXPECT_EQ(o.kind, Kind::deferred) << o.text;
}

TEST_F(PipeTest, KilledBySignalDefers) {
  auto o = Pipe().deliver({{script("sig", "cat >/dev/null\nkill -TERM $$\nsleep 5\n")}, std::nullopt},
                          envelope(), "x\r\n");
  EXPECT_EQ(o.kind, Kind::deferred) << o.text;
  EXPECT_EQ(o.dsn, "4.3.0");
  EXPECT_EQ(o.text, "command killed by signal 15 (SIGTERM)");
}

TEST_F(PipeTest, IgnoredSignalsAndOpenDescriptorsAreNotInherited) {
  // A descriptor without close-on-exec, and SIGTERM ignored, in the parent.
  int fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_GE(::dup2(fd, 57), 0);
  ::close(fd);
  struct sigaction ign{}, old{};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGTERM, &ign, &old);
  auto o = Pipe().deliver(
      {{script("inherit", "[ -e /proc/$$/fd/57 ] && echo leaked-fd\n"
                          "kill -TERM $$\necho survived-term\nexit 0\n")},
       std::nullopt},
      envelope(), "x\r\n");
  ::sigaction(SIGTERM, &old, nullptr);
  ::close(57);
  EXPECT_EQ(o.kind, Kind::deferred) << o.text;  // SIGTERM was at its default: killed
  EXPECT_EQ(o.text.find("leaked-fd"), std::string::npos) << o.text;
  EXPECT_EQ(o.text.find("survived-term"), std::string::npos) << o.text;
}

TEST_F(PipeTest, RunsAsTheGivenUserWhenRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  constexpr uid_t kNobody = 65534;
  auto o = Pipe().deliver(
      {{script("who", "cat >/dev/null\necho \"$(id -u):$(id -g):$(id -G)\"\nexit 75\n")},
       RunAs{kNobody, kNobody}},
      envelope(), "x\r\n");
  EXPECT_EQ(o.kind, Kind::deferred) << o.text;
  EXPECT_EQ(o.text, "temporary failure (command exit status 75, EX_TEMPFAIL); "
                    "command output: 65534:65534:65534");
}

}  // namespace
}  // namespace tern::delivery
