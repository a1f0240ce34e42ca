// Builds what secures the SMTP listeners from a configuration: the TLS context of each
// listener (certificates read now), the AUTH backend and the sender login map. ternd calls
// it at start (as root, before dropping privileges), on SIGHUP (as its own user: keys must
// be readable by it, e.g. through the ssl-cert group) and for --check.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "core/result.hpp"
#include "inbound/security.hpp"

namespace tern::app {

// Errors: one "file:line: problem" per line (the line of the setting that names the file).
Result<std::shared_ptr<const inbound::Security>> build_security(const config::Config& config);

}  // namespace tern::app
