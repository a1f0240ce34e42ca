// DovecotBackend against a REAL Dovecot (/usr/sbin/dovecot, Debian's dovecot-core): started
// once for these tests with a temporary configuration like tests/integration/dovecot.py's —
// its own base_dir, state_dir and log under /tmp, no protocols (no port is opened), a
// passwd-file passdb with {PLAIN} and {SCRAM-SHA-256} users and one limited by allow_nets
// (which shows the client address reaches Dovecot), and an auth unix_listener as Postfix's
// private/auth would be. Skipped without the binary or without root (Dovecot drops to its
// own users). Bounded: start 15 s, stop 10 s; the master and its children are gone before
// the directory is removed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "auth/dovecot.hpp"
#include "scram_client.hpp"

extern char** environ;

namespace tern::auth {
namespace {

using namespace std::literals;
namespace fs = std::filesystem;

constexpr const char* dovecot_binary = "/usr/sbin/dovecot";
// Time Dovecot gets to create its socket, and to stop after SIGTERM.
constexpr auto start_timeout = 15s;
constexpr auto stop_timeout = 10s;
constexpr auto poll_interval = 50ms;

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Whether any process's command line holds `text` (Dovecot's children carry the instance
// name in their titles).
bool process_with(const std::string& text) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::string cmdline = read_text(entry.path() / "cmdline");
    if (cmdline.find(text) != std::string::npos) return true;
  }
  return false;
}

class RealDovecot {
 public:
  RealDovecot() {
    char dir[] = "/tmp/tern-gtest-dovecot-XXXXXX";
    root_ = ::mkdtemp(dir);
    fs::permissions(root_, fs::perms(0755));
    instance_ = "tern-gtest-" + std::to_string(::getpid());
    std::ofstream(root_ / "users")
        << "alice@example.org:{PLAIN}secret::::::\n"
        << "carol@example.org:{SCRAM-SHA-256}" << doveadm_secret << "::::::\n"
        << "dave@example.org:{PLAIN}secret::::::allow_nets=198.51.100.0/24\n";
    std::ofstream(root_ / "dovecot.conf") << config();
  }
  ~RealDovecot() {
    stop();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // Starts Dovecot and waits for its auth socket; an error text, or "" when it runs.
  std::string start() {
    std::string conf = (root_ / "dovecot.conf").string();
    const char* argv[] = {"dovecot", "-F", "-c", conf.c_str(), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    int rc =
        posix_spawn(&pid_, dovecot_binary, &actions, nullptr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return "posix_spawn: " + std::to_string(rc);
    auto deadline = std::chrono::steady_clock::now() + start_timeout;
    while (!fs::exists(socket())) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "dovecot exited: " + read_text(root_ / "dovecot.log");
      }
      if (std::chrono::steady_clock::now() > deadline) return "no auth socket in time";
      std::this_thread::sleep_for(poll_interval);
    }
    return "";
  }

  // SIGTERM to the master, SIGKILL if it lingers; then waits for its children to go.
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      auto deadline = std::chrono::steady_clock::now() + stop_timeout;
      while (::waitpid(pid_, nullptr, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          ::kill(pid_, SIGKILL);
          ::waitpid(pid_, nullptr, 0);
          break;
        }
        std::this_thread::sleep_for(poll_interval);
      }
      pid_ = -1;
    }
    auto deadline = std::chrono::steady_clock::now() + stop_timeout;
    while (process_with(instance_) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(poll_interval);
  }

  fs::path socket() const { return root_ / "base" / "tern-auth"; }
  std::string log() const { return read_text(root_ / "dovecot.log"); }

 private:
  std::string config() const {
    std::string r = root_.string();
    return "protocols = none\n"
           "listen = 127.0.0.1\n"
           "base_dir = " +
           r +
           "/base\n"
           "state_dir = " +
           r +
           "/state\n"
           "instance_name = " +
           instance_ +
           "\n"
           "log_path = " +
           r +
           "/dovecot.log\n"
           "ssl = no\n"
           "disable_plaintext_auth = no\n"
           "auth_mechanisms = plain login\n"
           "auth_verbose = yes\n"
           // Dovecot delays every failure by 2 s by default; the tests need no delay.
           "auth_failure_delay = 0\n"
           "default_internal_user = dovecot\n"
           "default_login_user = dovenull\n"
           "first_valid_uid = 1\n"
           "passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u " +
           r +
           "/users\n}\n"
           "userdb {\n  driver = passwd-file\n  args = username_format=%u " +
           r +
           "/users\n}\n"
           "service auth {\n  unix_listener tern-auth {\n    mode = 0600\n  }\n}\n";
  }

