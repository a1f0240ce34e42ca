// Tests for DSN messages (RFC 3461/3464/6522/6533): the NOTIFY rules, the multipart/report
// structure and every field, RET=FULL/HDRS and the size cap, ENVID/ORCPT, UTF-8 reports,
// folding within 998 octets, CRLF only, and a parse by Python's email package.
#include "bounce/dsn.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "mail/trace.hpp"
#include "smtp/params.hpp"

namespace tern::bounce {
namespace {

constexpr std::int64_t arrival = 1'780'000'000;
constexpr std::int64_t now = arrival + 5 * 3600;
const std::string host = "mx.tern.test";

const std::string original =
    "Received: from client.example.org ([192.0.2.7])\r\n"
    "\tby mx.tern.test (Tern) with ESMTP id ABCDEFGHIJKLMNOP; Mon, 1 Jun 2026 10:00:00 +0000\r\n"
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.net\r\n"
    "Subject: lunch\r\n"
    "Message-ID: <m1@example.org>\r\n"
    "\r\n"
    "See you at noon.\r\n";

spool::Recipient rcpt(std::string address, std::uint8_t notify = 0, std::string orcpt = "") {
  spool::Recipient r;
  r.address = std::move(address);
  r.domain = r.address.substr(r.address.find('@') + 1);
  r.notify = notify;
  r.orcpt = std::move(orcpt);
  return r;
}

spool::Envelope envelope() {
  spool::Envelope e;
  e.id = "ABCDEFGHIJKLMNOP";
  e.sender = "alice@example.org";
  e.arrival = arrival;
  e.recipients = {rcpt("bob@example.net"), rcpt("carol@example.net")};
  return e;
}

ReportEntry failed(std::size_t index, std::string status = "5.1.1",
                   std::string diagnostic = "550 5.1.1 <bob@example.net>: no such user") {
  ReportEntry e;
  e.recipient = index;
  e.action = Action::failed;
  e.status = std::move(status);
  e.remote_mta = "mx.example.net";
  e.diagnostic = std::move(diagnostic);
  e.last_attempt = now - 60;
  return e;
}

Options options() {
  Options o;
  o.hostname = host;
  o.now = now;
  auto counter = std::make_shared<int>(0);
  o.unique = [counter] { return "T" + std::to_string(++*counter); };
  return o;
}

Dsn build(const spool::Envelope& env, const std::vector<ReportEntry>& entries,
          const std::string& message = original, const Options& o = options()) {
  auto r = make_dsn(env, entries, message, o);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : Dsn{};
}

// A small MIME reader for the checks: header fields unfolded, parts split at the boundary.
struct Entity {
  std::vector<std::pair<std::string, std::string>> fields;  // name as written, value unfolded
  std::string body;

  // The value of the first field `name` (exact case); "" when absent.
  std::string get(const std::string& name) const {
    for (auto& [n, v] : fields)
      if (n == name) return v;
    return "";
  }
  bool has(const std::string& name) const {
    for (auto& [n, v] : fields)
      if (n == name) return true;
    return false;
  }
  int count(const std::string& name) const {
    int c = 0;
    for (auto& [n, v] : fields) c += n == name;
    return c;
  }
};

// Header fields of `text` up to the first empty line (or the end), unfolded.
Entity parse_entity(std::string_view text) {
  Entity e;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = std::min(eol + 2, text.size());
    if (line.empty()) break;
    if ((line[0] == ' ' || line[0] == '\t') && !e.fields.empty()) {
      e.fields.back().second += std::string(line);
      continue;
    }
    auto colon = line.find(':');
    std::string value(line.substr(colon + 1));
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    e.fields.emplace_back(std::string(line.substr(0, colon)), value);
  }
  e.body = std::string(text.substr(pos));
  return e;
}

// The blocks of a message/delivery-status body: per-message first, then per-recipient.
std::vector<Entity> status_blocks(std::string_view body) {
  std::vector<Entity> blocks;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t end = body.find("\r\n\r\n", pos);
    std::size_t stop = end == std::string_view::npos ? body.size() : end + 2;
    blocks.push_back(parse_entity(body.substr(pos, stop - pos)));
    pos = end == std::string_view::npos ? body.size() : end + 4;
  }
  return blocks;
}

std::string param(const std::string& value, const std::string& name) {
  auto at = value.find(name + "=");
  if (at == std::string::npos) return "";
  at += name.size() + 1;
  if (value[at] == '"') return value.substr(at + 1, value.find('"', at + 1) - at - 1);
  return value.substr(at, value.find(';', at) - at);
}

struct Parsed {
  Entity top;
  std::string boundary;
  std::vector<Entity> parts;
};

Parsed parse(const std::string& text) {
  Parsed p;
  p.top = parse_entity(text);
  p.boundary = param(p.top.get("Content-Type"), "boundary");
  const std::string delimiter = "\r\n--" + p.boundary;
  std::size_t pos = p.top.body.find(delimiter);
  while (pos != std::string::npos) {
    std::size_t start = pos + delimiter.size();
    if (p.top.body.compare(start, 2, "--") == 0) break;  // the close delimiter
    start += 2;                                          // CRLF after the boundary
    std::size_t next = p.top.body.find(delimiter, start);
    p.parts.push_back(parse_entity(std::string_view(p.top.body).substr(start, next - start)));
    pos = next;
  }
  return p;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find("\r\n", pos);
    if (eol == std::string::npos) eol = text.size();
    out.push_back(text.substr(pos, eol - pos));
    pos = eol + 2;
  }
  return out;
}

