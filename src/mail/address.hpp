// Mailbox addresses as SMTP carries them: RFC 5321 §4.1.2 (Path, Mailbox, Local-part,
// Domain, address-literal), RFC 6531 §3.3 (UTF-8 under SMTPUTF8), RFC 5890 (IDN:
// U-labels are converted to A-labels for routing). Input is untrusted network text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace tern::mail {

// RFC 5321 §4.5.3.1.1-3: the limits every implementation must accept at least.
inline constexpr std::size_t max_local_part = 64;
inline constexpr std::size_t max_domain = 255;
inline constexpr std::size_t max_path = 256;

struct Address {
  // The local part with quoting removed ("a b"@x has local "a b"). Case is kept:
  // RFC 5321 §2.4 says only the receiving host may interpret it.
  std::string local;
  // The domain as received, ASCII-lower-cased; "[192.0.2.1]" / "[IPv6:...]" for literals.
  std::string domain;
  // The domain for routing and comparison: A-labels (xn--), lower case.
  std::string domain_ascii;

  // The null reverse-path <> (MAIL FROM:<> for bounces).
  bool null() const { return local.empty() && domain.empty(); }
  // local@domain, the local part quoted when it is not a Dot-string ('"' and '\\'
  // escaped). Empty for the null path; just "postmaster" for the bare <Postmaster>.
  std::string text() const;
  // True when the local part or the domain holds non-ASCII octets (needs SMTPUTF8).
  bool utf8() const;
  bool is_literal() const { return !domain.empty() && domain.front() == '['; }
};

enum class AddressError {
  syntax,           // not a Path / Mailbox
  too_long,         // over max_local_part / max_domain / max_path
  utf8_not_allowed  // non-ASCII without SMTPUTF8 (RFC 6531 §3.2)
};

struct PathOptions {
  bool allow_utf8 = false;  // MAIL FROM carried SMTPUTF8
  bool allow_null = false;  // "<>" is valid (reverse-path only)
  // "<Postmaster>" without a domain is valid (forward-path only, RFC 5321 §4.1.1.3). It
  // parses to local "postmaster" (lower case), domain and domain_ascii empty: the
  // recipient is the postmaster of this host, whatever the domain.
  bool allow_bare_postmaster = false;
};

// Parses "<...>" at the start of `in` (source routes "@a,@b:" are accepted and ignored,
// RFC 5321 §4.1.2 / Appendix C). On success `consumed` is set to the octets used,
// including the closing '>'.
Result<Address, AddressError> parse_path(std::string_view in, const PathOptions& options,
                                         std::size_t& consumed);

// Parses a bare mailbox "local@domain" (no angle brackets), the whole of `in`, at most
// max_path - 2 octets.
Result<Address, AddressError> parse_mailbox(std::string_view in, bool allow_utf8);

// True when `s` is well-formed UTF-8 (RFC 3629 §4: no overlong forms, no surrogates).
bool valid_utf8(std::string_view s);

// Converts a domain (possibly with U-labels) to lower-case A-label form; empty on failure
// (bad syntax, trailing '.', malformed IDN). An address literal comes back canonical.
std::string domain_to_ascii(std::string_view domain);

}  // namespace tern::mail
