// Loads tern.toml into an immutable Config; see config.hpp. Every key is checked against
// the schema below, so a misspelt key is an error, not a silently ignored setting.
#include "config/config.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <toml++/toml.h>

#include "config/reader.hpp"
#include "config/security.hpp"
#include "core/command_line.hpp"
#include "core/log.hpp"
#include "mail/address.hpp"

namespace tern::config {
namespace {

// "127.0.0.1:2525", "[::1]:2525".
bool parse_listener(std::string_view text, Listener& out) {
  out.address = std::string(text);
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return false;  // v6 needs brackets
  }
  if (!parse_ip(host)) return false;
  auto p = plain_number(port);
  if (!p || *p > 65535) return false;
  out.host = std::string(host);
  out.port = static_cast<std::uint16_t>(*p);
  return true;
}

std::string normalize_domain(std::string_view d) { return mail::domain_to_ascii(d); }

void load_limits(const toml::table& t, Limits& limits, Problems& problems) {
  check_keys(t, "limits",
             {"message_size", "recipients", "errors", "connections", "connections_per_client",
              "command_timeout", "data_timeout", "receive_memory"},
             problems);
  if (auto v = get_number(t, "message_size", "limits", problems, parse_size,
                          "a size such as 52428800 or \"50M\""))
    limits.message_size = *v;
  if (auto v = get_number(t, "receive_memory", "limits", problems, parse_size,
                          "a size such as \"1G\""))
    limits.receive_memory = *v;
  if (auto v = get_number(t, "recipients", "limits", problems, plain_number, "a number")) {
    if (*v < min_recipients)
      problems.add(*t.get("recipients"),
                   "limits.recipients must be at least 100 (RFC 5321 section 4.5.3.1.8)");
    else
      limits.recipients = narrow(*v);
  }
  if (auto v = get_number(t, "errors", "limits", problems, plain_number, "a number"))
    limits.errors = narrow(*v);
  if (auto v = get_number(t, "connections", "limits", problems, plain_number, "a number"))
    limits.connections = narrow(*v);
  if (auto v = get_number(t, "connections_per_client", "limits", problems, plain_number,
                          "a number"))
    limits.connections_per_client = narrow(*v);
  if (auto v = get_seconds(t, "command_timeout", "limits", problems, "300 or \"5m\""))
    limits.command_timeout = *v;
  if (auto v = get_seconds(t, "data_timeout", "limits", problems, "180 or \"3m\""))
    limits.data_timeout = *v;
}

// "[host]:port", "[host]", "domain", "domain:port".
bool parse_smarthost(std::string_view text, Smarthost& out) {
  std::string_view name = text;
  std::string_view port;
  bool bracketed = !text.empty() && text.front() == '[';
  if (bracketed) {
    auto close = text.find(']');
    if (close == std::string_view::npos || close < 2) return false;
    name = text.substr(1, close - 1);
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
    }
  } else if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
    name = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (!port.empty()) {
    auto p = plain_number(port);
    if (!p || *p == 0 || *p > 65535) return false;
    out.port = static_cast<std::uint16_t>(*p);
  }
  if (bracketed && parse_ip(name)) {
    out.host = std::string(name);
    return true;
  }
  auto ascii = mail::domain_to_ascii(name);
  if (ascii.empty()) return false;
  (bracketed ? out.host : out.domain) = ascii;
  return true;
}

// "[host]:port", "[host]" or "host:port" (brackets optional: no MX lookup either way).
bool parse_host_port(std::string_view text, std::string& host, std::uint16_t& port) {
  Smarthost h;
  h.port = port;
  if (!parse_smarthost(text, h)) return false;
  host = h.host.empty() ? h.domain : h.host;
  port = h.port;
  return true;
}

// Port of an LMTP server over TCP when none is given (RFC 2033 §5: LMTP must not use port
// 25; 24 is the port Dovecot and Postfix take by convention).
constexpr std::uint16_t lmtp_default_port = 24;
constexpr std::uint16_t smtp_default_port = 25;
// Longest unix socket path: sockaddr_un.sun_path is 108 octets on Linux, with the NUL.
constexpr std::size_t max_socket_path = 107;

