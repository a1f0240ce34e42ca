// Maildir delivery; see maildir.hpp.
#include "delivery/maildir.hpp"
#include "core/ascii.hpp"
#include "mail/mailbox.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace tern::delivery {
namespace {

// Errors of the disk are temporary: the admin can fix them, and the mail waits (RFC 3463).
mail::Outcome io_failure(std::string_view what, const std::string& path, int err) {
  std::string dsn = (err == ENOSPC || err == EDQUOT) ? "4.3.1" : "4.3.0";
  return mail::Outcome::deferred(dsn, "local",
                                 std::string(what) + " " + path + ": " + std::strerror(err));
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// "<arrival>.<key>.<hostname>,S=<size>": unique (the key is the queue ID and recipient
// index) and the same on every attempt, which makes a repeated delivery detectable.
// maildir(5) asks for time.unique.host; S= is the Maildir++ size Dovecot reads.
std::string file_name(std::int64_t arrival, std::string_view key, const std::string& hostname,
                      std::size_t size) {
  std::string host;
  for (char c : hostname) host += (c == '/' || c == ':' || c == ',') ? '_' : c;
  return std::to_string(arrival) + "." + std::string(key) + "." + host + ",S=" +
         std::to_string(size);
}

}  // namespace

Maildir::Maildir(std::string root, std::string hostname)
    : root_(std::move(root)), hostname_(std::move(hostname)) {}

std::string Maildir::mailbox_path(std::string_view local, std::string_view domain) const {
  if (!mail::safe_mailbox_name(local) || !mail::safe_mailbox_name(domain)) return {};
  return root_ + "/" + ascii_lower(domain) + "/" + ascii_lower(local);
}

mail::Outcome Maildir::deliver(std::string_view sender, std::string_view recipient,
                               std::string_view local, std::string_view domain,
                               std::string_view message, std::string_view key,
                               std::int64_t arrival) const {
  std::string box = mailbox_path(local, domain);
  if (box.empty())
    return mail::Outcome::bounced("5.1.3", "local", "mailbox name not allowed");
  std::error_code ec;
  for (const char* sub : {"/tmp", "/new", "/cur"}) {
    std::filesystem::create_directories(box + sub, ec);
    if (ec) return io_failure("cannot create", box + sub, ec.value());
  }

  std::string text = "Return-Path: <" + std::string(sender) + ">\nDelivered-To: " +
                     std::string(recipient) + "\n";
  text.reserve(text.size() + message.size());
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\r' && i + 1 < message.size() && message[i + 1] == '\n') continue;
    text += message[i];
  }

  std::string name = file_name(arrival, key, hostname_, text.size());
  std::string final_path = box + "/new/" + name;
  struct stat st{};
  if (::stat(final_path.c_str(), &st) == 0) {
    auto done =
        mail::Outcome::sent("local", "delivered to maildir (found from an earlier attempt)");
    done.final_delivery = true;
    return done;
  }
  std::string tmp = box + "/tmp/" + name;
  // A file left in tmp/ by an attempt that died is replaced.
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_failure("cannot create", tmp, errno);
  if (!write_all(fd, text) || ::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return io_failure("cannot write", tmp, err);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_failure("cannot rename into", box + "/new", err);
  }
  if (!fsync_dir(box + "/new")) return io_failure("cannot sync", box + "/new", errno);
  auto done = mail::Outcome::sent("local", "delivered to maildir");
  done.final_delivery = true;
  return done;
}

}  // namespace tern::delivery
