// Reading header fields out of message text (RFC 5322 §2.2, §3.6): the first field of a
// name in the header section, unfolded. For logs and policy, not for rewriting. The text
// is untrusted: a missing or malformed header section simply yields nothing.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::mail {

// The value of the first `name:` field (case-insensitive) before the first empty line,
// unfolded (CRLF + WSP become the WSP) and trimmed; nullopt when there is none.
std::optional<std::string> find_header(std::string_view message, std::string_view name);

// The addr-specs of an address-list field value (RFC 5322 §3.4: "Name <a@b>, c@d (note),
// group: e@f;"), in order: display names, comments and group names dropped, a route in
// angle brackets ("<@x:a@b>", RFC 5322 §4.4) dropped, quoted strings kept as written.
// nullopt when the value is not one a policy can trust to mean what a mail client shows:
// unbalanced quotes, comments or brackets, a stray '>', text after an angle-addr, or an
// unquoted '@' in a display name ("ceo@example.org <me@example.net>").
std::optional<std::vector<std::string>> header_addresses(std::string_view value);

// The values of every `name:` field of the header section, unfolded and trimmed, in order
// (find_header gives the first only). A field name is at the very start of a line: a line
// that starts with white space continues the field before it (RFC 5322 §2.2.3).
std::vector<std::string> find_headers(std::string_view message, std::string_view name);

}  // namespace tern::mail