// A pipe transport's command: argv split on spaces and tabs (no quoting: no shell is
// involved), the program an absolute path, each "${name}" one of config::pipe_macros.
// Returns what is wrong, or "".
std::string parse_pipe_command(std::string_view text, std::vector<std::string>& argv) {
  argv = split_command(text);
  if (argv.empty() || argv.front().front() != '/')
    return "pipe needs the absolute path of a program, such as pipe:/usr/bin/procmail -d ${user}";
  if (argv.front().find("${") != std::string::npos)
    return "the program path of a pipe transport cannot hold a macro";
  for (const auto& arg : argv) {
    for (auto open = arg.find("${"); open != std::string::npos; open = arg.find("${", open + 2)) {
      auto close = arg.find('}', open);
      if (close == std::string::npos) return "'" + arg + "': ${ without a closing }";
      std::string_view name = std::string_view(arg).substr(open + 2, close - open - 2);
      if (std::find(std::begin(pipe_macros), std::end(pipe_macros), name) ==
          std::end(pipe_macros))
        return "unknown macro ${" + std::string(name) +
               "} (known: sender, recipient, original_recipient, user, extension, domain, "
               "mailbox, size, client_address, queue_id)";
    }
  }
  return "";
}

// One [transport] value: "maildir", "discard", "lmtp:unix:/path", "lmtp:[host]:port",
// "smtp" (MX), "smtp:[host]:port", "smtp:domain", "error:550 5.1.1 text". Returns what is
// wrong, or "".
std::string parse_transport(std::string_view text, Transport& out) {
  auto colon = text.find(':');
  std::string_view kind = text.substr(0, colon);
  std::string_view target = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  out.target = std::string(target);
  if (kind == "maildir" || kind == "discard" || kind == "mbox") {
    if (colon != std::string_view::npos) return std::string(kind) + " takes no target";
    out.kind = kind == "maildir"   ? TransportKind::maildir
               : kind == "discard" ? TransportKind::discard
                                   : TransportKind::mbox;
    return "";
  }
  if (kind == "pipe") {
    out.kind = TransportKind::pipe;
    return parse_pipe_command(target, out.argv);
  }
  if (kind == "lmtp") {
    out.kind = TransportKind::lmtp;
    if (target.starts_with("unix:")) {
      out.socket_path = std::string(target.substr(5));
      if (out.socket_path.empty() || out.socket_path.front() != '/')
        return "lmtp:unix: needs an absolute socket path, such as lmtp:unix:/run/dovecot/lmtp";
      if (out.socket_path.size() > max_socket_path)
        return "the socket path is longer than a unix socket address holds (107 octets)";
      return "";
    }
    out.port = lmtp_default_port;
    if (target.empty() || !parse_host_port(target, out.host, out.port))
      return "lmtp needs unix:/path or [host]:port";
    return "";
  }
  if (kind == "smtp") {
    out.kind = TransportKind::smtp;
    // Bare "smtp": the recipient domain's own MX hosts, past relay.smarthost (Postfix
    // "smtp:" with no nexthop). Host and domain stay empty.
    if (colon == std::string_view::npos) return "";
    Smarthost h;
    h.port = smtp_default_port;
    if (target.empty() || !parse_smarthost(target, h))
      return "smtp needs [host]:port, [host] or a domain";
    out.host = h.host;
    out.domain = h.domain;
    out.port = h.port;
    return "";
  }
  if (kind == "error") {
    out.kind = TransportKind::error;
    // "4xx" or "5xx", then optionally an enhanced status code of the same class, then text.
    auto code = plain_number(target.substr(0, 3));
    if (target.size() < 3 || !code || *code < 400 || *code > 599 ||
        (target.size() > 3 && target[3] != ' '))
      return "error needs a 4xx or 5xx reply code, such as error:550 5.1.1 No such domain";
    out.code = static_cast<std::uint16_t>(*code);
    std::string_view rest = target.size() > 4 ? target.substr(4) : "";
    auto space = rest.find(' ');
    std::string_view word = rest.substr(0, space);
    const char cls = target[0];
    if (word.size() >= 5 && word[0] == cls && word[1] == '.' &&
        word.find_first_not_of("0123456789.") == std::string_view::npos) {
      out.dsn = std::string(word);
      rest = space == std::string_view::npos ? "" : rest.substr(space + 1);
    } else {
      out.dsn = std::string(1, cls) + ".0.0";  // RFC 3463 §3: the class alone
    }
    out.text = rest.empty() ? "mail for this domain is not accepted" : std::string(rest);
    return "";
  }
  return "must be \"maildir\", \"mbox\", \"discard\", \"lmtp:unix:/path\", "
         "\"lmtp:[host]:port\", \"smtp:[host]:port\", \"pipe:/path/to/program args\" or "
         "\"error:5xx text\"";
}

