// The SMTP client as the scheduler's couriers use it: finds the next hop of a destination
// (the MX walk of RFC 5321 §5.1 over dns/, or a fixed smarthost), tries its addresses in
// order within a bound, delivers one message per call, and keeps finished connections for
// the next message to the same destination (connection reuse), closing idle ones after a
// bound. Concurrency per destination is the scheduler's business, not this class's.
// Each next hop carries its TLS policy and AUTH credentials (connection.hpp); under "may",
// a host whose TLS handshake fails is retried at once in plaintext and spoken to in
// plaintext for a while (Postfix retries such a host in plaintext too). LMTP deliveries
// (deliver_lmtp) run on the same I/O threads, one connection each.
//
// Thread safety: deliver() may be called from any thread; `done` runs on an I/O thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dns/resolver.hpp"
#include "mail/outcome.hpp"
#include "outbound/connection.hpp"
#include "outbound/lmtp.hpp"
#include "spool/message.hpp"

namespace tern::outbound {

// Where a destination's mail goes.
struct NextHop {
  std::string domain;  // MX lookup of this domain (RFC 5321 §5.1), unless `host` is set
  std::string host;    // a fixed relay (smarthost): name or IP literal; no MX lookup
  std::uint16_t port = 25;
  TlsPolicy tls = TlsPolicy::may;  // STARTTLS opportunistic by default
  std::shared_ptr<const Credentials> credentials;  // AUTH to this hop (a smarthost); may be null
  // The scheduler's queue name for it: "example.net" or "[relay.example]:587".
  std::string key() const;
};

struct ClientSettings {
  std::string helo_name;  // our hostname, said in EHLO
  Timeouts timeouts;
  dns::Family family = dns::Family::both;
  // Addresses tried per delivery attempt across all MX hosts (Postfix
  // smtp_mx_address_limit = 5): past it the attempt is deferred, not dragged on.
  std::uint32_t max_addresses = 5;
  // An idle connection waits this long for the next message to its destination (Postfix
  // smtp_connection_cache_time_limit is 2 s; a bit longer rides out a busy scheduler).
  std::chrono::seconds idle_limit{5};
  // Messages per connection before it is closed and a fresh one opened (Postfix
  // smtp_connection_reuse_count_limit is unlimited; a bound spreads load over MX hosts).
  std::uint32_t max_transactions = 1000;
  // After a failed TLS handshake under "may", the host (address and port) gets plaintext
  // for this long: retrying a broken TLS stack on every message costs a handshake timeout
  // each, and the mail goes in plaintext anyway. An hour lets a repaired server recover.
  std::chrono::seconds plaintext_after_tls_failure{3600};
  // Hosts remembered so at once; past it, expired entries are dropped, then the oldest,
  // so a flood of broken hosts cannot grow memory without bound.
  std::size_t max_plaintext_hosts = 10000;
};

class Client {
 public:
  using Done = std::function<void(std::vector<mail::Outcome>)>;
  Client(std::vector<boost::asio::io_context*> workers, dns::Resolver& resolver,
         ClientSettings settings);
  ~Client();

  // Delivers `message` to envelope->recipients[i], i in `recipients`, all of one next hop.
  void deliver(NextHop hop, std::shared_ptr<const spool::Envelope> envelope,
               std::vector<std::size_t> recipients, std::shared_ptr<const std::string> message,
               Done done);

  // Delivers `message` over LMTP (lmtp.hpp) to the server at `hop`; `done` as for deliver().
  void deliver_lmtp(LmtpHop hop, std::shared_ptr<const spool::Envelope> envelope,
                    std::vector<std::size_t> recipients,
                    std::shared_ptr<const std::string> message, Done done);

  // Connections opened so far (for tests and metrics).
  std::uint64_t connections_opened() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tern::outbound
