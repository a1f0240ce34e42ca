// See sender_logins.hpp.
#include "policy/sender_logins.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/ascii.hpp"

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
    std::string key = ascii_lower(line.substr(0, end));
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

const std::vector<std::string>* SenderLogins::logins_for(std::string_view address) const {
  std::string key = ascii_lower(address);
  if (auto it = entries_.find(key); it != entries_.end()) return &it->second;
  auto at = key.rfind('@');
  if (at == std::string::npos) return nullptr;
  if (auto it = entries_.find(key.substr(at)); it != entries_.end()) return &it->second;
  return nullptr;
}

bool owns_by_name(std::string_view login, std::string_view sender, const config::Config& config) {
  std::string l = ascii_lower(login), s = ascii_lower(sender);
  if (l == s) return true;
  if (l.find('@') != std::string::npos) return false;
  auto at = s.rfind('@');
  if (at == std::string::npos || s.substr(0, at) != l) return false;
  const config::Transport* t = config.transport_for(s.substr(at + 1));
  return t && t->accepts_mail();
}

}  // namespace tern::policy
