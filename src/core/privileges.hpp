// Dropping root: ternd binds its ports as root, then runs as an unprivileged user
// (DESIGN.md "Runtime model"; Postfix's mail_owner). The directories the daemon writes are
// created and handed to that user first, so a fresh install works without extra steps.
#pragma once

#include <string>
#include <vector>

#include "core/result.hpp"

namespace tern {

// When running as root: creates each of `dirs` if missing, gives it to `user` (and its
// primary group), then switches the process to that user and group (supplementary groups
// dropped). Does nothing when not root. Fails when the user does not exist or a step fails;
// the caller must then stop rather than run as root.
Status drop_privileges(const std::string& user, const std::vector<std::string>& dirs);

}  // namespace tern
