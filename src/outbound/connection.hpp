// One SMTP client connection to a next hop (RFC 5321 §3-4 client side; RFC 2920
// pipelining; RFC 3030 BDAT; RFC 1870 SIZE; RFC 6152 8BITMIME; RFC 6531 SMTPUTF8; RFC 3461
// DSN parameters passed on; RFC 3207 STARTTLS; RFC 4954 AUTH). The server is untrusted:
// every read and the TLS handshake have a deadline (RFC 5321 §4.5.3.2) and every reply is
// checked. Results are per recipient, as the scheduler needs. Credentials go only inside TLS
// and never into a log.
//
// Threading: a Connection lives on one executor; its coroutines must be awaited there.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "mail/outcome.hpp"
#include "outbound/sasl.hpp"
#include "smtp/client_protocol.hpp"
#include "spool/message.hpp"
#include "tls/client_context.hpp"

namespace tern::outbound {

// RFC 5321 §4.5.3.2 client timeouts, and a connect timeout (Postfix smtp_connect_timeout).
struct Timeouts {
  std::chrono::seconds connect{30};
  std::chrono::seconds greeting{300};     // §4.5.3.2.1: 5 minutes for the 220
  std::chrono::seconds command{300};      // §4.5.3.2.2-3: EHLO, MAIL, RCPT: 5 minutes
  std::chrono::seconds data_init{120};    // §4.5.3.2.4: 2 minutes for the 354
  std::chrono::seconds data_block{180};   // §4.5.3.2.5: 3 minutes per write of text
  std::chrono::seconds data_done{600};    // §4.5.3.2.6: 10 minutes after the final dot
  std::chrono::seconds starttls{300};     // the TLS handshake (Postfix smtp_starttls_timeout)
};

// What a connection does about TLS (Postfix smtp_tls_security_level):
//   none     never STARTTLS;
//   may      STARTTLS when offered, any certificate accepted; a refused STARTTLS goes on in
//            plaintext, a failed handshake fails this connection (the caller may retry in
//            plaintext);
//   encrypt  TLS required, any certificate accepted;
//   verify   TLS required, the certificate must chain to the system CA store and name the
//            host (its MX or smarthost name, or the address it was given as).
enum class TlsPolicy : std::uint8_t { none, may, encrypt, verify };
const char* policy_name(TlsPolicy p);

// TLS and AUTH for one connection.
struct Security {
  TlsPolicy tls = TlsPolicy::may;
  // Required unless tls is none; without it, "may" stays plaintext and the others fail.
  std::shared_ptr<tls::ClientContext> context;
  // AUTH after STARTTLS when set (never without TLS).
  std::shared_ptr<const Credentials> credentials;
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
  OpenError(std::string text = {}, bool permanent = false, std::string dsn = "4.4.1",
            std::string relay = {})
      : text(std::move(text)), permanent(permanent), dsn(std::move(dsn)), relay(std::move(relay)) {}
  std::string text;
  bool permanent = false;
  std::string dsn = "4.4.1";  // RFC 3463: 4.4.1 no answer; 4.7.x TLS or AUTH problems
  std::string relay;          // the host that answered, for relay=; empty: "none"
  bool tls_failed = false;    // the TLS handshake failed under "may": plaintext may do
};

// RFC 6531 §3.2: does this message need SMTPUTF8 (an address or header field in UTF-8)?
bool needs_smtputf8(const spool::Envelope& envelope, const std::vector<std::size_t>& recipients,
                    std::string_view message);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(boost::asio::any_io_executor ex, Endpoint endpoint, Timeouts timeouts);
  ~Connection();

  // Connects, reads the greeting, says EHLO (HELO when EHLO is refused), then as `security`
  // says: STARTTLS and EHLO again (RFC 3207 §4.2), AUTH (RFC 4954).
  static boost::asio::awaitable<Result<std::shared_ptr<Connection>, OpenError>> open(
      boost::asio::any_io_executor ex, Endpoint endpoint, std::string helo_name,
      Timeouts timeouts, Security security);

  // One mail transaction for envelope.recipients[i], i in `recipients`; one Outcome each.
  boost::asio::awaitable<std::vector<mail::Outcome>> send(
      const spool::Envelope& envelope, const std::vector<std::size_t>& recipients,
      const std::string& message);

  // Says QUIT (best effort) and closes.
  boost::asio::awaitable<void> quit();

  // Closes at once, without QUIT (after an error).
  void close_now();

  // Whether another transaction may use this connection.
  // (Not after a deadline passed: the watchdog closed the socket then.)
  bool reusable() const { return usable_ && !timed_out_; }
  const smtp::ServerExtensions& extensions() const { return extensions_; }
  const Endpoint& endpoint() const { return endpoint_; }
  boost::asio::any_io_executor executor() { return socket_.get_executor(); }
  // The session is inside TLS.
  bool encrypted() const { return tls_ != nullptr; }
  // The last send() found the connection dead before the server took any command of it
  // (a cached connection the server had closed): safe to try again on a new one.
  bool dead_on_arrival() const { return dead_on_arrival_; }
  // Transactions done on this connection.
  std::uint32_t transactions() const { return transactions_; }

 private:
  boost::asio::awaitable<bool> write(std::string_view data, std::chrono::seconds timeout);
  boost::asio::awaitable<bool> write_text(std::string_view text);
  boost::asio::awaitable<std::optional<smtp::Reply>> read_reply(std::chrono::seconds timeout);
  // EHLO (HELO when refused); sets extensions_ and auth_ afresh.
  boost::asio::awaitable<std::optional<OpenError>> hello(const std::string& helo_name);
  // STARTTLS as the policy says; nothing when the session may go on (in TLS or not).
  boost::asio::awaitable<std::optional<OpenError>> start_tls(const Security& security,
                                                             const std::string& helo_name);
  boost::asio::awaitable<std::optional<OpenError>> authenticate(const Credentials& credentials);
  OpenError give_up(OpenError e);  // closes, then returns e
  std::string lost(std::string_view during) const;
  std::string host() const;  // "name[ip]"

  boost::asio::ip::tcp::socket socket_;
  // After STARTTLS, reads and writes go through this TLS layer over socket_; before, and
  // without TLS, straight to socket_. Its SSL object holds a reference to the SSL_CTX.
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  boost::asio::steady_timer deadline_;
  Endpoint endpoint_;
  Timeouts timeouts_;
  std::string in_;
  smtp::ServerExtensions extensions_;
  OfferedAuth auth_;
  bool usable_ = false;
  bool timed_out_ = false;
  bool dead_on_arrival_ = false;
  std::uint32_t transactions_ = 0;
};

}  // namespace tern::outbound
