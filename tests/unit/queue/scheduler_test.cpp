// The scheduler with a real spool and a scripted courier (the seam queue/ owns): outcomes
// are recorded per recipient, a deferred recipient is retried after its back-off, a done
// message leaves the spool, a recovered spool is delivered, remove() drops a message.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <algorithm>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "core/queue_id.hpp"
#include "queue/scheduler.hpp"

namespace tern::queue {
namespace {

// Answers each delivery with the next scripted outcome kind (sent when the script is empty).
class ScriptedCourier : public Courier {
 public:
  std::deque<mail::Outcome::Kind> script;
  std::mutex mutex;
  int calls = 0;
  std::promise<void>* on_call = nullptr;
  int notify_after = 0;
  // Each delivery's recipients with their envelope senders: "sender>index,index".
  std::vector<std::string> batches;

  std::string destination(const spool::Envelope& e, std::size_t i) const override {
    return e.recipients[i].domain;
  }

  void deliver(std::shared_ptr<const spool::Envelope> e, std::vector<std::size_t> recipients,
               std::shared_ptr<const std::string> message, Done done) override {
    std::vector<mail::Outcome> out;
    {
      std::lock_guard lock(mutex);
      ++calls;
      std::string batch;
      for (auto i : recipients)
        batch += (batch.empty() ? e->sender_of(i) + ">" : ",") + std::to_string(i);
      batches.push_back(batch);
      for (std::size_t i = 0; i < recipients.size(); ++i) {
        auto kind = script.empty() ? mail::Outcome::Kind::sent : script.front();
        if (!script.empty()) script.pop_front();
        out.push_back({kind, kind == mail::Outcome::Kind::sent ? "2.0.0" : "4.4.0", "test",
                       kind == mail::Outcome::Kind::sent ? "ok" : "try later"});
      }
    }
    done(std::move(out));
  }
};

struct SchedulerTest : ::testing::Test {
  std::string dir;
  std::unique_ptr<spool::Spool> spool;
  boost::asio::io_context ioc{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  std::thread thread;
  ScriptedCourier courier;

  void SetUp() override {
    dir = (std::filesystem::temp_directory_path() /
           ("tern-sched-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name()))
              .string();
    std::filesystem::remove_all(dir);
    spool = std::move(*spool::Spool::open(dir, spool::Spool::Mode::primary));
    work.emplace(boost::asio::make_work_guard(ioc));
    thread = std::thread([this] { ioc.run(); });
  }
  void TearDown() override {
    work.reset();
    ioc.stop();
    thread.join();
  }

  spool::Envelope message(int recipients,
                          const std::function<void(spool::Envelope&)>& edit = {}) {
    spool::Envelope e;
    e.id = make_queue_id();
    e.sender = "a@example.org";
    e.arrival = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
    for (int i = 0; i < recipients; ++i) {
      spool::Recipient r;
      r.address = "u" + std::to_string(i) + "@example.test";
      r.domain = "example.test";
      e.recipients.push_back(r);
    }
    if (edit) edit(e);
    std::promise<void> p;
    spool->commit(e, std::make_shared<const std::string>("x"), [&](Status) { p.set_value(); });
    p.get_future().wait();
    return e;
  }

  // Waits until `pred` holds for the stored envelope (nullopt = removed), up to `seconds`.
  template <class Pred>
  bool wait_for(const std::string& id, Pred pred, double seconds = 5) {
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      auto found = spool->find(id);
      if (found.ok() && pred(*found)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
};

using Found = std::optional<spool::Envelope>;

TEST_F(SchedulerTest, DeliveredMessageIsRemoved) {
  Scheduler s(ioc, *spool, courier, Settings{});
  ASSERT_TRUE(s.recover().ok());
  auto e = message(2);
  s.submit(e, std::make_shared<const std::string>("x"));
  EXPECT_TRUE(wait_for(e.id, [](const Found& f) { return !f; }));
}

TEST_F(SchedulerTest, DeferredRecipientIsRetriedAlone) {
  Settings settings;
  settings.first_retry = std::chrono::seconds(2);
  Scheduler s(ioc, *spool, courier, settings);
  ASSERT_TRUE(s.recover().ok());
  courier.script = {mail::Outcome::Kind::sent, mail::Outcome::Kind::deferred};
  auto e = message(2);
  s.submit(e, std::make_shared<const std::string>("x"));
  // First attempt: u0 delivered, u1 deferred with its error and a next attempt time.
  ASSERT_TRUE(wait_for(e.id, [](const Found& f) {
    return f && f->recipients[1].status.attempts == 1;
  }));
  auto mid = *spool->find(e.id);
  EXPECT_EQ(mid->recipients[0].status.state, spool::RecipientState::delivered);
  EXPECT_EQ(mid->recipients[1].status.state, spool::RecipientState::pending);
  EXPECT_EQ(mid->recipients[1].status.last_error, "4.4.0 try later");
  EXPECT_GT(mid->recipients[1].status.next_attempt, 0);
  // The retry delivers u1 alone, and the message is gone.
  EXPECT_TRUE(wait_for(e.id, [](const Found& f) { return !f; }, 6));
  EXPECT_EQ(courier.calls, 2);
}

// Recipients of one destination with different envelope senders (an owner- alias) go in
// separate deliveries, each with one sender; the same sender stays together.
TEST_F(SchedulerTest, RecipientsAreGroupedBySender) {
  Scheduler s(ioc, *spool, courier, Settings{});
  ASSERT_TRUE(s.recover().ok());
  auto e = message(4, [](spool::Envelope& env) {
    env.recipients[1].sender = "owner-list@example.test";
    env.recipients[3].sender = "owner-list@example.test";
  });
  s.submit(e, std::make_shared<const std::string>("x"));
  ASSERT_TRUE(wait_for(e.id, [](const Found& f) { return !f; }));
  std::lock_guard lock(courier.mutex);
  std::sort(courier.batches.begin(), courier.batches.end());
  EXPECT_EQ(courier.batches,
            (std::vector<std::string>{"a@example.org>0,2", "owner-list@example.test>1,3"}));
}

TEST_F(SchedulerTest, RecoveredMessagesAreDelivered) {
  auto e = message(1);
  Scheduler s(ioc, *spool, courier, Settings{});
  ASSERT_TRUE(s.recover().ok());
  EXPECT_TRUE(wait_for(e.id, [](const Found& f) { return !f; }, 4));
}

TEST_F(SchedulerTest, OverdueRetryIsTriedAtOnceAfterRestart) {
  auto e = message(1);
  e.recipients[0].status.attempts = 3;
  e.recipients[0].status.last_error = "4.4.0 earlier";
  e.recipients[0].status.next_attempt = 1;  // long past
  ASSERT_TRUE(spool->update(e).ok());
  Settings settings;
  settings.first_retry = std::chrono::seconds(3600);  // a fresh back-off would wait an hour
  Scheduler s(ioc, *spool, courier, settings);
  ASSERT_TRUE(s.recover().ok());
  EXPECT_TRUE(wait_for(e.id, [](const Found& f) { return !f; }, 3));
}

TEST_F(SchedulerTest, FutureRetryWaitsAfterRestart) {
  auto e = message(1);
  e.recipients[0].status.attempts = 1;
  e.recipients[0].status.next_attempt =
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch()).count() + 3600;
  ASSERT_TRUE(spool->update(e).ok());
  Scheduler s(ioc, *spool, courier, Settings{});
  ASSERT_TRUE(s.recover().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(courier.calls, 0);
  EXPECT_TRUE(spool->find(e.id)->has_value());
}

TEST_F(SchedulerTest, DestinationRateSpacesDeliveries) {
  Settings settings;
  settings.destination_rate = 60;  // one a second
  Scheduler s(ioc, *spool, courier, settings);
  ASSERT_TRUE(s.recover().ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto e = message(1);
    ids.push_back(e.id);
    s.submit(e, std::make_shared<const std::string>("x"));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  {
    std::lock_guard lock(courier.mutex);
    EXPECT_EQ(courier.calls, 1);  // the others wait for their slot
  }
  for (auto& id : ids) EXPECT_TRUE(wait_for(id, [](const Found& f) { return !f; }, 4));
  EXPECT_EQ(courier.calls, 3);
}

TEST_F(SchedulerTest, BouncedRecipientIsDone) {
  courier.script = {mail::Outcome::Kind::bounced};
  Scheduler s(ioc, *spool, courier, Settings{});
  ASSERT_TRUE(s.recover().ok());
  auto e = message(1);
  s.submit(e, std::make_shared<const std::string>("x"));
  EXPECT_TRUE(wait_for(e.id, [](const Found& f) { return !f; }));
  EXPECT_EQ(courier.calls, 1);
}

TEST_F(SchedulerTest, RemoveDropsAQueuedMessage) {
  Settings settings;
  settings.first_retry = std::chrono::seconds(3600);
  courier.script = {mail::Outcome::Kind::deferred};
  Scheduler s(ioc, *spool, courier, settings);
  ASSERT_TRUE(s.recover().ok());
  auto e = message(1);
  s.submit(e, std::make_shared<const std::string>("x"));
  ASSERT_TRUE(wait_for(e.id, [](const Found& f) { return f && f->recipients[0].status.attempts == 1; }));
  std::promise<bool> removed;
  s.remove(e.id, [&](bool ok) { removed.set_value(ok); });
  EXPECT_TRUE(removed.get_future().get());
  EXPECT_FALSE(spool->find(e.id)->has_value());
  std::promise<bool> again;
  s.remove(e.id, [&](bool ok) { again.set_value(ok); });
  EXPECT_FALSE(again.get_future().get());
}

}  // namespace
}  // namespace tern::queue
