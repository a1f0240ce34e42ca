// What the spool keeps about a message: the envelope with per-recipient DSN parameters and
// delivery state. Plain data; its stored form is in record.cpp and docs/spool-format.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tern::spool {

enum class RecipientState : std::uint8_t {
  pending,    // not yet delivered; eligible now or at next_attempt
  delivered,  // done, successfully
  failed,     // done, permanently failed (a bounce is due or was sent)
};

struct RecipientStatus {
  RecipientState state = RecipientState::pending;
  std::uint32_t attempts = 0;
  std::int64_t next_attempt = 0;  // unix seconds; 0 = as soon as possible
  std::string last_error;         // the last temporary or permanent reason, for queue list
  bool warned = false;            // a delay notification was sent for it
};

// What a recipient is delivered to: its address (routed by domain), or, from an alias
// expanded at RCPT time, a file to append to or a command to run (`target`).
// error: a member of an alias list refused by an "error:" entry; target is its
// "CODE X.Y.Z text", and delivery fails (5xx) or defers (4xx) with it.
enum class RecipientKind : std::uint8_t { address, file, pipe, error };

struct Recipient {
  RecipientKind kind = RecipientKind::address;
  std::string address;       // the RCPT address, as text (local@domain)
  std::string domain;        // routing domain (A-labels, lower case)
  std::uint8_t notify = 0;   // RFC 3461 NOTIFY bits (smtp::Notify); 0 = not given
  std::string orcpt;         // RFC 3461 ORCPT "type;address", decoded; empty if not given
  // address: where a local delivery goes when it is not the address's local part: the
  // mailbox name of an address with an extension (alice for alice+news@example.org, as
  // expanded by route/ at RCPT time); empty: the local part of `address`.
  // file: the absolute path; pipe: the command line (split into argv on whitespace).
  // For file and pipe, `address` is the recipient whose alias named them.
  std::string target;
  // The envelope sender for this recipient when it is not the message's: owner-NAME@domain
  // for the members of a list NAME that has an owner- alias (route/expander.hpp). Empty:
  // the message's sender. Recipients with different senders never share a transaction,
  // and their reports go to this sender.
  std::string sender;
  // file and pipe: the user the append or command runs as (the alias file's owner, or
  // route.default_privs); empty: the daemon's own user.
  std::string run_as;
  RecipientStatus status;
};

struct Envelope {
  std::string id;               // queue ID
  std::string sender;           // reverse-path as text; empty for <>
  std::int64_t arrival = 0;     // unix seconds
  std::uint64_t size = 0;       // octets of the stored message (with our Received header)
  std::string client_address;   // IP of the SMTP client
  std::string helo;             // the EHLO/HELO name it gave
  std::string body_type;        // "7BIT", "8BITMIME", "" (not given)
  bool smtputf8 = false;
  std::string ret;              // RFC 3461 RET: "FULL", "HDRS" or ""
  std::string envid;            // RFC 3461 ENVID, decoded
  bool held = false;            // on hold: not delivered until released
  std::vector<Recipient> recipients;

  // The envelope sender of recipients[index] (see Recipient::sender).
  const std::string& sender_of(std::size_t index) const {
    const auto& s = recipients[index].sender;
    return s.empty() ? sender : s;
  }

  bool finished() const {
    for (auto& r : recipients)
      if (r.status.state == RecipientState::pending) return false;
    return true;
  }
};

}  // namespace tern::spool
