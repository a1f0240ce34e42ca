// The seam through which the scheduler reports what became of recipients (STYLE.md §6):
// queue/ decides *when* a delivery status notification is due (a permanent failure, the
// end of the queue lifetime, a delay past the warning time, a success the sender asked
// for); app/ plugs in what builds the report (bounce/) and queues it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "mail/outcome.hpp"
#include "spool/message.hpp"

namespace tern::queue {

struct Notice {
  enum class What : std::uint8_t { failed, expired, delayed, delivered, relayed };
  What what = What::failed;
  std::size_t recipient = 0;        // index into the envelope's recipients
  mail::Outcome outcome;            // the last attempt's outcome
  std::int64_t last_attempt = 0;    // unix seconds
  std::int64_t retry_until = 0;     // unix seconds: when the message will expire (delayed)
};

class Notifier {
 public:
  using Done = std::function<void(Status)>;
  virtual ~Notifier() = default;

  // Reports `notices` about one message (all of them in one report; the implementation
  // applies the sender's NOTIFY wishes and never reports to the null sender). `done` runs
  // on any thread once the report is safely queued (or will never be): only then may the
  // scheduler forget the message. Must not block.
  virtual void notify(std::shared_ptr<const spool::Envelope> envelope, std::vector<Notice> notices,
                      std::shared_ptr<const std::string> message, Done done) = 0;
};

}  // namespace tern::queue
