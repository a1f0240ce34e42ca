// Test helper shared by the policy tests: a configuration whose domains are set directly,
// one of each kind that matters to policy/.
#pragma once

#include "config/config.hpp"

namespace tern::policy::testing {

// Ours: example.com (domains.local), lmtp.example and gone.example ([transport] lmtp and
// error). Not ours: routed.example ([transport] smtp, a next hop) and everything else.
inline config::Config config_with_domains() {
  config::Config c;
  c.local_domains = {"example.com"};
  c.transports["lmtp.example"].kind = config::TransportKind::lmtp;
  c.transports["gone.example"].kind = config::TransportKind::error;
  c.transports["routed.example"].kind = config::TransportKind::smtp;
  return c;
}

}  // namespace tern::policy::testing
