// ASCII case folding for protocol names (domains, mailbox names, SASL logins): only A-Z
// change, whatever the locale, and bytes of UTF-8 pass untouched.
#pragma once

#include <string>
#include <string_view>

namespace tern {

inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = ascii_lower(c);
  return out;
}

}  // namespace tern
