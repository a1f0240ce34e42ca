// One SMTP client connection; see connection.hpp.
#include "outbound/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/log.hpp"
#include "outbound/wire.hpp"
#include "smtp/params.hpp"

namespace tern::outbound {
namespace asio = boost::asio;
using asio::ip::tcp;
using smtp::Reply;

namespace {
using wire::use_tuple;
// Octets of message text written under one data-block deadline.
constexpr std::size_t data_block_size = 64 * 1024;

bool non_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return true;
  return false;
}

std::string notify_text(std::uint8_t bits) {
  if (bits & smtp::notify_never) return "NEVER";
  std::string out;
  for (auto [bit, name] : {std::pair{smtp::notify_success, "SUCCESS"},
                           std::pair{smtp::notify_failure, "FAILURE"},
                           std::pair{smtp::notify_delay, "DELAY"}})
    if (bits & bit) out += (out.empty() ? "" : ",") + std::string(name);
  return out;
}

// RFC 4954 §4: "334" asks for the next response; "235" says the client is authenticated.
constexpr int auth_continue = 334;
constexpr int auth_ok = 235;

// `prefix` + `secret` + CRLF, with `secret` wiped.
std::string secret_line(std::string_view prefix, std::string secret) {
  std::string line;
  line.reserve(prefix.size() + secret.size() + 2);
  line += prefix;
  line += secret;
  line += "\r\n";
  wipe(secret);
  return line;
}

bool mandatory(TlsPolicy p) { return p == TlsPolicy::encrypt || p == TlsPolicy::verify; }

}  // namespace

bool needs_smtputf8(const spool::Envelope& env, const std::vector<std::size_t>& rcpts,
                    std::string_view message) {
  if (!env.smtputf8) return false;
  for (auto i : rcpts)
    if (non_ascii(env.sender_of(i)) || non_ascii(env.recipients[i].address)) return true;
  auto end = message.find("\r\n\r\n");
  return non_ascii(message.substr(0, end));
}

const char* policy_name(TlsPolicy p) {
  switch (p) {
    case TlsPolicy::none: return "none";
    case TlsPolicy::may: return "may";
    case TlsPolicy::encrypt: return "encrypt";
    case TlsPolicy::verify: return "verify";
  }
  return "may";
}

Connection::Connection(asio::any_io_executor ex, Endpoint endpoint, Timeouts timeouts)
    : socket_(ex), deadline_(ex), endpoint_(std::move(endpoint)), timeouts_(timeouts) {}

Connection::~Connection() = default;

std::string Connection::host() const { return endpoint_.name + "[" + endpoint_.ip + "]"; }

std::string Connection::lost(std::string_view during) const {
  return wire::lost(timed_out_, host(), during);
}

// RFC 5321 §4.5.3.2.5: the data-block timeout is per write, not for the whole message,
// so a large message over a slow link goes on as long as it moves.
asio::awaitable<bool> Connection::write_text(std::string_view text) {
  while (!text.empty()) {
    std::string_view block = text.substr(0, std::min(text.size(), data_block_size));
    if (!co_await write(block, timeouts_.data_block)) co_return false;
    text.remove_prefix(block.size());
  }
  co_return true;
}

asio::awaitable<bool> Connection::write(std::string_view data, std::chrono::seconds timeout) {
  deadline_.expires_after(timeout);
  bool ok = false;
  if (tls_)
    ok = co_await wire::write(*tls_, data);
  else
    ok = co_await wire::write(socket_, data);
  if (!ok) usable_ = false;
  co_return ok;
}

asio::awaitable<std::optional<Reply>> Connection::read_reply(std::chrono::seconds timeout) {
  deadline_.expires_after(timeout);
  std::optional<Reply> reply;
  if (tls_)
    reply = co_await wire::read_reply(*tls_, in_);
  else
    reply = co_await wire::read_reply(socket_, in_);
  if (!reply) usable_ = false;
  co_return reply;
}

