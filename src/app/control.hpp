// The control socket: how ternctl asks a running ternd to change the queue (RocksDB lets
// only one process write the spool). A unix stream socket at <spool.path>/control.sock,
// mode 0600; one request line, one reply line: "delete ID" → "ok" | "not found".
// Reading the queue needs no daemon: ternctl opens the spool read-only.
#pragma once

#include <optional>
#include <string>

namespace tern::app {

std::string control_socket_path(const std::string& spool_path);

// Sends one request; nullopt when no daemon listens (then the caller works on the spool
// directly).
std::optional<std::string> control_request(const std::string& socket_path,
                                           const std::string& request);

}  // namespace tern::app
