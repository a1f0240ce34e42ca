// The TLS server context: the names each certificate answers for (subjectAltName DNS
// entries, else the CN), SNI selection (case, trailing dot, a wildcard for exactly one
// label, first match wins, unknown names get the default), every error create() reports,
// and in-memory handshakes that show SNI choosing the certificate.
//
// The certificates are made by the openssl command when the suite starts, in a temporary
// directory removed afterwards: no key is ever committed.
#include <gtest/gtest.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "tls/server_context.hpp"

namespace tern::tls {
namespace {

namespace fs = std::filesystem;

class ServerContextTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("tern-server-context-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ok_ = certificate("default", "/CN=default.example", "DNS:default.example") &&
          certificate("sans", "/CN=sans.example", "DNS:a.example,DNS:*.wild.example") &&
          certificate("cn_only", "/CN=Mail.CN.Example", "") &&
          certificate("dup", "/CN=dup.example", "DNS:A.EXAMPLE,DNS:C.Example,DNS:*.c.example") &&
          certificate("ip_only", "/CN=ip.example", "IP:192.0.2.1") &&
          run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " +
              path("other.key")) &&
          run("openssl pkey -in " + path("sans.key") + " -aes256 -passout pass:secret -out " +
              path("encrypted.key"));
    std::ofstream(path("text.txt")) << "this is not PEM\n";
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override {
    if (!ok_) GTEST_SKIP() << "the openssl command could not make test certificates";
  }

  static std::string path(const std::string& name) { return (dir_ / name).string(); }
  static CertificateSource source(const std::string& name, const std::string& where = "") {
    return {path(name + ".pem"), path(name + ".key"), where};
  }

  static Result<std::shared_ptr<ServerContext>> create(const std::vector<CertificateSource>& c,
                                                       const ServerSettings& s = {}) {
    return ServerContext::create(c, s);
  }

 private:
  static bool run(const std::string& command) {
    return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
  }
  // A self-signed certificate `name`.pem with its key `name`.key; `sans` may be empty.
  static bool certificate(const std::string& name, const std::string& subject,
                          const std::string& sans) {
    std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
        "-days 2 -subj '" +
        subject + "' -keyout " + path(name + ".key") + " -out " + path(name + ".pem");
    if (!sans.empty()) cmd += " -addext 'subjectAltName=" + sans + "'";
    return run(cmd);
  }

  static inline fs::path dir_;
  static inline bool ok_ = false;
};

using Names = std::vector<std::vector<std::string>>;

TEST_F(ServerContextTest, NamesAreTheDnsSansElseTheCn) {
  auto c = create(
      {source("default"), source("sans"), source("cn_only"), source("dup"), source("ip_only")});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ((*c)->names(), (Names{{"default.example"},
                                  {"a.example", "*.wild.example"},
                                  {"mail.cn.example"},
                                  {"a.example", "c.example", "*.c.example"},
                                  {"ip.example"}}));
}

struct SelectCase {
  const char* server_name;
  std::size_t index;
};

TEST_F(ServerContextTest, SelectsByServerName) {
  auto c = create({source("default"), source("sans"), source("cn_only"), source("dup")});
  ASSERT_TRUE(c.ok()) << c.error().message;
  const SelectCase cases[] = {
      {"default.example", 0},
      {"a.example", 1},  // also in "dup": the first certificate naming it wins
      {"A.Example", 1},
      {"a.example.", 1},
      {"c.example", 3},
      {"C.EXAMPLE.", 3},
      {"mail.cn.example", 2},
      {"MAIL.cn.example.", 2},
      // A wildcard stands for exactly one label.
      {"x.wild.example", 1},
      {"X.Wild.Example.", 1},
      {"www.c.example", 3},
      {"x.y.wild.example", 0},
      {"wild.example", 0},
      {".wild.example", 0},
      {"xwild.example", 0},
      // Anything else gets the default.
      {"unknown.example", 0},
      {"xa.example", 0},
      {"a.example.com", 0},
      {"example", 0},
      {"a.example..", 0},
      {".", 0},
      {"", 0},
  };
  for (const auto& t : cases) EXPECT_EQ((*c)->select(t.server_name), t.index) << t.server_name;
}

TEST_F(ServerContextTest, ProtocolFloorAndOptions) {
  auto c = create({source("default")});
  ASSERT_TRUE(c.ok()) << c.error().message;
  SSL_CTX* ctx = (*c)->asio().native_handle();
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
  EXPECT_NE(SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION, 0u);
  EXPECT_NE(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION, 0u);

  ServerSettings s;
  s.min_version = "TLSv1.3";
  s.ciphers = "ECDHE+AESGCM";
  s.ciphersuites = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
  c = create({source("default"), source("sans")}, s);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*c)->asio().native_handle()), TLS1_3_VERSION);
}

