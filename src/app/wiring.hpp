// The concrete pieces ternd plugs into the seams of inbound/ and queue/: the Ingress that
// commits to the spool and hands over to the scheduler, and the Courier that routes each
// recipient to its transport (maildir, discard; remote domains wait for outbound/).
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <memory>

#include "config/current.hpp"
#include "delivery/maildir.hpp"
#include "inbound/ingress.hpp"
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

class LocalCourier final : public queue::Courier {
 public:
  // Maildir writes (with their fsyncs) run on `pool`, never on an event loop.
  LocalCourier(const config::Current& config, boost::asio::thread_pool& pool);
  void deliver(std::shared_ptr<const spool::Envelope> envelope,
               std::vector<std::size_t> recipients, std::shared_ptr<const std::string> message,
               Done done) override;

 private:
  const config::Current& config_;
  boost::asio::thread_pool& pool_;
};

}  // namespace tern::app
