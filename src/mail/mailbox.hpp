// Whether a local part can name a mailbox on disk: checked at RCPT (550 5.1.3) and again by
// the delivery agents, so no address can escape the mail root ("../x", "a/b").
#pragma once

#include <string_view>

namespace tern::mail {

inline bool safe_mailbox_name(std::string_view local) {
  if (local.empty() || local.front() == '.') return false;
  for (char c : local)
    if (c == '/' || c == '\0') return false;
  return true;
}

}  // namespace tern::mail
