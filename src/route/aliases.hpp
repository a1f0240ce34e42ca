// The /etc/aliases table, read as Postfix aliases(5) and OpenSMTPD aliases(5) read it:
//
//   # comment
//   postmaster:   root
//   root:         admin@example.org          # trailing comments as in OpenSMTPD
//   "x y":        bob                        # quoted key
//   list:         a, b@example.net,
//                 c                          # continuation: the line starts with whitespace
//   owner-list:   admin                      # envelope sender for mail to "list"
//   archive:      /var/mail/archive          # append to a file
//   bug:          "|/usr/bin/tracker -q"     # pipe to a command
//   staff:        :include:/etc/mail/staff   # destinations listed in another file
//   gone:         error:550 5.1.1 gone       # refuse (OpenSMTPD error:code text)
//
// Keys are local parts, folded to lower case (ASCII). A right-hand side is a comma-separated
// list of: an address (user@domain), a bare local name (the same local domain), /file/path,
// |command, :include:/path, error:CODE [X.Y.Z] text. Quote an item that holds a comma.
//
// Include files are read when the table is loaded (not at each delivery, as Postfix does):
// the table is one immutable snapshot, and a missing include file is found by newaliases or
// a reload, not by a bounce. Their syntax is the right-hand side's, one or more items per
// line. As in Postfix (allow_mail_to_commands, allow_mail_to_files), a |command or a
// /file from an include file is refused unless the option allows it: it becomes an error
// destination (550 5.7.1) and a warning, since an include file often belongs to a list
// owner who must not run commands as the mail system.
//
// Input: the administrator's file (trusted to mean what it says, not to be well-formed)
// and include files (untrusted). A table loads whole or fails with "file:line: problem";
// the caller keeps its previous table. Immutable after load: safe to share across threads.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"
#include "mail/address.hpp"

namespace tern::route {

// Include files inside include files: a list of lists of lists is plenty; deeper nesting
// is a mistake (or a loop through symlinks) and fails the load.
inline constexpr std::size_t max_include_depth = 8;

struct AliasOptions {
  bool allow_includes = true;             // false: ":include:" is a syntax error (fuzzing)
  bool allow_include_commands = false;    // Postfix allow_mail_to_commands lacks "include"
  bool allow_include_files = false;       // Postfix allow_mail_to_files lacks "include"
  // Whom the files and commands of a table run as when its file belongs to root (Postfix
  // default_privs); a table file owned by another user runs them as that user, as
  // Postfix's local(8) does. Applied by load(), not parse().
  std::string default_privs = "nobody";
};

// One item of a right-hand side, after :include: files are read in.
struct AliasTarget {
  enum class Kind { address, local, file, pipe, error };
  Kind kind = Kind::local;
  mail::Address address;  // address: user@domain as parse_mailbox gives it
  std::string value;      // local: the name; file: the path; pipe: the command; error: text
  int code = 0;           // error: 4xx or 5xx
  std::string enhanced;   // error: RFC 3463 X.Y.Z (X.0.0 when the entry gives none)
  bool from_include = false;
};

struct AliasEntry {
  std::vector<AliasTarget> targets;  // may be empty only through an empty include file
  std::string where;                 // "file:line", for logs
  // The user its files and commands run as (see AliasOptions::default_privs); "" from
  // parse(): the daemon's own user.
  std::string run_as;
};

class Aliases {
 public:
  Aliases() = default;  // the empty table

  // Reads and parses the file at `path` (and the include files it names).
  static Result<Aliases> load(const std::string& path, const AliasOptions& options = {});
  // Parses `text`; `name` stands for the file in messages ("name:line: problem").
  static Result<Aliases> parse(std::string_view text, std::string_view name,
                               const AliasOptions& options = {});

  // Adds the entries of a table read after this one (Postfix alias_maps lists several:
  // the first table holding a key wins), and its warnings.
  void merge(Aliases&& later);

  // The entry for a key (any case), or nullptr.
  [[nodiscard]] const AliasEntry* find(std::string_view key) const;
  std::size_t size() const { return entries_.size(); }
  // Things that loaded but deserve a look ("file:line: ..."): duplicate keys (the first
  // wins, as in Postfix), refused commands and files from include files.
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  std::unordered_map<std::string, AliasEntry> entries_;
  std::vector<std::string> warnings_;
};

}  // namespace tern::route
