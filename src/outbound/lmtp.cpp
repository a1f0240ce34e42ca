// The LMTP client; see lmtp.hpp.
#include "outbound/lmtp.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <optional>

#include "core/log.hpp"
#include "outbound/wire.hpp"

namespace tern::outbound {
namespace asio = boost::asio;
using smtp::Reply;

namespace {
using wire::use_tuple;
// QUIT is a courtesy once the outcomes are known: it gets a short bound.
constexpr std::chrono::seconds quit_timeout{10};
// Addresses of a named LMTP host tried per attempt: it is one server, perhaps dual-stack.
constexpr std::size_t max_lmtp_addresses = 4;

std::vector<mail::Outcome> all(std::size_t n, const mail::Outcome& o) {
  return std::vector<mail::Outcome>(n, o);
}

using wire::as_temporary;

// One LMTP session over `Socket` (TCP or a unix socket). Owned by the coroutine running it;
// its watchdog holds it too, and closes the socket when a deadline passes.
template <typename Socket>
class Session : public std::enable_shared_from_this<Session<Socket>> {
 public:
  // `relay`: the mail log's relay= ("name[ip]:port", "name[/path]"); `host`: "name[ip]".
  Session(asio::any_io_executor ex, std::string relay, std::string host, Timeouts timeouts)
      : socket_(ex), deadline_(ex), relay_(std::move(relay)), host_(std::move(host)),
        timeouts_(timeouts) {}

  // Connects, reads the greeting and says LHLO; the reason it could not, as an outcome.
  asio::awaitable<std::optional<mail::Outcome>> open(typename Socket::endpoint_type endpoint,
                                                     const std::string& lhlo_name) {
    boost::system::error_code ec;
    socket_.open(endpoint.protocol(), ec);
    if (ec) co_return failure("4.4.1", "cannot open a socket for " + relay_ + ": " + ec.message());
    asio::co_spawn(socket_.get_executor(),
                   wire::watchdog(this->shared_from_this(), socket_, deadline_, timed_out_),
                   asio::detached);
    deadline_.expires_after(timeouts_.connect);
    auto [cec] = co_await socket_.async_connect(endpoint, use_tuple);
    if (cec) {
      connect_failed_ = true;
      std::string why = timed_out_ ? "Connection timed out" : cec.message();
      co_return failure("4.4.1", "connect to " + relay_ + ": " + why);
    }
    if constexpr (std::is_same_v<Socket, asio::ip::tcp::socket>)
      socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    auto greeting = co_await read_reply(timeouts_.greeting);
    if (!greeting) co_return failure("4.4.2", lost("receiving the initial server greeting"));
    if (greeting->code != 220) {
      co_await quit();
      co_return failure(as_temporary(smtp::enhanced_or_default(*greeting)),
                        "host " + host_ + " refused to talk to me: " + greeting->log_text());
    }
    // RFC 2033 §4.1: LHLO, answered like EHLO; an LMTP server knows no HELO fallback.
    if (!co_await write("LHLO " + lhlo_name + "\r\n", timeouts_.command))
      co_return failure("4.4.2", lost("sending LHLO"));
    auto lhlo = co_await read_reply(timeouts_.command);
    if (!lhlo) co_return failure("4.4.2", lost("receiving the LHLO reply"));
    if (lhlo->code != 250) {
      co_await quit();
      co_return failure(as_temporary(smtp::enhanced_or_default(*lhlo)),
                        "host " + host_ + " refused LHLO: " + lhlo->log_text());
    }
    extensions_ = smtp::parse_ehlo(*lhlo);
    co_return std::nullopt;
  }

