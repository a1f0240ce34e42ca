// The scheduler's Notifier as ternd plugs it in: builds the delivery status notification
// with bounce/ and queues it like any received message (spool commit, then the scheduler),
// from the null sender to the original sender (to a list's owner-NAME address for the
// recipients that came from the list: one report per envelope sender).
#pragma once

#include "config/current.hpp"
#include "inbound/ingress.hpp"
#include "queue/notifier.hpp"
#include "route/tables.hpp"

namespace tern::app {

class DsnNotifier final : public queue::Notifier {
 public:
  // Reports to a local address are expanded through `tables` (aliases, virtual maps), as
  // mail from outside would be: a report to owner-list reaches whom owner-list names.
  DsnNotifier(const config::Current& config, const route::CurrentTables& tables)
      : config_(config), tables_(tables) {}
  // The way reports enter the queue; set once before the scheduler runs.
  void attach(inbound::Ingress& ingress) { ingress_ = &ingress; }

  void notify(std::shared_ptr<const spool::Envelope> envelope, std::vector<queue::Notice> notices,
              std::shared_ptr<const std::string> message, Done done) override;

 private:
  // One report to envelope->sender about `notices`.
  void report(std::shared_ptr<const spool::Envelope> envelope, std::vector<queue::Notice> notices,
              std::shared_ptr<const std::string> message, Done done);

  const config::Current& config_;
  const route::CurrentTables& tables_;
  inbound::Ingress* ingress_ = nullptr;
};

}  // namespace tern::app
