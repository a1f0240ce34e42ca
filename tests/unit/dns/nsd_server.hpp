// A real authoritative DNS server for tests: NSD (Debian package nsd, installed by
// scripts/install-deps) on 127.0.0.1 at a free high port, serving zones the test writes,
// with its configuration, zone files and logs in a temporary directory. Started in the
// foreground (nsd -d) as a child process that dies with the test process, waited for until
// it answers a query, stopped with SIGTERM (SIGKILL past a bound) and reaped. Test code only:
// errors are values so that a test can fail with NSD's own log in the message.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/result.hpp"

namespace tern::dns::fixtures {

class NsdServer {
 public:
  // Debian's path of the server binary.
  static constexpr const char* binary = "/usr/sbin/nsd";
  // How long NSD may take to load its zones and answer: it starts in well under a second.
  static constexpr auto start_bound = std::chrono::seconds(10);
  // How long SIGTERM may take before SIGKILL.
  static constexpr auto stop_bound = std::chrono::seconds(5);
  // Ports NSD may fail to bind (another process took the free port first): tries this often.
  static constexpr int start_attempts = 3;

  // zones: zone name ("dns.test") → zone file text.
  static Result<std::unique_ptr<NsdServer>> start(const std::map<std::string, std::string>& zones) {
    if (::access(binary, X_OK) != 0) {
      return fail(std::string(binary) +
                  " not found: run scripts/install-deps (Debian package nsd)");
    }
    std::string last_error;
    for (int attempt = 0; attempt < start_attempts; ++attempt) {
      std::unique_ptr<NsdServer> s(new NsdServer());
      auto st = s->launch(zones);
      if (st) return s;
      last_error = st.error().message;
    }
    return fail(last_error);
  }

  ~NsdServer() {
    stop();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  NsdServer(const NsdServer&) = delete;
  NsdServer& operator=(const NsdServer&) = delete;

  std::uint16_t port() const { return port_; }
  // The server as libunbound names one: "127.0.0.1@PORT".
  std::string address() const { return "127.0.0.1@" + std::to_string(port_); }

 private:
  NsdServer() = default;

  // A port free for UDP and TCP on 127.0.0.1 a moment ago.
  static Result<std::uint16_t> free_port() {
    int u = ::socket(AF_INET, SOCK_DGRAM, 0);
    if (u < 0) return fail("socket: " + std::string(std::strerror(errno)));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(u, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(u);
      return fail("bind: " + std::string(std::strerror(errno)));
    }
    int t = ::socket(AF_INET, SOCK_STREAM, 0);
    bool tcp_free = t >= 0 && ::bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (t >= 0) ::close(t);
    ::close(u);
    if (!tcp_free) return fail("port " + std::to_string(ntohs(a.sin_port)) + " busy for TCP");
    return static_cast<std::uint16_t>(ntohs(a.sin_port));
  }

  std::string log() const {
    std::string out;
    for (const char* name : {"nsd.log", "nsd.out"}) {
      std::ifstream in(dir_ + "/" + name);
      std::stringstream ss;
      ss << in.rdbuf();
      if (!ss.str().empty()) out += std::string("\n--- ") + name + ":\n" + ss.str();
    }
    return out;
  }

  Result<void> launch(const std::map<std::string, std::string>& zones) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tern-nsd-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      return fail("mkdtemp: " + std::string(std::strerror(errno)));
    dir_ = tmpl;
    auto port = free_port();
    if (!port) return fail(port.error());
    port_ = *port;

    std::ofstream conf(dir_ + "/nsd.conf");
    conf << "server:\n"
         << "  ip-address: 127.0.0.1\n"
         << "  port: " << port_ << "\n"
         << "  do-ip6: no\n"
         << "  username: \"\"\n"  // no privilege drop: the test may run as root or not
         << "  chroot: \"\"\n"
         << "  zonesdir: \"" << dir_ << "\"\n"
         << "  database: \"\"\n"
         << "  zonelistfile: \"" << dir_ << "/zone.list\"\n"
         << "  xfrdfile: \"" << dir_ << "/xfrd.state\"\n"
         << "  xfrdir: \"" << dir_ << "\"\n"
         << "  pidfile: \"" << dir_ << "/nsd.pid\"\n"
         << "  logfile: \"" << dir_ << "/nsd.log\"\n"
         << "  server-count: 1\n"
         << "  verbosity: 1\n"
         << "remote-control:\n"
         << "  control-enable: no\n";
    for (const auto& [name, text] : zones) {
      conf << "zone:\n  name: \"" << name << "\"\n  zonefile: \"" << name << ".zone\"\n";
      std::ofstream(dir_ + "/" + name + ".zone") << text;
      first_zone_ = first_zone_.empty() ? name : first_zone_;
    }
    conf.close();

    // fork and exec rather than posix_spawn: the child asks to be killed when the test
    // process dies (PR_SET_PDEATHSIG), so a crashed test leaves no server behind. Between
    // fork and exec only async-signal-safe calls.
    std::string out = dir_ + "/nsd.out";
    std::string conf_path = dir_ + "/nsd.conf";
    std::vector<char*> argv{const_cast<char*>(binary), const_cast<char*>("-d"),
                            const_cast<char*>("-c"), conf_path.data(), nullptr};
    pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) return fail(std::string("cannot start nsd: fork: ") + std::strerror(errno));
    if (pid_ == 0) {
      if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || ::getppid() != parent) ::_exit(127);
      int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd >= 0) {
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
      }
      ::execv(binary, argv.data());
      ::_exit(127);
    }
    return wait_ready();
  }

  // Polls with a SOA query for the first zone until NSD answers, or fails with its log.
  Result<void> wait_ready() {
    auto deadline = std::chrono::steady_clock::now() + start_bound;
    int s = ::socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0) return fail("socket: " + std::string(std::strerror(errno)));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port_);
    auto query = soa_query(first_zone_);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        ::close(s);
        return fail("nsd exited at start (status " + std::to_string(status) + ")" + log());
      }
      ::sendto(s, query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
      pollfd p{s, POLLIN, 0};
      if (::poll(&p, 1, 100) == 1) {
        std::array<char, 512> buf{};
        if (::recv(s, buf.data(), buf.size(), 0) > 0) {
          ::close(s);
          return {};
        }
      }
    }
    ::close(s);
    stop();
    return fail("nsd did not answer on 127.0.0.1:" + std::to_string(port_) + " within " +
                std::to_string(start_bound.count()) + " s" + log());
  }

  static std::string soa_query(const std::string& zone) {
    // Header: id 0x7e57, no flags, one question (RFC 1035 §4.1.1).
    std::string q{"\x7e\x57\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12};
    std::size_t start = 0;
    while (start <= zone.size()) {
      auto dot = zone.find('.', start);
      if (dot == std::string::npos) dot = zone.size();
      q += static_cast<char>(dot - start);
      q += zone.substr(start, dot - start);
      start = dot + 1;
    }
    q += std::string("\x00\x00\x06\x00\x01", 5);  // root, QTYPE SOA, QCLASS IN
    return q;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + stop_bound;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
  }

  std::string dir_;
  std::string first_zone_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace tern::dns::fixtures
