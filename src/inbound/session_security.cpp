// STARTTLS (RFC 3207), implicit TLS (RFC 8314), SMTP AUTH (RFC 4954) and the submission
// rules (RFC 6409) of a Session; see session_impl.hpp.
//
// STARTTLS: after "220 Ready to start TLS" every octet the client sent in plaintext and we
// have not read as a command is thrown away, and the session forgets all it learned before
// (RFC 3207 §4.2): a command injected behind STARTTLS in the same packet (CVE-2011-0411)
// is never run, and the client must say EHLO again.
//
// AUTH: the SASL exchange (auth/sasl.hpp) runs here, line by line; the password check runs
// on the blocking executor, never on an I/O thread. Failures are counted per client address
// (policy/auth_throttle.hpp) and logged in the shape fail2ban's postfix-sasl filter reads:
//   warning: unknown[192.0.2.7]: SASL LOGIN authentication failed: authentication failure
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "core/ascii.hpp"
#include "core/log.hpp"
#include "inbound/session_impl.hpp"
#include "mail/address.hpp"
#include "mail/headers.hpp"
#include "policy/relay.hpp"

namespace tern::inbound {
namespace asio = boost::asio;
using smtp::Reply;

namespace {

// Runs `work` on the `blocking` executor and resumes the caller on `home` with its result:
// password hashes and the Dovecot socket never hold up an I/O thread.
template <class T, class F>
asio::awaitable<T> run_blocking(asio::any_io_executor blocking, asio::any_io_executor home, F work) {
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(T)>(
      [&](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        asio::post(blocking, [h, home, work = std::move(work)]() mutable {
          // No exception may leave a pool thread (std::terminate): it becomes an error.
          T result = fail("internal error");
          try {
            result = work();
          } catch (const std::exception& e) {
            result = fail(std::string("internal error: ") + e.what());
          }
          asio::post(home, [h, result = std::move(result)]() mutable { (*h)(std::move(result)); });
        });
      },
      asio::use_awaitable);
}

}  // namespace

bool Session::tls_available() const {
  return !tls_ && security_ && security_->tls_for(listener_.address) != nullptr;
}

bool Session::auth_offered() const {
  return listener_.auth && security_ && security_->auth &&
         (tls_ || config_->auth.allow_plaintext);
}

// SCRAM-SHA-256 only where the backend keeps SCRAM credentials (RFC 7677); the password
// mechanisms always.
bool Session::offers(auth::Mechanism m) const {
  return m != auth::Mechanism::scram_sha_256 || security_->auth->supports_scram();
}

std::string Session::auth_mechanism_list() const {
  std::string list;
  for (auto m : {auth::Mechanism::plain, auth::Mechanism::login, auth::Mechanism::scram_sha_256}) {
    if (!offers(m)) continue;
    if (!list.empty()) list += " ";
    list += auth::mechanism_name(m);
  }
  return list;
}

// RFC 6409 §4.3 (submission needs authentication) and RFC 4954 §6 (530 5.7.0); RFC 3207
// §4 lets a server insist on TLS first, which the submission ports do unless the
// configuration allows plaintext AUTH.
std::optional<Reply> Session::submission_gate() const {
  if (!listener_.requires_auth()) return std::nullopt;
  if (!tls_ && !config_->auth.allow_plaintext)
    return reply(530, "5.7.0", "Must issue a STARTTLS command first");
  if (auth_user_.empty()) return reply(530, "5.7.0", "Authentication required");
  return std::nullopt;
}

// Whether the logged-in user may use `address` as a sender: the sender login map says so,
// or (with no entry for it) the address is the login's own or leads to it by an alias.
// Addresses are compared in canonical form (policy::canonical_address), so quoting, case,
// IDN forms and address extensions change nothing.
bool Session::owns(const std::string& address) const {
  const std::string& delimiters = config_->route.recipient_delimiter;
  if (security_ && security_->sender_logins) {
    if (auto* logins = security_->sender_logins->logins_for(address, delimiters)) {
      auto me = policy::canonical_address(auth_user_);
      return std::find(logins->begin(), logins->end(), me) != logins->end();
    }
  }
  if (policy::owns_by_name(auth_user_, address, *config_)) return true;
  if (!tables_) return false;
  auto parsed = mail::parse_mailbox(address, true);
  if (!parsed) return false;
  auto expanded = tables_->expander().expand(*parsed);
  if (!expanded) return false;
  for (const auto& d : *expanded) {
    if (d.kind != route::Destination::Kind::mailbox && d.kind != route::Destination::Kind::address)
      continue;
    if (policy::owns_by_name(auth_user_, d.address.text(), *config_)) return true;
  }
  return false;
}

// Postfix reject_sender_login_mismatch: 553 5.7.1 "<a>: Sender address rejected: not owned
// by user u". The null sender (bounces, RFC 5321 §4.5.5) belongs to no one and is allowed.
std::optional<Reply> Session::check_sender(const std::string& sender, std::string_view what) const {
  if (auth_user_.empty() || !config_->auth.check_sender || sender.empty()) return std::nullopt;
  if (owns(sender)) return std::nullopt;
  return reply(553, "5.7.1", "<" + sender + ">: " + std::string(what) +
                                 " rejected: not owned by user " + log::printable(auth_user_));
}

// The From: addresses of an authenticated user's message must be the user's too (else a
// user could sign mail as anyone at our domains, and DKIM would vouch for it). A From: a
// mail client could show differently from how we read it is refused, not guessed at: more
// than one From: field (RFC 5322 §3.6 allows one), one we cannot parse whole, one naming no
// mailbox, or a header section with a bare CR (where programs disagree on line ends).
// RFC 5321 §4.2.5 lists 550 (not 553) among the replies to the end of DATA.
std::optional<Reply> Session::check_from_header(const std::string& message) const {
  if (auth_user_.empty() || !config_->auth.check_sender) return std::nullopt;
  auto refuse = [](std::string text) { return reply(550, "5.7.1", std::move(text)); };
  std::string_view head(message);
  head = head.substr(0, std::min(head.find("\r\n\r\n"), head.find("\n\n")));
  for (std::size_t cr = head.find('\r'); cr != std::string_view::npos; cr = head.find('\r', cr + 1))
    if (cr + 1 >= head.size() || head[cr + 1] != '\n')
      return reply(550, "5.6.0", "Message refused: a bare <CR> in the header section");
  auto fields = mail::find_headers(message, "From");
  if (fields.empty()) return std::nullopt;  // RFC 6409 §8.1: the submission server may add one
  if (fields.size() > 1) return refuse("Message refused: more than one From: field");
  auto addresses = mail::header_addresses(fields.front());
  if (!addresses) return refuse("Message refused: From: field not understood");
  if (addresses->empty()) return refuse("Message refused: From: names no mailbox");
  for (const auto& address : *addresses)
    if (!owns(address))
      return refuse("From: address <" + address + "> not owned by user " +
                    log::printable(auth_user_));
  return std::nullopt;
}

Reply Session::on_starttls(std::string_view arg) {
  if (!arg.empty()) return reply(501, "5.5.4", "Syntax: STARTTLS");
  if (tls_) return reply(503, "5.5.1", "Error: TLS already active");
  if (!tls_available()) return reply(502, "5.5.1", "Error: command not implemented");
  if (in_transaction_) return reply(503, "5.5.1", "Error: MAIL transaction in progress");
  mode_ = Mode::starttls;
  return reply(220, "2.0.0", "Ready to start TLS");
}

// The TLS handshake as server, bounded by the command timeout (Postfix
// smtpd_starttls_timeout is 300 s as well). False: the connection is closed.
asio::awaitable<bool> Session::handshake() {
  tls_context_ = security_ ? security_->tls_for(listener_.address) : nullptr;
  if (!tls_context_) co_return false;
  tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, tls_context_->asio());
  deadline_.expires_after(config_->limits.command_timeout);
  // No structured binding and no co_await inside a condition: g++ 12 miscompiles both
  // in some coroutines.
  handshaking_ = true;
  std::tuple<boost::system::error_code> result =
      co_await tls_->async_handshake(asio::ssl::stream_base::server, use_tuple);
  handshaking_ = false;
  boost::system::error_code ec = std::get<0>(result);
  if (ec) {
    log::get("smtpd").info("SSL_accept error from {}: {}", client_name_,
                           timed_out_ ? "timed out" : tls::failure_text(tls_->native_handle(), ec));
    boost::system::error_code ignored;
    socket_.close(ignored);
    tls_.reset();
    mode_ = Mode::quit;
    out_.clear();
    co_return false;
  }
  tls_info_ = tls::describe(tls_->native_handle(), "");
  // Postfix's words: the client showed no certificate, so the connection is "Anonymous".
  log::get("smtpd").info("Anonymous TLS connection established from {}: {}", client_name_,
                         tls_info_.text());
  co_return true;
}

