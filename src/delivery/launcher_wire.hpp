// The launcher's wire: the requests ternd sends to its privileged helper (launcher.hpp) and
// the helper's replies, one SOCK_SEQPACKET message each, and the checks the helper applies
// before acting on a request. Pure: no I/O, so the encoding and the checks are unit-tested
// on their own.
//
// Untrusted input: everything decoded here. The helper runs as root and ternd does not, so a
// request is treated as hostile: decode() rejects any malformed or oversized message and
// validate() any request the helper must never carry out — uid or gid 0, a relative program
// or path, "..", NUL bytes, an environment entry without '=', a time limit out of range.
// Descriptors travel beside the bytes (SCM_RIGHTS) and are counted by the helper.
//
// Encoding (host byte order: both ends are the same binary on the same machine): a message
// is u8 op, u64 id, then the op's fields; integers fixed-width, a string is u32 length and
// its bytes, a list is u32 count and that many strings.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.hpp"

namespace tern::delivery {

// Whom the helper may act as, fixed when ternd forks it (a compromised ternd cannot widen
// it): a user with a passwd entry, acting with that entry's primary group only, whose uid
// is an ordinary account's (Debian Policy §9.2.2: 1000 to 59999) or one named at start
// (delivery.pipe.user, route.default_privs, the owners of the alias files: "nobody",
// "list", ...). Never uid 0; never a chosen group (disk, shadow, docker would be root).
struct LauncherPolicy {
  static constexpr std::uint32_t ordinary_uid_min = 1000;
  static constexpr std::uint32_t ordinary_uid_max = 59999;
  std::set<std::uint32_t> named_uids;
};

}  // namespace tern::delivery

namespace tern::delivery::wire {


// The largest message either side sends or accepts: a command line and its environment fit
// with room to spare (the message itself is never sent through the helper).
constexpr std::size_t kMaxMessage = 64 * 1024;
// Bounds on a command: pipe transports and alias commands have a handful of arguments and
// pipe.hpp's fixed environment of eight variables.
constexpr std::size_t kMaxArgs = 256;
constexpr std::size_t kMaxEnv = 64;
// Longest path accepted (PATH_MAX).
constexpr std::size_t kMaxPath = 4096;
// Longest time limit a command may ask for: a day, far past pipe.hpp's 1000 s default.
constexpr std::uint32_t kMaxTimeLimitMs = 24u * 3600u * 1000u;
// Oldest age a dot-lock may be declared stale at, and the youngest: liblockfile's 5 minutes
// is the default (mbox.hpp); under a minute would break a writer still holding it.
constexpr std::uint32_t kMinStaleSeconds = 60;
constexpr std::uint32_t kMaxStaleSeconds = 24u * 3600u;

// Run argv as uid/gid, stdin/stdout/stderr from the three descriptors sent with it, in a new
// process group; killed (SIGKILL to the group) after time_limit_ms. Answered by `exited` when
// it ends, or `failed` when it could not start.
struct RunRequest {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint32_t time_limit_ms = 0;
  std::string dir;  // working directory, or "" for "/"
  std::vector<std::string> argv;
  std::vector<std::string> env;
};

// Kill the process group of the running command with this request's id. No reply of its own:
// the command's `exited` follows.
struct KillRequest {};

// Open `path` for appending as uid/gid, creating it (mode 0600, owned by uid/gid) when it is
// missing. Answered by `ok` with the descriptor (flags: kCreated when created) or `failed`.
struct OpenRequest {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string path;
};

// Take the dot-lock "<path>.lock" as uid/gid (with group mail where the directory needs it);
// one try, a lock older than stale_seconds removed first. Answered by `ok` (held under this
// request's id until a DotUnlockRequest with the same id), `busy`, or `failed`.
struct DotLockRequest {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint32_t stale_seconds = 0;
  std::string path;
};

// Remove the dot-lock taken by the DotLockRequest with this id. Answered by `ok`.
struct DotUnlockRequest {};

using Body = std::variant<RunRequest, KillRequest, OpenRequest, DotLockRequest, DotUnlockRequest>;

struct Request {
  std::uint64_t id = 0;
  Body body;
};

struct Reply {
  enum class Kind : std::uint8_t { ok = 1, busy = 2, exited = 3, failed = 4 };
  std::uint64_t id = 0;
  Kind kind = Kind::failed;
  std::int32_t status = 0;  // exited: the wait status; failed: the errno (0 if none)
  std::uint32_t flags = 0;  // kCreated, kTimedOut
  std::string text;         // failed: what could not be done
};
constexpr std::uint32_t kCreated = 1;   // ok to an OpenRequest: the file is new
constexpr std::uint32_t kTimedOut = 2;  // exited: killed at the time limit

std::string encode(const Request& request);
std::string encode(const Reply& reply);

// The request or reply in `message`; an error for anything malformed, truncated, oversized or
// followed by extra bytes.
Result<Request> decode_request(std::string_view message);
// The id of a request that did not decode, when its first bytes hold one: the helper
// answers it "failed" so ternd does not wait out its bound.
std::optional<std::uint64_t> request_id(std::string_view message);
Result<Reply> decode_reply(std::string_view message);

// Whether the helper may carry out the request; the error says why not.
Status validate(const RunRequest& r);
Status validate(const OpenRequest& r);
Status validate(const DotLockRequest& r);

// Whether `path` is absolute, without NUL, "." or ".." components or a trailing '/', and
// within kMaxPath.
bool safe_absolute_path(std::string_view path);

}  // namespace tern::delivery::wire
