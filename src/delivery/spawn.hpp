// Starting a program without a shell: fork(), then in the child a new process group, default
// signal dispositions and an empty mask, the three given descriptors as 0/1/2 and no others,
// optionally the given gid (as the only group) and uid, the working directory, execve(). The
// parent learns through a close-on-exec pipe whether exec succeeded, and why not if it did not.
// Used by pipe delivery when ternd forks the program itself and by the launcher's helper.
//
// Trusted input: the caller has checked the program (an absolute path) and the ids. After
// fork() the child makes only async-signal-safe calls, so a multi-threaded parent is fine.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace tern::delivery {

// Why a program did not start: the step that failed and its errno.
struct SpawnFailure {
  enum Stage : int { pipe = 1, fork, groups, gid, uid, fds, exec };
  int stage = exec;
  int err = 0;
  // "cannot execute /usr/bin/x: No such file or directory"
  std::string text(const std::string& program) const;
};

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0]: the program's absolute path
  std::vector<std::string> env;   // "NAME=value" each
  std::string dir;                // working directory; "" or unreachable: "/"
  struct Ids {
    uid_t uid;
    gid_t gid;
  };
  std::optional<Ids> run_as;  // switch to these first (needs root)
  int in = -1, out = -1, err = -1;  // become 0, 1, 2; the caller keeps and closes its copies
};

// Starts the program and returns its pid (also its process group) once execve() succeeded.
// The caller reaps it.
Result<pid_t, SpawnFailure> spawn(const SpawnSpec& spec);

}  // namespace tern::delivery
