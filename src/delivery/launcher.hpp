// Privilege separation for local delivery, as Postfix's master/local and OpenSMTPD's parent
// process do it: before ternd drops root it forks a small helper, the launcher, that keeps
// root and does only the few things local delivery needs another user for:
//
//   - run a command (absolute argv[0], given environment and working directory) as a uid/gid
//     that is never 0, with stdin/stdout/stderr that ternd passes over the socket, in a new
//     process group, killed at a time limit or on request; it reports the exit status;
//   - open a file for appending as a uid/gid (created mode 0600 and owned by that user when
//     missing; O_APPEND|O_NOFOLLOW, regular files only) and pass the descriptor back;
//   - take and release the dot-lock "<file>.lock" as that user, with group mail where the
//     directory is group-mail writable (Debian Policy §11.6, liblockfile's dotlockfile).
//
// ternd keeps everything else: writing the message to the command's stdin and reading its
// output, the fcntl lock and the append to the file. The helper never reads mail.
//
// Transport: a SOCK_SEQPACKET socketpair, one request or reply per message (launcher_wire.hpp),
// descriptors as SCM_RIGHTS. Every request carries an id; one reader thread in ternd matches
// replies to the waiting caller, so delivery threads use the launcher concurrently. The
// helper is one thread with a poll() loop over its socket and a pidfd per running command:
// a command running for its whole 1000 s limit blocks nothing else.
//
// Trust: the helper treats every request as hostile (ternd runs as server.user and may be
// compromised): it validates each (launcher_wire.hpp), never acts as uid or gid 0, creates
// and opens files only with the target user's file-system ids, and forgets nothing it holds
// (dot-locks, children) when ternd goes: on EOF it removes its locks, kills its commands'
// process groups and exits. If the helper dies, requests fail and the deliveries that needed
// it defer (4.3.0); ternd logs it once and runs on.
// Thread-safe (the client side); blocking calls, for the delivery pool, never an event loop.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/result.hpp"
#include "delivery/launcher_wire.hpp"

namespace tern::delivery {

// A request the helper refused or could not carry out, or a helper that is gone (err 0).
struct LaunchError {
  int err = 0;  // errno from the helper, or 0
  std::string text;
};

class Launcher {
 public:
  // Forks the helper. Call as root, while the process has no other thread (the child goes on
  // running this program's code after fork()), and before dropping root.
  // `policy`: whom the helper may act as, fixed from now on.
  static Result<std::unique_ptr<Launcher>> start(const LauncherPolicy& policy);
  // Closes the socket; the helper cleans up and exits, and is reaped here.
  ~Launcher();
  Launcher(const Launcher&) = delete;
  Launcher& operator=(const Launcher&) = delete;

  struct Pending;  // one request waiting for its reply (launcher.cpp)

  // A command the helper runs.
  class Command {
   public:
    Command(Launcher& launcher, std::uint64_t id, std::shared_ptr<Pending> pending);
    ~Command();  // still running: killed, and its end awaited for a bounded time
    // Readable once the command has ended or the helper is gone: for poll().
    int ready_fd() const;
    // The `exited` or `failed` reply; nullopt while it runs; a `failed` reply with status 0
    // when the helper is gone.
    std::optional<wire::Reply> result() const;
    // Asks the helper to kill the command's process group (its `exited` reply follows).
    void kill();

   private:
    Launcher& launcher_;
    std::uint64_t id_;
    std::shared_ptr<Pending> pending_;
  };

  // Runs `request` with `in`, `out`, `err` as its descriptors 0, 1, 2 (the caller keeps and
  // closes its copies once this returns).
  Result<std::unique_ptr<Command>, LaunchError> run(wire::RunRequest request, int in, int out,
                                                    int err);

  struct Opened {
    int fd;        // the caller owns it
    bool created;  // the file is new (owned by uid/gid, mode 0600)
  };
  Result<Opened, LaunchError> open_append(uid_t uid, gid_t gid, const std::string& path);

  // One try at "<path>.lock": the id to release it with, or nullopt when another holds it.
  Result<std::optional<std::uint64_t>, LaunchError> try_dot_lock(uid_t uid, gid_t gid,
                                                                 const std::string& path,
                                                                 std::chrono::seconds stale);
  void dot_unlock(std::uint64_t id);

  // The helper's pid, for the log.
  pid_t pid() const { return pid_; }

 private:
  Launcher(int sock, pid_t pid);
  struct Answer {
    wire::Reply reply;
    int fd = -1;
  };
  std::shared_ptr<Pending> enqueue(std::uint64_t id);
  void forget(std::uint64_t id);
  bool send(const wire::Request& request, const int* fds, int n_fds);
  // Sends `request` and waits for its reply (bounded); the helper gone is an error.
  Result<Answer, LaunchError> call(wire::Request request);
  void read_replies();

  int sock_;
  pid_t pid_;
  std::atomic<std::uint64_t> next_id_{1};
  std::mutex mu_;
  std::map<std::uint64_t, std::shared_ptr<Pending>> pending_;
  bool gone_ = false;
  std::atomic<bool> closing_{false};  // ~Launcher has begun: the end is no failure
  std::thread reader_;
};

}  // namespace tern::delivery
