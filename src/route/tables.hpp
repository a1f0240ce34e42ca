// The routing tables in force: the aliases ([route] aliases), the virtual alias maps
// ([route] virtual_alias_maps) and the users of the mailbox domains (domains.users), read
// from the files the configuration names, and the Expander over them. Loaded next to the
// configuration (at start, by `ternd --check`, on SIGHUP) into one immutable snapshot: a
// file with an error fails the load whole ("file:line: problem"), and the caller keeps the
// tables it had. Readers take a snapshot (a session keeps the one it started with).
//
// Users file: one local part or address per line; blank lines and '#' comments skipped;
// case-insensitive. An address counts by its local part (the mailbox domains share one user
// list, as Postfix's local_recipient_maps does for $mydestination).
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
  Tables(Aliases aliases, VirtualMap virtual_map, std::optional<std::set<std::string>> users,
         ExpanderConfig config);
  Tables(const Tables&) = delete;
  Tables& operator=(const Tables&) = delete;

  const Expander& expander() const { return expander_; }
  const Aliases& aliases() const { return aliases_; }
  const VirtualMap& virtual_map() const { return virtual_; }
  // nullopt: no users file (or catch_all), every local part is accepted.
  const std::optional<std::set<std::string>>& users() const { return users_; }
  // "file:line: ..." things that loaded but deserve a look (duplicate keys, refused includes).
  std::vector<std::string> warnings() const;

 private:
  Aliases aliases_;
  VirtualMap virtual_;
  std::optional<std::set<std::string>> users_;
  Expander expander_;
};

// The mailbox domains of a configuration (domains.local and [transport] maildir or lmtp
// domains): where aliases and the users list apply.
std::vector<std::string> mailbox_domains(const config::Config& config);

// Reads the users file (see above).
Result<std::set<std::string>> load_users(const std::string& path);

// Reads every table `config` names. Errors: one "file:line: problem" per line.
Result<std::shared_ptr<const Tables>> load_tables(const config::Config& config);

// The tables in force, swapped whole on reload (core/current.hpp).
using CurrentTables = tern::Current<Tables>;

}  // namespace tern::route