struct ErrorCase {
  std::vector<CertificateSource> certificates;
  std::string error;  // the whole message, or its start when it ends in "…"
};

TEST_F(ServerContextTest, EveryErrorSaysWhatIsWrong) {
  const std::string missing = path("missing.pem"), text = path("text.txt");
  const std::string sans_pem = path("sans.pem"), sans_key = path("sans.key");
  const ErrorCase cases[] = {
      {{}, "no certificate given for TLS"},
      {{{missing, sans_key, "tern.toml:12"}},
       "tern.toml:12: cannot read certificate chain " + missing + ": No such file or directory"},
      {{{sans_pem, missing, "tern.toml:12"}},
       "tern.toml:12: cannot read private key " + missing + ": No such file or directory"},
      {{{missing, sans_key, ""}},
       "cannot read certificate chain " + missing + ": No such file or directory"},
      {{{text, sans_key, "tern.toml:3"}},
       "tern.toml:3: certificate chain " + text + " is not a PEM certificate: …"},
      // A key where the chain should be.
      {{{sans_key, sans_key, "tern.toml:3"}},
       "tern.toml:3: certificate chain " + sans_key + " is not a PEM certificate: …"},
      {{{sans_pem, text, "tern.toml:3"}},
       "tern.toml:3: private key " + text + " is not a PEM private key (or is encrypted): …"},
      // A certificate where the key should be.
      {{{sans_pem, sans_pem, "tern.toml:3"}},
       "tern.toml:3: private key " + sans_pem + " is not a PEM private key (or is encrypted): …"},
      {{{sans_pem, path("other.key"), "tern.toml:3"}},
       "tern.toml:3: private key " + path("other.key") + " does not belong to the certificate in " +
           sans_pem},
      {{{sans_pem, path("default.key"), "tern.toml:3"}},
       "tern.toml:3: private key " + path("default.key") +
           " does not belong to the certificate in " + sans_pem},
      // Every bad certificate is listed, one per line; the good ones say nothing.
      {{source("default", "tern.toml:20"),
        {missing, sans_key, "tern.toml:23"},
        source("sans", "tern.toml:26"),
        {sans_pem, path("other.key"), "tern.toml:29"},
        {sans_pem, missing, "tern.toml:32"}},
       "tern.toml:23: cannot read certificate chain " + missing + ": No such file or directory\n" +
           "tern.toml:29: private key " + path("other.key") +
           " does not belong to the certificate in " + sans_pem + "\n" +
           "tern.toml:32: cannot read private key " + missing + ": No such file or directory"},
  };
  for (const auto& t : cases) {
    auto c = create(t.certificates);
    ASSERT_FALSE(c.ok()) << t.error;
    const std::string& got = c.error().message;
    if (t.error.ends_with("…")) {
      std::string start = t.error.substr(0, t.error.size() - std::string("…").size());
      EXPECT_TRUE(got.starts_with(start) && got.size() > start.size()) << got;
      EXPECT_EQ(got.find('\n'), std::string::npos) << got;
    } else {
      EXPECT_EQ(got, t.error);
    }
  }
}

TEST_F(ServerContextTest, EncryptedKeyIsRefusedNotAskedFor) {
  // Asked for a passphrase, OpenSSL reads the terminal, or standard input when there is
  // none: offer the right one there, and the key must still be refused without a prompt.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], "secret\nsecret\n", 14), 14);
  ::close(fds[1]);
  int saved_stdin = ::dup(0);
  ::dup2(fds[0], 0);
  ::close(fds[0]);
  auto c = create({{path("sans.pem"), path("encrypted.key"), ""}});
  ::dup2(saved_stdin, 0);
  ::close(saved_stdin);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.error().message.starts_with("private key " + path("encrypted.key") +
                                            " is not a PEM private key (or is encrypted): "))
      << c.error().message;
}

TEST_F(ServerContextTest, UnreadableKey) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  fs::copy_file(path("sans.key"), path("unreadable.key"), fs::copy_options::overwrite_existing);
  ::chmod(path("unreadable.key").c_str(), 0);
  auto c = create({{path("sans.pem"), path("unreadable.key"), "tern.toml:7"}});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "tern.toml:7: cannot read private key " + path("unreadable.key") +
                                   ": Permission denied");
}

