// SMTP AUTH, server side, without I/O: the PLAIN (RFC 4616 §2), LOGIN
// (draft-murchison-sasl-login-00) and SCRAM-SHA-256 (RFC 5802, RFC 7677; scram_exchange.hpp)
// mechanisms as a small state machine over the base64 (RFC 4648 §4) lines of RFC 4954 §4.
// Input: the AUTH command's mechanism and initial response and every line the client sends
// after a 334 challenge — all untrusted. The passwords it decodes are handed to the caller
// and never logged or put in an error text.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "auth/scram.hpp"

namespace tern::auth {

// RFC 4954 §4: a server must accept an AUTH command line and every response line of up to
// 12288 octets (not counting CRLF); a longer one is answered 500 5.5.6.
inline constexpr std::size_t max_line_octets = 12288;
// RFC 4616 §2: a server must accept authzid, authcid and passwd of up to 255 octets each;
// we allow four times that (long passphrases, long addresses) and no more: nothing longer
// is a credential, and crypt(3) gains nothing from it.
inline constexpr std::size_t max_field_octets = 1024;

// Overwrites a string that held a secret before its memory is freed.
void wipe(std::string& s);

// Base64 of RFC 4648 §4, with padding.
std::string base64_encode(std::string_view bytes);
// Strict decoding: the RFC 4648 §4 alphabet, length a multiple of 4, padding only at the
// end, no whitespace, zero unused bits. nullopt when the text is not base64 (RFC 4954 §4:
// "501 ... cannot decode"). An empty text decodes to an empty string.
std::optional<std::string> base64_decode(std::string_view text);

enum class Mechanism { plain, login, scram_sha_256 };

// The mechanism of "AUTH <name>", case-insensitively (RFC 4954 §4: SASL names are
// case-insensitive); nullopt for one we do not offer (504 5.5.4).
std::optional<Mechanism> parse_mechanism(std::string_view name);
// The name as advertised in EHLO ("PLAIN", "LOGIN", "SCRAM-SHA-256"). Advertise
// SCRAM-SHA-256 only when the backend has SCRAM credentials (Backend::supports_scram), and
// answer 504 5.5.4 to "AUTH SCRAM-SHA-256" when it has none.
std::string_view mechanism_name(Mechanism m);

// Why an exchange failed; each kind is a distinct reply (see `reply_for`).
enum class FailureKind {
  cancelled,       // the client sent "*" (RFC 4954 §4)
  line_too_long,   // over max_line_octets (RFC 4954 §4)
  bad_base64,      // RFC 4954 §4: "cannot BASE64 decode"
  malformed,       // decodes, but is not what the mechanism expects (NULs, empty fields)
  field_too_long,  // a field over max_field_octets
  authz_mismatch,  // PLAIN authzid present and not the authcid: we do not proxy identities
  out_of_order,    // a line after the exchange ended: a caller bug, never a client's
  bad_proof,       // SCRAM: wrong password (proof), unknown user, or a replayed nonce
  channel_binding,  // SCRAM: the client asked for channel binding (gs2 flag "p")
  temporary,       // our side failed (no random numbers): try again later
};

// The SMTP reply for a failure: code, enhanced status (RFC 3463), text.
struct FailureReply {
  int code;
  std::string_view enhanced;
  std::string_view text;
};
FailureReply reply_for(FailureKind kind);

// The server's next challenge: base64 text to send after "334 " (may be empty: "334 ").
struct Challenge {
  std::string text;
};
// The exchange is complete; the caller verifies the credentials (auth::Backend) and answers
// 235 2.7.0 or 535 5.7.8. `password` is wiped on destruction.
struct Done {
  std::string user;
  std::string password;
  Done() = default;
  Done(std::string u, std::string p) : user(std::move(u)), password(std::move(p)) {}
  Done(const Done&) = default;
  Done(Done&&) = default;
  Done& operator=(const Done&) = default;
  Done& operator=(Done&&) = default;
  ~Done() { wipe(password); }
};
// The exchange failed; `reason` is for the log and holds no secret.
struct Failed {
  FailureKind kind;
  std::string reason;
};
// SCRAM: the exchange needs the stored credentials of `user` before it can go on. The
// caller looks them up (Backend::scram_credentials, off the event loop if the backend
// blocks) and calls SaslServer::provide; if the lookup fails, it answers 454 4.7.0.
struct NeedCredentials {
  std::string user;
};
// SCRAM: the mechanism itself proved the password; the caller answers 235 2.7.0 without
// calling Backend::verify.
struct Authenticated {
  std::string user;
};
using Step = std::variant<Challenge, Done, Failed, NeedCredentials, Authenticated>;

class ScramExchange;

// Test seams and secrets for SaslServer; the defaults are right for production.
struct SaslOptions {
  // Makes the server's part of a SCRAM nonce (printable ASCII, no ','). Default: 18 octets
  // from OpenSSL's CSPRNG in base64. Tests inject RFC 7677's.
  std::function<std::string()> scram_nonce;
  // Key of the stand-in credentials for users without SCRAM ones (fake_scram_credentials).
  // Default: process_scram_secret().
  std::string scram_secret;
};

// One AUTH exchange of one session. Not thread-safe; cheap (no I/O, no crypt; SCRAM costs a
// few HMACs). Call `start` once, then `respond` with each client line for as long as it
// returns a Challenge, and `provide` when it returns NeedCredentials.
//
// SCRAM-SHA-256 goes: AUTH [client-first] → (334 "" →) client-first → NeedCredentials →
// provide → 334 server-first → client-final → 334 server-final ("v=...": RFC 4954 has no
// additional data with a 235) → the client's empty line → Authenticated.
class SaslServer {
 public:
  SaslServer();
  explicit SaslServer(SaslOptions options);
  SaslServer(SaslServer&&) noexcept;
  SaslServer& operator=(SaslServer&&) noexcept;
  ~SaslServer();

  // "AUTH <mech> [initial-response]": `initial` is the response as sent ("=" is an empty
  // one, RFC 4954 §4) or nullopt when the command had none.
  Step start(Mechanism mechanism, std::optional<std::string_view> initial);
  // A client line after a 334 challenge, without CRLF.
  Step respond(std::string_view line);
  // SCRAM, after NeedCredentials: the user's stored credentials, or nullopt when the user
  // is unknown or has none. Then the exchange goes on with stand-in credentials and fails
  // at the proof, as a wrong password would (RFC 5802 §9): the client cannot tell the two
  // apart. Returns the server-first challenge.
  Step provide(std::optional<ScramCredentials> credentials);

 private:
  enum class State {
    idle,
    plain_response,
    login_user,
    login_password,
    scram_client_first,
    scram_need_credentials,
    scram_client_final,
    scram_server_final,
    finished,
  };

  Step on_plain(std::string_view decoded);
  Step on_login(std::string_view decoded);
  Step on_scram(std::string_view decoded);
  Step finish(Step step);

  SaslOptions options_;
  State state_ = State::idle;
  std::string user_;  // LOGIN: the user name, between the two challenges; SCRAM: the user
  std::unique_ptr<ScramExchange> scram_;
};

}  // namespace tern::auth