// A DNS server as libunbound takes it: an IP address, with "@port" optionally.
bool valid_dns_server(std::string_view text) {
  auto at = text.find('@');
  if (!parse_ip(text.substr(0, at))) return false;
  if (at == std::string_view::npos) return true;
  auto port = plain_number(text.substr(at + 1));
  return port && *port >= 1 && *port <= 65535;
}

// Each server of `list` (the node `n`), or a problem naming the bad one.
void check_dns_servers(const toml::node& n, const std::vector<std::string>& list,
                       const std::string& what, Problems& problems) {
  for (const auto& server : list)
    if (!valid_dns_server(server))
      problems.add(n, what + ": '" + server + "' is not an IP address, optionally with @port "
                      "(\"192.0.2.53\", \"127.0.0.1@5353\", \"2001:db8::53\")");
}

void load_dns(const toml::table& t, Dns& dns, Problems& problems) {
  check_keys(t, "dns", {"forwarders", "stub_zones", "ip_version", "timeout"}, problems);
  dns.forwarders = get_strings(t, "forwarders", "dns", problems);
  if (const toml::node* n = t.get("forwarders"))
    check_dns_servers(*n, dns.forwarders, "dns.forwarders", problems);
  if (const toml::node* n = t.get("stub_zones")) {
    if (auto* zones = n->as_table()) {
      for (auto&& [zone, servers] : *zones) {
        std::vector<std::string> list;
        if (auto* a = servers.as_array())
          for (auto&& e : *a)
            if (auto s = e.value<std::string>()) list.push_back(*s);
        if (list.empty())
          problems.add(servers, "dns.stub_zones." + std::string(zone.str()) +
                                    " must be a list of servers such as [\"127.0.0.1@5353\"]");
        else {
          check_dns_servers(servers, list, "dns.stub_zones." + std::string(zone.str()), problems);
          dns.stub_zones[std::string(zone.str())] = std::move(list);
        }
      }
    } else {
      problems.add(*n, "dns.stub_zones must be a table: zone = [\"server\", ...]");
    }
  }
  if (auto s = get_string(t, "ip_version", "dns", problems)) {
    if (*s == "ipv4") dns.ip_version = IpVersion::ipv4;
    else if (*s == "ipv6") dns.ip_version = IpVersion::ipv6;
    else if (*s == "both") dns.ip_version = IpVersion::both;
    else if (*s == "prefer-ipv6") dns.ip_version = IpVersion::prefer_ipv6;
    else problems.add(*t.get("ip_version"),
                      "dns.ip_version must be \"ipv4\", \"ipv6\", \"both\" or \"prefer-ipv6\"");
  }
  if (auto v = get_seconds(t, "timeout", "dns", problems, "30 or \"30s\""))
    dns.timeout = *v;
}

// "none", "may", "encrypt" or "verify" (Postfix's smtp_tls_security_level names).
std::optional<TlsPolicy> get_tls_policy(const toml::table& t, std::string_view key,
                                        std::string_view where, Problems& problems) {
  auto s = get_string(t, key, where, problems);
  if (!s) return std::nullopt;
  if (*s == "none") return TlsPolicy::none;
  if (*s == "may") return TlsPolicy::may;
  if (*s == "encrypt") return TlsPolicy::encrypt;
  if (*s == "verify") return TlsPolicy::verify;
  problems.add(*t.get(key), std::string(where) + "." + std::string(key) +
                                " must be \"none\", \"may\", \"encrypt\" or \"verify\"");
  return std::nullopt;
}

