// The launcher's wire; see launcher_wire.hpp.
#include "delivery/launcher_wire.hpp"

#include <cstring>
#include <type_traits>

namespace tern::delivery::wire {
namespace {

enum class Op : std::uint8_t { run = 1, kill = 2, open = 3, dot_lock = 4, dot_unlock = 5 };

class Writer {
 public:
  template <class T>
  void put(T v) {
    static_assert(std::is_integral_v<T>);
    out_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void put(std::string_view s) {
    put(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
  }
  void put(const std::vector<std::string>& list) {
    put(static_cast<std::uint32_t>(list.size()));
    for (const auto& s : list) put(std::string_view(s));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads fields in order; after the first short read every later one fails too.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <class T>
  bool get(T& v) {
    static_assert(std::is_integral_v<T>);
    if (in_.size() < sizeof v) return ok_ = false;
    std::memcpy(&v, in_.data(), sizeof v);
    in_.remove_prefix(sizeof v);
    return ok_;
  }
  bool get(std::string& s) {
    std::uint32_t n = 0;
    if (!get(n) || n > in_.size()) return ok_ = false;
    s.assign(in_.data(), n);
    in_.remove_prefix(n);
    return ok_;
  }
  bool get(std::vector<std::string>& list, std::size_t max) {
    std::uint32_t n = 0;
    if (!get(n) || n > max) return ok_ = false;
    list.resize(n);
    for (auto& s : list)
      if (!get(s)) return false;
    return ok_;
  }
  // True when every field was read and nothing is left over.
  bool done() const { return ok_ && in_.empty(); }

 private:
  std::string_view in_;
  bool ok_ = true;
};

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

Status check_ids(std::uint32_t uid, std::uint32_t gid) {
  // The helper exists to act as users other than root; root is never one of them (as
  // Postfix pipe(8): "the user= attribute must not specify a privileged user").
  if (uid == 0) return fail("refusing to act as uid 0");
  if (gid == 0) return fail("refusing to act as gid 0");
  return {};
}

}  // namespace

bool safe_absolute_path(std::string_view path) {
  if (path.size() < 2 || path.size() > kMaxPath || path.front() != '/' || has_nul(path))
    return false;
  std::string_view rest = path.substr(1);
  while (true) {
    auto slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string_view::npos) return true;
    rest.remove_prefix(slash + 1);
  }
}

std::string encode(const Request& request) {
  Writer w;
  std::visit(
      [&](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, RunRequest>) {
          w.put(static_cast<std::uint8_t>(Op::run));
          w.put(request.id);
          w.put(b.uid), w.put(b.gid), w.put(b.time_limit_ms);
          w.put(std::string_view(b.dir));
          w.put(b.argv);
          w.put(b.env);
        } else if constexpr (std::is_same_v<T, KillRequest>) {
          w.put(static_cast<std::uint8_t>(Op::kill));
          w.put(request.id);
        } else if constexpr (std::is_same_v<T, OpenRequest>) {
          w.put(static_cast<std::uint8_t>(Op::open));
          w.put(request.id);
          w.put(b.uid), w.put(b.gid);
          w.put(std::string_view(b.path));
        } else if constexpr (std::is_same_v<T, DotLockRequest>) {
          w.put(static_cast<std::uint8_t>(Op::dot_lock));
          w.put(request.id);
          w.put(b.uid), w.put(b.gid), w.put(b.stale_seconds);
          w.put(std::string_view(b.path));
        } else {
          w.put(static_cast<std::uint8_t>(Op::dot_unlock));
          w.put(request.id);
        }
      },
      request.body);
  return w.take();
}

std::string encode(const Reply& reply) {
  Writer w;
  w.put(reply.id);
  w.put(static_cast<std::uint8_t>(reply.kind));
  w.put(reply.status);
  w.put(reply.flags);
  w.put(std::string_view(reply.text));
  return w.take();
}

std::optional<std::uint64_t> request_id(std::string_view message) {
  Reader r(message.substr(0, std::min(message.size(), kMaxMessage)));
  std::uint8_t op = 0;
  std::uint64_t id = 0;
  if (!r.get(op) || !r.get(id)) return std::nullopt;
  return id;
}

Result<Request> decode_request(std::string_view message) {
  if (message.size() > kMaxMessage) return fail("request too long");
  Reader r(message);
  std::uint8_t op = 0;
  Request out;
  r.get(op);
  r.get(out.id);
  switch (static_cast<Op>(op)) {
    case Op::run: {
      RunRequest b;
      r.get(b.uid), r.get(b.gid), r.get(b.time_limit_ms), r.get(b.dir);
      r.get(b.argv, kMaxArgs), r.get(b.env, kMaxEnv);
      out.body = std::move(b);
      break;
    }
    case Op::kill: out.body = KillRequest{}; break;
    case Op::open: {
      OpenRequest b;
      r.get(b.uid), r.get(b.gid), r.get(b.path);
      out.body = std::move(b);
      break;
    }
    case Op::dot_lock: {
      DotLockRequest b;
      r.get(b.uid), r.get(b.gid), r.get(b.stale_seconds), r.get(b.path);
      out.body = std::move(b);
      break;
    }
    case Op::dot_unlock: out.body = DotUnlockRequest{}; break;
    default: return fail("unknown request type " + std::to_string(op));
  }
  if (!r.done()) return fail("malformed request");
  return out;
}

Result<Reply> decode_reply(std::string_view message) {
  if (message.size() > kMaxMessage) return fail("reply too long");
  Reader r(message);
  Reply out;
  std::uint8_t kind = 0;
  r.get(out.id), r.get(kind), r.get(out.status), r.get(out.flags), r.get(out.text);
  if (!r.done()) return fail("malformed reply");
  if (kind < static_cast<std::uint8_t>(Reply::Kind::ok) ||
      kind > static_cast<std::uint8_t>(Reply::Kind::failed))
    return fail("unknown reply type " + std::to_string(kind));
  out.kind = static_cast<Reply::Kind>(kind);
  return out;
}

Status validate(const RunRequest& r) {
  if (auto st = check_ids(r.uid, r.gid); !st) return st;
  if (r.argv.empty() || r.argv.size() > kMaxArgs) return fail("no program to run");
  // A program by absolute path only: never a PATH search, never a shell (pipe.hpp).
  if (!safe_absolute_path(r.argv.front()))
    return fail("program must be an absolute path: " + r.argv.front());
  for (const auto& a : r.argv)
    if (has_nul(a)) return fail("argument contains NUL");
  if (r.env.size() > kMaxEnv) return fail("environment too large");
  for (const auto& e : r.env)
    if (has_nul(e) || e.find('=') == std::string::npos || e.front() == '=')
      return fail("malformed environment entry");
  if (!r.dir.empty() && r.dir != "/" && !safe_absolute_path(r.dir))
    return fail("working directory must be an absolute path");
  if (r.time_limit_ms == 0 || r.time_limit_ms > kMaxTimeLimitMs)
    return fail("time limit out of range");
  return {};
}

Status validate(const OpenRequest& r) {
  if (auto st = check_ids(r.uid, r.gid); !st) return st;
  if (!safe_absolute_path(r.path)) return fail("not a safe absolute path: " + r.path);
  return {};
}

Status validate(const DotLockRequest& r) {
  if (auto st = check_ids(r.uid, r.gid); !st) return st;
  if (!safe_absolute_path(r.path)) return fail("not a safe absolute path: " + r.path);
  if (r.stale_seconds < kMinStaleSeconds || r.stale_seconds > kMaxStaleSeconds)
    return fail("stale lock age out of range");
  return {};
}

}  // namespace tern::delivery::wire