// Every line ends in CRLF, no bare CR or LF, none longer than 998 octets.
void expect_wire_form(const std::string& text) {
  ASSERT_TRUE(text.ends_with("\r\n"));
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      ASSERT_TRUE(i + 1 < text.size() && text[i + 1] == '\n') << "bare CR at " << i;
    } else if (text[i] == '\n') {
      ASSERT_TRUE(i > 0 && text[i - 1] == '\r') << "bare LF at " << i;
    }
  }
  for (auto& line : lines_of(text)) EXPECT_LE(line.size(), 998u) << line.substr(0, 60);
}

// --- the rules -----------------------------------------------------------------------------

TEST(DsnRulesTest, ShouldNotifyTable) {
  using smtp::notify_delay, smtp::notify_failure, smtp::notify_never, smtp::notify_success;
  struct Case {
    std::string sender;
    std::uint8_t notify;
    Action action;
    bool expect;
  };
  const std::vector<Case> cases = {
      // NOTIFY absent: failures, and delay warnings at our option; no success reports.
      {"a@b.example", 0, Action::failed, true},
      {"a@b.example", 0, Action::delayed, true},
      {"a@b.example", 0, Action::delivered, false},
      {"a@b.example", 0, Action::relayed, false},
      // The null sender never gets one, whatever it asked.
      {"", 0, Action::failed, false},
      {"", notify_failure | notify_success, Action::failed, false},
      {"", notify_success, Action::delivered, false},
      // NOTIFY=NEVER
      {"a@b.example", notify_never, Action::failed, false},
      {"a@b.example", notify_never, Action::delayed, false},
      {"a@b.example", notify_never, Action::delivered, false},
      // NOTIFY=SUCCESS only: no failure report, no delay warning.
      {"a@b.example", notify_success, Action::failed, false},
      {"a@b.example", notify_success, Action::delayed, false},
      {"a@b.example", notify_success, Action::delivered, true},
      {"a@b.example", notify_success, Action::relayed, true},
      {"a@b.example", notify_success, Action::expanded, true},
      // NOTIFY=FAILURE
      {"a@b.example", notify_failure, Action::failed, true},
      {"a@b.example", notify_failure, Action::delayed, false},
      {"a@b.example", notify_failure, Action::delivered, false},
      // NOTIFY=DELAY
      {"a@b.example", notify_delay, Action::delayed, true},
      {"a@b.example", notify_delay, Action::failed, false},
      // NOTIFY=SUCCESS,FAILURE,DELAY
      {"a@b.example", notify_success | notify_failure | notify_delay, Action::failed, true},
      {"a@b.example", notify_success | notify_failure | notify_delay, Action::delayed, true},
      {"a@b.example", notify_success | notify_failure | notify_delay, Action::delivered, true},
  };
  for (auto& c : cases) {
    spool::Envelope env = envelope();
    env.sender = c.sender;
    env.recipients[0].notify = c.notify;
    EXPECT_EQ(should_notify(env, 0, c.action), c.expect)
        << "sender=" << c.sender << " notify=" << int(c.notify)
        << " action=" << action_name(c.action);
  }
  EXPECT_FALSE(should_notify(envelope(), 7, Action::failed)) << "index out of range";
}

TEST(DsnRulesTest, SuccessAction) {
  EXPECT_EQ(success_action(Handoff::mailbox), Action::delivered);
  EXPECT_EQ(success_action(Handoff::relay_without_dsn), Action::relayed);
  EXPECT_EQ(success_action(Handoff::relay_with_dsn), std::nullopt);
}

TEST(DsnRulesTest, DueEntriesKeepsWhatNotifyAsksFor) {
  spool::Envelope env = envelope();
  env.recipients.push_back(rcpt("dave@example.net", smtp::notify_never));
  env.recipients[1].notify = smtp::notify_success;
  auto kept = due_entries(env, {failed(0), failed(1), failed(2)});
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].recipient, 0u);

  env.sender.clear();
  EXPECT_TRUE(due_entries(env, {failed(0)}).empty());
}

TEST(DsnRulesTest, DefaultStatus) {
  EXPECT_EQ(default_status(Action::failed), "5.0.0");
  EXPECT_EQ(default_status(Action::delayed), "4.0.0");
  EXPECT_EQ(default_status(Action::delivered), "2.0.0");
  EXPECT_EQ(default_status(Action::relayed), "2.0.0");
}

// --- refusals ----------------------------------------------------------------------------

TEST(DsnBuildTest, RefusesWhatIsNoReport) {
  spool::Envelope env = envelope();
  EXPECT_FALSE(make_dsn(env, {}, original, options()).ok()) << "no entries";
  std::vector<ReportEntry> out_of_range = {failed(2)};
  EXPECT_FALSE(make_dsn(env, out_of_range, original, options()).ok());
  Options no_host = options();
  no_host.hostname.clear();
  std::vector<ReportEntry> one = {failed(0)};
  EXPECT_FALSE(make_dsn(env, one, original, no_host).ok());
  env.sender.clear();
  EXPECT_FALSE(make_dsn(env, one, original, options()).ok()) << "null sender: no DSN";
}

// --- structure ---------------------------------------------------------------------------

