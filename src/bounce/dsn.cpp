// Delivery status notifications; see dsn.hpp for the contract, the trusted input and the
// standards. Layout of the message built here:
//   header (From MAILER-DAEMON, To the sender, Subject by kind, Auto-Submitted, MIME)
//   part 1  text/plain           what happened, one paragraph per kind, one line per recipient
//   part 2  message/delivery-status (or message/global-delivery-status)
//           per-message fields, then one block per recipient (RFC 3464 §2.2, §2.3)
//   part 3  message/rfc822 | text/rfc822-headers (or message/global | message/global-headers)
#include "bounce/dsn.hpp"

#include <algorithm>
#include <cstdio>

#include "core/queue_id.hpp"
#include "mail/address.hpp"
#include "mail/trace.hpp"
#include "smtp/params.hpp"  // the Notify bits, as spool/ stores them, and xtext

namespace tern::bounce {
namespace {

// RFC 5322 §2.1.1: a line MUST be at most 998 octets without its CRLF ...
constexpr std::size_t max_line = 998;
// ... and SHOULD be at most 78.
constexpr std::size_t soft_line = 78;
// Width of the human-readable explanation: leaves room for quoting in a reply.
constexpr std::size_t text_width = 76;
// Postfix's header_size_limit default: a header section returned without the message is cut
// (at a field boundary) past this many octets, so a pathological one does not make the
// report huge; real ones are a few kilobytes.
constexpr std::size_t max_returned_header = 102'400;
// Continuation lines of one recipient's explanation are indented by this much.
constexpr std::string_view text_indent = "    ";
// RFC 2046 §5.1.1: a boundary is 1 to 70 characters.
constexpr std::size_t max_boundary = 70;
// Pieces of the boundary and Message-ID taken from the queue ID and the token source: long
// enough to be unique, short enough that the boundary keeps its random part under 70.
constexpr std::size_t max_token = 24;
// Tries for a token whose boundary does not occur in the parts before counting up instead.
constexpr int boundary_tries = 8;
constexpr std::int64_t seconds_per_hour = 3600;
constexpr std::int64_t seconds_per_day = 86400;
constexpr std::string_view crlf = "\r\n";

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (unsigned char)c < 0x80; });
}

// Every octet printable US-ASCII, space included (RFC 5322 "text" without controls).
bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Length of the well-formed UTF-8 sequence at s[i]; 0 when there is none.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  unsigned char c = s[i];
  std::size_t n = c < 0x80             ? 1
                  : (c & 0xE0) == 0xC0 ? 2
                  : (c & 0xF0) == 0xE0 ? 3
                  : (c & 0xF8) == 0xF0 ? 4
                                       : 0;
  if (n == 0 || i + n > s.size()) return 0;
  return mail::valid_utf8(s.substr(i, n)) ? n : 0;
}

// The code point of the well-formed sequence s[i, i+n).
std::uint32_t code_point(std::string_view s, std::size_t i, std::size_t n) {
  static constexpr unsigned char lead_mask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  std::uint32_t cp = (unsigned char)s[i] & lead_mask[n];
  for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3F);
  return cp;
}

