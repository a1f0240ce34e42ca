// The SMTP listeners; see server.hpp.
#include "inbound/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <atomic>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "core/log.hpp"
#include "inbound/session.hpp"
#include "smtp/reply.hpp"

namespace tern::inbound {
namespace asio = boost::asio;
using asio::ip::tcp;

// Shared with every session (a session holds it until its frame is gone): at shutdown a
// session still waiting (on a password check, say) when the I/O threads stop is destroyed
// with its io_context, after the Server; what it touches (gauge, registry) must outlive it.
struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Snapshots snapshots;
  std::shared_ptr<const config::Config> config;  // at start: the listeners
  Ingress* ingress = nullptr;
  std::vector<asio::io_context*> workers;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::atomic<std::size_t> next_worker{0};
  std::atomic<std::size_t> sessions{0};
  std::mutex per_client_mutex;
  std::unordered_map<std::string, std::uint32_t> per_client;
  SessionRegistry registry;
  BufferGauge gauge;
  policy::AuthThrottle auth_throttle;
  asio::any_io_executor blocking;
  std::optional<SessionServices> services;  // set by start(), with the ingress

  Impl(std::shared_ptr<const config::Config> c, Snapshots take, std::vector<asio::io_context*> w,
       asio::any_io_executor blocking)
      : snapshots(std::move(take)),
        config(std::move(c)),
        workers(std::move(w)),
        blocking(std::move(blocking)) {}

  // Counts a session in and out of the per-client and total limits.
  struct Slot {
    std::shared_ptr<Impl> impl;
    std::string ip;
    ~Slot() {
      impl->sessions.fetch_sub(1);
      std::lock_guard lock(impl->per_client_mutex);
      if (--impl->per_client[ip] == 0) impl->per_client.erase(ip);
    }
  };

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, const config::Listener& listener) {
    for (;;) {
      asio::io_context& worker = *workers[next_worker.fetch_add(1) % workers.size()];
      auto [ec, socket] =
          co_await acceptor.async_accept(worker, asio::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) {
        // EMFILE and friends: say so and carry on; the next accept may succeed.
        log::get("smtpd").warn("accept failed: {}", ec.message());
        continue;
      }
      boost::system::error_code ep_ec;
      auto endpoint = socket.remote_endpoint(ep_ec);
      if (ep_ec) continue;
      auto address = endpoint.address();
      if (address.is_v6() && address.to_v6().is_v4_mapped())
        address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
      std::string ip = address.to_string();
      admit(std::move(socket), std::move(ip), listener);
    }
  }

  void admit(tcp::socket socket, std::string ip, const config::Listener& listener) {
    SessionSnapshot snapshot = snapshots();
    auto config = snapshot.config;
    std::uint32_t from_client;
    {
      std::lock_guard lock(per_client_mutex);
      from_client = ++per_client[ip];
    }
    std::size_t total = sessions.fetch_add(1) + 1;
    // One Slot: its destructor counts out, and it keeps this Impl alive for the session.
    auto slot = std::shared_ptr<Slot>(new Slot{shared_from_this(), ip});
    std::optional<smtp::Reply> refuse;
    if (total > config->limits.connections)
      refuse = smtp::Reply{421, "4.7.0", config->hostname + " Error: too many connections; try again later"};
    else if (from_client > config->limits.connections_per_client)
      refuse = smtp::Reply{421, "4.7.0", config->hostname +
                                             " Error: too many connections from your address; "
                                             "try again later"};
    auto ex = socket.get_executor();
    if (refuse) {
      log::get("smtpd").warn("refused connection from unknown[{}]: {}", ip, refuse->log_text());
      asio::co_spawn(
          ex,
          [socket = std::move(socket), wire = refuse->wire(), slot]() mutable -> asio::awaitable<void> {
            co_await asio::async_write(socket, asio::buffer(wire),
                                       asio::as_tuple(asio::use_awaitable));
            boost::system::error_code ignored;
            socket.close(ignored);
          },
          asio::detached);
      return;
    }
    asio::co_spawn(
        ex,
        [this, socket = std::move(socket), ip, slot, &listener,
         snapshot = std::move(snapshot)]() mutable -> asio::awaitable<void> {
          co_await run_session(std::move(socket), listener, std::move(snapshot), *services, ip);
        },
        asio::detached);
  }
};

Server::Server(std::shared_ptr<const config::Config> config, Snapshots snapshots,
               std::vector<asio::io_context*> workers, asio::any_io_executor blocking)
    : impl_(std::make_shared<Impl>(std::move(config), std::move(snapshots), std::move(workers),
                                   std::move(blocking))) {}

// The acceptors go now, while their io_context is alive; the rest of Impl stays as long as a
// session (or its frame, destroyed with the io_contexts) holds it.
Server::~Server() { impl_->acceptors.clear(); }

Status Server::listen() {
  for (auto& l : impl_->config->listeners) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(l.host, ec);
    if (ec) return fail("cannot listen on " + l.address + ": " + ec.message());
    tcp::endpoint ep(address, l.port);
    auto acceptor = std::make_unique<tcp::acceptor>(*impl_->workers.front());
    acceptor->open(ep.protocol(), ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec && address.is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acceptor->bind(ep, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail("cannot listen on " + l.address + ": " + ec.message());
    log::get("smtpd").info("listening on {}", l.address);
    impl_->acceptors.push_back(std::move(acceptor));
  }
  return {};
}

void Server::start(Ingress& ingress) {
  impl_->ingress = &ingress;
  impl_->services.emplace(SessionServices{ingress, impl_->registry, impl_->gauge,
                                          impl_->auth_throttle, impl_->blocking});
  const auto& listeners = impl_->config->listeners;
  for (std::size_t i = 0; i < impl_->acceptors.size(); ++i) {
    auto& a = impl_->acceptors[i];
    asio::co_spawn(a->get_executor(), impl_->accept_loop(*a, listeners[i]), asio::detached);
  }
}

void Server::stop_sessions() { impl_->registry.stop_all(); }

void Server::stop_accepting() {
  for (auto& a : impl_->acceptors) {
    asio::post(a->get_executor(), [acc = a.get()] {
      boost::system::error_code ignored;
      acc->close(ignored);
    });
  }
}

std::size_t Server::sessions() const { return impl_->sessions.load(); }

}  // namespace tern::inbound
