// One SMTP client connection; see connection.hpp.
#include "outbound/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "smtp/params.hpp"

namespace tern::outbound {
namespace asio = boost::asio;
using asio::ip::tcp;
using smtp::Reply;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Octets read from the server at a time.
constexpr std::size_t read_chunk = 4096;

bool non_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return true;
  return false;
}

// RFC 6531 §3.2: does this message need SMTPUTF8 (an address or header field in UTF-8)?
bool needs_smtputf8(const spool::Envelope& env, const std::vector<std::size_t>& rcpts,
                    std::string_view message) {
  if (!env.smtputf8) return false;
  if (non_ascii(env.sender)) return true;
  for (auto i : rcpts)
    if (non_ascii(env.recipients[i].address)) return true;
  auto end = message.find("\r\n\r\n");
  return non_ascii(message.substr(0, end));
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

}  // namespace

Connection::Connection(asio::any_io_executor ex, Endpoint endpoint, Timeouts timeouts)
    : socket_(ex), deadline_(ex), endpoint_(std::move(endpoint)), timeouts_(timeouts) {}

Connection::~Connection() = default;

std::string Connection::lost(std::string_view during) const {
  return std::string(timed_out_ ? "conversation with " : "lost connection with ") +
         endpoint_.name + "[" + endpoint_.ip + "]" + (timed_out_ ? " timed out" : "") +
         " while " + std::string(during);
}

asio::awaitable<void> Connection::watchdog() {
  auto self = shared_from_this();
  while (socket_.is_open()) {
    co_await deadline_.async_wait(use_tuple);
    if (!socket_.is_open()) break;
    if (deadline_.expiry() <= asio::steady_timer::clock_type::now()) {
      timed_out_ = true;
      usable_ = false;
      boost::system::error_code ignored;
      socket_.close(ignored);
    }
  }
}

asio::awaitable<bool> Connection::write(std::string_view data, std::chrono::seconds timeout) {
  deadline_.expires_after(timeout);
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(data), use_tuple);
  if (ec) usable_ = false;
  co_return !ec;
}

asio::awaitable<std::optional<Reply>> Connection::read_reply(std::chrono::seconds timeout) {
  deadline_.expires_after(timeout);
  char buf[read_chunk];
  for (;;) {
    std::size_t used = 0;
    bool malformed = false;
    if (auto r = smtp::take_reply(in_, used, malformed)) {
      in_.erase(0, used);
      co_return r;
    }
    if (malformed) break;
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buf), use_tuple);
    if (ec) break;
    in_.append(buf, n);
  }
  usable_ = false;
  co_return std::nullopt;
}

asio::awaitable<Result<std::shared_ptr<Connection>, OpenError>> Connection::open(
    asio::any_io_executor ex, Endpoint endpoint, std::string helo_name, Timeouts timeouts) {
  auto c = std::make_shared<Connection>(ex, std::move(endpoint), timeouts);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(c->endpoint_.ip, ec);
  if (ec) co_return fail(c->give_up({"bad address " + c->endpoint_.ip}));
  asio::co_spawn(ex, c->watchdog(), asio::detached);
  c->deadline_.expires_after(timeouts.connect);
  auto [cec] = co_await c->socket_.async_connect(tcp::endpoint(address, c->endpoint_.port),
                                                  use_tuple);
  auto where = c->endpoint_.name + "[" + c->endpoint_.ip + "]:" + std::to_string(c->endpoint_.port);
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
  if (!co_await c->write("EHLO " + helo_name + "\r\n", timeouts.command))
    co_return fail(c->give_up({c->lost("sending EHLO")}));
  auto ehlo = co_await c->read_reply(timeouts.command);
  if (!ehlo) co_return fail(c->give_up({c->lost("receiving the EHLO reply")}));
  if (ehlo->code == 250) {
    c->extensions_ = smtp::parse_ehlo(*ehlo);
  } else {
    // RFC 5321 §3.2: a server that refuses EHLO may still take HELO.
    if (!co_await c->write("HELO " + helo_name + "\r\n", timeouts.command))
      co_return fail(c->give_up({c->lost("sending HELO")}));
    auto helo = co_await c->read_reply(timeouts.command);
    if (!helo) co_return fail(c->give_up({c->lost("receiving the HELO reply")}));
    if (helo->code != 250) {
      co_await c->quit();
      co_return fail(c->give_up({"host " + where + " refused HELO: " + helo->log_text(),
                               helo->code >= 500}));
    }
  }
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
  // A reply from the server becomes an outcome: 2xx sent, 4xx deferred, 5xx bounced.
  auto from_reply = [&](const Reply& r, std::string_view command) {
    std::string dsn = smtp::enhanced_or_default(r);
    mail::Outcome o;
    if (r.code < 400) {
      o = mail::Outcome::sent(relay, r.log_text());
      o.hop_reports = extensions_.dsn;
    } else {
      std::string text = "host " + host + " said: " + r.log_text() + " (in reply to " +
                         std::string(command) + " command)";
      o = r.code < 500 ? mail::Outcome::deferred(dsn, relay, text)
                       : mail::Outcome::bounced(dsn, relay, text);
    }
    o.remote_host = endpoint_.name;
    o.remote_reply = r.log_text();
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

  std::string mail = "MAIL FROM:<" + env.sender + ">";
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
  if (!co_await write(text, timeouts_.data_block))
    co_return connection_lost(bdat ? "sending BDAT" : "sending message body");
  auto final_reply = co_await read_reply(timeouts_.data_done);
  if (!final_reply)
    co_return connection_lost(bdat ? "receiving the BDAT reply" : "receiving the end of data reply");
  for (std::size_t k = 0; k < rcpts.size(); ++k)
    if (accepted[k]) settle(k, from_reply(*final_reply, bdat ? "end of BDAT" : "end of DATA"));
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
    if (co_await write("QUIT\r\n", std::chrono::seconds(10)))
      co_await read_reply(std::chrono::seconds(10));
  }
  usable_ = false;
  deadline_.cancel();
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace tern::outbound
