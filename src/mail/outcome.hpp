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

  static Outcome sent(std::string relay, std::string text) {
    return {Kind::sent, "2.0.0", std::move(relay), std::move(text)};
  }
  static Outcome deferred(std::string dsn, std::string relay, std::string text) {
    return {Kind::deferred, std::move(dsn), std::move(relay), std::move(text)};
  }
  static Outcome bounced(std::string dsn, std::string relay, std::string text) {
    return {Kind::bounced, std::move(dsn), std::move(relay), std::move(text)};
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