TEST(DsnBuildTest, FailureReportStructureAndFields) {
  Dsn dsn = build(envelope(), {failed(0)});
  expect_wire_form(dsn.text);
  EXPECT_EQ(dsn.kind, Kind::failure);
  EXPECT_EQ(dsn.recipient, "alice@example.org");
  EXPECT_FALSE(dsn.eight_bit);
  EXPECT_FALSE(dsn.smtputf8);

  Parsed p = parse(dsn.text);
  EXPECT_EQ(p.top.get("From"), "Mail Delivery System <MAILER-DAEMON@mx.tern.test>");
  EXPECT_EQ(p.top.get("To"), "alice@example.org");
  EXPECT_EQ(p.top.get("Subject"), "Undelivered Mail Returned to Sender");
  EXPECT_EQ(p.top.get("Date"), mail::rfc5322_date(now));
  EXPECT_EQ(p.top.get("Message-ID"), "<ABCDEFGHIJKLMNOP.T2@mx.tern.test>");
  EXPECT_EQ(p.top.get("Auto-Submitted"), "auto-replied");
  EXPECT_EQ(p.top.get("MIME-Version"), "1.0");
  EXPECT_TRUE(p.top.get("Content-Type").starts_with("multipart/report;"));
  EXPECT_EQ(param(p.top.get("Content-Type"), "report-type"), "delivery-status");
  EXPECT_EQ(p.boundary, "ABCDEFGHIJKLMNOP.T1/mx.tern.test");
  EXPECT_FALSE(p.top.has("Content-Transfer-Encoding"));
  EXPECT_TRUE(dsn.text.ends_with("\r\n--" + p.boundary + "--\r\n"));

  ASSERT_EQ(p.parts.size(), 3u);
  // Part 1: the explanation.
  EXPECT_EQ(p.parts[0].get("Content-Type"), "text/plain; charset=us-ascii");
  const std::string& text = p.parts[0].body;
  EXPECT_TRUE(text.starts_with("This is the mail system at host mx.tern.test.\r\n")) << text;
  EXPECT_NE(text.find("I'm sorry to have to inform you that your message could not be"),
            std::string::npos);
  EXPECT_NE(text.find("<bob@example.net>: host mx.example.net said: 550 5.1.1"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("carol"), std::string::npos);
  EXPECT_NE(text.find("Your message is attached."), std::string::npos);

  // Part 2: the fields, per message then per recipient (RFC 3464 §2.2, §2.3).
  EXPECT_EQ(p.parts[1].get("Content-Type"), "message/delivery-status");
  auto blocks = status_blocks(p.parts[1].body);
  ASSERT_EQ(blocks.size(), 2u) << p.parts[1].body;
  const Entity& msg = blocks[0];
  EXPECT_EQ(msg.get("Reporting-MTA"), "dns; mx.tern.test");
  EXPECT_EQ(msg.get("Arrival-Date"), mail::rfc5322_date(arrival));
  EXPECT_EQ(msg.get("X-Tern-Queue-ID"), "ABCDEFGHIJKLMNOP");
  EXPECT_EQ(msg.get("X-Tern-Sender"), "rfc822; alice@example.org");
  EXPECT_FALSE(msg.has("Original-Envelope-Id"));
  const Entity& r = blocks[1];
  EXPECT_EQ(r.get("Final-Recipient"), "rfc822; bob@example.net");
  EXPECT_FALSE(r.has("Original-Recipient"));
  EXPECT_EQ(r.get("Action"), "failed");
  EXPECT_EQ(r.get("Status"), "5.1.1");
  EXPECT_EQ(r.get("Remote-MTA"), "dns; mx.example.net");
  EXPECT_EQ(r.get("Diagnostic-Code"), "smtp; 550 5.1.1 <bob@example.net>: no such user");
  EXPECT_EQ(r.get("Last-Attempt-Date"), mail::rfc5322_date(now - 60));
  EXPECT_FALSE(r.has("Will-Retry-Until"));
  // RFC 3464 §2.3: Final-Recipient, Action, Status in this order.
  ASSERT_GE(r.fields.size(), 3u);
  EXPECT_EQ(r.fields[0].first, "Final-Recipient");
  EXPECT_EQ(r.fields[1].first, "Action");
  EXPECT_EQ(r.fields[2].first, "Status");

  // Part 3: the message, unchanged.
  EXPECT_EQ(p.parts[2].get("Content-Type"), "message/rfc822");
  EXPECT_EQ(p.parts[2].get("Content-Description"), "Undelivered Message");
  std::string returned =
      dsn.text.substr(dsn.text.find("\r\n\r\n", dsn.text.find("message/rfc822")) + 4);
  EXPECT_TRUE(returned.starts_with(original)) << returned;
}

TEST(DsnBuildTest, SubjectAndActionByKind) {
  struct Case {
    Action action;
    std::string status;
    Kind kind;
    std::string subject;
    std::string description;
  };
  const std::vector<Case> cases = {
      {Action::failed, "5.1.1", Kind::failure, "Undelivered Mail Returned to Sender",
       "Undelivered Message"},
      {Action::delayed, "4.4.1", Kind::delay, "Delayed Mail (still being retried)",
       "Delayed Message Headers"},
      {Action::delivered, "2.0.0", Kind::success, "Successful Mail Delivery Report",
       "Delivered Message Headers"},
      {Action::relayed, "2.0.0", Kind::success, "Successful Mail Delivery Report",
       "Delivered Message Headers"},
      {Action::expanded, "2.0.0", Kind::success, "Successful Mail Delivery Report",
       "Delivered Message Headers"},
  };
  for (auto& c : cases) {
    ReportEntry e = failed(0, c.status, "250 2.0.0 ok");
    e.action = c.action;
    e.will_retry_until = arrival + 5 * 86400;
    Dsn dsn = build(envelope(), {e});
    expect_wire_form(dsn.text);
    EXPECT_EQ(dsn.kind, c.kind);
    Parsed p = parse(dsn.text);
    EXPECT_EQ(p.top.get("Subject"), c.subject);
    ASSERT_EQ(p.parts.size(), 3u);
    EXPECT_EQ(p.parts[2].get("Content-Description"), c.description);
    auto blocks = status_blocks(p.parts[1].body);
    ASSERT_EQ(blocks.size(), 2u);
    EXPECT_EQ(blocks[1].get("Action"), action_name(c.action));
    EXPECT_EQ(blocks[1].get("Status"), c.status);
    // Will-Retry-Until belongs to delay reports only.
    EXPECT_EQ(blocks[1].has("Will-Retry-Until"), c.action == Action::delayed)
        << action_name(c.action);
  }
}

TEST(DsnBuildTest, DelayWarning) {
  ReportEntry e = failed(0, "4.4.1", "451 4.4.1 try later");
  e.action = Action::delayed;
  e.will_retry_until = arrival + 5 * 86400;
  Dsn dsn = build(envelope(), {e});
  Parsed p = parse(dsn.text);
  auto blocks = status_blocks(p.parts[1].body);
  EXPECT_EQ(blocks[1].get("Will-Retry-Until"), mail::rfc5322_date(arrival + 5 * 86400));
  const std::string& text = p.parts[0].body;
  EXPECT_NE(text.find("WARNING ONLY"), std::string::npos) << text;
  EXPECT_NE(text.find("5 hour(s)"), std::string::npos) << text;
  EXPECT_NE(text.find("5 day(s)"), std::string::npos) << text;
  EXPECT_NE(text.find("<bob@example.net>: host mx.example.net said: 451 4.4.1 try later"),
            std::string::npos)
      << text;
  EXPECT_EQ(p.parts[2].get("Content-Type"), "text/rfc822-headers");
}

TEST(DsnBuildTest, MalformedStatusBecomesTheDefault) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"5.1.1", "5.1.1"},   {"4.4.7", "4.4.7"},    {"5.7.26", "5.7.26"}, {"2.0.0", "2.0.0"},
      {"", "5.0.0"},        {"550", "5.0.0"},      {"3.1.1", "5.0.0"},   {"5.1", "5.0.0"},
      {"5.1.1 x", "5.0.0"}, {"5.1234.1", "5.0.0"}, {"5..1", "5.0.0"},    {"5.1.1\r\nX: y", "5.0.0"},
  };
  for (auto& [given, expect] : cases) {
    Dsn dsn = build(envelope(), {failed(0, given)});
    auto blocks = status_blocks(parse(dsn.text).parts[1].body);
    EXPECT_EQ(blocks[1].get("Status"), expect) << given;
  }
}

