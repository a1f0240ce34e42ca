// The launcher: its wire (every request and reply round-trips; truncated, oversized and
// trailing bytes are refused), the checks the root helper applies to each request (uid and
// gid 0, a relative program, "..", NUL, a bad environment entry, a time limit out of range),
// and the real helper forked by Launcher::start(): it refuses uid 0, refuses a symlink, runs
// a command as another user and reports its exit status, kills one at its time limit, and
// hands back an appendable descriptor for a file it creates for the user, mode 0600.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "delivery/launcher.hpp"
#include "delivery/launcher_wire.hpp"
#include "scratch.hpp"

namespace tern::delivery {
namespace {

namespace fs = std::filesystem;
using wire::Reply;

wire::RunRequest good_run() {
  return wire::RunRequest{65534, 65534, 1000, "/", {"/bin/true", "-x"}, {"PATH=/usr/bin:/bin"}};
}

TEST(LauncherWire, RequestsRoundTrip) {
  const wire::Request requests[] = {
      {7, good_run()},
      {8, wire::KillRequest{}},
      {9, wire::OpenRequest{1000, 1000, "/var/mail/alice"}},
      {10, wire::DotLockRequest{1000, 8, 300, "/var/mail/alice"}},
      {11, wire::DotUnlockRequest{}},
  };
  for (const auto& r : requests) {
    auto back = wire::decode_request(wire::encode(r));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->id, r.id);
    EXPECT_EQ(back->body.index(), r.body.index());
    EXPECT_EQ(wire::encode(*back), wire::encode(r));
  }
}

TEST(LauncherWire, RepliesRoundTrip) {
  Reply r{42, Reply::Kind::exited, 256, wire::kTimedOut, "text"};
  auto back = wire::decode_reply(wire::encode(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, 42u);
  EXPECT_EQ(back->kind, Reply::Kind::exited);
  EXPECT_EQ(back->status, 256);
  EXPECT_EQ(back->flags, wire::kTimedOut);
  EXPECT_EQ(back->text, "text");
}

TEST(LauncherWire, MalformedMessagesAreRefused) {
  const std::string whole = wire::encode(wire::Request{1, good_run()});
  for (std::size_t n = 0; n < whole.size(); ++n)
    EXPECT_FALSE(wire::decode_request(whole.substr(0, n))) << "cut at " << n;
  EXPECT_FALSE(wire::decode_request(whole + "x"));                     // trailing bytes
  EXPECT_FALSE(wire::decode_request(std::string(1, '\x63') + whole.substr(1)));  // unknown op
  EXPECT_FALSE(wire::decode_request(std::string(wire::kMaxMessage + 1, '\1')));
  // A list longer than its bound is refused before anything is allocated for it.
  auto many = good_run();
  many.argv.assign(wire::kMaxArgs + 1, "/bin/true");
  EXPECT_FALSE(wire::decode_request(wire::encode(wire::Request{1, many})));
  std::string reply = wire::encode(Reply{1, Reply::Kind::ok, 0, 0, ""});
  reply[8] = 9;  // the kind byte
  EXPECT_FALSE(wire::decode_reply(reply));
}

TEST(LauncherWire, RunChecks) {
  EXPECT_TRUE(wire::validate(good_run()));
  struct Case {
    const char* name;
    void (*change)(wire::RunRequest&);
  };
  const Case refused[] = {
      {"uid 0", [](wire::RunRequest& r) { r.uid = 0; }},
      {"gid 0", [](wire::RunRequest& r) { r.gid = 0; }},
      {"relative argv[0]", [](wire::RunRequest& r) { r.argv[0] = "true"; }},
      {"dot-dot argv[0]", [](wire::RunRequest& r) { r.argv[0] = "/usr/../bin/sh"; }},
      {"no argv", [](wire::RunRequest& r) { r.argv.clear(); }},
      {"NUL in an argument", [](wire::RunRequest& r) { r.argv[1] = std::string("a\0b", 3); }},
      {"env without =", [](wire::RunRequest& r) { r.env.push_back("LD_PRELOAD"); }},
      {"env with empty name", [](wire::RunRequest& r) { r.env.push_back("=x"); }},
      {"relative dir", [](wire::RunRequest& r) { r.dir = "tmp"; }},
      {"no time limit", [](wire::RunRequest& r) { r.time_limit_ms = 0; }},
      {"time limit too long", [](wire::RunRequest& r) { r.time_limit_ms = wire::kMaxTimeLimitMs + 1; }},
  };
  for (const auto& c : refused) {
    auto r = good_run();
    c.change(r);
    EXPECT_FALSE(wire::validate(r)) << c.name;
  }
  auto root = good_run();
  root.uid = 0;
  EXPECT_EQ(wire::validate(root).error().message, "refusing to act as uid 0");
}

TEST(LauncherWire, FileChecks) {
  EXPECT_TRUE(wire::validate(wire::OpenRequest{1000, 1000, "/var/mail/alice"}));
  EXPECT_FALSE(wire::validate(wire::OpenRequest{0, 1000, "/var/mail/alice"}));
  EXPECT_FALSE(wire::validate(wire::OpenRequest{1000, 0, "/var/mail/alice"}));
  for (const char* bad : {"", "/", "var/mail/a", "/var/mail/", "/var//mail/a", "/var/../etc/a",
                          "/var/./mail/a"})
    EXPECT_FALSE(wire::validate(wire::OpenRequest{1000, 1000, bad})) << bad;
  EXPECT_TRUE(wire::validate(wire::DotLockRequest{1000, 1000, 300, "/var/mail/alice"}));
  EXPECT_FALSE(wire::validate(wire::DotLockRequest{0, 1000, 300, "/var/mail/alice"}));
  EXPECT_FALSE(wire::validate(wire::DotLockRequest{1000, 1000, 1, "/var/mail/alice"}));
}

TEST(LauncherWire, TheIdOfARequestThatDoesNotDecode) {
  std::string good = wire::encode(wire::Request{42, wire::KillRequest{}});
  EXPECT_EQ(wire::request_id(good), 42u);
  std::string cut = wire::encode(wire::Request{7, wire::OpenRequest{1000, 1000, "/var/mail/a"}});
  cut.resize(cut.size() - 3);  // a request that no longer decodes still names its id
  EXPECT_FALSE(wire::decode_request(cut));
  EXPECT_EQ(wire::request_id(cut), 7u);
  EXPECT_FALSE(wire::request_id(cut.substr(0, 4)));  // too short to hold one
}

// The real helper: needs root (it switches users), as the integration tests do.
struct LauncherTest : testing::ScratchDir {
  LauncherTest() : ScratchDir("tern-launcher") {}
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    ScratchDir::SetUp();
    fs::permissions(dir, fs::perms(0777));
    const passwd* pw = ::getpwnam("nobody");
    ASSERT_NE(pw, nullptr);
    uid = pw->pw_uid, gid = pw->pw_gid;
    LauncherPolicy policy;
    policy.named_uids.insert(uid);  // nobody, as route.default_privs names it
    auto started = Launcher::start(policy);
    ASSERT_TRUE(started) << started.error().message;
    launcher = std::move(*started);
  }
  void TearDown() override {
    launcher.reset();
    ScratchDir::TearDown();
  }

  // Runs `request` with /dev/null as its descriptors and waits for its end.
  std::optional<Reply> run(wire::RunRequest request) {
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    auto command = launcher->run(std::move(request), null, null, null);
    ::close(null);
    if (!command) return Reply{0, Reply::Kind::failed, command.error().err, 0, command.error().text};
    pollfd p{(*command)->ready_fd(), POLLIN, 0};
    ::poll(&p, 1, 10000);
    return (*command)->result();
  }

  std::unique_ptr<Launcher> launcher;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Only the users of the policy, each with its own primary group: a compromised ternd asking
// for a system account or a powerful group (disk, shadow) gets nothing.
TEST_F(LauncherTest, RefusesUsersAndGroupsOutsideThePolicy) {
  const passwd* daemon = ::getpwnam("daemon");  // uid 1: a system account nobody named
  ASSERT_NE(daemon, nullptr);
  auto as_daemon = launcher->open_append(daemon->pw_uid, daemon->pw_gid, (dir / "d").string());
  ASSERT_FALSE(as_daemon);
  EXPECT_NE(as_daemon.error().text.find("not an ordinary account"), std::string::npos)
      << as_daemon.error().text;
  const group* disk = ::getgrnam("disk");
  ASSERT_NE(disk, nullptr);
  auto with_disk = launcher->open_append(uid, disk->gr_gid, (dir / "e").string());
  ASSERT_FALSE(with_disk);
  EXPECT_NE(with_disk.error().text.find("not its group"), std::string::npos) << with_disk.error().text;
  EXPECT_FALSE(fs::exists(dir / "d"));
  EXPECT_FALSE(fs::exists(dir / "e"));
}

TEST_F(LauncherTest, RefusesUidZero) {
  auto opened = launcher->open_append(0, 0, (dir / "box").string());
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().text.find("uid 0"), std::string::npos) << opened.error().text;
  EXPECT_FALSE(fs::exists(dir / "box"));
  auto r = good_run();
  r.uid = 0;
  auto end = run(r);
  ASSERT_TRUE(end);
  EXPECT_EQ(end->kind, Reply::Kind::failed);
  EXPECT_EQ(end->text, "refusing to act as uid 0");
}

TEST_F(LauncherTest, RefusesASymlink) {
  fs::create_symlink("/etc/passwd", dir / "box");
  auto opened = launcher->open_append(uid, gid, (dir / "box").string());
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().err, ELOOP);
}