void load_smtp_client(const toml::table& t, SmtpClient& c, Problems& problems) {
  check_keys(t, "delivery.smtp",
             {"port", "destination_concurrency", "max_deliveries", "connect_timeout",
              "destination_rate", "tls"},
             problems);
  const std::string_view where = "delivery.smtp";
  if (auto p = get_tls_policy(t, "tls", where, problems)) c.tls = *p;
  if (auto v = get_number(t, "destination_rate", where, problems, plain_number,
                          "a number of messages per minute"))
    c.destination_rate = narrow(*v);
  if (auto v = get_number(t, "port", where, problems, plain_number, "a port number")) {
    if (*v == 0 || *v > 65535) problems.add(*t.get("port"), "delivery.smtp.port must be 1 to 65535");
    else c.port = static_cast<std::uint16_t>(*v);
  }
  if (auto v = get_number(t, "destination_concurrency", where, problems, plain_number, "a number"))
    c.destination_concurrency = narrow(*v);
  if (auto v = get_number(t, "max_deliveries", where, problems, plain_number, "a number"))
    c.max_deliveries = narrow(*v);
  if (auto v = get_seconds(t, "connect_timeout", where, problems, "30 or \"30s\""))
    c.connect_timeout = *v;
}

// The first line of a password file, without its line ending; nullopt with `why` set when
// it cannot be read or holds no password.
std::optional<std::string> read_password_file(const std::string& path, std::string& why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = "cannot read " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    why = path + " holds no password on its first line";
    return std::nullopt;
  }
  struct stat st {};
  // A password others can read is a password others have; the group may need it (the
  // file is root:tern 0640 so that a reload, run as server.user, can read it).
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IROTH))
    log::get("master").warn("{} is readable by every user; chmod o-r it", path);
  return line;
}

// [relay] smarthost_tls, smarthost_user, smarthost_password_file, smarthost_password.
void load_smarthost_security(const toml::table& t, Config& c, Problems& problems) {
  const std::string_view where = "relay";
  auto tls = get_tls_policy(t, "smarthost_tls", where, problems);
  auto user = get_string(t, "smarthost_user", where, problems);
  auto file = get_string(t, "smarthost_password_file", where, problems);
  auto inline_password = get_string(t, "smarthost_password", where, problems);
  if (!c.smarthost) {
    // Without a (valid) smarthost these settings would silently do nothing.
    if (!t.get("smarthost"))
      for (auto key : {"smarthost_tls", "smarthost_user", "smarthost_password_file",
                       "smarthost_password"})
        if (const toml::node* n = t.get(key))
          problems.add(*n, "relay." + std::string(key) + " needs relay.smarthost");
    return;
  }
  if (tls) c.smarthost->tls = *tls;
  if (file && inline_password)
    problems.add(*t.get("smarthost_password"),
                 "relay.smarthost_password and relay.smarthost_password_file: choose one");
  std::optional<std::string> password;
  if (file) {
    std::string why;
    password = read_password_file(*file, why);
    if (!password) problems.add(*t.get("smarthost_password_file"),
                                "relay.smarthost_password_file: " + why);
  } else if (inline_password) {
    if (inline_password->empty())
      problems.add(*t.get("smarthost_password"), "relay.smarthost_password is empty");
    else
      password = inline_password;
  }
  if (user) {
    if (user->empty())
      problems.add(*t.get("smarthost_user"), "relay.smarthost_user is empty");
    else if (!file && !inline_password)
      problems.add(*t.get("smarthost_user"),
                   "relay.smarthost_user needs relay.smarthost_password_file (or "
                   "relay.smarthost_password)");
    if (c.smarthost->tls == TlsPolicy::none)
      problems.add(*t.get("smarthost_user"),
                   "relay.smarthost_user needs TLS: the password is never sent in plaintext, "
                   "and relay.smarthost_tls is \"none\"");
    c.smarthost->user = *user;
  } else if (file || inline_password) {
    problems.add(file ? *t.get("smarthost_password_file") : *t.get("smarthost_password"),
                 "a smarthost password needs relay.smarthost_user");
  }
  if (password) c.smarthost->password = std::move(*password);
}

