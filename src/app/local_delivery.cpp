// Local delivery agents per recipient; see local_delivery.hpp.
#include "app/local_delivery.hpp"

#include <pwd.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/command_line.hpp"
#include "core/log.hpp"
#include "delivery/mbox.hpp"
#include "delivery/pipe.hpp"
#include "mail/address.hpp"
#include "route/expander.hpp"

namespace tern::app {
namespace {

// getpwnam_r's buffer: sysconf(_SC_GETPW_R_SIZE_MAX) is a hint that may be -1; 16 KiB holds
// any passwd entry seen in practice.
constexpr std::size_t passwd_buffer = 16 * 1024;

// The uid and gid of `user`, or nullopt when it does not exist. Thread-safe.
std::optional<delivery::RunAs> lookup_user(const std::string& user) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buffer(passwd_buffer);
  if (::getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &found) != 0 || !found)
    return std::nullopt;
  return delivery::RunAs{pw.pw_uid, pw.pw_gid};
}

// Whom a command runs as: `user` when Tern can switch to it (root, or through the
// launcher); else the daemon's own user, said once in the log. An error outcome when `user`
// does not exist.
std::optional<mail::Outcome> resolve_run_as(const std::string& user, delivery::Launcher* launcher,
                                            std::optional<delivery::RunAs>& run_as) {
  static std::atomic<bool> said{false};
  if (user.empty()) return std::nullopt;
  if (::geteuid() != 0 && !launcher) {
    if (!said.exchange(true))
      log::get("local").warn(
          "not running as root and no launcher: commands and files run as the daemon's user "
          "(uid {}), not as {} (this is said once)", ::geteuid(), user);
    return std::nullopt;
  }
  run_as = lookup_user(user);
  if (!run_as)
    return mail::Outcome::deferred("4.3.5", "local", "user " + user + " does not exist");
  return std::nullopt;
}

// The parts of a recipient address a command sees.
struct LocalParts {
  std::string local;      // the local part, extension included
  std::string user;       // without the extension
  std::string extension;  // after the delimiter, or ""
};

LocalParts local_parts(const config::Config& config, const spool::Recipient& r) {
  auto addr = mail::parse_mailbox(r.address, /*allow_utf8=*/true);
  LocalParts p;
  p.local = addr ? addr->local : "";
  auto split = route::split_extension(p.local, config.route.recipient_delimiter);
  p.user = split.delimiter ? split.user : p.local;
  p.extension = split.extension;
  if (!r.target.empty() && r.kind == spool::RecipientKind::address) p.user = r.target;
  return p;
}

// Runs `argv` for recipients[index] as `user`.
mail::Outcome run_command(const config::Config& config, delivery::Launcher* launcher,
                          std::vector<std::string> argv,
                          const std::string& user, const spool::Envelope& envelope,
                          std::size_t index, std::string_view message) {
  delivery::PipeCommand command;
  command.argv = std::move(argv);
  if (auto refused = resolve_run_as(user, launcher, command.run_as)) return *refused;
  const auto& r = envelope.recipients[index];
  const auto parts = local_parts(config, r);
  delivery::PipeEnvelope env{envelope.sender_of(index), r.address, parts.user, parts.local,
                             parts.extension,           r.domain,  ""};
  return delivery::Pipe({}, launcher).deliver(command, env, message);
}

}  // namespace

mail::Outcome deliver_alias_target(const config::Config& config, delivery::Launcher* launcher,
                                   const spool::Envelope& envelope, std::size_t index,
                                   std::string_view message) {
  const spool::Recipient& r = envelope.recipients[index];
  if (r.kind == spool::RecipientKind::error) {
    // "CODE X.Y.Z text", as the session stored it.
    std::string dsn = r.target.size() > 4 ? r.target.substr(4, r.target.find(' ', 4) - 4) : "";
    if (dsn.empty()) dsn = "5.0.0";
    if (!r.target.empty() && r.target.front() == '4')
      return mail::Outcome::deferred(dsn, "local", r.target);
    return mail::Outcome::bounced(dsn, "local", r.target);
  }
  if (r.kind == spool::RecipientKind::file) {
    if (r.target.empty() || r.target.front() != '/')
      return mail::Outcome::bounced("5.3.5", "local", "alias file is not an absolute path");
    std::optional<delivery::RunAs> run_as;
    if (auto refused = resolve_run_as(r.run_as, launcher, run_as)) return *refused;
    // Opened as the user it is written for (through the launcher when not root; a file
    // created is theirs); the append itself is the daemon's.
    std::optional<delivery::FileOwner> owner;
    if (run_as) owner = delivery::FileOwner{run_as->uid, run_as->gid};
    delivery::Mbox mbox("/", {}, launcher);
    return mbox.deliver_to_file(r.target, envelope.sender_of(index), r.address, message, owner);
  }
  auto argv = split_command(r.target);
  if (argv.empty() || argv.front().front() != '/')
    return mail::Outcome::bounced("5.3.5", "local",
                                  "alias command does not start with an absolute path");
  return run_command(config, launcher, std::move(argv), r.run_as, envelope, index, message);
}

mail::Outcome deliver_mbox(const config::Config& config, delivery::Launcher* launcher,
                           const spool::Envelope& envelope, std::size_t index,
                           std::string_view message) {
  const auto& r = envelope.recipients[index];
  auto addr = mail::parse_mailbox(r.address, /*allow_utf8=*/true);
  if (!addr)
    return mail::Outcome::bounced("5.1.3", "local", "recipient address is malformed");
  // target: the mailbox of an address with an extension (alice for alice+news@...); the
  // file name is lower-case ASCII, as Maildir names are.
  std::string user = r.target.empty() ? addr->local : r.target;
  for (auto& c : user)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  // The mailbox is opened as the system user of that name, when there is one (by a root
  // ternd itself, else by the launcher), and a new one is theirs, so their mail reader can
  // open it (as local(8) delivers as the user). Root's own mailbox is never opened through
  // the launcher (it refuses uid 0): that one is written as the daemon.
  std::optional<delivery::FileOwner> owner;
  if (::geteuid() == 0 || launcher)
    if (auto pw = lookup_user(user)) owner = delivery::FileOwner{pw->uid, pw->gid};
  delivery::Mbox mbox(config.local_delivery.mbox_directory, {}, launcher);
  return mbox.deliver(envelope.sender_of(index), r.address, user, message, owner);
}

mail::Outcome deliver_pipe(const config::Config& config, delivery::Launcher* launcher,
                           const config::Transport& transport,
                           const spool::Envelope& envelope, std::size_t index,
                           std::string_view message) {
  const auto& r = envelope.recipients[index];
  const auto parts = local_parts(config, r);
  std::string original = r.orcpt.substr(r.orcpt.find(';') + 1);
  if (r.orcpt.empty()) original = r.address;
  const std::map<std::string, std::string, std::less<>> values{
      {"sender", envelope.sender_of(index)},
      {"recipient", r.address},
      {"original_recipient", original},
      {"user", parts.user},
      {"extension", parts.extension},
      {"domain", r.domain},
      {"mailbox", parts.local},
      {"size", std::to_string(envelope.size)},
      {"client_address", envelope.client_address},
      {"queue_id", envelope.id},
  };
  return run_command(config, launcher, expand_macros(transport.argv, values),
                     config.local_delivery.pipe_user, envelope, index, message);
}

}  // namespace tern::app
