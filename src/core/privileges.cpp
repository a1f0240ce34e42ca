// Dropping root; see privileges.hpp.
#include "core/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace tern {

Status drop_privileges(const std::string& user, const std::vector<std::string>& dirs) {
  if (::geteuid() != 0) return {};
  errno = 0;
  const passwd* pw = ::getpwnam(user.c_str());
  if (!pw)
    return fail("server.user '" + user + "' does not exist; create it (adduser --system --group " +
                user + ") or name another user");
  uid_t uid = pw->pw_uid;
  gid_t gid = pw->pw_gid;
  if (uid == 0) return {};  // the admin asked to stay root (server.user = "root")
  for (const auto& dir : dirs) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return fail("cannot create " + dir + ": " + ec.message());
    // Entries directly inside that root still owns (the spool's files after a run as
    // root) are handed over too; deeper trees such as mailboxes are left as they are.
    for (auto it = std::filesystem::directory_iterator(dir, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      struct stat st{};
      if (::lstat(it->path().c_str(), &st) == 0 && st.st_uid == 0 &&
          ::lchown(it->path().c_str(), uid, gid) != 0)
        return fail("cannot give " + it->path().string() + " to " + user + ": " +
                    std::strerror(errno));
    }
    if (::chown(dir.c_str(), uid, gid) != 0)
      return fail("cannot give " + dir + " to " + user + ": " + std::strerror(errno));
  }
  if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)
    return fail("cannot switch to user " + user + ": " + std::strerror(errno));
  if (::setuid(0) == 0) return fail("still able to regain root after dropping privileges");
  // The process may still be dumped for debugging, as the user it now is.
  ::prctl(PR_SET_DUMPABLE, 1);
  return {};
}

}  // namespace tern