TEST_F(LauncherTest, RunsAsTheUserAndReportsTheExitStatus) {
  auto r = good_run();
  r.uid = uid, r.gid = gid;
  const std::string out = (dir / "uid").string();
  r.argv = {"/bin/sh", "-c", "id -u > " + out + "; exit 3"};
  auto end = run(r);
  ASSERT_TRUE(end);
  ASSERT_EQ(end->kind, Reply::Kind::exited) << end->text;
  EXPECT_TRUE(WIFEXITED(end->status));
  EXPECT_EQ(WEXITSTATUS(end->status), 3);
  EXPECT_EQ(testing::read_file(out), std::to_string(uid) + "\n");
}

TEST_F(LauncherTest, KillsAtTheTimeLimit) {
  auto r = good_run();
  r.uid = uid, r.gid = gid;
  r.time_limit_ms = 200;
  r.argv = {"/bin/sleep", "30"};
  auto end = run(r);
  ASSERT_TRUE(end);
  ASSERT_EQ(end->kind, Reply::Kind::exited);
  EXPECT_TRUE(end->flags & wire::kTimedOut);
  EXPECT_TRUE(WIFSIGNALED(end->status));
}

TEST_F(LauncherTest, CreatesAFileForTheUser) {
  const std::string path = (dir / "box").string();
  auto opened = launcher->open_append(uid, gid, path);
  ASSERT_TRUE(opened) << opened.error().text;
  EXPECT_TRUE(opened->created);
  ASSERT_EQ(::write(opened->fd, "x", 1), 1);
  ::close(opened->fd);
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  auto again = launcher->open_append(uid, gid, path);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->created);
  ::close(again->fd);
  auto lock = launcher->try_dot_lock(uid, gid, path, std::chrono::seconds(300));
  ASSERT_TRUE(lock && *lock);
  EXPECT_TRUE(fs::exists(path + ".lock"));
  auto second = launcher->try_dot_lock(uid, gid, path, std::chrono::seconds(300));
  ASSERT_TRUE(second);
  EXPECT_FALSE(*second);  // busy
  launcher->dot_unlock(**lock);
  EXPECT_FALSE(fs::exists(path + ".lock"));
}

// Our lock broken as stale and another program's taken in its place: releasing ours must
// leave theirs (removal by name alone would let two writers append at once).
TEST_F(LauncherTest, ReleasingALockLeavesAnotherProgramsLockAlone) {
  const std::string path = (dir / "box2").string();
  auto lock = launcher->try_dot_lock(uid, gid, path, std::chrono::seconds(300));
  ASSERT_TRUE(lock && *lock);
  // Made beside ours and renamed over it, so it is surely another inode.
  std::ofstream(path + ".other") << "12345\n";
  fs::rename(path + ".other", path + ".lock");
  launcher->dot_unlock(**lock);
  EXPECT_TRUE(fs::exists(path + ".lock"));
}

}  // namespace
}  // namespace tern::delivery
