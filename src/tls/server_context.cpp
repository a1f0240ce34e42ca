// Server TLS contexts and SNI selection; see server_context.hpp.
#include "tls/server_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "core/ascii.hpp"
#include "tls/client_context.hpp"
#include "tls/openssl_error.hpp"

namespace tern::tls {
namespace {

// Opening the file ourselves first gives "No such file or directory" or "Permission
// denied" in plain words, which OpenSSL's error queue would bury.
std::optional<std::string> unreadable(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return std::string(std::strerror(errno));
  std::fclose(f);
  return std::nullopt;
}

// The DNS names of the certificate `ctx` holds: its subjectAltName DNS entries, or (with
// none, as RFC 6125 §6.4.4 allows only then) its subject CN.
std::vector<std::string> certificate_names(SSL_CTX* ctx) {
  std::vector<std::string> names;
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (!cert) return names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type != GEN_DNS) continue;
      const ASN1_IA5STRING* s = n->d.dNSName;
      names.push_back(ascii_lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                             static_cast<std::size_t>(ASN1_STRING_length(s)))));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0)
      names.push_back(ascii_lower(cn));
  }
  return names;
}

// RFC 6125 §6.4.3: "*.example.com" stands for exactly one label in front of example.com.
bool name_matches(std::string_view pattern, std::string_view name) {
  if (pattern == name) return true;
  if (!pattern.starts_with("*.")) return false;
  auto dot = name.find('.');
  return dot != std::string_view::npos && dot > 0 && name.substr(dot) == pattern.substr(1);
}

// A passphrase callback that has none: without it OpenSSL asks for an encrypted key's
// passphrase on the terminal, and `ternd --check` or a reload would wait there.
int no_passphrase(char*, int, int, void*) { return -1; }

Status configure(SSL_CTX* ctx, const ServerSettings& s) {
  int version = s.min_version == "TLSv1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(ctx, version) != 1)
    return fail("cannot set the TLS protocol version: " + openssl_error());
  std::string ciphers = s.ciphers.empty() ? std::string(default_ciphers) : s.ciphers;
  if (SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1)
    return fail("tls.ciphers '" + ciphers + "' names no cipher OpenSSL knows");
  if (!s.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, s.ciphersuites.c_str()) != 1)
    return fail("tls.ciphersuites '" + s.ciphersuites + "' names no TLS 1.3 suite OpenSSL knows");
  // Renegotiation lets a client make the server redo expensive handshakes at will; nothing
  // in SMTP needs it. Compression leaks secrets (CRIME). We choose the cipher.
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_dh_auto(ctx, 1);
  // Session tickets are on by default; the session cache lets clients resume without one.
  SSL_CTX_set_session_id_context(ctx, reinterpret_cast<const unsigned char*>("tern"), 4);
  return {};
}

Status load_pair(SSL_CTX* ctx, const CertificateSource& c) {
  std::string where = c.where.empty() ? "" : c.where + ": ";
  if (auto why = unreadable(c.chain))
    return fail(where + "cannot read certificate chain " + c.chain + ": " + *why);
  if (auto why = unreadable(c.key))
    return fail(where + "cannot read private key " + c.key + ": " + *why);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, c.chain.c_str()) != 1)
    return fail(where + "certificate chain " + c.chain + " is not a PEM certificate: " +
                openssl_error());
  // Parsed apart from its use, so "not a key" and "not this certificate's key" differ.
  std::FILE* f = std::fopen(c.key.c_str(), "r");
  EVP_PKEY* key = f ? PEM_read_PrivateKey(f, nullptr, no_passphrase, nullptr) : nullptr;
  if (f) std::fclose(f);
  if (!key)
    return fail(where + "private key " + c.key + " is not a PEM private key (or is encrypted): " +
                openssl_error());
  int used = SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);
  if (used != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return fail(where + "private key " + c.key + " does not belong to the certificate in " +
                c.chain);
  }
  return {};
}

}  // namespace

ServerContext::~ServerContext() = default;

Result<std::shared_ptr<ServerContext>> ServerContext::create(
    const std::vector<CertificateSource>& certificates, const ServerSettings& settings) {
  if (certificates.empty()) return fail("no certificate given for TLS");
  auto out = std::shared_ptr<ServerContext>(new ServerContext());
  std::string problems;
  for (const auto& c : certificates) {
    SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
    if (!raw) return fail("cannot create a TLS server context: " + openssl_error());
    auto ctx = std::make_unique<boost::asio::ssl::context>(raw);
    if (auto st = configure(raw, settings); !st) return fail(st.error().message);
    if (auto st = load_pair(raw, c); !st) {
      if (!problems.empty()) problems += "\n";
      problems += st.error().message;
      continue;
    }
    out->names_.push_back(certificate_names(raw));
    out->contexts_.push_back(std::move(ctx));
  }
  if (!problems.empty()) return fail(problems);
  if (out->contexts_.size() > 1) {
    SSL_CTX* first = out->contexts_.front()->native_handle();
    SSL_CTX_set_tlsext_servername_callback(first, &ServerContext::on_server_name);
    SSL_CTX_set_tlsext_servername_arg(first, out.get());
  }
  return out;
}

std::size_t ServerContext::select(std::string_view server_name) const {
  std::string name = ascii_lower(server_name);
  if (!name.empty() && name.back() == '.') name.pop_back();
  for (std::size_t i = 0; i < names_.size(); ++i)
    for (const auto& pattern : names_[i])
      if (name_matches(pattern, name)) return i;
  return 0;
}

// OpenSSL calls this during the handshake, on the session's thread, with the ClientHello's
// server name. An unknown name keeps the default certificate (RFC 6066 §3 lets the server
// go on; a mail client may well ask for the MX name we were reached by).
int ServerContext::on_server_name(SSL* ssl, int*, void* arg) {
  auto* self = static_cast<ServerContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_NOACK;
  std::size_t i = self->select(name);
  if (i != 0) SSL_set_SSL_CTX(ssl, self->contexts_[i]->native_handle());
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace tern::tls
