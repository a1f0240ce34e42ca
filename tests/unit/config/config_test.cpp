// Configuration loading: the issue's example file, defaults, unknown keys and bad values
// reported as file:line, CIDR matching for relay.networks.
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "temp_config.hpp"

namespace tern::config {
namespace {

using testing::write_temp;

const char* example = R"(
[server]
hostname = "mx.example.test"
[spool]
path = "var/spool"
[[listener]]
address = "127.0.0.1:2525"
[[listener]]
address = "[::1]:2525"
[domains]
local = ["localhost", "Example.TEST", "bücher.example"]
catch_all = true
[delivery.maildir]
root = "var/mail"
[relay]
networks = ["127.0.0.0/8", "::1/128"]
)";

TEST(Config, LoadsTheIssueExample) {
  auto c = load(write_temp(example));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ((*c)->hostname, "mx.example.test");
  ASSERT_EQ((*c)->listeners.size(), 2u);
  EXPECT_EQ((*c)->listeners[1].host, "::1");
  EXPECT_EQ((*c)->listeners[1].port, 2525);
  EXPECT_TRUE((*c)->is_local("example.test"));
  EXPECT_TRUE((*c)->is_local("xn--bcher-kva.example"));
  EXPECT_FALSE((*c)->is_local("example.org"));
  EXPECT_TRUE((*c)->may_relay("127.0.0.5"));
  EXPECT_TRUE((*c)->may_relay("::1"));
  EXPECT_FALSE((*c)->may_relay("192.0.2.1"));
  EXPECT_EQ((*c)->limits.message_size, 50ull * 1024 * 1024);
  EXPECT_EQ((*c)->limits.recipients, 1000u);
}

TEST(Config, UnknownKeysAreErrorsWithFileAndLine) {
  std::string path = write_temp(std::string(example) + "[limits]\nrecipient = 5\n");
  auto c = load(path);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find(path + ":18: unknown setting 'limits.recipient'"),
            std::string::npos)
      << c.error().message;
}

TEST(Config, EveryProblemIsListed) {
  std::string path = write_temp(R"([server]
hostname = 5
[[listener]]
address = "localhost:25"
[relay]
networks = ["10.0.0.0/33"]
[limits]
recipients = 10
message_size = "12X"
)");
  auto c = load(path);
  ASSERT_FALSE(c.ok());
  const auto& m = c.error().message;
  EXPECT_NE(m.find(path + ":2: server.hostname must be a string"), std::string::npos) << m;
  EXPECT_NE(m.find(path + ":4: listener.address"), std::string::npos) << m;
  EXPECT_NE(m.find(path + ":6: relay.networks"), std::string::npos) << m;
  EXPECT_NE(m.find(path + ":8: limits.recipients must be at least 100"), std::string::npos) << m;
  EXPECT_NE(m.find(path + ":9: limits.message_size"), std::string::npos) << m;
}

TEST(Config, ValuesOutsideTheirRangeAreErrors) {
  std::string path = write_temp(std::string(example) +
                                "[limits]\nmessage_size = 0\nerrors = 0\nrecipients = 5000000000\n");
  auto c = load(path);
  ASSERT_FALSE(c.ok());
  const auto& m = c.error().message;
  EXPECT_NE(m.find(path + ":18: limits.message_size must be"), std::string::npos) << m;
  EXPECT_NE(m.find(path + ":19: limits.errors must be"), std::string::npos) << m;
  EXPECT_NE(m.find(path + ":20: limits.recipients must be"), std::string::npos) << m;
}

