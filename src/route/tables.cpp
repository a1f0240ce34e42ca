// Loading the routing tables named by the configuration; see tables.hpp.
#include "route/tables.hpp"

#include <algorithm>

#include "route/table_text.hpp"

namespace tern::route {

Tables::Tables(Aliases aliases, VirtualMap virtual_map,
               std::optional<std::set<std::string>> users, ExpanderConfig config)
    : aliases_(std::move(aliases)),
      virtual_(std::move(virtual_map)),
      users_(std::move(users)),
      expander_(&aliases_, &virtual_, [&] {
        if (users_) {
          const auto* set = &*users_;
          config.user_exists = [set](std::string_view user) {
            return set->count(detail::lower_ascii(user)) > 0;
          };
        }
        return std::move(config);
      }()) {}

std::vector<std::string> Tables::warnings() const {
  auto out = aliases_.warnings();
  out.insert(out.end(), virtual_.warnings().begin(), virtual_.warnings().end());
  return out;
}

std::vector<std::string> mailbox_domains(const config::Config& config) {
  std::vector<std::string> out;
  auto add = [&](const std::string& d) {
    if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  };
  for (auto& d : config.local_domains) {
    auto* t = config.transport_for(d);
    if (t && (t->kind == config::TransportKind::maildir || t->kind == config::TransportKind::lmtp))
      add(d);
  }
  for (auto& [d, t] : config.transports)
    if (t.kind == config::TransportKind::maildir || t.kind == config::TransportKind::lmtp) add(d);
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
    users.insert(detail::lower_ascii(local));
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
  ec.delimiters = r.recipient_delimiter;
  return std::shared_ptr<const Tables>(std::make_shared<Tables>(
      std::move(aliases), std::move(virtual_map), std::move(users), std::move(ec)));
}

}  // namespace tern::route