// Untrusted one-line text (a remote reply, a reason): line breaks, tabs and controls become
// single spaces, runs of spaces one, ends trimmed. Non-ASCII stays when `keep_utf8` and it
// is well-formed UTF-8, else each such octet becomes '?'.
std::string clean_text(std::string_view in, bool keep_utf8) {
  std::string out;
  for (std::size_t i = 0; i < in.size();) {
    unsigned char c = in[i];
    if (c < 0x20 || c == 0x7f || c == ' ') {
      if (!out.empty() && out.back() != ' ') out += ' ';
      ++i;
    } else if (c < 0x80) {
      out += char(c);
      ++i;
    } else if (std::size_t n = keep_utf8 ? utf8_length(in, i) : 0; n > 0) {
      out.append(in.substr(i, n));
      i += n;
    } else {
      out += '?';
      ++i;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// A host name or queue ID for a field: printable ASCII without spaces, '?' for the rest.
std::string clean_token(std::string_view in) {
  std::string out;
  for (char c : in) out += (c > 0x20 && c < 0x7f) ? c : '?';
  return out;
}

// For the boundary and Message-ID: letters, digits, '.', '-', '_' only, at most `max`.
std::string id_chars(std::string_view in, std::size_t max) {
  std::string out;
  for (char c : in) {
    if (out.size() == max) break;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_';
    if (ok) out += c;
  }
  return out;
}

// "type; address" for Final-Recipient, Original-Recipient and X-Tern-Sender. A utf-8 type,
// or any non-ASCII address, is written per RFC 6533 §3; other types keep a printable
// address as it is and xtext-encode one that is not (a control octet never reaches the
// header). `unicode`: the report part is message/global-delivery-status.
std::string typed_address(std::string_view type, std::string_view address, bool unicode) {
  if (iequal(type, "utf-8") || !is_ascii(address))
    return "utf-8; " + utf8_address(address, unicode);
  std::string t = id_chars(type, max_token);
  if (t.empty()) t = "rfc822";
  return t + "; " +
         (printable_ascii(address) ? std::string(address) : smtp::xtext_encode(address));
}

// The stored ORCPT "type;address" split in two; no ';' means an rfc822 address.
std::pair<std::string_view, std::string_view> split_orcpt(std::string_view orcpt) {
  auto semi = orcpt.find(';');
  if (semi == std::string_view::npos) return {"rfc822", orcpt};
  return {orcpt.substr(0, semi), orcpt.substr(semi + 1)};
}

// RFC 3463 §2: class "2" / "4" / "5", then 1-3 digits, '.', 1-3 digits.
bool valid_status(std::string_view s) {
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start || i - start > 3) return false;
    if (part == 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
  }
  return i == s.size();
}

// A multi-line SMTP reply as one line (RFC 5321 §4.2.1): the reply code, and an enhanced
// status code (RFC 2034 §3) repeated on each line, are kept from the first line only:
// "550-5.1.1 No such\r\n550 5.1.1 user" becomes "550 5.1.1 No such user".
std::string join_reply(std::string_view reply) {
  std::vector<std::string_view> lines;
  for (std::size_t pos = 0; pos <= reply.size();) {
    std::size_t eol = reply.find_first_of("\r\n", pos);
    if (eol == std::string_view::npos) eol = reply.size();
    if (eol > pos) lines.push_back(reply.substr(pos, eol - pos));
    pos = eol + 1;
  }
  if (lines.size() < 2) return std::string(reply);
  auto has_code = [](std::string_view l, std::string_view code) {
    return l.size() >= 4 && l.substr(0, 3) == code && (l[3] == '-' || l[3] == ' ');
  };
  std::string_view first = lines[0];
  std::string_view code = first.substr(0, 3);
  bool digits = first.size() >= 4 &&
                std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || !has_code(first, code)) return std::string(reply);
  std::string_view rest = first.substr(4);
  std::string_view enhanced = rest.substr(0, rest.find(' '));
  if (!valid_status(enhanced)) enhanced = {};
  std::string out = std::string(code) + " " + std::string(rest);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::string_view l = lines[i];
    if (has_code(l, code)) l.remove_prefix(4);
    if (!enhanced.empty() && l.starts_with(enhanced) &&
        (l.size() == enhanced.size() || l[enhanced.size()] == ' '))
      l.remove_prefix(std::min(l.size(), enhanced.size() + 1));
    if (l.empty()) continue;
    out += ' ';
    out += l;
  }
  return out;
}

// Text made of CRLF lines only: a lone LF or CR ends a line too; a last line gets its CRLF.
std::string crlf_lines(std::string_view in) {
  std::string out;
  out.reserve(in.size() + in.size() / 32 + 2);
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '\r') {
      out += crlf;
      if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += crlf;
    } else {
      out += c;
    }
  }
  if (!out.empty() && !out.ends_with(crlf)) out += crlf;
  return out;
}

