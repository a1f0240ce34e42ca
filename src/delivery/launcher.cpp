// The launcher, ternd's side; see launcher.hpp (the helper's side: launcher_helper.cpp).
#include "delivery/launcher.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "core/log.hpp"
#include "delivery/launcher_helper.hpp"

namespace tern::delivery {
namespace {

// How long a file open or dot-lock request may take: the helper does them at once, so only a
// hung file system (or a dead helper) gets near this; the delivery then defers.
constexpr std::chrono::seconds kCallTimeout{30};
// How long a Command's destructor waits for a killed command's end.
constexpr std::chrono::seconds kKillWait{5};
// How long ~Launcher waits for the helper to exit before killing it.
constexpr std::chrono::seconds kExitWait{5};
// The helper's name in ps (comm: at most 15 characters).
constexpr const char* kProcessName = "tern-launcher";

// Waits until `fd` is readable or `timeout` passed; true when readable.
bool wait_readable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) return false;
    int r = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

// The forked child: becomes the helper and never returns.
[[noreturn]] void become_helper(int sock, const LauncherPolicy& policy) {
  ::prctl(PR_SET_NAME, kProcessName);
  // A session of its own: no controlling terminal (a root shell's, when ternd runs in the
  // foreground) that a command could open and push keystrokes into (TIOCSTI).
  ::setsid();
  ::signal(SIGCHLD, SIG_DFL);  // waitpid must see the children
  // Stopping is ternd's: SIGTERM from a terminal or systemd's cgroup kill leaves the helper
  // serving until ternd has drained and closed the socket.
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGPIPE}) ::signal(sig, SIG_IGN);
  ::umask(077);
  (void)!::chdir("/");
  // Nothing of ternd's (listening sockets, files) stays open here but 0/1/2 and the socket.
  constexpr int kSock = 3;
  if (sock != kSock) {
    if (::dup2(sock, kSock) < 0) ::_exit(1);
    ::close(sock);
  }
  ::close_range(kSock + 1, ~0U, 0);
  serve_launcher(kSock, policy);
}

}  // namespace

struct Launcher::Pending {
  Pending() : event_fd(::eventfd(0, EFD_CLOEXEC)) {}
  ~Pending() {
    if (event_fd >= 0) ::close(event_fd);
    if (fd >= 0) ::close(fd);
  }
  void signal() {
    std::uint64_t one = 1;
    (void)!::write(event_fd, &one, sizeof one);
  }
  int event_fd;
  std::optional<wire::Reply> reply;  // guarded by Launcher::mu_
  int fd = -1;                       // a descriptor that came with the reply
};

