// Command lines without a shell: a pipe transport's command ([transport] "pipe:...") and an
// alias's "|command" are split into argv on spaces and tabs — nothing quotes, nothing
// globs, no variable is expanded by a shell — and a transport's "${name}" macros (Postfix
// pipe(8) style) are replaced per recipient, each inside its own argument, so a value with
// spaces or shell characters stays one argument of data.
// Trusted input: the command text (configuration, aliases). Macro values come from the
// network and are only ever substituted as data.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tern {

// The words of `text`, split on spaces and tabs; empty words are dropped.
std::vector<std::string> split_command(std::string_view text);

// `argv` with each "${name}" replaced by values[name] ("" for a name not in `values`); a
// "${" without its "}" is left as it is.
std::vector<std::string> expand_macros(const std::vector<std::string>& argv,
                                       const std::map<std::string, std::string, std::less<>>& values);

}  // namespace tern
