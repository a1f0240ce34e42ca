// mbox delivery (mbox(5)): appends a message to a mailbox file such as /var/mail/user, or to
// a file named by an alias ("/path" in /etc/aliases), under the locks Debian Policy §11.6
// asks for: an fcntl() lock first, then a dot-lock "<file>.lock" created with O_EXCL,
// stale dot-locks removed after a bound. Each message is written as
//
//   From <sender or MAILER-DAEMON> <asctime date>\n
//   Return-Path: <sender>\n Delivered-To: <recipient>\n   (RFC 5321 §4.4, as maildir.hpp)
//   <the message, LF line endings, mboxrd "From " quoting>\n
//   \n
//
// Quoting is mboxrd: every line matching ^>*From  gets one more '>'. Unlike mboxo (quote only
// "From "), it is reversible — a reader strips one '>' and has the message back — and any
// reader, mboxo or mboxrd, splits the file at the same lines. The file is fsynced before the
// locks are released; a failed write truncates it back to its size before the append, so no
// half message is ever left behind. New files get mode 0600.
//
// Trusted input: the mailbox directory and file paths (configuration, aliases). The sender,
// recipient and message come from the network and are only ever data here; a user name must
// pass mail::safe_mailbox_name. Paths are opened with O_NOFOLLOW and must be regular files
// with one link, so a planted symlink or hard link cannot redirect the append.
// Thread-safe: locks are open-file-description fcntl locks (F_OFD_SETLK), which exclude other
// threads of this process as well as other processes (and conflict with the classic fcntl
// locks mutt, procmail and Dovecot take). Blocking I/O, run off the event loop. The process
// should ignore SIGXFSZ, so that a file size limit is an EFBIG error, not death.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "delivery/launcher.hpp"
#include "mail/outcome.hpp"

namespace tern::delivery {

struct MboxOptions {
  // How long to wait for both locks before deferring ("mailbox busy"). Postfix tries 20
  // times a second apart; a mailbox an MUA holds longer than this is retried later.
  std::chrono::milliseconds lock_wait{std::chrono::seconds(20)};
  // A dot-lock older than this is left over by a crashed program and removed. liblockfile
  // and Postfix use 5 minutes; no writer of one message holds the lock for that long.
  std::chrono::seconds stale_lock_age{300};
  // Take the dot-lock as well as the fcntl lock (Debian Policy §11.6: both). Off only for
  // files in a directory no MUA locks in.
  bool dot_lock = true;
  // Add Return-Path: and Delivered-To: before the message.
  bool trace_headers = true;
};

// Owner given to a file this agent creates: applied when running as root; not root but with
// a Launcher, the file is opened (and created, and dot-locked) as this user by the launcher.
struct FileOwner {
  uid_t uid;
  gid_t gid;
};

class Mbox {
 public:
  // Mailboxes are <spool_dir>/<user>, as /var/mail/<user>.
  // With `launcher` (not owned), files with an owner are opened through it when not root.
  explicit Mbox(std::string spool_dir, MboxOptions options = {}, Launcher* launcher = nullptr);

  // Appends `message` (CRLF line endings, as stored in the spool) to the mailbox of `user`,
  // with `sender` as the Return-Path ("" for the null sender) and `recipient` (the address
  // as the client gave it) in Delivered-To. `owner` is set on a mailbox created here.
  mail::Outcome deliver(std::string_view sender, std::string_view recipient,
                        std::string_view user, std::string_view message,
                        std::optional<FileOwner> owner = std::nullopt) const;

  // File delivery ("/path" from aliases): the same append, to an absolute path.
  mail::Outcome deliver_to_file(const std::string& path, std::string_view sender,
                                std::string_view recipient, std::string_view message,
                                std::optional<FileOwner> owner = std::nullopt) const;

  // <spool_dir>/<user>, or "" when the name cannot be a file name.
  std::string mailbox_path(std::string_view user) const;

 private:
  bool uses_launcher(const std::optional<FileOwner>& owner) const;

  std::string spool_dir_;
  MboxOptions options_;
  Launcher* launcher_;
};

// The "From " separator line, with its '\n': "From a@b.example Thu Nov  2 12:00:00 2023".
// The null sender is MAILER-DAEMON; white space and controls in the address become '_', so
// the line still splits into sender and date. The date is asctime() of local time.
std::string mbox_from_line(std::string_view sender, std::time_t when);

// One whole mbox entry as appended: From_ line, trace headers (when `trace_headers`), the
// message with LF line endings and mboxrd quoting, a final '\n' when the message lacks one,
// and the blank line that ends it.
std::string mbox_entry(std::string_view sender, std::string_view recipient,
                       std::string_view message, std::time_t when, bool trace_headers = true);

}  // namespace tern::delivery
