// What is stored for one recipient expanded by route/ (virtual aliases, aliases, address
// extensions): the spool recipients its destinations become. Used at RCPT time by the SMTP
// session, and by ternd for the delivery status notifications it queues itself, so a report
// to a local alias (owner-list, postmaster) is expanded like mail from outside.
//
// - mailbox: the user's address, with the extension put back ("alice+news"; `target` is the
//   mailbox name "alice"), so Delivered-To keeps it;
// - address: as it is, routed by its domain;
// - file, pipe, error: the original address with the kind and its target, and the user a
//   file or command runs as;
// - ORCPT (RFC 3461 §4.2): the client's, or the original address when the expansion
//   changed it;
// - the sender of an owner- alias's list, except for a message with the null sender
//   (RFC 5321 §4.5.5: nothing may answer a report, not even a list owner).
// Pure: no I/O; the destinations are trusted (they come from the administrator's tables).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mail/address.hpp"
#include "route/expander.hpp"
#include "spool/message.hpp"

namespace tern::inbound {

// `address` is the recipient as given (text), `expanded_from` the address that was
// expanded (a bare <postmaster> with its domain filled in), `original` the recipient with
// the client's NOTIFY and ORCPT, `delimiters` route.recipient_delimiter.
std::vector<spool::Recipient> stored_recipients(const std::vector<route::Destination>& expanded,
                                                const mail::Address& expanded_from,
                                                const spool::Recipient& original,
                                                std::string_view delimiters, bool null_sender);

}  // namespace tern::inbound
