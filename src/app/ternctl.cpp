// ternctl: the operator's command for Tern's queue.
//   ternctl [-c FILE] queue list [--json]   mailq-like listing; --json: one object per line
//   ternctl [-c FILE] queue show ID         envelope, state per recipient, headers
//   ternctl [-c FILE] queue delete ID       remove a message
//   ternctl [-c FILE] queue flush [ID | --domain D]   try deferred mail now
//   ternctl [-c FILE] queue hold ID / release ID      keep a message back / let it go
// Reading works whether ternd runs or not (the spool is opened read-only). A deletion goes
// through ternd's control socket when it runs, else straight to the spool.
#include <CLI/CLI.hpp>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/control.hpp"
#include "config/config.hpp"
#include "core/queue_id.hpp"
#include "smtp/params.hpp"
#include "mail/address.hpp"
#include "route/tables.hpp"
#include "spool/spool.hpp"

using namespace tern;

namespace {

// sysexits(3) codes, as mailq and postqueue use them.
constexpr int ex_usage = 64, ex_nouser = 67, ex_unavailable = 69, ex_software = 70,
              ex_config = 78;

const char* state_name(spool::RecipientState s) {
  switch (s) {
    case spool::RecipientState::pending: return "pending";
    case spool::RecipientState::delivered: return "delivered";
    case spool::RecipientState::failed: return "failed";
  }
  return "pending";
}

// RFC 3461 §4.1 keywords of the NOTIFY bits, as the client sent them: "SUCCESS,FAILURE".
std::string notify_text(std::uint8_t bits) {
  std::string out;
  for (auto [bit, name] : {std::pair{smtp::notify_never, "NEVER"},
                           {smtp::notify_success, "SUCCESS"},
                           {smtp::notify_failure, "FAILURE"},
                           {smtp::notify_delay, "DELAY"}})
    if (bits & bit) out += (out.empty() ? "" : ",") + std::string(name);
  return out;
}

std::string time_text(std::int64_t t, const char* fmt) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}

nlohmann::json to_json(const spool::Envelope& e) {
  nlohmann::json rcpts = nlohmann::json::array();
  for (auto& r : e.recipients) {
    nlohmann::json j{{"address", r.address}, {"state", state_name(r.status.state)},
                     {"attempts", r.status.attempts}};
    if (r.status.next_attempt) j["next_attempt"] = r.status.next_attempt;
    if (!r.status.last_error.empty()) j["last_error"] = r.status.last_error;
    if (r.notify) j["notify"] = r.notify;
    if (!r.orcpt.empty()) j["orcpt"] = r.orcpt;
    if (!r.sender.empty()) j["sender"] = r.sender;  // an owner- alias's, not the message's
    rcpts.push_back(std::move(j));
  }
  return {{"queue_id", e.id},          {"sender", e.sender},   {"arrival_time", e.arrival},
          {"message_size", e.size},    {"held", e.held},       {"client", e.client_address},
          {"recipients", std::move(rcpts)}};
}

std::unique_ptr<spool::Spool> open_read_only(const config::Config& c) {
  auto s = spool::Spool::open(c.spool_path, spool::Spool::Mode::read_only);
  if (!s) {
    std::cerr << "ternctl: " << s.error().message << "\n";
    std::exit(ex_software);
  }
  return std::move(*s);
}

