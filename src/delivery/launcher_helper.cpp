// The launcher's privileged side; see launcher_helper.hpp and launcher.hpp.
#include "delivery/launcher_helper.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <poll.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>

#include "delivery/launcher_wire.hpp"
#include "delivery/spawn.hpp"

namespace tern::delivery {
namespace {

using clock = std::chrono::steady_clock;
using wire::Reply;

// Without a pidfd (kernel before 5.3), how often to look whether a command has exited.
constexpr std::chrono::milliseconds kReapTick{50};
// Commands and dot-locks at once: ternd runs at most a few deliveries in parallel (its
// delivery threads), so these bounds only stop a compromised ternd from exhausting the
// machine through root's process and file limits.
constexpr std::size_t max_children = 64;
constexpr std::size_t max_locks = 64;

void say(const std::string& line) { std::fprintf(stderr, "tern-launcher: %s\n", line.c_str()); }

// The directory part of an absolute path ("/" for "/x").
std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

// For one operation, this process's file-system ids and groups become a user's: access
// checks and new files are then that user's, and while the fsuid is not 0 the capabilities
// that override file permissions leave the effective set (capabilities(7): "If the
// filesystem user ID is changed from 0 to nonzero, then ... CAP_CHOWN, CAP_DAC_OVERRIDE,
// CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID ... are cleared"). The helper is single-
// threaded, so the switch affects nothing else; the destructor goes back to root.
class AsUser {
 public:
  AsUser(uid_t uid, gid_t gid, gid_t fs_gid) {
    gid_t groups[2] = {gid, fs_gid};
    ok_ = ::setgroups(gid == fs_gid ? 1 : 2, groups) == 0;
    ::setfsgid(fs_gid);
    ::setfsuid(uid);
    // setfsuid/setfsgid report no errors: asking with an invalid id returns the current one.
    ok_ = ok_ && ::setfsgid(static_cast<gid_t>(-1)) == static_cast<int>(fs_gid) &&
          ::setfsuid(static_cast<uid_t>(-1)) == static_cast<int>(uid);
  }
  ~AsUser() {
    ::setfsuid(0);
    ::setfsgid(0);
    ::setgroups(0, nullptr);
  }
  AsUser(const AsUser&) = delete;
  AsUser& operator=(const AsUser&) = delete;
  bool ok() const { return ok_; }

 private:
  bool ok_ = false;
};

struct Child {
  pid_t pid;
  int pidfd;  // -1 without pidfd_open(): reaped by ticking
  clock::time_point deadline;
  bool timed_out = false;
};

struct HeldLock {
  std::string path;
  uid_t uid;
  gid_t gid;
  gid_t fs_gid;
  // The lock file we made: removed only while the name still points at it (same device,
  // inode and change time: an inode number can be reused at once), so a lock another
  // program took after ours was broken as stale survives.
  dev_t dev;
  ino_t ino;
  timespec ctime;
};

// Removes `lock` if the name is still our file (as the user, with the group it was made
// with).
void remove_lock(const HeldLock& lock) {
  AsUser as(lock.uid, lock.gid, lock.fs_gid);
  struct stat st{};
  if (::lstat(lock.path.c_str(), &st) == 0 && st.st_dev == lock.dev && st.st_ino == lock.ino &&
      st.st_ctim.tv_sec == lock.ctime.tv_sec && st.st_ctim.tv_nsec == lock.ctime.tv_nsec)
    ::unlink(lock.path.c_str());
}

class Helper {
 public:
  Helper(int sock, LauncherPolicy policy) : sock_(sock), policy_(std::move(policy)) {
    if (const group* g = ::getgrnam("mail")) mail_gid_ = g->gr_gid;
  }
  [[noreturn]] void run();

