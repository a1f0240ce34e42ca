// Recipient expansion: one envelope recipient → the list of places its copy goes, through
// the virtual alias map (Postfix virtual(5), applied to every address, local or remote) and
// then, for the local domains, the aliases table (Postfix local(8) alias expansion):
//
//   virtual map ──► address in a local domain? ──► aliases ──► mailbox | file | pipe | error
//        ▲                      │ no                  │
//        │                      ▼                     │ local name or local address:
//        └──────────── remote address ◄── aliases ────┘ aliases again (not the virtual map,
//                     (goes through the virtual map again, as Postfix's local(8) delivers
//                      as a forward goes through cleanup)   local results in-process)
//
// Semantics, each as Postfix has it unless said otherwise:
// - Virtual: lookup order user+ext@domain, user@domain, user+ext, user (local domains
//   only), @domain. A result equal to the address looked up ends the recursion for that
//   address (the "alias it to itself" idiom). When the key matched without the extension,
//   the extension is appended to the results (propagate_unmatched_extensions = virtual);
//   "@other" results keep the whole local part. Bare names get `origin`'s domain.
// - Aliases: the key is the local part, lower-cased; "user+ext" is looked up first, then
//   "user". A name in its own alias ("bob: bob, bob@other") delivers to the mailbox of
//   bob (with the extension of the address that reached the alias); no other name is
//   treated that way. With an "owner-NAME" entry, the destinations of NAME get the
//   envelope sender owner-NAME@domain; an alias without one resets the sender to the
//   message's (Postfix: the owner attribute is reset, not inherited).
// - Address extensions: the first character of the local part found in `delimiters`
//   splits it (Postfix 3.x: several delimiter characters allowed); not when the user part
//   would be empty, nor "owner-*" / "*-request" with '-' as the delimiter. A mailbox keeps
//   the extension in Destination::extension; Delivered-To is the caller's business and
//   keeps the original recipient.
// - Loops: an alias or virtual key met again while it is still being expanded (a → b → a)
//   fails the whole recipient with ExpandError::loop, 5.4.6 (Postfix bounces past 100
//   levels with "alias database loop"; the cycle is found at once here). Past max_depth
//   hops: too_deep; past max_destinations results: too_many.
// - Duplicates are removed; the first occurrence (and its sender) stays.
// - Unknown users: only with a user_exists check. The original recipient that is no alias
//   and no user fails with ExpandError::unknown (5.1.1, for an RCPT-time reject); an unknown
//   user reached through an alias becomes an error destination (550 5.1.1), the way Postfix
//   bounces that one member of a list.
//
// Pure: no I/O (the tables were loaded before); const and safe to call from any thread
// while the tables it points to live. Cost: linear in the size of the expansion; a list
// reached by two paths is expanded once.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "mail/address.hpp"
#include "route/aliases.hpp"
#include "route/virtual_map.hpp"

namespace tern::route {

// Postfix local(8) calls nesting past 100 levels an alias loop; no real chain comes near.
inline constexpr std::size_t max_depth = 100;
// Postfix virtual_alias_expansion_limit: at most 1000 addresses from one recipient.
inline constexpr std::size_t max_destinations = 1000;

struct Destination {
  enum class Kind {
    mailbox,  // a local user's mailbox: address is user@local-domain (user lower-cased)
    address,  // a non-local address: route it again (relay, MX, smarthost)
    file,     // append to the file at `target`
    pipe,     // run the command line `target`
    error,    // refuse: code, enhanced, text
  };
  Kind kind = Kind::mailbox;
  mail::Address address;   // mailbox, address
  std::string extension;   // mailbox, file, pipe: the address extension without delimiter
  std::string target;      // file: the path; pipe: the command
  int code = 0;            // error: 4xx / 5xx
  std::string enhanced;    // error: RFC 3463 X.Y.Z
  std::string text;        // error: the reply text
  // The envelope sender for this destination (owner-NAME@domain); "" keeps the message's.
  std::string sender;
  // file, pipe: the user it runs as (AliasEntry::run_as of the alias that named it).
  std::string run_as;
};

struct ExpandError {
  enum class Kind { loop, too_deep, too_many, unknown, empty };
  Kind kind;
  std::string enhanced;  // RFC 3463: 5.4.6 loop/too_deep/too_many, 5.1.1 unknown, 4.3.0 empty
  std::string text;      // for the bounce and the log: which name and why
};

struct ExpanderConfig {
  std::vector<std::string> local_domains;  // lower-case A-labels: aliases apply here
  std::string delimiters = "+";            // Postfix recipient_delimiter; "" turns it off
  // The domain for bare names in virtual results (Postfix $myorigin); "" means the first
  // local domain, or the recipient's domain when there is none.
  std::string origin;
  // Every domain is local ([transport] "*" with a mailbox transport) but those in
  // `other_domains` (listed with a transport of another kind).
  bool every_domain_local = false;
  std::vector<std::string> other_domains;
  // Whether a local user (lower case, no extension) exists in a domain (a users list, a
  // mailbox directory); empty: everyone exists.
  std::function<bool(std::string_view user, std::string_view domain)> user_exists;
};

class Expander {
 public:
  // The tables may be null (no aliases, no virtual map); they must outlive the expander.
  Expander(const Aliases* aliases, const VirtualMap* virtual_map, ExpanderConfig config);

  // Expands one recipient (as parse_mailbox gives it). Never empty on success.
  [[nodiscard]] Result<std::vector<Destination>, ExpandError> expand(
      const mail::Address& recipient) const;

  bool is_local(std::string_view domain_ascii) const;

 private:
  const Aliases* aliases_;
  const VirtualMap* virtual_;
  ExpanderConfig config_;
};

// Splits a local part at its first delimiter character (see above): {user, extension,
// delimiter}; extension empty and delimiter '\0' when it does not split.
struct SplitLocal {
  std::string user;
  std::string extension;
  char delimiter = '\0';
};
SplitLocal split_extension(std::string_view local, std::string_view delimiters);

}  // namespace tern::route
