// Failed SMTP AUTH attempts per client address (IPv6: per /64), across all sessions: each failure makes
// the next 535 reply wait longer (failure_delay × failures so far, at most max_delay), and past max_failures
// within failure_window the client is answered 421 and dropped, on this connection and on
// any new one, until the window has passed since its last failure. This slows password
// guessing to a crawl before fail2ban (which reads our "SASL ... authentication failed"
// lines) bans the address. Postfix leaves this to anvil's smtpd_client_auth_rate_limit.
//
// Thread-safe: one instance per server, used by sessions on every I/O thread. Memory is
// bounded: entries older than the window are dropped, and past max_clients the oldest go.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config/config.hpp"

namespace tern::policy {

class AuthThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  // Addresses remembered at most (about 100 bytes each).
  static constexpr std::size_t max_clients = 100'000;
  // The longest wait before a 535: past it the client's own timeout would not end it, but
  // our session slots matter more (and SIGTERM's drain must not wait on it).
  static constexpr std::chrono::seconds max_delay{10};
  // Failures counted at most per client (the count only needs to pass max_failures).
  static constexpr std::uint32_t max_count = 1'000'000;

  struct AfterFailure {
    std::chrono::seconds delay{0};  // wait this long before answering 535
    bool drop = false;              // then answer 421 and close
    std::uint32_t failures = 0;     // within the window, this one included
  };

  // Whether `ip` has used up its failures: AUTH from it gets 421 at once.
  bool blocked(std::string_view ip, const config::Auth& settings, Clock::time_point now);
  // Records a failed AUTH from `ip`.
  AfterFailure failed(std::string_view ip, const config::Auth& settings, Clock::time_point now);

 private:
  struct Entry {
    std::uint32_t failures = 0;
    Clock::time_point last{};
  };
  void prune(const config::Auth& settings, Clock::time_point now);

  std::mutex mutex_;
  std::unordered_map<std::string, Entry> clients_;
};

}  // namespace tern::policy
