// Reading header fields out of message text (RFC 5322 §2.2, §3.6): the first field of a
// name in the header section, unfolded. For logs and policy, not for rewriting. The text
// is untrusted: a missing or malformed header section simply yields nothing.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tern::mail {

// The value of the first `name:` field (case-insensitive) before the first empty line,
// unfolded (CRLF + WSP become the WSP) and trimmed; nullopt when there is none.
std::optional<std::string> find_header(std::string_view message, std::string_view name);

}  // namespace tern::mail
