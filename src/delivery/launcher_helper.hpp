// The launcher's privileged side (launcher.hpp): the loop the forked helper runs as root, and
// the SOCK_SEQPACKET send/receive with SCM_RIGHTS both sides use.
//
// Untrusted input: every request read from the socket (see launcher_wire.hpp for the checks);
// descriptors that come with a request are counted and closed whatever happens.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "delivery/launcher_wire.hpp"

namespace tern::delivery {

// Most descriptors one message carries (a command's stdin, stdout and stderr).
constexpr int kMaxPassedFds = 3;

// Sends one message with `n_fds` descriptors; false with errno set on failure.
bool send_packet(int sock, std::string_view data, const int* fds, int n_fds);

// Receives one message into `data` and its descriptors into `fds` (close-on-exec). Returns
// 1 for a message, 0 at end of stream, -1 with errno set on failure (EMSGSIZE for a message
// or descriptor list cut short: any descriptors that did arrive are closed).
int receive_packet(int sock, std::string& data, std::vector<int>& fds);

// Serves requests on `sock` until ternd closes it, then removes the dot-locks it holds, kills
// the commands still running and exits. Runs in the forked child, as root.
[[noreturn]] void serve_launcher(int sock, const LauncherPolicy& policy);

}  // namespace tern::delivery
