// The scheduler; see scheduler.hpp.
#include "queue/scheduler.hpp"

#include <boost/asio/post.hpp>
#include <algorithm>
#include <future>
#include <cmath>
#include <random>

#include "core/log.hpp"
#include "smtp/params.hpp"

namespace tern::queue {
namespace asio = boost::asio;

namespace {
double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}
std::int64_t now_unix() { return static_cast<std::int64_t>(now_seconds()); }
}  // namespace

struct Scheduler::Entry {
  std::shared_ptr<spool::Envelope> envelope;
  std::shared_ptr<const std::string> message;  // null: read from the spool when needed
  double arrived = 0;   // arrival, with sub-second precision when known
  double queued = 0;    // when the scheduler took it
  std::uint32_t outstanding = 0;  // destination groups of this attempt not yet finished
  std::shared_ptr<const spool::Envelope> snapshot;  // what the couriers of this attempt see
  std::vector<Notice> notices;  // reports due from this attempt, made when it is over
  double started = 0;
  bool removed = false;  // deleted while in flight: drop when the attempt returns
  bool waiting = false;  // in fresh_/retry_ already
};

Scheduler::Scheduler(asio::io_context& ioc, spool::Spool& spool, Courier& courier,
                     Settings settings, Notifier* notifier)
    : ioc_(ioc),
      spool_(spool),
      courier_(courier),
      settings_(settings),
      notifier_(notifier),
      timer_(ioc) {}

Scheduler::~Scheduler() = default;

Status Scheduler::recover() {
  auto list = spool_.list();
  if (!list) return fail(list.error().message);
  std::promise<void> loaded;
  asio::post(ioc_, [this, envelopes = std::move(*list), &loaded]() mutable {
    for (auto& env : envelopes) {
      auto e = std::make_shared<Entry>();
      e->arrived = static_cast<double>(env.arrival);
      e->queued = now_seconds();
      e->envelope = std::make_shared<spool::Envelope>(std::move(env));
      entries_[e->envelope->id] = e;
      if (e->envelope->finished()) {
        // Every recipient was done before the restart; only the removal was lost.
        (void)spool_.remove(e->envelope->id);
        entries_.erase(e->envelope->id);
        continue;
      }
      if (e->envelope->held) continue;
      // Stored next-attempt times stand; those already past are due now.
      wait_until_due(e);
    }
    arm_timer();
    loaded.set_value();
  });
  loaded.get_future().wait();
  log::get("qmgr").info("recovered {} queued messages from the spool", entries_.size());
  return {};
}

void Scheduler::submit(spool::Envelope envelope, std::shared_ptr<const std::string> message) {
  auto e = std::make_shared<Entry>();
  e->arrived = now_seconds();
  e->envelope = std::make_shared<spool::Envelope>(std::move(envelope));
  e->message = std::move(message);
  asio::post(ioc_, [this, e] {
    e->queued = now_seconds();
    auto& env = *e->envelope;
    log::get("qmgr").info("{}: from=<{}>, size={}, nrcpt={} (queue active)", env.id, env.sender,
                          env.size, env.recipients.size());
    // Past the memory budget the body is read back from the spool at its turn.
    if (e->message && memory_.load() + e->message->size() > settings_.memory_budget)
      e->message.reset();
    if (e->message) memory_ += e->message->size();
    entries_[env.id] = e;
    enqueue_fresh(e);
    pump();
  });
}

void Scheduler::enqueue_fresh(std::shared_ptr<Entry> e) {
  if (e->waiting) return;
  e->waiting = true;
  fresh_.push_back(std::move(e));
}

void Scheduler::remove(std::string id, std::function<void(bool)> done) {
  asio::post(ioc_, [this, id = std::move(id), done = std::move(done)] {
    auto it = entries_.find(id);
    bool existed = it != entries_.end();
    if (existed) {
      auto e = it->second;
      if (e->message) memory_ -= e->message->size();
      e->message.reset();
      e->removed = true;
      entries_.erase(it);
    }
    auto st = spool_.remove(id);
    if (existed && st) log::get("qmgr").info("{}: removed (deleted by the administrator)", id);
    done(existed && st.ok());
  });
}

// Makes every pending recipient of `e` due now and puts it in line; false when held.
bool Scheduler::flush(const std::shared_ptr<Entry>& e) {
  if (e->envelope->held || e->removed) return false;
  for (auto& r : e->envelope->recipients)
    if (r.status.state == spool::RecipientState::pending) r.status.next_attempt = 0;
  if (!e->waiting && e->outstanding == 0) {
    e->waiting = true;
    retry_.push_back(e);
  }
  return true;
}

