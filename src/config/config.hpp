// The configuration: one immutable snapshot loaded from TOML (DESIGN.md "Configuration").
// Every setting has a default and a reason, documented in docs/configuration.md; unknown
// keys are errors. Input (the file) is trusted to the extent that an operator wrote it,
// but every value is validated and each problem is reported as "file:line: problem".
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/network.hpp"
#include "core/result.hpp"

namespace tern::config {

// RFC 5321 §4.5.3.1.8: a server must accept at least 100 recipients per message.
inline constexpr std::uint32_t min_recipients = 100;

// What a listener is for (Postfix master.cf "smtp", "submission", "smtps"):
//   smtp         MTAs deliver to us (port 25): STARTTLS offered when a certificate is set;
//                AUTH only when the listener says so.
//   submission   users and programs send (port 587, RFC 6409): STARTTLS, then AUTH, both
//                required before MAIL.
//   submissions  the same over implicit TLS (port 465, RFC 8314 §3.3).
enum class ListenerKind : std::uint8_t { smtp, submission, submissions };

struct Listener {
  std::string address;  // as written: "127.0.0.1:2525", "[::1]:2525"
  std::string host;     // "127.0.0.1", "::1"
  std::uint16_t port = 0;
  ListenerKind kind = ListenerKind::smtp;
  // This listener's own certificate (chain file, key file), before the [tls] ones; empty:
  // those of [tls] only.
  std::string certificate;
  std::string key;
  std::size_t line = 0;  // where it is declared, for messages
  // AUTH offered here (when [auth] has a backend). Default: on for submission(s), off for smtp.
  bool auth = false;
  // MAIL needs an authenticated session (submission and submissions).
  bool requires_auth() const { return kind != ListenerKind::smtp; }
  bool implicit_tls() const { return kind == ListenerKind::submissions; }
};

// A certificate chain (PEM, leaf first) and its private key, as files.
struct CertificateFiles {
  std::string chain;
  std::string key;
  std::size_t line = 0;  // where it is declared, for messages
};

// The TLS server side ([tls]).
struct Tls {
  // The first is the default; the others are chosen by the name a client asks for (SNI,
  // RFC 6066 §3), matched against each certificate's subjectAltName DNS names.
  std::vector<CertificateFiles> certificates;
  // Oldest protocol spoken: "TLSv1.2" (RFC 8996 retired 1.0 and 1.1) or "TLSv1.3".
  std::string min_version = "TLSv1.2";
  // OpenSSL cipher list for TLS 1.2 and suites for TLS 1.3; empty: tls/'s modern defaults.
  std::string ciphers;
  std::string ciphersuites;
};

// SMTP AUTH on the server side ([auth], RFC 4954).
enum class AuthBackendKind : std::uint8_t { none, file, dovecot };
struct Auth {
  AuthBackendKind backend = AuthBackendKind::none;
  std::string password_file;   // backend "file": user:crypt-hash lines
  std::string dovecot_socket;  // backend "dovecot": Dovecot's auth client socket
  // AUTH without TLS: off, as Postfix's smtpd_tls_auth_only should be (RFC 4954 §4: PLAIN
  // and LOGIN send the password in the clear).
  bool allow_plaintext = false;
  // Which envelope senders and From: addresses each login may use (Postfix
  // smtpd_sender_login_maps: "address-or-@domain  login, login"); empty: its own addresses.
  std::string sender_login_map;
  bool check_sender = true;  // refuse senders the login does not own (553 5.7.1)
  // Failed AUTH per client address: each failure waits failure_delay × failures before
  // its 535; after max_failures within failure_window the client gets 421 and is dropped.
  std::chrono::seconds failure_delay{1};
  std::uint32_t max_failures = 10;
  std::chrono::seconds failure_window{600};
  bool enabled() const { return backend != AuthBackendKind::none; }
};

struct Limits {
  // Message size: 50 MiB, Postfix's message_size_limit is 10 MB; attachments grew.
  std::uint64_t message_size = 50ull * 1024 * 1024;
  // RFC 5321 §4.5.3.1.8 asks for >= 100; 1000 matches Postfix's smtpd_recipient_limit.
  std::uint32_t recipients = 1000;
  // Errors before we hang up (Postfix smtpd_hard_error_limit is 20).
  std::uint32_t errors = 20;
  // Simultaneous sessions in total and per client address (Postfix: 100 smtpd processes,
  // smtpd_client_connection_count_limit 50). An event loop affords more.
  std::uint32_t connections = 1000;
  std::uint32_t connections_per_client = 50;
  // Message text held in memory by sessions receiving mail (a message is kept whole until
  // its group commit). Past it, MAIL gets 452 4.3.1 until it drains: 1000 clients sending
  // 50 MiB each must not exhaust memory.
  std::uint64_t receive_memory = 1024ull * 1024 * 1024;
  // RFC 5321 §4.5.3.2.7: the server waits at least 5 minutes for the next command.
  std::chrono::seconds command_timeout{300};
  // While the message text arrives: RFC 5321 §4.5.3.2.7 again (the client's 3-minute
  // data-block timeout is for the other side); Postfix's smtpd_timeout is 300 s as well.
  std::chrono::seconds data_timeout{300};
};

enum class BareLineEndings : std::uint8_t { reject, normalize };

// How mail for a domain leaves Tern ([transport], Postfix transport_maps):
//   maildir            the Maildir under delivery.maildir.root;
//   discard            nowhere (reported as sent);
//   lmtp               a final delivery agent over LMTP (RFC 2033), such as Dovecot, on a
//                      unix socket ("lmtp:unix:/path") or TCP ("lmtp:[host]:port");
//   smtp               a fixed next hop ("smtp:[host]:port", "smtp:domain" for its MX hosts),
//                      or bare "smtp": the recipient domain's MX hosts, past any smarthost;
//   error              nowhere: each recipient fails with the given reply ("error:550 5.1.1 text");
//   mbox               the mbox file <delivery.mbox.directory>/<user>, as /var/mail/alice;
//   pipe               a command run once per recipient ("pipe:/usr/bin/prog -a ${recipient}"):
//                      argv split on white space here, ${macros} expanded per recipient at
//                      delivery, no shell; as delivery.pipe.user when Tern runs as root.
// All but smtp make the domain one Tern accepts mail for from anyone; smtp only routes mail
// a client may relay anyway. The key "*" is the transport of every domain not listed
// (Postfix default_transport).
enum class TransportKind : std::uint8_t { maildir, discard, lmtp, smtp, error, mbox, pipe };

// The macros a pipe transport's arguments may hold, as Postfix pipe(8) names them.
inline constexpr std::string_view pipe_macros[] = {
    "sender", "recipient", "original_recipient", "user", "extension", "domain",
    "mailbox", "size",     "client_address",     "queue_id"};

struct Transport {
  TransportKind kind = TransportKind::maildir;
  std::string target;       // as written after "kind:", for messages
  std::string socket_path;  // lmtp over a unix socket: an absolute path
  // lmtp over TCP: host (name or IP) and port. smtp: host as relay.smarthost's "[host]";
  // or domain (MX lookup) when written without brackets.
  std::string host;
  std::string domain;
  std::uint16_t port = 0;
  // error: the reply code (4xx defers, 5xx bounces), its enhanced status code and text.
  std::uint16_t code = 0;
  std::string dsn;
  std::string text;
  // pipe: the command's argv, argv[0] an absolute path; "${name}" macros still in place.
  std::vector<std::string> argv;

