// Pipe delivery; see pipe.hpp.
#include "delivery/pipe.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "delivery/spawn.hpp"
#include <memory>
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
// After asking the launcher to kill a command, how long to wait for its end to be reported.
constexpr std::chrono::milliseconds kKillReplyWait{5000};

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

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
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

// How the program ended, as supervise() reports it.
struct End {
  int wait_status = 0;
  bool timed_out = false;  // killed at the time limit
  std::string failure;     // the program never ran, or the launcher went: why
};

// The running program as supervise() sees it: forked by us, or by the launcher.
class Watch {
 public:
  virtual ~Watch() = default;
  // Readable when the program may have ended; -1: look every kExitPollTick.
  virtual int fd() const = 0;
  // Looks without blocking; true once the program has ended (`end` filled in).
  virtual bool ended(End& end) = 0;
  // Kills the program's process group and waits for its end.
  virtual void kill_and_reap(End& end) = 0;
};

// A program this process forked: a pidfd (kernel 5.3 and later) and waitpid().
class ProcessWatch final : public Watch {
 public:
  // pidfd_open() by syscall: glibc 2.36's <sys/pidfd.h> lacks C linkage for C++.
  explicit ProcessWatch(pid_t pid)
      : pid_(pid), pidfd_(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))) {}
  ~ProcessWatch() override {
    if (pidfd_ >= 0) ::close(pidfd_);
  }
  int fd() const override { return pidfd_; }
  bool ended(End& end) override { return reap(WNOHANG, end); }
  void kill_and_reap(End& end) override {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);  // the leader too, should the group be gone already
    reap(0, end);
  }

 private:
  bool reap(int flags, End& end) {
    pid_t got;
    do got = ::waitpid(pid_, &end.wait_status, flags);
    while (got < 0 && errno == EINTR);
    return got == pid_;
  }
  pid_t pid_;
  int pidfd_;
};

// A program the launcher runs: its reply says how it ended.
class LauncherWatch final : public Watch {
 public:
  explicit LauncherWatch(Launcher::Command& command) : command_(command) {}
  int fd() const override { return command_.ready_fd(); }
  bool ended(End& end) override {
    auto reply = command_.result();
    if (!reply) return false;
    if (reply->kind == wire::Reply::Kind::exited) {
      end.wait_status = reply->status;
      end.timed_out = (reply->flags & wire::kTimedOut) != 0;
    } else {
      end.failure = reply->text.empty() ? "the launcher refused the command" : reply->text;
    }
    return true;
  }
  void kill_and_reap(End& end) override {
    command_.kill();
    pollfd p{command_.ready_fd(), POLLIN, 0};
    (void)::poll(&p, 1, static_cast<int>(kKillReplyWait.count()));
    if (!ended(end)) end.failure = "the launcher did not report the killed command's end";
  }

 private:
  Launcher::Command& command_;
};

// The result of running the child to its end.
struct RunResult {
  End end;
  std::string output;  // at most kOutputLimit octets
  bool output_truncated = false;
};

