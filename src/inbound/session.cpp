// One SMTP server session; see session.hpp.
//
// The loop reads into in_, answers every complete command line in it, and writes the
// gathered replies in one write just before it would wait for more input: the replies to a
// pipelined group leave together (RFC 2920 §3.1; DESIGN.md "Runtime model").
#include "inbound/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <array>
#include <optional>
#include <chrono>
#include <algorithm>
#include <vector>

#include "core/log.hpp"
#include "core/queue_id.hpp"
#include "inbound/expansion.hpp"
#include "mail/headers.hpp"
#include "mail/mailbox.hpp"
#include "mail/trace.hpp"
#include "smtp/command.hpp"
#include "smtp/data_decoder.hpp"
#include "smtp/params.hpp"
#include "smtp/reply.hpp"
#include "inbound/session_impl.hpp"
#include "policy/relay.hpp"

namespace tern::inbound {
namespace asio = boost::asio;
using asio::ip::tcp;
using smtp::Reply;
using smtp::Verb;

namespace {

// RCPTs past limits.recipients answered 452 before each counts toward limits.errors
// (Postfix smtpd_recipient_overshoot_limit, 1000). A pipelining client sends its whole list
// before it reads a reply; counted at once, the 452s would end the session before DATA and
// the retried message would never reach even the recipients that were accepted.
constexpr std::uint32_t recipient_overshoot = 1000;

// The address as the client wrote it in "TO:<...> params", for a log line when it did
// not parse: what is between the first '<' and the last '>' before any parameter.
std::string_view path_text(std::string_view arg) {
  auto open = arg.find('<');
  auto close = arg.find('>', open == std::string_view::npos ? 0 : open);
  if (open == std::string_view::npos || close == std::string_view::npos) return arg.substr(0, 100);
  return arg.substr(open + 1, std::min<std::size_t>(close - open - 1, 300));
}

}  // namespace

Session::Session(tcp::socket socket, const config::Listener& listener, SessionSnapshot snapshot,
                 SessionServices& services, std::string client_ip)
    : services_(services),
      gauge_(services.gauge),
      socket_(std::move(socket)),
      deadline_(socket_.get_executor()),
      pause_timer_(socket_.get_executor()),
      listener_(listener),
      config_(std::move(snapshot.config)),
      tables_(std::move(snapshot.tables)),
      security_(std::move(snapshot.security)),
      ingress_(services.ingress),
      client_ip_(std::move(client_ip)),
      client_name_("unknown[" + client_ip_ + "]") {}

Session::~Session() { gauge_.sub(counted_); }

Session::Handler Session::handler_for(Verb v) {
  // The command table (STYLE.md §2); verb properties live in smtp::verb_table().
  switch (v) {
    case Verb::ehlo: return &Session::on_ehlo;
    case Verb::helo: return &Session::on_helo;
    case Verb::mail: return &Session::on_mail;
    case Verb::rcpt: return &Session::on_rcpt;
    case Verb::data: return &Session::on_data;
    case Verb::bdat: return &Session::on_bdat;
    case Verb::rset: return &Session::on_rset;
    case Verb::noop: return &Session::on_noop;
    case Verb::quit: return &Session::on_quit;
    case Verb::vrfy: return &Session::on_vrfy;
    case Verb::help: return &Session::on_help;
    case Verb::starttls: return &Session::on_starttls;
    case Verb::auth: return &Session::on_auth;
    case Verb::expn: return &Session::on_not_implemented;
    case Verb::unknown: return nullptr;
  }
  return nullptr;
}

std::string Session::protocol() const {
  // IANA Mail Transmission Types (RFC 3848, RFC 6531 §3.7.3): "S" for TLS, "A" for AUTH.
  if (!esmtp_) return "SMTP";
  std::string p = in_transaction_ && mail_.smtputf8 ? "UTF8SMTP" : "ESMTP";
  if (tls_) p += "S";
  if (!auth_user_.empty()) p += "A";
  return p;
}

// The parameters MAIL and RCPT may carry: those of the extensions the EHLO reply named.
smtp::Extensions Session::extensions() const {
  smtp::Extensions ext;
  if (!esmtp_) return {false, false, false, false, false};  // HELO: none (RFC 5321 §4.1.1.11)
  ext.auth = auth_offered();
  return ext;
}

// RFC 4954 §4: an AUTH line over its limit is "500 5.5.6 Authentication Exchange line is too
// long"; any other command line over 512 octets gets RFC 5321's 500 5.5.2.
Reply Session::too_long_reply(std::size_t limit) {
  if (limit == max_command_line) return smtp::replies::line_too_long();
  return reply(500, "5.5.6", "Authentication Exchange line is too long (limit " +
                                 std::to_string(auth::max_line_octets) + " octets, RFC 4954)");
}

// Whether the line being received is an AUTH command (its limit is larger).
bool Session::is_auth_line(std::string_view in) {
  return in.size() >= 5 && (in[0] | 0x20) == 'a' && (in[1] | 0x20) == 'u' &&
         (in[2] | 0x20) == 't' && (in[3] | 0x20) == 'h' && in[4] == ' ';
}

bool Session::is_http(std::string_view line) const {
  for (std::string_view m : {"GET ", "POST ", "HEAD ", "PUT ", "CONNECT ", "OPTIONS "})
    if (line.starts_with(m)) return true;
  return false;
}

// RFC 1870 §6: 552 when the message is, or is declared, larger than we take.
Reply Session::size_exceeded() const {
  return reply(552, "5.3.4", "Message size exceeds fixed limit of " +
                                 std::to_string(config_->limits.message_size) + " octets");
}

// Brings gauge_ in line with what content_ holds now.
void Session::count_content() {
  if (content_.size() > counted_) gauge_.add(content_.size() - counted_);
  else gauge_.sub(counted_ - content_.size());
  counted_ = content_.size();
}

void Session::reset_transaction() {
  in_transaction_ = false;
  mail_ = {};
  recipients_.clear();
  recipient_keys_.clear();
  overshoot_ = 0;
  content_.clear();
  count_content();
  bdat_started_ = false;
  bdat_error_.reset();
}

void Session::log_reject(const Reply& r, std::string_view command, std::string_view to) {
  reject_logged_ = true;
  // Postfix shape: "NOQUEUE: reject: RCPT from host[ip]: 554 5.7.1 <a@b>: text; from=<> to=<>
  // proto=ESMTP helo=<h>", which fail2ban and pflogsumm read.
  log::get("smtpd").info("NOQUEUE: reject: {} from {}: {}; from=<{}> to=<{}> proto={} helo=<{}>",
                         command, client_name_, r.log_text(), mail_.sender.text(), to, protocol(),
                         helo_);
}

void Session::send(const Reply& r, std::string_view command) {
  out_ += r.wire();
  if (r.code < 400) return;
  if (!not_an_error_) ++errors_;
  not_an_error_ = false;
  // Every refusal is logged with the client address; RCPT and DATA say more (log_reject).
  if (!reject_logged_)
    log::get("smtpd").info("reject: {} from {}: {}", command.empty() ? "line" : command,
                           client_name_, r.log_text());
  reject_logged_ = false;
}

// --- handlers -----------------------------------------------------------------------------

Reply Session::on_ehlo(std::string_view arg) {
  if (arg.empty()) return reply(501, "5.5.4", "Syntax: EHLO domain-or-address-literal");
  reset_transaction();
  helo_ = std::string(arg.substr(0, arg.find(' ')));
  esmtp_ = true;
  // RFC 2034 §3: no enhanced codes in the EHLO reply.
  std::string text = config_->hostname + "\nPIPELINING\nSIZE " +
                     std::to_string(config_->limits.message_size);
  // RFC 3207 §4.2: not offered again once TLS is on.
  if (tls_available()) text += "\nSTARTTLS";
  if (auth_offered()) {
    text += "\nAUTH";
    text += " ";
    text += auth_mechanism_list();
  }
  text += "\n8BITMIME\nENHANCEDSTATUSCODES\nSMTPUTF8\nCHUNKING\nDSN";
  return reply(250, "", text);
}

Reply Session::on_helo(std::string_view arg) {
  if (arg.empty()) return reply(501, "5.5.4", "Syntax: HELO domain");
  reset_transaction();
  helo_ = std::string(arg.substr(0, arg.find(' ')));
  esmtp_ = false;
  return reply(250, "", config_->hostname);
}

Reply Session::on_mail(std::string_view arg) {
  if (helo_.empty()) return reply(503, "5.5.1", "Error: send HELO/EHLO first");
  if (in_transaction_) return reply(503, "5.5.1", "Error: nested MAIL command");
  if (auto refused = submission_gate()) return *refused;
  auto parsed = smtp::parse_mail(arg, extensions());
  if (!parsed) return parsed.error();
  if (auto refused = check_sender(parsed->sender.text(), "Sender address")) {
    reject_logged_ = true;
    log::get("smtpd").info("NOQUEUE: reject: MAIL from {}: {}; from=<{}> proto={} helo=<{}>",
                           client_name_, refused->log_text(), parsed->sender.text(), protocol(),
                           helo_);
    return *refused;
  }
  if (parsed->size && *parsed->size > config_->limits.message_size)
    return size_exceeded();
  if (!ingress_.has_room() || gauge_.used() > config_->limits.receive_memory)
    return reply(452, "4.3.1", "Insufficient system storage; try again later");
  mail_ = std::move(*parsed);
  in_transaction_ = true;
  return reply(250, "2.1.0", "Ok");
}

Reply Session::on_rcpt(std::string_view arg) {
  if (!in_transaction_) return reply(503, "5.5.1", "Error: need MAIL command");
  auto parsed = smtp::parse_rcpt(arg, extensions(), mail_.smtputf8);
  if (!parsed) {
    log_reject(parsed.error(), "RCPT", path_text(arg));
    return parsed.error();
  }
  auto& rcpt = parsed->recipient;
  // RFC 5321 §4.5.3.1.10: "452 too many recipients" makes the client send the rest later.
  if (recipients_.size() >= config_->limits.recipients) {
    not_an_error_ = ++overshoot_ <= recipient_overshoot;
    return reply(452, "4.5.3", "Error: too many recipients");
  }

  std::string address = rcpt.text();
  std::string domain = rcpt.domain_ascii;
  if (rcpt.domain.empty()) {
    // RFC 5321 §4.1.1.3: "postmaster" without a domain is ours, always accepted.
    if (config_->local_domains.empty())
      return reply(550, "5.1.1", "<postmaster>: no local domain to deliver it to");
    domain = config_->local_domains.front();
    address = "postmaster@" + domain;
  }
  const config::Transport* transport = nullptr;  // set when the domain is ours
  auto verdict = policy::judge_recipient(*config_, domain, rcpt.is_literal(), client_ip_,
                                         !auth_user_.empty(), &transport);
  if (transport) {
    if ((transport->kind == config::TransportKind::maildir ||
         transport->kind == config::TransportKind::mbox) &&
        !mail::safe_mailbox_name(rcpt.local)) {
      Reply r = reply(550, "5.1.3", "<" + address + ">: mailbox name not allowed");
      log_reject(r, "RCPT", address);
      return r;
    }
  } else if (verdict == policy::RelayVerdict::refused) {
    Reply r = reply(554, "5.7.1", "<" + address + ">: Relay access denied");
    log_reject(r, "RCPT", address);
    return r;
  }
  spool::Recipient r;
  r.address = address;
  r.domain = domain;
  r.notify = parsed->notify;
  if (!parsed->orcpt.empty()) r.orcpt = parsed->orcpt_type + ";" + parsed->orcpt;
  // Every recipient is expanded now, once the relay check has passed for the address the
  // client gave: virtual aliases apply to all (Postfix virtual_alias_maps), and for the
  // mailbox domains aliases, address extensions and the users list, so an unknown user is
  // refused here, not bounced later, and the envelope stored holds the final recipients.
  if (tables_) {
    std::vector<spool::Recipient> finals;
    if (auto refused = expand(rcpt, address, domain, r, finals)) {
      log_reject(*refused, "RCPT", address);
      return *refused;
    }
    for (auto& f : finals) add_recipient(std::move(f));
    return reply(250, "2.1.5", "Ok");
  }
  add_recipient(std::move(r));
  return reply(250, "2.1.5", "Ok");
}

void Session::add_recipient(spool::Recipient r) {
  // Two RCPTs expanding to one mailbox make one delivery (as Postfix's cleanup does). A set,
  // not a scan: a list alias adds up to route::max_destinations recipients at once.
  std::string key;
  key.reserve(r.address.size() + r.target.size() + 2);
  key += static_cast<char>(r.kind);
  key += r.address;
  key += '\0';
  key += r.target;
  if (!recipient_keys_.insert(std::move(key)).second) return;
  recipients_.push_back(std::move(r));
}

// Expands `rcpt` (ours or relayed; route/expander.hpp) into `out`; a reply when it is refused.
std::optional<Reply> Session::expand(const mail::Address& rcpt, const std::string& address,
                                     const std::string& domain,
                                     const spool::Recipient& original,
                                     std::vector<spool::Recipient>& out) {
  mail::Address a = rcpt;
  if (a.domain.empty()) {  // <postmaster>
    a.local = "postmaster";
    a.domain = a.domain_ascii = domain;
  }
  auto expanded = tables_->expander().expand(a);
  if (!expanded) {
    const auto& e = expanded.error();
    if (e.kind == route::ExpandError::Kind::unknown)
      return reply(550, "5.1.1", "<" + address + ">: Recipient address rejected: User unknown "
                                 "in local recipient table");
    std::string enhanced = e.enhanced.empty() ? "5.4.6" : e.enhanced;
    int code = enhanced[0] == '4' ? 451 : 550;
    return reply(code, enhanced, "<" + address + ">: Recipient address rejected: " + e.text);
  }
  out = stored_recipients(*expanded, a, original, config_->route.recipient_delimiter,
                          mail_.sender.null());
  // An error: alone, it is the reply to RCPT; in a list, that member bounces (as in Postfix).
  const route::Destination* first_error = nullptr;
  for (auto& d : *expanded)
    if (d.kind == route::Destination::Kind::error && !first_error) first_error = &d;
  bool all_errors = std::all_of(out.begin(), out.end(), [](const spool::Recipient& r) {
    return r.kind == spool::RecipientKind::error;
  });
  if (first_error && all_errors) {
    out.clear();
    return reply(first_error->code, first_error->enhanced,
                 "<" + address + ">: Recipient address rejected: " + first_error->text);
  }
  if (out.empty())
    return reply(451, "4.3.0", "<" + address + ">: Recipient address rejected: empty expansion");
  return std::nullopt;
}

Reply Session::on_data(std::string_view arg) {
  if (!arg.empty()) return reply(501, "5.5.4", "Syntax: DATA (no parameters)");
  if (!in_transaction_) return reply(503, "5.5.1", "Error: need MAIL command");
  if (bdat_started_) return reply(503, "5.5.1", "Error: DATA not allowed after BDAT");
  if (recipients_.empty()) return reply(554, "5.5.1", "Error: no valid recipients");
  mode_ = Mode::data;
  return reply(354, "", "End data with <CR><LF>.<CR><LF>");
}

Reply Session::on_bdat(std::string_view arg) {
  auto parsed = smtp::parse_bdat(arg);
  if (!parsed) {
    // Without a valid size the chunk cannot be skipped: its octets would be read as
    // commands. The session ends instead (RFC 3030 §2: the chunk length is mandatory).
    mode_ = Mode::quit;
    return parsed.error();
  }
  bdat_size_ = parsed->size;
  bdat_last_ = parsed->last;
  bdat_discard_ = true;
  mode_ = Mode::bdat;
  // RFC 3030 §2: the chunk is read even when the command fails, to stay in sync.
  if (!esmtp_) return reply(503, "5.5.1", "Error: BDAT needs EHLO (CHUNKING is an extension)");
  if (!in_transaction_) return reply(503, "5.5.1", "Error: need MAIL command");
  // RFC 3030 §3: DATA and BDAT do not mix in one transaction, even after a refused chunk.
  bdat_started_ = true;
  if (recipients_.empty()) return reply(554, "5.5.1", "Error: no valid recipients");
  if (bdat_error_) return *bdat_error_;
  if (content_.size() + bdat_size_ > config_->limits.message_size) {
    bdat_error_ = size_exceeded();
    return *bdat_error_;
  }
  bdat_discard_ = false;
  return {};  // the reply comes after the chunk
}

Reply Session::on_rset(std::string_view arg) {
  reset_transaction();
  return reply(250, "2.0.0", "Ok");
}

Reply Session::on_noop(std::string_view) { return reply(250, "2.0.0", "Ok"); }

Reply Session::on_quit(std::string_view) {
  mode_ = Mode::quit;
  return reply(221, "2.0.0", "Bye");
}

Reply Session::on_vrfy(std::string_view arg) {
  if (arg.empty()) return reply(501, "5.5.4", "Syntax: VRFY address");
  // RFC 5321 §3.5.3: 252 when we will not verify but would accept the mail.
  return reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
}

Reply Session::on_help(std::string_view) {
  return reply(214, "2.0.0",
               "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP\n"
               "See RFC 5321 or https://www.rfc-editor.org/rfc/rfc5321");
}

Reply Session::on_not_implemented(std::string_view) {
  return reply(502, "5.5.1", "Error: command not implemented");
}

// --- I/O ----------------------------------------------------------------------------------

// Reads more input into in_; false on EOF, error or timeout.
asio::awaitable<bool> Session::fill(std::chrono::seconds timeout) {
  if (!co_await flush()) co_return false;
  if (stop_requested_ && mode_ == Mode::command) co_return false;
  idle_ = mode_ == Mode::command;
  deadline_.expires_after(timeout);
  boost::system::error_code ec;
  std::size_t n = 0;
  // Plain if/else, never co_await inside ?: (g++ 12 miscompiles that).
  if (tls_) {
    auto [e, k] = co_await tls_->async_read_some(asio::buffer(read_buf_), use_tuple);
    ec = e;
    n = k;
  } else {
    auto [e, k] = co_await socket_.async_read_some(asio::buffer(read_buf_), use_tuple);
    ec = e;
    n = k;
  }
  idle_ = false;
  in_.append(read_buf_.data(), n);
  co_return !ec;
}

// Writes the replies gathered so far in one write.
asio::awaitable<bool> Session::flush() {
  if (out_.empty()) co_return true;
  deadline_.expires_after(config_->limits.command_timeout);
  boost::system::error_code ec;
  if (tls_) {
    auto [e, n] = co_await asio::async_write(*tls_, asio::buffer(out_), use_tuple);
    ec = e;
  } else {
    auto [e, n] = co_await asio::async_write(socket_, asio::buffer(out_), use_tuple);
    ec = e;
  }
  out_.clear();
  co_return !ec;
}

void Session::request_stop() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->stop_requested_ = true;
    boost::system::error_code ignored;
    if (self->idle_ || self->handshaking_) self->socket_.cancel(ignored);
    self->pause_timer_.cancel();  // a failed AUTH's delay ends now
  });
}

