// Header field lookup; see headers.hpp.
#include "mail/headers.hpp"

#include <cstdint>

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

namespace {

// The values of the `name:` fields of the header section, unfolded and trimmed, at most
// `most` of them (a lookup for the first stops there: Message-ID on every message).
std::vector<std::string> fields(std::string_view message, std::string_view name,
                                std::size_t most) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < message.size() && out.size() < most) {
    std::size_t eol = message.find('\n', pos);
    if (eol == std::string_view::npos) eol = message.size();
    std::string_view line = message.substr(pos, eol - pos);
    if (line.empty() || line == "\r") return out;  // the body begins
    std::size_t colon = line.find(':');
    bool continuation = line.front() == ' ' || line.front() == '\t';
    // "From :" (RFC 5322 §4.5.1 obsolete white space before the colon) is a From: too.
    if (!continuation && colon != std::string_view::npos &&
        iequal(trim(line.substr(0, colon)), name)) {
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
      out.push_back(std::move(value));
    }
    pos = eol + 1;
  }
  return out;
}

}  // namespace

std::vector<std::string> find_headers(std::string_view message, std::string_view name) {
  return fields(message, name, SIZE_MAX);
}

std::optional<std::string> find_header(std::string_view message, std::string_view name) {
  auto first = fields(message, name, 1);
  if (first.empty()) return std::nullopt;
  return std::move(first.front());
}

namespace {
// One mailbox of an address list, comments already removed: the angle-addr when there is
// one, else the whole (an addr-spec). False when it cannot be trusted (see header.hpp).
bool add_mailbox(std::string_view text, std::string_view angle, bool has_angle, bool bare_at,
                 std::vector<std::string>& out) {
  std::string_view spec = has_angle ? angle : trim(text);
  if (has_angle) {
    if (bare_at) return false;  // an unquoted '@' in the display name
    if (auto colon = spec.find(':'); !spec.empty() && spec.front() == '@' && colon != spec.npos)
      spec.remove_prefix(colon + 1);
    spec = trim(spec);
  }
  if (!spec.empty()) out.emplace_back(spec);
  return true;
}
}  // namespace

std::optional<std::vector<std::string>> header_addresses(std::string_view value) {
  std::vector<std::string> out;
  std::string text;   // the current element outside comments and angle brackets
  std::string angle;  // inside <...>
  bool has_angle = false, in_angle = false, in_quote = false, after_angle = false;
  bool bare_at = false;  // an '@' outside quotes, comments and angle brackets
  int comment = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    std::string& target = in_angle ? angle : text;
    if (in_quote) {
      target += c;
      if (c == '\\' && i + 1 < value.size()) target += value[++i];
      else if (c == '"') in_quote = false;
      continue;
    }
    if (comment > 0) {
      if (c == '\\') ++i;
      else if (c == '(') ++comment;
      else if (c == ')') --comment;
      continue;
    }
    if (after_angle && c != ' ' && c != '\t' && c != '(' && c != ',' && c != ';')
      return std::nullopt;  // "<a@b> c@d": what would a client show?
    switch (c) {
      case '"': in_quote = true; target += c; break;
      case '(': ++comment; break;
      case '<':
        if (in_angle || has_angle) return std::nullopt;
        in_angle = has_angle = true;
        angle.clear();
        break;
      case '>':
        if (!in_angle) return std::nullopt;
        in_angle = false;
        after_angle = true;
        break;
      case ':':  // a group's display name ends
        if (in_angle) {
          angle += c;
        } else {
          text.clear();
          bare_at = false;
        }
        break;
      case ',':
      case ';':
        if (in_angle) {
          angle += c;
          break;
        }
        if (!add_mailbox(text, angle, has_angle, bare_at, out)) return std::nullopt;
        text.clear();
        angle.clear();
        has_angle = after_angle = bare_at = false;
        break;
      default:
        if (c == '@' && !in_angle) bare_at = true;
        target += c;
    }
  }
  if (in_quote || in_angle || comment > 0) return std::nullopt;
  if (!add_mailbox(text, angle, has_angle, bare_at, out)) return std::nullopt;
  return out;
}

}  // namespace tern::mail
