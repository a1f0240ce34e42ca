// The control socket: how ternctl asks a running ternd to change the queue (RocksDB lets
// only one process write the spool). A unix stream socket at <spool.path>/control.sock,
// mode 0600; one request line, one reply line: "delete ID" → "ok" | "not found";
// "hold ID", "release ID", "flush ID", "flush", "flush-domain DOMAIN" → "ok N" | "not found";
// "reload" (as SIGHUP) → "ok" | "error WHAT" (the problems, "; "-separated).
// Reading the queue needs no daemon: ternctl opens the spool read-only.
#pragma once

#include <optional>
#include <string>

#include "core/result.hpp"

namespace tern::app {

std::string control_socket_path(const std::string& spool_path);

// Sends one request and returns the reply line; nullopt when no daemon listens (no socket,
// or nobody accepting: then the caller works on the spool directly); an error when a
// daemon is there but cannot be asked (permissions) or does not answer.
Result<std::optional<std::string>> control_request(const std::string& socket_path,
                                                   const std::string& request);

}  // namespace tern::app
