// Reading Postfix-style text tables (aliases(5), virtual(5), the sender login map): logical
// lines and lists. In config/ (files an administrator writes) so that route/ and policy/,
// which may not include each other, share one reader.
//
// The text is untrusted (an administrator's file, or a list owner's :include: file): every
// malformed line is reported as "name:line: problem", nothing is assumed about its size
// beyond max_table_bytes, and no construct can make the reader loop or recurse.
//
// Rules, as Postfix's readlline() and OpenSMTPD's aliases(5) read them:
// - A logical line starts with non-whitespace text; a line that starts with whitespace
//   continues the logical line before it (Postfix).
// - '#' starts a comment when it stands at the start of a line or after whitespace or a
//   comma, outside double quotes: whole-line comments as in Postfix, trailing comments as
//   in OpenSMTPD. A '#' inside a word ("a#b@example.org") is part of the word.
// - Blank and comment-only lines are skipped and do not end a logical line.
// - A double-quoted string ends on the line it starts on; '\' escapes the next octet in it.
// - A trailing CR (CRLF files) is ignored.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace tern::config::table_text {

// A table file bigger than this is refused: a million one-line aliases take about 30 MB,
// and the limit keeps ":include:/dev/zero" from eating the memory of the daemon.
inline constexpr std::size_t max_table_bytes = 64 * 1024 * 1024;

struct LogicalLine {
  std::string text;  // the joined text, comments removed, not trimmed at the end
  std::size_t line;  // the number of its first physical line, from 1
};

// Splits `text` into logical lines; `name` prefixes error messages ("name:line: ...").
Result<std::vector<LogicalLine>> logical_lines(std::string_view text, std::string_view name);

// Splits a list on commas outside double quotes (and, with `on_space`, on unquoted
// whitespace too, as virtual(5) results are read). Items are trimmed; empty items are
// dropped. Quotes are kept in the items. Fails only on an unterminated quote.
Result<std::vector<std::string>> split_list(std::string_view s, bool on_space);

// If `s` is one double-quoted string, its content with '\' escapes undone.
bool unquote(std::string_view s, std::string& out);

// Reads a whole table file (a regular file of at most max_table_bytes).
Result<std::string> read_table_file(const std::string& path);

std::string_view trim(std::string_view s);
bool is_space(char c);
bool starts_with_nocase(std::string_view s, std::string_view prefix);

}  // namespace tern::config::table_text