void Scheduler::control(Command command, std::string argument,
                        std::function<void(std::size_t)> done) {
  asio::post(ioc_, [this, command, argument = std::move(argument), done = std::move(done)] {
    std::size_t changed = 0;
    auto one = [&]() -> std::shared_ptr<Entry> {
      auto it = entries_.find(argument);
      return it == entries_.end() ? nullptr : it->second;
    };
    switch (command) {
      case Command::flush_all:
        for (auto& [id, e] : entries_) changed += flush(e);
        break;
      case Command::flush_message:
        if (auto e = one()) changed += flush(e);
        break;
      case Command::flush_domain:
        for (auto& [id, e] : entries_) {
          bool has = std::any_of(e->envelope->recipients.begin(), e->envelope->recipients.end(),
                                 [&](const spool::Recipient& r) {
                                   return r.domain == argument &&
                                          r.status.state == spool::RecipientState::pending;
                                 });
          if (has) changed += flush(e);
        }
        break;
      case Command::hold:
      case Command::release:
        if (auto e = one()) {
          bool hold = command == Command::hold;
          if (e->envelope->held != hold) {
            e->envelope->held = hold;
            (void)spool_.update(*e->envelope);
            log::get("qmgr").info("{}: {} by the administrator", argument,
                                  hold ? "held" : "released");
          }
          if (!hold) flush(e);
          changed = 1;
        }
        break;
    }
    pump();
    done(changed);
  });
}

void Scheduler::pump() {
  while (in_flight_ < settings_.max_in_flight && (!fresh_.empty() || !retry_.empty())) {
    // Alternate between the lines so neither starves the other.
    bool use_retry = retry_.empty() ? false : fresh_.empty() ? true : take_retry_next_;
    take_retry_next_ = !use_retry;
    auto& line = use_retry ? retry_ : fresh_;
    auto e = std::move(line.front());
    line.pop_front();
    e->waiting = false;
    if (e->removed || e->outstanding > 0 || e->envelope->held) continue;
    start(std::move(e));
  }
}

void Scheduler::start(std::shared_ptr<Entry> e) {
  std::int64_t now = now_unix();
  std::vector<std::size_t> due;
  auto& env = *e->envelope;
  for (std::size_t i = 0; i < env.recipients.size(); ++i) {
    auto& st = env.recipients[i].status;
    if (st.state == spool::RecipientState::pending && st.next_attempt <= now) due.push_back(i);
  }
  if (due.empty()) {
    wait_until_due(e);
    arm_timer();
    return;
  }
  if (!e->message) {
    auto body = spool_.body(env.id);
    if (!body || !*body) {
      // The spool could not give the text back (disk error): try again after a back-off,
      // as for a failed delivery; the message stays queued and visible.
      std::string why = body ? "message text missing from the spool" : body.error().message;
      log::get("qmgr").error("{}: cannot read message text: {}", env.id, why);
      for (std::size_t i : due) {
        ++env.recipients[i].status.attempts;
        env.recipients[i].status.last_error = "4.3.0 " + why;
      }
      back_off(env);
      wait_until_due(e);
      arm_timer();
      return;
    }
    e->message = std::make_shared<const std::string>(std::move(**body));
    memory_ += e->message->size();
  }
  e->started = now_seconds();
  // The couriers get a snapshot; outcomes are applied here, on the strand.
  e->snapshot = std::make_shared<const spool::Envelope>(env);
  // One job per destination (next-hop queue) and envelope sender, each under that
  // destination's limit: recipients with different senders (owner- aliases) never share a
  // transaction, since MAIL FROM names one sender for all of them.
  std::vector<Job> jobs;
  for (std::size_t i : due) {
    std::string dest = courier_.destination(env, i);
    const std::string& sender = env.sender_of(i);
    auto job = std::find_if(jobs.begin(), jobs.end(), [&](const Job& j) {
      return j.destination == dest && env.sender_of(j.recipients.front()) == sender;
    });
    if (job == jobs.end()) jobs.push_back(Job{e, {i}, std::move(dest)});
    else job->recipients.push_back(i);
  }
  e->outstanding = static_cast<std::uint32_t>(jobs.size());
  for (auto& job : jobs) {
    std::string name = job.destination;
    destinations_[name].waiting.push_back(std::move(job));
    drain(name);
  }
}

