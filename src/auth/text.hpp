// Small text helpers shared by the auth parsers (SCRAM messages and credentials, the Dovecot
// auth protocol). Input: any text; nothing here allocates more than its result.
#pragma once

#include <string_view>
#include <vector>

namespace tern::auth {

// The fields of `text` between `separator`s: "a,,b" is {"a", "", "b"}; "" is {""}.
inline std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> fields;
  for (;;) {
    auto at = text.find(separator);
    fields.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return fields;
    text.remove_prefix(at + 1);
  }
}

}  // namespace tern::auth
