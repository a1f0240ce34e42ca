// The seam between the scheduler and whatever carries mail (STYLE.md §6): queue/ owns this
// interface; app/ plugs in the implementation (maildir, discard, later SMTP/LMTP).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mail/outcome.hpp"
#include "spool/message.hpp"

namespace tern::queue {

class Courier {
 public:
  using Done = std::function<void(std::vector<mail::Outcome>)>;
  virtual ~Courier() = default;

  // The destination queue of envelope.recipients[index]: recipients with the same
  // destination are delivered together and share its concurrency limit ("example.net",
  // "[relay.example]:587", "local"). Must be cheap: no I/O, no waiting.
  virtual std::string destination(const spool::Envelope& envelope, std::size_t index) const = 0;

  // Attempts delivery of `message` to envelope->recipients[i] for each i in `recipients`
  // (all of one destination).
  // Calls `done` exactly once, from any thread, with one Outcome per entry of `recipients`
  // in the same order. Must not block the caller: slow work runs elsewhere.
  virtual void deliver(std::shared_ptr<const spool::Envelope> envelope,
                       std::vector<std::size_t> recipients,
                       std::shared_ptr<const std::string> message, Done done) = 0;
};

}  // namespace tern::queue