TEST(Config, SizesAndDurations) {
  auto c = load(write_temp(std::string(example) +
                           "[limits]\nmessage_size = \"10M\"\ncommand_timeout = \"2m\"\n"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ((*c)->limits.message_size, 10u * 1024 * 1024);
  EXPECT_EQ((*c)->limits.command_timeout.count(), 120);
}

// A DNS server that is not an address fails --check, not the start.
TEST(Config, DnsServersMustBeAddresses) {
  auto c = load(write_temp(std::string(example) +
                           "[dns]\nforwarders = [\"192.0.2.53\", \"127.0.0.1@5353\", \"::1\"]\n"
                           "stub_zones = { \"x.test\" = [\"127.0.0.2@53\"] }\n"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  std::string path = write_temp(std::string(example) +
                                "[dns]\nforwarders = [\"dns.example\"]\n"
                                "stub_zones = { \"x.test\" = [\"127.0.0.1@99999\"] }\n");
  c = load(path);
  ASSERT_FALSE(c.ok());
  const auto& m = c.error().message;
  EXPECT_NE(m.find(path + ":18: dns.forwarders: 'dns.example' is not an IP address"),
            std::string::npos) << m;
  EXPECT_NE(m.find(path + ":19: dns.stub_zones.x.test: '127.0.0.1@99999' is not an IP address"),
            std::string::npos) << m;
}

// Range errors of a dotted table ([delivery.smtp]) name the setting's own line.
TEST(Config, RangeErrorsInDottedTablesHaveTheirLine) {
  std::string path = write_temp(std::string(example) +
                                "[delivery.smtp]\nport = 25\ndestination_concurrency = 0\n");
  auto c = load(path);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find(path + ":19: delivery.smtp.destination_concurrency must be"),
            std::string::npos) << c.error().message;
}

TEST(Config, DnsTimeout) {
  auto c = load(write_temp(example));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ((*c)->dns.timeout.count(), 30);
  c = load(write_temp(std::string(example) + "[dns]\ntimeout = \"2s\"\n"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ((*c)->dns.timeout.count(), 2);
  std::string path = write_temp(std::string(example) + "[dns]\ntimeout = 0\n");
  c = load(path);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find(path + ":18: dns.timeout must be 1 second to 10 minutes"),
            std::string::npos)
      << c.error().message;
}

TEST(Config, SyntaxErrorHasLine) {
  std::string path = write_temp("[server]\nhostname = \n");
  auto c = load(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message.rfind(path + ":2: ", 0), 0u) << c.error().message;
}

struct NetCase {
  const char* net;
  const char* ip;
  bool inside;
};

TEST(Network, Contains) {
  const NetCase cases[] = {
      {"127.0.0.0/8", "127.1.2.3", true},   {"127.0.0.0/8", "128.0.0.1", false},
      {"10.1.2.3/8", "10.200.0.1", true},   {"192.0.2.0/24", "192.0.3.1", false},
      {"::1/128", "::1", true},             {"::1/128", "::2", false},
      {"2001:db8::/32", "2001:db8:ffff::1", true}, {"0.0.0.0/0", "203.0.113.9", true},
      {"127.0.0.0/8", "::ffff:127.0.0.1", true},   {"192.0.2.7", "192.0.2.7", true},
      {"192.0.2.7", "192.0.2.8", false},
      // An IPv6 network never matches IPv4 clients: "::/0" is not an open relay for IPv4.
      {"::/0", "192.0.2.1", false},         {"::/0", "2001:db8::1", true},
      {"::ffff:0:0/96", "192.0.2.1", true}, {"0.0.0.0/0", "2001:db8::1", false},
  };
  for (auto& c : cases) {
    auto n = Network::parse(c.net);
    ASSERT_TRUE(n) << c.net;
    auto ip = parse_ip(c.ip);
    ASSERT_TRUE(ip) << c.ip;
    EXPECT_EQ(n->contains(*ip), c.inside) << c.net << " " << c.ip;
  }
  EXPECT_FALSE(Network::parse("10.0.0.0/"));
  EXPECT_FALSE(Network::parse("nonsense/8"));
  EXPECT_FALSE(Network::parse("::/129"));
}

}  // namespace
}  // namespace tern::config