int queue_list(const config::Config& c, bool json) {
  auto spool = open_read_only(c);
  auto list = spool->list();
  if (!list) {
    std::cerr << "ternctl: " << list.error().message << "\n";
    return ex_software;
  }
  if (json) {
    for (auto& e : *list) std::cout << to_json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  if (list->empty()) {
    std::cout << "Mail queue is empty\n";
    return 0;
  }
  // Postfix mailq columns: ID (with '!' when held), size, arrival, sender; then the
  // recipients, each preceded by its last error in parentheses.
  std::printf("%-17s %8s %-20s %s\n", "-Queue ID-", "--Size--", "----Arrival Time----",
              "-Sender/Recipient-------");
  std::uint64_t bytes = 0;
  for (auto& e : *list) {
    bytes += e.size;
    std::printf("%-17s %8llu %-20s %s\n", (e.id + (e.held ? "!" : "")).c_str(),
                static_cast<unsigned long long>(e.size),
                time_text(e.arrival, "%a %b %d %H:%M:%S").c_str(),
                e.sender.empty() ? "MAILER-DAEMON" : e.sender.c_str());
    for (auto& r : e.recipients) {
      if (r.status.state == spool::RecipientState::delivered) continue;
      if (!r.status.last_error.empty())
        std::printf("%48s(%s)\n", "", r.status.last_error.c_str());
      std::string extra;
      if (r.status.attempts)
        extra = "  [" + std::string(state_name(r.status.state)) + ", attempts " +
                std::to_string(r.status.attempts) +
                (r.status.next_attempt
                     ? ", next " + time_text(r.status.next_attempt, "%H:%M:%S")
                     : std::string()) +
                "]";
      std::printf("%48s%s%s\n", "", r.address.c_str(), extra.c_str());
    }
    std::printf("\n");
  }
  std::printf("-- %llu Kbytes in %zu Request%s.\n",
              static_cast<unsigned long long>((bytes + 1023) / 1024), list->size(),
              list->size() == 1 ? "" : "s");
  return 0;
}

int queue_show(const config::Config& c, const std::string& id) {
  auto spool = open_read_only(c);
  auto found = spool->find(id);
  if (!found || !*found) {
    std::cerr << "ternctl: " << (found ? "no message " + id + " in the queue" : found.error().message) << "\n";
    return ex_nouser;
  }
  auto& e = **found;
  std::cout << "Queue ID:  " << e.id << (e.held ? " (held)" : "") << "\n"
            << "Arrival:   " << time_text(e.arrival, "%Y-%m-%d %H:%M:%S %z") << "\n"
            << "Sender:    <" << e.sender << ">\n"
            << "Size:      " << e.size << "\n"
            << "Client:    " << e.helo << " [" << e.client_address << "]\n";
  if (!e.body_type.empty()) std::cout << "Body:      " << e.body_type << "\n";
  if (e.smtputf8) std::cout << "SMTPUTF8:  yes\n";
  if (!e.ret.empty()) std::cout << "DSN RET:   " << e.ret << "\n";
  if (!e.envid.empty()) std::cout << "DSN ENVID: " << e.envid << "\n";
  std::cout << "Recipients:\n";
  for (auto& r : e.recipients) {
    std::cout << "  <" << r.address << ">  " << state_name(r.status.state)
              << ", attempts " << r.status.attempts;
    if (r.status.next_attempt)
      std::cout << ", next " << time_text(r.status.next_attempt, "%Y-%m-%d %H:%M:%S");
    std::cout << "\n";
    if (r.notify || !r.orcpt.empty()) {
      std::cout << "      DSN:";
      if (r.notify) std::cout << " NOTIFY=" << notify_text(r.notify);
      if (!r.orcpt.empty()) std::cout << " ORCPT=" << r.orcpt;
      std::cout << "\n";
    }
    if (!r.sender.empty()) std::cout << "      sender: <" << r.sender << ">\n";
    if (!r.status.last_error.empty()) std::cout << "      last error: " << r.status.last_error << "\n";
  }
  auto body = spool->body(id);
  if (body && *body) {
    std::cout << "Headers:\n";
    const std::string& text = **body;
    auto end = text.find("\r\n\r\n");
    std::string headers = text.substr(0, end == std::string::npos ? text.size() : end + 2);
    for (char ch : headers)
      if (ch != '\r') std::cout << ch;
  }
  return 0;
}

int queue_delete(const config::Config& c, const std::string& id) {
  if (!valid_queue_id(id)) {
    std::cerr << "ternctl: '" << id << "' is not a queue ID\n";
    return ex_usage;
  }
  auto asked = app::control_request(app::control_socket_path(c.spool_path), "delete " + id);
  if (!asked) {
    std::cerr << "ternctl: " << asked.error().message << "\n";
    return ex_software;
  }
  if (auto& reply = *asked) {
    if (*reply == "ok") {
      std::cout << id << ": deleted\n";
      return 0;
    }
    std::cerr << "ternctl: " << id << ": " << *reply << "\n";
    return ex_nouser;
  }
  // No daemon: work on the spool directly (the open fails if a daemon holds it).
  auto s = spool::Spool::open(c.spool_path, spool::Spool::Mode::admin);
  if (!s) {
    std::cerr << "ternctl: " << s.error().message << "\n";
    return ex_software;
  }
  auto found = (*s)->find(id);
  if (!found || !*found) {
    std::cerr << "ternctl: no message " << id << " in the queue\n";
    return ex_nouser;
  }
  if (auto st = (*s)->remove(id); !st) {
    std::cerr << "ternctl: " << st.error().message << "\n";
    return ex_software;
  }
  std::cout << id << ": deleted\n";
  return 0;
}

// hold/release/flush through the daemon; without one, hold and release change the spool
// directly and flush has nothing to do.
int queue_command(const config::Config& c, const std::string& verb, const std::string& arg) {
  if ((verb != "flush" || !arg.empty()) && verb != "flush-domain" && !valid_queue_id(arg)) {
    std::cerr << "ternctl: '" << arg << "' is not a queue ID\n";
    return ex_usage;
  }
  std::string request = arg.empty() ? verb : verb + " " + arg;
  auto asked = app::control_request(app::control_socket_path(c.spool_path), request);
  if (!asked) {
    std::cerr << "ternctl: " << asked.error().message << "\n";
    return ex_software;
  }
  if (auto& reply = *asked) {
    if (reply->starts_with("ok")) {
      std::string n = reply->size() > 3 ? reply->substr(3) : "1";
      std::cout << (verb == "hold" ? "held" : verb == "release" ? "released" : "flushed") << ": "
                << n << " message" << (n == "1" ? "" : "s") << "\n";
      return 0;
    }
    std::cerr << "ternctl: " << (arg.empty() ? verb : arg) << ": " << *reply << "\n";
    return ex_nouser;
  }
  if (verb == "flush" || verb == "flush-domain") {
    std::cerr << "ternctl: ternd is not running; queued mail is tried when it starts\n";
    return ex_unavailable;
  }
  auto s = spool::Spool::open(c.spool_path, spool::Spool::Mode::admin);
  if (!s) {
    std::cerr << "ternctl: " << s.error().message << "\n";
    return ex_software;
  }
  auto found = (*s)->find(arg);
  if (!found || !*found) {
    std::cerr << "ternctl: no message " << arg << " in the queue\n";
    return ex_nouser;
  }
  auto env = std::move(**found);
  env.held = verb == "hold";
  if (auto st = (*s)->update(env); !st) {
    std::cerr << "ternctl: " << st.error().message << "\n";
    return ex_software;
  }
  std::cout << (env.held ? "held" : "released") << ": 1 message\n";
  return 0;
}

// Asks a running ternd to reload its configuration and tables (as SIGHUP does). `quiet`:
// say nothing when no daemon runs (aliases check works without one).
int reload_daemon(const config::Config& c, bool quiet) {
  auto asked = app::control_request(app::control_socket_path(c.spool_path), "reload");
  if (!asked) {
    std::cerr << "ternctl: " << asked.error().message << "\n";
    return ex_software;
  }
  if (!*asked) {
    if (quiet) return 0;
    std::cerr << "ternctl: ternd is not running (no control socket in " << c.spool_path << ")\n";
    return ex_unavailable;
  }
  if (**asked == "ok") {
    std::cout << "ternd reloaded its configuration and tables\n";
    return 0;
  }
  std::cerr << "ternctl: reload refused, ternd keeps what it had: " << **asked << "\n";
  return ex_config;
}

// `ternctl aliases check` (and `newaliases`): reads the tables the configuration names, as
// ternd does at start and on SIGHUP, then has a running ternd take them: what newaliases is
// to Postfix, without a database to build.
// `ternctl aliases expand ADDRESS`: where mail for ADDRESS would go.
int aliases_command(const config::Config& config, bool expand, const std::string& address) {
  auto tables = route::load_tables(config);
  if (!tables) {
    std::cerr << tables.error().message << "\n";
    return ex_config;
  }
  for (auto& w : (*tables)->warnings()) std::cerr << "warning: " << w << "\n";
  if (!expand) {
    std::cout << (*tables)->aliases().size() << " aliases, " << (*tables)->virtual_map().size()
              << " virtual aliases, users: "
              << ((*tables)->users() ? std::to_string((*tables)->users()->size())
                                     : std::string((*tables)->users_maildirs().empty()
                                                       ? "any local part"
                                                       : "none listed"))
              << ((*tables)->users_maildirs().empty() ? "" : " and those with a Maildir")
              << "\n";
    return reload_daemon(config, /*quiet=*/true);
  }
  auto a = mail::parse_mailbox(address, /*allow_utf8=*/true);
  if (!a) {
    std::cerr << "ternctl: '" << address << "' is not an address\n";
    return ex_usage;
  }
  auto d = (*tables)->expander().expand(*a);
  if (!d) {
    std::cout << address << ": " << d.error().enhanced << " " << d.error().text << "\n";
    return ex_nouser;
  }
  for (auto& x : *d) {
    switch (x.kind) {
      case route::Destination::Kind::mailbox:
        std::cout << "mailbox " << x.address.text()
                  << (x.extension.empty() ? "" : " extension " + x.extension);
        break;
      case route::Destination::Kind::address: std::cout << "address " << x.address.text(); break;
      case route::Destination::Kind::file: std::cout << "file " << x.target; break;
      case route::Destination::Kind::pipe: std::cout << "pipe " << x.target; break;
      case route::Destination::Kind::error:
        std::cout << "error " << x.code << " " << x.enhanced << " " << x.text;
        break;
    }
    if (!x.sender.empty()) std::cout << " (sender " << x.sender << ")";
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"ternctl: manage the Tern mail server"};
  std::string config_path = "/etc/tern/tern.toml";
  if (const char* env = std::getenv("TERN_CONFIG")) config_path = env;
  cli.add_option("-c,--config", config_path, "configuration file (or $TERN_CONFIG)");
  cli.require_subcommand(1);
  auto* queue = cli.add_subcommand("queue", "inspect and change the mail queue");
  queue->require_subcommand(1);
  bool json = false;
  std::string id;
  auto* list = queue->add_subcommand("list", "list queued messages (like mailq)");
  list->add_flag("--json", json, "one JSON object per message per line");
  auto* show = queue->add_subcommand("show", "show one message: envelope, recipients, headers");
  show->add_option("id", id, "queue ID")->required();
  auto* del = queue->add_subcommand("delete", "delete a message from the queue");
  del->add_option("id", id, "queue ID")->required();
  std::string domain;
  auto* flush = queue->add_subcommand("flush", "try deferred mail now (all, one ID, or --domain)");
  flush->add_option("id", id, "queue ID");
  flush->add_option("--domain", domain, "only messages with recipients in this domain");
  auto* hold = queue->add_subcommand("hold", "keep a message from delivery until released");
  hold->add_option("id", id, "queue ID")->required();
  auto* release = queue->add_subcommand("release", "let a held message be delivered again");
  release->add_option("id", id, "queue ID")->required();
  auto* aliases = cli.add_subcommand("aliases", "check the alias, virtual and users tables");
  aliases->require_subcommand(1);
  auto* aliases_check = aliases->add_subcommand("check", "read the tables; report file:line errors");
  std::string address;
  auto* aliases_expand = aliases->add_subcommand("expand", "show where mail for an address goes");
  aliases_expand->add_option("address", address, "recipient address")->required();
  auto* reload = cli.add_subcommand("reload", "have ternd re-read its configuration and tables");
  // Called as "newaliases" (a symlink), ternctl is "ternctl aliases check".
  std::vector<std::string> args(argv, argv + argc);
  std::string_view self = args[0];
  if (self.substr(self.rfind('/') + 1) == "newaliases") {
    args.resize(1);
    args.insert(args.end(), {"aliases", "check"});
  }
  std::vector<char*> arg_ptrs;
  for (auto& a : args) arg_ptrs.push_back(a.data());
  try {
    cli.parse(static_cast<int>(arg_ptrs.size()), arg_ptrs.data());
  } catch (const CLI::ParseError& e) {
    int rc = cli.exit(e);
    return rc == 0 ? 0 : ex_usage;
  }

  auto config = config::load(config_path);
  if (!config) {
    std::cerr << config.error().message << "\n";
    return ex_config;
  }
  if (*reload) return reload_daemon(**config, /*quiet=*/false);
  if (*aliases_check) return aliases_command(**config, false, "");
  if (*aliases_expand) return aliases_command(**config, true, address);
  if (*list) return queue_list(**config, json);
  if (*show) return queue_show(**config, id);
  if (*del) return queue_delete(**config, id);
  if (*flush && !domain.empty()) return queue_command(**config, "flush-domain", domain);
  if (*flush) return queue_command(**config, "flush", id);
  if (*hold) return queue_command(**config, "hold", id);
  if (*release) return queue_command(**config, "release", id);
  return ex_usage;
}
