// Reading tern.toml's values with "file:line: problem" errors: the helpers every
// section loader shares (config.cpp, security.cpp). Internal to config/.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include <toml++/toml.h>

namespace tern::config {

// Collects "file:line: problem" lines.
class Problems {
 public:
  explicit Problems(std::string file) : file_(std::move(file)) {}
  void add(const toml::node& at, const std::string& what) { add(at.source().begin.line, what); }
  void add(std::size_t line, const std::string& what) { lines_.emplace_back(line, what); }
  bool empty() const { return lines_.empty(); }
  // One "file:line: problem" per line, in the order of the file.
  std::string text() const {
    auto sorted = lines_;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](auto& a, auto& b) { return a.first < b.first; });
    std::string out;
    for (auto& [line, what] : sorted) {
      if (!out.empty()) out += "\n";
      out += file_ + ":" + std::to_string(line) + ": " + what;
    }
    return out;
  }

 private:
  std::string file_;
  std::vector<std::pair<std::size_t, std::string>> lines_;
};

// Reports keys of `table` not in `allowed`.
void check_keys(const toml::table& table, std::string_view where,
                std::initializer_list<std::string_view> allowed, Problems& problems);
std::optional<std::string> get_string(const toml::table& t, std::string_view key,
                                      std::string_view where, Problems& problems);
std::vector<std::string> get_strings(const toml::table& t, std::string_view key,
                                     std::string_view where, Problems& problems);
std::optional<bool> get_bool(const toml::table& t, std::string_view key, std::string_view where,
                             Problems& problems);
// "50M", "10k", "1G" (binary multiples) or a plain integer of octets.
std::optional<std::uint64_t> parse_size(std::string_view text);
// "300", "300s", "5m", "1h", "2d" → seconds.
std::optional<std::uint64_t> parse_seconds(std::string_view text);
std::optional<std::uint64_t> plain_number(std::string_view s);
// Keeps a 64-bit setting visible to range checks when it is stored in 32 bits.
std::uint32_t narrow(std::uint64_t v);

// An integer setting, or a string parsed by `parse` (sizes, durations).
template <class Parse>
std::optional<std::uint64_t> get_number(const toml::table& t, std::string_view key,
                                        std::string_view where, Problems& problems,
                                        Parse parse, std::string_view form) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (auto i = n->value<std::int64_t>(); i && n->is_integer()) {
    if (*i >= 0) return static_cast<std::uint64_t>(*i);
  } else if (auto s = n->value<std::string>()) {
    if (auto v = parse(*s)) return v;
  }
  problems.add(*n, std::string(where) + "." + std::string(key) + " must be " + std::string(form));
  return std::nullopt;
}

// A duration setting (seconds as a number, or "30s", "5m", "1h", "2d"); `example` goes in
// the error: "where.key must be a duration such as EXAMPLE".
inline std::optional<std::chrono::seconds> get_seconds(const toml::table& t, std::string_view key,
                                                       std::string_view where, Problems& problems,
                                                       std::string_view example) {
  auto v = get_number(t, key, where, problems, parse_seconds,
                      "a duration such as " + std::string(example));
  if (!v) return std::nullopt;
  return std::chrono::seconds(*v);
}

}  // namespace tern::config
