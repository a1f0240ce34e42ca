// Logging: a Postfix-shaped mail log on stderr ("tern/smtpd[pid]: QUEUEID: from=<...>")
// through spdlog. Each component gets its own logger so lines name their source the way
// fail2ban, pflogsumm and log exporters expect. Thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace tern::log {

// Sets up stderr logging once at start; `level` is trace|debug|info|warning|error.
void setup(std::string_view level);

// The logger of a component: "smtpd", "cleanup", "qmgr", "local", "discard", "spool".
spdlog::logger& get(std::string_view component);

// Text a client chose (a SASL user name, a HELO name), made safe for one log line: control
// octets (CR and LF above all, which would forge whole lines for fail2ban to act on) and
// DEL become '?', and past `max` octets it is cut and ends in "...". UTF-8 passes.
std::string printable(std::string_view text, std::size_t max = 200);

}  // namespace tern::log
