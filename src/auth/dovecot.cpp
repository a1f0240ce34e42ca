// Dovecot auth socket client; see dovecot.hpp. Protocol: Dovecot's "Authentication Protocol"
// (auth-client-interface.h, version 1.2): the server's handshake (VERSION, MECH, SPID, CUID,
// COOKIE, DONE), ours (VERSION, CPID), AUTH requests answered by OK, FAIL or CONT. PLAIN
// response: RFC 4616 §2. Input: untrusted lines from the socket, untrusted credentials.
// I/O: blocking calls on a worker thread, each bounded by poll(2) and one deadline.
#include "auth/dovecot.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <system_error>

#include "auth/sasl.hpp"
#include "auth/text.hpp"

namespace tern::auth {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::literals;

// Our side of the handshake: protocol version 1.2, then our process id (Dovecot checks it
// only on login sockets, where it must be unique; for auth-client it is informational).
constexpr std::string_view client_version_line = "VERSION\t1\t2\n";
// The major version we speak; a different one is another protocol.
constexpr std::string_view server_major_version = "1";
// Dovecot sends one MECH line per mechanism and four other lines: more than this in one
// handshake is not Dovecot.
constexpr std::size_t max_handshake_lines = 256;
// What an error message quotes of a line from the socket.
constexpr std::size_t printable_octets = 40;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, INT_MAX));
}

std::string errno_text(int e) { return std::error_code(e, std::system_category()).message(); }

// A piece of untrusted text fit for an error message: printable ASCII, bounded.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, printable_octets)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > printable_octets) out += "...";
  return "\"" + out + "\"";
}

// What Dovecot answered to one AUTH request.
enum class Verdict { ok, fail, temp_fail };
struct Answer {
  Verdict verdict = Verdict::fail;
  std::string user;  // OK's user= (unescaped), if any
};

bool has_param(const std::vector<std::string_view>& fields, std::string_view name) {
  return std::find(fields.begin() + 2, fields.end(), name) != fields.end();
}

}  // namespace

// One connection to the auth socket that has done the handshake. Not thread-safe: one
// verify uses it at a time.
class DovecotConnection {
 public:
  DovecotConnection(int fd, std::string socket) : fd_(fd), socket_(std::move(socket)) {}
  DovecotConnection(const DovecotConnection&) = delete;
  DovecotConnection& operator=(const DovecotConnection&) = delete;
  ~DovecotConnection() { ::close(fd_); }

  Status handshake(Clock::time_point deadline);
  Status write_all(std::string_view data, Clock::time_point deadline);
  Result<std::string> read_line(Clock::time_point deadline);

  // Whether an idle connection is still fit for a request: nothing unasked-for to read, no
  // hang-up (Dovecot restarted or dropped it).
  bool still_idle() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
  }
  unsigned next_id() { return ++last_id_; }
  // The peer closed the connection (EOF, EPIPE, ECONNRESET) rather than answering.
  bool closed_by_peer() const { return closed_by_peer_; }
  const std::vector<std::string>& mechanisms() const { return mechanisms_; }

 private:
  Status wait(short events, Clock::time_point deadline);
  Unexpected<Error> error(std::string_view what) const {
    return fail("Dovecot auth socket " + socket_ + ": " + std::string(what));
  }
  // The peer went away: EOF (e == 0), EPIPE or ECONNRESET from `call`.
  Unexpected<Error> closed(std::string_view call, int e) {
    closed_by_peer_ = true;
    return error("Dovecot closed the connection" +
                 (e == 0 ? std::string() : " (" + std::string(call) + ": " + errno_text(e) + ")"));
  }

  int fd_;
  std::string socket_;  // the path, for messages
  std::string buffer_;  // read, not yet returned as lines
  unsigned last_id_ = 0;
  bool closed_by_peer_ = false;
  std::vector<std::string> mechanisms_;
};

Status DovecotConnection::wait(short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd_, events, 0};
    int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) return {};  // ready, or an error/hang-up the next call reports
    if (n == 0) return error("no answer in time");
    if (errno != EINTR) return error("poll: " + errno_text(errno));
  }
}

Status DovecotConnection::write_all(std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (auto ready = wait(POLLOUT, deadline); !ready) return ready;
      continue;
    }
    if (errno == EPIPE || errno == ECONNRESET) return closed("send", errno);
    return error("send: " + errno_text(errno));
  }
  return {};
}

