// Pipe delivery: runs a command with the message on its standard input, as Postfix's
// pipe(8) and local(8) "|command" do, and maps its exit status to an outcome by sysexits.h.
// The command is never given to a shell: argv comes as a vector (the caller splits it from
// the configuration) and argv[0] must be an absolute path — the program itself may well be
// a shell script. The child gets a new process group, default signal dispositions, an empty
// signal mask, no descriptors but 0/1/2 (stdin the message, stdout and stderr one pipe we
// read), HOME as its working directory (else /), and an environment of exactly SENDER,
// RECIPIENT, USER, LOCAL, EXTENSION, DOMAIN, HOME (when known) and PATH=/usr/bin:/bin.
// Running as root, it first takes the given gid (as its only group) and uid. Not running as
// root but given a Launcher, the launcher's helper starts the program as that user
// (launcher.hpp) and Tern still feeds its stdin and reads its output here.
//
// Input and output move concurrently under poll(), so a program that prints much before it
// reads cannot deadlock us; a program that exits without reading its input is no error
// (SIGPIPE is blocked in this thread and the EPIPE noted) — its exit status decides. Past the
// time limit the whole process group is killed (SIGKILL) and the mail deferred.
//
// Trusted input: the command (configuration or aliases) and the run-as ids. The envelope
// values come from the network, checked as addresses by smtp/, and are passed as data only.
// Thread-safe; blocking (for as long as the command runs), run off the event loop.
// Standards: sysexits.h (the exit codes), RFC 3463 (status codes), Postfix's sys_exits table
// (which codes defer and which bounce, so admins' scripts behave as they did under Postfix).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "delivery/launcher.hpp"
#include "mail/outcome.hpp"

namespace tern::delivery {

// One sysexits.h code: what it means and what becomes of the mail.
struct SysExit {
  int code;
  std::string_view name;  // "EX_NOUSER"
  std::string_view dsn;   // "5.1.1"; a 4.x.x status defers, a 5.x.x one bounces
  std::string_view text;  // "user unknown"
};

// The entry for `code` (64 to 78), or nullptr for any other code.
const SysExit* find_sys_exit(int code);

// Outcome of a command that exited with `status` after printing `output` (as
// command_output_text() shows it, may be empty). 0 is sent; codes of the table take its
// status; any other code bounces 5.3.0, as under Postfix.
mail::Outcome outcome_of_exit(int status, std::string_view output);

// The program's output as it goes into an outcome: printable ASCII only (line breaks and
// tabs become one space, other bytes '?'), trimmed, "..." appended when cut short.
std::string command_output_text(std::string_view raw, bool truncated);

struct PipeOptions {
  // Postfix's command_time_limit is 1000 s; the same here, so a script that works under
  // Postfix is not killed under Tern. A filter that needs longer is broken or stuck.
  std::chrono::milliseconds time_limit{std::chrono::seconds(1000)};
  // Add Return-Path: and Delivered-To: before the message (Postfix pipe(8) flags R and D).
  bool trace_headers = true;
};

struct RunAs {
  uid_t uid;
  gid_t gid;
};

struct PipeCommand {
  std::vector<std::string> argv;  // argv[0]: absolute path of the program
  std::optional<RunAs> run_as;    // applied when Tern runs as root, or by the launcher
};

// The recipient as the command sees it in its environment.
struct PipeEnvelope {
  std::string_view sender;     // SENDER: "" for the null sender
  std::string_view recipient;  // RECIPIENT: the full address
  std::string_view user;       // USER: the local user the address resolved to
  std::string_view local;      // LOCAL: the local part, extension included
  std::string_view extension;  // EXTENSION: after the delimiter ("foo" of user+foo), or ""
  std::string_view domain;     // DOMAIN: the recipient's domain
  std::string_view home;       // HOME: the user's home directory, or "" (then not set)
};

class Pipe {
 public:
  // With `launcher` (not owned), commands with a run_as start through it.
  explicit Pipe(PipeOptions options = {}, Launcher* launcher = nullptr);

  // Runs `command` with `message` (CRLF line endings, as stored in the spool; the command
  // reads LF endings) on its standard input.
  mail::Outcome deliver(const PipeCommand& command, const PipeEnvelope& envelope,
                        std::string_view message) const;

 private:
  PipeOptions options_;
  Launcher* launcher_;
};

}  // namespace tern::delivery
