// The scheduler (DESIGN.md "queue/"): it owns every queued message between its commit and
// its removal, decides when each recipient is tried, and records outcomes in the spool.
// Fresh mail and retries wait in separate lines taken in turn, so a backlog of retries
// never starves new mail; retries wait on one timer heap, not a task per message.
//
// Threading: all state lives on the scheduler's own strand (its io_context, one thread).
// submit(), remove() and the control calls are thread-safe: they post to that strand.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "queue/courier.hpp"
#include "queue/notifier.hpp"
#include "spool/spool.hpp"

namespace tern::queue {

struct Settings {
  // Deliveries in progress at once; beyond it messages wait their turn in line.
  std::uint32_t max_in_flight = 256;
  // Deliveries in progress at once to one destination (Postfix
  // default_destination_concurrency_limit = 20): a slow or dead destination holds at most
  // this many places, never all of them.
  std::uint32_t destination_concurrency = 20;
  // Deliveries started per minute to one destination; 0: no limit (Postfix
  // default_destination_rate_delay = 0). For receivers that throttle senders.
  std::uint32_t destination_rate = 0;
  // First retry after about a minute, doubling to at most an hour (Postfix:
  // minimal_backoff_time 300s, maximal_backoff_time 4000s), with ±20% jitter.
  std::chrono::seconds first_retry{60};
  std::chrono::seconds max_retry{3600};
  // Postfix maximal_queue_lifetime: past it a deferred recipient fails and is reported.
  std::chrono::seconds lifetime{5 * 86400};
  // A delay notification once a recipient has waited this long (Postfix
  // delay_warning_time; RFC 3461 lets the MTA warn when NOTIFY is absent). 0: never.
  std::chrono::seconds delay_warning{4 * 3600};
  // Bytes of message bodies kept in memory for their first attempt; past it they are
  // read back from the spool when their turn comes.
  std::uint64_t memory_budget = 256ull * 1024 * 1024;
};

class Scheduler {
 public:
  // `notifier` may be null: then no delivery status notifications are made.
  Scheduler(boost::asio::io_context& ioc, spool::Spool& spool, Courier& courier,
            Settings settings, Notifier* notifier = nullptr);
  ~Scheduler();

  // Loads every message from the spool and schedules its pending recipients.
  // Call once, before submit(), on any thread; blocks until loaded.
  Status recover();

  // A message just committed; `message` is its stored text (kept for the first attempt).
  void submit(spool::Envelope envelope, std::shared_ptr<const std::string> message);

  // Removes a message (ternctl queue delete); `done(true)` when it existed.
  void remove(std::string id, std::function<void(bool)> done);

  // The operator's queue commands (ternctl queue flush/hold/release). Each reports how many
  // messages it changed through `done`, on the scheduler's thread.
  enum class Command { flush_all, flush_message, flush_domain, hold, release };
  void control(Command command, std::string argument, std::function<void(std::size_t)> done);

  // Bytes of bodies held in memory now.
  std::uint64_t memory_in_use() const { return memory_.load(); }

 private:
  struct Entry;
  // The recipients of one message that go to one destination, delivered together.
  struct Job {
    std::shared_ptr<Entry> entry;
    std::vector<std::size_t> recipients;
    std::string destination;
  };
  struct Destination {
    std::uint32_t active = 0;
    std::deque<Job> waiting;
    std::chrono::steady_clock::time_point next_start{};  // the message rate's next slot
    std::unique_ptr<boost::asio::steady_timer> rate_timer;  // armed while the rate holds back
  };
  void enqueue_fresh(std::shared_ptr<Entry> e);
  bool flush(const std::shared_ptr<Entry>& e);
  void pump();
  void start(std::shared_ptr<Entry> e);
  void launch(Job job);
  void drain(const std::string& destination);
  void finish(Job job, std::vector<mail::Outcome> outcomes);
  void record(Entry& e, std::size_t index, const mail::Outcome& o, double done);
  void conclude(std::shared_ptr<Entry> e);
  void settle(std::shared_ptr<Entry> e);
  void back_off(spool::Envelope& env);
  void wait_until_due(const std::shared_ptr<Entry>& e);
  void arm_timer();
  void on_timer();

  boost::asio::io_context& ioc_;
  spool::Spool& spool_;
  Courier& courier_;
  Settings settings_;
  Notifier* notifier_;
  std::unordered_map<std::string, std::shared_ptr<Entry>> entries_;
  std::deque<std::shared_ptr<Entry>> fresh_, retry_;
  bool take_retry_next_ = false;
  std::unordered_map<std::string, Destination> destinations_;
  std::multimap<std::int64_t, std::string> timers_;  // due (unix s) → queue ID
  boost::asio::steady_timer timer_;
  std::int64_t timer_due_ = 0;
  std::uint32_t in_flight_ = 0;
  std::atomic<std::uint64_t> memory_{0};
};

}  // namespace tern::queue
