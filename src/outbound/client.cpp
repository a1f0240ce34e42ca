// The SMTP client: next-hop resolution, the MX walk and connection reuse; see client.hpp.
#include "outbound/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <atomic>
#include <mutex>
#include <unordered_map>

#include "core/log.hpp"

namespace tern::outbound {
namespace asio = boost::asio;

std::string NextHop::key() const {
  if (host.empty()) return domain;
  return "[" + host + "]:" + std::to_string(port);
}

namespace {

std::vector<mail::Outcome> all(std::size_t n, const mail::Outcome& o) {
  return std::vector<mail::Outcome>(n, o);
}

// "[192.0.2.1]" / "[IPv6:2001:db8::1]" domain literals name the host itself.
std::optional<std::string> literal_address(std::string_view domain) {
  if (domain.size() < 3 || domain.front() != '[' || domain.back() != ']') return std::nullopt;
  std::string_view inner = domain.substr(1, domain.size() - 2);
  if (inner.size() > 5 && (inner.substr(0, 5) == "IPv6:" || inner.substr(0, 5) == "ipv6:"))
    inner.remove_prefix(5);
  boost::system::error_code ec;
  asio::ip::make_address(std::string(inner), ec);
  if (ec) return std::nullopt;
  return std::string(inner);
}

// A DNS answer that did not come (SERVFAIL, timeout): the attempt waits (RFC 3463 4.4.3).
mail::Outcome lookup_failed(const std::string& name, const std::string& error) {
  return mail::Outcome::deferred("4.4.3", "none",
                                 "Host or domain name not found. Name service error for name=" +
                                     name + ": " + error);
}

// The idle-connection cache key: the destination, and what was negotiated for it, so a
// reloaded TLS policy or login never rides a connection opened under the old one.
std::string cache_key(const NextHop& hop) {
  std::string key = hop.key() + " tls=" + policy_name(hop.tls);
  if (hop.credentials) key += " user=" + hop.credentials->user;
  return key;
}

}  // namespace

struct Client::Impl : std::enable_shared_from_this<Impl> {
  std::vector<asio::io_context*> workers;
  dns::Resolver& resolver;
  ClientSettings settings;
  std::atomic<std::size_t> next_worker{0};
  std::atomic<std::uint64_t> opened{0};
  std::shared_ptr<tls::ClientContext> tls_context;  // null only if OpenSSL failed at start
  std::mutex mutex;
  // Idle connections by cache_key(), most recently used last.
  std::unordered_map<std::string, std::vector<std::shared_ptr<Connection>>> idle;
  // "[ip]:port" of hosts whose TLS handshake failed under "may" → plaintext until then.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> plaintext_until;

  Impl(std::vector<asio::io_context*> w, dns::Resolver& r, ClientSettings s)
      : workers(std::move(w)), resolver(r), settings(std::move(s)) {
    if (auto c = tls::ClientContext::create())
      tls_context = *c;
    else
      log::get("smtp").error("TLS is not available for outbound mail: {}", c.error().message);
  }

  static std::string host_key(const Endpoint& ep) {
    return "[" + ep.ip + "]:" + std::to_string(ep.port);
  }

  bool plaintext_only(const Endpoint& ep) {
    std::lock_guard lock(mutex);
    auto it = plaintext_until.find(host_key(ep));
    if (it == plaintext_until.end()) return false;
    if (it->second > std::chrono::steady_clock::now()) return true;
    plaintext_until.erase(it);
    return false;
  }

  void remember_plaintext(const Endpoint& ep) {
    auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex);
    if (plaintext_until.size() >= settings.max_plaintext_hosts) {
      std::erase_if(plaintext_until, [&](auto& e) { return e.second <= now; });
      if (plaintext_until.size() >= settings.max_plaintext_hosts)
        plaintext_until.erase(std::min_element(
            plaintext_until.begin(), plaintext_until.end(),
            [](auto& a, auto& b) { return a.second < b.second; }));
    }
    plaintext_until[host_key(ep)] = now + settings.plaintext_after_tls_failure;
  }

  std::shared_ptr<Connection> take_idle(const std::string& key) {
    std::lock_guard lock(mutex);
    auto it = idle.find(key);
    while (it != idle.end() && !it->second.empty()) {
      auto c = std::move(it->second.back());
      it->second.pop_back();
      if (c->reusable()) return c;
    }
    return nullptr;
  }