  fs::path root_;
  std::string instance_;
  pid_t pid_ = -1;
};

class AuthDovecotReal : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(dovecot_binary) || ::geteuid() != 0) return;
    dovecot_ = new RealDovecot();
    start_error_ = new std::string(dovecot_->start());
  }
  static void TearDownTestSuite() {
    delete dovecot_;
    dovecot_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }
  void SetUp() override {
    if (!dovecot_) GTEST_SKIP() << dovecot_binary << " missing or not root";
    ASSERT_EQ(*start_error_, "");
  }
  DovecotBackend backend() { return DovecotBackend(DovecotOptions{dovecot_->socket()}); }

  static RealDovecot* dovecot_;
  static std::string* start_error_;
};
RealDovecot* AuthDovecotReal::dovecot_ = nullptr;
std::string* AuthDovecotReal::start_error_ = nullptr;

// A TLS client from an address of its own: Dovecot delays every request from an address
// that recently failed (auth penalty, up to 15 s; per /48 for IPv6), so no two requests
// share one. 203.0.113.0/24 (TEST-NET-3) gives the tests 254 of them.
ClientContext client(std::string remote = "") {
  static std::atomic<int> next{1};
  if (remote.empty()) remote = "203.0.113." + std::to_string(next++);
  return ClientContext{remote, "192.0.2.25", 40000, 587, true};
}

TEST_F(AuthDovecotReal, VerifiesPasswords) {
  struct Case {
    std::string_view user, password;
    bool ok;
  } table[] = {
      {"alice@example.org", "secret", true},
      {"alice@example.org", "Secret", false},
      {"alice@example.org", "", false},
      {"carol@example.org", "secret", true},  // stored as {SCRAM-SHA-256}
      {"carol@example.org", "secret ", false},
      {"nobody@example.org", "secret", false},
      // A tab or newline in the name travels inside the base64 response: it cannot split
      // the request line, and Dovecot finds no such user.
      {"alice@example.org\tx", "secret", false},
      {"alice@example.org\nAUTH\t9", "secret", false},
  };
  auto b = backend();
  for (const Case& c : table) {
    SCOPED_TRACE(std::string(c.user) + " / " + std::string(c.password));
    auto r = b.verify(c.user, c.password, client());
    ASSERT_TRUE(r) << r.error().message << "\n" << dovecot_->log();
    EXPECT_EQ(*r, c.ok);
  }
}

TEST_F(AuthDovecotReal, PassesTheClientAddress) {
  // dave's passdb entry has allow_nets=198.51.100.0/24: Dovecot applies it to our rip.
  auto b = backend();
  for (auto [remote, ok] : {std::pair{"198.51.100.7", true}, std::pair{"198.51.100.200", true},
                            std::pair{"203.0.113.250", false}}) {
    SCOPED_TRACE(remote);
    auto r = b.verify("dave@example.org", "secret", client(remote));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, ok);
  }
  EXPECT_NE(dovecot_->log().find("dave@example.org,203.0.113.250"), std::string::npos)
      << dovecot_->log();
}

TEST_F(AuthDovecotReal, ManyThreadsAtOnce) {
  auto b = backend();
  std::vector<std::thread> threads;
  std::atomic<int> right{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        bool good = (t + i) % 2 == 0;
        auto r = b.verify("alice@example.org", good ? "secret" : "wrong", client());
        if (r && *r == good) ++right;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(right, 30);
}

TEST_F(AuthDovecotReal, ListsMechanisms) {
  auto b = backend();
  auto m = b.mechanisms();
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_NE(std::find(m->begin(), m->end(), "PLAIN"), m->end());
  EXPECT_NE(std::find(m->begin(), m->end(), "LOGIN"), m->end());
}

}  // namespace
}  // namespace tern::auth
