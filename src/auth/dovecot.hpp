// Dovecot's auth socket as auth::Backend: the client side of Dovecot's authentication
// protocol, version 1.2 (Dovecot's "Authentication Protocol" page; what Postfix speaks for
// `smtpd_sasl_type = dovecot`), over a unix socket such as /run/dovecot/auth-client or a
// `unix_listener` put in a service auth block. Every verify is one PLAIN request on a
// connection that has done the handshake; idle connections are kept for the next one.
// Input: everything read from the socket is untrusted (checked line by line, bounded in
// length and time); user names and passwords are untrusted and travel only inside the
// base64 of the PLAIN response, never logged.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/backend.hpp"
#include "core/result.hpp"

namespace tern::auth {

// Time for one verify: connecting, the handshake, the request and Dovecot's reply. Dovecot
// delays each failure by auth_failure_delay (2 s by default), delays every request from an
// address that failed recently by its auth penalty (up to 15 s), and may ask a slow passdb
// (LDAP, SQL) first; 20 s leaves room for that and is still far inside the client's
// patience (RFC 5321 §4.5.3.2 gives it minutes).
inline constexpr std::chrono::milliseconds default_dovecot_timeout{20'000};
// Connections kept open between verifies. One is busy per verify in flight, so this bounds
// only the idle ones; the auth-client socket accepts many per process (CPID is not checked
// there: it is for login processes).
inline constexpr std::size_t default_dovecot_idle_connections = 4;
// A line from Dovecot longer than this is not its protocol (its own limit is a few KiB).
inline constexpr std::size_t max_dovecot_line_octets = 64 * 1024;

struct DovecotOptions {
  std::filesystem::path socket;  // e.g. /run/dovecot/auth-client
  std::chrono::milliseconds timeout = default_dovecot_timeout;
  std::string service = "smtp";  // Dovecot's %s: passdb/userdb conditions may use it
  std::size_t idle_connections = default_dovecot_idle_connections;
};

class DovecotConnection;

class DovecotBackend final : public Backend {
 public:
  explicit DovecotBackend(DovecotOptions options);
  ~DovecotBackend() override;

  // Blocking, bounded by options.timeout. Thread-safe: each call uses a connection of its
  // own. true on OK; false on FAIL (and on OK with `nologin`, and for a user name or
  // password with NUL, which PLAIN cannot carry); an error when Dovecot is unreachable,
  // answers garbage or too late, or says the failure is temporary (FAIL ... temp).
  [[nodiscard]] Result<bool> verify(std::string_view user, std::string_view password) override;
  // The same with the client's addresses and TLS state (rip, lip, rport, lport, secured):
  // Dovecot applies its per-address auth penalty and passdb rules such as allow_nets to
  // them, and logs the client address with each attempt.
  [[nodiscard]] Result<bool> verify(std::string_view user, std::string_view password,
                                    const ClientContext& client) override;
  // As verify, with Dovecot's name for the user: the user= field of its OK reply (after
  // auth_username_format), or the name as typed when the reply has none.
  [[nodiscard]] Result<std::optional<std::string>> authenticate(
      std::string_view user, std::string_view password, const ClientContext& client) override;

  // The mechanisms Dovecot offers on this socket (its MECH lines), from a handshake on a
  // fresh connection. Blocking. For a check at startup and for `ternctl`.
  [[nodiscard]] Result<std::vector<std::string>> mechanisms();

  const DovecotOptions& options() const { return options_; }

 private:
  using Clock = std::chrono::steady_clock;

  Result<std::unique_ptr<DovecotConnection>> connect(Clock::time_point deadline);
  std::unique_ptr<DovecotConnection> take_idle();
  void keep(std::unique_ptr<DovecotConnection> connection);

  DovecotOptions options_;
  std::mutex mutex_;  // guards idle_
  std::vector<std::unique_ptr<DovecotConnection>> idle_;
};

// Dovecot's tab escaping (lib/strescape.c str_tabescape): \001 → \001 '1', TAB → \001 't',
// CR → \001 'r', LF → \001 'n'. Every value we put in a request line goes through it.
std::string dovecot_escape(std::string_view value);
// The inverse, for values in Dovecot's replies; nullopt on an \001 not followed by one of
// 1, t, r, n.
std::optional<std::string> dovecot_unescape(std::string_view value);

// The request line (with its LF) for one PLAIN verify: AUTH, id, PLAIN, service, the
// client context, resp= base64("\0user\0password"). Holds the password: wipe it after use.
std::string dovecot_auth_request(unsigned id, std::string_view service, std::string_view user,
                                 std::string_view password, const ClientContext& client);

}  // namespace tern::auth
