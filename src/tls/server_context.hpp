// The TLS server side (OpenSSL 3 through Boost.Asio SSL): one context per listener, with a
// default certificate and others chosen by the name the client asks for (SNI, RFC 6066 §3);
// TLS 1.2 or later only (RFC 8996), a modern cipher list unless configured otherwise,
// no renegotiation, no compression.
//
// Input: the certificate and key files, trusted as the operator's, but read with a clear
// error for every way they can be wrong (missing, unreadable, not PEM, key not matching
// the certificate); the client's handshake, untrusted, which OpenSSL checks.
// Private keys stay inside OpenSSL's SSL_CTX: nothing here returns one.
//
// Thread safety: a ServerContext is immutable after create() and shared by all I/O
// threads; a reload builds a new one while sessions finish with the one they began with.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace tern::tls {

struct CertificateSource {
  std::string chain;  // PEM file: the certificate first, then its intermediates
  std::string key;    // PEM file: the private key
  std::string where;  // prefix for errors, such as "tern.toml:12"
};

struct ServerSettings {
  std::string min_version = "TLSv1.2";  // or "TLSv1.3"
  std::string ciphers;                  // TLS 1.2 cipher list; empty: default_ciphers
  std::string ciphersuites;             // TLS 1.3 suites; empty: OpenSSL's defaults
};

class ServerContext {
 public:
  // `certificates` is not empty; the first is the default. Errors name the file and what
  // is wrong with it, one per line.
  static Result<std::shared_ptr<ServerContext>> create(
      const std::vector<CertificateSource>& certificates, const ServerSettings& settings);
  ~ServerContext();

  // The context a session's stream is made from (the default certificate's).
  boost::asio::ssl::context& asio() { return *contexts_.front(); }
  // The DNS names each certificate answers for, in the order given (for logs and tests).
  const std::vector<std::vector<std::string>>& names() const { return names_; }
  // The certificate for a name the client asked for: the index of the first certificate
  // naming it (exactly, or by a wildcard for its first label), else 0 (the default).
  std::size_t select(std::string_view server_name) const;

 private:
  ServerContext() = default;
  static int on_server_name(SSL* ssl, int* alert, void* self);

  std::vector<std::unique_ptr<boost::asio::ssl::context>> contexts_;
  std::vector<std::vector<std::string>> names_;
};

}  // namespace tern::tls
