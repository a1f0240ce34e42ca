// The credential check behind SMTP AUTH: one small interface, implemented by the password
// file (password_file.hpp) and the Dovecot auth socket (dovecot.hpp). app/ chooses the
// concrete one. Input: a user name and password from a SASL exchange (sasl.hpp), untrusted;
// the client context comes from the session (trusted: our own sockets' addresses).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "auth/scram.hpp"
#include "core/result.hpp"

namespace tern::auth {

// What the session knows about the client, for backends with policies of their own
// (Dovecot: login_trusted_networks, auth penalties per IP, disable_plaintext_auth).
struct ClientContext {
  std::string remote_ip;  // "192.0.2.1", "2001:db8::1"; empty when unknown
  std::string local_ip;
  std::uint16_t remote_port = 0;  // 0 when unknown
  std::uint16_t local_port = 0;
  bool secured = false;  // the session runs over TLS (STARTTLS or implicit)
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Whether `password` is the password of `user`: true (235), false (535 5.7.8: unknown
  // user, wrong password, or a user whose stored hash we refuse to use), or an error when
  // the backend itself failed (454 4.7.0, try again later).
  //
  // BLOCKING and slow by design: a password hash costs milliseconds to tens of
  // milliseconds of CPU (crypt(3) is tuned to be expensive), a remote backend a round trip
  // and its failure delay (seconds). The caller runs it off the event loop, on a thread
  // pool. Implementations are thread-safe: verify may run on many threads at once. The
  // password is never logged.
  [[nodiscard]] virtual Result<bool> verify(std::string_view user, std::string_view password) = 0;
  // The same, with what the session knows about the client. Sessions call this one; a
  // backend without a use for the context inherits this forwarder.
  [[nodiscard]] virtual Result<bool> verify(std::string_view user, std::string_view password,
                                            const ClientContext& client) {
    return verify(user, password);
  }

  // The login, checked: on success the name the backend knows the user by, which the
  // session then uses (sender ownership, logs); nullopt for a wrong user or password; an
  // error when the backend failed. A backend that rewrites names (Dovecot's
  // auth_username_format, realms) returns its canonical name, so "bob@other.example" typed
  // by bob is bob, and owns only what bob owns. Default: verify, and the name as typed.
  [[nodiscard]] virtual Result<std::optional<std::string>> authenticate(
      std::string_view user, std::string_view password, const ClientContext& client) {
    auto ok = verify(user, password, client);
    if (!ok) return fail(ok.error().message);
    if (!*ok) return std::optional<std::string>{};
    return std::optional<std::string>(std::string(user));
  }

  // Whether SCRAM-SHA-256 can succeed for any user (the session advertises it only then).
  // Cheap, no I/O.
  virtual bool supports_scram() const { return false; }
  // The SCRAM-SHA-256 credentials of `user`, or nullopt when the user is unknown or has
  // none (SaslServer::provide then fails the exchange at the proof, RFC 5802 §9); an error
  // when the backend failed (454 4.7.0). May block; thread-safe like verify.
  [[nodiscard]] virtual Result<std::optional<ScramCredentials>> scram_credentials(
      std::string_view user) {
    return std::optional<ScramCredentials>{};
  }
};

}  // namespace tern::auth
