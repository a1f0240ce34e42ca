// See relay.hpp.
#include "policy/relay.hpp"

namespace tern::policy {

RelayVerdict judge_recipient(const config::Config& config, std::string_view domain_ascii,
                             bool literal, std::string_view client_ip, bool authenticated,
                             const config::Transport** transport) {
  if (!literal) {
    const config::Transport* t = config.transport_for(domain_ascii);
    if (t && t->accepts_mail()) {
      if (transport) *transport = t;
      return RelayVerdict::ours;
    }
  }
  if (authenticated || config.may_relay(client_ip)) return RelayVerdict::relay;
  return RelayVerdict::refused;
}

}  // namespace tern::policy
