// /etc/aliases parsing (Postfix aliases(5), OpenSMTPD aliases(5)); see the header for the
// format and the contract. Linear in the input; include files nest at most
// max_include_depth deep and never form a cycle.
#include "route/aliases.hpp"

#include <pwd.h>
#include <sys/stat.h>

#include <algorithm>

#include "config/table_text.hpp"
#include "core/ascii.hpp"

namespace tern::route {
namespace detail = config::table_text;
namespace {

// getpwuid_r's buffer: 16 KiB holds any passwd entry seen in practice.
constexpr std::size_t passwd_buffer = 16 * 1024;

using detail::is_space;
using detail::starts_with_nocase;
using detail::trim;

// The default texts of an error: entry that gives only a code.
constexpr std::string_view default_error_text = "delivery refused by the alias table";

std::string at(std::string_view name, std::size_t line) {
  return std::string(name) + ":" + std::to_string(line);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// "X.Y.Z" of RFC 3463 §2: class digit, subject 1-3 digits, detail 1-3 digits.
bool is_enhanced(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&](std::size_t max) {
    std::size_t n = 0;
    while (i < s.size() && is_digit(s[i]) && n < max + 1) ++i, ++n;
    return n >= 1 && n <= max;
  };
  if (!digits(1)) return false;
  for (int part = 0; part < 2; ++part) {
    if (i >= s.size() || s[i] != '.') return false;
    ++i;
    if (!digits(3)) return false;
  }
  return i == s.size();
}

// "error:550 5.1.1 text" (OpenSMTPD aliases(5)); `s` is what follows "error:".
Result<AliasTarget> parse_error_item(std::string_view s) {
  s = trim(s);
  if (s.size() < 3 || !is_digit(s[0]) || !is_digit(s[1]) || !is_digit(s[2]) ||
      (s[0] != '4' && s[0] != '5') || (s.size() > 3 && !is_space(s[3])))
    return fail("error: needs a 4xx or 5xx reply code, as in \"error:550 5.1.1 text\"");
  AliasTarget t;
  t.kind = AliasTarget::Kind::error;
  t.code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
  s = trim(s.substr(3));
  std::size_t end = 0;
  while (end < s.size() && !is_space(s[end])) ++end;
  std::string_view word = s.substr(0, end);
  if (!word.empty() && is_digit(word[0]) && word.find('.') != std::string_view::npos) {
    if (!is_enhanced(word) || word[0] != static_cast<char>('0' + t.code / 100))
      return fail("error: enhanced status \"" + std::string(word) +
                  "\" is not X.Y.Z with the class of the reply code");
    t.enhanced = word;
    s = trim(s.substr(end));
  } else {
    t.enhanced = std::to_string(t.code / 100) + ".0.0";
  }
  t.value = s.empty() ? std::string(default_error_text) : std::string(s);
  for (char c : t.value)
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t')
      return fail("error: control character in the text");
  return t;
}

// A bare local name (no domain): validated as the local part of a mailbox would be.
bool valid_local_name(std::string_view name) {
  if (name.empty() || name.size() > mail::max_local_part) return false;
  std::string probe;
  bool plain = std::none_of(name.begin(), name.end(), [](char c) {
    return c == '"' || c == '\\' || c == ' ' || c == '@' || static_cast<unsigned char>(c) < 0x20;
  });
  if (plain) {
    probe = std::string(name) + "@localhost";
    if (mail::parse_mailbox(probe, true)) return true;
  }
  // Not a dot-atom: as a quoted string, anything but controls goes.
  return std::none_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

// True when a right-hand side lists something (an empty include file may still leave an
// entry with no targets).
bool has_items(std::string_view rhs) {
  auto list = detail::split_list(rhs, false);
  return list && !list->empty();
}

class Parser {
 public:
  Parser(const AliasOptions& options, std::vector<std::string>& warnings)
      : options_(options), warnings_(warnings) {}

  Result<std::unordered_map<std::string, AliasEntry>> table(std::string_view text,
                                                            std::string_view name) {
    auto lines = detail::logical_lines(text, name);
    if (!lines) return fail(lines.error());
    std::unordered_map<std::string, AliasEntry> entries;
    std::unordered_map<std::string, std::size_t> first_line;
    for (const auto& l : *lines) {
      std::string key;
      std::string_view rhs;
      if (auto st = split_key(l.text, key, rhs); !st)
        return fail(at(name, l.line) + ": " + st.error().message);
      AliasEntry entry;
      entry.where = at(name, l.line);
      if (auto st = items(rhs, name, l.line, false, 0, entry.targets); !st)
        return fail(st.error());
      if (entry.targets.empty() && !has_items(rhs))
        return fail(at(name, l.line) + ": no destinations for \"" + key + "\"");
      if (auto it = first_line.find(key); it != first_line.end()) {
        warnings_.push_back(at(name, l.line) + ": duplicate entry for \"" + key +
                            "\" ignored; the one at line " + std::to_string(it->second) +
                            " is used");
        continue;
      }
      first_line.emplace(key, l.line);
      entries.emplace(std::move(key), std::move(entry));
    }
    return entries;
  }

 private:
  // "name: rhs" or "\"quoted name\": rhs".
  static Status split_key(std::string_view line, std::string& key, std::string_view& rhs) {
    std::size_t colon;
    if (line.front() == '"') {
      std::size_t i = 1;
      for (; i < line.size() && line[i] != '"'; ++i)
        if (line[i] == '\\') ++i;
      if (i >= line.size()) return fail("unterminated quote in the name");
      if (!detail::unquote(line.substr(0, i + 1), key)) return fail("bad quoted name");
      std::string_view rest = line.substr(i + 1);
      std::size_t j = 0;
      while (j < rest.size() && is_space(rest[j])) ++j;
      if (j >= rest.size() || rest[j] != ':') return fail("expected ':' after the quoted name");
      colon = i + 1 + j;
    } else {
      colon = line.find(':');
      if (colon == std::string_view::npos)
        return fail("expected \"name: destination, ...\" (no ':' after the name)");
      std::string_view k = trim(line.substr(0, colon));
      if (std::any_of(k.begin(), k.end(), is_space))
        return fail("the name \"" + std::string(k) +
                    "\" holds whitespace: quote it, or put a ':' after the name");
      key = k;
    }
    if (key.empty()) return fail("empty name before ':'");
    if (std::any_of(key.begin(), key.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
      return fail("control character in the name");
    key = ascii_lower(key);
    rhs = line.substr(colon + 1);
    return {};
  }

  // Parses the items of `rhs` into `out`, reading include files (depth counts them).
  Status items(std::string_view rhs, std::string_view name, std::size_t line,
               bool from_include, std::size_t depth, std::vector<AliasTarget>& out) {
    auto list = detail::split_list(rhs, false);
    if (!list) return fail(at(name, line) + ": " + list.error().message);
    for (const auto& item : *list) {
      if (auto st = one_item(item, name, line, from_include, depth, out); !st) return st;
    }
    return {};
  }

  Status one_item(std::string_view item, std::string_view name, std::size_t line,
                  bool from_include, std::size_t depth, std::vector<AliasTarget>& out) {
    auto bad = [&](std::string_view why) {
      return fail(at(name, line) + ": \"" + std::string(item) + "\": " + std::string(why));
    };
    std::string unquoted;
    bool quoted = detail::unquote(item, unquoted);
    std::string_view s = quoted ? std::string_view(unquoted) : item;
    AliasTarget t;
    t.from_include = from_include;
    if (!s.empty() && s.front() == '|') {
      t.kind = AliasTarget::Kind::pipe;
      t.value = trim(s.substr(1));
      if (t.value.empty()) return bad("no command after '|'");
      // No shell runs it (delivery/pipe.hpp), so the program must be named by its path.
      if (t.value.front() != '/')
        return bad("the command must start with the program's absolute path (no shell runs "
                   "it): \"|/usr/bin/procmail\", not \"|procmail\"");
    } else if (!s.empty() && s.front() == '/') {
      t.kind = AliasTarget::Kind::file;
      t.value = trim(s);
    } else if (starts_with_nocase(s, ":include:")) {
      return include(trim(s.substr(9)), name, line, depth, out, bad);
    } else if (starts_with_nocase(s, "error:")) {
      auto e = parse_error_item(s.substr(6));
      if (!e) return bad(e.error().message);
      t = std::move(*e);
      t.from_include = from_include;
    } else if (quoted) {
      // "x y": a local name that needs quotes.
      if (!valid_local_name(s)) return bad("not a valid local name");
      t.kind = AliasTarget::Kind::local;
      t.value = s;
    } else {
      if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = s.substr(1, s.size() - 2);
      if (s.find('@') != std::string_view::npos) {
        auto a = mail::parse_mailbox(s, true);
        if (!a) return bad("not a valid address (separate destinations with commas)");
        t.kind = AliasTarget::Kind::address;
        t.address = std::move(*a);
      } else {
        if (!valid_local_name(s) || std::any_of(s.begin(), s.end(), is_space))
          return bad("not a valid local name (separate destinations with commas)");
        t.kind = AliasTarget::Kind::local;
        t.value = s;
      }
    }
    if (from_include && t.kind == AliasTarget::Kind::pipe && !options_.allow_include_commands)
      refuse(t, "mail to a command from an :include: file is not allowed", name, line);
    if (from_include && t.kind == AliasTarget::Kind::file && !options_.allow_include_files)
      refuse(t, "mail to a file from an :include: file is not allowed", name, line);
    out.push_back(std::move(t));
    return {};
  }

  void refuse(AliasTarget& t, std::string why, std::string_view name, std::size_t line) {
    warnings_.push_back(at(name, line) + ": " + why + ": " + t.value);
    t = AliasTarget{AliasTarget::Kind::error, {}, std::move(why), 550, "5.7.1", true};
  }

  template <class Bad>
  Status include(std::string_view path, std::string_view name, std::size_t line,
                 std::size_t depth, std::vector<AliasTarget>& out, Bad& bad) {
    if (!options_.allow_includes) return bad(":include: is not allowed here");
    if (path.empty() || path.front() != '/') return bad(":include: needs an absolute path");
    if (depth + 1 > max_include_depth)
      return bad(":include: files nest more than " + std::to_string(max_include_depth) +
                 " deep");
    std::string p(path);
    if (std::find(stack_.begin(), stack_.end(), p) != stack_.end())
      return bad(":include: loop: the file includes itself");
    auto text = detail::read_table_file(p);
    if (!text) return bad("cannot read: " + text.error().message);
    auto lines = detail::logical_lines(*text, p);
    if (!lines) return fail(lines.error());
    stack_.push_back(p);
    for (const auto& l : *lines) {
      if (auto st = items(l.text, p, l.line, true, depth + 1, out); !st) {
        stack_.pop_back();
        return st;
      }
    }
    stack_.pop_back();
    return {};
  }

  const AliasOptions& options_;
  std::vector<std::string>& warnings_;
  std::vector<std::string> stack_;  // include files being read, outermost first
};

}  // namespace

Result<Aliases> Aliases::parse(std::string_view text, std::string_view name,
                               const AliasOptions& options) {
  Aliases a;
  Parser parser(options, a.warnings_);
  auto entries = parser.table(text, name);
  if (!entries) return fail(entries.error());
  a.entries_ = std::move(*entries);
  return a;
}

Result<Aliases> Aliases::load(const std::string& path, const AliasOptions& options) {
  auto text = detail::read_table_file(path);
  if (!text) return fail(text.error());
  auto table = parse(*text, path, options);
  if (!table) return table;
  // Postfix local(8): commands and files run as the alias file's owner, or default_privs
  // when root owns it (root never runs them).
  std::string run_as = options.default_privs;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && st.st_uid != 0) {
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buffer(passwd_buffer);
    if (::getpwuid_r(st.st_uid, &pw, buffer.data(), buffer.size(), &found) == 0 && found)
      run_as = pw.pw_name;  // an owner without a passwd entry: default_privs
  }
  for (auto& [key, entry] : table->entries_) entry.run_as = run_as;
  return table;
}

void Aliases::merge(Aliases&& later) {
  for (auto& [key, entry] : later.entries_) entries_.try_emplace(key, std::move(entry));
  for (auto& w : later.warnings_) warnings_.push_back(std::move(w));
}

const AliasEntry* Aliases::find(std::string_view key) const {
  auto it = entries_.find(ascii_lower(key));
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace tern::route
