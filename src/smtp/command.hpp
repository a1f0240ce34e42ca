// The SMTP command line: verb recognition and the table of verbs with their properties
// (RFC 5321 §4.1.1, RFC 2920 §3.1 for which commands end a pipelined group). Pure parsing.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace tern::smtp {

enum class Verb : std::uint8_t {
  ehlo,
  helo,
  mail,
  rcpt,
  data,
  bdat,
  rset,
  noop,
  quit,
  vrfy,
  expn,
  help,
  starttls,
  auth,
  unknown,
};

// Properties of a verb, one row per verb (STYLE.md §2).
struct VerbInfo {
  Verb verb;
  std::string_view name;  // upper case
  bool ends_group;        // RFC 2920 §3.1: EHLO, DATA, QUIT, NOOP... wait for a reply
  bool takes_argument;    // false: any argument is a 501
};

// Every verb, in enum order, Verb::unknown last (its row has an empty name).
std::span<const VerbInfo> verb_table();
const VerbInfo& verb_info(Verb v);

struct Command {
  Verb verb = Verb::unknown;
  std::string_view arg;  // after the verb and its one separating space; no CRLF, trailing
                         // SP/HTAB stripped (also set for Verb::unknown)
};

// Splits a command line (without its CRLF) into verb and argument. Verbs are
// case-insensitive and end at SP or the end of the line; anything else is Verb::unknown.
// "MAIL FROM:" and "RCPT TO:" keep "FROM:..."/"TO:..." in arg.
Command parse_command(std::string_view line);

}  // namespace tern::smtp