Result<std::string> DovecotConnection::read_line(Clock::time_point deadline) {
  for (;;) {
    if (auto eol = buffer_.find('\n'); eol != std::string::npos) {
      std::string line = buffer_.substr(0, eol);
      buffer_.erase(0, eol + 1);
      return line;
    }
    if (buffer_.size() > max_dovecot_line_octets) return error("line too long: not Dovecot");
    if (auto ready = wait(POLLIN, deadline); !ready) return fail(ready.error());
    char chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) return closed("recv", 0);
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
    if (errno == ECONNRESET) return closed("recv", errno);
    return error("recv: " + errno_text(errno));
  }
}

// Dovecot's handshake: VERSION first, then MECH, SPID, CUID, COOKIE in any order, then
// DONE. Lines we do not know are skipped (later protocol versions add some).
Status DovecotConnection::handshake(Clock::time_point deadline) {
  std::string ours =
      std::string(client_version_line) + "CPID\t" + std::to_string(::getpid()) + "\n";
  if (auto sent = write_all(ours, deadline); !sent) return sent;
  bool version_seen = false;
  for (std::size_t count = 0; count < max_handshake_lines; ++count) {
    auto line = read_line(deadline);
    if (!line) return fail(line.error());
    auto fields = split(*line, '\t');
    if (fields[0] == "VERSION") {
      if (fields.size() < 2 || fields[1] != server_major_version)
        return error("protocol version " + printable(*line) + ", expected 1.x");
      version_seen = true;
    } else if (!version_seen) {
      return error("handshake does not start with VERSION but " + printable(*line) +
                   ": is this Dovecot's auth-client socket?");
    } else if (fields[0] == "MECH") {
      if (fields.size() < 2 || fields[1].empty()) return error("malformed " + printable(*line));
      mechanisms_.emplace_back(fields[1]);
    } else if (fields[0] == "DONE") {
      if (std::find(mechanisms_.begin(), mechanisms_.end(), "PLAIN") == mechanisms_.end())
        return error("Dovecot does not offer PLAIN (add plain to auth_mechanisms)");
      return {};
    }
  }
  return error("handshake without DONE");
}

namespace {

// The answer in Dovecot's reply to request `id`; an error for anything else. CONT (Dovecot
// wants another round) cannot happen for PLAIN with its response; it is garbage here.
Result<Answer> parse_reply(std::string_view line, unsigned id) {
  auto fields = split(line, '\t');
  if (fields.size() < 2 || (fields[0] != "OK" && fields[0] != "FAIL"))
    return fail("unexpected reply " + printable(line));
  if (fields[1] != std::to_string(id)) return fail("reply to another request: " + printable(line));
  Answer answer;
  if (fields[0] == "OK") {
    // nologin: the password is right but the user may not log in here (passdb extra field).
    answer.verdict = has_param(fields, "nologin") ? Verdict::fail : Verdict::ok;
    for (auto f : fields)
      if (f.starts_with("user="))
        if (auto name = dovecot_unescape(f.substr(5))) answer.user = *name;
    return answer;
  }
  if (has_param(fields, "temp") || has_param(fields, "code=temp_fail"))
    answer.verdict = Verdict::temp_fail;
  return answer;
}

// One request on `connection`: an error when the connection broke or spoke garbage (it must
// not be reused then), otherwise Dovecot's answer.
Result<Answer> request(DovecotConnection& connection, const DovecotOptions& options,
                       std::string_view user, std::string_view password,
                       const ClientContext& client, Clock::time_point deadline) {
  unsigned id = connection.next_id();
  std::string line = dovecot_auth_request(id, options.service, user, password, client);
  auto sent = connection.write_all(line, deadline);
  wipe(line);
  if (!sent) return fail(sent.error());
  auto reply = connection.read_line(deadline);
  if (!reply) return fail(reply.error());
  auto answer = parse_reply(*reply, id);
  if (!answer)
    return fail("Dovecot auth socket " + options.socket.string() + ": " + answer.error().message);
  return answer;
}

}  // namespace

std::string dovecot_escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\001':
        out += "\0011";
        break;
      case '\t':
        out += "\001t";
        break;
      case '\r':
        out += "\001r";
        break;
      case '\n':
        out += "\001n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::optional<std::string> dovecot_unescape(std::string_view value) {
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '\001') {
      out += value[i];
      continue;
    }
    if (++i == value.size()) return std::nullopt;
    switch (value[i]) {
      case '1':
        out += '\001';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'n':
        out += '\n';
        break;
      default:
        return std::nullopt;
    }
  }
  return out;
}

