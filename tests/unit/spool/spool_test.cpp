// The spool: commit callbacks run after the write, group commit batches concurrent commits,
// records survive reopening, updates and removal, read-only access beside a primary.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include "core/queue_id.hpp"
#include "spool/record.hpp"
#include "spool/spool.hpp"

namespace tern::spool {
namespace {

std::string temp_dir() {
  static int n = 0;
  auto p = std::filesystem::temp_directory_path() /
           ("tern-spool-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
  std::filesystem::remove_all(p);
  return p.string();
}

Envelope sample() {
  Envelope e;
  e.id = make_queue_id();
  e.sender = "a@example.org";
  e.arrival = 1700000000;
  e.size = 5;
  e.client_address = "127.0.0.1";
  e.helo = "client.example";
  e.ret = "HDRS";
  e.envid = "env 1";
  Recipient r;
  r.address = "u@example.test";
  r.domain = "example.test";
  r.notify = 6;
  r.orcpt = "rfc822;u@example.test";
  r.target = "u";
  e.recipients = {r, r};
  e.recipients[1].address = "v@example.test";
  e.recipients[1].kind = RecipientKind::pipe;
  e.recipients[1].target = "/usr/bin/true -q";
  return e;
}

Status commit_sync(Spool& s, const Envelope& e, std::string body) {
  std::promise<Status> p;
  s.commit(e, std::make_shared<const std::string>(std::move(body)),
           [&](Status st) { p.set_value(st); });
  return p.get_future().get();
}

TEST(Spool, CommitListReopenRemove) {
  auto dir = temp_dir();
  Envelope e = sample();
  {
    auto s = Spool::open(dir, Spool::Mode::primary);
    ASSERT_TRUE(s.ok()) << s.error().message;
    ASSERT_TRUE(commit_sync(**s, e, "Hi\r\n\r\n").ok());
  }
  auto s = Spool::open(dir, Spool::Mode::primary);
  ASSERT_TRUE(s.ok());
  auto list = (*s)->list();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  const Envelope& got = (*list)[0];
  EXPECT_EQ(got.id, e.id);
  EXPECT_EQ(got.sender, e.sender);
  EXPECT_EQ(got.ret, "HDRS");
  EXPECT_EQ(got.envid, "env 1");
  ASSERT_EQ(got.recipients.size(), 2u);
  EXPECT_EQ(got.recipients[0].notify, 6);
  EXPECT_EQ(got.recipients[0].orcpt, "rfc822;u@example.test");
  EXPECT_EQ(got.recipients[0].target, "u");
  EXPECT_EQ(got.recipients[0].kind, RecipientKind::address);
  EXPECT_EQ(got.recipients[1].kind, RecipientKind::pipe);
  EXPECT_EQ(got.recipients[1].target, "/usr/bin/true -q");
  auto body = (*s)->body(e.id);
  ASSERT_TRUE(body.ok() && body->has_value());
  EXPECT_EQ(**body, "Hi\r\n\r\n");

  Envelope changed = got;
  changed.recipients[0].status.state = RecipientState::delivered;
  changed.recipients[1].status.attempts = 3;
  changed.recipients[1].status.last_error = "4.4.0 later";
  ASSERT_TRUE((*s)->update(changed).ok());
  auto found = (*s)->find(e.id);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((**found).recipients[0].status.state, RecipientState::delivered);
  EXPECT_EQ((**found).recipients[1].status.last_error, "4.4.0 later");

  ASSERT_TRUE((*s)->remove(e.id).ok());
  EXPECT_TRUE((*s)->list()->empty());
  EXPECT_FALSE((*s)->body(e.id)->has_value());
}

// A recipient's own sender (an owner- alias) is stored as "from" on the recipient; a record
// without it (written before the field existed) reads as the message's sender.
TEST(Record, RecipientSenderRoundTripsAndDefaultsToTheMessages) {
  Envelope e = sample();
  e.recipients[1].sender = "owner-list@example.test";
  auto text = record::encode(e);
  EXPECT_NE(text.find("\"from\":\"owner-list@example.test\""), std::string::npos) << text;
  auto back = record::decode(text);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->recipients[0].sender, "");
  EXPECT_EQ(back->sender_of(0), "a@example.org");
  EXPECT_EQ(back->recipients[1].sender, "owner-list@example.test");
  EXPECT_EQ(back->sender_of(1), "owner-list@example.test");

  auto old = record::decode(
      R"({"v":1,"id":"1K0Y5EMBA6E00SQ6","from":"s@example.org","arrival":1,"size":2,)"
      R"("rcpt":[{"addr":"b@example.org","domain":"example.org"}]})");
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_EQ(old->recipients[0].sender, "");
  EXPECT_EQ(old->sender_of(0), "s@example.org");
}

TEST(Spool, ConcurrentCommitsShareSyncs) {
  auto dir = temp_dir();
  auto s = Spool::open(dir, Spool::Mode::primary);
  ASSERT_TRUE(s.ok());
  constexpr int threads = 8, per_thread = 200;
  std::atomic<int> done{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i)
        if (commit_sync(**s, sample(), "x").ok()) ++done;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(done.load(), threads * per_thread);
  EXPECT_EQ((*s)->list()->size(), std::size_t(threads * per_thread));
  // Eight writers waiting at once: the committer must have batched some of them.
  EXPECT_LT((*s)->sync_count(), std::uint64_t(threads * per_thread));
}

TEST(Spool, SecondPrimaryIsRefusedReadOnlyWorks) {
  auto dir = temp_dir();
  auto s = Spool::open(dir, Spool::Mode::primary);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(commit_sync(**s, sample(), "x").ok());
  auto again = Spool::open(dir, Spool::Mode::primary);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("in use"), std::string::npos) << again.error().message;
  auto ro = Spool::open(dir, Spool::Mode::read_only);
  ASSERT_TRUE(ro.ok()) << ro.error().message;
  EXPECT_EQ((*ro)->list()->size(), 1u);
}

TEST(QueueId, UniqueOrderedValid) {
  std::string prev;
  for (int i = 0; i < 10000; ++i) {
    auto id = make_queue_id();
    ASSERT_TRUE(valid_queue_id(id)) << id;
    ASSERT_LT(prev, id);
    prev = id;
  }
  EXPECT_FALSE(valid_queue_id("../etc"));
  EXPECT_FALSE(valid_queue_id("0123456789ABCDEI"));
}

}  // namespace
}  // namespace tern::spool