// The header section of a message as stored: every line before the first empty one.
std::string_view raw_header_section(std::string_view m) {
  std::size_t pos = 0;
  while (pos < m.size()) {
    std::size_t eol = m.find('\n', pos);
    std::size_t end = eol == std::string_view::npos ? m.size() : eol;
    std::string_view line = m.substr(pos, end - pos);
    if (line.empty() || line == "\r") return m.substr(0, pos);
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  return m;
}

// The longest line of CRLF text, without its CRLF.
std::size_t longest_line(std::string_view s) {
  std::size_t longest = 0;
  for (std::size_t pos = 0; pos < s.size();) {
    std::size_t eol = s.find(crlf, pos);
    if (eol == std::string_view::npos) eol = s.size();
    longest = std::max(longest, eol - pos);
    pos = eol + crlf.size();
  }
  return longest;
}

// A cut point at or before `limit` that does not split a UTF-8 sequence.
std::size_t utf8_cut(std::string_view s, std::size_t limit) {
  if (limit >= s.size()) return s.size();
  std::size_t cut = limit;
  while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) --cut;
  return cut == 0 ? limit : cut;
}

// A header section made fit to return as text/rfc822-headers: whole fields up to
// max_returned_header octets (at least the first field), each line cut at 998 octets (a
// copy for the reader; see dsn.hpp).
std::string fit_headers(std::string headers) {
  if (headers.size() > max_returned_header) {
    std::size_t cut = 0;
    for (std::size_t pos = 0; pos < headers.size();) {
      std::size_t eol = headers.find(crlf, pos);
      if (eol == std::string::npos) break;
      std::size_t next = eol + crlf.size();
      bool continued = next < headers.size() && (headers[next] == ' ' || headers[next] == '\t');
      if (!continued) {
        if (next > max_returned_header && cut > 0) break;
        cut = next;
      }
      pos = next;
    }
    headers.resize(cut);
  }
  if (longest_line(headers) <= max_line) return headers;
  std::string out;
  for (std::size_t pos = 0; pos < headers.size();) {
    std::size_t eol = headers.find(crlf, pos);
    std::string_view line = std::string_view(headers).substr(pos, eol - pos);
    out.append(line.substr(0, utf8_cut(line, max_line)));
    out += crlf;
    pos = eol + crlf.size();
  }
  return out;
}

// One paragraph wrapped at text_width; continuation lines start with `indent`. A word
// longer than a whole line is split across lines.
std::string wrap(std::string_view text, std::string_view indent) {
  std::string out;
  std::size_t line_len = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(pos, end - pos);
    pos = end + 1;
    if (word.empty()) continue;
    if (line_len > 0 && line_len + 1 + word.size() > text_width) {
      out += crlf;
      out += indent;
      line_len = indent.size();
    } else if (line_len > 0) {
      out += ' ';
      ++line_len;
    }
    while (line_len + word.size() > text_width) {
      std::size_t n = utf8_cut(word, text_width - line_len);
      out.append(word.substr(0, n));
      out += crlf;
      out += indent;
      line_len = indent.size();
      word.remove_prefix(n);
    }
    out += word;
    line_len += word.size();
  }
  out += crlf;
  return out;
}

// One recipient as the explanation names it: "<a@b>" or "<a@b> (originally <c@d>)".
std::string display_recipient(const spool::Recipient& r, bool utf8) {
  std::string s = "<" + clean_text(r.address, utf8) + ">";
  if (!r.orcpt.empty()) {
    auto [type, address] = split_orcpt(r.orcpt);
    if (!iequal(address, r.address)) s += " (originally <" + clean_text(address, utf8) + ">)";
  }
  return s;
}

// What happened, for the explanation, when no diagnostic text was reported.
std::string_view default_reason(Action action) {
  switch (action) {
    case Action::failed:
      return "delivery failed";
    case Action::delayed:
      return "delivery is temporarily impossible";
    case Action::delivered:
      return "delivered to the mailbox";
    case Action::relayed:
      return "relayed to a system that does not send delivery reports";
    case Action::expanded:
      return "delivered to the addresses this one expands to";
  }
  return "";
}

