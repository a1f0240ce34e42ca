// What secures SMTP sessions, built by app/ from the configuration (certificates read by
// tls/, the AUTH backend opened by auth/, the sender login map read by policy/) and swapped
// whole with it on SIGHUP: a session keeps the one it began with, so a reload changes
// certificates without dropping a connection.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "auth/backend.hpp"
#include "core/current.hpp"
#include "policy/sender_logins.hpp"
#include "tls/server_context.hpp"

namespace tern::inbound {

struct Security {
  // Per listener address (as written in the configuration): its TLS context. A listener
  // not in the map (added since) uses default_tls; null: no TLS there.
  std::map<std::string, std::shared_ptr<tls::ServerContext>> listener_tls;
  std::shared_ptr<tls::ServerContext> default_tls;  // from [[tls.certificate]]; may be null
  std::shared_ptr<auth::Backend> auth;               // null: no AUTH
  std::shared_ptr<const policy::SenderLogins> sender_logins;  // null: no map

  std::shared_ptr<tls::ServerContext> tls_for(const std::string& listener_address) const {
    auto it = listener_tls.find(listener_address);
    return it != listener_tls.end() ? it->second : default_tls;
  }
};

using CurrentSecurity = tern::Current<Security>;

}  // namespace tern::inbound
