// The SMTP listeners: binds every [[listener]] address, accepts connections and spreads
// them over the I/O threads, enforcing the limits on connections in total and per client
// address (config.limits). Each connection is one Session coroutine on one thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <vector>

#include "config/current.hpp"
#include "route/tables.hpp"
#include "core/result.hpp"
#include "inbound/ingress.hpp"
#include "inbound/security.hpp"
#include "inbound/session.hpp"

namespace tern::inbound {

class Server {
 public:
  // What a session runs with, taken whole when a client connects: the configuration, the
  // routing tables and the TLS/AUTH setup in force then (app/ swaps all three together on
  // reload, under the lock this function takes, so no session sees a mix).
  using Snapshots = std::function<SessionSnapshot()>;

  // `workers` are the per-thread io_contexts; listeners run on the first. Listeners are
  // those of `config` (the configuration at start); `blocking` runs the password checks,
  // off the I/O threads.
  Server(std::shared_ptr<const config::Config> config, Snapshots snapshots,
         std::vector<boost::asio::io_context*> workers, boost::asio::any_io_executor blocking);
  ~Server();

  // Binds every listener; fails with "cannot listen on ADDRESS: reason". Needs root for
  // ports below 1024, so it runs before privileges are dropped.
  Status listen();
  // Starts accepting; sessions hand their messages to `ingress`.
  void start(Ingress& ingress);
  // Stops accepting and closes the listening sockets (sessions in progress go on).
  void stop_accepting();
  // Ends idle sessions now (421 4.3.2) and the others after their current message.
  void stop_sessions();
  // Sessions open now.
  std::size_t sessions() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tern::inbound