// Cancels the pending read or write when the deadline passes without being pushed
// forward; the loop then answers 421 and ends. Ends itself when the socket is closed.
asio::awaitable<void> Session::watchdog() {
  while (socket_.is_open()) {
    co_await deadline_.async_wait(use_tuple);
    if (!socket_.is_open()) break;
    if (deadline_.expiry() <= asio::steady_timer::clock_type::now()) {
      timed_out_ = true;
      boost::system::error_code ignored;
      socket_.cancel(ignored);
      deadline_.expires_at(asio::steady_timer::time_point::max());
    }
  }
}

asio::awaitable<void> Session::receive_data() {
  smtp::DataDecoder decoder(config_->limits.message_size,
                            config_->bare_line_endings == config::BareLineEndings::normalize
                                ? smtp::BareLineEndings::normalize
                                : smtp::BareLineEndings::reject);
  for (;;) {
    std::size_t used = decoder.feed(in_, content_);
    in_.erase(0, used);
    count_content();
    if (decoder.done()) break;
    if (!co_await fill(config_->limits.data_timeout)) {
      mode_ = Mode::quit;
      co_return;
    }
  }
  mode_ = Mode::command;
  Reply r;
  if (decoder.problem() == smtp::DataDecoder::Problem::none)
    r = co_await commit();
  else if (decoder.problem() == smtp::DataDecoder::Problem::too_big)
    r = size_exceeded();
  else
    r = smtp::problem_reply(decoder.problem());  // RFC 5321 §2.3.8: smuggling closed
  if (!r.positive()) log_reject(r, "DATA", recipients_.empty() ? "" : recipients_[0].address);
  send(r, "DATA");
  reset_transaction();
}

