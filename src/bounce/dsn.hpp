// Delivery status notifications: the text of the report Tern sends back to a message's
// envelope sender when delivery failed, is delayed, or (on request) succeeded, and the
// rules for when one is due. Pure: no I/O, no clock; the caller passes the time, the host
// name and a source of unique tokens, and queues the result itself.
//
// Trusted input: the spool's Envelope (its addresses, ENVID and ORCPT were parsed and
// validated on reception, but still came from a client, so every value that reaches a
// header field is re-encoded or stripped of control octets here), the reporting host name
// (configuration), the report entries (couriers: the remote reply text is the next hop's
// and untrusted). The original message text is returned as it is, with its line endings
// made CRLF.
//
// Standards: RFC 3461 §4.1-4.4 (NOTIFY, ORCPT, RET, ENVID), §5.2.2 ("relayed"), §6.2-6.3
// (when a DSN is issued, what it holds); RFC 3464 §2.1-2.3 (message/delivery-status fields
// and their order); RFC 6522 (multipart/report); RFC 3463 (status codes); RFC 6533
// (utf-8 address type, message/global-delivery-status, message/global(-headers));
// RFC 5322 §2.1.1 and §2.2.3 (998-octet lines, folding); RFC 3834 §5 (Auto-Submitted).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "spool/message.hpp"