  // Keeps `c` for the next message to `key`, and closes it if none comes in time.
  void park(const std::string& key, std::shared_ptr<Connection> c) {
    if (!c->reusable() || c->transactions() >= settings.max_transactions) {
      asio::co_spawn(c->executor(), [c]() { return c->quit(); }, asio::detached);
      return;
    }
    {
      std::lock_guard lock(mutex);
      idle[key].push_back(c);
    }
    auto self = shared_from_this();
    asio::co_spawn(
        c->executor(),
        [self, key, c]() -> asio::awaitable<void> {
          asio::steady_timer t(co_await asio::this_coro::executor, self->settings.idle_limit);
          co_await t.async_wait(asio::use_awaitable);
          bool was_idle = false;
          {
            std::lock_guard lock(self->mutex);
            auto& v = self->idle[key];
            auto pos = std::find(v.begin(), v.end(), c);
            if (pos != v.end()) {
              v.erase(pos);
              was_idle = true;
            }
          }
          if (was_idle) co_await c->quit();
        },
        asio::detached);
  }

  // The addresses to try for a next hop, in order, or the outcome that ends the attempt.
  struct Endpoints {
    std::vector<Endpoint> list;
    std::optional<mail::Outcome> failure;
  };

  asio::awaitable<Endpoints> resolve(const NextHop& hop) {
    Endpoints out;
    auto add_host = [&](const std::string& name, std::uint16_t port) -> asio::awaitable<dns::AddressAnswer> {
      if (auto lit = literal_address("[" + name + "]")) {
        out.list.push_back({name, *lit, port});
        co_return dns::AddressAnswer{dns::Status::ok, {*lit}, false, ""};
      }
      auto a = co_await resolver.addresses(name, settings.family);
      if (a.status == dns::Status::ok)
        for (auto& ip : a.addresses) out.list.push_back({name, ip, port});
      co_return a;
    };
    if (!hop.host.empty()) {
      auto a = co_await add_host(hop.host, hop.port);
      if (a.status == dns::Status::temporary)
        out.failure = lookup_failed(hop.host, a.error);
      else if (out.list.empty())
        out.failure = mail::Outcome::deferred(
            "4.4.4", "none", "relay host " + hop.host + " has no address (configuration?)");
      co_return out;
    }
    if (auto lit = literal_address(hop.domain)) {
      out.list.push_back({*lit, *lit, hop.port});
      co_return out;
    }
    auto mx = co_await resolver.mx(hop.domain);
    const std::string where = "Name service error for name=" + hop.domain + " type=MX: ";
    switch (mx.status) {
      case dns::Status::nxdomain:
        out.failure = mail::Outcome::bounced(
            "5.1.2", "none", "Host or domain name not found. " + where + "Host not found");
        co_return out;
      case dns::Status::temporary:
        out.failure = mail::Outcome::deferred(
            "4.4.3", "none", "Host or domain name not found. " + where + mx.error + ", try again");
        co_return out;
      case dns::Status::nodata: {
        // RFC 5321 §5.1: no MX, so the domain itself is the implicit MX.
        auto a = co_await add_host(hop.domain, hop.port);
        if (a.status == dns::Status::temporary)
          out.failure = lookup_failed(hop.domain, a.error);
        else if (out.list.empty())
          out.failure = mail::Outcome::bounced(
              "5.1.2", "none", "Host or domain name not found: " + hop.domain +
                                   " has no MX and no address records");
        co_return out;
      }
      case dns::Status::ok:
        break;
    }
    if (mx.null_mx()) {
      // RFC 7505 §3: the domain takes no mail; bounce at once, do not retry.
      out.failure = mail::Outcome::bounced(
          "5.1.10", "none", "556 5.1.10 Recipient address rejected: domain " + hop.domain +
                                " does not accept mail (null MX, RFC 7505)");
      co_return out;
    }
    bool temporary = false;
    std::string last_error;
    for (auto& r : dns::order_mx(mx.records)) {
      if (r.exchange.empty() || out.list.size() >= settings.max_addresses) continue;
      auto a = co_await add_host(r.exchange, hop.port);
      if (a.status == dns::Status::temporary) {
        temporary = true;
        last_error = r.exchange + ": " + a.error;
      }
    }
    if (out.list.empty())
      out.failure = temporary ? mail::Outcome::deferred("4.4.3", "none",
                                                        "MX host address lookup failed: " + last_error)
                              : mail::Outcome::deferred(
                                    "4.4.4", "none",
                                    "no address for any MX host of " + hop.domain);
    co_return out;
  }

