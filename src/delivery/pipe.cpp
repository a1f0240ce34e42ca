// Pipe delivery; see pipe.hpp.
#include "delivery/pipe.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>

namespace tern::delivery {
namespace {

using clock = std::chrono::steady_clock;

// How much of the program's output is kept for the outcome text; the rest is read and
// dropped, so the program never blocks on a full pipe. A DSN's diagnostic needs a line or
// two, not a transcript (Postfix keeps a similar small amount).
constexpr std::size_t kOutputLimit = 1024;
// Bytes written to the program's stdin per write() (the pipe takes 64 KiB at most anyway).
constexpr std::size_t kWriteChunk = 64 * 1024;
// After the program exits, how long to go on reading output a child it left behind may
// still hold open: we report promptly instead of waiting for that child.
constexpr std::chrono::milliseconds kDrainAfterExit{1000};
// Without a pidfd (kernel before 5.3), how often to look whether the program has exited.
constexpr std::chrono::milliseconds kExitPollTick{10};
// The environment's PATH: the system default (_PATH_DEFPATH), not ours.
constexpr const char* kPath = "PATH=/usr/bin:/bin";
// Exit status of a child that could not exec the program (the shell's "cannot execute").
constexpr int kExecFailedStatus = 127;

// sysexits.h, and what becomes of the mail for each code: Postfix's sys_exits table, so a
// delivery script behaves under Tern as it did under Postfix. Only EX_OSERR and EX_TEMPFAIL
// are temporary.
constexpr std::array<SysExit, 15> kSysExits{{
    {64, "EX_USAGE", "5.3.0", "command line usage error"},
    {65, "EX_DATAERR", "5.6.0", "data format error"},
    {66, "EX_NOINPUT", "5.3.0", "cannot open input"},
    {67, "EX_NOUSER", "5.1.1", "user unknown"},
    {68, "EX_NOHOST", "5.1.2", "host name unknown"},
    {69, "EX_UNAVAILABLE", "5.3.0", "service unavailable"},
    {70, "EX_SOFTWARE", "5.3.0", "internal software error"},
    {71, "EX_OSERR", "4.3.0", "system resource problem"},
    {72, "EX_OSFILE", "5.3.0", "critical OS file missing"},
    {73, "EX_CANTCREAT", "5.2.0", "can't create user output file"},
    {74, "EX_IOERR", "5.3.0", "input/output error"},
    {75, "EX_TEMPFAIL", "4.3.0", "temporary failure"},
    {76, "EX_PROTOCOL", "5.5.0", "remote error in protocol"},
    {77, "EX_NOPERM", "5.7.0", "permission denied"},
    {78, "EX_CONFIG", "5.3.5", "local configuration error"},
}};

// What the child reports through the exec-error pipe when it cannot run the program.
struct ChildFailure {
  int stage;  // one of the Stage values
  int err;    // errno
};
enum Stage : int { kStageGroups = 1, kStageGid, kStageUid, kStageExec, kStageFds };

const char* stage_text(int stage) {
  switch (stage) {
    case kStageGroups: return "cannot set groups for";
    case kStageGid: return "cannot set group id for";
    case kStageUid: return "cannot set user id for";
    case kStageFds: return "cannot set up descriptors for";
    default: return "cannot execute";
  }
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Everything the child needs, prepared before fork(): after it, only async-signal-safe calls.
struct ChildSetup {
  const char* path;
  char* const* argv;
  char* const* envp;
  const char* dir;
  bool drop;
  uid_t uid;
  gid_t gid;
  int in_r, out_w, err_w;
  int max_fd;  // for closing by hand where close_range() is missing (kernels before 5.9)
};

// Only async-signal-safe calls here: the parent may have other threads, whose locks are
// copied held.
[[noreturn]] void run_child(ChildSetup s) {
  auto fail = [&](int stage) {
    ChildFailure f{stage, errno};
    (void)!::write(s.err_w, &f, sizeof f);
    ::_exit(kExecFailedStatus);
  };
  ::setpgid(0, 0);
  struct sigaction dfl{};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);  // SIGKILL etc fail: fine
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  // Move our three descriptors above 2 first, so the dup2()s below cannot clobber one.
  for (int* fd : {&s.in_r, &s.out_w, &s.err_w}) {
    if (*fd > 2) continue;
    int moved = ::fcntl(*fd, F_DUPFD_CLOEXEC, 3);
    if (moved < 0) fail(kStageFds);
    *fd = moved;
  }
  if (::dup2(s.in_r, 0) < 0 || ::dup2(s.out_w, 1) < 0 || ::dup2(s.out_w, 2) < 0)
    fail(kStageFds);
  // Nothing of ours but 0/1/2 reaches the program; err_w is close-on-exec and stays until
  // exec succeeds or we report why it did not.
  if (::close_range(s.err_w + 1, ~0U, 0) != 0)
    for (int fd = s.err_w + 1; fd < s.max_fd; ++fd) ::close(fd);
  if (s.err_w > 3 && ::close_range(3, s.err_w - 1, 0) != 0)
    for (int fd = 3; fd < s.err_w; ++fd) ::close(fd);

  if (s.drop) {
    if (::setgroups(1, &s.gid) != 0) fail(kStageGroups);
    if (::setgid(s.gid) != 0) fail(kStageGid);
    if (::setuid(s.uid) != 0) fail(kStageUid);
  }
  if (s.dir[0] == '\0' || ::chdir(s.dir) != 0) (void)!::chdir("/");
  ::execve(s.path, s.argv, s.envp);
  fail(kStageExec);
  ::_exit(kExecFailedStatus);  // not reached: fail() exits
}

// The message as the program reads it: trace headers, then LF line endings.
std::string stdin_text(std::string_view sender, std::string_view recipient,
                       std::string_view message, bool trace_headers) {
  std::string text;
  if (trace_headers)
    text = "Return-Path: <" + std::string(sender) + ">\nDelivered-To: " + std::string(recipient) +
           "\n";
  text.reserve(text.size() + message.size());
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\r' && i + 1 < message.size() && message[i + 1] == '\n') continue;
    text += message[i];
  }
  return text;
}

// Blocks SIGPIPE in this thread while we write to the program, and consumes the one a
// write to a closed pipe leaves pending, so neither the process nor its mask is changed.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old_);
  }
  ~SigpipeGuard() {
    if (got_epipe_ && !was_pending_) {
      sigset_t pipe_set;
      sigemptyset(&pipe_set);
      sigaddset(&pipe_set, SIGPIPE);
      struct timespec zero{};
      while (::sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  void note_epipe() { got_epipe_ = true; }

 private:
  sigset_t old_{};
  bool was_pending_ = false;
  bool got_epipe_ = false;
};

// The result of running the child to its end.
struct RunResult {
  bool timed_out = false;
  int wait_status = 0;
  std::string output;  // at most kOutputLimit octets
  bool output_truncated = false;
};

// Feeds `input` to in_w and collects out_r until the child has exited and its output ended
// (or kDrainAfterExit passed), or the deadline passed (then the group is killed).
RunResult supervise(pid_t pid, int& in_w, int& out_r, std::string_view input,
                    clock::time_point deadline) {
  RunResult r;
  SigpipeGuard sigpipe;
  // pidfd_open() by syscall: glibc 2.36's <sys/pidfd.h> lacks C linkage for C++. -1 on
  // kernels before 5.3: we tick instead.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  bool exited = false;
  std::optional<clock::time_point> drain_until;
  char buf[16 * 1024];

  auto reap = [&](int flags) {
    int status = 0;
    pid_t got;
    do got = ::waitpid(pid, &status, flags);
    while (got < 0 && errno == EINTR);
    if (got == pid) {
      exited = true;
      r.wait_status = status;
      drain_until = clock::now() + kDrainAfterExit;
      close_fd(in_w);  // nobody reads it any more
    }
  };

  while (!(exited && out_r < 0)) {
    auto now = clock::now();
    if (!exited && now >= deadline) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);  // in case setpgid had not happened yet
      reap(0);
      r.timed_out = true;
      break;
    }
    if (exited && drain_until && now >= *drain_until) break;

    std::array<pollfd, 3> fds{};
    nfds_t n = 0;
    int in_i = -1, out_i = -1, pid_i = -1;
    if (in_w >= 0) { in_i = static_cast<int>(n); fds[n++] = {in_w, POLLOUT, 0}; }
    if (out_r >= 0) { out_i = static_cast<int>(n); fds[n++] = {out_r, POLLIN, 0}; }
    if (pidfd >= 0 && !exited) { pid_i = static_cast<int>(n); fds[n++] = {pidfd, POLLIN, 0}; }
    auto until = exited ? *drain_until : deadline;
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(until - now) +
                std::chrono::milliseconds(1);
    if (pidfd < 0 && !exited && wait > kExitPollTick) wait = kExitPollTick;
    int ready = ::poll(fds.data(), n, static_cast<int>(wait.count()));
    if (ready < 0 && errno != EINTR) break;  // cannot happen with valid descriptors
    if (ready <= 0) {
      if (pidfd < 0 && !exited) reap(WNOHANG);
      continue;
    }

    if (in_i >= 0 && fds[in_i].revents) {
      std::size_t piece = input.size() < kWriteChunk ? input.size() : kWriteChunk;
      ssize_t w = ::write(in_w, input.data(), piece);
      if (w > 0) {
        input.remove_prefix(static_cast<std::size_t>(w));
        if (input.empty()) close_fd(in_w);  // EOF for the program
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        // EPIPE: the program closed its stdin unread. Its exit status decides.
        if (errno == EPIPE) sigpipe.note_epipe();
        close_fd(in_w);
      }
    }
    if (out_i >= 0 && fds[out_i].revents) {
      ssize_t got = ::read(out_r, buf, sizeof buf);
      if (got > 0) {
        std::size_t keep = kOutputLimit - r.output.size();
        if (static_cast<std::size_t>(got) > keep) r.output_truncated = true;
        r.output.append(buf, static_cast<std::size_t>(got) < keep ? got : keep);
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        close_fd(out_r);
      }
    }
    if (pid_i >= 0 && fds[pid_i].revents) reap(WNOHANG);
  }
  if (!exited && !r.timed_out) {
    // Only if poll() failed: do not leave a child behind.
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    reap(0);
  }
  if (pidfd >= 0) ::close(pidfd);
  return r;
}

