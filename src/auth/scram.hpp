// SCRAM-SHA-256 credentials (RFC 5802 §3, RFC 7677): what a server stores instead of a
// password, how it is derived from one, Dovecot's `{SCRAM-SHA-256}` text form of it, and the
// stand-in credentials for a user who has none (RFC 5802 §9). The message exchange itself is
// in scram_exchange.hpp. Input: the stored text is the operator's (checked, never echoed);
// passwords are untrusted. Crypto: OpenSSL (PKCS5_PBKDF2_HMAC, HMAC, SHA-256, CRYPTO_memcmp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace tern::auth {

// RFC 7677 §4 and RFC 5802 §5.1: the iteration count "SHOULD be at least 4096"; we refuse
// fewer. 4096 is also what `doveadm pw -s SCRAM-SHA-256` writes.
inline constexpr std::uint32_t min_scram_iterations = 4096;
// A PLAIN or LOGIN check against a SCRAM entry runs PBKDF2 on our CPU: bound what one
// login may cost (a few hundred milliseconds at this count) against a typo in the file.
inline constexpr std::uint32_t max_scram_iterations = 1'000'000;
// SHA-256 output: the length of StoredKey, ServerKey, proofs and signatures.
inline constexpr std::size_t scram_key_octets = 32;

// What the server keeps for one user (RFC 5802 §3): salt and iteration count, and the two
// keys derived from the password. StoredKey lets anyone who holds it pass as the user to
// this server, so both keys are secrets: wiped on destruction, never logged.
struct ScramCredentials {
  std::uint32_t iterations = 0;
  std::string salt;        // raw octets
  std::string stored_key;  // H(ClientKey), scram_key_octets raw octets
  std::string server_key;  // HMAC(SaltedPassword, "Server Key"), scram_key_octets raw octets

  ScramCredentials() = default;
  ScramCredentials(std::uint32_t i, std::string s, std::string stored, std::string server)
      : iterations(i),
        salt(std::move(s)),
        stored_key(std::move(stored)),
        server_key(std::move(server)) {}
  ScramCredentials(const ScramCredentials&) = default;
  ScramCredentials(ScramCredentials&&) = default;
  ScramCredentials& operator=(const ScramCredentials&) = default;
  ScramCredentials& operator=(ScramCredentials&&) = default;
  ~ScramCredentials();
};

// RFC 5802 §3: SaltedPassword := Hi(password, salt, i); StoredKey := H(HMAC(SaltedPassword,
// "Client Key")); ServerKey := HMAC(SaltedPassword, "Server Key"). The password is used as
// its octets, without SASLprep (as Dovecot does): identical for ASCII passwords. Blocking
// (PBKDF2 with `iterations` rounds).
ScramCredentials derive_scram_credentials(std::string_view password, std::string_view salt,
                                          std::uint32_t iterations);

// Whether `password` derives to `credentials` (StoredKey compared in constant time). For
// PLAIN and LOGIN against a SCRAM entry. Blocking, like derive_scram_credentials.
bool check_scram_password(std::string_view password, const ScramCredentials& credentials);

// Parses the text after a `{SCRAM-SHA-256}` prefix as `doveadm pw -s SCRAM-SHA-256` writes
// it: "iterations,base64(salt),base64(StoredKey),base64(ServerKey)". The error never
// repeats the text (it holds keys).
Result<ScramCredentials> parse_dovecot_scram(std::string_view text);
// The inverse: Dovecot's text form (without the `{SCRAM-SHA-256}` prefix).
std::string format_dovecot_scram(const ScramCredentials& credentials);

// RFC 5802 §9: for a user without SCRAM credentials the server goes on with an exchange
// that cannot succeed rather than telling the client the user is unknown. These are
// derived from `secret` and the user name (HMAC-SHA-256), so one user sees the same salt on
// every attempt, as a real one would; nobody knows a password for them.
ScramCredentials fake_scram_credentials(std::string_view user, std::string_view secret);
// A random secret made once per process for fake_scram_credentials (OpenSSL RAND_bytes).
std::string_view process_scram_secret();

// `n` octets from OpenSSL's CSPRNG; an error only if it is not seeded.
Result<std::string> random_octets(std::size_t n);

// HMAC-SHA-256 and SHA-256, raw octets; the building blocks of RFC 5802 §3.
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string sha256(std::string_view data);
// Equality of two secrets in time that depends only on their lengths.
bool equal_secret(std::string_view a, std::string_view b);

}  // namespace tern::auth
