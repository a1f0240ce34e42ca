// The seam between SMTP sessions and the rest of the MTA (STYLE.md §6): inbound/ owns this
// interface, app/ plugs in the implementation (spool commit, then the scheduler).
#pragma once

#include <functional>
#include <string>

#include "core/result.hpp"
#include "spool/message.hpp"

namespace tern::inbound {

class Ingress {
 public:
  using Done = std::function<void(Status)>;
  virtual ~Ingress() = default;

  // Takes a complete message: `message` is its text with our Received header first, CRLF
  // line endings. `done` runs once, on any thread, after the message is on stable storage
  // (then the session may say 250) or with the error that kept it from getting there.
  // Must not block; cheap to call from an I/O thread.
  virtual void accept(spool::Envelope envelope, std::string message, Done done) = 0;

  // False when the server holds too much unsent mail in memory; sessions then answer
  // MAIL with 452 4.3.1 until it drains (DESIGN.md "Runtime model").
  virtual bool has_room() const { return true; }
};

}  // namespace tern::inbound
