// The TLS client context and per-connection checks; see client_context.hpp.
#include "tls/client_context.hpp"

#include "tls/openssl_error.hpp"

#include <boost/asio/ip/address.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace tern::tls {
namespace {

static_assert(min_protocol_version == TLS1_2_VERSION);

bool is_address(std::string_view peer) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(std::string(peer), ec);
  return !ec;
}

}  // namespace

Result<std::shared_ptr<ClientContext>> ClientContext::create(std::string_view ciphers) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return fail("cannot create a TLS client context: " + openssl_error());
  auto out = std::shared_ptr<ClientContext>(new ClientContext(ctx));
  std::string list(ciphers);
  if (SSL_CTX_set_min_proto_version(ctx, min_protocol_version) != 1 ||
      SSL_CTX_set_cipher_list(ctx, list.c_str()) != 1)
    return fail("cannot set up the TLS client context: " + openssl_error());
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // A missing system store is no error here: "may" and "encrypt" need none, and "verify"
  // then fails each handshake with a message that says why.
  if (SSL_CTX_set_default_verify_paths(ctx) != 1) ERR_clear_error();
  return out;
}

Status prepare(SSL* ssl, std::string_view peer, bool verify) {
  const std::string name(peer);
  const bool address = is_address(name);
  if (!address && !name.empty() && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1)
    return fail("cannot set the TLS server name " + name + ": " + openssl_error());
  if (!verify) {
    // The chain is still checked and the result kept (SSL_get_verify_result) for the log's
    // Trusted/Untrusted, but the handshake goes on whatever it says.
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
    return {};
  }
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  int ok = address ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                   : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
  if (ok != 1) return fail("cannot verify the TLS server name " + name + ": " + openssl_error());
  // RFC 6125 §6.4.3: a wildcard stands for one whole left-most label only.
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
  return {};
}

const char* Established::trust_word() const {
  switch (trust) {
    case Trust::untrusted: return "Untrusted";
    case Trust::trusted: return "Trusted";
    case Trust::verified: return "Verified";
  }
  return "Untrusted";
}

std::string Established::text() const {
  return protocol + " with cipher " + cipher + " (" + std::to_string(bits) + "/" +
         std::to_string(alg_bits) + " bits)";
}

Established describe(SSL* ssl, std::string_view peer) {
  Established e;
  e.protocol = SSL_get_version(ssl);
  if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl)) {
    e.cipher = SSL_CIPHER_get_name(c);
    e.bits = SSL_CIPHER_get_bits(c, &e.alg_bits);
  }
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return e;
  e.trust = Trust::trusted;
  const std::string name(peer);
  int match = is_address(name) ? X509_check_ip_asc(cert, name.c_str(), 0)
                               : X509_check_host(cert, name.data(), name.size(),
                                                 X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr);
  if (match == 1) e.trust = Trust::verified;
  return e;
}

std::string failure_text(SSL* ssl, const boost::system::error_code& ec) {
  std::string text = ec.message();
  if (ssl) {
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK && SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE)
      text += ": " + std::string(X509_verify_cert_error_string(v));
  }
  ERR_clear_error();
  return text;
}

}  // namespace tern::tls