std::string with_output(std::string text, const std::string& output) {
  if (!output.empty()) text += "; command output: " + output;
  return text;
}

// The descriptor limit, for the child's fallback close loop (computed before fork()).
// Bounded: a huge limit (systemd allows 2^30) would make that loop take seconds; the
// daemon's descriptors sit low, and the loop only runs without close_range().
int open_max() {
  constexpr int kDefault = 1024;   // the usual soft limit
  constexpr int kCeiling = 65536;
  struct rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return kDefault;
  return rl.rlim_cur > static_cast<rlim_t>(kCeiling) ? kCeiling : static_cast<int>(rl.rlim_cur);
}

}  // namespace

const SysExit* find_sys_exit(int code) {
  for (const auto& e : kSysExits)
    if (e.code == code) return &e;
  return nullptr;
}

std::string command_output_text(std::string_view raw, bool truncated) {
  std::string out;
  for (char c : raw) {
    auto u = static_cast<unsigned char>(c);
    char shown = (u == '\n' || u == '\r' || u == '\t') ? ' ' : (u >= 0x20 && u < 0x7f) ? c : '?';
    if (shown == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += shown;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (truncated && !out.empty()) out += "...";
  return out;
}

mail::Outcome outcome_of_exit(int status, std::string_view output) {
  const std::string out(output);
  if (status == 0) {
    auto done = mail::Outcome::sent("local", with_output("delivered to command", out));
    done.final_delivery = true;
    return done;
  }
  const SysExit* e = find_sys_exit(status);
  if (e == nullptr)
    return mail::Outcome::bounced(
        "5.3.0", "local",
        with_output("unknown mail system error (command exit status " + std::to_string(status) +
                        ")",
                    out));
  std::string text = std::string(e->text) + " (command exit status " + std::to_string(status) +
                     ", " + std::string(e->name) + ")";
  if (e->dsn.front() == '4')
    return mail::Outcome::deferred(std::string(e->dsn), "local", with_output(text, out));
  return mail::Outcome::bounced(std::string(e->dsn), "local", with_output(text, out));
}

Pipe::Pipe(PipeOptions options) : options_(options) {}

mail::Outcome Pipe::deliver(const PipeCommand& command, const PipeEnvelope& env,
                            std::string_view message) const {
  // A command the configuration got wrong waits for the admin (X.3.5, system incorrectly
  // configured), rather than bouncing mail the admin can still rescue.
  if (command.argv.empty() || command.argv[0].empty() || command.argv[0].front() != '/')
    return mail::Outcome::deferred("4.3.5", "local",
                                   "command must be an absolute path: " +
                                       (command.argv.empty() ? std::string() : command.argv[0]));
  const std::string input =
      stdin_text(env.sender, env.recipient, message, options_.trace_headers);

  std::vector<std::string> env_strings = {
      std::string(kPath),
      "SENDER=" + std::string(env.sender),
      "RECIPIENT=" + std::string(env.recipient),
      "USER=" + std::string(env.user),
      "LOCAL=" + std::string(env.local),
      "EXTENSION=" + std::string(env.extension),
      "DOMAIN=" + std::string(env.domain),
  };
  if (!env.home.empty()) env_strings.push_back("HOME=" + std::string(env.home));
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = command.argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  const std::string dir(env.home);

  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0)
    return mail::Outcome::deferred("4.3.0", "local", std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(out, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(in[0]), ::close(in[1]);
    return mail::Outcome::deferred("4.3.0", "local", std::string("pipe: ") + std::strerror(e));
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(in[0]), ::close(in[1]), ::close(out[0]), ::close(out[1]);
    return mail::Outcome::deferred("4.3.0", "local", std::string("pipe: ") + std::strerror(e));
  }
  const bool drop = command.run_as && ::geteuid() == 0;
  ChildSetup setup{args[0].c_str(), argv.data(), envp.data(), dir.c_str(), drop,
                   drop ? command.run_as->uid : 0, drop ? command.run_as->gid : 0,
                   in[0], out[1], err[1], open_max()};
  const auto started = clock::now();
  pid_t pid = ::fork();
  if (pid == 0) run_child(setup);
  int e = errno;
  ::close(in[0]), ::close(out[1]), ::close(err[1]);
  int in_w = in[1], out_r = out[0];
  if (pid < 0) {
    ::close(in_w), ::close(out_r), ::close(err[0]);
    return mail::Outcome::deferred("4.3.0", "local", std::string("fork: ") + std::strerror(e));
  }
  ::setpgid(pid, pid);  // as the child does: whichever runs first, the group exists

  // The exec-error pipe closes on a successful exec, or carries why it failed.
  ChildFailure failure{};
  ssize_t got;
  do got = ::read(err[0], &failure, sizeof failure);
  while (got < 0 && errno == EINTR);
  ::close(err[0]);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    ::close(in_w), ::close(out_r);
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return mail::Outcome::deferred("4.3.5", "local",
                                   std::string(stage_text(failure.stage)) + " " + args[0] + ": " +
                                       std::strerror(failure.err));
  }

  ::fcntl(in_w, F_SETFL, ::fcntl(in_w, F_GETFL) | O_NONBLOCK);
  ::fcntl(out_r, F_SETFL, ::fcntl(out_r, F_GETFL) | O_NONBLOCK);
  RunResult r = supervise(pid, in_w, out_r, input, started + options_.time_limit);
  close_fd(in_w);
  close_fd(out_r);
  const std::string output = command_output_text(r.output, r.output_truncated);

  if (r.timed_out)
    return mail::Outcome::deferred("4.3.0", "local",
                                   with_output("command time limit exceeded", output));
  if (WIFSIGNALED(r.wait_status)) {
    int sig = WTERMSIG(r.wait_status);
    const char* abbrev = ::sigabbrev_np(sig);
    return mail::Outcome::deferred(
        "4.3.0", "local",
        with_output("command killed by signal " + std::to_string(sig) +
                        (abbrev ? std::string(" (SIG") + abbrev + ")" : std::string()),
                    output));
  }
  return outcome_of_exit(WEXITSTATUS(r.wait_status), output);
}

}  // namespace tern::delivery
