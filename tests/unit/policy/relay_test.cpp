// judge_recipient: our domains (domains.local, [transport] kinds that end here) take mail
// from anyone; other domains, address literals and [transport] smtp next hops only from
// relay.networks or an authenticated client.
#include <gtest/gtest.h>

#include "domains.hpp"
#include "policy/relay.hpp"

namespace tern::policy {
namespace {

struct RelayCase {
  const char* domain;
  bool literal;
  const char* client_ip;
  bool authenticated;
  RelayVerdict verdict;
};

TEST(JudgeRecipient, Table) {
  config::Config c = testing::config_with_domains();
  c.relay_networks = {*config::Network::parse("192.0.2.0/24"),
                      *config::Network::parse("2001:db8::/32")};

  using enum RelayVerdict;
  const char* stranger = "203.0.113.9";
  const RelayCase cases[] = {
      // Ours, from anyone.
      {"example.com", false, stranger, false, ours},
      {"lmtp.example", false, stranger, false, ours},
      {"gone.example", false, stranger, false, ours},
      {"example.com", false, "192.0.2.1", true, ours},
      // A [transport] smtp domain is routed, not ours.
      {"routed.example", false, stranger, false, refused},
      {"routed.example", false, stranger, true, relay},
      {"routed.example", false, "192.0.2.1", false, relay},
      // Somebody else's domain.
      {"other.example", false, stranger, false, refused},
      {"other.example", false, "192.0.2.200", false, relay},
      {"other.example", false, "2001:db8::25", false, relay},
      {"other.example", false, "::ffff:192.0.2.3", false, relay},
      {"other.example", false, "198.51.100.1", false, refused},
      {"other.example", false, "2001:db9::25", false, refused},
      {"other.example", false, stranger, true, relay},
      {"other.example", false, "", false, refused},
      {"other.example", false, "not an address", false, refused},
      // A domain is compared as given (the caller lower-cases it): a near miss is not ours.
      {"sub.example.com", false, stranger, false, refused},
      {"example.com.evil", false, stranger, false, refused},
      // An address literal is never ours, even one spelling a local name.
      {"example.com", true, stranger, false, refused},
      {"192.0.2.25", true, stranger, false, refused},
      {"192.0.2.25", true, stranger, true, relay},
      {"192.0.2.25", true, "192.0.2.1", false, relay},
  };
  for (const auto& t : cases)
    EXPECT_EQ(judge_recipient(c, t.domain, t.literal, t.client_ip, t.authenticated), t.verdict)
        << t.domain << " literal=" << t.literal << " from " << t.client_ip
        << " auth=" << t.authenticated;
}

TEST(JudgeRecipient, NoRelayNetworksMeansAuthenticatedOnly) {
  config::Config c;
  EXPECT_EQ(judge_recipient(c, "other.example", false, "127.0.0.1", false), RelayVerdict::refused);
  EXPECT_EQ(judge_recipient(c, "other.example", false, "127.0.0.1", true), RelayVerdict::relay);
}

}  // namespace
}  // namespace tern::policy
