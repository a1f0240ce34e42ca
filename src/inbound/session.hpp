// One SMTP server session (RFC 5321 §4.1, §4.3.2 state machine; RFC 2920 pipelining;
// RFC 3030 CHUNKING; RFC 1870 SIZE; RFC 6152 8BITMIME; RFC 6531 SMTPUTF8; RFC 3461 DSN).
// Everything the client sends is untrusted. Handlers check and return a Reply; only the
// session loop writes to the socket (STYLE.md §3).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "inbound/ingress.hpp"

namespace tern::inbound {

// Runs a session on `socket` until the client quits, times out or is dropped.
boost::asio::awaitable<void> run_session(boost::asio::ip::tcp::socket socket,
                                         std::shared_ptr<const config::Config> config,
                                         Ingress& ingress, std::string client_ip);

}  // namespace tern::inbound
