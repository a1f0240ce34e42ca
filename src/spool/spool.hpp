// The durable store of queued mail (DESIGN.md "spool/"; STYLE.md §5): RocksDB, written
// only through this class. commit() is the one way a message enters: its callback runs
// after the RocksDB WAL write that holds the message has been synced to stable storage, and
// only then may the SMTP session say 250. A single committer thread gathers every commit
// waiting and writes them as one synced WriteBatch (group commit).
//
// Thread safety: every member may be called from any thread. Callbacks run on the
// committer thread and must only hand work over (post to an executor), never block.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "spool/message.hpp"

namespace tern::spool {

class Spool {
 public:
  // primary: ternd (creates the spool); admin: ternctl changing a spool that must exist
  // while no daemon runs; read_only: reading beside a running daemon.
  enum class Mode { primary, admin, read_only };
  using Done = std::function<void(Status)>;

  // Opens (creating if needed, in primary mode) the spool at `path`. Fails with a clear
  // message when another process holds it in primary mode.
  static Result<std::unique_ptr<Spool>> open(const std::string& path, Mode mode);
  virtual ~Spool() = default;

  // Stores envelope and message durably; `done` runs once the data is synced. The body is
  // shared so the scheduler can keep the same text in memory for the first attempt.
  virtual void commit(const Envelope& envelope, std::shared_ptr<const std::string> body,
                      Done done) = 0;

  // Records recipient states (by index into envelope.recipients) and the held flag. Written
  // without its own sync: it survives a process crash (the WAL is in the OS), and a power
  // loss before the next sync at worst repeats a delivery (at-least-once).
  virtual Status update(const Envelope& envelope) = 0;

  // Removes a message and everything stored with it.
  virtual Status remove(std::string_view id) = 0;

  // Every message's envelope, in queue-ID (arrival) order.
  virtual Result<std::vector<Envelope>> list() = 0;
  virtual Result<std::optional<Envelope>> find(std::string_view id) = 0;
  virtual Result<std::optional<std::string>> body(std::string_view id) = 0;

  // Synced group commits performed and messages they carried (for tests and metrics).
  virtual std::uint64_t sync_count() const = 0;
};

}  // namespace tern::spool