namespace tern::bounce {

// RFC 3464 §2.3.3 action-value.
enum class Action : std::uint8_t { failed, delayed, delivered, relayed, expanded };

// "failed", "delayed", ...
std::string_view action_name(Action action);

// The three kinds of report, each with its own Subject and explanation. A report about
// several recipients takes the most urgent action among them (failed > delayed > success).
enum class Kind : std::uint8_t { failure, delay, success };

// What happened to a message that was handed on successfully, for success reports.
enum class Handoff : std::uint8_t {
  mailbox,            // stored in a final mailbox (Maildir, LMTP to Dovecot, pipe)
  relay_with_dsn,     // relayed to a next hop that offered DSN: it reports from now on
  relay_without_dsn,  // relayed to a next hop without DSN: we report "relayed"
};

// The Action of a success report for `handoff`; nullopt when we issue none (RFC 3461
// §5.2.2: the next hop got NOTIFY and reports for itself).
std::optional<Action> success_action(Handoff handoff);

// Whether envelope.recipients[recipient] gets a report of `action` (RFC 3461 §4.1, §6.2):
// never for a null sender (RFC 5321 §4.5.5, RFC 3461 §6.2: no DSN about a DSN); NOTIFY=NEVER
// gets none; failed needs FAILURE or NOTIFY absent; delayed needs DELAY or NOTIFY absent (we
// use the option RFC 3461 §4.1 gives the MTA and warn by default, as Postfix does);
// delivered/relayed/expanded need SUCCESS. False when `recipient` is out of range.
[[nodiscard]] bool should_notify(const spool::Envelope& envelope, std::size_t recipient,
                                 Action action);

// RFC 3463 §2 status class for reports whose status is missing or malformed.
std::string_view default_status(Action action);

// What one recipient's report says.
struct ReportEntry {
  std::size_t recipient = 0;  // index into envelope.recipients
  Action action = Action::failed;
  // RFC 3463 "class.subject.detail", e.g. "5.1.1". A malformed value becomes
  // default_status(action). The class need not match the action: an expired message fails
  // with the last temporary status (4.4.1, as Postfix reports it).
  std::string status;
  std::string remote_mta;  // host name of the next hop that answered; empty: none
  // Where `diagnostic` came from: an SMTP/LMTP server's reply (Diagnostic-Code: smtp; ...)
  // or Tern itself (Diagnostic-Code: X-Tern; ...).
  enum class Source : std::uint8_t { smtp, local } diagnostic_source = Source::smtp;
  // The remote reply as received (a multi-line reply may keep its line breaks; they are
  // joined with spaces), or the local reason. Empty: no Diagnostic-Code.
  std::string diagnostic;
  std::int64_t last_attempt = 0;      // unix seconds; 0: unknown, no Last-Attempt-Date
  std::int64_t will_retry_until = 0;  // unix seconds, delayed only; 0: no Will-Retry-Until
};

// Keeps the entries should_notify() allows, in order. What is left goes into one report
// (one DSN lists all recipients of a message that are due one; RFC 3464 §2).
[[nodiscard]] std::vector<ReportEntry> due_entries(const spool::Envelope& envelope,
                                                   std::vector<ReportEntry> entries);

// Postfix's bounce_size_limit default: a sysadmin gets the behaviour they know. Returning a
// multi-megabyte message (often to a forged sender) costs more than it helps; the sender
// still has the message, and its header identifies it.
inline constexpr std::size_t default_return_size_limit = 50'000;

struct Options {
  std::string hostname;  // Reporting-MTA and MAILER-DAEMON@hostname
  std::int64_t now = 0;  // unix seconds: the Date field, delay computations
  // A fresh token of letters and digits on each call, unique on this host (for the
  // Message-ID and the MIME boundary). Empty: make_queue_id(). Tests pass a counter.
  std::function<std::string()> unique;
  // Past this many octets of original message, a failure report returns its header
  // section only (text/rfc822-headers), and says so.
  std::size_t return_size_limit = default_return_size_limit;
};

// A built report. The caller queues `text` with the null reverse-path MAIL FROM:<>
// (RFC 3461 §6.2, RFC 5321 §4.5.5) and the single recipient `recipient`.
struct Dsn {
  std::string text;       // the message, CRLF line endings, every line ≤ 998 octets
  std::string recipient;  // the original envelope sender
  Kind kind = Kind::failure;
  bool eight_bit = false;  // holds 8-bit octets: send with BODY=8BITMIME
  bool smtputf8 = false;   // its header holds a UTF-8 address: send with SMTPUTF8
};

// The report of `entries` (due_entries() already applied) about the message `original`
// (its stored text: our Received field first, CRLF line endings). One multipart/report
// (RFC 6522) with three parts: a text/plain explanation, the message/delivery-status
// fields, and the returned message:
//   - failure reports return the full message (message/rfc822) unless RET=HDRS; RET
//     absent means FULL, Postfix's default. Over Options::return_size_limit, or with a
//     line too long to carry unchanged, only the header section (text/rfc822-headers).
//   - delay and success reports return the header section only: RFC 3461 §4.3 makes RET
//     about failed DSNs, and a message still on its way or delivered needs no copy.
//   - a header section returned alone is cut at a field boundary past 102,400 octets
//     (Postfix's header_size_limit); a line in it past 998 octets is cut there.
//   - a multi-line SMTP reply is joined into one line, its repeated codes dropped.
// For an SMTPUTF8 message the parts that need it become message/global-delivery-status,
// message/global and message/global-headers (RFC 6533); otherwise utf-8 addresses are
// written in their ASCII \x{HEX} form.
// Errors (bugs in the caller, not mail conditions): a null sender, no entries, an entry
// index out of range, an empty host name.
[[nodiscard]] Result<Dsn> make_dsn(const spool::Envelope& envelope,
                                   std::span<const ReportEntry> entries, std::string_view original,
                                   const Options& options);

// Helpers, public for tests and for ternctl.


// RFC 6533 §3 utf-8-addr-xtext (unicode = false: pure ASCII, every non-ASCII character as
// \x{HEX}) or utf-8-addr-unitext (unicode = true: UTF-8 kept). Controls, space, '\', '+'
// and '=' are always escaped. Invalid UTF-8 octets become \x{FFFD}.
std::string utf8_address(std::string_view address, bool unicode);

// "Name: value\r\n", folded at spaces to keep lines within 78 octets where it can
// (RFC 5322 §2.1.1) and split inside a word only past 998 (a word that long cannot be
// carried otherwise; unfolding then adds a space).
std::string fold_field(std::string_view name, std::string_view value);

}  // namespace tern::bounce