Kind kind_of(Action action) {
  switch (action) {
    case Action::failed:
      return Kind::failure;
    case Action::delayed:
      return Kind::delay;
    default:
      return Kind::success;
  }
}

std::string_view subject_of(Kind kind) {
  switch (kind) {
    case Kind::failure:
      return "Undelivered Mail Returned to Sender";
    case Kind::delay:
      return "Delayed Mail (still being retried)";
    case Kind::success:
      return "Successful Mail Delivery Report";
  }
  return "";
}

// A report entry with its untrusted text cleaned, ready for both parts.
struct Line {
  const ReportEntry* entry;
  const spool::Recipient* recipient;
  std::string status;
  std::string remote_mta;
  std::string diagnostic;
};

// The returned message: part 3.
struct Returned {
  std::string content_type;
  std::string description;
  std::string body;
  bool full = false;
  bool too_large = false;  // headers only because of the size limit or a long line
};

Returned returned_part(const spool::Envelope& envelope, Kind kind, std::string_view original,
                       std::size_t limit) {
  Returned r;
  bool want_full = kind == Kind::failure && envelope.ret != "HDRS";
  if (want_full && original.size() <= limit) {
    std::string full = crlf_lines(original);
    if (longest_line(full) <= max_line) {
      bool global = envelope.smtputf8 && !is_ascii(raw_header_section(full));
      r.content_type = global ? "message/global" : "message/rfc822";
      r.description = "Undelivered Message";
      r.body = std::move(full);
      r.full = true;
      return r;
    }
  }
  r.too_large = want_full;
  r.body = fit_headers(crlf_lines(raw_header_section(original)));
  bool global = envelope.smtputf8 && !is_ascii(r.body);
  r.content_type = global ? "message/global-headers" : "text/rfc822-headers";
  r.description = kind == Kind::failure ? "Undelivered Message Headers"
                  : kind == Kind::delay ? "Delayed Message Headers"
                                        : "Delivered Message Headers";
  return r;
}

// Part 1: what happened, in words.
std::string explanation(const spool::Envelope& envelope, const std::vector<Line>& lines,
                        const Returned& returned, std::size_t limit, const Options& options) {
  const std::string host = clean_token(options.hostname);
  const bool utf8 = envelope.smtputf8;
  std::string text = wrap("This is the mail system at host " + host + ".", "");

  auto list = [&](auto&& pick) {
    text += crlf;
    for (auto& l : lines) {
      if (!pick(l.entry->action)) continue;
      std::string item = display_recipient(*l.recipient, utf8) + ": ";
      if (l.diagnostic.empty())
        item += default_reason(l.entry->action);
      else if (l.entry->diagnostic_source == ReportEntry::Source::smtp && !l.remote_mta.empty())
        item += "host " + l.remote_mta + " said: " + l.diagnostic;
      else
        item += l.diagnostic;
      text += wrap(item, text_indent);
    }
  };
  auto any = [&](Kind k) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const Line& l) { return kind_of(l.entry->action) == k; });
  };

  if (any(Kind::failure)) {
    text += crlf;
    text += wrap(
        "I'm sorry to have to inform you that your message could not be delivered to one or "
        "more recipients. The reasons are listed below.",
        "");
    text += crlf;
    if (returned.full)
      text += wrap("Your message is attached.", "");
    else if (returned.too_large && envelope.ret != "HDRS")
      text += wrap("Only the header of your message is attached: the message is larger than " +
                       std::to_string(limit) + " octets or has lines too long to return.",
                   "");
    else
      text += wrap("The header of your message is attached.", "");
    list([](Action a) { return a == Action::failed; });
  }
  if (any(Kind::delay)) {
    std::int64_t age_hours =
        std::max<std::int64_t>(0, options.now - envelope.arrival) / seconds_per_hour;
    std::int64_t until = 0;
    for (auto& l : lines)
      if (l.entry->action == Action::delayed && l.entry->will_retry_until > until)
        until = l.entry->will_retry_until;
    text += crlf;
    text += wrap("THIS IS A WARNING ONLY. You do not need to send your message again.", "");
    text += crlf;
    std::string para =
        "Your message could not be delivered yet to the recipients below; it "
        "has been in the queue for " +
        std::to_string(age_hours) + " hour(s).";
    if (until > 0)
      para += " Delivery will be retried until " + mail::rfc5322_date(until) + ", when it is " +
              std::to_string((until - envelope.arrival) / seconds_per_day) +
              " day(s) old; you will be told if it fails.";
    text += wrap(para, "");
    list([](Action a) { return a == Action::delayed; });
  }
  if (any(Kind::success)) {
    text += crlf;
    std::string para = "Your message was delivered to the recipients listed below, as you asked.";
    bool relayed = std::any_of(lines.begin(), lines.end(),
                               [](const Line& l) { return l.entry->action == Action::relayed; });
    if (relayed)
      para +=
          " Where it was relayed to a system that does not send delivery reports, you may "
          "hear nothing more about it, even if that system fails to deliver it.";
    text += wrap(para, "");
    list([](Action a) { return kind_of(a) == Kind::success; });
  }
  text += crlf;
  text += wrap("If you need help, write to postmaster@" + host + " and include this report.", "");
  return text;
}

