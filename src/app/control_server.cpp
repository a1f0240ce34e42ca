// The daemon's side of the control socket; see control.hpp for the protocol.
#include "app/control_server.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <optional>

#include "core/log.hpp"
#include "core/queue_id.hpp"

namespace tern::app {
namespace asio = boost::asio;
using stream = asio::local::stream_protocol;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// A request line longer than this is not one of ours.
constexpr std::size_t max_request = 256;

// A multi-line error as one reply line: "a\nb" → "a; b".
std::string one_line(std::string text) {
  for (std::size_t at = text.find('\n'); at != std::string::npos; at = text.find('\n', at))
    text.replace(at, 1, "; ");
  return text;
}

// Calls `start(done)`, where done(T) may run on any thread, and resumes on `socket`'s
// executor with the value.
template <class T, class Start>
asio::awaitable<T> ask(stream::socket& socket, Start start) {
  auto ex = socket.get_executor();
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(T)>(
      [&](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        start([h, ex](T value) { asio::post(ex, [h, value]() mutable { (*h)(value); }); });
      },
      asio::use_awaitable);
}

struct ControlServer::Impl {
  asio::io_context& ioc;
  queue::Scheduler& scheduler;
  std::string path;
  std::function<Status()> reload;
  stream::acceptor acceptor{ioc};

  asio::awaitable<void> serve(stream::socket socket) {
    std::string line;
    auto [ec, n] = co_await asio::async_read_until(
        socket, asio::dynamic_buffer(line, max_request), '\n', use_tuple);
    if (ec) co_return;
    line.resize(n - 1);
    std::string reply = "error unknown request";
    auto space = line.find(' ');
    std::string verb = line.substr(0, space);
    std::string arg = space == std::string::npos ? "" : line.substr(space + 1);
    std::optional<queue::Scheduler::Command> command;
    if (verb == "delete" || verb == "hold" || verb == "release" || (verb == "flush" && !arg.empty())) {
      if (!valid_queue_id(arg)) {
        reply = "error not a queue ID";
      } else if (verb == "delete") {
        bool found = co_await ask<bool>(socket, [&](auto done) { scheduler.remove(arg, done); });
        reply = found ? "ok" : "not found";
      } else {
        command = verb == "hold"      ? queue::Scheduler::Command::hold
                  : verb == "release" ? queue::Scheduler::Command::release
                                      : queue::Scheduler::Command::flush_message;
      }
    } else if (verb == "reload" && arg.empty()) {
      // Blocking (files are read), but short and rare: the queue thread may wait for it.
      auto done = reload();
      reply = done ? "ok" : "error " + one_line(done.error().message);
    } else if (verb == "flush" && arg.empty()) {
      command = queue::Scheduler::Command::flush_all;
    } else if (verb == "flush-domain" && !arg.empty()) {
      command = queue::Scheduler::Command::flush_domain;
    }
    if (command) {
      auto n = co_await ask<std::size_t>(
          socket, [&](auto done) { scheduler.control(*command, arg, done); });
      bool one_message = *command != queue::Scheduler::Command::flush_all &&
                         *command != queue::Scheduler::Command::flush_domain;
      reply = n == 0 && one_message ? "not found" : "ok " + std::to_string(n);
    }
    reply += "\n";
    co_await asio::async_write(socket, asio::buffer(reply), use_tuple);
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
      if (ec) co_return;
      asio::co_spawn(ioc, serve(std::move(socket)), asio::detached);
    }
  }
};

ControlServer::ControlServer(asio::io_context& ioc, queue::Scheduler& scheduler,
                             std::string path, std::function<Status()> reload)
    : impl_(std::make_unique<Impl>(Impl{ioc, scheduler, std::move(path), std::move(reload)})) {}

ControlServer::~ControlServer() { stop(); }

Status ControlServer::start() {
  ::unlink(impl_->path.c_str());  // left by a daemon that was killed
  boost::system::error_code ec;
  impl_->acceptor.open(stream(), ec);
  if (!ec) impl_->acceptor.bind(stream::endpoint(impl_->path), ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("cannot open control socket " + impl_->path + ": " + ec.message());
  ::chmod(impl_->path.c_str(), 0600);  // only the daemon's own user may steer the queue
  asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached);
  return {};
}

void ControlServer::stop() {
  if (!impl_ || !impl_->acceptor.is_open()) return;
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  ::unlink(impl_->path.c_str());
}

}  // namespace tern::app
