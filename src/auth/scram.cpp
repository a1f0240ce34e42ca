// SCRAM-SHA-256 credentials; see scram.hpp. RFC 5802 §3 (key derivation), §9 (unknown users),
// RFC 7677 §4 (iteration count); Dovecot's password scheme SCRAM-SHA-256 (text form). Input:
// operator-written credential text and untrusted passwords.
#include "auth/scram.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <charconv>
#include <cstdlib>
#include <vector>

#include "auth/sasl.hpp"
#include "auth/text.hpp"

namespace tern::auth {
namespace {

using namespace std::literals;

// RFC 5802 §3: the HMAC inputs that turn SaltedPassword into the two keys.
constexpr std::string_view client_key_label = "Client Key";
constexpr std::string_view server_key_label = "Server Key";
// RFC 5802 §5.1 recommends salts of at least 128 bits, as Dovecot writes them; a shorter
// salt in the file is accepted (it is the operator's) but an empty one is not a salt.
constexpr std::size_t fake_salt_octets = 16;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

ScramCredentials::~ScramCredentials() {
  wipe(salt);
  wipe(stored_key);
  wipe(server_key);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::string out(scram_key_octets, '\0');
  unsigned int len = 0;
  // HMAC only fails on a broken OpenSSL (no SHA-256): not a state we can serve from.
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes(data), data.size(),
            reinterpret_cast<unsigned char*>(out.data()), &len) ||
      len != scram_key_octets)
    std::abort();
  return out;
}

std::string sha256(std::string_view data) {
  std::string out(scram_key_octets, '\0');
  SHA256(bytes(data), data.size(), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

bool equal_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<std::string> random_octets(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    return fail("OpenSSL's random generator failed");
  return out;
}

ScramCredentials derive_scram_credentials(std::string_view password, std::string_view salt,
                                          std::uint32_t iterations) {
  // RFC 5802 §2.2: Hi(str, salt, i) is PBKDF2 with HMAC-H as the PRF and dkLen the
  // output size of H.
  std::string salted(scram_key_octets, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), bytes(salt),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(salted.size()),
                        reinterpret_cast<unsigned char*>(salted.data())) != 1)
    std::abort();  // only on a broken OpenSSL, as in hmac_sha256
  std::string client_key = hmac_sha256(salted, client_key_label);
  ScramCredentials c{iterations, std::string(salt), sha256(client_key),
                     hmac_sha256(salted, server_key_label)};
  wipe(client_key);
  wipe(salted);
  return c;
}

bool check_scram_password(std::string_view password, const ScramCredentials& credentials) {
  ScramCredentials derived =
      derive_scram_credentials(password, credentials.salt, credentials.iterations);
  return equal_secret(derived.stored_key, credentials.stored_key);
}

Result<ScramCredentials> parse_dovecot_scram(std::string_view text) {
  auto parts = split(text, ',');
  if (parts.size() != 4)
    return fail("SCRAM-SHA-256 entry is not iterations,salt,StoredKey,ServerKey");
  std::uint32_t iterations = 0;
  auto [end, ec] = std::from_chars(parts[0].data(), parts[0].data() + parts[0].size(), iterations);
  if (ec != std::errc() || end != parts[0].data() + parts[0].size())
    return fail("SCRAM-SHA-256 iteration count is not a number");
  if (iterations < min_scram_iterations || iterations > max_scram_iterations) {
    return fail("SCRAM-SHA-256 iteration count " + std::to_string(iterations) + " is outside " +
                std::to_string(min_scram_iterations) + ".." + std::to_string(max_scram_iterations));
  }
  auto salt = base64_decode(parts[1]);
  auto stored = base64_decode(parts[2]);
  auto server = base64_decode(parts[3]);
  if (!salt || salt->empty()) return fail("SCRAM-SHA-256 salt is not base64");
  if (!stored || !server || stored->size() != scram_key_octets ||
      server->size() != scram_key_octets)
    return fail("SCRAM-SHA-256 keys are not base64 of 32 octets");
  return ScramCredentials{iterations, std::move(*salt), std::move(*stored), std::move(*server)};
}

std::string format_dovecot_scram(const ScramCredentials& c) {
  return std::to_string(c.iterations) + "," + base64_encode(c.salt) + "," +
         base64_encode(c.stored_key) + "," + base64_encode(c.server_key);
}

ScramCredentials fake_scram_credentials(std::string_view user, std::string_view secret) {
  // Distinct labels keep the three values independent of one another.
  std::string u(user);
  std::string salt = hmac_sha256(secret, "salt\0"s + u).substr(0, fake_salt_octets);
  return ScramCredentials{min_scram_iterations, std::move(salt),
                          hmac_sha256(secret, "stored\0"s + u),
                          hmac_sha256(secret, "server\0"s + u)};
}

std::string_view process_scram_secret() {
  // Made once, on first use, thread-safely (a function-local static); immutable after.
  static const std::string secret = [] {
    auto r = random_octets(scram_key_octets);
    // Without a seeded CSPRNG there are no nonces either: SCRAM cannot run safely at all.
    if (!r) std::abort();
    return std::move(*r);
  }();
  return secret;
}

}  // namespace tern::auth