// Part 2: the machine-readable fields.
std::string status_fields(const spool::Envelope& envelope, const std::vector<Line>& lines,
                          bool unicode, const Options& options) {
  std::string s;
  if (!envelope.envid.empty())  // RFC 3461 §6.3 (a)
    s += fold_field("Original-Envelope-Id", printable_ascii(envelope.envid)
                                                ? envelope.envid
                                                : smtp::xtext_encode(envelope.envid));
  s += fold_field("Reporting-MTA", "dns; " + clean_token(options.hostname));
  s += fold_field("X-Tern-Queue-ID", clean_token(envelope.id));
  s += fold_field("X-Tern-Sender", typed_address("rfc822", envelope.sender, unicode));
  if (envelope.arrival > 0) s += fold_field("Arrival-Date", mail::rfc5322_date(envelope.arrival));
  for (auto& l : lines) {
    const ReportEntry& e = *l.entry;
    s += crlf;
    if (!l.recipient->orcpt.empty()) {  // RFC 3461 §6.3 (d)
      auto [type, address] = split_orcpt(l.recipient->orcpt);
      s += fold_field("Original-Recipient", typed_address(type, address, unicode));
    }
    s += fold_field("Final-Recipient", typed_address("rfc822", l.recipient->address, unicode));
    s += fold_field("Action", action_name(e.action));
    s += fold_field("Status", l.status);
    if (!l.remote_mta.empty()) s += fold_field("Remote-MTA", "dns; " + l.remote_mta);
    if (!l.diagnostic.empty())
      s += fold_field("Diagnostic-Code",
                      (e.diagnostic_source == ReportEntry::Source::smtp ? "smtp; " : "X-Tern; ") +
                          l.diagnostic);
    if (e.last_attempt > 0)
      s += fold_field("Last-Attempt-Date", mail::rfc5322_date(e.last_attempt));
    if (e.action == Action::delayed && e.will_retry_until > 0)
      s += fold_field("Will-Retry-Until", mail::rfc5322_date(e.will_retry_until));
  }
  return s;
}

std::string part(std::string_view type, std::string_view description, bool eight_bit,
                 std::string_view body) {
  std::string p;
  p += fold_field("Content-Description", description);
  p += fold_field("Content-Type", type);
  if (eight_bit) p += fold_field("Content-Transfer-Encoding", "8bit");
  p += crlf;
  p += body;
  return p;
}

}  // namespace

std::string_view action_name(Action action) {
  switch (action) {
    case Action::failed:
      return "failed";
    case Action::delayed:
      return "delayed";
    case Action::delivered:
      return "delivered";
    case Action::relayed:
      return "relayed";
    case Action::expanded:
      return "expanded";
  }
  return "failed";
}

std::optional<Action> success_action(Handoff handoff) {
  switch (handoff) {
    case Handoff::mailbox:
      return Action::delivered;
    case Handoff::relay_with_dsn:
      return std::nullopt;
    case Handoff::relay_without_dsn:
      return Action::relayed;
  }
  return std::nullopt;
}

