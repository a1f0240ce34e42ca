// mbox delivery; see mbox.hpp.
#include "delivery/mbox.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "mail/mailbox.hpp"

namespace tern::delivery {
namespace {

using clock = std::chrono::steady_clock;

// Writes go out in pieces of this size: one huge write() gains nothing, and a bounded piece
// keeps a short write (disk full, file size limit) easy to reason about.
constexpr std::size_t kWriteChunk = 64 * 1024;
// Between two tries of a busy lock: start short (a competing delivery usually holds it for
// milliseconds), back off to this ceiling so a long-held lock costs little CPU.
constexpr std::chrono::milliseconds kLockRetryFirst{2};
constexpr std::chrono::milliseconds kLockRetryMax{100};
// The mailbox may be replaced (an MUA rewrites it and renames the new one into place) between
// our open() and our lock; we then open again, at most this many times.
constexpr int kReopenAttempts = 5;

// Errors of the disk are temporary: the admin can fix them, and the mail waits (RFC 3463:
// X.2.2 mailbox full for quota and file size limits, X.3.1 mail system full for a full disk).
mail::Outcome io_failure(std::string_view what, const std::string& path, int err) {
  std::string dsn = "4.3.0";
  if (err == ENOSPC) dsn = "4.3.1";
  if (err == EDQUOT || err == EFBIG) dsn = "4.2.2";
  return mail::Outcome::deferred(dsn, "local",
                                 std::string(what) + " " + path + ": " + std::strerror(err));
}

// What is at the path can never take mail until someone changes it: bounce (X.2.0, other
// mailbox status) rather than retry for days.
mail::Outcome not_a_mailbox(const std::string& path, std::string_view why) {
  return mail::Outcome::bounced("5.2.0", "local", "cannot deliver to " + path + ": " +
                                                      std::string(why));
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    std::size_t piece = data.size() < kWriteChunk ? data.size() : kWriteChunk;
    ssize_t n = ::write(fd, data.data(), piece);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {
      errno = EIO;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Sleeps before the next try of a lock; false when the deadline has passed.
bool wait_retry(clock::time_point deadline, std::chrono::milliseconds& delay) {
  auto now = clock::now();
  if (now >= deadline) return false;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
  std::this_thread::sleep_for(delay < left ? delay : left);
  delay = delay * 2 < kLockRetryMax ? delay * 2 : kLockRetryMax;
  return true;
}

// A write lock on the whole file, owned by this open file description (so it also excludes
// other threads of this process) and released when the descriptor is closed.
bool try_fcntl_lock(int fd, int& err) {
  struct flock fl{};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;
  fl.l_pid = 0;  // must be 0 for F_OFD_SETLK
  while (::fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    if (errno == EINTR) continue;
    err = errno;
    return false;
  }
  return true;
}

// An open mailbox under both locks; the destructor releases them (dot-lock first, the
// reverse of taking them).
class LockedFile {
 public:
  LockedFile() = default;
  LockedFile(const LockedFile&) = delete;
  LockedFile& operator=(const LockedFile&) = delete;
  ~LockedFile() {
    if (!lock_path_.empty()) ::unlink(lock_path_.c_str());
    if (launcher_) launcher_->dot_unlock(launcher_lock_);
    if (fd_ >= 0) ::close(fd_);
  }
  int fd_ = -1;
  std::string lock_path_;  // set while we hold the dot-lock
  Launcher* launcher_ = nullptr;  // set while the launcher holds it for us
  std::uint64_t launcher_lock_ = 0;
};

enum class DotLock { taken, busy, failed };

// A launcher that is gone or refused: temporary, the admin can fix it (launcher.hpp).
mail::Outcome launcher_failure(const std::string& path) {
  return mail::Outcome::deferred("4.3.0", "local",
                                 "cannot deliver to " + path + ": the launcher is unavailable");
}

// One try at "<path>.lock": created with O_EXCL; one older than `stale` is removed first.
// Called only under the fcntl lock, so no other Tern delivery races us on the stale check.
DotLock try_dot_lock(const std::string& lock_path, std::chrono::seconds stale, int& err) {
  int fd = ::open(lock_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) {
    // The content is informational (liblockfile writes the pid too); age decides staleness.
    std::string pid = std::to_string(::getpid()) + "\n";
    (void)write_all(fd, pid);
    ::close(fd);
    return DotLock::taken;
  }
  if (errno != EEXIST) {
    err = errno;
    return DotLock::failed;
  }
  struct stat st{};
  if (::lstat(lock_path.c_str(), &st) != 0) return DotLock::busy;  // gone: try again
  std::time_t now = std::time(nullptr);
  if (now - st.st_mtime > stale.count()) {
    ::unlink(lock_path.c_str());
  }
  return DotLock::busy;
}

// Opens `path` for appending, creating it if missing (mode 0600); through `launcher` (as
// `owner`) when given. -1 with errno set on failure: ECHILD when the launcher failed.
int open_file(const std::string& path, Launcher* launcher, const std::optional<FileOwner>& owner,
              bool& created) {
  if (launcher) {
    auto opened = launcher->open_append(owner->uid, owner->gid, path);
    if (!opened) {
      errno = opened.error().err ? opened.error().err : ECHILD;  // ECHILD: no launcher
      return -1;
    }
    created = opened->created;
    return opened->fd;
  }
  // O_NONBLOCK: a FIFO without a reader fails (ENXIO) instead of hanging this thread.
  const int flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;
  created = true;
  int fd = ::open(path.c_str(), flags | O_CREAT | O_EXCL, 0600);
  if (fd < 0 && errno == EEXIST) {
    created = false;
    fd = ::open(path.c_str(), flags);
  }
  return fd;
}

// One try at "<path>.lock" through the launcher, as `owner`; held by `file` when taken.
DotLock launcher_dot_lock(Launcher& launcher, const std::string& path, const FileOwner& owner,
                          std::chrono::seconds stale, LockedFile& file, int& err) {
  auto r = launcher.try_dot_lock(owner.uid, owner.gid, path, stale);
  if (!r) {
    err = r.error().err ? r.error().err : ECHILD;
    return DotLock::failed;
  }
  if (!*r) return DotLock::busy;
  file.launcher_ = &launcher;
  file.launcher_lock_ = **r;
  return DotLock::taken;
}

}  // namespace

std::string mbox_from_line(std::string_view sender, std::time_t when) {
  // asctime() format, spelled out so the C locale's names are used whatever the process's.
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  ::localtime_r(&when, &tm);
  char date[64];
  std::snprintf(date, sizeof date, "%s %s %2d %02d:%02d:%02d %d", kDays[tm.tm_wday % 7],
                kMonths[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                tm.tm_year + 1900);
  std::string line = "From ";
  if (sender.empty()) {
    line += "MAILER-DAEMON";
  } else {
    for (char c : sender) {
      auto u = static_cast<unsigned char>(c);
      line += (u <= 0x20 || u == 0x7f) ? '_' : c;
    }
  }
  line += ' ';
  line += date;
  line += '\n';
  return line;
}

std::string mbox_entry(std::string_view sender, std::string_view recipient,
                       std::string_view message, std::time_t when, bool trace_headers) {
  std::string out = mbox_from_line(sender, when);
  if (trace_headers) {
    out += "Return-Path: <" + std::string(sender) + ">\nDelivered-To: " +
           std::string(recipient) + "\n";
  }
  out.reserve(out.size() + message.size() + message.size() / 64 + 2);
  bool line_start = true;
  for (std::size_t i = 0; i < message.size(); ++i) {
    char c = message[i];
    if (c == '\r' && i + 1 < message.size() && message[i + 1] == '\n') continue;
    if (line_start) {
      // mboxrd: ^>*From  gains one '>'.
      std::size_t j = i;
      while (j < message.size() && message[j] == '>') ++j;
      if (message.substr(j, 5) == "From ") out += '>';
      line_start = false;
    }
    out += c;
    if (c == '\n') line_start = true;
  }
  if (!out.empty() && out.back() != '\n') out += '\n';
  out += '\n';
  return out;
}

Mbox::Mbox(std::string spool_dir, MboxOptions options, Launcher* launcher)
    : spool_dir_(std::move(spool_dir)), options_(options), launcher_(launcher) {}

std::string Mbox::mailbox_path(std::string_view user) const {
  if (!mail::safe_mailbox_name(user)) return {};
  return spool_dir_ + "/" + std::string(user);
}

mail::Outcome Mbox::deliver(std::string_view sender, std::string_view recipient,
                            std::string_view user, std::string_view message,
                            std::optional<FileOwner> owner) const {
  std::string path = mailbox_path(user);
  if (path.empty()) return mail::Outcome::bounced("5.1.3", "local", "mailbox name not allowed");
  auto o = deliver_to_file(path, sender, recipient, message, owner);
  if (o.kind == mail::Outcome::Kind::sent) o.text = "delivered to mailbox";
  return o;
}

bool Mbox::uses_launcher(const std::optional<FileOwner>& owner) const {
  return launcher_ && owner && owner->uid != 0 && owner->gid != 0 && ::geteuid() != 0;
}

mail::Outcome Mbox::deliver_to_file(const std::string& path, std::string_view sender,
                                    std::string_view recipient, std::string_view message,
                                    std::optional<FileOwner> owner) const {
  if (path.empty() || path.front() != '/' || path.back() == '/' ||
      path.find('\0') != std::string::npos)
    return not_a_mailbox(path, "not an absolute file name");
  const auto deadline = clock::now() + options_.lock_wait;
  LockedFile file;

  // Open, lock with fcntl, and check the path still names what we locked.
  for (int attempt = 0;; ++attempt) {
    if (attempt == kReopenAttempts)
      return mail::Outcome::deferred("4.2.0", "local", "mailbox " + path + " keeps changing");
    bool created = false;
    int fd = open_file(path, uses_launcher(owner) ? launcher_ : nullptr, owner, created);
    if (fd < 0 && errno == ENOENT) continue;  // removed in between: create it again
    if (fd < 0) {
      int err = errno;
      if (err == EISDIR) return not_a_mailbox(path, "is a directory");
      if (err == ELOOP) return not_a_mailbox(path, "is a symbolic link");
      if (err == ENXIO) return not_a_mailbox(path, "is not a regular file");
      if (err == EMLINK) return not_a_mailbox(path, "has more than one link");
      if (err == ECHILD) return launcher_failure(path);
      return io_failure("cannot open", path, err);
    }
    if (file.fd_ >= 0) ::close(file.fd_);
    file.fd_ = fd;
    struct stat st{};
    if (::fstat(fd, &st) != 0) return io_failure("cannot stat", path, errno);
    if (!S_ISREG(st.st_mode)) return not_a_mailbox(path, "is not a regular file");
    if (st.st_nlink != 1) return not_a_mailbox(path, "has more than one link");
    int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0 || ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
      return io_failure("cannot set flags on", path, errno);
    if (created && owner && !uses_launcher(owner) && ::geteuid() == 0 &&
        ::fchown(fd, owner->uid, owner->gid) != 0)
      return io_failure("cannot set owner of", path, errno);

    auto delay = kLockRetryFirst;
    int err = 0;
    while (!try_fcntl_lock(fd, err)) {
      if (err != EAGAIN && err != EACCES) return io_failure("cannot lock", path, err);
      if (!wait_retry(deadline, delay))
        return mail::Outcome::deferred("4.2.0", "local",
                                       "mailbox " + path + " is busy (fcntl lock)");
    }
    struct stat now{};
    if (::lstat(path.c_str(), &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino)
      break;
    // A file the launcher opened may sit where this process cannot look: trust its check.
    if (errno == EACCES && uses_launcher(owner)) break;
    // Replaced or removed while we waited for the lock: start over on the new file.
  }

  if (options_.dot_lock) {
    const std::string lock_path = path + ".lock";
    auto delay = kLockRetryFirst;
    for (;;) {
      int err = 0;
      DotLock r = uses_launcher(owner)
                        ? launcher_dot_lock(*launcher_, path, *owner, options_.stale_lock_age, file, err)
                                       : try_dot_lock(lock_path, options_.stale_lock_age, err);
      if (r == DotLock::taken) {
        if (!uses_launcher(owner)) file.lock_path_ = lock_path;
        break;
      }
      if (r == DotLock::failed && err == ECHILD) return launcher_failure(path);
      if (r == DotLock::failed) return io_failure("cannot create lock file", lock_path, err);
      if (!wait_retry(deadline, delay))
        return mail::Outcome::deferred("4.2.0", "local",
                                       "mailbox " + path + " is busy (" + lock_path + ")");
    }
  }

  struct stat st{};
  if (::fstat(file.fd_, &st) != 0) return io_failure("cannot stat", path, errno);
  const off_t original = st.st_size;
  const std::string entry = mbox_entry(sender, recipient, message, std::time(nullptr),
                                       options_.trace_headers);
  if (!write_all(file.fd_, entry) || ::fsync(file.fd_) != 0) {
    int err = errno;
    // Never leave half a message: cut the file back to where this append began.
    if (::ftruncate(file.fd_, original) == 0) ::fsync(file.fd_);
    return io_failure("cannot write", path, err);
  }
  auto done = mail::Outcome::sent("local", "delivered to file " + path);
  done.final_delivery = true;
  return done;
}

}  // namespace tern::delivery
