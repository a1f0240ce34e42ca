// Listener kinds, [tls] and [auth]; see security.hpp and docs/configuration.md. Files are
// only named here: tls/ reads the certificates and auth/ the password file, when ternd
// starts, reloads or checks (app/security.cpp), and reports what cannot be read there.
#include "config/security.hpp"

namespace tern::config {
namespace {

CertificateFiles certificate_pair(const toml::table& t, std::string_view where,
                                  std::string_view chain_key, Problems& problems) {
  CertificateFiles f;
  f.line = t.source().begin.line;
  auto chain = get_string(t, chain_key, where, problems);
  auto key = get_string(t, "key", where, problems);
  if (chain && key) {
    f.chain = *chain;
    f.key = *key;
  } else if (chain || key) {
    problems.add(t, std::string(where) + " needs both " + std::string(chain_key) +
                        " (the chain file) and key (the private key file)");
  }
  return f;
}

}  // namespace

void load_listener_security(const toml::table& t, Listener& l, Problems& problems) {
  l.line = t.source().begin.line;
  if (auto kind = get_string(t, "kind", "listener", problems)) {
    if (*kind == "smtp") l.kind = ListenerKind::smtp;
    else if (*kind == "submission") l.kind = ListenerKind::submission;
    else if (*kind == "submissions") l.kind = ListenerKind::submissions;
    else problems.add(*t.get("kind"), "listener.kind must be smtp, submission or submissions");
  }
  l.auth = l.kind != ListenerKind::smtp;
  if (auto b = get_bool(t, "auth", "listener", problems)) {
    if (!*b && l.requires_auth())
      problems.add(*t.get("auth"), "listener.auth = false: a submission listener takes mail "
                                   "only from authenticated clients, so it would take none");
    else l.auth = *b;
  }
  auto files = certificate_pair(t, "listener", "certificate", problems);
  l.certificate = files.chain;
  l.key = files.key;
}

void load_tls(const toml::table& t, Tls& tls, Problems& problems) {
  check_keys(t, "tls", {"certificate", "min_version", "ciphers", "ciphersuites"}, problems);
  if (const toml::node* n = t.get("certificate")) {
    const toml::array* a = n->as_array();
    if (!a || !a->is_array_of_tables()) {
      problems.add(*n, "certificates are written as [[tls.certificate]] blocks with chain and key");
    } else {
      for (auto&& e : *a) {
        const toml::table* ct = e.as_table();
        check_keys(*ct, "tls.certificate", {"chain", "key"}, problems);
        auto files = certificate_pair(*ct, "tls.certificate", "chain", problems);
        if (files.chain.empty()) {
          if (!ct->get("chain") && !ct->get("key"))
            problems.add(*ct, "tls.certificate needs chain and key");
        } else {
          tls.certificates.push_back(std::move(files));
        }
      }
    }
  }
  if (auto v = get_string(t, "min_version", "tls", problems)) {
    if (*v == "TLSv1.2" || *v == "TLSv1.3") tls.min_version = *v;
    else problems.add(*t.get("min_version"), "tls.min_version must be \"TLSv1.2\" or \"TLSv1.3\"");
  }
  if (auto v = get_string(t, "ciphers", "tls", problems)) tls.ciphers = *v;
  if (auto v = get_string(t, "ciphersuites", "tls", problems)) tls.ciphersuites = *v;
}

void load_auth(const toml::table& t, Auth& auth, Problems& problems) {
  check_keys(t, "auth",
             {"backend", "password_file", "dovecot_socket", "allow_plaintext",
              "sender_login_map", "check_sender", "failure_delay", "max_failures",
              "failure_window"},
             problems);
  if (auto v = get_string(t, "backend", "auth", problems)) {
    if (*v == "none") auth.backend = AuthBackendKind::none;
    else if (*v == "file") auth.backend = AuthBackendKind::file;
    else if (*v == "dovecot") auth.backend = AuthBackendKind::dovecot;
    else problems.add(*t.get("backend"), "auth.backend must be none, file or dovecot");
  }
  if (auto v = get_string(t, "password_file", "auth", problems)) auth.password_file = *v;
  if (auto v = get_string(t, "dovecot_socket", "auth", problems)) auth.dovecot_socket = *v;
  if (auto v = get_string(t, "sender_login_map", "auth", problems)) auth.sender_login_map = *v;
  if (auto b = get_bool(t, "allow_plaintext", "auth", problems)) auth.allow_plaintext = *b;
  if (auto b = get_bool(t, "check_sender", "auth", problems)) auth.check_sender = *b;
  if (auto v = get_seconds(t, "failure_delay", "auth", problems, "1 or \"2s\""))
    auth.failure_delay = *v;
  if (auto v = get_seconds(t, "failure_window", "auth", problems, "600 or \"10m\""))
    auth.failure_window = *v;
  if (auto v = get_number(t, "max_failures", "auth", problems, plain_number, "a number"))
    auth.max_failures = narrow(*v);

  auto line = t.source().begin.line;
  if (auth.backend == AuthBackendKind::file && auth.password_file.empty())
    problems.add(line, "auth.backend = \"file\" needs auth.password_file");
  if (auth.backend == AuthBackendKind::dovecot && auth.dovecot_socket.empty())
    problems.add(line, "auth.backend = \"dovecot\" needs auth.dovecot_socket");
  if (auth.failure_delay.count() > 60)
    problems.add(line, "auth.failure_delay must be 0 to 60 seconds");
  if (auth.max_failures < 1 || auth.max_failures > 1000)
    problems.add(line, "auth.max_failures must be 1 to 1000");
  if (auth.failure_window.count() < 1 || auth.failure_window.count() > 86400)
    problems.add(line, "auth.failure_window must be 1 second to 1 day");
}

void check_security(const Config& c, Problems& problems) {
  for (const Listener& l : c.listeners) {
    bool has_certificate = !l.certificate.empty() || !c.tls.certificates.empty();
    if (l.implicit_tls() && !has_certificate)
      problems.add(l.line, "listener " + l.address + " (submissions) speaks TLS from the "
                           "start: give it a certificate and key, or add [[tls.certificate]]");
    if (l.kind == ListenerKind::submission && !has_certificate && !c.auth.allow_plaintext)
      problems.add(l.line, "listener " + l.address + " (submission) offers AUTH only after "
                           "STARTTLS: give it a certificate and key, or add [[tls.certificate]]");
    if (l.auth && !c.auth.enabled())
      problems.add(l.line, "listener " + l.address + " offers AUTH: set [auth] backend");
    if (l.auth && l.kind == ListenerKind::smtp && !has_certificate && !c.auth.allow_plaintext)
      problems.add(l.line, "listener " + l.address + " has auth = true but no certificate, so "
                           "it could never offer AUTH (only inside TLS): add a certificate, or "
                           "set auth.allow_plaintext");
  }
}

}  // namespace tern::config
