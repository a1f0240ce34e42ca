// SpoolIngress and LocalCourier; see wiring.hpp.
#include "app/wiring.hpp"

#include <boost/asio/post.hpp>

#include "mail/address.hpp"

namespace tern::app {

void SpoolIngress::accept(spool::Envelope envelope, std::string message, Done done) {
  auto body = std::make_shared<const std::string>(std::move(message));
  // The envelope is encoded by commit() before it returns, so it can move on afterwards.
  auto env = std::make_shared<spool::Envelope>(std::move(envelope));
  spool_.commit(*env, body, [this, env, body, done = std::move(done)](Status s) {
    if (s) scheduler_.submit(std::move(*env), body);
    done(s);
  });
}

LocalCourier::LocalCourier(const config::Current& config, boost::asio::thread_pool& pool)
    : config_(config), pool_(pool) {}

void LocalCourier::deliver(std::shared_ptr<const spool::Envelope> envelope,
                           std::vector<std::size_t> recipients,
                           std::shared_ptr<const std::string> message, Done done) {
  auto config = config_.get();  // one configuration for the whole attempt
  std::vector<mail::Outcome> outcomes(recipients.size());
  bool needs_disk = false;
  for (std::size_t k = 0; k < recipients.size(); ++k) {
    auto& r = envelope->recipients[recipients[k]];
    const config::Transport* t = config->transport_for(r.domain);
    if (!t)
      outcomes[k] = mail::Outcome::deferred(
          "4.4.0", "none", "remote delivery is not available in this version; message kept");
    else if (*t == config::Transport::discard)
      outcomes[k] = mail::Outcome::sent("none", "discarded");
    else
      needs_disk = true;
  }
  if (!needs_disk) {
    done(std::move(outcomes));
    return;
  }
  boost::asio::post(pool_, [config, envelope, recipients = std::move(recipients), message,
                            outcomes = std::move(outcomes), done = std::move(done)]() mutable {
    delivery::Maildir maildir(config->maildir_root, config->hostname);
    for (std::size_t k = 0; k < recipients.size(); ++k) {
      auto& r = envelope->recipients[recipients[k]];
      const config::Transport* t = config->transport_for(r.domain);
      if (!t || *t != config::Transport::maildir) continue;
      auto addr = mail::parse_mailbox(r.address, /*allow_utf8=*/true);
      if (!addr) {
        outcomes[k] = mail::Outcome::bounced("5.1.3", "local", "recipient address is malformed");
        continue;
      }
      std::string key = envelope->id + "_" + std::to_string(recipients[k]);
      outcomes[k] = maildir.deliver(envelope->sender, r.address, addr->local, r.domain, *message,
                                    key, envelope->arrival);
    }
    done(std::move(outcomes));
  });
}

}  // namespace tern::app
