// ternd: the Tern mail server. Wiring only: loads the configuration, opens the spool,
// starts the scheduler, the couriers and the SMTP listeners, and handles signals.
//   ternd --config FILE            run in the foreground, logging to stderr
//   ternd --check --config FILE    validate FILE; print "file:line: problem" per error
#include <CLI/CLI.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <mutex>
#include <thread>

#include "app/control.hpp"
#include "app/control_server.hpp"
#include "app/notices.hpp"
#include "app/security.hpp"
#include "app/wiring.hpp"
#include "config/config.hpp"
#include "core/log.hpp"
#include "core/privileges.hpp"
#include "delivery/launcher.hpp"
#include "dns/resolver.hpp"
#include "inbound/server.hpp"
#include "outbound/client.hpp"
#include "queue/scheduler.hpp"
#include "route/tables.hpp"
#include "spool/spool.hpp"

namespace asio = boost::asio;
using namespace tern;

namespace {

// How long SIGTERM waits for sessions in progress before closing them: long enough for a
// message being received to finish, short enough for systemd's default 90 s stop timeout.
constexpr auto drain_bound = std::chrono::seconds(20);
// Threads writing to mailboxes (each write ends in an fsync, so several overlap).
constexpr unsigned delivery_threads = 4;
// Threads checking passwords: a yescrypt hash costs tens of milliseconds of CPU, so two
// keep a burst of logins from starving deliveries on a small machine.
constexpr unsigned auth_threads = 2;

dns::Options dns_options(const config::Config& c) {
  dns::Options o;
  o.forwarders = c.dns.forwarders;
  o.stub_zones = c.dns.stub_zones;
  o.timeout = c.dns.timeout;
  return o;
}

outbound::ClientSettings client_settings(const config::Config& c) {
  outbound::ClientSettings s;
  s.helo_name = c.hostname;
  s.timeouts.connect = c.smtp_client.connect_timeout;
  switch (c.dns.ip_version) {
    case config::IpVersion::ipv4: s.family = dns::Family::ipv4; break;
    case config::IpVersion::ipv6: s.family = dns::Family::ipv6; break;
    case config::IpVersion::both: s.family = dns::Family::both; break;
    case config::IpVersion::prefer_ipv6: s.family = dns::Family::prefer_ipv6; break;
  }
  return s;
}

queue::Settings queue_settings(const config::Config& c) {
  queue::Settings s;
  s.max_in_flight = c.smtp_client.max_deliveries;
  s.destination_concurrency = c.smtp_client.destination_concurrency;
  s.destination_rate = c.smtp_client.destination_rate;
  s.first_retry = c.queue.first_retry;
  s.max_retry = c.queue.max_retry;
  s.lifetime = c.queue.lifetime;
  s.delay_warning = c.queue.delay_warning;
  return s;
}

// The launcher (delivery/launcher.hpp) when ternd will drop root; null when it stays root
// (server.user = "root", it switches users itself) or never had it.
Result<std::unique_ptr<delivery::Launcher>> start_launcher(const config::Config& c) {
  if (::geteuid() != 0) return std::unique_ptr<delivery::Launcher>();
  const passwd* pw = ::getpwnam(c.user.c_str());
  if (!pw || pw->pw_uid == 0) return std::unique_ptr<delivery::Launcher>();
  // Whom the helper may act as besides ordinary accounts, fixed now: the users the
  // configuration names and the owners of the alias files (a list manager's "list").
  delivery::LauncherPolicy policy;
  for (const std::string& name : {c.local_delivery.pipe_user, c.route.default_privs})
    if (const passwd* u = ::getpwnam(name.c_str()); u && u->pw_uid != 0)
      policy.named_uids.insert(u->pw_uid);
  for (const std::string& file : c.route.alias_files) {
    struct stat st{};
    if (::stat(file.c_str(), &st) == 0 && st.st_uid != 0) policy.named_uids.insert(st.st_uid);
  }
  return delivery::Launcher::start(policy);
}

void log_table_warnings(const route::Tables& tables) {
  for (auto& w : tables.warnings()) log::get("master").warn("{}", w);
}

// SIGHUP: a new configuration and the routing tables it names (aliases, virtual maps,
// users) replace the old ones whole, or not at all (errors are logged and the old ones
// stay). Listeners, the spool path and the user need a restart.
// Serializes reloads: SIGHUP (the signal thread) and `ternctl reload` (the control socket,
// on the queue thread) may ask at the same time.
std::mutex reload_mutex;
// Held while the configuration, tables and TLS/AUTH setup are swapped, and while a new
// session takes its snapshot of them: no session sees a new configuration with old tables.
std::mutex swap_mutex;

Status reload(config::Current& current, route::CurrentTables& current_tables,
              inbound::CurrentSecurity& current_security) {
  std::lock_guard lock(reload_mutex);
  auto& lg = log::get("master");
  auto old = current.get();
  auto refuse = [&](const std::string& why) -> Status {
    lg.error("reload failed; keeping the running configuration:\n{}", why);
    return fail(why);
  };
  auto fresh = config::load(old->source);
  if (!fresh) return refuse(fresh.error().message);
  auto tables = route::load_tables(**fresh);
  if (!tables) return refuse(tables.error().message);
  auto security = app::build_security(**fresh);
  if (!security) return refuse(security.error().message);
  log_table_warnings(**tables);
  auto& c = **fresh;
  bool listeners_same = c.listeners.size() == old->listeners.size();
  for (std::size_t i = 0; listeners_same && i < c.listeners.size(); ++i)
    listeners_same = c.listeners[i].address == old->listeners[i].address &&
                     c.listeners[i].kind == old->listeners[i].kind &&
                     c.listeners[i].auth == old->listeners[i].auth;
  if (!listeners_same || c.spool_path != old->spool_path || c.user != old->user)
    lg.warn("reload: listener, spool.path and server.user changes take effect at restart");
  log::setup(c.log_level);
  {
    std::lock_guard swap(swap_mutex);
    current.set(std::move(*fresh));
    current_tables.set(std::move(*tables));
    current_security.set(std::move(*security));
  }
  lg.info("reloaded configuration {}", old->source);
  return {};
}

int run(std::shared_ptr<const config::Config> config,
        std::shared_ptr<const route::Tables> tables,
        std::shared_ptr<const inbound::Security> security) {
  // Everything ternd creates (spool files, mailboxes) is private to its user.
  ::umask(077);
  // Forked first, while ternd is root and has no other thread: the helper that keeps root
  // to run commands and open files as other users once ternd has dropped it.
  auto launcher = start_launcher(*config);
  if (!launcher) {
    std::cerr << launcher.error().message << "\n";
    return 1;
  }
  config::Current current(config);
  route::CurrentTables current_tables(std::move(tables));
  inbound::CurrentSecurity current_security(std::move(security));
  // Password hashing is slow by design (auth/backend.hpp): it runs here, not on I/O threads.
  asio::thread_pool auth_pool(auth_threads);
  log::setup(config->log_level);
  auto& lg = log::get("master");
  log_table_warnings(*current_tables.get());
  if (*launcher) lg.info("launcher started (pid {})", (*launcher)->pid());

  // Signals are caught from the start: a SIGHUP or SIGTERM that comes while ternd is still
  // starting waits for the loop below instead of killing the process (SIGHUP's default).
  asio::io_context signal_ioc(1);
  asio::signal_set signals(signal_ioc, SIGTERM, SIGINT);
  signals.add(SIGHUP);

  unsigned n_io = config->io_threads ? config->io_threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<asio::io_context>> io;
  std::vector<asio::io_context*> workers;
  for (unsigned i = 0; i < n_io; ++i) {
    io.push_back(std::make_unique<asio::io_context>(1));
    workers.push_back(io.back().get());
  }
  auto snapshots = [&] {
    std::lock_guard swap(swap_mutex);
    return inbound::SessionSnapshot{current.get(), current_tables.get(), current_security.get()};
  };
  inbound::Server server(config, snapshots, workers, auth_pool.get_executor());
  if (auto st = server.listen(); !st) {
    lg.critical("{}", st.error().message);
    return 1;
  }
  // Ports are bound: from here on, no root (DESIGN.md "Runtime model").
  std::vector<std::string> owned{config->spool_path};
  if (!config->maildir_root.empty()) owned.push_back(config->maildir_root);
  if (auto st = drop_privileges(config->user, owned); !st) {
    lg.critical("{}", st.error().message);
    return 1;
  }

  auto opened = spool::Spool::open(config->spool_path, spool::Spool::Mode::primary);
  if (!opened) {
    lg.critical("{}", opened.error().message);
    return 1;
  }
  std::unique_ptr<spool::Spool> spool = std::move(*opened);

  asio::io_context queue_ioc(1);
  asio::thread_pool delivery_pool(delivery_threads);

  // DNS runs on its own thread: libunbound's answers are processed there and handed back.
  asio::io_context dns_ioc(1);
  auto resolver = dns::Resolver::create(dns_ioc, dns_options(*config));
  if (!resolver) {
    lg.critical("cannot set up DNS: {}", resolver.error().message);
    return 1;
  }
  outbound::Client smtp_client(workers, **resolver, client_settings(*config));
  app::RoutingCourier courier(current, delivery_pool, smtp_client, launcher->get());
  app::DsnNotifier notifier(current, current_tables);
  queue::Scheduler scheduler(queue_ioc, *spool, courier, queue_settings(*config), &notifier);
  app::SpoolIngress ingress(*spool, scheduler);
  notifier.attach(ingress);

  app::ControlServer control(queue_ioc, scheduler, app::control_socket_path(config->spool_path),
                             [&] { return reload(current, current_tables, current_security); });
  if (auto st = control.start(); !st) {
    lg.critical("{}", st.error().message);
    return 1;
  }

  auto queue_work = asio::make_work_guard(queue_ioc);
  std::thread queue_thread([&] { queue_ioc.run(); });
  auto dns_work = asio::make_work_guard(dns_ioc);
  std::thread dns_thread([&] { dns_ioc.run(); });
  if (auto st = scheduler.recover(); !st) {
    lg.critical("cannot read the spool: {}", st.error().message);
    queue_ioc.stop();
    queue_thread.join();
    dns_ioc.stop();
    dns_thread.join();
    return 1;
  }

  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
  for (auto& ctx : io) {
    guards.push_back(asio::make_work_guard(*ctx));
    threads.emplace_back([c = ctx.get()] { c->run(); });
  }
  server.start(ingress);
  lg.info("daemon started -- version 0.1.0, configuration {}", config->source);

  // SIGTERM/SIGINT: stop accepting, let sessions finish within drain_bound, then stop.
  bool stopping = false;
  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        (void)reload(current, current_tables, current_security);
        wait_signal();
        return;
      }
      lg.info("terminating on signal {}", sig);
      stopping = true;
    });
  };
  wait_signal();
  while (!stopping) signal_ioc.run_one();

  server.stop_accepting();
  server.stop_sessions();
  auto deadline = std::chrono::steady_clock::now() + drain_bound;
  while (server.sessions() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (auto& ctx : io) ctx->stop();
  for (auto& t : threads) t.join();
  delivery_pool.join();
  auth_pool.join();
  queue_ioc.stop();
  queue_thread.join();
  dns_ioc.stop();
  dns_thread.join();
  control.stop();
  spool.reset();  // the committer finishes every commit still waiting
  lg.info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"ternd: the Tern mail transfer agent"};
  std::string config_path = "/etc/tern/tern.toml";
  bool check = false;
  cli.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
  cli.add_flag("--check", check, "validate the configuration and exit");
  CLI11_PARSE(cli, argc, argv);

  auto config = config::load(config_path);
  if (!config) {
    std::cerr << config.error().message << "\n";
    return 1;
  }
  // The tables are part of the configuration: --check reads them too, file:line per error.
  auto tables = route::load_tables(**config);
  if (!tables) {
    std::cerr << tables.error().message << "\n";
    return 1;
  }
  // Certificates, keys and the password file are read now too: an unreadable key is an
  // error here and at start, not at the first STARTTLS.
  auto security = app::build_security(**config);
  if (!security) {
    std::cerr << security.error().message << "\n";
    return 1;
  }
  if (check) {
    for (auto& w : (*tables)->warnings()) std::cerr << "warning: " << w << "\n";
    std::cout << config_path << ": configuration is valid\n";
    return 0;
  }
  return run(std::move(*config), std::move(*tables), std::move(*security));
}
