// SpoolIngress and RoutingCourier; see wiring.hpp.
#include "app/wiring.hpp"

#include <boost/asio/post.hpp>

#include "app/local_delivery.hpp"
#include "mail/address.hpp"

namespace tern::app {
namespace {
// Destination names of the local transports; remote ones are domains or "[host]:port".
constexpr std::string_view local_destination = "local";
constexpr std::string_view discard_destination = "discard";
constexpr std::string_view error_destination = "error";
constexpr std::string_view mbox_destination = "local:mbox";
constexpr std::string_view pipe_destination_prefix = "pipe:";
// Files and commands named by aliases (spool::RecipientKind).
constexpr std::string_view file_destination = "local:file";
constexpr std::string_view pipe_destination = "local:pipe";
constexpr std::string_view alias_error_destination = "local:error";

outbound::TlsPolicy tls_policy(config::TlsPolicy p) {
  switch (p) {
    case config::TlsPolicy::none: return outbound::TlsPolicy::none;
    case config::TlsPolicy::may: return outbound::TlsPolicy::may;
    case config::TlsPolicy::encrypt: return outbound::TlsPolicy::encrypt;
    case config::TlsPolicy::verify: return outbound::TlsPolicy::verify;
  }
  return outbound::TlsPolicy::may;
}

outbound::NextHop next_hop(const config::Config& c, const std::string& domain) {
  outbound::NextHop hop;
  if (const config::Transport* t = c.transport_for(domain);
      t && t->kind == config::TransportKind::smtp) {
    // [transport] smtp:[host]:port or smtp:domain: this domain's own next hop; bare
    // "smtp": the recipient domain's MX hosts, whatever relay.smarthost says.
    bool mx = t->host.empty() && t->domain.empty();
    hop.host = t->host;
    hop.domain = mx ? domain : t->domain;
    hop.port = mx ? c.smtp_client.port : t->port;
    hop.tls = tls_policy(c.smtp_client.tls);
  } else if (c.smarthost) {
    hop.host = c.smarthost->host;
    hop.domain = c.smarthost->domain;
    hop.port = c.smarthost->port;
    hop.tls = tls_policy(c.smarthost->tls);
    if (!c.smarthost->user.empty())
      hop.credentials = std::make_shared<const outbound::Credentials>(
          outbound::Credentials{c.smarthost->user, c.smarthost->password});
  } else {
    hop.domain = domain;
    hop.port = c.smtp_client.port;
    hop.tls = tls_policy(c.smtp_client.tls);
  }
  return hop;
}

outbound::LmtpHop lmtp_hop(const config::Transport& t) {
  return {t.socket_path, t.host, t.port};
}
}  // namespace

void SpoolIngress::accept(spool::Envelope envelope, std::string message, Done done) {
  auto body = std::make_shared<const std::string>(std::move(message));
  // The envelope is encoded by commit() before it returns, so it can move on afterwards.
  auto env = std::make_shared<spool::Envelope>(std::move(envelope));
  spool_.commit(*env, body, [this, env, body, done = std::move(done)](Status s) {
    if (s) scheduler_.submit(std::move(*env), body);
    done(s);
  });
}

RoutingCourier::RoutingCourier(const config::Current& config, boost::asio::thread_pool& pool,
                               outbound::Client& smtp, delivery::Launcher* launcher)
    : config_(config), pool_(pool), smtp_(smtp), launcher_(launcher) {}

std::string RoutingCourier::destination(const spool::Envelope& envelope,
                                        std::size_t index) const {
  auto config = config_.get();
  if (envelope.recipients[index].kind == spool::RecipientKind::file)
    return std::string(file_destination);
  if (envelope.recipients[index].kind == spool::RecipientKind::pipe)
    return std::string(pipe_destination);
  if (envelope.recipients[index].kind == spool::RecipientKind::error)
    return std::string(alias_error_destination);
  const auto& domain = envelope.recipients[index].domain;
  if (const config::Transport* t = config->transport_for(domain)) {
    switch (t->kind) {
      case config::TransportKind::maildir: return std::string(local_destination);
      case config::TransportKind::discard: return std::string(discard_destination);
      // One LMTP server takes all its recipients of a message in one transaction.
      case config::TransportKind::lmtp: return lmtp_hop(*t).key();
      case config::TransportKind::smtp: break;
      case config::TransportKind::error: return std::string(error_destination);
      case config::TransportKind::mbox: return std::string(mbox_destination);
      // A command's concurrency limit is its own, whichever domains use it.
      case config::TransportKind::pipe: return std::string(pipe_destination_prefix) + t->target;
    }
  }
  return next_hop(*config, domain).key();
}

void RoutingCourier::deliver(std::shared_ptr<const spool::Envelope> envelope,
                             std::vector<std::size_t> recipients,
                             std::shared_ptr<const std::string> message, Done done) {
  auto config = config_.get();  // one configuration for the whole attempt
  const auto& first = envelope->recipients[recipients.front()];
  if (first.kind != spool::RecipientKind::address) {
    boost::asio::post(pool_, [config, launcher = launcher_, envelope,
                              recipients = std::move(recipients), message,
                              done = std::move(done)]() mutable {
      std::vector<mail::Outcome> outcomes;
      for (std::size_t i : recipients) {
        const auto& r = envelope->recipients[i];
        if (r.kind == spool::RecipientKind::address)
          outcomes.push_back(mail::Outcome::deferred("4.3.5", "local", "destination changed"));
        else
          outcomes.push_back(deliver_alias_target(*config, launcher, *envelope, i, *message));
      }
      done(std::move(outcomes));
    });
    return;
  }
  const config::Transport* t = config->transport_for(first.domain);
  if (!t || t->kind == config::TransportKind::smtp) {
    smtp_.deliver(next_hop(*config, first.domain), std::move(envelope), std::move(recipients),
                  std::move(message), std::move(done));
    return;
  }
  switch (t->kind) {
    case config::TransportKind::discard:
      done(std::vector<mail::Outcome>(recipients.size(),
                                      mail::Outcome::sent("none", "discarded")));
      return;
    case config::TransportKind::lmtp:
      smtp_.deliver_lmtp(lmtp_hop(*t), std::move(envelope), std::move(recipients),
                         std::move(message), std::move(done));
      return;
    case config::TransportKind::error: {
      // The "error" destination mixes domains: each recipient gets its own domain's reply.
      std::vector<mail::Outcome> outcomes;
      for (std::size_t i : recipients) {
        const config::Transport* rt = config->transport_for(envelope->recipients[i].domain);
        if (!rt || rt->kind != config::TransportKind::error) {
          outcomes.push_back(mail::Outcome::deferred("4.3.5", "none", "transport changed"));
          continue;
        }
        std::string text = std::to_string(rt->code) + " " + rt->dsn + " " + rt->text;
        outcomes.push_back(rt->code >= 500 ? mail::Outcome::bounced(rt->dsn, "none", text)
                                           : mail::Outcome::deferred(rt->dsn, "none", text));
      }
      done(std::move(outcomes));
      return;
    }
    case config::TransportKind::mbox:
    case config::TransportKind::pipe:
      // One recipient at a time, each with its own domain's transport (a reload between
      // destination() and now may have changed it).
      boost::asio::post(pool_, [config, launcher = launcher_, envelope,
                                recipients = std::move(recipients), message,
                                done = std::move(done), kind = t->kind]() mutable {
        std::vector<mail::Outcome> outcomes;
        for (std::size_t i : recipients) {
          const config::Transport* rt = config->transport_for(envelope->recipients[i].domain);
          if (!rt || rt->kind != kind)
            outcomes.push_back(mail::Outcome::deferred("4.3.5", "local", "transport changed"));
          else if (kind == config::TransportKind::mbox)
            outcomes.push_back(deliver_mbox(*config, launcher, *envelope, i, *message));
          else
            outcomes.push_back(deliver_pipe(*config, launcher, *rt, *envelope, i, *message));
        }
        done(std::move(outcomes));
      });
      return;
    case config::TransportKind::maildir:
    case config::TransportKind::smtp:
      break;
  }
  boost::asio::post(pool_, [config, envelope, recipients = std::move(recipients), message,
                            done = std::move(done)]() mutable {
    delivery::Maildir maildir(config->maildir_root, config->hostname);
    std::vector<mail::Outcome> outcomes;
    for (std::size_t i : recipients) {
      auto& r = envelope->recipients[i];
      auto addr = mail::parse_mailbox(r.address, /*allow_utf8=*/true);
      if (!addr) {
        outcomes.push_back(mail::Outcome::bounced("5.1.3", "local", "recipient address is malformed"));
        continue;
      }
      std::string key = envelope->id + "_" + std::to_string(i);
      // target: the mailbox of an address with an extension (alice for alice+news@...).
      const std::string& mailbox = r.target.empty() ? addr->local : r.target;
      outcomes.push_back(maildir.deliver(envelope->sender_of(i), r.address, mailbox, r.domain,
                                         *message, key, envelope->arrival));
    }
    done(std::move(outcomes));
  });
}

}  // namespace tern::app
