// The routing tables in force: the aliases ([route] aliases), the virtual alias maps
// ([route] virtual_alias_maps) and the users of the mailbox domains (domains.users), read
// from the files the configuration names, and the Expander over them. Loaded next to the
// configuration (at start, by `ternd --check`, on SIGHUP) into one immutable snapshot: a
// file with an error fails the load whole ("file:line: problem"), and the caller keeps the
// tables it had. Readers take a snapshot (a session keeps the one it started with).
//
// Users file: one local part or address per line; blank lines and '#' comments skipped;
// case-insensitive. A bare local part ("alice") is a user of every mailbox domain (as
// Postfix's local_recipient_maps for $mydestination); an address ("bob@example.org") of
// that domain only (as virtual_mailbox_maps). With domains.users_maildirs, a local part is
// also a user when its Maildir <delivery.maildir.root>/<domain>/<user>/ exists (checked at
// each RCPT: a Maildir made or removed takes effect at once, without a reload).
//
// The run-as user of alias files and commands (route.default_privs, the alias file's owner)
// is resolved here too: see Tables::alias_owner.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/current.hpp"
#include "core/result.hpp"
#include "route/aliases.hpp"
#include "route/expander.hpp"
#include "route/virtual_map.hpp"

namespace tern::route {

class Tables {
 public:
  // The empty tables: no aliases, no virtual map, every user exists.
  Tables() : Tables(Aliases{}, VirtualMap{}, std::nullopt, ExpanderConfig{}) {}
  // `users`: bare local parts and user@domain entries (lower case); `maildir_root`: where
  // to look for a user's Maildir ("" for no such check).
  Tables(Aliases aliases, VirtualMap virtual_map, std::optional<std::set<std::string>> users,
         ExpanderConfig config, std::string maildir_root = "");
  Tables(const Tables&) = delete;
  Tables& operator=(const Tables&) = delete;

  const Expander& expander() const { return expander_; }
  const Aliases& aliases() const { return aliases_; }
  const VirtualMap& virtual_map() const { return virtual_; }
  // nullopt: no users file (or catch_all), every local part is accepted unless
  // users_maildirs() says otherwise.
  const std::optional<std::set<std::string>>& users() const { return users_; }
  // The Maildir root searched for users; "" when domains.users_maildirs is off.
  const std::string& users_maildirs() const { return maildir_root_; }
  // Whether `user` (lower case, no extension) is a user of `domain` (the check above).
  bool user_exists(std::string_view user, std::string_view domain) const;
  // "file:line: ..." things that loaded but deserve a look (duplicate keys, refused includes).
  std::vector<std::string> warnings() const;

 private:
  Aliases aliases_;
  VirtualMap virtual_;
  std::optional<std::set<std::string>> users_;
  std::string maildir_root_;
  Expander expander_;
};

// Whether mail for a domain with transport `t` ends in a user's mailbox (maildir, lmtp,
// mbox): there aliases and the users list apply. A pipe transport's program decides
// itself which recipients exist, as under Postfix pipe(8).
bool is_mailbox(const config::Transport& t);

// The mailbox domains of a configuration (domains.local and [transport] maildir, lmtp or
// mbox domains). A "*" transport of those kinds makes every domain one (ExpanderConfig).
std::vector<std::string> mailbox_domains(const config::Config& config);

// Reads the users file (see above).
Result<std::set<std::string>> load_users(const std::string& path);

// Reads every table `config` names. Errors: one "file:line: problem" per line.
Result<std::shared_ptr<const Tables>> load_tables(const config::Config& config);

// The tables in force, swapped whole on reload (core/current.hpp).
using CurrentTables = tern::Current<Tables>;

}  // namespace tern::route
