// The verb table and the command-line splitter (RFC 5321 §4.1.1, §2.4: verbs are
// case-insensitive; RFC 2920 §3.1: which commands end a pipelined group). The line is
// untrusted peer input without its CRLF; nothing here allocates.
#include "smtp/command.hpp"

#include <array>

namespace tern::smtp {
namespace {

// One row per Verb, in enum order (checked below).
//
// ends_group, RFC 2920 §3.1: "EHLO, DATA, VRFY, EXPN, TURN, QUIT, and NOOP can only appear as
// the last command in a group"; HELO, STARTTLS (RFC 3207 §4.2) and AUTH (RFC 4954 §4, a
// challenge follows) change what comes next, so the client must wait too. RSET, MAIL, RCPT
// may appear anywhere in a group. BDAT is false: RFC 3030 §4.2 allows BDAT commands, each
// followed by its chunk, to be pipelined; the session replies to each chunk once it is read
// (and to BDAT LAST once the message is committed), not at a group boundary.
// takes_argument: NOOP and HELP take an optional string (RFC 5321 §4.1.1.9, §4.1.1.8).
constexpr std::array<VerbInfo, 15> table{{
    {Verb::ehlo, "EHLO", true, true},
    {Verb::helo, "HELO", true, true},
    {Verb::mail, "MAIL", false, true},
    {Verb::rcpt, "RCPT", false, true},
    {Verb::data, "DATA", true, false},
    {Verb::bdat, "BDAT", false, true},
    {Verb::rset, "RSET", false, false},
    {Verb::noop, "NOOP", true, true},
    {Verb::quit, "QUIT", true, false},
    {Verb::vrfy, "VRFY", true, true},
    {Verb::expn, "EXPN", true, true},
    {Verb::help, "HELP", true, true},
    {Verb::starttls, "STARTTLS", true, false},
    {Verb::auth, "AUTH", true, true},
    // Not a command: the row verb_info(Verb::unknown) returns. It ends a group so that a
    // client waiting on an extension we lack gets its 500 at once.
    {Verb::unknown, "", true, true},
}};

constexpr bool table_in_enum_order() {
  for (std::size_t i = 0; i < table.size(); ++i)
    if (static_cast<std::size_t>(table[i].verb) != i) return false;
  return static_cast<std::size_t>(Verb::unknown) + 1 == table.size();
}
static_assert(table_in_enum_order(), "verb table rows must follow the Verb enum");

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool iequals_upper(std::string_view s, std::string_view upper_name) {
  if (s.size() != upper_name.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (upper(s[i]) != upper_name[i]) return false;
  return true;
}

}  // namespace

std::span<const VerbInfo> verb_table() { return table; }

const VerbInfo& verb_info(Verb v) {
  auto i = static_cast<std::size_t>(v);
  return i < table.size() ? table[i] : table.back();
}

Command parse_command(std::string_view line) {
  Command cmd;
  std::size_t sp = line.find(' ');
  std::string_view word = line.substr(0, sp);
  if (sp != std::string_view::npos) {
    std::string_view arg = line.substr(sp + 1);
    while (!arg.empty() && (arg.back() == ' ' || arg.back() == '\t')) arg.remove_suffix(1);
    cmd.arg = arg;
  }
  // The verb ends at SP or at the end of the line; "MAIL\tFROM" or "MAILX" match nothing.
  if (word.empty()) return cmd;
  for (const VerbInfo& row : table) {
    if (row.verb != Verb::unknown && iequals_upper(word, row.name)) {
      cmd.verb = row.verb;
      break;
    }
  }
  return cmd;
}

}  // namespace tern::smtp
