// Reading Postfix-style text tables: logical lines, comments, lists, files. See the header.
#include "config/table_text.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/ascii.hpp"

namespace tern::config::table_text {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ascii_lower(s.substr(0, prefix.size())) == prefix;
}

namespace {

// One physical line without its comment; false when a quote is left open.
bool strip_comment(std::string_view line, std::string_view& out) {
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == '#' && (i == 0 || is_space(line[i - 1]) || line[i - 1] == ',')) {
      out = line.substr(0, i);
      return true;
    }
  }
  out = line;
  return !quoted;
}

std::string where(std::string_view name, std::size_t line) {
  return std::string(name) + ":" + std::to_string(line) + ": ";
}

}  // namespace

Result<std::vector<LogicalLine>> logical_lines(std::string_view text, std::string_view name) {
  std::vector<LogicalLine> out;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\0') != std::string_view::npos)
      return fail(where(name, number) + "NUL octet in the line");
    std::string_view body;
    if (!strip_comment(line, body)) return fail(where(name, number) + "unterminated quote");
    if (trim(body).empty()) continue;  // blank or comment: skipped, ends nothing
    if (is_space(body.front())) {
      if (out.empty())
        return fail(where(name, number) + "continuation line (it starts with whitespace) "
                                          "without an entry before it");
      out.back().text += ' ';
      out.back().text += trim(body);
    } else {
      out.push_back({std::string(body), number});
    }
  }
  return out;
}

Result<std::vector<std::string>> split_list(std::string_view s, bool on_space) {
  std::vector<std::string> items;
  std::size_t start = 0;
  bool quoted = false;
  auto flush = [&](std::size_t end) {
    std::string_view item = trim(s.substr(start, end - start));
    if (!item.empty()) items.emplace_back(item);
    start = end + 1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quoted) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',' || (on_space && is_space(c))) {
      flush(i);
    }
  }
  if (quoted) return fail("unterminated quote");
  flush(s.size());
  return items;
}

bool unquote(std::string_view s, std::string& out) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return false;
  std::string r;
  for (std::size_t i = 1; i + 1 < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') {
      if (i + 2 >= s.size()) return false;  // the closing quote is escaped
      r += s[++i];
    } else if (c == '"') {
      return false;  // "a"b"c": more than one quoted string
    } else {
      r += c;
    }
  }
  out = std::move(r);
  return true;
}

Result<std::string> read_table_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail(path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fail(path + ": not a regular file");
  if (static_cast<std::size_t>(st.st_size) > max_table_bytes)
    return fail(path + ": larger than " + std::to_string(max_table_bytes) + " bytes");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(path + ": " + std::strerror(errno));
  std::string text;
  text.resize(static_cast<std::size_t>(st.st_size));
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) return fail(path + ": read error");
  return text;
}

}  // namespace tern::config::table_text