// Starts the waiting jobs of a destination while its concurrency limit and message rate
// allow; when the rate holds one back, a timer comes back for it.
void Scheduler::drain(const std::string& name) {
  auto it = destinations_.find(name);
  if (it == destinations_.end()) return;
  auto& d = it->second;
  const auto now = std::chrono::steady_clock::now();
  while (!d.waiting.empty() && d.active < settings_.destination_concurrency) {
    if (d.waiting.front().entry->removed) {
      --d.waiting.front().entry->outstanding;
      d.waiting.pop_front();
      continue;
    }
    if (settings_.destination_rate > 0) {
      if (now < d.next_start) {
        if (!d.rate_timer) {
          d.rate_timer = std::make_unique<asio::steady_timer>(ioc_, d.next_start);
          d.rate_timer->async_wait([this, name](boost::system::error_code ec) {
            if (ec) return;
            destinations_[name].rate_timer.reset();
            drain(name);
          });
        }
        return;
      }
      // Messages per minute: one start per interval.
      d.next_start = std::max(now, d.next_start) +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(60.0 / settings_.destination_rate));
    }
    Job next = std::move(d.waiting.front());
    d.waiting.pop_front();
    launch(std::move(next));
  }
  // Forget an idle destination, unless its rate still holds the next start back.
  if (d.active == 0 && d.waiting.empty() && !d.rate_timer && now >= d.next_start)
    destinations_.erase(it);
}

void Scheduler::launch(Job job) {
  ++destinations_[job.destination].active;
  ++in_flight_;
  auto e = job.entry;
  auto recipients = job.recipients;  // copied before `job` moves into the callback
  courier_.deliver(e->snapshot, std::move(recipients), e->message,
                   [this, job = std::move(job)](std::vector<mail::Outcome> outcomes) mutable {
                     asio::post(ioc_, [this, job = std::move(job),
                                       outcomes = std::move(outcomes)]() mutable {
                       finish(std::move(job), std::move(outcomes));
                     });
                   });
}

void Scheduler::finish(Job job, std::vector<mail::Outcome> outcomes) {
  --in_flight_;
  --destinations_[job.destination].active;
  drain(job.destination);  // the freed place goes to the destination's next waiting job

  auto e = job.entry;
  const auto& rcpts = job.recipients;
  --e->outstanding;
  double done = now_seconds();
  for (std::size_t k = 0; k < rcpts.size() && k < outcomes.size(); ++k)
    record(*e, rcpts[k], outcomes[k], done);
  if (e->removed || e->outstanding > 0) {
    pump();
    return;
  }
  conclude(std::move(e));
  pump();
}

// Applies one recipient's outcome: its state, the mail log line, and any report it calls for.
void Scheduler::record(Entry& e, std::size_t index, const mail::Outcome& o, double done) {
  auto& env = *e.envelope;
  auto& r = env.recipients[index];
  ++r.status.attempts;
  r.status.last_error = o.kind == mail::Outcome::Kind::sent ? "" : o.dsn + " " + o.text;
  if (o.kind == mail::Outcome::Kind::sent) r.status.state = spool::RecipientState::delivered;
  if (o.kind == mail::Outcome::Kind::bounced) r.status.state = spool::RecipientState::failed;
  // delays=a/b/c/d as Postfix: before the queue manager, in it, connection set-up, transfer.
  log::get("qmgr").info(
      "{}: to=<{}>, relay={}, delay={:.2f}, delays={:.2f}/{:.2f}/0/{:.2f}, dsn={}, status={} ({})",
      env.id, r.address, o.relay, done - e.arrived, e.queued - e.arrived, e.started - e.queued,
      done - e.started, o.dsn, mail::status_word(o.kind), o.text);

  const std::int64_t now = now_unix();
  const std::int64_t age = now - env.arrival;
  Notice n{Notice::What::failed, index, o, now, 0};
  switch (o.kind) {
    case mail::Outcome::Kind::bounced:
      e.notices.push_back(std::move(n));
      break;
    case mail::Outcome::Kind::sent:
      // Only a sender who asked for it hears of success (RFC 3461 §4.1); a next hop that
      // took the DSN request reports for itself (§5.2.2).
      if (!(r.notify & smtp::notify_success)) break;
      if (o.final_delivery) n.what = Notice::What::delivered;
      else if (!o.hop_reports) n.what = Notice::What::relayed;
      else break;
      e.notices.push_back(std::move(n));
      break;
    case mail::Outcome::Kind::deferred:
      if (age >= settings_.lifetime.count()) {
        r.status.state = spool::RecipientState::failed;
        log::get("qmgr").info("{}: to=<{}>, status=expired, returned to sender ({} in the queue)",
                              env.id, r.address, age >= 86400 ? std::to_string(age / 86400) + " days"
                                                              : std::to_string(age) + " s");
        n.what = Notice::What::expired;
        e.notices.push_back(std::move(n));
      } else if (settings_.delay_warning.count() > 0 && !r.status.warned &&
                 age >= settings_.delay_warning.count()) {
        r.status.warned = true;
        n.what = Notice::What::delayed;
        n.retry_until = env.arrival + settings_.lifetime.count();
        e.notices.push_back(std::move(n));
      }
      break;
  }
}