asio::awaitable<bool> Session::start_tls() {
  bool flushed = co_await flush();
  if (!flushed) co_return false;
  if (!in_.empty()) {
    log::get("smtpd").warn("warning: {}: discarding {} octets sent after STARTTLS before the TLS "
                           "handshake (RFC 3207 section 4.2)",
                           client_name_, in_.size());
    in_.clear();
  }
  bool secured = co_await handshake();
  if (!secured) co_return false;
  // RFC 3207 §4.2: the client must discard what it knew of us, and we of it.
  helo_.clear();
  esmtp_ = false;
  auth_user_.clear();  // Postfix too: a plaintext login does not carry into TLS
  auth_method_.clear();
  reset_transaction();
  mode_ = Mode::command;
  co_return true;
}

Reply Session::on_auth(std::string_view arg) {
  bool has_backend = listener_.auth && security_ && security_->auth;
  if (has_backend && !auth_offered())
    return reply(538, "5.7.11", "Encryption required for requested authentication mechanism");
  if (!auth_offered()) return reply(503, "5.5.1", "Error: authentication not enabled");
  if (!esmtp_) return reply(503, "5.5.1", "Error: send EHLO first");
  if (!auth_user_.empty()) return reply(503, "5.5.1", "Error: already authenticated");
  if (in_transaction_) return reply(503, "5.5.1", "Error: MAIL transaction in progress");
  if (services_.auth_throttle.blocked(client_ip_, config_->auth, policy::AuthThrottle::Clock::now()))
    return drop_for_failures();
  if (arg.empty()) return reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
  std::string_view name = arg.substr(0, arg.find(' '));
  auto mechanism = auth::parse_mechanism(name);
  if (!mechanism || !offers(*mechanism))
    return reply(504, "5.5.4", "Unrecognized authentication type");
  auth_mechanism_ = *mechanism;
  auth_initial_.reset();
  if (auto space = arg.find(' '); space != std::string_view::npos)
    auth_initial_ = std::string(arg.substr(space + 1));
  mode_ = Mode::auth;
  return {};  // the exchange (authenticate) writes the replies
}

