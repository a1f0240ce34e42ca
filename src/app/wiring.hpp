// The concrete pieces ternd plugs into the seams of inbound/ and queue/: the Ingress that
// commits to the spool and hands over to the scheduler, and the Courier that routes each
// recipient to its transport ([transport], config.hpp): maildir, mbox, pipe, discard, LMTP
// (Dovecot) or error for our domains, the SMTP client for the rest (to their MX hosts, a
// per-domain smtp: next hop, or the smarthost); alias files and commands go to
// local_delivery.hpp.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <memory>

#include "config/current.hpp"
#include "delivery/launcher.hpp"
#include "delivery/maildir.hpp"
#include "inbound/ingress.hpp"
#include "outbound/client.hpp"
#include "queue/courier.hpp"
#include "queue/scheduler.hpp"
#include "spool/spool.hpp"

namespace tern::app {

class SpoolIngress final : public inbound::Ingress {
 public:
  SpoolIngress(spool::Spool& spool, queue::Scheduler& scheduler)
      : spool_(spool), scheduler_(scheduler) {}
  void accept(spool::Envelope envelope, std::string message, Done done) override;

 private:
  spool::Spool& spool_;
  queue::Scheduler& scheduler_;
};

class RoutingCourier final : public queue::Courier {
 public:
  // Maildir writes (with their fsyncs) run on `pool`, never on an event loop; remote
  // recipients go to `smtp`, and LMTP ones to its deliver_lmtp.
  // `launcher` (may be null) runs commands and opens files as other users (local_delivery.hpp).
  RoutingCourier(const config::Current& config, boost::asio::thread_pool& pool,
                 outbound::Client& smtp, delivery::Launcher* launcher);
  std::string destination(const spool::Envelope& envelope, std::size_t index) const override;
  void deliver(std::shared_ptr<const spool::Envelope> envelope,
               std::vector<std::size_t> recipients, std::shared_ptr<const std::string> message,
               Done done) override;

 private:
  const config::Current& config_;
  boost::asio::thread_pool& pool_;
  outbound::Client& smtp_;
  delivery::Launcher* launcher_;
};

}  // namespace tern::app