// The attempt is over for every destination: report what is due, then settle the message.
// The report is queued before the message can leave the spool, so a crash in between
// repeats the report rather than losing it.
void Scheduler::conclude(std::shared_ptr<Entry> e) {
  if (e->notices.empty() || !notifier_) {
    e->notices.clear();
    settle(std::move(e));
    return;
  }
  auto message = e->message;
  if (!message) {
    auto body = spool_.body(e->envelope->id);
    message = std::make_shared<const std::string>(body && *body ? std::move(**body) : std::string());
  }
  auto notices = std::move(e->notices);
  e->notices.clear();
  ++e->outstanding;  // the report counts as work in progress on the message
  notifier_->notify(
      std::make_shared<const spool::Envelope>(*e->envelope), notices, message,
      [this, e, notices](Status st) {
        asio::post(ioc_, [this, e, st, notices = std::move(notices)]() mutable {
          --e->outstanding;
          if (e->removed) return pump();
          if (st) {
            settle(e);
            return pump();
          }
          // The report could not be queued (spool trouble): the message stays, and the
          // report is tried again after a back-off; it is never dropped.
          log::get("qmgr").error("{}: delivery status notification not queued: {}; retrying",
                                 e->envelope->id, st.error().message);
          e->notices = std::move(notices);
          ++e->outstanding;
          auto timer = std::make_shared<asio::steady_timer>(ioc_, settings_.first_retry);
          timer->async_wait([this, e, timer](boost::system::error_code) {
            --e->outstanding;
            if (!e->removed) conclude(e);
          });
        });
      });
}

// Records the attempt's results: a message with every recipient done leaves the spool;
// the others wait for their next attempt.
void Scheduler::settle(std::shared_ptr<Entry> e) {
  auto& env = *e->envelope;
  e->snapshot.reset();
  // The first attempt is over: the body goes back to the spool's keeping.
  if (e->message) memory_ -= e->message->size();
  e->message.reset();
  if (env.finished()) {
    auto st = spool_.remove(env.id);
    if (!st) log::get("qmgr").error("{}: {}", env.id, st.error().message);
    else log::get("qmgr").info("{}: removed", env.id);
    entries_.erase(env.id);
  } else {
    back_off(env);
    wait_until_due(e);
    auto st = spool_.update(env);
    if (!st) log::get("qmgr").error("{}: {}", env.id, st.error().message);
    arm_timer();
  }
}

// Gives every pending recipient that just failed (attempted, next attempt not in the future)
// its next attempt time: exponential back-off from first_retry, capped at max_retry, ±20%.
void Scheduler::back_off(spool::Envelope& env) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::int64_t now = now_unix();
  // One jitter for the whole message, so recipients that failed together are tried
  // together again (one transaction, one report) rather than drifting apart.
  const double jitter = std::uniform_real_distribution<double>(0.8, 1.2)(rng);
  for (auto& r : env.recipients) {
    auto& st = r.status;
    if (st.state != spool::RecipientState::pending || st.attempts == 0 || st.next_attempt > now)
      continue;
    double base = static_cast<double>(settings_.first_retry.count());
    for (std::uint32_t i = 1; i < st.attempts && base < settings_.max_retry.count(); ++i)
      base *= 2;
    base = std::min(base, static_cast<double>(settings_.max_retry.count()));
    st.next_attempt = now + std::max<std::int64_t>(1, std::llround(base * jitter));
  }
}

// Puts the message on the timer heap at the earliest next attempt of its pending
// recipients (now, for those whose time has passed).
void Scheduler::wait_until_due(const std::shared_ptr<Entry>& e) {
  std::int64_t now = now_unix();
  std::int64_t earliest = 0;
  for (auto& r : e->envelope->recipients) {
    if (r.status.state != spool::RecipientState::pending) continue;
    std::int64_t due = std::max(r.status.next_attempt, now);
    if (earliest == 0 || due < earliest) earliest = due;
  }
  if (earliest) timers_.emplace(earliest, e->envelope->id);
}

void Scheduler::arm_timer() {
  if (timers_.empty()) return;
  std::int64_t due = timers_.begin()->first;
  if (timer_due_ != 0 && timer_due_ <= due) return;
  timer_due_ = due;
  timer_.expires_after(std::chrono::seconds(std::max<std::int64_t>(0, due - now_unix())));
  timer_.async_wait([this](boost::system::error_code ec) {
    timer_due_ = 0;
    if (ec) return;
    on_timer();
  });
}

void Scheduler::on_timer() {
  std::int64_t now = now_unix();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    auto id = timers_.begin()->second;
    timers_.erase(timers_.begin());
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second->waiting || it->second->outstanding > 0) continue;
    it->second->waiting = true;
    retry_.push_back(it->second);
  }
  arm_timer();
  pump();
}

}  // namespace tern::queue
