// One SMTP server session (RFC 5321 §4.1, §4.3.2 state machine; RFC 2920 pipelining;
// RFC 3030 CHUNKING; RFC 1870 SIZE; RFC 6152 8BITMIME; RFC 6531 SMTPUTF8; RFC 3461 DSN).
// Everything the client sends is untrusted. Handlers check and return a Reply; only the
// session loop writes to the socket (STYLE.md §3).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "route/tables.hpp"
#include "inbound/ingress.hpp"
#include "inbound/security.hpp"
#include "policy/auth_throttle.hpp"

namespace tern::inbound {

// The sessions alive, so shutdown can end the idle ones at once (421 4.3.2) and let
// those receiving a message finish first. Thread-safe.
class SessionRegistry {
 public:
  class Member {
   public:
    virtual ~Member() = default;
    // Thread-safe: the session ends when idle, or after the message it is receiving.
    virtual void request_stop() = 0;
  };
  void add(const std::shared_ptr<Member>& m);
  void remove(const Member* m);
  void stop_all();

 private:
  std::mutex mutex_;
  std::vector<std::weak_ptr<Member>> members_;
  bool stopping_ = false;
};

// Octets of message text that sessions hold in memory while receiving (DESIGN.md
// "Runtime model": past the budget, new transactions get 452 4.3.1). Thread-safe.
class BufferGauge {
 public:
  void add(std::uint64_t n) { used_.fetch_add(n, std::memory_order_relaxed); }
  void sub(std::uint64_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }
  std::uint64_t used() const { return used_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> used_{0};
};

// What a session shares with the server and the other sessions for its whole life.
struct SessionServices {
  Ingress& ingress;
  SessionRegistry& registry;
  BufferGauge& gauge;
  policy::AuthThrottle& auth_throttle;
  // Where blocking work runs (password hashing, the Dovecot auth socket): never an I/O thread.
  boost::asio::any_io_executor blocking;
};

// The snapshot a session runs with: taken when the client connects, kept to the end.
struct SessionSnapshot {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const route::Tables> tables;  // may be null: no expansion
  std::shared_ptr<const Security> security;     // may be null: no TLS, no AUTH
};

// Runs a session on `socket`, accepted by `listener`, until the client quits, times out
// or is dropped.
boost::asio::awaitable<void> run_session(boost::asio::ip::tcp::socket socket,
                                         const config::Listener& listener,
                                         SessionSnapshot snapshot, SessionServices& services,
                                         std::string client_ip);

}  // namespace tern::inbound
