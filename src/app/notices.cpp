// DsnNotifier; see notices.hpp.
#include "app/notices.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>

#include "bounce/dsn.hpp"
#include "core/log.hpp"
#include "core/queue_id.hpp"
#include "inbound/expansion.hpp"
#include "mail/address.hpp"

namespace tern::app {
namespace {

bounce::Action action_of(queue::Notice::What what) {
  switch (what) {
    case queue::Notice::What::failed:
    case queue::Notice::What::expired: return bounce::Action::failed;
    case queue::Notice::What::delayed: return bounce::Action::delayed;
    case queue::Notice::What::delivered: return bounce::Action::delivered;
    case queue::Notice::What::relayed: return bounce::Action::relayed;
  }
  return bounce::Action::failed;
}

bounce::ReportEntry entry_of(const queue::Notice& n) {
  bounce::ReportEntry r;
  r.recipient = n.recipient;
  r.action = action_of(n.what);
  r.status = n.outcome.dsn;
  r.remote_mta = n.outcome.remote_host;
  r.last_attempt = n.last_attempt;
  r.will_retry_until = n.retry_until;
  if (n.what == queue::Notice::What::expired) {
    r.diagnostic_source = bounce::ReportEntry::Source::local;
    r.diagnostic = "delivery time expired; last error: " + n.outcome.text;
  } else if (!n.outcome.remote_reply.empty()) {
    r.diagnostic_source = bounce::ReportEntry::Source::smtp;
    r.diagnostic = n.outcome.remote_reply;
  } else if (r.action == bounce::Action::failed || r.action == bounce::Action::delayed) {
    r.diagnostic_source = bounce::ReportEntry::Source::local;
    r.diagnostic = n.outcome.text;
  }
  return r;
}

// Postfix's words for the log line that ties the report to the message.
const char* what_was_sent(bounce::Kind kind) {
  switch (kind) {
    case bounce::Kind::failure: return "sender non-delivery notification";
    case bounce::Kind::delay: return "sender delay notification";
    case bounce::Kind::success: return "sender delivery status notification";
  }
  return "sender notification";
}

}  // namespace

void DsnNotifier::notify(std::shared_ptr<const spool::Envelope> envelope,
                         std::vector<queue::Notice> notices,
                         std::shared_ptr<const std::string> message, Done done) {
  // One report per envelope sender: the members of a list with an owner- alias report to
  // its owner (spool::Recipient::sender), the rest to the message's sender.
  std::vector<std::pair<std::string, std::vector<queue::Notice>>> groups;
  for (auto& n : notices) {
    const std::string& sender = envelope->sender_of(n.recipient);
    auto g = std::find_if(groups.begin(), groups.end(),
                          [&](const auto& have) { return have.first == sender; });
    if (g == groups.end()) groups.push_back({sender, {std::move(n)}});
    else g->second.push_back(std::move(n));
  }
  if (groups.size() == 1 && groups.front().first == envelope->sender) {
    report(std::move(envelope), std::move(groups.front().second), std::move(message),
           std::move(done));
    return;
  }
  // `done` once every report is queued, with the first failure if any (the scheduler then
  // retries them all: a report may be repeated, never lost).
  struct Pending {
    std::mutex mutex;
    std::size_t left;
    Status status;
    Done done;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = groups.size();
  pending->done = std::move(done);
  for (auto& [sender, group] : groups) {
    auto copy = std::make_shared<spool::Envelope>(*envelope);
    copy->sender = sender;
    report(std::move(copy), std::move(group), message, [pending](Status st) {
      Done finished;
      Status result;
      {
        std::lock_guard lock(pending->mutex);
        if (!st && pending->status) pending->status = st;
        if (--pending->left > 0) return;
        finished = std::move(pending->done);
        result = pending->status;
      }
      finished(result);
    });
  }
}

void DsnNotifier::report(std::shared_ptr<const spool::Envelope> envelope,
                         std::vector<queue::Notice> notices,
                         std::shared_ptr<const std::string> message, Done done) {
  std::vector<bounce::ReportEntry> entries;
  for (auto& n : notices) entries.push_back(entry_of(n));
  // The sender's NOTIFY wishes and the null sender (never a report about a report).
  entries = bounce::due_entries(*envelope, std::move(entries));
  if (entries.empty() || !ingress_) {
    done({});
    return;
  }
  auto config = config_.get();
  bounce::Options options;
  options.hostname = config->hostname;
  options.now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  auto dsn = bounce::make_dsn(*envelope, entries, *message, options);
  if (!dsn) {
    done(fail("cannot build the report: " + dsn.error().message));
    return;
  }
  auto to = mail::parse_mailbox(dsn->recipient, /*allow_utf8=*/true);
  if (!to) {
    done(fail("cannot report to <" + dsn->recipient + ">: not an address"));
    return;
  }
  spool::Envelope report;
  report.id = make_queue_id();
  report.sender = "";  // RFC 3461 §6.2, RFC 5321 §4.5.5: reports have the null sender
  report.arrival = options.now;
  report.client_address = "127.0.0.1";
  report.helo = config->hostname;
  report.body_type = dsn->eight_bit ? "8BITMIME" : "";
  report.smtputf8 = dsn->smtputf8;
  report.size = dsn->text.size();
  spool::Recipient r;
  r.address = dsn->recipient;
  r.domain = to->domain_ascii;
  // Through the routing tables as mail from outside; a recipient they refuse (an unknown
  // user, a loop) keeps its address and fails at delivery, where it is logged.
  auto tables = tables_.get();
  auto expanded = tables->expander().expand(*to);
  if (expanded)
    report.recipients = inbound::stored_recipients(*expanded, *to, r, config->route.recipient_delimiter,
                                                   /*null_sender=*/true);
  else
    report.recipients.push_back(std::move(r));
  log::get("bounce").info("{}: {}: {}", envelope->id, what_was_sent(dsn->kind), report.id);
  ingress_->accept(std::move(report), std::move(dsn->text), std::move(done));
}

}  // namespace tern::app