  // One mail transaction; one outcome per entry of `rcpts`. Ends the session.
  asio::awaitable<std::vector<mail::Outcome>> send(const spool::Envelope& env,
                                                   const std::vector<std::size_t>& rcpts,
                                                   const std::string& message) {
    std::vector<std::optional<mail::Outcome>> out(rcpts.size());
    auto finish = [&](const mail::Outcome& rest) {
      std::vector<mail::Outcome> v;
      v.reserve(out.size());
      for (auto& o : out) v.push_back(o ? std::move(*o) : rest);
      return v;
    };
    auto connection_lost = [&](std::string_view during) {
      close_now();
      return finish(mail::Outcome::deferred("4.4.2", relay_, lost(during)));
    };

    const bool utf8 = needs_smtputf8(env, rcpts, message);
    if (utf8 && !extensions_.smtputf8) {
      co_await quit();
      co_return finish(mail::Outcome::bounced(
          "5.6.7", relay_, "SMTPUTF8 is required, but was not offered by host " + host_));
    }
    if (extensions_.size && extensions_.size_limit && message.size() > extensions_.size_limit) {
      co_await quit();
      co_return finish(mail::Outcome::bounced(
          "5.3.4", relay_,
          "message size " + std::to_string(message.size()) + " exceeds size limit " +
              std::to_string(extensions_.size_limit) + " of server " + host_));
    }

    // RFC 2033 §5: every LMTP server pipelines, so MAIL, the RCPTs and DATA go in one write.
    // No DSN parameters: this is the final delivery, Tern reports success itself.
    // One sender per transaction: the scheduler groups recipients by it.
    std::string group = "MAIL FROM:<" + env.sender_of(rcpts.front()) + ">";
    if (extensions_.size) group += " SIZE=" + std::to_string(message.size());
    if (env.body_type == "8BITMIME" && extensions_.eight_bit_mime) group += " BODY=8BITMIME";
    if (utf8) group += " SMTPUTF8";
    group += "\r\n";
    for (auto i : rcpts) group += "RCPT TO:<" + env.recipients[i].address + ">\r\n";
    group += "DATA\r\n";
    if (!co_await write(group, timeouts_.command)) co_return connection_lost("sending MAIL FROM");

    auto mail_reply = co_await read_reply(timeouts_.command);
    if (!mail_reply) co_return connection_lost("receiving the MAIL FROM reply");
    const bool mail_ok = mail_reply->code == 250;
    std::vector<std::size_t> accepted;  // positions in rcpts, in RCPT order
    for (std::size_t k = 0; k < rcpts.size(); ++k) {
      auto r = co_await read_reply(timeouts_.command);
      if (!r) co_return connection_lost("receiving the RCPT TO reply");
      if (!mail_ok)
        out[k] = from_reply(*mail_reply, "MAIL FROM");  // the RCPT replies say nothing more
      else if (r->code == 250 || r->code == 251)
        accepted.push_back(k);
      else
        out[k] = from_reply(*r, "RCPT TO");
    }
    auto data_reply = co_await read_reply(timeouts_.data_init);
    if (!data_reply) co_return connection_lost("receiving the DATA reply");
    if (accepted.empty() || data_reply->code != 354) {
      for (auto k : accepted) out[k] = from_reply(*data_reply, "DATA");
      if (data_reply->code == 354) {
        // RFC 2033 §4.2 says DATA fails without a recipient; a server that goes on anyway
        // gets no text: closing aborts its transaction.
        close_now();
        co_return finish(mail::Outcome::deferred("4.4.2", relay_, "no recipient accepted"));
      }
      co_await quit();
      co_return finish(mail::Outcome::deferred("4.4.2", relay_, "no reply"));
    }

    if (!co_await write(smtp::dot_stuff(message), timeouts_.data_block))
      co_return connection_lost("sending message body");
    // RFC 2033 §4.2: one reply per recipient accepted at RCPT, in the order of the RCPTs.
    for (auto k : accepted) {
      auto r = co_await read_reply(timeouts_.data_done);
      if (!r) co_return connection_lost("receiving the end of data reply");
      out[k] = from_reply(*r, "end of DATA", /*final_reply=*/true);
    }
    co_await quit();
    co_return finish(mail::Outcome::deferred("4.4.2", relay_, "no reply"));
  }

  bool connect_failed() const { return connect_failed_; }

 private:
  mail::Outcome failure(std::string dsn, std::string text) {
    close_now();
    return mail::Outcome::deferred(std::move(dsn), relay_, std::move(text));
  }

  // A reply becomes an outcome: 2xx sent (to its final mailbox), 4xx deferred, 5xx bounced.
  mail::Outcome from_reply(const Reply& r, std::string_view command,
                           bool final_reply = false) const {
    mail::Outcome o = wire::outcome_of_reply(r, command, relay_, host_, final_reply);
    o.final_delivery = o.kind == mail::Outcome::Kind::sent;
    o.remote_host = host_;
    return o;
  }

