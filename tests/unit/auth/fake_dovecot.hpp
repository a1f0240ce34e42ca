// A scripted stand-in for Dovecot's auth server, for the DovecotBackend unit tests: a unix
// socket in a fresh /tmp directory and one thread that accepts connections one after the
// other and runs the test's script on each. Every wait is bounded. Test code only.
#pragma once

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tern::auth::testing {

// How long the fake waits for a line from the client before it gives up on it.
inline constexpr std::chrono::milliseconds fake_read_timeout{3000};

// One accepted connection, as the script sees it.
class FakePeer {
 public:
  FakePeer(int fd, std::function<void(std::string)> record) : fd_(fd), record_(std::move(record)) {}
  // The next line without its LF, or nullopt when the client closed or said nothing in time.
  std::optional<std::string> read_line() {
    auto deadline = std::chrono::steady_clock::now() + fake_read_timeout;
    for (;;) {
      if (auto eol = buffer_.find('\n'); eol != std::string::npos) {
        std::string line = buffer_.substr(0, eol);
        buffer_.erase(0, eol + 1);
        record_(line);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        return std::nullopt;
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  void send(std::string_view text) { (void)::send(fd_, text.data(), text.size(), MSG_NOSIGNAL); }
  // Reads until the client closes (or fake_read_timeout): the fake then stays silent.
  void wait_for_close() {
    while (read_line()) {
    }
  }

 private:
  int fd_;
  std::string buffer_;
  std::function<void(std::string)> record_;
};

class FakeDovecot {
 public:
  // `script(peer, n)` runs for the n-th connection (from 0); the connection closes after it.
  using Script = std::function<void(FakePeer&, int)>;

  explicit FakeDovecot(Script script) : script_(std::move(script)) {
    char dir[] = "/tmp/tern-fake-dovecot-XXXXXX";
    dir_ = ::mkdtemp(dir);
    socket_ = dir_ / "auth-client";
    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::string path = socket_.string();
    path.copy(address.sun_path, sizeof address.sun_path - 1);
    (void)::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    (void)::listen(listener_, 16);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeDovecot() {
    stop_ = true;
    thread_.join();
    ::close(listener_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  const std::filesystem::path& socket() const { return socket_; }
  int connections() const { return connections_; }
  // Every line the clients sent, in order.
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      FakePeer peer(fd, [this](std::string line) {
        std::lock_guard lock(mutex_);
        lines_.push_back(std::move(line));
      });
      script_(peer, connections_++);
      ::close(fd);
    }
  }

  Script script_;
  std::filesystem::path dir_, socket_;
  int listener_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::mutex mutex_;
  std::vector<std::string> lines_;
  std::thread thread_;
};

// What Dovecot 2.3 sends on connect to auth-client, with PLAIN and LOGIN.
inline constexpr std::string_view dovecot_handshake =
    "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nSPID\t4242\nCUID\t7\n"
    "COOKIE\t0123456789abcdef0123456789abcdef\nDONE\n";

// Sends `handshake`, then reads the client's VERSION and CPID lines. False when the client
// went away.
inline bool fake_handshake(FakePeer& peer, std::string_view handshake = dovecot_handshake) {
  peer.send(handshake);
  return peer.read_line() && peer.read_line();
}

// The id of an AUTH request line ("AUTH\t<id>\t..."), or "" for another line.
inline std::string request_id(const std::string& line) {
  if (!line.starts_with("AUTH\t")) return "";
  return line.substr(5, line.find('\t', 5) - 5);
}

// `reply` with every "{id}" replaced by `id`.
inline std::string with_id(std::string reply, const std::string& id) {
  for (auto at = reply.find("{id}"); at != std::string::npos; at = reply.find("{id}"))
    reply.replace(at, 4, id);
  return reply;
}

}  // namespace tern::auth::testing