bool should_notify(const spool::Envelope& envelope, std::size_t recipient, Action action) {
  if (envelope.sender.empty()) return false;  // RFC 5321 §4.5.5: never to <>
  if (recipient >= envelope.recipients.size()) return false;
  std::uint8_t bits = envelope.recipients[recipient].notify;
  if (bits & smtp::notify_never) return false;
  switch (action) {
    case Action::failed:
      return bits == 0 || (bits & smtp::notify_failure);
    case Action::delayed:
      return bits == 0 || (bits & smtp::notify_delay);
    case Action::delivered:
    case Action::relayed:
    case Action::expanded:
      return (bits & smtp::notify_success) != 0;
  }
  return false;
}

std::string_view default_status(Action action) {
  switch (action) {
    case Action::failed:
      return "5.0.0";
    case Action::delayed:
      return "4.0.0";
    default:
      return "2.0.0";
  }
}

std::vector<ReportEntry> due_entries(const spool::Envelope& envelope,
                                     std::vector<ReportEntry> entries) {
  std::erase_if(entries, [&](const ReportEntry& e) {
    return !should_notify(envelope, e.recipient, e.action);
  });
  return entries;
}


std::string utf8_address(std::string_view address, bool unicode) {
  auto escape = [](std::string& out, std::uint32_t cp) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "\\x{%02X}", unsigned(cp));
    out += buf;
  };
  std::string out;
  for (std::size_t i = 0; i < address.size();) {
    unsigned char c = address[i];
    if (c < 0x80) {
      // RFC 6533 §3 QCHAR: printable ASCII except SP, '\', '+', '='.
      if (c > 0x20 && c < 0x7f && c != '\\' && c != '+' && c != '=')
        out += char(c);
      else
        escape(out, c);
      ++i;
      continue;
    }
    std::size_t n = utf8_length(address, i);
    if (n == 0) {
      escape(out, 0xFFFD);  // the replacement character for a malformed octet
      ++i;
    } else if (unicode) {
      out.append(address.substr(i, n));
      i += n;
    } else {
      escape(out, code_point(address, i, n));
      i += n;
    }
  }
  return out;
}

std::string fold_field(std::string_view name, std::string_view value) {
  std::string out(name);
  out += ": ";
  std::size_t line_len = out.size();
  for (std::size_t i = 0; i < value.size();) {
    // The next chunk: the spaces before a word, then the word.
    std::size_t word = value.find_first_not_of(' ', i);
    if (word == std::string_view::npos) word = value.size();
    std::size_t end = value.find(' ', word);
    if (end == std::string_view::npos) end = value.size();
    std::string_view chunk = value.substr(i, end - i);
    bool has_space = word > i, has_word = end > word;
    i = end;
    // Fold before the spaces: unfolding (RFC 5322 §2.2.3) removes only the CRLF.
    if (has_space && has_word && line_len + chunk.size() > soft_line) {
      out += crlf;
      line_len = 0;
    }
    while (line_len + chunk.size() > max_line) {
      std::size_t n = utf8_cut(chunk, max_line - line_len);
      out.append(chunk.substr(0, n));
      out += "\r\n ";
      line_len = 1;
      chunk.remove_prefix(n);
    }
    out += chunk;
    line_len += chunk.size();
  }
  out += crlf;
  return out;
}