struct SettingsCase {
  ServerSettings settings;
  std::string error;
};

TEST_F(ServerContextTest, BadCipherSettings) {
  const SettingsCase cases[] = {
      {{"TLSv1.2", "NO-SUCH-CIPHER", ""},
       "tls.ciphers 'NO-SUCH-CIPHER' names no cipher OpenSSL knows"},
      {{"TLSv1.2", "", "TLS_NO_SUCH_SUITE"},
       "tls.ciphersuites 'TLS_NO_SUCH_SUITE' names no TLS 1.3 suite OpenSSL knows"},
  };
  for (const auto& t : cases) {
    auto c = create({source("default")}, t.settings);
    ASSERT_FALSE(c.ok()) << t.error;
    EXPECT_EQ(c.error().message, t.error);
  }
}

// An in-memory handshake between the server context and a client that asks for `sni`
// (none when null) and speaks at most `max_version`.
class Handshake {
 public:
  Handshake(ServerContext& server, const char* sni, int max_version = 0)
      : client_ctx_(SSL_CTX_new(TLS_client_method()), SSL_CTX_free),
        client_(SSL_new(client_ctx_.get()), SSL_free),
        server_(SSL_new(server.asio().native_handle()), SSL_free) {
    BIO *client_bio = nullptr, *server_bio = nullptr;
    BIO_new_bio_pair(&client_bio, 0, &server_bio, 0);
    SSL_set_bio(client_.get(), client_bio, client_bio);
    SSL_set_bio(server_.get(), server_bio, server_bio);
    if (sni) SSL_set_tlsext_host_name(client_.get(), sni);
    if (max_version) SSL_set_max_proto_version(client_.get(), max_version);
    SSL_set_connect_state(client_.get());
    SSL_set_accept_state(server_.get());
    // Each round moves every flight across; a TLS 1.2 or 1.3 handshake needs a few.
    for (int round = 0; round < 10 && !(client_done_ && server_done_); ++round) {
      if (!step(client_.get(), client_done_) || !step(server_.get(), server_done_)) break;
    }
  }
  bool done() const { return client_done_ && server_done_; }
  // The CN of the certificate the server sent.
  std::string served_cn() const {
    X509* peer = SSL_get0_peer_certificate(client_.get());
    if (!peer) return "";
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn) <= 0)
      return "";
    return cn;
  }

 private:
  // One handshake step; false on a failure other than waiting for the peer.
  static bool step(SSL* ssl, bool& done) {
    if (done) return true;
    int rc = SSL_do_handshake(ssl);
    if (rc == 1) return done = true;
    int e = SSL_get_error(ssl, rc);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
  }

  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> client_ctx_;
  std::unique_ptr<SSL, decltype(&SSL_free)> client_;
  std::unique_ptr<SSL, decltype(&SSL_free)> server_;
  bool client_done_ = false, server_done_ = false;
};

struct HandshakeCase {
  const char* sni;
  const char* served;
};

TEST_F(ServerContextTest, SniChoosesTheCertificateInAHandshake) {
  auto c = create({source("default"), source("sans"), source("cn_only"), source("dup")});
  ASSERT_TRUE(c.ok()) << c.error().message;
  const HandshakeCase cases[] = {
      {nullptr, "default.example"},       {"a.example", "sans.example"},
      {"x.wild.example", "sans.example"}, {"Mail.CN.example", "Mail.CN.Example"},
      {"C.EXAMPLE", "dup.example"},       {"unknown.example", "default.example"},
  };
  for (const auto& t : cases) {
    Handshake h(**c, t.sni);
    ASSERT_TRUE(h.done()) << (t.sni ? t.sni : "(no SNI)");
    EXPECT_EQ(h.served_cn(), t.served) << (t.sni ? t.sni : "(no SNI)");
  }
}

TEST_F(ServerContextTest, MinVersionRefusesOlderClients) {
  ServerSettings tls13;
  tls13.min_version = "TLSv1.3";
  auto c = create({source("default")}, tls13);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(Handshake(**c, "default.example", TLS1_2_VERSION).done());
  EXPECT_TRUE(Handshake(**c, "default.example", TLS1_3_VERSION).done());

  auto c12 = create({source("default")});
  ASSERT_TRUE(c12.ok()) << c12.error().message;
  EXPECT_TRUE(Handshake(**c12, "default.example", TLS1_2_VERSION).done());
  EXPECT_FALSE(Handshake(**c12, "default.example", TLS1_1_VERSION).done());
}

}  // namespace
}  // namespace tern::tls