// [delivery.mbox] directory and [delivery.pipe] user.
void load_local_delivery(const toml::table& delivery, LocalDelivery& d, Problems& problems) {
  if (const toml::node* n = delivery.get("mbox")) {
    if (auto* m = n->as_table()) {
      check_keys(*m, "delivery.mbox", {"directory"}, problems);
      if (auto s = get_string(*m, "directory", "delivery.mbox", problems)) {
        if (s->empty() || s->front() != '/')
          problems.add(*m->get("directory"), "delivery.mbox.directory must be an absolute path");
        else
          d.mbox_directory = *s;
      }
    } else {
      problems.add(*n, "delivery.mbox must be a table");
    }
  }
  if (const toml::node* n = delivery.get("pipe")) {
    if (auto* m = n->as_table()) {
      check_keys(*m, "delivery.pipe", {"user"}, problems);
      if (auto s = get_string(*m, "user", "delivery.pipe", problems)) {
        if (s->empty() || *s == "root" || *s == "0")
          problems.add(*m->get("user"), "delivery.pipe.user must name a user other than root");
        else
          d.pipe_user = *s;
      }
    } else {
      problems.add(*n, "delivery.pipe must be a table");
    }
  }
}

// [route]: the paths of the alias and virtual tables (loaded by route::load_tables), the
// address extension delimiters and what include files may do.
void load_route(const toml::table& t, Route& r, Problems& problems) {
  check_keys(t, "route",
             {"aliases", "virtual_alias_maps", "recipient_delimiter", "allow_include_commands",
              "allow_include_files", "default_privs"},
             problems);
  r.alias_files = get_strings(t, "aliases", "route", problems);
  r.virtual_alias_maps = get_strings(t, "virtual_alias_maps", "route", problems);
  for (auto key : {"aliases", "virtual_alias_maps"}) {
    auto& list = std::string_view(key) == "aliases" ? r.alias_files : r.virtual_alias_maps;
    for (auto& p : list)
      if (p.empty()) problems.add(*t.get(key), "route." + std::string(key) + ": empty file name");
  }
  if (auto s = get_string(t, "recipient_delimiter", "route", problems)) {
    bool ok = std::all_of(s->begin(), s->end(), [](unsigned char ch) {
      return ch > 0x20 && ch < 0x7f && ch != '@' && ch != '"' && ch != '\\';
    });
    if (ok) r.recipient_delimiter = *s;
    else problems.add(*t.get("recipient_delimiter"),
                      "route.recipient_delimiter must hold printable ASCII characters other "
                      "than @, \\ and \" (or be \"\" for none)");
  }
  if (auto b = get_bool(t, "allow_include_commands", "route", problems))
    r.allow_include_commands = *b;
  if (auto b = get_bool(t, "allow_include_files", "route", problems)) r.allow_include_files = *b;
  if (auto s = get_string(t, "default_privs", "route", problems)) {
    if (s->empty() || *s == "root" || *s == "0")
      problems.add(*t.get("default_privs"), "route.default_privs must name a user other than root");
    else
      r.default_privs = *s;
  }
}