Result<std::unique_ptr<Launcher>> Launcher::start(const LauncherPolicy& policy) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return fail(std::string("launcher: socketpair: ") + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(sv[0]), ::close(sv[1]);
    return fail(std::string("launcher: fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    ::close(sv[0]);
    become_helper(sv[1], policy);
  }
  ::close(sv[1]);
  return std::unique_ptr<Launcher>(new Launcher(sv[0], pid));
}

Launcher::Launcher(int sock, pid_t pid) : sock_(sock), pid_(pid) {
  reader_ = std::thread([this] { read_replies(); });
}

Launcher::~Launcher() {
  closing_ = true;
  ::shutdown(sock_, SHUT_RDWR);  // the reader sees the end; the helper too
  reader_.join();
  ::close(sock_);
  auto deadline = std::chrono::steady_clock::now() + kExitWait;
  int status;
  // ternd is no longer root: it cannot signal the helper, only wait a bounded time. A
  // helper still busy leaves on its own when it reads the end of the socket.
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Launcher::read_replies() {
  std::string data;
  std::vector<int> fds;
  for (;;) {
    fds.clear();
    int got = receive_packet(sock_, data, fds);
    if (got < 0 && (errno == EINTR || errno == EMSGSIZE)) continue;
    if (got <= 0) break;
    auto reply = wire::decode_reply(data);
    std::lock_guard lock(mu_);
    auto it = reply ? pending_.find(reply->id) : pending_.end();
    if (it == pending_.end() || it->second->reply) {
      for (int fd : fds) ::close(fd);  // nobody waits for it any more
      continue;
    }
    it->second->reply = *reply;
    for (int fd : fds) {
      if (it->second->fd < 0)
        it->second->fd = fd;
      else
        ::close(fd);
    }
    it->second->signal();
  }
  std::lock_guard lock(mu_);
  gone_ = true;
  for (auto& [id, p] : pending_) p->signal();
  // At shutdown ~Launcher closed it; any other time the helper has died.
  if (!closing_)
    log::get("local").error(
        "the launcher (pid {}) has gone: commands and files that run as other users are "
        "deferred (4.3.0) until ternd restarts",
        pid_);
}

std::shared_ptr<Launcher::Pending> Launcher::enqueue(std::uint64_t id) {
  auto p = std::make_shared<Pending>();
  std::lock_guard lock(mu_);
  if (gone_ || p->event_fd < 0) return nullptr;
  pending_[id] = p;
  return p;
}

void Launcher::forget(std::uint64_t id) {
  std::lock_guard lock(mu_);
  pending_.erase(id);
}

bool Launcher::send(const wire::Request& request, const int* fds, int n_fds) {
  return send_packet(sock_, wire::encode(request), fds, n_fds);
}

Result<Launcher::Answer, LaunchError> Launcher::call(wire::Request request) {
  const std::uint64_t id = request.id;
  auto p = enqueue(id);
  if (!p) return fail(LaunchError{0, "the launcher is gone"});
  if (!send(request, nullptr, 0)) {
    forget(id);
    return fail(LaunchError{0, std::string("cannot reach the launcher: ") + std::strerror(errno)});
  }
  bool answered = wait_readable(p->event_fd, kCallTimeout);
  std::lock_guard lock(mu_);
  pending_.erase(id);
  if (!answered || !p->reply)
    return fail(LaunchError{0, gone_ ? "the launcher is gone" : "no answer from the launcher"});
  Answer a{*p->reply, p->fd};
  p->fd = -1;
  return a;
}

Result<std::unique_ptr<Launcher::Command>, LaunchError> Launcher::run(wire::RunRequest request,
                                                                      int in, int out, int err) {
  const std::uint64_t id = next_id_++;
  auto p = enqueue(id);
  if (!p) return fail(LaunchError{0, "the launcher is gone"});
  const int fds[3] = {in, out, err};
  if (!send(wire::Request{id, std::move(request)}, fds, 3)) {
    forget(id);
    return fail(LaunchError{0, std::string("cannot reach the launcher: ") + std::strerror(errno)});
  }
  return std::make_unique<Command>(*this, id, std::move(p));
}

Result<Launcher::Opened, LaunchError> Launcher::open_append(uid_t uid, gid_t gid,
                                                            const std::string& path) {
  auto a = call(wire::Request{next_id_++, wire::OpenRequest{uid, gid, path}});
  if (!a) return fail(a.error());
  if (a->reply.kind != wire::Reply::Kind::ok || a->fd < 0) {
    if (a->fd >= 0) ::close(a->fd);
    return fail(LaunchError{a->reply.status, a->reply.text});
  }
  return Opened{a->fd, (a->reply.flags & wire::kCreated) != 0};
}

Result<std::optional<std::uint64_t>, LaunchError> Launcher::try_dot_lock(
    uid_t uid, gid_t gid, const std::string& path, std::chrono::seconds stale) {
  const std::uint64_t id = next_id_++;
  auto a = call(wire::Request{
      id, wire::DotLockRequest{uid, gid, static_cast<std::uint32_t>(stale.count()), path}});
  if (!a) return fail(a.error());
  if (a->reply.kind == wire::Reply::Kind::busy) return std::optional<std::uint64_t>();
  if (a->reply.kind != wire::Reply::Kind::ok)
    return fail(LaunchError{a->reply.status, a->reply.text});
  return std::optional<std::uint64_t>(id);
}

void Launcher::dot_unlock(std::uint64_t id) {
  // A failure leaves a dot-lock behind that turns stale; nothing more can be done here.
  (void)call(wire::Request{id, wire::DotUnlockRequest{}});
}

Launcher::Command::Command(Launcher& launcher, std::uint64_t id, std::shared_ptr<Pending> pending)
    : launcher_(launcher), id_(id), pending_(std::move(pending)) {}

Launcher::Command::~Command() {
  if (!result()) {
    kill();
    wait_readable(pending_->event_fd, kKillWait);
  }
  launcher_.forget(id_);
}

int Launcher::Command::ready_fd() const { return pending_->event_fd; }

std::optional<wire::Reply> Launcher::Command::result() const {
  std::lock_guard lock(launcher_.mu_);
  if (pending_->reply) return pending_->reply;
  if (launcher_.gone_)
    return wire::Reply{id_, wire::Reply::Kind::failed, 0, 0, "the launcher is gone"};
  return std::nullopt;
}

void Launcher::Command::kill() { (void)launcher_.send(wire::Request{id_, wire::KillRequest{}}, nullptr, 0); }

}  // namespace tern::delivery
