// Relay control: who may send mail through Tern to domains that are not its own.
//
// A recipient in one of our domains (domains.local or a [transport] that ends here) is
// taken from anyone; any other recipient only from a client that authenticated (RFC 4954)
// or connects from relay.networks. Nothing else opens the relay. In particular the old
// tricks that fooled MTAs into relaying are inert because Tern never reinterprets a local
// part: "user%other@ours" (the percent hack), "b!user@ours" (a UUCP bang path) and
// "\"user@other\"@ours" (a quoted '@') are local parts of OUR domain, delivered here or
// refused as unknown, and never forwarded to "other". A source route "<@a:user@other>"
// is parsed to user@other (RFC 5321 §4.1.1.3 says to ignore the route) and judged as that.
// Domains are compared as lower-case A-labels, so case and IDN forms change nothing.
#pragma once

#include <string_view>

#include "config/config.hpp"

namespace tern::policy {

enum class RelayVerdict {
  ours,     // the domain ends here: accept from anyone
  relay,    // not ours, and this client may relay
  refused,  // not ours, and this client may not: 554 5.7.1 Relay access denied
};

// `domain_ascii` is the recipient's domain as a lower-case A-label, `literal` whether it
// was an address literal ([192.0.2.1]: never one of ours), `client_ip` the client's address
// in text form, `authenticated` whether the session completed AUTH. With `transport`, an
// `ours` verdict also says which transport takes the domain's mail (looked up once).
RelayVerdict judge_recipient(const config::Config& config, std::string_view domain_ascii,
                             bool literal, std::string_view client_ip, bool authenticated,
                             const config::Transport** transport = nullptr);

}  // namespace tern::policy
