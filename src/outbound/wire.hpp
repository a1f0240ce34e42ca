// The plumbing the SMTP client (connection.cpp) and the LMTP client (lmtp.cpp) share: the
// watchdog that closes a socket when its deadline passes, writing a buffer whole, reading
// one reply (smtp::take_reply over untrusted input, in bounded chunks), and the
// "lost connection" text of the mail log. Templates over the stream type: a TCP socket, a
// unix socket, or a TLS stream over TCP.
//
// The caller sets the deadline before each operation (RFC 5321 §4.5.3.2 values); these
// functions only wait. Every co_await result is bound to a name: g++ 12 has crashed resuming
// coroutines whose awaited result was discarded or awaited inside a conditional expression.
//
// Threading: each function runs on the executor of the stream it is given.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mail/outcome.hpp"
#include "smtp/client_protocol.hpp"

namespace tern::outbound::wire {

inline constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);
// Octets read from the server at a time.
inline constexpr std::size_t read_chunk = 4096;

// Closes `socket` (and sets `timed_out`) each time `deadline` passes; ends when the socket
// is closed. `owner` keeps the object holding the socket, timer and flag alive meanwhile.
template <typename Socket>
boost::asio::awaitable<void> watchdog(std::shared_ptr<const void> owner, Socket& socket,
                                      boost::asio::steady_timer& deadline, bool& timed_out) {
  while (socket.is_open()) {
    auto [ec] = co_await deadline.async_wait(use_tuple);
    (void)ec;  // cancelled or expired: the expiry time below tells which
    if (!socket.is_open()) break;
    if (deadline.expiry() <= boost::asio::steady_timer::clock_type::now()) {
      timed_out = true;
      boost::system::error_code ignored;
      socket.close(ignored);
    }
  }
}

// Writes all of `data`; false when the connection failed (or the watchdog closed it).
template <typename Stream>
boost::asio::awaitable<bool> write(Stream& stream, std::string_view data) {
  auto [ec, n] = co_await boost::asio::async_write(stream, boost::asio::buffer(data), use_tuple);
  (void)n;
  co_return !ec;
}

// The next complete reply, read into `in` as needed; nullopt when the connection failed or
// the server sent something that is not a reply.
template <typename Stream>
boost::asio::awaitable<std::optional<smtp::Reply>> read_reply(Stream& stream, std::string& in) {
  char buf[read_chunk];
  for (;;) {
    std::size_t used = 0;
    bool malformed = false;
    if (auto r = smtp::take_reply(in, used, malformed)) {
      in.erase(0, used);
      co_return r;
    }
    if (malformed) co_return std::nullopt;
    auto [ec, n] = co_await stream.async_read_some(boost::asio::buffer(buf), use_tuple);
    if (ec) co_return std::nullopt;
    in.append(buf, n);
  }
}

// The mail log's words for a connection that failed while `during`, as Postfix says them:
// "lost connection with HOST while ..." or "conversation with HOST timed out while ...".
inline std::string lost(bool timed_out, std::string_view host, std::string_view during) {
  return std::string(timed_out ? "conversation with " : "lost connection with ") +
         std::string(host) + (timed_out ? " timed out" : "") + " while " + std::string(during);
}

// A refusal the operator must fix (a greeting, LHLO) or a reply that fits no rule: the mail
// waits (4.x.x) rather than bouncing.
inline std::string as_temporary(std::string dsn) {
  if (!dsn.empty()) dsn[0] = '4';
  return dsn;
}

// A reply to a command of a mail transaction as an outcome for its recipients: 2xx to the
// end of the message data (`final_reply`) sent, 5xx bounced, anything else (4xx, a stray 1xx
// or 3xx, or a 2xx to MAIL, RCPT or DATA where it refuses nothing and accepts nothing)
// deferred with a 4.x.x status: a recipient is never counted delivered on a reply that does
// not say its message arrived.
inline mail::Outcome outcome_of_reply(const smtp::Reply& r, std::string_view command,
                                      const std::string& relay, std::string_view host,
                                      bool final_reply) {
  mail::Outcome o;
  if (final_reply && r.code >= 200 && r.code < 300) {
    o = mail::Outcome::sent(relay, r.log_text());
  } else {
    std::string dsn = smtp::enhanced_or_default(r);
    std::string text = "host " + std::string(host) + " said: " + r.log_text() +
                       " (in reply to " + std::string(command) + " command)";
    o = r.code >= 500 && r.code < 600 ? mail::Outcome::bounced(dsn, relay, text)
                                      : mail::Outcome::deferred(as_temporary(dsn), relay, text);
  }
  o.remote_reply = r.log_text();
  return o;
}

}  // namespace tern::outbound::wire
