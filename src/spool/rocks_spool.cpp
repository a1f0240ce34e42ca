// The RocksDB spool and its group committer; see spool.hpp and docs/spool-format.md.
//
// Group commit: sessions call commit() from any thread; each adds its records to the
// pending list and wakes the committer. The committer takes everything pending, writes it
// as one WriteBatch with sync=true (one fsync of the WAL), then runs every callback. While
// it syncs, new commits gather for the next batch, so the number of fsyncs per second is
// bounded by the disk, not by the number of messages.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "core/log.hpp"
#include "spool/record.hpp"
#include "spool/spool.hpp"

namespace tern::spool {
namespace {

// Bodies at least this large go to RocksDB blob files, so compaction does not rewrite them.
constexpr std::uint64_t blob_threshold = 64 * 1024;

struct PendingCommit {
  std::string envelope_key, envelope, body_key;
  std::shared_ptr<const std::string> body;
  Spool::Done done;
};

class RocksSpool final : public Spool {
 public:
  RocksSpool(std::unique_ptr<rocksdb::DB> db, bool primary) : db_(std::move(db)) {
    if (primary) committer_ = std::thread([this] { run_committer(); });
  }

  ~RocksSpool() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    if (committer_.joinable()) committer_.join();
    db_->Close();
  }

  void commit(const Envelope& envelope, std::shared_ptr<const std::string> body,
              Done done) override {
    PendingCommit p{record::envelope_key(envelope.id), record::encode(envelope),
                    record::body_key(envelope.id), std::move(body), std::move(done)};
    {
      std::lock_guard lock(mutex_);
      if (stopping_) {
        p.done(fail("spool is shutting down"));
        return;
      }
      pending_.push_back(std::move(p));
    }
    wake_.notify_one();
  }

  Status update(const Envelope& envelope) override {
    rocksdb::WriteOptions wo;
    auto s = db_->Put(wo, record::envelope_key(envelope.id), record::encode(envelope));
    if (!s.ok()) return fail("spool update of " + envelope.id + ": " + s.ToString());
    return {};
  }

  Status remove(std::string_view id) override {
    rocksdb::WriteBatch batch;
    batch.Delete(record::envelope_key(id));
    batch.Delete(record::body_key(id));
    rocksdb::WriteOptions wo;
    auto s = db_->Write(wo, &batch);
    if (!s.ok()) return fail("spool remove of " + std::string(id) + ": " + s.ToString());
    return {};
  }

  Result<std::vector<Envelope>> list() override {
    std::vector<Envelope> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    const std::string prefix(record::envelope_prefix);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      auto e = record::decode(it->value().ToStringView());
      if (!e) {
        log::get("spool").error("skipping record {}: {}", it->key().ToString(), e.error().message);
        continue;
      }
      out.push_back(std::move(*e));
    }
    if (!it->status().ok()) return fail("spool read: " + it->status().ToString());
    return out;
  }

  Result<std::optional<Envelope>> find(std::string_view id) override {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), record::envelope_key(id), &value);
    if (s.IsNotFound()) return std::optional<Envelope>();
    if (!s.ok()) return fail("spool read: " + s.ToString());
    auto e = record::decode(value);
    if (!e) return fail(e.error().message);
    return std::optional<Envelope>(std::move(*e));
  }

  Result<std::optional<std::string>> body(std::string_view id) override {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), record::body_key(id), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return fail("spool read: " + s.ToString());
    return std::optional<std::string>(std::move(value));
  }

  std::uint64_t sync_count() const override { return syncs_.load(); }

 private:
  void run_committer() {
    std::vector<PendingCommit> batch;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
        if (pending_.empty() && stopping_) return;
        batch.swap(pending_);
      }
      rocksdb::WriteBatch wb;
      for (auto& p : batch) {
        wb.Put(p.body_key, *p.body);
        wb.Put(p.envelope_key, p.envelope);
      }
      rocksdb::WriteOptions wo;
      wo.sync = true;  // the promise behind "250": the WAL is on stable storage
      auto s = db_->Write(wo, &wb);
      syncs_.fetch_add(1);
      Status result;
      if (!s.ok()) {
        log::get("spool").error("group commit of {} messages failed: {}", batch.size(),
                                s.ToString());
        result = fail("spool write failed: " + s.ToString());
      }
      for (auto& p : batch) p.done(result);
      batch.clear();
    }
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<PendingCommit> pending_;
  bool stopping_ = false;
  std::thread committer_;
  std::atomic<std::uint64_t> syncs_{0};
};

}  // namespace

Result<std::unique_ptr<Spool>> Spool::open(const std::string& path, Mode mode) {
  rocksdb::Options options;
  options.create_if_missing = mode == Mode::primary;
  bool writer = mode != Mode::read_only;
  options.enable_blob_files = true;
  options.min_blob_size = blob_threshold;
  // Removed messages' bodies are reclaimed when compaction rewrites their blob files.
  options.enable_blob_garbage_collection = true;
  options.keep_log_file_num = 5;
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (mode == Mode::primary) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return fail("cannot create spool directory " + path + ": " + ec.message());
    // Queued mail is private: only the daemon's user may enter (Postfix: queue 0700).
    std::filesystem::permissions(path, std::filesystem::perms::owner_all, ec);
    if (ec) return fail("cannot restrict spool directory " + path + ": " + ec.message());
  }
  if (mode == Mode::admin && !std::filesystem::exists(path + "/CURRENT"))
    return fail("no spool at " + path);
  if (writer) {
    s = rocksdb::DB::Open(options, path, &raw);
  } else {
    s = rocksdb::DB::OpenForReadOnly(options, path, &raw);
  }
  if (!s.ok()) {
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos)
      return fail("spool " + path + " is in use by another process (is ternd running?)");
    return fail("cannot open spool " + path + ": " + s.ToString());
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string version;
  auto vs = db->Get(rocksdb::ReadOptions(), record::version_key, &version);
  if (vs.IsNotFound() && writer) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    vs = db->Put(wo, record::version_key, std::to_string(record::format_version));
    if (!vs.ok()) return fail("cannot write spool version: " + vs.ToString());
  } else if (vs.ok() && version != std::to_string(record::format_version)) {
    return fail("spool " + path + " has format version " + version + "; this ternd reads " +
                std::to_string(record::format_version));
  } else if (!vs.ok() && !vs.IsNotFound()) {
    return fail("cannot read spool version: " + vs.ToString());
  }
  return std::unique_ptr<Spool>(new RocksSpool(std::move(db), writer));
}

}  // namespace tern::spool