asio::awaitable<void> Session::receive_chunk() {
  std::uint64_t left = bdat_size_;
  while (left > 0) {
    if (in_.empty()) {
      bool more = co_await fill(config_->limits.data_timeout);  // never co_await inside &&
      if (!more) {
        mode_ = Mode::quit;
        co_return;
      }
    }
    std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(left, in_.size()));
    if (!bdat_discard_) {
      content_.append(in_, 0, take);
      count_content();
    }
    in_.erase(0, take);
    left -= take;
  }
  mode_ = Mode::command;
  if (bdat_discard_) {
    if (bdat_last_) reset_transaction();
    co_return;  // the error reply was sent with the command
  }
  if (!bdat_last_) {
    send(reply(250, "2.0.0", std::to_string(bdat_size_) + " octets received"), "BDAT");
    co_return;
  }
  // The DATA rules for the text, whichever way it came (smtp::check_chunked).
  auto problem = smtp::check_chunked(content_, config_->bare_line_endings ==
                                                       config::BareLineEndings::normalize
                                                   ? smtp::BareLineEndings::normalize
                                                   : smtp::BareLineEndings::reject);
  count_content();
  Reply r;
  if (problem == smtp::DataDecoder::Problem::none) {
    r = co_await commit();
  } else {
    r = smtp::problem_reply(problem);
    log_reject(r, "BDAT", recipients_.empty() ? "" : recipients_[0].address);
  }
  send(r, "BDAT");
  reset_transaction();
}

