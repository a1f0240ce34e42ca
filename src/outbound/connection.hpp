// One SMTP client connection to a next hop (RFC 5321 §3-4 client side; RFC 2920
// pipelining; RFC 3030 BDAT; RFC 1870 SIZE; RFC 6152 8BITMIME; RFC 6531 SMTPUTF8; RFC 3461
// DSN parameters passed on). The server is untrusted: every read has a deadline (RFC 5321
// §4.5.3.2) and every reply is checked. Results are per recipient, as the scheduler needs.
//
// Threading: a Connection lives on one executor; its coroutines must be awaited there.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "mail/outcome.hpp"
#include "smtp/client_protocol.hpp"
#include "spool/message.hpp"

namespace tern::outbound {

// RFC 5321 §4.5.3.2 client timeouts, and a connect timeout (Postfix smtp_connect_timeout).
struct Timeouts {
  std::chrono::seconds connect{30};
  std::chrono::seconds greeting{300};     // §4.5.3.2.1: 5 minutes for the 220
  std::chrono::seconds command{300};      // §4.5.3.2.2-3: EHLO, MAIL, RCPT: 5 minutes
  std::chrono::seconds data_init{120};    // §4.5.3.2.4: 2 minutes for the 354
  std::chrono::seconds data_block{180};   // §4.5.3.2.5: 3 minutes per write of text
  std::chrono::seconds data_done{600};    // §4.5.3.2.6: 10 minutes after the final dot
};

struct Endpoint {
  std::string name;  // the host name (MX exchange or smarthost), for logs
  std::string ip;
  std::uint16_t port = 25;
  // "mx.example.net[192.0.2.1]:25", the relay= of the mail log.
  std::string text() const { return name + "[" + ip + "]:" + std::to_string(port); }
};

// Why a connection could not be opened; `permanent` when the server refused us with 5xx
// in its greeting or EHLO/HELO (Postfix still tries the next MX host then).
struct OpenError {
  std::string text;
  bool permanent = false;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(boost::asio::any_io_executor ex, Endpoint endpoint, Timeouts timeouts);
  ~Connection();

  // Connects, reads the greeting, says EHLO (HELO when EHLO is refused).
  static boost::asio::awaitable<Result<std::shared_ptr<Connection>, OpenError>> open(
      boost::asio::any_io_executor ex, Endpoint endpoint, std::string helo_name,
      Timeouts timeouts);

  // One mail transaction for envelope.recipients[i], i in `recipients`; one Outcome each.
  boost::asio::awaitable<std::vector<mail::Outcome>> send(
      const spool::Envelope& envelope, const std::vector<std::size_t>& recipients,
      const std::string& message);

  // Says QUIT (best effort) and closes.
  boost::asio::awaitable<void> quit();

  // Closes at once, without QUIT (after an error).
  void close_now();

  // Whether another transaction may use this connection.
  bool reusable() const { return usable_; }
  const smtp::ServerExtensions& extensions() const { return extensions_; }
  const Endpoint& endpoint() const { return endpoint_; }
  boost::asio::any_io_executor executor() { return socket_.get_executor(); }
  // The last send() found the connection dead before the server took any command of it
  // (a cached connection the server had closed): safe to try again on a new one.
  bool dead_on_arrival() const { return dead_on_arrival_; }
  // Transactions done on this connection.
  std::uint32_t transactions() const { return transactions_; }

 private:
  boost::asio::awaitable<bool> write(std::string_view data, std::chrono::seconds timeout);
  boost::asio::awaitable<std::optional<smtp::Reply>> read_reply(std::chrono::seconds timeout);
  boost::asio::awaitable<void> watchdog();
  OpenError give_up(OpenError e);  // closes, then returns e
  std::string lost(std::string_view during) const;

  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer deadline_;
  Endpoint endpoint_;
  Timeouts timeouts_;
  std::string in_;
  smtp::ServerExtensions extensions_;
  bool usable_ = false;
  bool timed_out_ = false;
  bool dead_on_arrival_ = false;
  std::uint32_t transactions_ = 0;
};

}  // namespace tern::outbound