// A response line of the AUTH exchange; nullopt when the connection ended or timed out.
// A line over RFC 4954's limit comes back whole-but-truncated so the exchange refuses it,
// and the rest of it is skipped.
asio::awaitable<std::optional<std::string>> Session::read_auth_line() {
  for (;;) {
    auto eol = in_.find('\n');
    if (eol != std::string::npos) {
      std::string line = in_.substr(0, eol);
      // The line may hold a password: overwrite it in the buffer before it is dropped.
      std::fill(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(eol), '\0');
      in_.erase(0, eol + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      co_return line;
    }
    if (in_.size() > auth::max_line_octets + 2) {
      std::string line(auth::max_line_octets + 1, 'A');
      while (in_.find('\n') == std::string::npos) {
        in_.clear();
        bool more = co_await fill(config_->limits.command_timeout);
        if (!more) co_return std::nullopt;
      }
      in_.erase(0, in_.find('\n') + 1);
      co_return line;
    }
    bool more = co_await fill(config_->limits.command_timeout);
    if (!more) co_return std::nullopt;
  }
}

// Waits, or less when the server is stopping (request_stop cancels pause_timer_).
asio::awaitable<void> Session::pause(std::chrono::seconds how_long) {
  pause_timer_.expires_after(how_long);
  co_await pause_timer_.async_wait(use_tuple);
}

asio::awaitable<void> Session::authenticate() {
  auto mechanism = *auth_mechanism_;
  std::string name(auth::mechanism_name(mechanism));
  auth::SaslServer sasl;
  std::optional<std::string_view> initial;
  if (auth_initial_) initial = *auth_initial_;
  auth::Step step = sasl.start(mechanism, initial);
  if (auth_initial_) auth::wipe(*auth_initial_);
  auth_initial_.reset();
  auth_mechanism_.reset();
  mode_ = Mode::command;

  std::string user;  // once known
  for (;;) {
    if (auto* challenge = std::get_if<auth::Challenge>(&step)) {
      out_ += "334 " + challenge->text + "\r\n";
      auto line = co_await read_auth_line();
      if (!line) {
        mode_ = Mode::quit;
        log::get("smtpd").info("lost connection after AUTH from {}", client_name_);
        co_return;
      }
      step = sasl.respond(*line);
      auth::wipe(*line);
      continue;
    }
    if (auto* need = std::get_if<auth::NeedCredentials>(&step)) {
      user = need->user;
      // Named arguments, no temporaries in the co_await expression (g++ 12 mishandles them).
      auto lookup = [backend = security_->auth, user] { return backend->scram_credentials(user); };
      auto home = socket_.get_executor();
      auto found = co_await run_blocking<Result<std::optional<auth::ScramCredentials>>>(
          services_.blocking, home, std::move(lookup));
      if (!found) {
        log::get("smtpd").error("warning: {}: SASL {} credential lookup failed: {}", client_name_,
                                name, found.error().message);
        send(reply(454, "4.7.0", "Temporary authentication failure; try again later"), "AUTH");
        co_return;
      }
      step = sasl.provide(std::move(*found));
      continue;
    }
    if (auto* failed = std::get_if<auth::Failed>(&step)) {
      auto fr = auth::reply_for(failed->kind);
      log::get("smtpd").info("{}: SASL {} exchange ended: {}", client_name_, name,
                             log::printable(failed->reason));
      not_an_error_ = failed->kind == auth::FailureKind::cancelled;
      if (failed->kind != auth::FailureKind::bad_proof) {
        send(reply(fr.code, std::string(fr.enhanced), std::string(fr.text)), "AUTH");
        co_return;
      }
    }
    break;
  }

  // The password is checked: by the backend (PLAIN, LOGIN), or by SCRAM's proof already.
  // The name the backend knows the user by, or nullopt for a failed login.
  Result<std::optional<std::string>> who = std::optional<std::string>{};
  if (auto* done = std::get_if<auth::Done>(&step)) {
    user = done->user;
    auth::ClientContext client;
    client.remote_ip = client_ip_;
    boost::system::error_code ec;
    auto local = socket_.local_endpoint(ec);
    if (!ec) {
      client.local_ip = local.address().to_string();
      client.local_port = local.port();
    }
    client.secured = tls_ != nullptr;
    // Checked again here: parallel connections started before the client was blocked.
    if (services_.auth_throttle.blocked(client_ip_, config_->auth,
                                        policy::AuthThrottle::Clock::now())) {
      send(drop_for_failures(), "AUTH");
      co_return;
    }
    auto check = [backend = security_->auth, c = std::move(*done), client] {
      return backend->authenticate(c.user, c.password, client);
    };
    auto home = socket_.get_executor();
    // The session waits on the backend, not on the client: the deadline starts afresh.
    deadline_.expires_after(config_->limits.command_timeout);
    who = co_await run_blocking<Result<std::optional<std::string>>>(services_.blocking, home,
                                                                    std::move(check));
  } else if (auto* ok = std::get_if<auth::Authenticated>(&step)) {
    user = ok->user;
    who = std::optional<std::string>(user);
  }  // else a wrong SCRAM proof: a failed password like any other
  if (!who) {
    log::get("smtpd").error("warning: {}: SASL {} authentication backend failed: {}", client_name_,
                            name, who.error().message);
    send(reply(454, "4.7.0", "Temporary authentication failure; try again later"), "AUTH");
    co_return;
  }
  if (who->has_value()) {
    auth_user_ = **who;
    auth_method_ = name;
    log::get("smtpd").info("{}: SASL {} authentication succeeded, sasl_username={}", client_name_,
                           name, log::printable(auth_user_));
    send(reply(235, "2.7.0", "Authentication successful"), "AUTH");
    co_return;
  }
  auto after = services_.auth_throttle.failed(client_ip_, config_->auth,
                                               policy::AuthThrottle::Clock::now());
  // The line fail2ban's postfix(-sasl) filter matches; the user name goes on its own line
  // so the filter's pattern (base64-ish characters only after the colon) still matches.
  log::get("smtpd").warn("warning: {}: SASL {} authentication failed: authentication failure",
                         client_name_, name);
  log::get("smtpd").info("{}: SASL {} authentication failed for sasl_username={} ({} of {})",
                         client_name_, name, log::printable(user, 100), after.failures,
                         config_->auth.max_failures);
  if (after.delay.count() > 0) {
    deadline_.expires_after(config_->limits.command_timeout + after.delay);
    co_await pause(after.delay);
  }
  send(reply(535, "5.7.8", "Error: authentication failed: authentication credentials invalid"),
       "AUTH");
  if (after.drop) send(drop_for_failures(), "AUTH");
}

// The client has used up auth.max_failures: 421, and the session ends (RFC 5321 §3.8).
Reply Session::drop_for_failures() {
  mode_ = Mode::quit;
  reject_logged_ = true;
  log::get("smtpd").warn("warning: {}: too many failed authentications; connection closed",
                         client_name_);
  return reply(421, "4.7.0", config_->hostname +
                                 " Error: too many failed authentications from your address; "
                                 "try again later");
}

}  // namespace tern::inbound
