// The value readers of reader.hpp.
#include "config/reader.hpp"

#include <charconv>

namespace tern::config {

// Reports keys of `table` not in `allowed`.
void check_keys(const toml::table& table, std::string_view where,
                std::initializer_list<std::string_view> allowed, Problems& problems) {
  for (auto&& [key, node] : table) {
    if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end()) {
      std::string name = where.empty() ? std::string(key.str())
                                       : std::string(where) + "." + std::string(key.str());
      problems.add(node, "unknown setting '" + name + "'");
    }
  }
}

std::optional<std::string> get_string(const toml::table& t, std::string_view key,
                                      std::string_view where, Problems& problems) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (auto s = n->value<std::string>()) return *s;
  problems.add(*n, std::string(where) + "." + std::string(key) + " must be a string");
  return std::nullopt;
}

std::vector<std::string> get_strings(const toml::table& t, std::string_view key,
                                     std::string_view where, Problems& problems) {
  std::vector<std::string> out;
  const toml::node* n = t.get(key);
  if (!n) return out;
  const toml::array* a = n->as_array();
  if (!a) {
    problems.add(*n, std::string(where) + "." + std::string(key) + " must be a list of strings");
    return out;
  }
  for (auto&& e : *a) {
    if (auto s = e.value<std::string>())
      out.push_back(*s);
    else
      problems.add(e, std::string(where) + "." + std::string(key) + " must hold strings only");
  }
  return out;
}

// "50M", "10k", "1G" (binary multiples) or a plain integer of octets.
std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr == text.data()) return std::nullopt;
  std::string_view unit(ptr, text.data() + text.size() - ptr);
  std::uint64_t mult = 1;
  if (unit == "" || unit == "B") mult = 1;
  else if (unit == "k" || unit == "K" || unit == "KiB") mult = 1024;
  else if (unit == "M" || unit == "MiB") mult = 1024 * 1024;
  else if (unit == "G" || unit == "GiB") mult = 1024ull * 1024 * 1024;
  else return std::nullopt;
  return value * mult;
}

// "300", "300s", "5m", "1h", "2d" → seconds.
std::optional<std::uint64_t> parse_seconds(std::string_view text) {
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr == text.data()) return std::nullopt;
  std::string_view unit(ptr, text.data() + text.size() - ptr);
  if (unit == "" || unit == "s") return value;
  if (unit == "m") return value * 60;
  if (unit == "h") return value * 3600;
  if (unit == "d") return value * 86400;
  return std::nullopt;
}

// Keeps a 64-bit setting visible to check_ranges() when it is stored in 32 bits.
std::uint32_t narrow(std::uint64_t v) {
  return v > 0xffffffffull ? 0xffffffffu : static_cast<std::uint32_t>(v);
}

std::optional<std::uint64_t> plain_number(std::string_view s) {
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<bool> get_bool(const toml::table& t, std::string_view key, std::string_view where,
                             Problems& problems) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (auto b = n->value<bool>(); b && n->is_boolean()) return *b;
  problems.add(*n, std::string(where) + "." + std::string(key) + " must be true or false");
  return std::nullopt;
}

}  // namespace tern::config