asio::awaitable<std::optional<OpenError>> Connection::hello(const std::string& helo_name) {
  const std::string where = endpoint_.text();
  extensions_ = {};
  auth_ = {};
  if (!co_await write("EHLO " + helo_name + "\r\n", timeouts_.command))
    co_return give_up({lost("sending EHLO")});
  auto ehlo = co_await read_reply(timeouts_.command);
  if (!ehlo) co_return give_up({lost("receiving the EHLO reply")});
  if (ehlo->code == 250) {
    extensions_ = smtp::parse_ehlo(*ehlo);
    auth_ = parse_auth(*ehlo);
    co_return std::nullopt;
  }
  // RFC 5321 §3.2: a server that refuses EHLO may still take HELO.
  if (!co_await write("HELO " + helo_name + "\r\n", timeouts_.command))
    co_return give_up({lost("sending HELO")});
  auto helo = co_await read_reply(timeouts_.command);
  if (!helo) co_return give_up({lost("receiving the HELO reply")});
  if (helo->code != 250) {
    co_await quit();
    co_return give_up({"host " + where + " refused HELO: " + helo->log_text(), helo->code >= 500});
  }
  co_return std::nullopt;
}

asio::awaitable<std::optional<OpenError>> Connection::start_tls(const Security& security,
                                                                const std::string& helo_name) {
  const bool required = mandatory(security.tls);
  auto refuse = [&](std::string dsn, std::string text) {
    return OpenError{std::move(text), false, std::move(dsn), endpoint_.text()};
  };
  if (!extensions_.starttls) {
    if (!required) co_return std::nullopt;
    co_await quit();
    co_return give_up(refuse("4.7.4", "TLS is required, but was not offered by host " + host()));
  }
  if (!security.context) {
    // Only when OpenSSL could not build a context at start (logged then).
    if (!required) co_return std::nullopt;
    co_await quit();
    co_return give_up(refuse("4.7.5", "TLS is required, but TLS is not available here"));
  }
  if (!co_await write("STARTTLS\r\n", timeouts_.command))
    co_return give_up({lost("sending STARTTLS")});
  auto reply = co_await read_reply(timeouts_.command);
  if (!reply) co_return give_up({lost("receiving the STARTTLS reply")});
  if (reply->code != 220) {
    // The session is still the plaintext one; "may" goes on in it.
    if (!required) co_return std::nullopt;
    co_await quit();
    co_return give_up(refuse("4.7.4", "TLS is required, but host " + host() +
                                          " refused to start TLS: " + reply->log_text()));
  }
  // RFC 3207 §4.2 and the STARTTLS command injection attacks (CVE-2011-0411 is the server
  // side): nothing the server sent in plaintext after its 220 may count inside TLS.
  in_.clear();
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, security.context->asio());
  SSL* ssl = tls_->native_handle();
  const bool verify = security.tls == TlsPolicy::verify;
  if (auto st = tls::prepare(ssl, endpoint_.name, verify); !st)
    co_return give_up(refuse("4.7.5", st.error().message));
  deadline_.expires_after(timeouts_.starttls);
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, use_tuple);
  if (ec) {
    std::string why = timed_out_ ? "timed out" : tls::failure_text(ssl, ec);
    auto e = refuse("4.7.5", "Cannot start TLS: handshake failure with host " + host() + ": " + why);
    e.tls_failed = security.tls == TlsPolicy::may;
    co_return give_up(std::move(e));
  }
  auto session = tls::describe(ssl, endpoint_.name);
  log::get("smtp").info("{} TLS connection established to {}: {}", session.trust_word(),
                        endpoint_.text(), session.text());
  // RFC 3207 §4.2: forget what the server said before TLS, and ask again.
  co_return co_await hello(helo_name);
}

