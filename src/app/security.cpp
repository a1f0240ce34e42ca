// See security.hpp.
#include "app/security.hpp"

#include "auth/dovecot.hpp"
#include "auth/password_file.hpp"
#include "core/log.hpp"
#include "policy/sender_logins.hpp"

namespace tern::app {
namespace {

tls::ServerSettings tls_settings(const config::Config& c) {
  tls::ServerSettings s;
  s.min_version = c.tls.min_version;
  s.ciphers = c.tls.ciphers;
  s.ciphersuites = c.tls.ciphersuites;
  return s;
}

std::string where(const config::Config& c, std::size_t line) {
  return c.source + ":" + std::to_string(line);
}

std::vector<tls::CertificateSource> shared_certificates(const config::Config& c) {
  std::vector<tls::CertificateSource> out;
  for (const auto& f : c.tls.certificates) out.push_back({f.chain, f.key, where(c, f.line)});
  return out;
}

void add_problem(std::string& problems, const std::string& what) {
  if (problems.find(what) != std::string::npos) return;  // the same file, named twice
  if (!problems.empty()) problems += "\n";
  problems += what;
}

}  // namespace

Result<std::shared_ptr<const inbound::Security>> build_security(const config::Config& c) {
  auto out = std::make_shared<inbound::Security>();
  std::string problems;
  auto shared = shared_certificates(c);
  auto settings = tls_settings(c);
  if (!shared.empty()) {
    if (auto ctx = tls::ServerContext::create(shared, settings)) out->default_tls = *ctx;
    else add_problem(problems, ctx.error().message);
  }
  for (const auto& l : c.listeners) {
    if (l.certificate.empty()) continue;
    // The listener's own certificate is its default; the shared ones stay there for SNI.
    std::vector<tls::CertificateSource> certs{{l.certificate, l.key, where(c, l.line)}};
    certs.insert(certs.end(), shared.begin(), shared.end());
    if (auto ctx = tls::ServerContext::create(certs, settings)) out->listener_tls[l.address] = *ctx;
    else add_problem(problems, ctx.error().message);
  }

  switch (c.auth.backend) {
    case config::AuthBackendKind::none: break;
    case config::AuthBackendKind::file:
      if (auto file = auth::PasswordFile::load(c.auth.password_file))
        out->auth = std::shared_ptr<auth::Backend>(std::move(*file));
      else add_problem(problems, c.source + ": auth.password_file: " + file.error().message);
      break;
    case config::AuthBackendKind::dovecot: {
      // Connections are opened per check (and kept idle for reuse), so a Dovecot that
      // starts after ternd is no error here; its absence shows at the first AUTH (454).
      auth::DovecotOptions options;
      options.socket = c.auth.dovecot_socket;
      out->auth = std::make_shared<auth::DovecotBackend>(std::move(options));
      break;
    }
  }
  if (!c.auth.sender_login_map.empty()) {
    if (auto map = policy::SenderLogins::load(c.auth.sender_login_map)) out->sender_logins = *map;
    else add_problem(problems, map.error().message);
  }
  if (!problems.empty()) return fail(problems);
  return std::shared_ptr<const inbound::Security>(std::move(out));
}

}  // namespace tern::app
