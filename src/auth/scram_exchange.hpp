// The server side of one SCRAM-SHA-256 exchange (RFC 5802 §5 and §7, RFC 7677), without I/O
// and without base64 framing (SaslServer does that): parse client-first, answer
// server-first, check client-final's proof and answer server-final. No channel binding: the
// gs2 flags "n" and "y" are accepted, "p" is refused (we offer no -PLUS mechanism).
// Input: every client message, untrusted. Reasons in Failed never hold a secret.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "auth/sasl.hpp"
#include "auth/scram.hpp"

namespace tern::auth {

// RFC 5802 §7 `saslname`: "=2C" stands for ',' and "=3D" for '='; any other '=' and NUL
// are not allowed. nullopt when `text` is not a saslname.
std::optional<std::string> decode_saslname(std::string_view text);

class ScramExchange {
 public:
  // client-first-message (RFC 5802 §7): the user name (authcid, decoded) or why not.
  std::variant<std::string, Failed> client_first(std::string_view message);
  // server-first-message for `credentials`, with nonce = client nonce + `server_nonce`.
  // Call once, after client_first succeeded.
  std::string server_first(ScramCredentials credentials, std::string_view server_nonce);
  // client-final-message: the server-final-message ("v=" ServerSignature) when the proof is
  // right, or why not (FailureKind::bad_proof for a wrong password).
  std::variant<std::string, Failed> client_final(std::string_view message);

 private:
  std::string gs2_header_;         // "n,," or "y,,a=user,": repeated in client-final's c=
  std::string client_first_bare_;  // for AuthMessage
  std::string client_nonce_;
  std::string nonce_;  // client nonce + server nonce
  std::string server_first_;
  ScramCredentials credentials_;
};

}  // namespace tern::auth
