// The Session class behind run_session (session.hpp). Internal to inbound/: its command
// handlers and I/O live in session.cpp, STARTTLS and AUTH in session_security.cpp.
// Everything the client sends is untrusted. Handlers check and return a Reply; only the
// session loop writes to the socket (STYLE.md §3).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <array>
#include <optional>
#include <unordered_set>

#include "auth/sasl.hpp"
#include "inbound/session.hpp"
#include "smtp/command.hpp"
#include "smtp/params.hpp"
#include "smtp/reply.hpp"
#include "tls/client_context.hpp"

namespace tern::inbound {

// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including CRLF.
inline constexpr std::size_t max_command_line = 512;
// Octets read from the socket at a time: a 1 KiB message with its commands fits many times.
inline constexpr std::size_t read_chunk = 16 * 1024;
inline constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);

inline smtp::Reply reply(int code, std::string enhanced, std::string text) {
  return smtp::Reply{code, std::move(enhanced), std::move(text)};
}

class Session : public SessionRegistry::Member, public std::enable_shared_from_this<Session> {
 public:
  Session(boost::asio::ip::tcp::socket socket, const config::Listener& listener,
          SessionSnapshot snapshot, SessionServices& services, std::string client_ip);

  ~Session() override;
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> watchdog();
  void request_stop() override;
  boost::asio::any_io_executor socket_executor() { return socket_.get_executor(); }

 private:
  using Reply = smtp::Reply;
  enum class Mode { command, data, bdat, starttls, auth, quit };

  // Command handlers: check, then change state; each returns the reply to send.
  Reply on_ehlo(std::string_view arg);
  Reply on_helo(std::string_view arg);
  Reply on_mail(std::string_view arg);
  Reply on_rcpt(std::string_view arg);
  std::optional<Reply> expand(const mail::Address& rcpt, const std::string& address,
                              const std::string& domain, const spool::Recipient& original,
                              std::vector<spool::Recipient>& out);
  void add_recipient(spool::Recipient r);
  Reply on_data(std::string_view arg);
  Reply on_bdat(std::string_view arg);
  Reply on_rset(std::string_view arg);
  Reply on_noop(std::string_view arg);
  Reply on_quit(std::string_view arg);
  Reply on_vrfy(std::string_view arg);
  Reply on_help(std::string_view arg);
  Reply on_not_implemented(std::string_view arg);
  Reply on_starttls(std::string_view arg);
  Reply on_auth(std::string_view arg);
  using Handler = Reply (Session::*)(std::string_view);
  static Handler handler_for(smtp::Verb v);

  // STARTTLS and AUTH (session_security.cpp).
  bool tls_available() const;
  bool auth_offered() const;
  std::string auth_mechanism_list() const;
  bool offers(auth::Mechanism m) const;
  std::optional<Reply> submission_gate() const;
  std::optional<Reply> check_sender(const std::string& sender, std::string_view what) const;
  bool owns(const std::string& address) const;
  std::optional<Reply> check_from_header(const std::string& message) const;
  boost::asio::awaitable<bool> handshake();
  boost::asio::awaitable<bool> start_tls();
  boost::asio::awaitable<void> authenticate();
  boost::asio::awaitable<std::optional<std::string>> read_auth_line();
  boost::asio::awaitable<void> pause(std::chrono::seconds how_long);
  Reply drop_for_failures();

  boost::asio::awaitable<void> receive_data();
  boost::asio::awaitable<void> receive_chunk();
  boost::asio::awaitable<Reply> commit();
  boost::asio::awaitable<bool> fill(std::chrono::seconds timeout);
  boost::asio::awaitable<bool> flush();
  void send(const Reply& r, std::string_view command);
  void reset_transaction();
  void count_content();
  Reply size_exceeded() const;
  void log_reject(const Reply& r, std::string_view command, std::string_view to);
  std::string protocol() const;
  smtp::Extensions extensions() const;
  bool is_http(std::string_view line) const;
  static bool is_auth_line(std::string_view in);
  static Reply too_long_reply(std::size_t limit);

  SessionServices& services_;
  BufferGauge& gauge_;
  std::uint64_t counted_ = 0;  // octets of content_ added to gauge_
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer deadline_;
  boost::asio::steady_timer pause_timer_;  // the delay before a failed AUTH's 535
  const config::Listener listener_;
  std::shared_ptr<const config::Config> config_;
  std::shared_ptr<const route::Tables> tables_;  // may be null: no expansion
  std::shared_ptr<const Security> security_;     // may be null: no TLS, no AUTH
  Ingress& ingress_;
  std::string client_ip_;
  std::string client_name_;

  std::array<char, read_chunk> read_buf_;  // the socket reads here, then in_ takes it
  std::string in_;   // received, not yet consumed
  std::string out_;  // replies not yet written
  Mode mode_ = Mode::command;
  bool timed_out_ = false;
  bool reject_logged_ = false;   // the next error reply was logged by log_reject
  bool not_an_error_ = false;    // the next error reply does not count toward limits.errors
  bool idle_ = false;            // waiting for a command: may be ended at once
  bool handshaking_ = false;     // in a TLS handshake: may be ended at once too
  bool stop_requested_ = false;  // the server is shutting down
  std::uint32_t errors_ = 0;
  std::vector<std::pair<std::string, std::uint32_t>> counts_;  // per verb, in first-use order
  std::uint32_t commands_ = 0;

  // TLS: the stream over socket_ once STARTTLS (or an implicit-TLS listener) completed.
  std::shared_ptr<tls::ServerContext> tls_context_;  // kept alive for the stream
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  tls::Established tls_info_;

  // AUTH (RFC 4954): the exchange under way, then who the client is.
  std::optional<auth::Mechanism> auth_mechanism_;
  std::optional<std::string> auth_initial_;
  std::string auth_user_;    // empty: not authenticated
  std::string auth_method_;  // "PLAIN", "LOGIN"

  // Session state (RFC 5321 §4.1.4).
  std::string helo_;
  bool esmtp_ = false;

  // Transaction state.
  bool in_transaction_ = false;
  smtp::MailCommand mail_;
  std::vector<spool::Recipient> recipients_;
  std::unordered_set<std::string> recipient_keys_;  // kind, address, target of each one
  std::uint32_t overshoot_ = 0;  // RCPTs refused as too many in this transaction
  std::string content_;      // message text received so far (DATA or BDAT chunks)
  std::uint64_t bdat_size_ = 0;    // octets of the chunk being read
  bool bdat_last_ = false;
  bool bdat_discard_ = false;      // chunk read only to stay in sync
  bool bdat_started_ = false;      // a BDAT transaction is under way (DATA not allowed)
  std::optional<Reply> bdat_error_;  // why the chunks of this transaction are refused
};

}  // namespace tern::inbound
