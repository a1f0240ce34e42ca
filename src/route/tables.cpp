// Loading the routing tables named by the configuration; see tables.hpp.
#include "route/tables.hpp"

#include <algorithm>
#include <filesystem>

#include "mail/mailbox.hpp"
#include "config/table_text.hpp"
#include "core/ascii.hpp"

namespace tern::route {
namespace detail = config::table_text;

Tables::Tables(Aliases aliases, VirtualMap virtual_map,
               std::optional<std::set<std::string>> users, ExpanderConfig config,
               std::string maildir_root)
    : aliases_(std::move(aliases)),
      virtual_(std::move(virtual_map)),
      users_(std::move(users)),
      maildir_root_(std::move(maildir_root)),
      expander_(&aliases_, &virtual_, [&] {
        if (users_ || !maildir_root_.empty())
          config.user_exists = [this](std::string_view user, std::string_view domain) {
            return user_exists(user, domain);
          };
        return std::move(config);
      }()) {}

bool Tables::user_exists(std::string_view user, std::string_view domain) const {
  const std::string name = ascii_lower(user);
  if (users_ && (users_->count(name) || users_->count(name + "@" + std::string(domain))))
    return true;
  if (maildir_root_.empty() || !mail::safe_mailbox_name(name) ||
      !mail::safe_mailbox_name(domain))
    return false;
  // The layout of delivery/maildir: ROOT/DOMAIN/USER with the local part lower-cased.
  std::error_code ec;
  return std::filesystem::is_directory(
      std::filesystem::path(maildir_root_) / std::string(domain) / name, ec);
}

std::vector<std::string> Tables::warnings() const {
  auto out = aliases_.warnings();
  out.insert(out.end(), virtual_.warnings().begin(), virtual_.warnings().end());
  return out;
}

bool is_mailbox(const config::Transport& t) {
  return t.kind == config::TransportKind::maildir || t.kind == config::TransportKind::lmtp ||
         t.kind == config::TransportKind::mbox;
}

std::vector<std::string> mailbox_domains(const config::Config& config) {
  std::vector<std::string> out;
  auto add = [&](const std::string& d) {
    if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  };
  for (auto& d : config.local_domains) {
    auto* t = config.transport_for(d);
    if (t && is_mailbox(*t)) add(d);
  }
  for (auto& [d, t] : config.transports)
    if (is_mailbox(t)) add(d);
  return out;
}

Result<std::set<std::string>> load_users(const std::string& path) {
  auto text = detail::read_table_file(path);
  if (!text) return fail(text.error());
  std::set<std::string> users;
  std::string_view rest = *text;
  std::size_t line = 0;
  std::string problems;
  while (!rest.empty()) {
    ++line;
    auto nl = rest.find('\n');
    std::string_view l = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    if (auto hash = l.find('#'); hash != std::string_view::npos) l = l.substr(0, hash);
    l = detail::trim(l);
    if (l.empty()) continue;
    std::string_view local = l;
    if (auto at = l.rfind('@'); at != std::string_view::npos) local = l.substr(0, at);
    bool bad = local.empty() || local.size() > mail::max_local_part ||
               std::any_of(local.begin(), local.end(), [](char c) {
                 return static_cast<unsigned char>(c) <= 0x20 || c == '"' || c == '\\' ||
                        c == '@' || c == 0x7f;
               });
    if (bad) {
      if (!problems.empty()) problems += "\n";
      problems += path + ":" + std::to_string(line) + ": '" + std::string(l) +
                  "' is not a local part or an address";
      continue;
    }
    // "user@domain": that domain's user only; a bare local part: every mailbox domain's.
    // The domain as its A-label, as recipients' domains are compared ("bücher.example"
    // and "xn--bcher-kva.example" are one domain).
    if (auto at = l.rfind('@'); at != std::string_view::npos) {
      std::string domain = mail::domain_to_ascii(l.substr(at + 1));
      if (domain.empty()) {
        if (!problems.empty()) problems += "\n";
        problems += path + ":" + std::to_string(line) + ": '" + std::string(l) +
                    "' has no valid domain";
        continue;
      }
      users.insert(ascii_lower(local) + "@" + domain);
    } else {
      users.insert(ascii_lower(local));
    }
  }
  if (!problems.empty()) return fail(problems);
  return users;
}

Result<std::shared_ptr<const Tables>> load_tables(const config::Config& config) {
  const auto& r = config.route;
  std::string problems;
  auto problem = [&](const std::string& what) {
    if (!problems.empty()) problems += "\n";
    problems += what;
  };
  AliasOptions options;
  options.allow_include_commands = r.allow_include_commands;
  options.allow_include_files = r.allow_include_files;
  options.default_privs = r.default_privs;
  Aliases aliases;
  for (auto& path : r.alias_files) {
    auto a = Aliases::load(path, options);
    if (!a) problem(a.error().message);
    else aliases.merge(std::move(*a));
  }
  VirtualMap virtual_map;
  for (auto& path : r.virtual_alias_maps) {
    auto v = VirtualMap::load(path);
    if (!v) problem(v.error().message);
    else virtual_map.merge(std::move(*v));
  }
  std::optional<std::set<std::string>> users;
  if (!r.users_file.empty() && !r.catch_all) {
    auto u = load_users(r.users_file);
    if (!u) problem(u.error().message);
    else users = std::move(*u);
  }
  if (!problems.empty()) return fail(problems);
  ExpanderConfig ec;
  ec.local_domains = mailbox_domains(config);
  ec.every_domain_local = config.default_transport && is_mailbox(*config.default_transport);
  for (auto& [d, t] : config.transports)
    if (!is_mailbox(t)) ec.other_domains.push_back(d);
  ec.delimiters = r.recipient_delimiter;
  return std::shared_ptr<const Tables>(std::make_shared<Tables>(
      std::move(aliases), std::move(virtual_map), std::move(users), std::move(ec),
      r.users_maildirs && !r.catch_all ? config.maildir_root : std::string()));
}

}  // namespace tern::route