void load_tables(const toml::table& root, Config& c, Problems& problems) {
  check_keys(root, "",
             {"server", "spool", "listener", "domains", "delivery", "relay", "transport",
              "limits", "smtp", "log", "dns", "queue", "route", "tls", "auth"},
             problems);
  auto table = [&](std::string_view key) -> const toml::table* {
    const toml::node* n = root.get(key);
    if (!n) return nullptr;
    if (auto* t = n->as_table()) return t;
    problems.add(*n, "'" + std::string(key) + "' must be a table ([" + std::string(key) + "])");
    return nullptr;
  };

  if (auto* t = table("server")) {
    check_keys(*t, "server", {"hostname", "io_threads", "user"}, problems);
    if (auto s = get_string(*t, "hostname", "server", problems)) c.hostname = *s;
    if (auto s = get_string(*t, "user", "server", problems)) {
      if (s->empty()) problems.add(*t->get("user"), "server.user must name a user");
      else c.user = *s;
    }
    if (auto v = get_number(*t, "io_threads", "server", problems, plain_number, "a number"))
      c.io_threads = narrow(*v);
  }
  if (auto* t = table("spool")) {
    check_keys(*t, "spool", {"path"}, problems);
    if (auto s = get_string(*t, "path", "spool", problems)) c.spool_path = *s;
  }
  if (const toml::node* n = root.get("listener")) {
    const toml::array* a = n->as_array();
    if (!a) {
      problems.add(*n, "listeners are written as [[listener]] blocks");
    } else {
      for (auto&& e : *a) {
        const toml::table* lt = e.as_table();
        if (!lt) {
          problems.add(e, "listeners are written as [[listener]] blocks");
          continue;
        }
        check_keys(*lt, "listener", {"address", "kind", "certificate", "key", "auth"}, problems);
        auto addr = get_string(*lt, "address", "listener", problems);
        Listener l;
        if (!addr)
          problems.add(*lt, "listener needs an address such as \"127.0.0.1:25\"");
        else if (!parse_listener(*addr, l))
          problems.add(*lt->get("address"), "listener.address '" + *addr +
                                                "' is not IP:port or [IPv6]:port");
        else {
          load_listener_security(*lt, l, problems);
          c.listeners.push_back(l);
        }
      }
    }
  }
  if (auto* t = table("domains")) {
    check_keys(*t, "domains", {"local", "users", "users_maildirs", "catch_all"}, problems);
    if (auto b = get_bool(*t, "users_maildirs", "domains", problems))
      c.route.users_maildirs = *b;
    if (auto s = get_string(*t, "users", "domains", problems)) {
      if (s->empty()) problems.add(*t->get("users"), "domains.users must name a file");
      else c.route.users_file = *s;
    }
    if (const toml::node* n = t->get("catch_all")) {
      if (auto b = n->value<bool>(); b && n->is_boolean()) c.route.catch_all = *b;
      else problems.add(*n, "domains.catch_all must be true or false");
    }
    for (auto& d : get_strings(*t, "local", "domains", problems)) {
      auto ascii = normalize_domain(d);
      if (ascii.empty())
        problems.add(*t->get("local"), "domains.local: '" + d + "' is not a domain name");
      else
        c.local_domains.push_back(ascii);
    }
  }
  if (auto* t = table("delivery")) {
    check_keys(*t, "delivery", {"maildir", "smtp", "mbox", "pipe"}, problems);
    load_local_delivery(*t, c.local_delivery, problems);
    if (const toml::node* n = t->get("smtp")) {
      if (auto* m = n->as_table()) load_smtp_client(*m, c.smtp_client, problems);
      else problems.add(*n, "delivery.smtp must be a table");
    }
    if (const toml::node* n = t->get("maildir")) {
      if (auto* m = n->as_table()) {
        check_keys(*m, "delivery.maildir", {"root"}, problems);
        if (auto s = get_string(*m, "root", "delivery.maildir", problems)) c.maildir_root = *s;
      } else {
        problems.add(*n, "delivery.maildir must be a table");
      }
    }
  }
  if (auto* t = table("relay")) {
    check_keys(*t, "relay",
               {"networks", "smarthost", "smarthost_tls", "smarthost_user",
                "smarthost_password_file", "smarthost_password"},
               problems);
    if (auto s = get_string(*t, "smarthost", "relay", problems)) {
      Smarthost h;
      if (parse_smarthost(*s, h)) c.smarthost = h;
      else problems.add(*t->get("smarthost"), "relay.smarthost '" + *s +
                                                  "' is not \"[host]:port\", \"[host]\" or \"domain\"");
    }
    load_smarthost_security(*t, c, problems);
    for (auto& s : get_strings(*t, "networks", "relay", problems)) {
      if (auto net = Network::parse(s))
        c.relay_networks.push_back(*net);
      else
        problems.add(*t->get("networks"), "relay.networks: '" + s + "' is not an address/prefix");
    }
  }
  if (auto* t = table("transport")) {
    for (auto&& [key, node] : *t) {
      const bool every = key.str() == "*";
      auto domain = every ? std::string("*") : normalize_domain(key.str());
      auto value = node.value<std::string>();
      Transport transport;
      if (domain.empty()) {
        problems.add(node, "transport: '" + std::string(key.str()) + "' is not a domain name");
      } else if (!value) {
        problems.add(node, "transport." + std::string(key.str()) + " must be a string");
      } else if (auto why = parse_transport(*value, transport); !why.empty()) {
        problems.add(node, "transport." + std::string(key.str()) + ": " + why);
      } else if (every) {
        c.default_transport = std::move(transport);
      } else {
        c.transports[domain] = std::move(transport);
      }
    }
  }
  if (auto* t = table("route")) load_route(*t, c.route, problems);
  if (auto* t = table("limits")) load_limits(*t, c.limits, problems);
  if (auto* t = table("tls")) load_tls(*t, c.tls, problems);
  if (auto* t = table("auth")) load_auth(*t, c.auth, problems);
  if (auto* t = table("dns")) load_dns(*t, c.dns, problems);
  if (auto* t = table("queue")) {
    check_keys(*t, "queue", {"first_retry", "max_retry", "lifetime", "delay_warning"}, problems);
    auto duration = [&](std::string_view key, std::chrono::seconds& out) {
      if (auto v = get_seconds(*t, key, "queue", problems, "300 or \"5m\""))
        out = *v;
    };
    duration("first_retry", c.queue.first_retry);
    duration("max_retry", c.queue.max_retry);
    duration("lifetime", c.queue.lifetime);
    duration("delay_warning", c.queue.delay_warning);
  }
  if (auto* t = table("smtp")) {
    check_keys(*t, "smtp", {"bare_line_endings"}, problems);
    if (auto s = get_string(*t, "bare_line_endings", "smtp", problems)) {
      if (*s == "reject") c.bare_line_endings = BareLineEndings::reject;
      else if (*s == "normalize") c.bare_line_endings = BareLineEndings::normalize;
      else problems.add(*t->get("bare_line_endings"),
                        "smtp.bare_line_endings must be \"reject\" or \"normalize\"");
    }
  }
  if (auto* t = table("log")) {
    check_keys(*t, "log", {"level"}, problems);
    if (auto s = get_string(*t, "level", "log", problems)) {
      static const std::set<std::string> levels{"trace", "debug", "info", "warning", "error"};
      if (levels.count(*s)) c.log_level = *s;
      else problems.add(*t->get("level"),
                        "log.level must be trace, debug, info, warning or error");
    }
  }
}