  asio::awaitable<bool> write(std::string_view data, std::chrono::seconds timeout) {
    deadline_.expires_after(timeout);
    bool ok = co_await wire::write(socket_, data);
    co_return ok;
  }

  asio::awaitable<std::optional<Reply>> read_reply(std::chrono::seconds timeout) {
    deadline_.expires_after(timeout);
    std::optional<Reply> reply = co_await wire::read_reply(socket_, in_);
    co_return reply;
  }

  std::string lost(std::string_view during) const { return wire::lost(timed_out_, host_, during); }

  asio::awaitable<void> quit() {
    if (socket_.is_open()) {
      if (co_await write("QUIT\r\n", quit_timeout)) {
        // 221, or nothing: either will do. Named, not discarded: g++ 12 crashed here
        // resuming after a discarded co_await of this template's optional<Reply>.
        auto bye = co_await read_reply(quit_timeout);
        (void)bye;
      }
    }
    close_now();
  }

  void close_now() {
    deadline_.cancel();
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  Socket socket_;
  asio::steady_timer deadline_;
  std::string relay_;
  std::string host_;
  Timeouts timeouts_;
  std::string in_;
  smtp::ServerExtensions extensions_;
  bool timed_out_ = false;
  bool connect_failed_ = false;
};

template <typename Socket>
asio::awaitable<std::vector<mail::Outcome>> run_session(
    std::shared_ptr<Session<Socket>> s, typename Socket::endpoint_type endpoint,
    const LmtpSettings& settings, const spool::Envelope& env,
    const std::vector<std::size_t>& rcpts, const std::string& message) {
  if (auto failed = co_await s->open(endpoint, settings.lhlo_name))
    co_return all(rcpts.size(), *failed);
  co_return co_await s->send(env, rcpts, message);
}

}  // namespace

std::string LmtpHop::key() const {
  if (!socket_path.empty()) return "lmtp:unix:" + socket_path;
  return "lmtp:[" + host + "]:" + std::to_string(port);
}

asio::awaitable<std::vector<mail::Outcome>> deliver_lmtp(
    const LmtpHop& hop, const LmtpSettings& settings, dns::Resolver& resolver,
    const spool::Envelope& env, const std::vector<std::size_t>& rcpts,
    const std::string& message) {
  auto ex = co_await asio::this_coro::executor;
  if (!hop.socket_path.empty()) {
    // Postfix logs a unix socket as relay=myhostname[path]; so does Tern.
    std::string host = settings.lhlo_name + "[" + hop.socket_path + "]";
    auto s = std::make_shared<Session<asio::local::stream_protocol::socket>>(
        ex, host, host, settings.timeouts);
    co_return co_await run_session(s, asio::local::stream_protocol::endpoint(hop.socket_path),
                                   settings, env, rcpts, message);
  }

  std::vector<std::string> addresses;
  boost::system::error_code ec;
  asio::ip::make_address(hop.host, ec);
  if (!ec) {
    addresses.push_back(hop.host);
  } else {
    auto a = co_await resolver.addresses(hop.host, settings.family);
    if (a.status != dns::Status::ok || a.addresses.empty())
      co_return all(rcpts.size(),
                    mail::Outcome::deferred(
                        a.status == dns::Status::temporary ? "4.4.3" : "4.4.4", "none",
                        "LMTP host " + hop.host + " has no address (configuration?)" +
                            (a.error.empty() ? "" : ": " + a.error)));
    addresses = std::move(a.addresses);
  }
  std::vector<mail::Outcome> outcomes;
  std::size_t tried = 0;
  for (auto& ip : addresses) {
    if (tried++ >= max_lmtp_addresses) break;
    Endpoint where{hop.host, ip, hop.port};
    auto s = std::make_shared<Session<asio::ip::tcp::socket>>(
        ex, where.text(), hop.host + "[" + ip + "]", settings.timeouts);
    outcomes = co_await run_session(
        s, asio::ip::tcp::endpoint(asio::ip::make_address(ip, ec), hop.port), settings, env,
        rcpts, message);
    if (!s->connect_failed()) break;  // a server answered: its word stands
  }
  co_return outcomes;
}

}  // namespace tern::outbound
