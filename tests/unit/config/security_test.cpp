// The settings that secure the server, through config::load: listener kinds and their
// defaults (AUTH on for submission and submissions), [[tls.certificate]], [tls] and [auth]
// with their ranges, and the cross-checks between them; every problem as file:line.
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "temp_config.hpp"

namespace tern::config {
namespace {

using testing::write_temp;
using namespace std::chrono_literals;

// Lines 1 to 6, a plain smtp listener; what a test adds starts at line 7.
const std::string base =
    "[server]\nhostname = \"mx.example.test\"\n[spool]\npath = \"var/spool\"\n"
    "[[listener]]\naddress = \"127.0.0.1:25\"\n";

std::shared_ptr<const Config> load_ok(const std::string& rest) {
  auto c = load(write_temp(base + rest));
  EXPECT_TRUE(c.ok()) << rest << "\n" << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : nullptr;
}

TEST(SecurityConfig, DefaultsWithoutTlsOrAuth) {
  auto c = load_ok("");
  ASSERT_TRUE(c);
  ASSERT_EQ(c->listeners.size(), 1u);
  EXPECT_EQ(c->listeners[0].kind, ListenerKind::smtp);
  EXPECT_FALSE(c->listeners[0].auth);
  EXPECT_FALSE(c->listeners[0].requires_auth());
  EXPECT_EQ(c->listeners[0].line, 5u);
  EXPECT_TRUE(c->listeners[0].certificate.empty());
  EXPECT_TRUE(c->tls.certificates.empty());
  EXPECT_EQ(c->tls.min_version, "TLSv1.2");
  EXPECT_TRUE(c->tls.ciphers.empty());
  EXPECT_TRUE(c->tls.ciphersuites.empty());
  EXPECT_EQ(c->auth.backend, AuthBackendKind::none);
  EXPECT_FALSE(c->auth.enabled());
  EXPECT_FALSE(c->auth.allow_plaintext);
  EXPECT_TRUE(c->auth.check_sender);
  EXPECT_EQ(c->auth.failure_delay, 1s);
  EXPECT_EQ(c->auth.max_failures, 10u);
  EXPECT_EQ(c->auth.failure_window, 600s);
}

TEST(SecurityConfig, ListenerKindsCertificatesAndAuth) {
  auto c = load_ok(R"([[listener]]
address = "127.0.0.1:587"
kind = "submission"
[[listener]]
address = "[::1]:465"
kind = "submissions"
[[listener]]
address = "127.0.0.1:2525"
kind = "smtp"
auth = true
certificate = "own.pem"
key = "own.key"
[[listener]]
address = "127.0.0.1:2587"
kind = "submission"
auth = true
[tls]
min_version = "TLSv1.3"
ciphers = "ECDHE+AESGCM"
ciphersuites = "TLS_AES_256_GCM_SHA384"
[[tls.certificate]]
chain = "a.pem"
key = "a.key"
[[tls.certificate]]
chain = "b.pem"
key = "b.key"
[auth]
backend = "dovecot"
dovecot_socket = "/run/dovecot/auth-client"
allow_plaintext = true
check_sender = false
sender_login_map = "/etc/tern/logins"
failure_delay = "2s"
max_failures = 5
failure_window = "10m"
)");
  ASSERT_TRUE(c);
  ASSERT_EQ(c->listeners.size(), 5u);
  const auto& l = c->listeners;
  EXPECT_EQ(l[1].kind, ListenerKind::submission);
  EXPECT_TRUE(l[1].auth);
  EXPECT_TRUE(l[1].requires_auth());
  EXPECT_FALSE(l[1].implicit_tls());
  EXPECT_EQ(l[1].line, 7u);
  EXPECT_EQ(l[2].kind, ListenerKind::submissions);
  EXPECT_TRUE(l[2].auth);
  EXPECT_TRUE(l[2].implicit_tls());
  EXPECT_EQ(l[3].kind, ListenerKind::smtp);
  EXPECT_TRUE(l[3].auth);
  EXPECT_FALSE(l[3].requires_auth());
  EXPECT_EQ(l[3].certificate, "own.pem");
  EXPECT_EQ(l[3].key, "own.key");
  EXPECT_TRUE(l[4].auth);
  EXPECT_EQ(c->tls.min_version, "TLSv1.3");
  EXPECT_EQ(c->tls.ciphers, "ECDHE+AESGCM");
  EXPECT_EQ(c->tls.ciphersuites, "TLS_AES_256_GCM_SHA384");
  ASSERT_EQ(c->tls.certificates.size(), 2u);
  EXPECT_EQ(c->tls.certificates[0].chain, "a.pem");
  EXPECT_EQ(c->tls.certificates[0].key, "a.key");
  EXPECT_EQ(c->tls.certificates[0].line, 27u);
  EXPECT_EQ(c->tls.certificates[1].chain, "b.pem");
  EXPECT_EQ(c->tls.certificates[1].line, 30u);
  EXPECT_EQ(c->auth.backend, AuthBackendKind::dovecot);
  EXPECT_EQ(c->auth.dovecot_socket, "/run/dovecot/auth-client");
  EXPECT_TRUE(c->auth.allow_plaintext);
  EXPECT_FALSE(c->auth.check_sender);
  EXPECT_EQ(c->auth.sender_login_map, "/etc/tern/logins");
  EXPECT_EQ(c->auth.failure_delay, 2s);
  EXPECT_EQ(c->auth.max_failures, 5u);
  EXPECT_EQ(c->auth.failure_window, 600s);
}

// Settings that load. `tls` and `file_auth` complete a case that is not about them.
const std::string tls = "[[tls.certificate]]\nchain = \"c.pem\"\nkey = \"c.key\"\n";
const std::string file_auth = "[auth]\nbackend = \"file\"\npassword_file = \"/etc/tern/passwd\"\n";
const std::string submission = "[[listener]]\naddress = \"127.0.0.1:587\"\nkind = \"submission\"\n";

TEST(SecurityConfig, ValidCombinations) {
  const std::string cases[] = {
      "[tls]\nmin_version = \"TLSv1.2\"\n",
      "[tls]\nmin_version = \"TLSv1.3\"\n",
      "[auth]\nbackend = \"none\"\n",
      file_auth,
      "[auth]\nbackend = \"dovecot\"\ndovecot_socket = \"/run/dovecot/auth-client\"\n",
      "[auth]\nfailure_delay = 0\nmax_failures = 1\nfailure_window = 1\n",
      "[auth]\nfailure_delay = 60\nmax_failures = 1000\nfailure_window = \"1d\"\n",
      "[auth]\nfailure_delay = \"1m\"\nmax_failures = \"3\"\nfailure_window = \"24h\"\n",
      // A submission listener: a certificate of its own or from [tls], or plaintext AUTH.
      submission + "certificate = \"s.pem\"\nkey = \"s.key\"\n" + file_auth,
      submission + tls + file_auth,
      submission + file_auth + "allow_plaintext = true\n",
      "[[listener]]\naddress = \"127.0.0.1:465\"\nkind = \"submissions\"\n" + tls + file_auth,
      // An smtp listener offering AUTH needs the backend, and TLS or plaintext AUTH allowed.
      "[[listener]]\naddress = \"127.0.0.1:2525\"\nauth = true\n" + tls + file_auth,
      "[[listener]]\naddress = \"127.0.0.1:2525\"\nauth = true\n" + file_auth +
          "allow_plaintext = true\n",
      "[[listener]]\naddress = \"127.0.0.1:2525\"\nauth = false\n",
      "[[listener]]\naddress = \"127.0.0.1:2525\"\ncertificate = \"s.pem\"\nkey = \"s.key\"\n",
  };
  for (const auto& c : cases) EXPECT_TRUE(load_ok(c)) << c;
}

struct ErrorCase {
  std::string toml;                   // after the base
  std::vector<std::string> problems;  // "line: what", in the order reported (by line)
};

TEST(SecurityConfig, ProblemsNameTheLine) {
  const ErrorCase cases[] = {
      // Listener kinds and AUTH.
      {"[[listener]]\naddress = \"127.0.0.1:2525\"\nkind = \"smtps\"\n",
       {"9: listener.kind must be smtp, submission or submissions"}},
      {"[[listener]]\naddress = \"127.0.0.1:2525\"\nkind = 465\n",
       {"9: listener.kind must be a string"}},
      {submission + "auth = false\n" + tls + file_auth,
       {"10: listener.auth = false: a submission listener takes mail only from authenticated "
        "clients, so it would take none"}},
      {"[[listener]]\naddress = \"127.0.0.1:465\"\nkind = \"submissions\"\nauth = false\n" + tls +
           file_auth,
       {"10: listener.auth = false: a submission listener takes mail only from authenticated "
        "clients, so it would take none"}},
      {"[[listener]]\naddress = \"127.0.0.1:2525\"\nauth = \"yes\"\n",
       {"9: listener.auth must be true or false"}},
      // A certificate and its key come together.
      {"[[listener]]\naddress = \"127.0.0.1:2525\"\ncertificate = \"s.pem\"\n",
       {"7: listener needs both certificate (the chain file) and key (the private key file)"}},
      {"[[listener]]\naddress = \"127.0.0.1:2525\"\nkey = \"s.key\"\n",
       {"7: listener needs both certificate (the chain file) and key (the private key file)"}},
      {"[[listener]]\naddress = \"127.0.0.1:2525\"\ncertificate = 1\nkey = \"s.key\"\n",
       {"7: listener needs both certificate (the chain file) and key (the private key file)",
        "9: listener.certificate must be a string"}},
      // [[tls.certificate]].
      {"[[tls.certificate]]\nchain = \"c.pem\"\n",
       {"7: tls.certificate needs both chain (the chain file) and key (the private key file)"}},
      {"[[tls.certificate]]\nkey = \"c.key\"\n",
       {"7: tls.certificate needs both chain (the chain file) and key (the private key file)"}},
      {"[[tls.certificate]]\n", {"7: tls.certificate needs chain and key"}},
      {"[[tls.certificate]]\nchain = \"c.pem\"\nkey = \"c.key\"\ncert = \"x\"\n",
       {"10: unknown setting 'tls.certificate.cert'"}},
      {"[tls.certificate]\nchain = \"c.pem\"\nkey = \"c.key\"\n",
       {"7: certificates are written as [[tls.certificate]] blocks with chain and key"}},
      {"[tls]\ncertificate = \"c.pem\"\n",
       {"8: certificates are written as [[tls.certificate]] blocks with chain and key"}},
      {"[tls]\ncertificate = [\"c.pem\", \"c.key\"]\n",
       {"8: certificates are written as [[tls.certificate]] blocks with chain and key"}},
      // [tls].
      {"[tls]\nmin_version = \"TLSv1.1\"\n",
       {"8: tls.min_version must be \"TLSv1.2\" or \"TLSv1.3\""}},
      {"[tls]\nmin_version = \"tlsv1.3\"\n",
       {"8: tls.min_version must be \"TLSv1.2\" or \"TLSv1.3\""}},
      {"[tls]\nmin_version = 1.3\n", {"8: tls.min_version must be a string"}},
      {"[tls]\nciphers = [\"HIGH\"]\n", {"8: tls.ciphers must be a string"}},
      {"[tls]\nprotocols = \"TLSv1.3\"\n", {"8: unknown setting 'tls.protocols'"}},
      // [auth] backends and what each needs.
      {"[auth]\nbackend = \"ldap\"\n", {"8: auth.backend must be none, file or dovecot"}},
      {"[auth]\nbackend = \"file\"\n", {"7: auth.backend = \"file\" needs auth.password_file"}},
      {"[auth]\nbackend = \"file\"\ndovecot_socket = \"/run/x\"\n",
       {"7: auth.backend = \"file\" needs auth.password_file"}},
      {"[auth]\nbackend = \"dovecot\"\n",
       {"7: auth.backend = \"dovecot\" needs auth.dovecot_socket"}},
      {"[auth]\nbackend = \"dovecot\"\npassword_file = \"p\"\n",
       {"7: auth.backend = \"dovecot\" needs auth.dovecot_socket"}},
      {"[auth]\nbackends = \"file\"\n", {"8: unknown setting 'auth.backends'"}},
      {"[auth]\nallow_plaintext = 1\n", {"8: auth.allow_plaintext must be true or false"}},
      // [auth] ranges.
      {"[auth]\nfailure_delay = 61\n", {"7: auth.failure_delay must be 0 to 60 seconds"}},
      {"[auth]\nfailure_delay = \"2m\"\n", {"7: auth.failure_delay must be 0 to 60 seconds"}},
      {"[auth]\nfailure_delay = -1\n",
       {"8: auth.failure_delay must be a duration such as 1 or \"2s\""}},
      {"[auth]\nfailure_delay = \"soon\"\n",
       {"8: auth.failure_delay must be a duration such as 1 or \"2s\""}},
      {"[auth]\nmax_failures = 0\n", {"7: auth.max_failures must be 1 to 1000"}},
      {"[auth]\nmax_failures = 1001\n", {"7: auth.max_failures must be 1 to 1000"}},
      {"[auth]\nmax_failures = 4294967297\n", {"7: auth.max_failures must be 1 to 1000"}},
      {"[auth]\nmax_failures = \"five\"\n", {"8: auth.max_failures must be a number"}},
      {"[auth]\nfailure_window = 0\n", {"7: auth.failure_window must be 1 second to 1 day"}},
      {"[auth]\nfailure_window = 86401\n", {"7: auth.failure_window must be 1 second to 1 day"}},
      {"[auth]\nfailure_window = \"2d\"\n", {"7: auth.failure_window must be 1 second to 1 day"}},
      {"[auth]\nfailure_window = \"10 minutes\"\n",
       {"8: auth.failure_window must be a duration such as 600 or \"10m\""}},
      {"[auth]\nbackend = \"file\"\nfailure_delay = 100\nmax_failures = 0\nfailure_window = 0\n",
       {"7: auth.backend = \"file\" needs auth.password_file",
        "7: auth.failure_delay must be 0 to 60 seconds", "7: auth.max_failures must be 1 to 1000",
        "7: auth.failure_window must be 1 second to 1 day"}},
      // Cross-checks.
      {"[[listener]]\naddress = \"127.0.0.1:465\"\nkind = \"submissions\"\n" + file_auth,
       {"7: listener 127.0.0.1:465 (submissions) speaks TLS from the start: give it a "
        "certificate and key, or add [[tls.certificate]]"}},
      {"[[listener]]\naddress = \"127.0.0.1:465\"\nkind = \"submissions\"\n" + file_auth +
           "allow_plaintext = true\n",
       {"7: listener 127.0.0.1:465 (submissions) speaks TLS from the start: give it a "
        "certificate and key, or add [[tls.certificate]]"}},
      {submission + file_auth,
       {"7: listener 127.0.0.1:587 (submission) offers AUTH only after STARTTLS: give it a "
        "certificate and key, or add [[tls.certificate]]"}},
      {submission + tls, {"7: listener 127.0.0.1:587 offers AUTH: set [auth] backend"}},
      {submission + tls + "[auth]\nbackend = \"none\"\n",
       {"7: listener 127.0.0.1:587 offers AUTH: set [auth] backend"}},
      {"[[listener]]\naddress = \"127.0.0.1:2525\"\nauth = true\n",
       {"7: listener 127.0.0.1:2525 offers AUTH: set [auth] backend",
        "7: listener 127.0.0.1:2525 has auth = true but no certificate, so it could never "
        "offer AUTH (only inside TLS): add a certificate, or set auth.allow_plaintext"}},
      {"[[listener]]\naddress = \"127.0.0.1:2525\"\nauth = true\n" + file_auth,
       {"7: listener 127.0.0.1:2525 has auth = true but no certificate, so it could never "
        "offer AUTH (only inside TLS): add a certificate, or set auth.allow_plaintext"}},
      {"[[listener]]\naddress = \"[::1]:465\"\nkind = \"submissions\"\n",
       {"7: listener [::1]:465 (submissions) speaks TLS from the start: give it a certificate "
        "and key, or add [[tls.certificate]]",
        "7: listener [::1]:465 offers AUTH: set [auth] backend"}},
      // A listener's half certificate counts as none.
      {submission + "certificate = \"s.pem\"\n" + file_auth,
       {"7: listener needs both certificate (the chain file) and key (the private key file)",
        "7: listener 127.0.0.1:587 (submission) offers AUTH only after STARTTLS: give it a "
        "certificate and key, or add [[tls.certificate]]"}},
  };
  for (const auto& c : cases) {
    std::string path = write_temp(base + c.toml);
    auto loaded = load(path);
    ASSERT_FALSE(loaded.ok()) << c.toml;
    std::string expected;
    for (const auto& p : c.problems) expected += (expected.empty() ? "" : "\n") + path + ":" + p;
    EXPECT_EQ(loaded.error().message, expected) << c.toml;
  }
}

}  // namespace
}  // namespace tern::config
