// Header field lookup; see headers.hpp.
#include "mail/headers.hpp"

namespace tern::mail {
namespace {
bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}
}  // namespace

std::optional<std::string> find_header(std::string_view message, std::string_view name) {
  std::size_t pos = 0;
  while (pos < message.size()) {
    std::size_t eol = message.find('\n', pos);
    if (eol == std::string_view::npos) eol = message.size();
    std::string_view line = message.substr(pos, eol - pos);
    if (trim(line).empty() && (line.empty() || line == "\r")) return std::nullopt;  // body
    std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && iequal(trim(line.substr(0, colon)), name)) {
      std::string value(trim(line.substr(colon + 1)));
      // Continuation lines start with white space (RFC 5322 §2.2.3).
      std::size_t next = eol + 1;
      while (next < message.size() && (message[next] == ' ' || message[next] == '\t')) {
        std::size_t end = message.find('\n', next);
        if (end == std::string_view::npos) end = message.size();
        value += " ";
        value += trim(message.substr(next, end - next));
        next = end + 1;
      }
      return value;
    }
    pos = eol + 1;
  }
  return std::nullopt;
}

}  // namespace tern::mail