// Ranges a setting must fall in; outside them it would wrap, or stop the server working.
void check_ranges(const toml::table& root, const Config& c, Problems& problems) {
  // The line of "table.key", a dotted table such as "delivery.smtp" included.
  auto where = [&](std::string_view table, std::string_view key) -> std::size_t {
    std::string path = std::string(table) + "." + std::string(key);
    if (const toml::node* n = root.at_path(path).node()) return n->source().begin.line;
    return 1;
  };
  struct Range {
    std::string_view table, key;
    std::uint64_t value, min, max;
    std::string_view why;
  };
  const auto& l = c.limits;
  const Range ranges[] = {
      {"server", "io_threads", c.io_threads, 0, 1024, "0 (one per core) to 1024"},
      {"limits", "message_size", l.message_size, 1024, 1ull << 40, "1024 octets to 1 TiB"},
      {"limits", "recipients", l.recipients, min_recipients, 1'000'000, "100 to 1000000"},
      {"limits", "errors", l.errors, 1, 1'000'000, "1 to 1000000"},
      {"limits", "connections", l.connections, 1, 1'000'000, "1 to 1000000"},
      {"limits", "connections_per_client", l.connections_per_client, 1, 1'000'000,
       "1 to 1000000"},
      {"limits", "command_timeout", static_cast<std::uint64_t>(l.command_timeout.count()), 1,
       86400, "1 second to 1 day"},
      {"limits", "data_timeout", static_cast<std::uint64_t>(l.data_timeout.count()), 1, 86400,
       "1 second to 1 day"},
      {"delivery.smtp", "destination_concurrency", c.smtp_client.destination_concurrency, 1,
       10'000, "1 to 10000"},
      {"delivery.smtp", "max_deliveries", c.smtp_client.max_deliveries, 1, 100'000,
       "1 to 100000"},
      {"delivery.smtp", "destination_rate", c.smtp_client.destination_rate, 0, 1'000'000,
       "0 (no limit) to 1000000 per minute"},
      {"delivery.smtp", "connect_timeout",
       static_cast<std::uint64_t>(c.smtp_client.connect_timeout.count()), 1, 3600,
       "1 second to 1 hour"},
      {"dns", "timeout", static_cast<std::uint64_t>(c.dns.timeout.count()), 1, 600,
       "1 second to 10 minutes"},
      {"queue", "first_retry", static_cast<std::uint64_t>(c.queue.first_retry.count()), 1,
       86400, "1 second to 1 day"},
      {"queue", "max_retry", static_cast<std::uint64_t>(c.queue.max_retry.count()), 1,
       7 * 86400, "1 second to 7 days"},
      // 0 as in Postfix: a message that cannot be delivered at the first try is returned.
      {"queue", "lifetime", static_cast<std::uint64_t>(c.queue.lifetime.count()), 0,
       100 * 86400, "0 to 100 days"},
      {"queue", "delay_warning", static_cast<std::uint64_t>(c.queue.delay_warning.count()), 0,
       100 * 86400, "0 (no warnings) to 100 days"},
  };
  for (auto& r : ranges)
    if (r.value < r.min || r.value > r.max)
      problems.add(where(r.table, r.key), std::string(r.table) + "." + std::string(r.key) +
                                              " must be " + std::string(r.why));
}

// Checks that need the whole file: required settings and cross-references.
void check_whole(const toml::table& root, Config& c, Problems& problems) {
  check_ranges(root, c, problems);
  check_security(c, problems);
  if (c.hostname.empty()) problems.add(1, "server.hostname is required (the name in the greeting)");
  if (c.spool_path.empty()) problems.add(1, "spool.path is required");
  if (c.listeners.empty() && !root.get("listener"))
    problems.add(1, "at least one [[listener]] with an address is required");
  bool needs_maildir = !c.local_domains.empty();
  for (auto& [d, t] : c.transports) needs_maildir |= t.kind == TransportKind::maildir;
  if (c.default_transport) needs_maildir |= c.default_transport->kind == TransportKind::maildir;
  if (c.route.catch_all && !c.route.users_file.empty())
    problems.add(1, "domains.catch_all = true accepts every local part, so domains.users would "
                    "do nothing: remove one of them");
  if (c.route.catch_all && c.route.users_maildirs)
    problems.add(1, "domains.catch_all = true accepts every local part, so "
                    "domains.users_maildirs would do nothing: remove one of them");
  // "A catch-all is explicit": a domain that takes mail into mailboxes must say which local
  // parts exist, or that all do. Accepting every local part by default would make an
  // LMTP domain bounce unknown users after the 250 (backscatter) and a Maildir domain
  // file mail for any typo, as Postfix's local_recipient_maps exists to prevent.
  auto mailbox_kind = [](const Transport& t) {
    return t.kind == TransportKind::maildir || t.kind == TransportKind::mbox ||
           t.kind == TransportKind::lmtp;
  };
  bool has_mailboxes = !c.local_domains.empty() ||
                       (c.default_transport && mailbox_kind(*c.default_transport));
  for (auto& [d, t] : c.transports) has_mailboxes |= mailbox_kind(t);
  if (has_mailboxes && c.route.users_file.empty() && !c.route.users_maildirs && !c.route.catch_all)
    problems.add(1, "which local parts exist in the mailbox domains? set domains.users (a file "
                    "of users), domains.users_maildirs = true, or domains.catch_all = true "
                    "(every local part; unknown users then get mailboxes or bounce, instead of "
                    "550 5.1.1 at RCPT)");
  if (c.route.users_maildirs && c.maildir_root.empty())
    problems.add(1, "domains.users_maildirs needs delivery.maildir.root (where the Maildirs are)");
  if (needs_maildir && c.maildir_root.empty())
    problems.add(1, "delivery.maildir.root is required when domains.local is set");
}

}  // namespace

bool Config::is_local(std::string_view domain_ascii) const {
  return std::find(local_domains.begin(), local_domains.end(), domain_ascii) !=
         local_domains.end();
}

const Transport* Config::transport_for(std::string_view domain_ascii) const {
  static const Transport maildir{};
  if (auto it = transports.find(std::string(domain_ascii)); it != transports.end())
    return &it->second;
  if (is_local(domain_ascii)) return &maildir;
  if (default_transport) return &*default_transport;
  return nullptr;
}

bool Config::may_relay(std::string_view ip) const {
  auto bytes = parse_ip(ip);
  if (!bytes) return false;
  return std::any_of(relay_networks.begin(), relay_networks.end(),
                     [&](const Network& n) { return n.contains(*bytes); });
}

Result<std::shared_ptr<const Config>> load(const std::string& path) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    auto line = e.source().begin.line;
    return fail(path + ":" + std::to_string(line) + ": " + std::string(e.description()));
  }
  auto c = std::make_shared<Config>();
  c->source = path;
  Problems problems(path);
  load_tables(root, *c, problems);
  check_whole(root, *c, problems);
  if (!problems.empty()) return fail(problems.text());
  return std::shared_ptr<const Config>(std::move(c));
}

}  // namespace tern::config