  // Mail for the domain ends here: recipients are accepted from any client.
  bool accepts_mail() const { return kind != TransportKind::smtp; }
};

// STARTTLS on outbound connections (Postfix smtp_tls_security_level): "none" never, "may"
// when offered (any certificate), "encrypt" required (any certificate), "verify" required
// with a certificate that chains to the system CA store and names the host.
enum class TlsPolicy : std::uint8_t { none, may, encrypt, verify };

// A relay for all non-local mail (Postfix relayhost): "[host]:port" names the host itself
// (no MX lookup); "domain" or "domain:port" looks up the domain's MX hosts.
struct Smarthost {
  std::string host;    // with brackets: the host to connect to
  std::string domain;  // without: the domain whose MX hosts are used
  std::uint16_t port = 25;
  TlsPolicy tls = TlsPolicy::may;  // relay.smarthost_tls
  // AUTH (RFC 4954) to the smarthost, only ever inside TLS; empty user: no AUTH. The
  // password comes from relay.smarthost_password_file (or, less safe, relay.smarthost_password).
  std::string user;
  std::string password;
};

enum class IpVersion : std::uint8_t { ipv4, ipv6, both, prefer_ipv6 };

// How DNS questions are answered (dns/): the system resolver unless forwarders or stub zones
// are given.
struct Dns {
  std::vector<std::string> forwarders;  // "192.0.2.53", "127.0.0.1@5353"
  std::map<std::string, std::vector<std::string>> stub_zones;  // zone → servers
  IpVersion ip_version = IpVersion::both;
  // How long one question waits for its answer before the delivery attempt is deferred
  // (dns::default_query_timeout); tests shorten it to see a silent server's answer.
  std::chrono::seconds timeout{30};
};

// The SMTP client (outbound/).
struct SmtpClient {
  std::uint16_t port = 25;  // the port of MX hosts (Postfix smtp_tcp_port); tests change it
  // Connections at once to one destination (Postfix default_destination_concurrency_limit).
  std::uint32_t destination_concurrency = 20;
  // Deliveries at once in total, all destinations together.
  std::uint32_t max_deliveries = 256;
  std::chrono::seconds connect_timeout{30};  // Postfix smtp_connect_timeout
  // Deliveries started per minute to one destination; 0: no limit.
  std::uint32_t destination_rate = 0;
  // Opportunistic STARTTLS to MX hosts, as Postfix's smtp_tls_security_level = may: MX
  // names come from unauthenticated DNS, so demanding more only loses mail (RFC 7435).
  TlsPolicy tls = TlsPolicy::may;
};

// Local delivery agents besides Maildir ([delivery.mbox], [delivery.pipe]).
struct LocalDelivery {
  // Where mbox transport mailboxes live: <directory>/<user>, Debian's mail spool.
  std::string mbox_directory = "/var/mail";
  // The user pipe transports run as when ternd runs as root (Postfix pipe(8) requires a
  // user= and refuses root); an unprivileged ternd runs them as itself.
  std::string pipe_user = "nobody";
};

// Retries and queue lifetime (queue/).
struct QueueTimes {
  // First retry after about a minute, doubling up to about an hour, ±20% jitter.
  std::chrono::seconds first_retry{60};
  std::chrono::seconds max_retry{3600};
  // Postfix maximal_queue_lifetime: 5 days, then the message bounces.
  std::chrono::seconds lifetime{5 * 86400};
  // A delay notification after 4 hours (Postfix delay_warning_time, off there by default;
  // RFC 3461 §4.1 lets the MTA send it when NOTIFY is absent, and senders want to know).
  // 0 turns delay notifications off.
  std::chrono::seconds delay_warning{4 * 3600};
};

// Recipient expansion ([route] and domains.users; docs/configuration.md). Config keeps the
// paths only: the tables themselves are loaded by route::load_tables (route/tables.hpp), next
// to the configuration, into a snapshot of their own.
struct Route {
  std::vector<std::string> alias_files;         // Postfix alias_maps; default: none
  std::vector<std::string> virtual_alias_maps;  // Postfix virtual_alias_maps; default: none
  std::string recipient_delimiter = "+";        // Postfix recipient_delimiter; "" turns it off
  bool allow_include_commands = false;          // Postfix allow_mail_to_commands has no "include"
  bool allow_include_files = false;             // Postfix allow_mail_to_files has no "include"
  // Whom alias files and commands run as when root owns the alias file (Postfix
  // default_privs); the file's owner otherwise. Switching users needs a root ternd.
  std::string default_privs = "nobody";
  // The users of the mailbox domains (Postfix local_recipient_maps): a file, one local part
  // or address per line. Empty: every local part is accepted (catch_all in effect).
  std::string users_file;
  // domains.users_maildirs: a local part is also a user when its Maildir
  // <delivery.maildir.root>/<domain>/<user>/ exists (Maildirs made by an admin tool).
  bool users_maildirs = false;
  bool catch_all = false;  // domains.catch_all: accept every local part even with users
};

struct Config {
  std::string source;          // the file it came from, for messages
  std::string hostname;        // server.hostname: greeting, Received, bounces
  std::uint32_t io_threads = 0;  // 0 = one per core
  // Started as root, ternd binds its ports and then runs as this user (secure by default);
  // "root" keeps root, which only tests and containers should want.
  std::string user = "tern";
  std::string spool_path;
  std::vector<Listener> listeners;
  Tls tls;
  Auth auth;
  std::vector<std::string> local_domains;    // lower-case A-labels
  std::string maildir_root;
  std::vector<Network> relay_networks;
  std::optional<Smarthost> smarthost;
  Dns dns;
  SmtpClient smtp_client;
  QueueTimes queue;
  std::map<std::string, Transport> transports;  // domain → transport (lower-case A-label)
  // [transport] "*": every domain neither listed there nor in domains.local (Postfix
  // default_transport); none: such domains are routed by MX or the smarthost.
  std::optional<Transport> default_transport;
  LocalDelivery local_delivery;
  Route route;
  Limits limits;
  BareLineEndings bare_line_endings = BareLineEndings::reject;
  std::string log_level = "info";

  bool is_local(std::string_view domain_ascii) const;
  // The transport of a domain in [transport], domains.local (maildir) or [transport] "*",
  // or nullptr when the domain is routed by MX (or the smarthost). See
  // Transport::accepts_mail.
  const Transport* transport_for(std::string_view domain_ascii) const;
  // True when a client at `ip` (text form) may send to remote domains.
  bool may_relay(std::string_view ip) const;
};

// Loads and validates `path`. On failure, the error lists every problem, one
// "file:line: problem" per line.
Result<std::shared_ptr<const Config>> load(const std::string& path);

}  // namespace tern::config
