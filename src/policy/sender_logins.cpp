// See sender_logins.hpp.
#include "policy/sender_logins.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/ascii.hpp"
#include "mail/address.hpp"

namespace tern::policy {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<std::string> split_logins(std::string_view value) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : value) {
    if (c == ',' || c == ' ' || c == '\t') {
      if (!cur.empty()) out.push_back(ascii_lower(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(ascii_lower(cur));
  return out;
}

}  // namespace

std::shared_ptr<const SenderLogins> SenderLogins::parse(std::string_view text,
                                                        const std::string& path,
                                                        std::string& errors) {
  auto out = std::make_shared<SenderLogins>();
  std::size_t lineno = 0;
  auto problem = [&](const std::string& what) {
    if (!errors.empty()) errors += "\n";
    errors += path + ":" + std::to_string(lineno) + ": " + what;
  };
  while (!text.empty()) {
    auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    ++lineno;
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    auto end = line.find_first_of(" \t:");
    if (end == std::string_view::npos) {
      problem("'" + std::string(line) + "' has no login: write 'address  login, login'");
      continue;
    }
    std::string key = canonical_address(line.substr(0, end));
    std::string_view rest = trim(line.substr(end));
    if (!rest.empty() && rest.front() == ':') rest = trim(rest.substr(1));
    auto logins = split_logins(rest);
    if (key.find('@') == std::string::npos) {
      problem("'" + key + "' is not an address or @domain");
      continue;
    }
    if (logins.empty()) {
      problem("'" + key + "' has no login");
      continue;
    }
    if (out->entries_.count(key)) {
      problem("'" + key + "' is listed twice");
      continue;
    }
    out->entries_.emplace(std::move(key), std::move(logins));
  }
  return out;
}

Result<std::shared_ptr<const SenderLogins>> SenderLogins::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail("cannot read sender login map " + path + ": " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string errors;
  auto map = parse(ss.str(), path, errors);
  if (!errors.empty()) return fail(errors);
  return map;
}

std::string canonical_address(std::string_view address) {
  if (!address.empty() && address.front() == '@') {
    std::string ascii = mail::domain_to_ascii(address.substr(1));
    return ascii.empty() ? ascii_lower(address) : "@" + ascii;
  }
  auto parsed = mail::parse_mailbox(address, true);
  if (!parsed || parsed->domain_ascii.empty()) return ascii_lower(address);
  return ascii_lower(parsed->local) + "@" + parsed->domain_ascii;
}

namespace {

// "sales+x@d" → "sales@d" (the first delimiter character splits), or "" without one.
std::string without_extension(const std::string& canonical, std::string_view delimiters) {
  auto at = canonical.rfind('@');
  if (delimiters.empty() || at == std::string::npos) return "";
  auto cut = canonical.find_first_of(delimiters);
  if (cut == std::string::npos || cut >= at || cut == 0) return "";
  return canonical.substr(0, cut) + canonical.substr(at);
}

}  // namespace

const std::vector<std::string>* SenderLogins::logins_for(std::string_view address,
                                                         std::string_view delimiters) const {
  std::string key = canonical_address(address);
  if (auto it = entries_.find(key); it != entries_.end()) return &it->second;
  if (auto base = without_extension(key, delimiters); !base.empty())
    if (auto it = entries_.find(base); it != entries_.end()) return &it->second;
  auto at = key.rfind('@');
  if (at == std::string::npos) return nullptr;
  if (auto it = entries_.find(key.substr(at)); it != entries_.end()) return &it->second;
  return nullptr;
}

bool owns_by_name(std::string_view login, std::string_view sender, const config::Config& config) {
  std::string l = canonical_address(login), s = canonical_address(sender);
  std::string base = without_extension(s, config.route.recipient_delimiter);
  if (l == s || l == base) return true;
  if (l.find('@') != std::string::npos) return false;
  auto at = s.rfind('@');
  if (at == std::string::npos) return false;
  std::string_view local = std::string_view(base.empty() ? s : base);
  local = local.substr(0, local.rfind('@'));
  if (local != l) return false;
  const config::Transport* t = config.transport_for(s.substr(at + 1));
  return t && t->accepts_mail();
}

}  // namespace tern::policy