TEST(DsnBuildTest, LocalDiagnosticAndNoRemoteMta) {
  ReportEntry e = failed(0, "5.1.1", "unknown user: \"bob\"");
  e.remote_mta.clear();
  e.diagnostic_source = ReportEntry::Source::local;
  e.last_attempt = 0;
  Parsed p = parse(build(envelope(), {e}).text);
  auto blocks = status_blocks(p.parts[1].body);
  EXPECT_FALSE(blocks[1].has("Remote-MTA"));
  EXPECT_FALSE(blocks[1].has("Last-Attempt-Date"));
  EXPECT_EQ(blocks[1].get("Diagnostic-Code"), "X-Tern; unknown user: \"bob\"");
  EXPECT_NE(p.parts[0].body.find("<bob@example.net>: unknown user: \"bob\""), std::string::npos);

  e.diagnostic.clear();
  p = parse(build(envelope(), {e}).text);
  EXPECT_FALSE(status_blocks(p.parts[1].body)[1].has("Diagnostic-Code"));
  EXPECT_NE(p.parts[0].body.find("<bob@example.net>: delivery failed"), std::string::npos);
}

TEST(DsnBuildTest, SeveralRecipientsOneReport) {
  spool::Envelope env = envelope();
  env.recipients.push_back(rcpt("dave@example.com"));
  ReportEntry second = failed(2, "5.2.2", "552 5.2.2 mailbox full");
  second.remote_mta = "mx.example.com";
  ReportEntry delayed = failed(1, "4.4.1", "451 4.4.1 greylisted");
  delayed.action = Action::delayed;
  delayed.will_retry_until = arrival + 5 * 86400;
  Dsn dsn = build(env, {failed(0), delayed, second});
  expect_wire_form(dsn.text);
  EXPECT_EQ(dsn.kind, Kind::failure) << "the most urgent action names the report";
  Parsed p = parse(dsn.text);
  EXPECT_EQ(p.top.count("Subject"), 1);
  auto blocks = status_blocks(p.parts[1].body);
  ASSERT_EQ(blocks.size(), 4u);
  EXPECT_EQ(blocks[1].get("Final-Recipient"), "rfc822; bob@example.net");
  EXPECT_EQ(blocks[2].get("Final-Recipient"), "rfc822; carol@example.net");
  EXPECT_EQ(blocks[2].get("Action"), "delayed");
  EXPECT_EQ(blocks[3].get("Final-Recipient"), "rfc822; dave@example.com");
  EXPECT_EQ(blocks[3].get("Status"), "5.2.2");
  EXPECT_EQ(blocks[3].get("Remote-MTA"), "dns; mx.example.com");
  const std::string& text = p.parts[0].body;
  EXPECT_NE(text.find("<bob@example.net>"), std::string::npos);
  EXPECT_NE(text.find("<carol@example.net>: host mx.example.net said: 451 4.4.1 greylisted"),
            std::string::npos);
  EXPECT_NE(text.find("<dave@example.com>: host mx.example.com said: 552 5.2.2 mailbox full"),
            std::string::npos);
  EXPECT_NE(text.find("WARNING ONLY"), std::string::npos);
}

// --- RET and the returned message ----------------------------------------------------------

