// The local delivery agents as ternd runs them for one recipient: mbox files and pipe
// transports ([transport] mbox / pipe), and the files, commands and errors an alias named
// (spool::RecipientKind file / pipe / error). Each call blocks (disk, a child process) and
// runs on the delivery pool, never on an event loop.
//
// Users: a command or file runs as the user the recipient names (an alias file's owner or
// route.default_privs, stored with the recipient), a pipe transport as delivery.pipe.user.
// Switching users needs root: ternd normally drops root after binding its ports and keeps a
// privileged helper, the launcher (delivery/launcher.hpp), which starts the commands and
// opens the files as those users. A ternd that runs as root switches itself; one that never
// had root (so has no launcher) runs every command and file as its own user, and says so
// once in the log.
#pragma once

#include <cstddef>
#include <string_view>

#include "config/config.hpp"
#include "delivery/launcher.hpp"
#include "mail/outcome.hpp"
#include "spool/message.hpp"

namespace tern::app {

// Delivers envelope.recipients[index] of kind file, pipe or error.
// `launcher` may be null (ternd is root, or never was).
mail::Outcome deliver_alias_target(const config::Config& config, delivery::Launcher* launcher,
                                   const spool::Envelope& envelope, std::size_t index,
                                   std::string_view message);

// Appends to the mbox of envelope.recipients[index] under delivery.mbox.directory.
mail::Outcome deliver_mbox(const config::Config& config, delivery::Launcher* launcher,
                           const spool::Envelope& envelope, std::size_t index,
                           std::string_view message);

// Runs the pipe transport `transport` for envelope.recipients[index].
mail::Outcome deliver_pipe(const config::Config& config, delivery::Launcher* launcher,
                           const config::Transport& transport,
                           const spool::Envelope& envelope, std::size_t index,
                           std::string_view message);

}  // namespace tern::app
