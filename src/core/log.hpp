// Logging: a Postfix-shaped mail log on stderr ("tern/smtpd[pid]: QUEUEID: from=<...>")
// through spdlog. Each component gets its own logger so lines name their source the way
// fail2ban, pflogsumm and log exporters expect. Thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace tern::log {

// Sets up stderr logging once at start; `level` is trace|debug|info|warning|error.
void setup(std::string_view level);

// The logger of a component: "smtpd", "cleanup", "qmgr", "local", "discard", "spool".
spdlog::logger& get(std::string_view component);

}  // namespace tern::log
