// Control socket client; see control.hpp.
#include "app/control.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tern::app {

std::string control_socket_path(const std::string& spool_path) {
  return spool_path + "/control.sock";
}

Result<std::optional<std::string>> control_request(const std::string& socket_path,
                                                   const std::string& request) {
  using Reply = std::optional<std::string>;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path)
    return fail("control socket path " + socket_path + " is too long");
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(fd);
    if (err == ENOENT || err == ECONNREFUSED) return Reply();  // no daemon
    return fail("cannot reach ternd at " + socket_path + ": " + std::strerror(err) +
                (err == EACCES ? " (run as root or as the daemon's user)" : ""));
  }
  // A daemon that accepted but never answers must not hang ternctl.
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string line = request + "\n";
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    ::close(fd);
    return fail("cannot send to ternd at " + socket_path + ": " + std::strerror(errno));
  }
  std::string reply;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) {
    reply.append(buf, static_cast<std::size_t>(n));
    if (reply.find('\n') != std::string::npos) break;
  }
  ::close(fd);
  if (reply.empty()) return fail("ternd at " + socket_path + " did not answer");
  return Reply(reply.substr(0, reply.find('\n')));
}

}  // namespace tern::app