// Feeds `input` to in_w and collects out_r until the child has exited and its output ended
// (or kDrainAfterExit passed), or the deadline passed (then the group is killed).
RunResult supervise(Watch& child, int& in_w, int& out_r, std::string_view input,
                    clock::time_point deadline) {
  RunResult r;
  SigpipeGuard sigpipe;
  const int child_fd = child.fd();
  bool exited = false;
  std::optional<clock::time_point> drain_until;
  char buf[16 * 1024];

  auto look = [&](bool block) {
    if (block)
      child.kill_and_reap(r.end);
    else if (!child.ended(r.end))
      return;
    exited = true;
    drain_until = clock::now() + kDrainAfterExit;
    close_fd(in_w);  // nobody reads it any more
  };

  while (!(exited && out_r < 0)) {
    auto now = clock::now();
    if (!exited && now >= deadline) {
      look(true);
      r.end.timed_out = true;
      break;
    }
    if (exited && drain_until && now >= *drain_until) break;

    std::array<pollfd, 3> fds{};
    nfds_t n = 0;
    int in_i = -1, out_i = -1, child_i = -1;
    if (in_w >= 0) { in_i = static_cast<int>(n); fds[n++] = {in_w, POLLOUT, 0}; }
    if (out_r >= 0) { out_i = static_cast<int>(n); fds[n++] = {out_r, POLLIN, 0}; }
    if (child_fd >= 0 && !exited) { child_i = static_cast<int>(n); fds[n++] = {child_fd, POLLIN, 0}; }
    auto until = exited ? *drain_until : deadline;
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(until - now) +
                std::chrono::milliseconds(1);
    if (child_fd < 0 && !exited && wait > kExitPollTick) wait = kExitPollTick;
    int ready = ::poll(fds.data(), n, static_cast<int>(wait.count()));
    if (ready < 0 && errno != EINTR) break;  // cannot happen with valid descriptors
    if (ready <= 0) {
      if (child_fd < 0 && !exited) look(false);
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
    if (child_i >= 0 && fds[child_i].revents) look(false);
  }
  if (!exited && !r.end.timed_out) look(true);  // only if poll() failed: leave no child behind
  return r;
}

std::string with_output(std::string text, const std::string& output) {
  if (!output.empty()) text += "; command output: " + output;
  return text;
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

Pipe::Pipe(PipeOptions options, Launcher* launcher) : options_(options), launcher_(launcher) {}

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

  SpawnSpec spec;
  spec.argv = command.argv;
  spec.env = {
      std::string(kPath),
      "SENDER=" + std::string(env.sender),
      "RECIPIENT=" + std::string(env.recipient),
      "USER=" + std::string(env.user),
      "LOCAL=" + std::string(env.local),
      "EXTENSION=" + std::string(env.extension),
      "DOMAIN=" + std::string(env.domain),
  };
  if (!env.home.empty()) spec.env.push_back("HOME=" + std::string(env.home));
  spec.dir = std::string(env.home);

  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0)
    return mail::Outcome::deferred("4.3.0", "local", std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(out, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(in[0]), ::close(in[1]);
    return mail::Outcome::deferred("4.3.0", "local", std::string("pipe: ") + std::strerror(e));
  }
  int in_w = in[1], out_r = out[0];
  const auto started = clock::now();
  std::unique_ptr<Launcher::Command> launched;
  std::unique_ptr<Watch> watch;
  if (launcher_ && command.run_as) {
    // Not root: the launcher starts it as the user (launcher.hpp).
    wire::RunRequest request{command.run_as->uid, command.run_as->gid,
                             static_cast<std::uint32_t>(options_.time_limit.count()), spec.dir,
                             spec.argv, spec.env};
    auto run = launcher_->run(std::move(request), in[0], out[1], out[1]);
    ::close(in[0]), ::close(out[1]);
    if (!run) {
      ::close(in_w), ::close(out_r);
      return mail::Outcome::deferred("4.3.0", "local",
                                     "cannot run " + spec.argv[0] + ": " + run.error().text);
    }
    launched = std::move(*run);
    watch = std::make_unique<LauncherWatch>(*launched);
  } else {
    if (command.run_as && ::geteuid() == 0)
      spec.run_as = SpawnSpec::Ids{command.run_as->uid, command.run_as->gid};
    spec.in = in[0], spec.out = out[1], spec.err = out[1];
    auto pid = spawn(spec);
    ::close(in[0]), ::close(out[1]);
    if (!pid) {
      ::close(in_w), ::close(out_r);
      const auto& f = pid.error();
      const bool system = f.stage == SpawnFailure::pipe || f.stage == SpawnFailure::fork;
      return mail::Outcome::deferred(system ? "4.3.0" : "4.3.5", "local", f.text(spec.argv[0]));
    }
    watch = std::make_unique<ProcessWatch>(*pid);
  }

  ::fcntl(in_w, F_SETFL, ::fcntl(in_w, F_GETFL) | O_NONBLOCK);
  ::fcntl(out_r, F_SETFL, ::fcntl(out_r, F_GETFL) | O_NONBLOCK);
  RunResult r = supervise(*watch, in_w, out_r, input, started + options_.time_limit);
  close_fd(in_w);
  close_fd(out_r);
  const std::string output = command_output_text(r.output, r.output_truncated);

  if (!r.end.failure.empty())
    return mail::Outcome::deferred(launched ? "4.3.0" : "4.3.5", "local", r.end.failure);
  if (r.end.timed_out)
    return mail::Outcome::deferred("4.3.0", "local",
                                   with_output("command time limit exceeded", output));
  if (WIFSIGNALED(r.end.wait_status)) {
    int sig = WTERMSIG(r.end.wait_status);
    const char* abbrev = ::sigabbrev_np(sig);
    return mail::Outcome::deferred(
        "4.3.0", "local",
        with_output("command killed by signal " + std::to_string(sig) +
                        (abbrev ? std::string(" (SIG") + abbrev + ")" : std::string()),
                    output));
  }
  return outcome_of_exit(WEXITSTATUS(r.end.wait_status), output);
}

}  // namespace tern::delivery