// Adds our Received header, hands the message to the spool and waits for it to be durable.
asio::awaitable<Reply> Session::commit() {
  if (auto refused = check_from_header(content_)) co_return *refused;
  spool::Envelope env;
  env.id = make_queue_id();
  env.sender = mail_.sender.text();
  env.arrival = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  env.client_address = client_ip_;
  env.helo = helo_;
  env.body_type = mail_.body == smtp::Body::eight_bit_mime ? "8BITMIME"
                  : mail_.body == smtp::Body::seven_bit    ? "7BIT"
                                                           : "";
  env.smtputf8 = mail_.smtputf8;
  env.ret = mail_.ret == smtp::Ret::full ? "FULL" : mail_.ret == smtp::Ret::hdrs ? "HDRS" : "";
  env.envid = mail_.envid;
  env.recipients = recipients_;

  mail::ReceivedInfo info;
  info.helo = helo_;
  info.client_address = client_ip_;
  info.by = config_->hostname;
  info.protocol = protocol();
  std::string tls_text = tls_ ? tls_info_.text() : "";
  info.tls = tls_text;
  info.id = env.id;
  if (recipients_.size() == 1) info.for_recipient = recipients_[0].address;
  info.when = static_cast<std::time_t>(env.arrival);
  std::string message = mail::received_header(info);
  message.reserve(message.size() + content_.size());
  message += content_;
  content_.clear();
  count_content();
  env.size = message.size();
  std::string id = env.id;
  // Postfix's order: the client, then the message-id, then (from the queue) from=<>.
  if (auth_user_.empty())
    log::get("smtpd").info("{}: client={}", id, client_name_);
  else
    log::get("smtpd").info("{}: client={}, sasl_method={}, sasl_username={}", id, client_name_,
                           auth_method_, log::printable(auth_user_));
  if (auto mid = mail::find_header(message, "Message-ID"))
    log::get("cleanup").info("{}: message-id={}", id, mid->substr(0, 200));

  // The spool calls back on its committer thread; the reply continues on this session's.
  auto executor = socket_.get_executor();
  auto status = co_await asio::async_initiate<decltype(asio::use_awaitable), void(Status)>(
      [&](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        ingress_.accept(std::move(env), std::move(message), [h, executor](Status s) {
          asio::post(executor, [h, s]() mutable { (*h)(s); });
        });
      },
      asio::use_awaitable);
  if (!status) {
    log::get("smtpd").error("{}: cannot queue message from {}: {}", id, client_name_,
                            status.error().message);
    co_return reply(451, "4.3.0", "Error: queue file write error; try again later");
  }
  co_return reply(250, "2.0.0", "Ok: queued as " + id);
}