 private:
  void handle(const wire::Request& request, std::vector<int>& fds);
  void run_command(std::uint64_t id, const wire::RunRequest& r, std::vector<int>& fds);
  void kill_command(std::uint64_t id);
  void open_file(std::uint64_t id, const wire::OpenRequest& r);
  void dot_lock(std::uint64_t id, const wire::DotLockRequest& r);
  void dot_unlock(std::uint64_t id);
  void reap(bool block);
  [[noreturn]] void finish();
  gid_t group_for_creating(const std::string& path, gid_t gid) const;
  void reply(const Reply& r, int fd = -1);
  void refuse(std::uint64_t id, int err, const std::string& text) {
    reply(Reply{id, Reply::Kind::failed, err, 0, text});
  }

  Status allowed(std::uint32_t uid, std::uint32_t gid) const;

  int sock_;
  LauncherPolicy policy_;
  std::optional<gid_t> mail_gid_;
  std::map<std::uint64_t, Child> children_;
  std::map<std::uint64_t, HeldLock> locks_;
};

void Helper::reply(const Reply& r, int fd) {
  int fds[1] = {fd};
  // A failed send means ternd is gone: the next read sees the end and we finish then.
  (void)send_packet(sock_, wire::encode(r), fds, fd >= 0 ? 1 : 0);
}

// Debian Policy §11.6: "the mail spool is 2775 root:mail, and MUAs need to be setgid mail
// for the locking mechanism to work"; liblockfile's dotlockfile likewise takes group mail
// only for such a directory. New files there (dot-locks, a missing mailbox) are created
// with group mail; anywhere else with the user's own group.
gid_t Helper::group_for_creating(const std::string& path, gid_t gid) const {
  struct stat st{};
  if (!mail_gid_ || ::stat(parent_of(path).c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return gid;
  if (st.st_gid == *mail_gid_ && (st.st_mode & S_IWGRP) && !(st.st_mode & S_IWOTH))
    return *mail_gid_;
  return gid;
}

// The request's user must be one the policy allows, acting with its own primary group.
Status Helper::allowed(std::uint32_t uid, std::uint32_t gid) const {
  const passwd* pw = ::getpwuid(uid);
  if (!pw) return fail("refusing uid " + std::to_string(uid) + ": no such user");
  if (pw->pw_gid != gid)
    return fail("refusing gid " + std::to_string(gid) + " for " + pw->pw_name + ": not its group");
  bool ordinary = uid >= LauncherPolicy::ordinary_uid_min && uid <= LauncherPolicy::ordinary_uid_max;
  if (!ordinary && !policy_.named_uids.count(uid))
    return fail(std::string("refusing to act as ") + pw->pw_name + " (uid " + std::to_string(uid) +
                "): not an ordinary account nor a user named when ternd started");
  return {};
}

void Helper::handle(const wire::Request& request, std::vector<int>& fds) {
  const std::uint64_t id = request.id;
  if (auto* r = std::get_if<wire::RunRequest>(&request.body)) return run_command(id, *r, fds);
  if (std::holds_alternative<wire::KillRequest>(request.body)) return kill_command(id);
  if (auto* r = std::get_if<wire::OpenRequest>(&request.body)) return open_file(id, *r);
  if (auto* r = std::get_if<wire::DotLockRequest>(&request.body)) return dot_lock(id, *r);
  dot_unlock(id);
}

void Helper::run_command(std::uint64_t id, const wire::RunRequest& r, std::vector<int>& fds) {
  if (fds.size() != 3) return refuse(id, EINVAL, "a command needs three descriptors");
  if (auto st = wire::validate(r); !st) return refuse(id, EPERM, st.error().message);
  if (auto st = allowed(r.uid, r.gid); !st) return refuse(id, EPERM, st.error().message);
  if (children_.size() >= max_children)
    return refuse(id, EAGAIN, "too many commands running (" + std::to_string(max_children) + ")");
  if (children_.count(id)) return refuse(id, EEXIST, "request id in use");
  SpawnSpec spec{r.argv, r.env, r.dir, SpawnSpec::Ids{r.uid, r.gid}, fds[0], fds[1], fds[2]};
  auto pid = spawn(spec);
  if (!pid) return refuse(id, pid.error().err, pid.error().text(r.argv.front()));
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, *pid, 0));
  if (pidfd >= 0) ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  children_[id] = Child{*pid, pidfd, clock::now() + std::chrono::milliseconds(r.time_limit_ms)};
}

void Helper::kill_command(std::uint64_t id) {
  auto it = children_.find(id);
  if (it == children_.end()) return;  // already ended: its reply is on the way
  ::kill(-it->second.pid, SIGKILL);
  ::kill(it->second.pid, SIGKILL);
}

void Helper::open_file(std::uint64_t id, const wire::OpenRequest& r) {
  if (auto st = wire::validate(r); !st) return refuse(id, EPERM, st.error().message);
  if (auto st = allowed(r.uid, r.gid); !st) return refuse(id, EPERM, st.error().message);
  // O_NONBLOCK: a FIFO without a reader fails (ENXIO) instead of hanging the helper.
  const int flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;
  int fd = -1, err = 0;
  bool created = false;
  {
    AsUser as(r.uid, r.gid, r.gid);
    if (!as.ok()) return refuse(id, errno, "cannot switch to uid " + std::to_string(r.uid));
    fd = ::open(r.path.c_str(), flags);
    err = errno;
  }
  if (fd < 0 && err == ENOENT) {
    // Created with O_EXCL only: the mail group (where used) never opens an existing file, so
    // it cannot reach another user's mailbox.
    AsUser as(r.uid, r.gid, group_for_creating(r.path, r.gid));
    if (!as.ok()) return refuse(id, errno, "cannot switch to uid " + std::to_string(r.uid));
    fd = ::open(r.path.c_str(), flags | O_CREAT | O_EXCL, 0600);
    err = errno;
    created = fd >= 0;
  }
  if (fd < 0) return refuse(id, err, "cannot open " + r.path);
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return refuse(id, ENXIO, r.path + " is not a regular file");
  }
  if (st.st_nlink != 1) {
    ::close(fd);
    return refuse(id, EMLINK, r.path + " has more than one link");
  }
  // Root again: the new file becomes the user's, with the user's own group.
  if (created && (::fchown(fd, r.uid, r.gid) != 0 || ::fchmod(fd, 0600) != 0)) {
    err = errno;
    ::close(fd);
    return refuse(id, err, "cannot give " + r.path + " to uid " + std::to_string(r.uid));
  }
  reply(Reply{id, Reply::Kind::ok, 0, created ? wire::kCreated : 0u, {}}, fd);
  ::close(fd);
}

void Helper::dot_lock(std::uint64_t id, const wire::DotLockRequest& r) {
  if (auto st = wire::validate(r); !st) return refuse(id, EPERM, st.error().message);
  if (auto st = allowed(r.uid, r.gid); !st) return refuse(id, EPERM, st.error().message);
  if (locks_.count(id)) return refuse(id, EEXIST, "request id in use");
  if (locks_.size() >= max_locks)
    return refuse(id, EAGAIN, "too many dot-locks held (" + std::to_string(max_locks) + ")");
  const std::string lock_path = r.path + ".lock";
  const gid_t fs_gid = group_for_creating(lock_path, r.gid);
  AsUser as(r.uid, r.gid, fs_gid);
  if (!as.ok()) return refuse(id, errno, "cannot switch to uid " + std::to_string(r.uid));
  int fd = ::open(lock_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) {
    // The content is informational (liblockfile writes the pid too); age decides staleness.
    std::string pid = std::to_string(::getpid()) + "\n";
    (void)!::write(fd, pid.data(), pid.size());
    struct stat made{};
    ::fstat(fd, &made);
    ::close(fd);
    locks_[id] = HeldLock{lock_path, r.uid, r.gid, fs_gid, made.st_dev, made.st_ino, made.st_ctim};
    return reply(Reply{id, Reply::Kind::ok, 0, 0, {}});
  }
  if (errno != EEXIST) return refuse(id, errno, "cannot create " + lock_path);
  struct stat st{};
  if (::lstat(lock_path.c_str(), &st) == 0 &&
      std::time(nullptr) - st.st_mtime > static_cast<std::time_t>(r.stale_seconds))
    ::unlink(lock_path.c_str());  // left by a crashed writer: the next try takes it
  reply(Reply{id, Reply::Kind::busy, 0, 0, {}});
}

void Helper::dot_unlock(std::uint64_t id) {
  auto it = locks_.find(id);
  if (it == locks_.end()) return refuse(id, ENOENT, "no such lock");
  remove_lock(it->second);
  locks_.erase(it);
  reply(Reply{id, Reply::Kind::ok, 0, 0, {}});
}

// Reports every command that has ended; with `block`, waits for all of them.
void Helper::reap(bool block) {
  for (auto it = children_.begin(); it != children_.end();) {
    int status = 0;
    pid_t got;
    do got = ::waitpid(it->second.pid, &status, block ? 0 : WNOHANG);
    while (got < 0 && errno == EINTR);
    if (got != it->second.pid) {
      ++it;
      continue;
    }
    reply(Reply{it->first, Reply::Kind::exited, status,
                it->second.timed_out ? wire::kTimedOut : 0u, {}});
    if (it->second.pidfd >= 0) ::close(it->second.pidfd);
    it = children_.erase(it);
  }
}

void Helper::finish() {
  for (auto& [id, lock] : locks_) remove_lock(lock);
  for (auto& [id, child] : children_) {
    ::kill(-child.pid, SIGKILL);
    ::kill(child.pid, SIGKILL);
  }
  reap(true);
  ::_exit(0);
}

void Helper::run() {
  std::string data;
  std::vector<int> fds;
  std::vector<pollfd> polled;
  for (;;) {
    auto now = clock::now();
    std::optional<clock::time_point> next;
    bool tick = false;
    polled.assign(1, pollfd{sock_, POLLIN, 0});
    for (auto& [id, child] : children_) {
      if (!child.timed_out && now >= child.deadline) {
        ::kill(-child.pid, SIGKILL);
        ::kill(child.pid, SIGKILL);
        child.timed_out = true;
      }
      if (!child.timed_out && (!next || child.deadline < *next)) next = child.deadline;
      if (child.pidfd >= 0)
        polled.push_back(pollfd{child.pidfd, POLLIN, 0});
      else
        tick = true;
    }
    int wait_ms = -1;
    if (next)
      wait_ms = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(*next - now).count() + 1);
    if (tick && (wait_ms < 0 || wait_ms > kReapTick.count()))
      wait_ms = static_cast<int>(kReapTick.count());
    int ready = ::poll(polled.data(), polled.size(), wait_ms);
    if (ready < 0 && errno != EINTR) finish();
    if (ready != 0 || tick) reap(false);
    if (ready <= 0 || !(polled[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;

    int got = receive_packet(sock_, data, fds);
    if (got == 0 || (got < 0 && errno != EINTR && errno != EMSGSIZE)) finish();
    if (got == 1) {
      auto request = wire::decode_request(data);
      if (request) {
        handle(*request, fds);
      } else {
        say("refused a request: " + request.error().message);
        if (auto id = wire::request_id(data)) refuse(*id, EINVAL, request.error().message);
      }
    } else if (got < 0 && errno == EMSGSIZE) {
      say("refused a request: too long or too many descriptors");
    }
    for (int fd : fds) ::close(fd);  // the command has its own copies
    fds.clear();
  }
}

}  // namespace

bool send_packet(int sock, std::string_view data, const int* fds, int n_fds) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
  if (n_fds > 0) {
    if (n_fds > kMaxPassedFds) {
      errno = EINVAL;
      return false;
    }
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
  }
  ssize_t n;
  do n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(data.size());
}

int receive_packet(int sock, std::string& data, std::vector<int>& fds) {
  data.resize(wire::kMaxMessage + 1);  // one more: a longer message shows as MSG_TRUNC
  iovec iov{data.data(), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) return -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds.push_back(fd);
    }
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    for (int fd : fds) ::close(fd);
    fds.clear();
    errno = EMSGSIZE;
    return -1;
  }
  if (n == 0) return 0;
  data.resize(static_cast<std::size_t>(n));
  return 1;
}

void serve_launcher(int sock, const LauncherPolicy& policy) { Helper(sock, policy).run(); }

}  // namespace tern::delivery
