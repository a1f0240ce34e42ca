// The TLS client context: it builds with TLS 1.2 as the floor; per-connection setup sends
// SNI for names only (RFC 6066 §3) and verifies names and addresses; the log text has
// Postfix's shape.
#include <gtest/gtest.h>

#include <openssl/ssl.h>

#include "tls/client_context.hpp"

namespace tern::tls {
namespace {

struct Ssl {
  explicit Ssl(ClientContext& c) : ssl(SSL_new(c.asio().native_handle())) {}
  ~Ssl() { SSL_free(ssl); }
  SSL* ssl;
};

TEST(ClientContext, BuildsWithTls12AsTheFloor) {
  auto c = ClientContext::create();
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*c)->asio().native_handle()), TLS1_2_VERSION);
}

TEST(ClientContext, RejectsABadCipherList) {
  auto c = ClientContext::create("NO-SUCH-CIPHER");
  EXPECT_FALSE(c.ok());
}

TEST(ClientContext, SniForNamesOnly) {
  auto c = ClientContext::create();
  ASSERT_TRUE(c.ok());
  Ssl name(**c), address(**c);
  ASSERT_TRUE(prepare(name.ssl, "mx.example.net", false).ok());
  ASSERT_TRUE(prepare(address.ssl, "192.0.2.1", false).ok());
  EXPECT_STREQ(SSL_get_servername(name.ssl, TLSEXT_NAMETYPE_host_name), "mx.example.net");
  EXPECT_EQ(SSL_get_servername(address.ssl, TLSEXT_NAMETYPE_host_name), nullptr);
  EXPECT_EQ(SSL_get_verify_mode(name.ssl), SSL_VERIFY_NONE);
}

TEST(ClientContext, VerifyChecksTheNameOrAddress) {
  auto c = ClientContext::create();
  ASSERT_TRUE(c.ok());
  Ssl name(**c), address(**c);
  ASSERT_TRUE(prepare(name.ssl, "mx.example.net", true).ok());
  ASSERT_TRUE(prepare(address.ssl, "2001:db8::25", true).ok());
  EXPECT_EQ(SSL_get_verify_mode(name.ssl), SSL_VERIFY_PEER);
  EXPECT_STREQ(X509_VERIFY_PARAM_get0_host(SSL_get0_param(name.ssl), 0), "mx.example.net");
  EXPECT_EQ(SSL_get_verify_mode(address.ssl), SSL_VERIFY_PEER);
  char* ip = X509_VERIFY_PARAM_get1_ip_asc(SSL_get0_param(address.ssl));
  ASSERT_NE(ip, nullptr);
  EXPECT_STREQ(ip, "2001:DB8:0:0:0:0:0:25");
  OPENSSL_free(ip);
}

TEST(Established, TextIsPostfixShaped) {
  Established e{Trust::untrusted, "TLSv1.3", "TLS_AES_256_GCM_SHA384", 256, 256};
  EXPECT_EQ(e.text(), "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)");
  EXPECT_STREQ(e.trust_word(), "Untrusted");
  e.trust = Trust::trusted;
  EXPECT_STREQ(e.trust_word(), "Trusted");
  e.trust = Trust::verified;
  EXPECT_STREQ(e.trust_word(), "Verified");
}

}  // namespace
}  // namespace tern::tls
