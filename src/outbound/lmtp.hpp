// The LMTP client (RFC 2033): final delivery to a mailbox server such as Dovecot, over a
// unix socket or TCP. LHLO instead of EHLO (§4.1); MAIL, the RCPTs and DATA go in one write,
// since every LMTP server pipelines (§5); after the final dot the server answers once per
// accepted recipient, in RCPT order (§4.2), so each recipient gets its own outcome: a 4xx
// defers only that recipient, a 5xx bounces only it. One connection per delivery (no
// reuse): the server is local and cheap to reach.
//
// The server is trusted to be the operator's, but its replies are still read as untrusted
// text (bounded lengths, smtp::take_reply) and every read and write has a deadline.
//
// Threading: deliver_lmtp runs on one executor; the resolver may be shared.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "dns/resolver.hpp"
#include "mail/outcome.hpp"
#include "outbound/connection.hpp"
#include "spool/message.hpp"

namespace tern::outbound {

// Where an LMTP server listens: a unix socket (socket_path set) or TCP (host and port).
struct LmtpHop {
  std::string socket_path;  // absolute path of a unix socket
  std::string host;         // a name or an IP address
  std::uint16_t port = 24;
  // The scheduler's queue name: "lmtp:unix:/run/dovecot/lmtp" or "lmtp:[127.0.0.1]:24".
  std::string key() const;
};

// What an LMTP delivery needs besides the hop.
struct LmtpSettings {
  std::string lhlo_name;  // our hostname, said in LHLO and shown as the unix socket's host
  Timeouts timeouts;
  dns::Family family = dns::Family::both;
};

// Delivers `message` to envelope.recipients[i], i in `recipients`; one Outcome each, in the
// same order. Outcomes of delivered (or refused) recipients are final_delivery with the
// server's reply; a lost connection defers the recipients without a reply yet (4.4.2).
boost::asio::awaitable<std::vector<mail::Outcome>> deliver_lmtp(
    const LmtpHop& hop, const LmtpSettings& settings, dns::Resolver& resolver,
    const spool::Envelope& envelope, const std::vector<std::size_t>& recipients,
    const std::string& message);

}  // namespace tern::outbound