Result<Dsn> make_dsn(const spool::Envelope& envelope, std::span<const ReportEntry> entries,
                     std::string_view original, const Options& options) {
  if (envelope.sender.empty()) return fail("no DSN to the null sender (RFC 5321 section 4.5.5)");
  if (entries.empty()) return fail("a DSN needs at least one recipient");
  if (clean_token(options.hostname).empty()) return fail("a DSN needs the reporting host name");

  // The entries, cleaned; the report kind is the most urgent action among them.
  std::vector<Line> lines;
  Kind kind = Kind::success;
  for (auto& e : entries) {
    if (e.recipient >= envelope.recipients.size())
      return fail("DSN entry for recipient " + std::to_string(e.recipient) + " of " +
                  std::to_string(envelope.recipients.size()));
    std::string diagnostic =
        e.diagnostic_source == ReportEntry::Source::smtp ? join_reply(e.diagnostic) : e.diagnostic;
    Line l{&e, &envelope.recipients[e.recipient], e.status, clean_token(e.remote_mta),
           clean_text(diagnostic, envelope.smtputf8)};
    if (!valid_status(l.status)) l.status = default_status(e.action);
    kind = std::min(kind, kind_of(e.action));
    lines.push_back(std::move(l));
  }

  // message/global-delivery-status only when a field needs UTF-8 (RFC 6533 §6).
  bool unicode = false;
  if (envelope.smtputf8) {
    for (auto& l : lines)
      unicode = unicode || !is_ascii(l.recipient->address) || !is_ascii(l.recipient->orcpt) ||
                !is_ascii(l.diagnostic);
    unicode = unicode || !is_ascii(envelope.sender);
  }
  if (!unicode)  // a diagnostic keeps its UTF-8 only in a global report
    for (auto& l : lines) l.diagnostic = clean_text(l.diagnostic, false);

  Returned returned = returned_part(envelope, kind, original, options.return_size_limit);
  std::string text = explanation(envelope, lines, returned, options.return_size_limit, options);
  std::string fields = status_fields(envelope, lines, unicode, options);

  std::vector<std::string> parts;
  parts.push_back(
      part(is_ascii(text) ? "text/plain; charset=us-ascii" : "text/plain; charset=utf-8",
           "Notification", !is_ascii(text), text));
  parts.push_back(part(unicode ? "message/global-delivery-status" : "message/delivery-status",
                       "Delivery report", !is_ascii(fields), fields));
  if (!returned.body.empty())
    parts.push_back(
        part(returned.content_type, returned.description, !is_ascii(returned.body), returned.body));

  auto unique = [&] {
    std::string t = options.unique ? options.unique() : make_queue_id();
    return id_chars(t, max_token);
  };
  const std::string host = clean_token(options.hostname);
  const std::string id = id_chars(envelope.id, max_token);

  // The boundary: queue ID, a fresh token, the host; never a string found in a part.
  std::string boundary;
  std::string token = unique();
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0 && attempt < boundary_tries) token = unique();
    std::string b = id + "." + token;
    if (attempt >= boundary_tries) b += "." + std::to_string(attempt);
    b += "/" + id_chars(host, max_boundary);
    b.resize(std::min(b.size(), max_boundary));
    bool clash = std::any_of(parts.begin(), parts.end(),
                             [&](const std::string& p) { return p.find(b) != std::string::npos; });
    if (!clash) {
      boundary = std::move(b);
      break;
    }
  }

  Dsn dsn;
  dsn.kind = kind;
  dsn.recipient = envelope.sender;
  std::string sender = clean_text(envelope.sender, true);
  dsn.smtputf8 = !is_ascii(sender);

  std::string& m = dsn.text;
  m += fold_field("From", "Mail Delivery System <MAILER-DAEMON@" + host + ">");
  m += fold_field("To", sender);
  m += fold_field("Subject", subject_of(kind));
  m += fold_field("Date", mail::rfc5322_date(options.now));
  m += fold_field("Message-ID", "<" + id + "." + unique() + "@" + host + ">");
  m += fold_field("Auto-Submitted", "auto-replied");  // RFC 3834 §5
  m += fold_field("MIME-Version", "1.0");
  m += fold_field("Content-Type",
                  "multipart/report; report-type=delivery-status; boundary=\"" + boundary + "\"");
  bool eight_bit =
      std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return !is_ascii(p); });
  if (eight_bit) m += fold_field("Content-Transfer-Encoding", "8bit");
  m += crlf;
  m += "This is a MIME-encapsulated message.\r\n";
  for (auto& p : parts) {
    m += "\r\n--" + boundary + "\r\n";
    m += p;
  }
  m += "\r\n--" + boundary + "--\r\n";
  dsn.eight_bit = eight_bit || dsn.smtputf8;
  return dsn;
}

}  // namespace tern::bounce