asio::awaitable<void> Session::run() {
  log::get("smtpd").info("connect from {}", client_name_);
  boost::system::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);

  // RFC 8314 §3.3: on an implicit-TLS port the handshake comes before the greeting.
  if (listener_.implicit_tls()) {
    bool secured = co_await handshake();
    if (!secured) {
      log::get("smtpd").info("disconnect from {} commands=0", client_name_);
      deadline_.cancel();
      co_return;
    }
  }
  out_ = Reply{220, "", config_->hostname + " ESMTP Tern"}.wire();
  std::string last_command = "CONNECT";
  while (mode_ != Mode::quit) {
    if (errors_ >= config_->limits.errors) {
      out_ += smtp::replies::too_many_errors().wire();
      log::get("smtpd").warn("too many errors after {} from {}", last_command, client_name_);
      break;
    }
    std::size_t eol = in_.find('\n');
    // RFC 4954 §4: an AUTH command line may be 12288 octets (its initial response).
    const std::size_t line_limit = is_auth_line(in_) ? auth::max_line_octets + 2 : max_command_line;
    if (eol == std::string::npos) {
      if (in_.size() > line_limit) {
        // Skip the rest of the overlong line (up to the next LF) and say why.
        send(too_long_reply(line_limit), "");
        in_.clear();
        bool ok = true;
        while (ok && in_.find('\n') == std::string::npos) {
          in_.clear();
          ok = co_await fill(config_->limits.command_timeout);
        }
        if (!ok) break;
        in_.erase(0, in_.find('\n') + 1);
        continue;
      }
      if (!co_await fill(config_->limits.command_timeout)) break;
      continue;
    }
    std::string line = in_.substr(0, eol);
    in_.erase(0, eol + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() + 2 > line_limit) {
      send(too_long_reply(line_limit), "");
      continue;
    }
    if (commands_ == 0 && is_http(line)) {
      log::get("smtpd").warn("non-SMTP command from {}: {}", client_name_, line.substr(0, 80));
      out_ += reply(421, "4.7.0", config_->hostname + " Error: this is an SMTP server").wire();
      break;
    }
    auto cmd = smtp::parse_command(line);
    ++commands_;
    Handler h = handler_for(cmd.verb);
    Reply r = h ? (this->*h)(cmd.arg) : smtp::replies::syntax_error();
    std::string_view name = cmd.verb == Verb::unknown ? "unknown" : smtp::verb_info(cmd.verb).name;
    last_command = std::string(name);
    auto counted = std::find_if(counts_.begin(), counts_.end(),
                                [&](auto& c) { return c.first == last_command; });
    if (counted == counts_.end()) counts_.emplace_back(last_command, 1);
    else ++counted->second;
    if (r.code != 0) send(r, name);
    if (mode_ == Mode::data) {
      if (!co_await flush()) break;
      co_await receive_data();
    } else if (mode_ == Mode::bdat) {
      co_await receive_chunk();
    } else if (mode_ == Mode::starttls) {
      bool secured = co_await start_tls();
      if (!secured) break;
    } else if (mode_ == Mode::auth) {
      co_await authenticate();
    }
  }
  if (stop_requested_) {
    // RFC 5321 §3.8: a server shutting down answers 421 and closes.
    out_ += reply(421, "4.3.2", config_->hostname + " Service shutting down; try again later").wire();
  } else if (timed_out_) {
    // RFC 5321 §4.5.3.2: the server may close after its timeout, saying so with 421.
    out_ += smtp::replies::timeout().wire();
    timed_out_ = false;
    log::get("smtpd").info("timeout after {} from {}", last_command, client_name_);
  }
  co_await flush();
  std::string tally;
  for (auto& [verb, n] : counts_) tally += " " + verb + "=" + std::to_string(n);
  for (auto& c : tally) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  log::get("smtpd").info("disconnect from {}{} commands={}", client_name_, tally, commands_);
  deadline_.cancel();
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

