// Virtual alias map parsing (Postfix virtual(5)); see the header for the format.
#include "route/virtual_map.hpp"

#include "config/table_text.hpp"
#include "core/ascii.hpp"

namespace tern::route {
namespace detail = config::table_text;
namespace {

using detail::is_space;

std::string at(std::string_view name, std::size_t line) {
  return std::string(name) + ":" + std::to_string(line);
}

// The normalised form of a key, or an error message.
Result<std::string> parse_key(std::string_view k) {
  if (k.front() == '@') {
    std::string d = mail::domain_to_ascii(k.substr(1));
    if (d.empty() || k.size() == 1) return fail("\"" + std::string(k) + "\" is not @domain");
    return "@" + d;
  }
  if (k.find('@') != std::string_view::npos) {
    auto a = mail::parse_mailbox(k, true);
    if (!a) return fail("\"" + std::string(k) + "\" is not an address");
    return ascii_lower(a->local) + "@" + a->domain_ascii;
  }
  std::string name;
  if (detail::unquote(k, name)) return ascii_lower(name);
  if (k.find('"') != std::string_view::npos) return fail("bad quoting in \"" + std::string(k) + "\"");
  return ascii_lower(k);
}

Result<VirtualTarget> parse_target(std::string_view v) {
  VirtualTarget t;
  if (v.front() == '@') {
    t.kind = VirtualTarget::Kind::domain;
    t.value = mail::domain_to_ascii(v.substr(1));
    if (t.value.empty() || v.size() == 1) return fail("\"" + std::string(v) + "\" is not @domain");
    return t;
  }
  if (v.size() >= 2 && v.front() == '<' && v.back() == '>') v = v.substr(1, v.size() - 2);
  if (v.empty()) return fail("empty address <>");
  if (v.find('@') != std::string_view::npos) {
    auto a = mail::parse_mailbox(v, true);
    if (!a) return fail("\"" + std::string(v) + "\" is not an address");
    t.address = std::move(*a);
    return t;
  }
  t.kind = VirtualTarget::Kind::local;
  std::string name;
  if (v.front() == '"') {
    if (!detail::unquote(v, name)) return fail("bad quoting in \"" + std::string(v) + "\"");
  } else if (v.find('"') != std::string_view::npos) {
    return fail("bad quoting in \"" + std::string(v) + "\"");
  } else {
    name = v;
  }
  if (name.empty() || name.size() > mail::max_local_part)
    return fail("\"" + std::string(v) + "\" is not a local name");
  for (char c : name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return fail("control character in \"" + std::string(v) + "\"");
  t.value = std::move(name);
  return t;
}

}  // namespace

Result<VirtualMap> VirtualMap::parse(std::string_view text, std::string_view name) {
  auto lines = detail::logical_lines(text, name);
  if (!lines) return fail(lines.error());
  VirtualMap map;
  std::unordered_map<std::string, std::size_t> first_line;
  for (const auto& l : *lines) {
    std::string_view s = l.text;
    // The key ends at the first whitespace outside quotes.
    std::size_t end = 0;
    bool quoted = false;
    for (; end < s.size(); ++end) {
      char c = s[end];
      if (quoted) {
        if (c == '\\') ++end;
        else if (c == '"') quoted = false;
      } else if (c == '"') {
        quoted = true;
      } else if (is_space(c)) {
        break;
      }
    }
    end = std::min(end, s.size());
    auto key = parse_key(s.substr(0, end));
    if (!key) return fail(at(name, l.line) + ": " + key.error().message);
    auto list = detail::split_list(s.substr(end), true);
    if (!list) return fail(at(name, l.line) + ": " + list.error().message);
    if (list->empty())
      return fail(at(name, l.line) + ": no result for \"" + *key + "\" (expected \"key result\")");
    VirtualEntry entry;
    entry.where = at(name, l.line);
    for (const auto& item : *list) {
      auto t = parse_target(item);
      if (!t) return fail(at(name, l.line) + ": " + t.error().message);
      entry.targets.push_back(std::move(*t));
    }
    if (auto it = first_line.find(*key); it != first_line.end()) {
      map.warnings_.push_back(at(name, l.line) + ": duplicate entry for \"" + *key +
                              "\" ignored; the one at line " + std::to_string(it->second) +
                              " is used");
      continue;
    }
    first_line.emplace(*key, l.line);
    map.entries_.emplace(std::move(*key), std::move(entry));
  }
  return map;
}

Result<VirtualMap> VirtualMap::load(const std::string& path) {
  auto text = detail::read_table_file(path);
  if (!text) return fail(text.error());
  return parse(*text, path);
}

void VirtualMap::merge(VirtualMap&& later) {
  for (auto& [key, entry] : later.entries_) entries_.try_emplace(key, std::move(entry));
  for (auto& w : later.warnings_) warnings_.push_back(std::move(w));
}

const VirtualEntry* VirtualMap::find(std::string_view key) const {
  auto it = entries_.find(std::string(key));
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace tern::route
