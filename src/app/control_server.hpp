// The daemon's side of the control socket (see control.hpp).
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "queue/scheduler.hpp"

namespace tern::app {

class ControlServer {
 public:
  // `reload` re-reads the configuration and tables (as SIGHUP does) for "reload" requests.
  ControlServer(boost::asio::io_context& ioc, queue::Scheduler& scheduler, std::string path,
                std::function<Status()> reload);
  ~ControlServer();
  Status start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::app