asio::awaitable<std::optional<OpenError>> Connection::authenticate(const Credentials& credentials) {
  auto refuse = [&](std::string text) {
    return OpenError{std::move(text), false, "4.7.0", endpoint_.text()};
  };
  if (!tls_) {
    // The credentials are never sent where anyone on the path could read them.
    co_await quit();
    co_return give_up(refuse("TLS is required for AUTH, but the session with host " + host() +
                             " is not encrypted; the credentials were not sent"));
  }
  auto mechanism = choose(auth_);
  if (!mechanism) {
    co_await quit();
    co_return give_up(refuse("host " + host() +
                             " offers no AUTH mechanism Tern can use (PLAIN, LOGIN)"));
  }
  std::optional<smtp::Reply> reply;
  // Sends one line holding a secret, wipes it, and reads the reply.
  auto exchange = [&](std::string line) -> asio::awaitable<bool> {
    bool ok = co_await write(line, timeouts_.command);
    wipe(line);
    if (ok) reply = co_await read_reply(timeouts_.command);
    co_return ok && reply;
  };
  if (*mechanism == SaslMechanism::plain) {
    // RFC 4954 §4: the response rides on the command (an "initial response").
    if (!co_await exchange(secret_line("AUTH PLAIN ", plain_response(credentials))))
      co_return give_up({lost("performing the SASL authentication")});
  } else {
    // LOGIN: the server prompts for the user name, then the password, each with a 334.
    if (!co_await exchange("AUTH LOGIN\r\n"))
      co_return give_up({lost("performing the SASL authentication")});
    if (reply->code == auth_continue &&
        !co_await exchange(secret_line("", base64(credentials.user))))
      co_return give_up({lost("performing the SASL authentication")});
    if (reply->code == auth_continue &&
        !co_await exchange(secret_line("", base64(credentials.password))))
      co_return give_up({lost("performing the SASL authentication")});
  }
  if (reply->code == auth_continue) {
    // More challenges than the mechanism has: cancel (RFC 4954 §4, "*").
    if (co_await write("*\r\n", timeouts_.command)) reply = co_await read_reply(timeouts_.command);
    if (!reply) co_return give_up({lost("performing the SASL authentication")});
  }
  if (reply->code != auth_ok) {
    std::string text = "SASL authentication failed; server " + host() + " said: " +
                       reply->log_text();
    log::get("smtp").warn("{}", text);
    co_await quit();
    co_return give_up(refuse(std::move(text)));
  }
  co_return std::nullopt;
}

asio::awaitable<Result<std::shared_ptr<Connection>, OpenError>> Connection::open(
    asio::any_io_executor ex, Endpoint endpoint, std::string helo_name, Timeouts timeouts,
    Security security) {
  auto c = std::make_shared<Connection>(ex, std::move(endpoint), timeouts);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(c->endpoint_.ip, ec);
  if (ec) co_return fail(c->give_up({"bad address " + c->endpoint_.ip}));
  asio::co_spawn(ex, wire::watchdog(c, c->socket_, c->deadline_, c->timed_out_), asio::detached);
  c->deadline_.expires_after(timeouts.connect);
  auto [cec] = co_await c->socket_.async_connect(tcp::endpoint(address, c->endpoint_.port),
                                                  use_tuple);
  auto where = c->endpoint_.text();
  if (cec) {
    std::string why = c->timed_out_ ? "Connection timed out" : cec.message();
    co_return fail(c->give_up({"connect to " + where + ": " + why}));
  }
  c->socket_.set_option(tcp::no_delay(true), ec);
  auto greeting = co_await c->read_reply(timeouts.greeting);
  if (!greeting) co_return fail(c->give_up({c->lost("receiving the initial server greeting")}));
  if (greeting->code != 220) {
    co_await c->quit();
    co_return fail(c->give_up({"host " + where + " refused to talk to me: " + greeting->log_text(),
                             greeting->code >= 500}));
  }
  if (auto e = co_await c->hello(helo_name)) co_return fail(std::move(*e));
  if (security.tls != TlsPolicy::none)
    if (auto e = co_await c->start_tls(security, helo_name)) co_return fail(std::move(*e));
  if (security.credentials && !security.credentials->empty())
    if (auto e = co_await c->authenticate(*security.credentials)) co_return fail(std::move(*e));
  c->usable_ = true;
  co_return c;
}

