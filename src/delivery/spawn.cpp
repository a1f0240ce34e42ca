// Starting a program without a shell; see spawn.hpp.
#include "delivery/spawn.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace tern::delivery {
namespace {

// Exit status of a child that could not exec the program (the shell's "cannot execute").
constexpr int kExecFailedStatus = 127;

// Everything the child needs, prepared before fork(): after it, only async-signal-safe calls.
struct ChildSetup {
  const char* path;
  char* const* argv;
  char* const* envp;
  const char* dir;
  bool drop;
  uid_t uid;
  gid_t gid;
  int fds[3];   // become 0, 1, 2
  int report;   // the exec-error pipe's write end (close-on-exec)
  int max_fd;   // for closing by hand where close_range() is missing (kernels before 5.9)
};

// Only async-signal-safe calls here: the parent may have other threads, whose locks are
// copied held.
[[noreturn]] void run_child(ChildSetup s) {
  auto fail = [&](int stage) {
    int report[2] = {stage, errno};  // one write: the parent reads both or nothing
    (void)!::write(s.report, report, sizeof report);
    ::_exit(kExecFailedStatus);
  };
  // A new session, hence a new process group (killed whole at the time limit) and no
  // controlling terminal: a command cannot reach the terminal ternd was started from.
  ::setsid();
  struct sigaction dfl{};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);  // SIGKILL etc fail: fine
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  // Move our descriptors above 2 first, so the dup2()s below cannot clobber one.
  for (int* fd : {&s.fds[0], &s.fds[1], &s.fds[2], &s.report}) {
    if (*fd > 2) continue;
    int moved = ::fcntl(*fd, F_DUPFD_CLOEXEC, 3);
    if (moved < 0) fail(SpawnFailure::fds);
    *fd = moved;
  }
  for (int i = 0; i < 3; ++i)
    if (::dup2(s.fds[i], i) < 0) fail(SpawnFailure::fds);
  // Nothing of ours but 0/1/2 reaches the program; the report pipe is close-on-exec and
  // stays until exec succeeds or we report why it did not.
  if (::close_range(s.report + 1, ~0U, 0) != 0)
    for (int fd = s.report + 1; fd < s.max_fd; ++fd) ::close(fd);
  if (s.report > 3 && ::close_range(3, s.report - 1, 0) != 0)
    for (int fd = 3; fd < s.report; ++fd) ::close(fd);

  if (s.drop) {
    if (::setgroups(1, &s.gid) != 0) fail(SpawnFailure::groups);
    if (::setgid(s.gid) != 0) fail(SpawnFailure::gid);
    if (::setuid(s.uid) != 0) fail(SpawnFailure::uid);
  }
  if (s.dir[0] == '\0' || ::chdir(s.dir) != 0) (void)!::chdir("/");
  ::execve(s.path, s.argv, s.envp);
  fail(SpawnFailure::exec);
  ::_exit(kExecFailedStatus);  // not reached: fail() exits
}

// The descriptor limit, for the child's fallback close loop (computed before fork()).
// Bounded: a huge limit (systemd allows 2^30) would make that loop take seconds; the
// daemon's descriptors sit low, and the loop only runs without close_range().
int open_max() {
  constexpr int kDefault = 1024;  // the usual soft limit
  constexpr int kCeiling = 65536;
  struct rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return kDefault;
  return rl.rlim_cur > static_cast<rlim_t>(kCeiling) ? kCeiling : static_cast<int>(rl.rlim_cur);
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::string SpawnFailure::text(const std::string& program) const {
  const char* what = "cannot execute";
  switch (stage) {
    case pipe: what = "cannot make a pipe for"; break;
    case fork: what = "cannot fork for"; break;
    case groups: what = "cannot set groups for"; break;
    case gid: what = "cannot set group id for"; break;
    case uid: what = "cannot set user id for"; break;
    case fds: what = "cannot set up descriptors for"; break;
    default: break;
  }
  return std::string(what) + " " + program + ": " + std::strerror(err);
}

Result<pid_t, SpawnFailure> spawn(const SpawnSpec& spec) {
  std::vector<std::string> args = spec.argv, env = spec.env;
  auto argv = pointers(args), envp = pointers(env);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return fail(SpawnFailure{SpawnFailure::pipe, errno});
  ChildSetup setup{args[0].c_str(), argv.data(), envp.data(), spec.dir.c_str(),
                   spec.run_as.has_value(), spec.run_as ? spec.run_as->uid : 0,
                   spec.run_as ? spec.run_as->gid : 0, {spec.in, spec.out, spec.err},
                   report[1], open_max()};
  pid_t pid = ::fork();
  if (pid == 0) run_child(setup);
  int e = errno;
  ::close(report[1]);
  if (pid < 0) {
    ::close(report[0]);
    return fail(SpawnFailure{SpawnFailure::fork, e});
  }
  // No setpgid here: setsid() in the child would fail on a process already made a group
  // leader. The group exists before exec, and spawn() returns only after the exec report.

  // The exec-error pipe closes on a successful exec, or carries why it failed.
  int got_stage[2] = {0, 0};
  ssize_t got;
  do got = ::read(report[0], got_stage, sizeof got_stage);
  while (got < 0 && errno == EINTR);
  ::close(report[0]);
  if (got == static_cast<ssize_t>(sizeof got_stage)) {
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return fail(SpawnFailure{got_stage[0], got_stage[1]});
  }
  return pid;
}

}  // namespace tern::delivery
