// A SCRAM-SHA-256 client for the unit tests (RFC 5802 §3 computed from the password), and
// a `doveadm pw` vector: what the server side is checked against where RFC 7677 has no
// example. Test code only.
#pragma once

#include <openssl/evp.h>

#include <string>
#include <string_view>

#include "auth/sasl.hpp"
#include "auth/scram.hpp"
#include "auth/text.hpp"

namespace tern::auth {

inline std::string b64(std::string_view s) { return base64_encode(s); }
inline std::string unb64(std::string_view s) { return base64_decode(s).value_or("<not base64>"); }

// `doveadm pw -s SCRAM-SHA-256 -p secret` (Dovecot 2.3.19.1), without the scheme prefix.
inline constexpr std::string_view doveadm_secret =
    "4096,eyS0GaShh8Fbg2KCLGoxlA==,kCXLhVe5hjXHe+aVFRTYNUws9faxu5H2Yt3WS26hYcI=,"
    "RX53KPnPZgguo4OiARs99qjvtcCDekoFTwTZB2jV2Ok=";

// The client side, for the exchanges the RFC has no example of: client-final for a
// server-first, as RFC 5802 §3 computes it.
inline std::string client_final(std::string_view client_first, std::string_view server_first,
                                std::string_view password, std::string_view channel = "c=biws") {
  auto fields = split(server_first, ',');  // r=..., s=..., i=...
  std::string nonce(fields.at(0).substr(2));
  std::string salt = unb64(fields.at(1).substr(2));
  auto iterations = std::stoul(std::string(fields.at(2).substr(2)));
  std::string salted(32, '\0');
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(), 32,
                    reinterpret_cast<unsigned char*>(salted.data()));
  std::string client_key = hmac_sha256(salted, "Client Key");
  std::string without_proof = std::string(channel) + ",r=" + nonce;
  // client-first-message-bare: what follows the gs2 header's second comma.
  std::string bare(client_first.substr(client_first.find(',', client_first.find(',') + 1) + 1));
  std::string auth_message = bare + "," + std::string(server_first) + "," + without_proof;
  std::string signature = hmac_sha256(sha256(client_key), auth_message);
  std::string proof(32, '\0');
  for (int i = 0; i < 32; ++i) proof[i] = static_cast<char>(client_key[i] ^ signature[i]);
  return without_proof + ",p=" + b64(proof);
}

}  // namespace tern::auth
