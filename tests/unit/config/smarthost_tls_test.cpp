// TLS and AUTH settings of the SMTP client: [delivery.smtp] tls, [relay] smarthost_tls,
// smarthost_user, smarthost_password_file and smarthost_password; defaults, values, and the
// combinations that are errors (reported as file:line).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config/config.hpp"

namespace tern::config {
namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  auto path = std::filesystem::temp_directory_path() /
              ("tern-tls-config-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(path) << text;
  return path.string();
}

// Line 7 is [relay]; the settings under test follow it from line 8.
std::string config_with(const std::string& relay, const std::string& rest = "") {
  return "[server]\nhostname = \"mx.example.test\"\n[spool]\npath = \"var/spool\"\n"
         "[[listener]]\naddress = \"127.0.0.1:2525\"\n[relay]\n" +
         relay + rest;
}

Result<std::shared_ptr<const Config>> load_text(const std::string& name, const std::string& text) {
  return load(write_temp(name + ".toml", text));
}

TEST(SmarthostTls, DefaultsAreOpportunistic) {
  auto c = load_text("defaults", config_with("smarthost = \"[relay.example]:587\"\n"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ((*c)->smtp_client.tls, TlsPolicy::may);
  ASSERT_TRUE((*c)->smarthost);
  EXPECT_EQ((*c)->smarthost->tls, TlsPolicy::may);
  EXPECT_TRUE((*c)->smarthost->user.empty());
}

TEST(SmarthostTls, ReadsPoliciesAndThePasswordFile) {
  auto pw = write_temp("pw", "hunter2\nsecond line ignored\n");
  auto c = load_text("full", config_with("smarthost = \"[relay.example]:587\"\n"
                                         "smarthost_tls = \"verify\"\n"
                                         "smarthost_user = \"me@example.org\"\n"
                                         "smarthost_password_file = \"" + pw + "\"\n",
                                         "[delivery.smtp]\ntls = \"encrypt\"\n"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ((*c)->smtp_client.tls, TlsPolicy::encrypt);
  EXPECT_EQ((*c)->smarthost->tls, TlsPolicy::verify);
  EXPECT_EQ((*c)->smarthost->user, "me@example.org");
  EXPECT_EQ((*c)->smarthost->password, "hunter2");
}

TEST(SmarthostTls, PasswordFileWithCrlfAndInlinePassword) {
  auto pw = write_temp("pw-crlf", "pass word\r\n");
  auto c = load_text("crlf", config_with("smarthost = \"[relay.example]\"\n"
                                         "smarthost_user = \"u\"\n"
                                         "smarthost_password_file = \"" + pw + "\"\n"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ((*c)->smarthost->password, "pass word");
  c = load_text("inline", config_with("smarthost = \"[relay.example]\"\n"
                                      "smarthost_user = \"u\"\nsmarthost_password = \"p\"\n"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ((*c)->smarthost->password, "p");
}

TEST(SmarthostTls, ErrorsNameTheFileAndLine) {
  auto missing = std::filesystem::temp_directory_path() / "tern-no-such-password-file";
  auto empty = write_temp("pw-empty", "\n");
  struct Case {
    std::string relay, rest, expected;
  } table[] = {
      {"smarthost_user = \"u\"\nsmarthost_password = \"p\"\n", "",
       ":8: relay.smarthost_user needs relay.smarthost"},
      {"smarthost_tls = \"encrypt\"\n", "", ":8: relay.smarthost_tls needs relay.smarthost"},
      {"smarthost = \"[r.example]\"\nsmarthost_user = \"u\"\n", "",
       ":9: relay.smarthost_user needs relay.smarthost_password_file"},
      {"smarthost = \"[r.example]\"\nsmarthost_password = \"p\"\n", "",
       ":9: a smarthost password needs relay.smarthost_user"},
      {"smarthost = \"[r.example]\"\nsmarthost_user = \"u\"\nsmarthost_password_file = \"" +
           missing.string() + "\"\n",
       "", ":10: relay.smarthost_password_file: cannot read " + missing.string()},
      {"smarthost = \"[r.example]\"\nsmarthost_user = \"u\"\nsmarthost_password_file = \"" +
           empty + "\"\n",
       "", ":10: relay.smarthost_password_file: " + empty + " holds no password"},
      {"smarthost = \"[r.example]\"\nsmarthost_user = \"u\"\nsmarthost_password = \"p\"\n"
       "smarthost_tls = \"none\"\n",
       "", ":9: relay.smarthost_user needs TLS"},
      {"smarthost = \"[r.example]\"\nsmarthost_tls = \"dane\"\n", "",
       ":9: relay.smarthost_tls must be \"none\", \"may\", \"encrypt\" or \"verify\""},
      {"", "[delivery.smtp]\ntls = \"secure\"\n",
       ":9: delivery.smtp.tls must be \"none\", \"may\", \"encrypt\" or \"verify\""},
      {"smarthost = \"[r.example]\"\nsmarthost_user = \"u\"\nsmarthost_password = \"p\"\n"
       "smarthost_password_file = \"/x\"\n",
       "", ":10: relay.smarthost_password and relay.smarthost_password_file: choose one"},
  };
  int n = 0;
  for (auto& c : table) {
    auto path = write_temp("bad" + std::to_string(n++) + ".toml", config_with(c.relay, c.rest));
    auto got = load(path);
    ASSERT_FALSE(got.ok()) << c.relay << c.rest;
    EXPECT_NE(got.error().message.find(path + c.expected), std::string::npos)
        << got.error().message;
  }
}

}  // namespace
}  // namespace tern::config
