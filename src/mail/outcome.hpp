// The outcome of one delivery attempt for one recipient, as every courier reports it and
// the mail log prints it ("dsn=2.0.0, status=sent (delivered to maildir)").
#pragma once

#include <string>

namespace tern::mail {

struct Outcome {
  enum class Kind { sent, deferred, bounced };
  Kind kind = Kind::deferred;
  std::string dsn;    // RFC 3463 status: "2.0.0", "4.3.0", "5.1.1"
  std::string relay;  // where it went, for the log: "local", "none", "mx.example[192.0.2.1]:25"
  std::string text;   // why: "delivered to maildir", or the reason it failed
  // For delivery status notifications (RFC 3464 §2.3.5-6): the next hop that answered and
  // its reply as received; empty when the outcome is Tern's own (DNS, connect, local).
  std::string remote_host;
  std::string remote_reply;
  // The next hop took NOTIFY/ORCPT (it offers DSN) and reports success itself (RFC 3461
  // §5.2.2); false for final mailboxes and hops without DSN.
  bool hop_reports = false;
  // Stored in a final mailbox (Maildir, LMTP, pipe), not relayed.
  bool final_delivery = false;

  static Outcome sent(std::string relay, std::string text) {
    return {Kind::sent, "2.0.0", std::move(relay), std::move(text), {}, {}, false, false};
  }
  static Outcome deferred(std::string dsn, std::string relay, std::string text) {
    return {Kind::deferred, std::move(dsn), std::move(relay), std::move(text), {}, {}, false, false};
  }
  static Outcome bounced(std::string dsn, std::string relay, std::string text) {
    return {Kind::bounced, std::move(dsn), std::move(relay), std::move(text), {}, {}, false, false};
  }
};

inline const char* status_word(Outcome::Kind k) {
  switch (k) {
    case Outcome::Kind::sent: return "sent";
    case Outcome::Kind::deferred: return "deferred";
    case Outcome::Kind::bounced: return "bounced";
  }
  return "deferred";
}

}  // namespace tern::mail