TEST(DsnBuildTest, RetTable) {
  struct Case {
    std::string ret;
    Action action;
    std::size_t limit;
    std::string content_type;
    bool body_returned;
    bool says_too_large;
  };
  const std::vector<Case> cases = {
      {"", Action::failed, default_return_size_limit, "message/rfc822", true, false},
      {"FULL", Action::failed, default_return_size_limit, "message/rfc822", true, false},
      {"HDRS", Action::failed, default_return_size_limit, "text/rfc822-headers", false, false},
      {"", Action::failed, 100, "text/rfc822-headers", false, true},
      {"FULL", Action::failed, 100, "text/rfc822-headers", false, true},
      {"FULL", Action::delayed, default_return_size_limit, "text/rfc822-headers", false, false},
      {"FULL", Action::delivered, default_return_size_limit, "text/rfc822-headers", false, false},
      {"", Action::relayed, default_return_size_limit, "text/rfc822-headers", false, false},
  };
  for (auto& c : cases) {
    spool::Envelope env = envelope();
    env.ret = c.ret;
    ReportEntry e = failed(0);
    e.action = c.action;
    Options o = options();
    o.return_size_limit = c.limit;
    Dsn dsn = build(env, {e}, original, o);
    expect_wire_form(dsn.text);
    Parsed p = parse(dsn.text);
    ASSERT_EQ(p.parts.size(), 3u);
    std::string label = "RET=" + c.ret + " " + std::string(action_name(c.action)) +
                        " limit=" + std::to_string(c.limit);
    EXPECT_EQ(p.parts[2].get("Content-Type"), c.content_type) << label;
    bool has_body = dsn.text.find("See you at noon.") != std::string::npos;
    EXPECT_EQ(has_body, c.body_returned) << label;
    EXPECT_NE(dsn.text.find("Subject: lunch\r\n"), std::string::npos) << label;
    EXPECT_NE(dsn.text.find("Message-ID: <m1@example.org>\r\n"), std::string::npos) << label;
    bool says = p.parts[0].body.find("larger than") != std::string::npos;
    EXPECT_EQ(says, c.says_too_large) << label << "\n" << p.parts[0].body;
  }
}

TEST(DsnBuildTest, HeadersOnlyPartHoldsTheWholeHeaderSection) {
  spool::Envelope env = envelope();
  env.ret = "HDRS";
  Dsn dsn = build(env, {failed(0)});
  Parsed p = parse(dsn.text);
  std::string headers = original.substr(0, original.find("\r\n\r\n") + 2);
  // The part body: the header section, then the CRLF that belongs to the delimiter.
  EXPECT_EQ(p.parts[2].body, headers);
}

TEST(DsnBuildTest, ReturnedMessageGetsCrlfAndLongLinesFallBackToHeaders) {
  std::string lf_only = "From: a@example.org\nSubject: x\n\nbody line\nlast line without end";
  Dsn dsn = build(envelope(), {failed(0)}, lf_only);
  expect_wire_form(dsn.text);
  EXPECT_NE(dsn.text.find("\r\nbody line\r\nlast line without end\r\n"), std::string::npos);

  std::string long_body = "From: a@example.org\r\n\r\n" + std::string(2000, 'x') + "\r\n";
  dsn = build(envelope(), {failed(0)}, long_body);
  expect_wire_form(dsn.text);
  EXPECT_EQ(parse(dsn.text).parts[2].get("Content-Type"), "text/rfc822-headers");

  std::string long_header =
      "X-Long: " + std::string(3000, 'y') + "\r\nFrom: a@b.example\r\n\r\nhi\r\n";
  dsn = build(envelope(), {failed(0)}, long_header);
  expect_wire_form(dsn.text);
  EXPECT_NE(dsn.text.find("From: a@b.example\r\n"), std::string::npos);
}