std::string dovecot_auth_request(unsigned id, std::string_view service, std::string_view user,
                                 std::string_view password, const ClientContext& client) {
  // RFC 4616 §2: empty authzid, NUL, authcid, NUL, passwd.
  std::string plain = "\0"s + std::string(user) + '\0' + std::string(password);
  std::string resp = base64_encode(plain);
  wipe(plain);
  std::string line;
  line.reserve(256 + resp.size());  // one buffer: no stray copies of resp when it grows
  line += "AUTH\t" + std::to_string(id) + "\tPLAIN\tservice=" + dovecot_escape(service);
  if (client.secured) line += "\tsecured";
  if (!client.local_ip.empty()) line += "\tlip=" + dovecot_escape(client.local_ip);
  if (!client.remote_ip.empty()) line += "\trip=" + dovecot_escape(client.remote_ip);
  if (client.local_port != 0) line += "\tlport=" + std::to_string(client.local_port);
  if (client.remote_port != 0) line += "\trport=" + std::to_string(client.remote_port);
  line += "\tresp=";
  line += resp;
  line += '\n';
  wipe(resp);
  return line;
}

DovecotBackend::DovecotBackend(DovecotOptions options) : options_(std::move(options)) {}
DovecotBackend::~DovecotBackend() = default;

Result<std::unique_ptr<DovecotConnection>> DovecotBackend::connect(Clock::time_point deadline) {
  const std::string path = options_.socket.string();
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path)
    return fail("Dovecot auth socket path " + printable(path) + " is empty or too long");
  std::copy(path.begin(), path.end(), address.sun_path);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket: " + errno_text(errno));
  auto connection = std::make_unique<DovecotConnection>(fd, path);  // owns fd from here
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    // A unix socket connects at once or not at all; EAGAIN is a full listen backlog.
    return fail("Dovecot auth socket " + path + ": connect: " + errno_text(errno));
  }
  if (auto done = connection->handshake(deadline); !done) return fail(done.error());
  return connection;
}

std::unique_ptr<DovecotConnection> DovecotBackend::take_idle() {
  std::lock_guard lock(mutex_);
  while (!idle_.empty()) {
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    if (connection->still_idle()) return connection;
  }
  return nullptr;
}

void DovecotBackend::keep(std::unique_ptr<DovecotConnection> connection) {
  std::lock_guard lock(mutex_);
  if (idle_.size() < options_.idle_connections) idle_.push_back(std::move(connection));
}

Result<bool> DovecotBackend::verify(std::string_view user, std::string_view password) {
  return verify(user, password, ClientContext{});
}

Result<bool> DovecotBackend::verify(std::string_view user, std::string_view password,
                                    const ClientContext& client) {
  auto who = authenticate(user, password, client);
  if (!who) return fail(who.error().message);
  return who->has_value();
}

Result<std::optional<std::string>> DovecotBackend::authenticate(std::string_view user,
                                                                std::string_view password,
                                                                const ClientContext& client) {
  // PLAIN separates its fields with NUL: a name or password holding one cannot be sent,
  // and cannot be anyone's.
  if (user.empty() || user.find('\0') != std::string_view::npos ||
      password.find('\0') != std::string_view::npos)
    return std::optional<std::string>{};
  const auto deadline = Clock::now() + options_.timeout;
  for (bool retried = false;; retried = true) {
    auto connection = take_idle();
    const bool reused = connection != nullptr;
    if (!connection) {
      auto fresh = connect(deadline);
      if (!fresh) return fail(fresh.error());
      connection = std::move(*fresh);
    }
    auto answer = request(*connection, options_, user, password, client, deadline);
    if (answer) {
      keep(std::move(connection));
      if (answer->verdict == Verdict::temp_fail)
        return fail("Dovecot auth socket " + options_.socket.string() + ": temporary failure");
      if (answer->verdict != Verdict::ok) return std::optional<std::string>{};
      return std::optional<std::string>(answer->user.empty() ? std::string(user) : answer->user);
    }
    // An idle connection Dovecot had closed (a restart): the others are likely gone too.
    // Try once more on a new connection.
    if (reused && connection->closed_by_peer() && !retried) {
      std::lock_guard lock(mutex_);
      idle_.clear();
      continue;
    }
    return fail(answer.error());
  }
}

Result<std::vector<std::string>> DovecotBackend::mechanisms() {
  auto connection = connect(Clock::now() + options_.timeout);
  if (!connection) return fail(connection.error());
  std::vector<std::string> names = (*connection)->mechanisms();
  keep(std::move(*connection));
  return names;
}

}  // namespace tern::auth
