// Sender ownership for authenticated clients (Postfix smtpd_sender_login_maps with
// reject_sender_login_mismatch): which logins may use an envelope sender or From: address.
//
// The map file, one entry per line ("#" comments, blank lines ignored):
//     alice@example.com      alice
//     sales@example.com      alice, bob
//     @example.org           carol
// The key is an address or "@domain", the value the logins (comma and/or space separated).
// An address with an entry may be used only by the logins listed for it; an address with
// no entry (exact, then @domain) is owned by the login of the same name (see owns_by_name),
// and by a login its aliases lead to (the session asks route/ for that).
//
// Input: the file is the operator's, but each line is checked and errors carry file:line.
// Immutable after load; shared by all sessions.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "core/result.hpp"

namespace tern::policy {

class SenderLogins {
 public:
  // Reads the map; errors are "file:line: problem", one per line.
  static Result<std::shared_ptr<const SenderLogins>> load(const std::string& path);
  static std::shared_ptr<const SenderLogins> parse(std::string_view text, const std::string& path,
                                                   std::string& errors);

  // The logins for `address`, or nullptr when the map has no entry for it. The address is
  // compared in canonical form (local part unquoted and lower-cased, domain as its
  // lower-case A-label), trying, as Postfix does, the address, then the address without
  // its extension (the part from the first of `delimiters`: "sales+x" → "sales"), then its
  // @domain. An entry found decides.
  const std::vector<std::string>* logins_for(std::string_view address,
                                             std::string_view delimiters = "") const;

 private:
  std::map<std::string, std::vector<std::string>> entries_;  // lower-case key → logins
};

// The login's own address: `sender` is the login (compared in canonical form, its address
// extension ignored: alice owns alice+news), or the login has no domain and `sender` is
// login@one-of-our-domains. A login without a domain thus owns its name at every domain of
// this host: hosts serving unrelated organisations should use address logins.
bool owns_by_name(std::string_view login, std::string_view sender, const config::Config& config);

// The canonical form of an address for comparisons: "local@domain" with the local part
// unquoted and lower-cased and the domain as its lower-case A-label; "@domain" stays a
// domain key; text that is no address is only lower-cased.
std::string canonical_address(std::string_view address);

}  // namespace tern::policy