TEST(DsnBuildTest, HugeHeaderSectionIsCutAtAFieldBoundary) {
  std::string message;
  for (int i = 0; i < 6000; ++i)
    message += "X-Filler-" + std::to_string(i) + ": some value\r\n\tcontinued\r\n";
  message += "\r\nbody\r\n";
  spool::Envelope env = envelope();
  env.ret = "HDRS";
  Dsn dsn = build(env, {failed(0)}, message);
  expect_wire_form(dsn.text);
  Parsed p = parse(dsn.text);
  EXPECT_LE(p.parts[2].body.size(), 102'400u);
  EXPECT_GT(p.parts[2].body.size(), 100'000u);
  EXPECT_TRUE(p.parts[2].body.starts_with("X-Filler-0: some value\r\n"));
  EXPECT_TRUE(p.parts[2].body.ends_with(": some value\r\n\tcontinued\r\n"));
}

TEST(DsnBuildTest, EmptyOriginalHasNoThirdPart) {
  Dsn dsn = build(envelope(), {failed(0)}, "");
  expect_wire_form(dsn.text);
  EXPECT_EQ(parse(dsn.text).parts.size(), 2u);
}

// --- ENVID and ORCPT -------------------------------------------------------------------------

TEST(DsnBuildTest, EnvidAndOrcptRoundTrip) {
  struct Case {
    std::string envid;         // as stored (xtext-decoded)
    std::string orcpt;         // as stored: "type;address", decoded
    std::string expect_envid;  // Original-Envelope-Id; "" = absent
    std::string expect_orcpt;  // Original-Recipient; "" = absent
  };
  const std::vector<Case> cases = {
      {"QQ314159", "rfc822;Bob.Alias@Example.NET", "QQ314159", "rfc822; Bob.Alias@Example.NET"},
      {"a+b=c", "rfc822;bob+tag@example.net", "a+b=c", "rfc822; bob+tag@example.net"},
      {"", "", "", ""},
      // A control octet never reaches the header: such a value goes out xtext-encoded.
      {"x\x01y", "rfc822;b\x7fo@example.net", "x+01y", "rfc822; b+7Fo@example.net"},
      {"id\r\nBcc: evil", "", "id+0D+0ABcc:+20evil", ""},
      // utf-8 ORCPT in an ASCII report: RFC 6533 utf-8-addr-xtext.
      {"", "utf-8;b\xc3\xb6@example.net", "", "utf-8; b\\x{F6}@example.net"},
      {"", "utf-8;bob@example.net", "", "utf-8; bob@example.net"},
      {"", "bob@example.net", "", "rfc822; bob@example.net"},
  };
  for (auto& c : cases) {
    spool::Envelope env = envelope();
    env.envid = c.envid;
    env.recipients[0].orcpt = c.orcpt;
    Dsn dsn = build(env, {failed(0)});
    expect_wire_form(dsn.text);
    auto blocks = status_blocks(parse(dsn.text).parts[1].body);
    ASSERT_EQ(blocks.size(), 2u);
    EXPECT_EQ(blocks[0].has("Original-Envelope-Id"), !c.expect_envid.empty()) << c.envid;
    EXPECT_EQ(blocks[0].get("Original-Envelope-Id"), c.expect_envid) << c.envid;
    EXPECT_EQ(blocks[1].has("Original-Recipient"), !c.expect_orcpt.empty()) << c.orcpt;
    EXPECT_EQ(blocks[1].get("Original-Recipient"), c.expect_orcpt) << c.orcpt;
    if (!c.expect_orcpt.empty()) {  // RFC 3464 §2.3: Original-Recipient comes first
      EXPECT_EQ(blocks[1].fields[0].first, "Original-Recipient");
    }
    EXPECT_EQ(dsn.text.find("\nBcc:"), std::string::npos);
  }
}

TEST(DsnBuildTest, ExplanationNamesTheOriginalRecipient) {
  spool::Envelope env = envelope();
  env.recipients[0].orcpt = "rfc822;bob.alias@example.net";
  Parsed p = parse(build(env, {failed(0)}).text);
  EXPECT_NE(p.parts[0].body.find("<bob@example.net> (originally <bob.alias@example.net>):"),
            std::string::npos)
      << p.parts[0].body;
  env.recipients[0].orcpt = "rfc822;BOB@example.net";  // the same address: not repeated
  p = parse(build(env, {failed(0)}).text);
  EXPECT_EQ(p.parts[0].body.find("originally"), std::string::npos);
}

// --- SMTPUTF8 -------------------------------------------------------------------------------

TEST(DsnBuildTest, Utf8RecipientUsesGlobalTypes) {
  spool::Envelope env = envelope();
  env.smtputf8 = true;
  env.recipients[0] = rcpt(
      "b\xc3\xb6"
      "b@b\xc3\xbc"
      "cher.example");
  std::string utf8_original = "Received: x\r\nSubject: gr\xc3\xbc\xc3\x9f\x65\r\n\r\nhi\r\n";
  Dsn dsn = build(env, {failed(0, "5.1.1", "550 5.1.1 unbekannt: b\xc3\xb6\x62")}, utf8_original);
  expect_wire_form(dsn.text);
  EXPECT_TRUE(dsn.eight_bit);
  EXPECT_FALSE(dsn.smtputf8) << "the sender is ASCII: the DSN header needs no SMTPUTF8";
  Parsed p = parse(dsn.text);
  EXPECT_EQ(p.top.get("Content-Transfer-Encoding"), "8bit");
  ASSERT_EQ(p.parts.size(), 3u);
  EXPECT_EQ(p.parts[0].get("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(p.parts[1].get("Content-Type"), "message/global-delivery-status");
  EXPECT_EQ(p.parts[1].get("Content-Transfer-Encoding"), "8bit");
  EXPECT_EQ(p.parts[2].get("Content-Type"), "message/global");
  auto blocks = status_blocks(p.parts[1].body);
  EXPECT_EQ(blocks[1].get("Final-Recipient"),
            "utf-8; b\xc3\xb6"
            "b@b\xc3\xbc"
            "cher.example");
  EXPECT_EQ(blocks[1].get("Diagnostic-Code"), "smtp; 550 5.1.1 unbekannt: b\xc3\xb6\x62");
  EXPECT_NE(p.parts[0].body.find("<b\xc3\xb6"
                                 "b@b\xc3\xbc"
                                 "cher.example>"),
            std::string::npos);

  env.ret = "HDRS";
  p = parse(build(env, {failed(0)}, utf8_original).text);
  EXPECT_EQ(p.parts[2].get("Content-Type"), "message/global-headers");
}

TEST(DsnBuildTest, Utf8MessageWithAsciiReportStaysClassic) {
  spool::Envelope env = envelope();
  env.smtputf8 = true;
  Dsn dsn = build(env, {failed(0)});
  Parsed p = parse(dsn.text);
  EXPECT_EQ(p.parts[1].get("Content-Type"), "message/delivery-status");
  EXPECT_EQ(p.parts[2].get("Content-Type"), "message/rfc822") << "ASCII headers";
  EXPECT_FALSE(dsn.eight_bit);
}

TEST(DsnBuildTest, Utf8SenderNeedsSmtputf8) {
  spool::Envelope env = envelope();
  env.smtputf8 = true;
  env.sender = "\xc3\xa5sa@example.org";
  Dsn dsn = build(env, {failed(0)});
  expect_wire_form(dsn.text);
  EXPECT_TRUE(dsn.smtputf8);
  EXPECT_TRUE(dsn.eight_bit);
  EXPECT_EQ(parse(dsn.text).top.get("To"), "\xc3\xa5sa@example.org");
}

TEST(DsnBuildTest, EightBitDiagnosticWithoutSmtputf8IsMadeAscii) {
  Dsn dsn = build(envelope(), {failed(0, "5.1.1", "550 5.1.1 unbekannt \xc3\xb6 \xff")});
  EXPECT_FALSE(dsn.eight_bit);
  auto blocks = status_blocks(parse(dsn.text).parts[1].body);
  EXPECT_EQ(blocks[1].get("Diagnostic-Code"), "smtp; 550 5.1.1 unbekannt ?? ?");
}

TEST(DsnHelpersTest, Utf8AddressForms) {
  struct Case {
    std::string in;
    bool unicode;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"bob@example.net", false, "bob@example.net"},
      {"b\xc3\xb6\x62@example.net", false, "b\\x{F6}b@example.net"},
      {"b\xc3\xb6\x62@example.net", true, "b\xc3\xb6\x62@example.net"},
      {"\xe7\x94\xa8@\xe4\xbe\x8b.test", false, "\\x{7528}@\\x{4F8B}.test"},
      {"\xf0\x9f\x98\x80@x.test", false, "\\x{1F600}@x.test"},
      {"a+b=c\\d@x.test", true, "a\\x{2B}b\\x{3D}c\\x{5C}d@x.test"},
      {"\"a b\"@x.test", false, "\"a\\x{20}b\"@x.test"},
      {"bad\xff@x.test", true, "bad\\x{FFFD}@x.test"},
  };
  for (auto& c : cases) EXPECT_EQ(utf8_address(c.in, c.unicode), c.expect) << c.in;
}

TEST(DsnHelpersTest, Xtext) {
  EXPECT_EQ(smtp::xtext_encode("abc"), "abc");
  EXPECT_EQ(smtp::xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
  EXPECT_EQ(smtp::xtext_encode("\r\n\xc3"), "+0D+0A+C3");
}

// --- line lengths, folding, injection ----------------------------------------------------------

TEST(DsnHelpersTest, FoldField) {
  EXPECT_EQ(fold_field("Action", "failed"), "Action: failed\r\n");
  std::string words;
  for (int i = 0; i < 100; ++i) words += (i ? " word" : "word") + std::to_string(i);
  std::string folded = fold_field("Diagnostic-Code", "smtp; " + words);
  for (auto& line : lines_of(folded)) EXPECT_LE(line.size(), 78u) << line;
  // Unfolding (remove CRLF) gives back the value.
  std::string unfolded;
  for (std::size_t i = 0; i < folded.size(); ++i) {
    if (folded.compare(i, 2, "\r\n") == 0)
      ++i;
    else
      unfolded += folded[i];
  }
  EXPECT_EQ(unfolded, "Diagnostic-Code: smtp; " + words);

  std::string unbroken(2500, 'z');
  folded = fold_field("Diagnostic-Code", "smtp; " + unbroken);
  auto lines = lines_of(folded);
  ASSERT_GE(lines.size(), 3u);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_LE(lines[i].size(), 998u);
    if (i > 0) {
      EXPECT_EQ(lines[i][0], ' ');
    }
  }
}

TEST(DsnBuildTest, LongDiagnosticsAreFoldedWithin998) {
  std::string spaced;
  while (spaced.size() < 5000) spaced += "the server said something rather long ";
  const std::vector<std::string> diagnostics = {
      "550 5.7.1 " + spaced,
      "550 5.7.1 " + std::string(3000, 'q'),
      "550-5.7.1 first line\r\n550-5.7.1 second line\r\n550 5.7.1 third line",
  };
  for (auto& d : diagnostics) {
    Dsn dsn = build(envelope(), {failed(0, "5.7.1", d)});
    expect_wire_form(dsn.text);
    auto p = parse(dsn.text);
    for (auto& line : lines_of(p.parts[0].body)) EXPECT_LE(line.size(), 78u) << line.substr(0, 60);
  }
  Dsn dsn = build(envelope(), {failed(0, "5.7.1", diagnostics[2])});
  auto blocks = status_blocks(parse(dsn.text).parts[1].body);
  EXPECT_EQ(blocks[1].get("Diagnostic-Code"), "smtp; 550 5.7.1 first line second line third line");
}

TEST(DsnBuildTest, MultiLineRepliesBecomeOneLine) {
  struct Case {
    std::string reply;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"550 5.1.1 no such user", "550 5.1.1 no such user"},
      {"550-5.1.1 no such\r\n550 5.1.1 user", "550 5.1.1 no such user"},
      {"550-5.1.1 a\n550-5.1.1 b\n550 5.1.1 c", "550 5.1.1 a b c"},
      {"554-mx.example ESMTP\r\n554 go away", "554 mx.example ESMTP go away"},
      {"550-5.7.1 one\r\n550-\r\n550 5.7.1", "550 5.7.1 one"},
      {"450-4.2.0 first\r\n451 4.3.0 other code", "450 4.2.0 first 451 4.3.0 other code"},
      {"not a reply\r\nsecond", "not a reply second"},
  };
  for (auto& c : cases) {
    Dsn dsn = build(envelope(), {failed(0, "5.1.1", c.reply)});
    auto blocks = status_blocks(parse(dsn.text).parts[1].body);
    EXPECT_EQ(blocks[1].get("Diagnostic-Code"), "smtp; " + c.expect) << c.reply;
  }
  ReportEntry local = failed(0, "5.1.1", "550-5.1.1 a\r\n550 5.1.1 b");
  local.diagnostic_source = ReportEntry::Source::local;
  auto blocks = status_blocks(parse(build(envelope(), {local}).text).parts[1].body);
  EXPECT_EQ(blocks[1].get("Diagnostic-Code"), "X-Tern; 550-5.1.1 a 550 5.1.1 b");
}

TEST(DsnBuildTest, UntrustedTextCannotAddFieldsOrParts) {
  ReportEntry e = failed(0, "5.1.1", "550 no\r\nBcc: evil@example.com\r\n\r\n--x--");
  e.remote_mta = "mx.example.net\r\nX-Evil: 1";
  Dsn dsn = build(envelope(), {e});
  expect_wire_form(dsn.text);
  for (auto& line : lines_of(dsn.text)) {
    EXPECT_FALSE(line.starts_with("Bcc:")) << line;
    EXPECT_FALSE(line.starts_with("X-Evil:")) << line;
  }
  EXPECT_EQ(parse(dsn.text).parts.size(), 3u);
}

TEST(DsnBuildTest, BoundaryNeverOccursInTheParts) {
  Options o = options();
  o.unique = [] { return std::string("SAME"); };  // a token source that repeats itself
  std::string message = "Subject: trap\r\n\r\n--ABCDEFGHIJKLMNOP.SAME/mx.tern.test\r\n";
  Dsn dsn = build(envelope(), {failed(0)}, message, o);
  expect_wire_form(dsn.text);
  Parsed p = parse(dsn.text);
  EXPECT_NE(p.boundary, "ABCDEFGHIJKLMNOP.SAME/mx.tern.test");
  ASSERT_EQ(p.parts.size(), 3u);
  EXPECT_NE(p.parts[2].body.find("--ABCDEFGHIJKLMNOP.SAME/mx.tern.test"), std::string::npos);
  EXPECT_LE(p.boundary.size(), 70u);

  Options long_host = options();
  long_host.hostname = std::string(60, 'h') + ".example";
  EXPECT_LE(parse(build(envelope(), {failed(0)}, original, long_host).text).boundary.size(), 70u);
}

TEST(DsnBuildTest, DefaultTokenSource) {
  Options o = options();
  o.unique = nullptr;  // make_queue_id()
  Dsn a = build(envelope(), {failed(0)}, original, o);
  Dsn b = build(envelope(), {failed(0)}, original, o);
  EXPECT_NE(parse(a.text).top.get("Message-ID"), parse(b.text).top.get("Message-ID"));
}

// --- a real parser ---------------------------------------------------------------------------

// Python's email package reads the report as a MUA would: multipart/report with
// report-type=delivery-status, message/delivery-status parsed into header blocks.
constexpr const char* python_check = R"PY(
import sys, email
from email import policy
with open(sys.argv[1], 'rb') as f:
    m = email.message_from_binary_file(f, policy=policy.compat32)
assert m.is_multipart(), 'not multipart'
assert m.get_content_type() == 'multipart/report', m.get_content_type()
assert m.get_param('report-type') == 'delivery-status', m.get_param('report-type')
assert m['Auto-Submitted'] == 'auto-replied'
parts = m.get_payload()
assert len(parts) == 3, len(parts)
assert parts[0].get_content_type() == 'text/plain'
assert 'This is the mail system at host mx.tern.test.' in parts[0].get_payload()
ds = parts[1]
assert ds.get_content_type() == 'message/delivery-status', ds.get_content_type()
blocks = ds.get_payload()
assert isinstance(blocks, list), type(blocks)
assert blocks[0]['Reporting-MTA'] == 'dns; mx.tern.test', blocks[0]['Reporting-MTA']
assert blocks[0]['Original-Envelope-Id'] == 'QQ314159'
rcpts = [b for b in blocks[1:] if b['Final-Recipient']]
assert len(rcpts) == 2, [dict(b) for b in blocks]
assert rcpts[0]['Final-Recipient'] == 'rfc822; bob@example.net'
assert rcpts[0]['Original-Recipient'] == 'rfc822; bob.alias@example.net'
assert rcpts[0]['Action'] == 'failed'
assert rcpts[0]['Status'] == '5.1.1'
diag = ' '.join(rcpts[0]['Diagnostic-Code'].split())
assert diag.startswith('smtp; 550 5.1.1 <bob@example.net>: no such user'), diag
assert rcpts[1]['Final-Recipient'] == 'rfc822; carol@example.net'
assert rcpts[1]['Status'] == '5.2.2'
ret = parts[2]
assert ret.get_content_type() == 'message/rfc822', ret.get_content_type()
inner = ret.get_payload()[0]
assert inner['Subject'] == 'lunch', inner['Subject']
assert inner['Message-ID'] == '<m1@example.org>'
print('ok')
)PY";

TEST(DsnPythonTest, EmailPackageParsesTheReport) {
  const char* python = "/usr/bin/python3";
  if (!std::filesystem::exists(python)) GTEST_SKIP() << "no " << python;
  spool::Envelope env = envelope();
  env.envid = "QQ314159";
  env.recipients[0].orcpt = "rfc822;bob.alias@example.net";
  std::string words;
  for (int i = 0; i < 60; ++i) words += " and more detail " + std::to_string(i);
  std::vector<ReportEntry> entries = {
      failed(0, "5.1.1", "550 5.1.1 <bob@example.net>: no such user" + words),
      failed(1, "5.2.2", "552 5.2.2 mailbox full")};
  Dsn dsn = build(env, entries);

  auto dir =
      std::filesystem::temp_directory_path() / ("tern-dsn-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto message_path = dir / "dsn.eml";
  auto script_path = dir / "check.py";
  std::ofstream(message_path, std::ios::binary) << dsn.text;
  std::ofstream(script_path) << python_check;
  std::string command =
      std::string(python) + " " + script_path.string() + " " + message_path.string() + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[512];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
  int status = ::pclose(pipe);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(status, 0) << output << "\n" << dsn.text;
  EXPECT_EQ(output, "ok\n");
}

}  // namespace
}  // namespace tern::bounce