asio::awaitable<std::vector<mail::Outcome>> Connection::send(
    const spool::Envelope& env, const std::vector<std::size_t>& rcpts, const std::string& message) {
  const std::string relay = endpoint_.text();
  const std::string host = endpoint_.name + "[" + endpoint_.ip + "]";
  std::vector<mail::Outcome> out(rcpts.size());
  std::vector<bool> done(rcpts.size(), false);
  auto settle = [&](std::size_t k, mail::Outcome o) {
    if (!done[k]) out[k] = std::move(o), done[k] = true;
  };
  auto settle_all = [&](const mail::Outcome& o) {
    for (std::size_t k = 0; k < out.size(); ++k) settle(k, o);
  };
  // A reply from the server becomes an outcome (wire::outcome_of_reply: sent only on a 2xx
  // to the message data).
  auto from_reply = [&](const Reply& r, std::string_view command, bool final_reply = false) {
    mail::Outcome o = wire::outcome_of_reply(r, command, relay, host, final_reply);
    if (o.kind == mail::Outcome::Kind::sent) o.hop_reports = extensions_.dsn;
    o.remote_host = endpoint_.name;
    return o;
  };
  auto connection_lost = [&](std::string_view during) {
    settle_all(mail::Outcome::deferred("4.4.2", relay, lost(during)));
    return out;
  };
  ++transactions_;

  bool utf8 = needs_smtputf8(env, rcpts, message);
  if (utf8 && !extensions_.smtputf8) {
    settle_all(mail::Outcome::bounced(
        "5.6.7", relay, "SMTPUTF8 is required, but was not offered by host " + host));
    co_return out;
  }
  if (extensions_.size && extensions_.size_limit && message.size() > extensions_.size_limit) {
    settle_all(mail::Outcome::bounced(
        "5.3.4", relay,
        "message size " + std::to_string(message.size()) + " exceeds size limit " +
            std::to_string(extensions_.size_limit) + " of server " + host));
    co_return out;
  }

  // The scheduler gives one transaction's recipients one sender (an owner- alias's or the
  // message's).
  std::string mail = "MAIL FROM:<" + env.sender_of(rcpts.front()) + ">";
  if (extensions_.size) mail += " SIZE=" + std::to_string(message.size());
  if (env.body_type == "8BITMIME" && extensions_.eight_bit_mime) mail += " BODY=8BITMIME";
  if (utf8) mail += " SMTPUTF8";
  if (extensions_.dsn) {
    if (!env.ret.empty()) mail += " RET=" + env.ret;
    if (!env.envid.empty()) mail += " ENVID=" + smtp::xtext_encode(env.envid);
  }
  mail += "\r\n";
  std::vector<std::string> rcpt_lines;
  for (auto i : rcpts) {
    const auto& r = env.recipients[i];
    std::string line = "RCPT TO:<" + r.address + ">";
    if (extensions_.dsn) {
      if (r.notify) line += " NOTIFY=" + notify_text(r.notify);
      if (auto semi = r.orcpt.find(';'); semi != std::string::npos)
        line += " ORCPT=" + r.orcpt.substr(0, semi) + ";" +
                smtp::xtext_encode(std::string_view(r.orcpt).substr(semi + 1));
    }
    rcpt_lines.push_back(line + "\r\n");
  }
  const bool bdat = extensions_.chunking;
  const bool pipelined = extensions_.pipelining;

  // MAIL, the RCPTs and (without BDAT) DATA: one write when the server pipelines.
  if (pipelined) {
    std::string group = mail;
    for (auto& l : rcpt_lines) group += l;
    if (!bdat) group += "DATA\r\n";
    if (!co_await write(group, timeouts_.command)) {
      dead_on_arrival_ = true;
      co_return connection_lost("sending MAIL FROM");
    }
  } else if (!co_await write(mail, timeouts_.command)) {
    dead_on_arrival_ = true;
    co_return connection_lost("sending MAIL FROM");
  }
  auto mail_reply = co_await read_reply(timeouts_.command);
  if (!mail_reply) {
    // Nothing of this transaction reached the server: a cached connection that had died.
    dead_on_arrival_ = true;
    co_return connection_lost("receiving the MAIL FROM reply");
  }
  bool mail_ok = mail_reply->code == 250;
  if (!mail_ok) settle_all(from_reply(*mail_reply, "MAIL FROM"));

  std::vector<bool> accepted(rcpts.size(), false);
  std::size_t n_accepted = 0;
  if (mail_ok || pipelined) {
    for (std::size_t k = 0; k < rcpts.size(); ++k) {
      if (!pipelined && !co_await write(rcpt_lines[k], timeouts_.command))
        co_return connection_lost("sending RCPT TO");
      auto r = co_await read_reply(timeouts_.command);
      if (!r) co_return connection_lost("receiving the RCPT TO reply");
      if (!mail_ok) continue;  // pipelined RCPTs after a refused MAIL: replies read, ignored
      if (r->code == 250 || r->code == 251) {
        accepted[k] = true;
        ++n_accepted;
      } else {
        settle(k, from_reply(*r, "RCPT TO"));
      }
    }
  }

  std::optional<Reply> data_reply;
  if (!bdat) {
    if (!pipelined && mail_ok && n_accepted > 0 && !co_await write("DATA\r\n", timeouts_.command))
      co_return connection_lost("sending DATA");
    if (pipelined || (mail_ok && n_accepted > 0)) {
      data_reply = co_await read_reply(timeouts_.data_init);
      if (!data_reply) co_return connection_lost("receiving the DATA reply");
    }
  }
  if (!mail_ok || n_accepted == 0 || (data_reply && data_reply->code != 354)) {
    if (mail_ok && n_accepted > 0 && data_reply)
      for (std::size_t k = 0; k < rcpts.size(); ++k)
        if (accepted[k]) settle(k, from_reply(*data_reply, "DATA"));
    // Leave the connection clean for the next transaction.
    if (co_await write("RSET\r\n", timeouts_.command)) {
      auto r = co_await read_reply(timeouts_.command);
      if (!r || r->code != 250) usable_ = false;
    }
    co_return out;
  }

  std::string text;
  if (bdat) {
    text = "BDAT " + std::to_string(message.size()) + " LAST\r\n" + message;
  } else {
    text = smtp::dot_stuff(message);
  }
  if (!co_await write_text(text))
    co_return connection_lost(bdat ? "sending BDAT" : "sending message body");
  auto final_reply = co_await read_reply(timeouts_.data_done);
  if (!final_reply)
    co_return connection_lost(bdat ? "receiving the BDAT reply" : "receiving the end of data reply");
  for (std::size_t k = 0; k < rcpts.size(); ++k)
    if (accepted[k])
      settle(k, from_reply(*final_reply, bdat ? "end of BDAT" : "end of DATA", true));
  co_return out;
}

OpenError Connection::give_up(OpenError e) {
  close_now();
  return e;
}

void Connection::close_now() {
  usable_ = false;
  deadline_.cancel();
  boost::system::error_code ignored;
  socket_.close(ignored);
}

asio::awaitable<void> Connection::quit() {
  if (socket_.is_open()) {
    if (co_await write("QUIT\r\n", std::chrono::seconds(10))) {
      // Named, not discarded: g++ 12 has crashed on a discarded co_await result here.
      auto bye = co_await read_reply(std::chrono::seconds(10));
      (void)bye;
    }
  }
  usable_ = false;
  deadline_.cancel();
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace tern::outbound