void SessionRegistry::add(const std::shared_ptr<Member>& m) {
  bool stop;
  {
    std::lock_guard lock(mutex_);
    members_.push_back(m);
    stop = stopping_;
  }
  if (stop) m->request_stop();
}

void SessionRegistry::remove(const Member* m) {
  std::lock_guard lock(mutex_);
  std::erase_if(members_, [m](const std::weak_ptr<Member>& w) {
    auto s = w.lock();
    return !s || s.get() == m;
  });
}

void SessionRegistry::stop_all() {
  std::vector<std::shared_ptr<Member>> alive;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto& w : members_)
      if (auto s = w.lock()) alive.push_back(std::move(s));
  }
  for (auto& s : alive) s->request_stop();
}

asio::awaitable<void> run_session(tcp::socket socket, const config::Listener& listener,
                                  SessionSnapshot snapshot, SessionServices& services,
                                  std::string client_ip) {
  auto& registry = services.registry;
  auto s = std::make_shared<Session>(std::move(socket), listener, std::move(snapshot), services,
                                     std::move(client_ip));
  // The watchdog holds the session alive until it has seen the socket close.
  asio::co_spawn(s->socket_executor(), [s]() { return s->watchdog(); }, asio::detached);
  registry.add(s);
  co_await s->run();
  registry.remove(s.get());
}

}  // namespace tern::inbound