  asio::awaitable<std::vector<mail::Outcome>> attempt(
      NextHop hop, std::shared_ptr<const spool::Envelope> env, std::vector<std::size_t> rcpts,
      std::shared_ptr<const std::string> message) {
    auto ex = co_await asio::this_coro::executor;
    auto endpoints = co_await resolve(hop);
    if (endpoints.failure) co_return all(rcpts.size(), *endpoints.failure);
    OpenError last;
    std::size_t tried = 0;
    for (auto& ep : endpoints.list) {
      if (tried++ >= settings.max_addresses) break;
      Security security{hop.tls, tls_context, hop.credentials};
      // With credentials, plaintext cannot deliver (AUTH needs TLS): no fallback then.
      const bool may_fall_back = security.tls == TlsPolicy::may && !hop.credentials;
      if (may_fall_back && plaintext_only(ep)) security.tls = TlsPolicy::none;
      auto c = co_await Connection::open(ex, ep, settings.helo_name, settings.timeouts, security);
      opened.fetch_add(1);
      if (!c && c.error().tls_failed && may_fall_back) {
        // "may": mail in plaintext beats no mail. Again at once, and so for a while.
        remember_plaintext(ep);
        log::get("smtp").warn("{}; trying {} again without TLS (plaintext to it for {}s)",
                              c.error().text, ep.text(),
                              settings.plaintext_after_tls_failure.count());
        security.tls = TlsPolicy::none;
        c = co_await Connection::open(ex, ep, settings.helo_name, settings.timeouts, security);
        opened.fetch_add(1);
      }
      if (!c) {
        last = std::move(c.error());
        continue;  // next address, then next MX (RFC 5321 §5.1)
      }
      auto outcomes = co_await (*c)->send(*env, rcpts, *message);
      park(cache_key(hop), *c);
      co_return outcomes;
    }
    co_return all(rcpts.size(),
                  mail::Outcome::deferred(last.dsn, last.relay.empty() ? "none" : last.relay,
                                          last.text));
  }
};

Client::Client(std::vector<asio::io_context*> workers, dns::Resolver& resolver,
               ClientSettings settings)
    : impl_(std::make_shared<Impl>(std::move(workers), resolver, std::move(settings))) {}

Client::~Client() = default;

std::uint64_t Client::connections_opened() const { return impl_->opened.load(); }

void Client::deliver(NextHop hop, std::shared_ptr<const spool::Envelope> envelope,
                     std::vector<std::size_t> recipients,
                     std::shared_ptr<const std::string> message, Done done) {
  auto impl = impl_;
  if (auto c = impl->take_idle(cache_key(hop))) {
    // Reuse: the next message rides the connection the last one used.
    asio::co_spawn(
        c->executor(),
        [impl, c, hop, envelope, recipients, message]() -> asio::awaitable<std::vector<mail::Outcome>> {
          auto outcomes = co_await c->send(*envelope, recipients, *message);
          if (c->dead_on_arrival())  // the cached connection had died meanwhile: try afresh
            co_return co_await impl->attempt(hop, envelope, recipients, message);
          impl->park(cache_key(hop), c);
          co_return outcomes;
        },
        [done = std::move(done), n = recipients.size()](std::exception_ptr e,
                                                        std::vector<mail::Outcome> o) {
          if (e) o = all(n, mail::Outcome::deferred("4.3.0", "none", "internal error"));
          done(std::move(o));
        });
    return;
  }
  auto& worker = *impl->workers[impl->next_worker.fetch_add(1) % impl->workers.size()];
  asio::co_spawn(worker, impl->attempt(std::move(hop), envelope, recipients, message),
                 [done = std::move(done), n = recipients.size()](std::exception_ptr e,
                                                                 std::vector<mail::Outcome> o) {
                   if (e) o = all(n, mail::Outcome::deferred("4.3.0", "none", "internal error"));
                   done(std::move(o));
                 });
}

void Client::deliver_lmtp(LmtpHop hop, std::shared_ptr<const spool::Envelope> envelope,
                          std::vector<std::size_t> recipients,
                          std::shared_ptr<const std::string> message, Done done) {
  auto impl = impl_;
  auto& worker = *impl->workers[impl->next_worker.fetch_add(1) % impl->workers.size()];
  asio::co_spawn(
      worker,
      [impl, hop = std::move(hop), envelope, recipients,
       message]() -> asio::awaitable<std::vector<mail::Outcome>> {
        LmtpSettings settings{impl->settings.helo_name, impl->settings.timeouts,
                              impl->settings.family};
        co_return co_await outbound::deliver_lmtp(hop, settings, impl->resolver, *envelope, recipients,
                                        *message);
      },
      [done = std::move(done), n = recipients.size()](std::exception_ptr e,
                                                      std::vector<mail::Outcome> o) {
        if (e) o = all(n, mail::Outcome::deferred("4.3.0", "none", "internal error"));
        done(std::move(o));
      });
}

}  // namespace tern::outbound
