// See sender_logins.hpp.
#include "policy/sender_logins.hpp"

#include "config/table_text.hpp"
#include "core/ascii.hpp"
#include "mail/address.hpp"

namespace tern::policy {
namespace text = config::table_text;

std::shared_ptr<const SenderLogins> SenderLogins::parse(std::string_view content,
                                                        const std::string& path,
                                                        std::string& errors) {
  auto out = std::make_shared<SenderLogins>();
  std::size_t lineno = 0;
  auto problem = [&](const std::string& what) {
    if (!errors.empty()) errors += "\n";
    errors += path + ":" + std::to_string(lineno) + ": " + what;
  };
  while (!content.empty()) {
    auto eol = content.find('\n');
    std::string_view line = content.substr(0, eol);
    content = eol == std::string_view::npos ? std::string_view() : content.substr(eol + 1);
    ++lineno;
    // One entry per line, as Postfix's hash-table sources; "#" starts a comment line.
    line = text::trim(line);
    if (line.empty() || line.front() == '#') continue;
    auto end = line.find_first_of(" \t:");
    if (end == std::string_view::npos) {
      problem("'" + std::string(line) + "' has no login: write 'address  login, login'");
      continue;
    }
    std::string key = canonical_address(line.substr(0, end));
    std::string_view rest = text::trim(line.substr(end));
    if (!rest.empty() && rest.front() == ':') rest = text::trim(rest.substr(1));
    auto list = text::split_list(rest, /*on_space=*/true);
    if (!list) {
      problem("'" + key + "': " + list.error().message);
      continue;
    }
    std::vector<std::string> logins;
    for (const auto& login : *list) logins.push_back(ascii_lower(login));
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
  auto content = text::read_table_file(path);
  if (!content) return fail("cannot read sender login map " + content.error().message);
  std::string errors;
  auto map = parse(*content, path, errors);
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
