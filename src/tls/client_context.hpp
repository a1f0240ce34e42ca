// The TLS client side (OpenSSL 3 through Boost.Asio SSL): one shared SSL_CTX for outbound
// SMTP (STARTTLS, RFC 3207) with TLS 1.2 or later only, a modern cipher list and the
// system CA store; per-connection setup of the server name (RFC 6066 §3 SNI) and, when
// the policy asks for it, verification of the certificate against the host name (RFC 6125
// as OpenSSL implements it) or address; and a description of the session as Postfix logs it.
//
// Input: the server's certificate chain and handshake, untrusted; OpenSSL checks them.
// No private key is loaded here: a client presents no certificate.
//
// Thread safety: a ClientContext is immutable after create() and may be shared by all
// I/O threads (OpenSSL's SSL_CTX is thread-safe for SSL_new); the per-connection functions
// touch only the SSL object they are given.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace tern::tls {

// The oldest protocol version spoken: TLS 1.0 and 1.1 are deprecated (RFC 8996).
inline constexpr int min_protocol_version = 0x0303;  // TLS1_2_VERSION

// TLS 1.2 cipher suites offered, best first: forward secrecy (ECDHE, DHE) with AEAD
// ciphers only. TLS 1.3 suites are OpenSSL's defaults, all of which are modern.
inline constexpr std::string_view default_ciphers =
    "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL";

class ClientContext {
 public:
  // Builds the context; an error only when OpenSSL cannot (out of memory, bad cipher list).
  static Result<std::shared_ptr<ClientContext>> create(std::string_view ciphers = default_ciphers);

  boost::asio::ssl::context& asio() { return context_; }

 private:
  explicit ClientContext(SSL_CTX* ctx) : context_(ctx) {}  // takes ownership
  boost::asio::ssl::context context_;
};

// Prepares `ssl` for a handshake with the server called `peer` (a host name, or an IP
// address in text form when we know it only by its address): SNI for a name (never for an
// address, RFC 6066 §3), and with `verify` the chain must lead to the system CA store and
// the certificate must name `peer`, or the handshake fails.
Status prepare(SSL* ssl, std::string_view peer, bool verify);

// How far the server's certificate was checked, in Postfix's words: "Untrusted" (anything),
// "Trusted" (chain to a known CA, name not matched), "Verified" (chain and name).
enum class Trust { untrusted, trusted, verified };

// A session after its handshake.
struct Established {
  Trust trust = Trust::untrusted;
  std::string protocol;  // "TLSv1.3"
  std::string cipher;    // "TLS_AES_256_GCM_SHA384"
  int bits = 0, alg_bits = 0;
  const char* trust_word() const;  // "Untrusted", "Trusted", "Verified"
  // "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)".
  std::string text() const;
};
Established describe(SSL* ssl, std::string_view peer);

// Why a handshake on `ssl` failed with `ec`, for a log line: the OpenSSL reason, and the
// certificate problem when verification was the cause ("certificate verify failed:
// hostname mismatch").
std::string failure_text(SSL* ssl, const boost::system::error_code& ec);

}  // namespace tern::tls
