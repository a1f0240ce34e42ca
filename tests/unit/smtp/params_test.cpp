// Table-driven tests for MAIL/RCPT/BDAT arguments: paths, SIZE, BODY, SMTPUTF8, the DSN
// parameters (RFC 3461 NOTIFY, ORCPT, RET, ENVID; RFC 6533 utf-8 ORCPT), AUTH=, xtext.
#include "smtp/params.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tern::smtp {
namespace {

// The reply a row expects: 0 means success.
struct Expected {
  int code = 0;
  std::string enhanced;
};
const Expected ok{};
const Expected e501_2{501, "5.5.2"};
const Expected e501_4{501, "5.5.4"};
const Expected e553_sender{553, "5.1.7"};
const Expected e553_rcpt{553, "5.1.3"};
const Expected e553_utf8{553, "5.6.7"};
const Expected e555{555, "5.5.4"};

template <class T>
void check(const Result<T, Reply>& r, const Expected& e) {
  if (e.code == 0) {
    ASSERT_TRUE(r.ok()) << r.error().log_text();
    return;
  }
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, e.code) << r.error().log_text();
  EXPECT_EQ(r.error().enhanced, e.enhanced) << r.error().log_text();
  EXPECT_FALSE(r.error().text.empty());
}

Extensions all_offered() {
  Extensions ext;
  ext.auth = true;
  return ext;
}

TEST(ParamsTest, MailTable) {
  struct Case {
    std::string arg;
    Expected expect;
  };
  const std::string envid100(100, 'e');
  const std::vector<Case> cases = {
      {"FROM:<a@b.example>", ok},
      {"from:<a@b.example>", ok},
      {"From:<a@b.example>", ok},
      {"FROM: <a@b.example>", ok},  // common client habit, tolerated
      {"FROM:<>", ok},
      {"FROM: <>", ok},
      {"FROM:  <a@b.example>", e501_2},
      {"FROM:a@b.example", e501_2},
      {"FROM:", e501_2},
      {"FROM<a@b.example>", e501_2},
      {"FROM :<a@b.example>", e501_2},
      {"TO:<a@b.example>", e501_2},
      {"", e501_2},
      {"FROM:<a@b.example>x", e501_2},
      {"FROM:<a@b.example", e553_sender},
      {"FROM:<a@@b.example>", e553_sender},
      {"FROM:<a@b.example.>", e553_sender},
      {"FROM:<postmaster>", e553_sender},  // the bare form is for RCPT only
      {"FROM:<" + std::string(65, 'l') + "@b.example>", e553_sender},
      {"FROM:<a@b.example> SIZE=123", ok},
      {"FROM:<a@b.example> size=123", ok},
      {"FROM:<a@b.example> SIZE=0", ok},
      {"FROM:<a@b.example> SIZE=12a", e501_4},
      {"FROM:<a@b.example> SIZE=-1", e501_4},
      {"FROM:<a@b.example> SIZE=", e501_4},
      {"FROM:<a@b.example> SIZE", e501_4},
      {"FROM:<a@b.example> SIZE=123456789012345678901", e501_4},  // 21 digits
      {"FROM:<a@b.example> SIZE=1 SIZE=2", e501_4},
      {"FROM:<a@b.example> SIZE=1 size=1", e501_4},
      {"FROM:<a@b.example> BODY=8BITMIME", ok},
      {"FROM:<a@b.example> BODY=7bit", ok},
      {"FROM:<a@b.example> BODY=BINARYMIME", e555},
      {"FROM:<a@b.example> BODY=9BIT", e501_4},
      {"FROM:<a@b.example> BODY", e501_4},
      {"FROM:<a@b.example> SMTPUTF8", ok},
      {"FROM:<a@b.example> smtputf8", ok},
      {"FROM:<a@b.example> SMTPUTF8=yes", e501_4},
      {"FROM:<a@b.example> RET=HDRS", ok},
      {"FROM:<a@b.example> RET=full", ok},
      {"FROM:<a@b.example> RET=NONE", e501_4},
      {"FROM:<a@b.example> RET=FULL RET=HDRS", e501_4},
      {"FROM:<a@b.example> ENVID=x+2By", ok},
      {"FROM:<a@b.example> ENVID=" + envid100, ok},
      {"FROM:<a@b.example> ENVID=" + envid100 + "e", e501_4},
      {"FROM:<a@b.example> ENVID=", e501_4},
      {"FROM:<a@b.example> ENVID=a+2", e501_4},
      {"FROM:<a@b.example> ENVID=a+ZZ", e501_4},
      {"FROM:<a@b.example> ENVID=a+0D+0Ab", e501_4},  // decodes to CR LF: header injection
      {"FROM:<a@b.example> ENVID=a+00", e501_4},
      {"FROM:<a@b.example> ENVID=é", e501_4},  // xtext is ASCII
      {"FROM:<a@b.example> AUTH=<>", ok},
      {"FROM:<a@b.example> AUTH=a+40b.example", ok},
      {"FROM:<a@b.example> AUTH=a+0Ab", e501_4},
      {"FROM:<a@b.example> FOO=bar", e555},
      {"FROM:<a@b.example> X-FOO", e555},
      {"FROM:<a@b.example> NOTIFY=NEVER", e555},  // an RCPT parameter
      {"FROM:<a@b.example> =x", e501_4},
      {"FROM:<a@b.example> -X", e501_4},
      {"FROM:<a@b.example> A_B=1", e501_4},
      {"FROM:<a@b.example> SIZE=1=2", e501_4},
      {"FROM:<a@b.example> SIZE=1\r", e501_4},
      {"FROM:<a@b.example> SIZE=1  BODY=7BIT", ok},  // runs of SP tolerated
      {"FROM:<a@b.example> SIZE=1 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x+2By", ok},
      // RFC 6531: UTF-8 addresses need SMTPUTF8.
      {"FROM:<ü@b.example>", e553_utf8},
      {"FROM:<a@bücher.example>", e553_utf8},
      {"FROM:<ü@b.example> SMTPUTF8", ok},
      {"FROM:<a@bücher.example> SMTPUTF8 BODY=8BITMIME", ok},
      {"FROM:<ü@b.example> FOO", e555},
      {"FROM:<\xC3@b.example> SMTPUTF8", e553_sender},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.arg);
    check(parse_mail(c.arg, all_offered()), c.expect);
  }
}

TEST(ParamsTest, MailValues) {
  auto r = parse_mail(
      "FROM:<Joe@Example.ORG> SIZE=123 BODY=8BITMIME SMTPUTF8 RET=HDRS "
      "ENVID=x+2By AUTH=joe+40example.org",
      all_offered());
  ASSERT_TRUE(r.ok()) << r.error().log_text();
  EXPECT_EQ(r->sender.local, "Joe");
  EXPECT_EQ(r->sender.domain, "example.org");
  ASSERT_TRUE(r->size.has_value());
  EXPECT_EQ(*r->size, 123u);
  EXPECT_EQ(r->body, Body::eight_bit_mime);
  EXPECT_TRUE(r->smtputf8);
  EXPECT_EQ(r->ret, Ret::hdrs);
  EXPECT_EQ(r->envid, "x+y");
  ASSERT_TRUE(r->auth.has_value());
  EXPECT_EQ(*r->auth, "joe@example.org");

  r = parse_mail("FROM:<>", all_offered());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->sender.null());
  EXPECT_FALSE(r->size.has_value());
  EXPECT_EQ(r->body, Body::unspecified);
  EXPECT_FALSE(r->smtputf8);
  EXPECT_EQ(r->ret, Ret::unspecified);
  EXPECT_TRUE(r->envid.empty());
  EXPECT_FALSE(r->auth.has_value());

  r = parse_mail("FROM:<a@b.example> BODY=7BIT RET=FULL", all_offered());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, Body::seven_bit);
  EXPECT_EQ(r->ret, Ret::full);

  // 20 digits past 2^64-1 saturate: certainly over any limit, answered with 552 later.
  r = parse_mail("FROM:<a@b.example> SIZE=99999999999999999999", all_offered());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->size, UINT64_MAX);
  r = parse_mail("FROM:<a@b.example> SIZE=18446744073709551615", all_offered());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->size, UINT64_MAX);
  r = parse_mail("FROM:<a@b.example> SIZE=00000000000000000001", all_offered());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->size, 1u);
}

// A parameter of an extension the session did not advertise is 555 (RFC 5321 §4.1.1.11).
TEST(ParamsTest, MailExtensionsNotOffered) {
  struct Case {
    std::string param;
    bool Extensions::*flag;
  };
  const std::vector<Case> cases = {
      {"SIZE=1", &Extensions::size},
      {"BODY=8BITMIME", &Extensions::eight_bit_mime},
      {"BODY=7BIT", &Extensions::eight_bit_mime},
      {"SMTPUTF8", &Extensions::smtputf8},
      {"RET=FULL", &Extensions::dsn},
      {"ENVID=x", &Extensions::dsn},
      {"AUTH=<>", &Extensions::auth},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.param);
    Extensions ext = all_offered();
    check(parse_mail("FROM:<a@b.example> " + c.param, ext), ok);
    ext.*(c.flag) = false;
    check(parse_mail("FROM:<a@b.example> " + c.param, ext), e555);
  }
  EXPECT_FALSE(Extensions{}.auth);  // off unless the session offers AUTH
}

TEST(ParamsTest, RcptTable) {
  struct Case {
    std::string arg;
    bool smtputf8;
    Expected expect;
  };
  const std::string orcpt_max = "rfc822;" + std::string(500 - 7, 'o');
  const std::vector<Case> cases = {
      {"TO:<u@d.example>", false, ok},
      {"to:<u@d.example>", false, ok},
      {"TO: <u@d.example>", false, ok},
      {"TO:<postmaster>", false, ok},
      {"TO:<Postmaster>", false, ok},
      {"TO:<POSTMASTER>", false, ok},
      {"TO:<postmaster@d.example>", false, ok},
      {"TO:<@a.example:u@d.example>", false, ok},
      {"TO:<>", false, e553_rcpt},
      {"TO:<user>", false, e553_rcpt},
      {"TO:<u@d.example", false, e553_rcpt},
      {"TO:<u@[300.0.0.1]>", false, e553_rcpt},
      {"TO:u@d.example", false, e501_2},
      {"FROM:<u@d.example>", false, e501_2},
      {"TO:<u@d.example>x", false, e501_2},
      {"TO:", false, e501_2},
      {"", false, e501_2},
      {"TO:<ü@d.example>", false, e553_utf8},
      {"TO:<ü@d.example>", true, ok},
      {"TO:<u@bücher.example>", false, e553_utf8},
      {"TO:<u@bücher.example>", true, ok},
      // NOTIFY (RFC 3461 §4.1).
      {"TO:<u@d.example> NOTIFY=SUCCESS,FAILURE", false, ok},
      {"TO:<u@d.example> notify=success,failure,delay", false, ok},
      {"TO:<u@d.example> NOTIFY=NEVER", false, ok},
      {"TO:<u@d.example> NOTIFY=never", false, ok},
      {"TO:<u@d.example> NOTIFY=DELAY", false, ok},
      {"TO:<u@d.example> NOTIFY=SUCCESS,SUCCESS", false, ok},
      {"TO:<u@d.example> NOTIFY=NEVER,SUCCESS", false, e501_4},
      {"TO:<u@d.example> NOTIFY=SUCCESS,NEVER", false, e501_4},
      {"TO:<u@d.example> NOTIFY=NEVER,NEVER", false, ok},
      {"TO:<u@d.example> NOTIFY=", false, e501_4},
      {"TO:<u@d.example> NOTIFY", false, e501_4},
      {"TO:<u@d.example> NOTIFY=SUCCESS,", false, e501_4},
      {"TO:<u@d.example> NOTIFY=,SUCCESS", false, e501_4},
      {"TO:<u@d.example> NOTIFY=SUCCESS,,FAILURE", false, e501_4},
      {"TO:<u@d.example> NOTIFY=BOGUS", false, e501_4},
      {"TO:<u@d.example> NOTIFY=SUCCESS NOTIFY=FAILURE", false, e501_4},
      // ORCPT (RFC 3461 §4.2, RFC 6533 §3).
      {"TO:<u@d.example> ORCPT=rfc822;u+40d.example", false, ok},
      {"TO:<u@d.example> ORCPT=RFC822;u@d.example", false, ok},
      {"TO:<u@d.example> ORCPT=" + orcpt_max, false, ok},
      {"TO:<u@d.example> ORCPT=" + orcpt_max + "o", false, e501_4},
      {"TO:<u@d.example> ORCPT=x400;u", false, e501_4},
      {"TO:<u@d.example> ORCPT=rfc822", false, e501_4},
      {"TO:<u@d.example> ORCPT=rfc822;", false, e501_4},
      {"TO:<u@d.example> ORCPT=;u@d.example", false, e501_4},
      {"TO:<u@d.example> ORCPT=rfc822;u+0D+0AX-Evil:+201", false, e501_4},
      {"TO:<u@d.example> ORCPT=rfc822;u+4", false, e501_4},
      {"TO:<u@d.example> ORCPT=rfc822;ü@d.example", true, e501_4},
      {"TO:<u@d.example> ORCPT=utf-8;u\\x{E9}@d.example", false, ok},
      {"TO:<u@d.example> ORCPT=UTF-8;u@d.example", false, ok},
      {"TO:<u@d.example> ORCPT=utf-8;ü@d.example", true, ok},
      {"TO:<u@d.example> ORCPT=utf-8;ü@d.example", false, e501_4},
      {"TO:<u@d.example> ORCPT=utf-8;u\\x{D800}@d.example", false, e501_4},
      {"TO:<u@d.example> ORCPT=utf-8;u\\x{110000}@d.example", false, e501_4},
      {"TO:<u@d.example> ORCPT=utf-8;u\\x{0A}@d.example", false, e501_4},
      {"TO:<u@d.example> ORCPT=utf-8;u\\x{E}@d.example", false, e501_4},
      {"TO:<u@d.example> ORCPT=utf-8;u\\x{E9@d.example", false, e501_4},
      {"TO:<u@d.example> ORCPT=utf-8;u\\y@d.example", false, e501_4},
      {"TO:<u@d.example> ORCPT=utf-8;u+40d.example", false, e501_4},
      {"TO:<u@d.example> ORCPT=utf-8;\xC3@d.example", true, e501_4},
      {"TO:<u@d.example> ORCPT=rfc822;a ORCPT=rfc822;b", false, e501_4},
      {"TO:<u@d.example> NOTIFY=SUCCESS ORCPT=rfc822;u+40d.example", false, ok},
      // Parameters that belong elsewhere, or nowhere.
      {"TO:<u@d.example> SIZE=1", false, e555},
      {"TO:<u@d.example> BODY=7BIT", false, e555},
      {"TO:<u@d.example> FOO", false, e555},
      {"TO:<u@d.example> =", false, e501_4},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.arg);
    check(parse_rcpt(c.arg, all_offered(), c.smtputf8), c.expect);
  }
}

TEST(ParamsTest, RcptValues) {
  auto r = parse_rcpt("TO:<u@d.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u+40d", {}, false);
  ASSERT_TRUE(r.ok()) << r.error().log_text();
  EXPECT_EQ(r->recipient.text(), "u@d.example");
  EXPECT_EQ(r->notify, notify_success | notify_failure);
  EXPECT_EQ(r->orcpt_type, "rfc822");
  EXPECT_EQ(r->orcpt, "u@d");

  r = parse_rcpt("TO:<u@d.example> NOTIFY=delay,Success,FAILURE", {}, false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->notify, notify_success | notify_failure | notify_delay);

  r = parse_rcpt("TO:<u@d.example> NOTIFY=NEVER", {}, false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->notify, notify_never);

  r = parse_rcpt("TO:<u@d.example>", {}, false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->notify, 0);
  EXPECT_TRUE(r->orcpt.empty());
  EXPECT_TRUE(r->orcpt_type.empty());

  r = parse_rcpt("TO:<u@d.example> ORCPT=UTF-8;u\\x{E9}\\x{1F600}@d.example", {}, false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->orcpt_type, "utf-8");
  EXPECT_EQ(r->orcpt, "u\xC3\xA9\xF0\x9F\x98\x80@d.example");

  // RFC 5321 §4.1.1.3: the bare postmaster, local "postmaster" and no domain.
  r = parse_rcpt("TO:<PostMaster>", {}, false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->recipient.local, "postmaster");
  EXPECT_TRUE(r->recipient.domain.empty());
  EXPECT_TRUE(r->recipient.domain_ascii.empty());
  EXPECT_FALSE(r->recipient.null());

  r = parse_rcpt("TO:<u@bücher.example>", {}, true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->recipient.domain_ascii, "xn--bcher-kva.example");
}

TEST(ParamsTest, RcptDsnNotOffered) {
  Extensions ext = all_offered();
  ext.dsn = false;
  check(parse_rcpt("TO:<u@d.example> NOTIFY=NEVER", ext, false), e555);
  check(parse_rcpt("TO:<u@d.example> ORCPT=rfc822;u+40d", ext, false), e555);
  check(parse_rcpt("TO:<u@d.example>", ext, false), ok);
}

TEST(ParamsTest, BdatTable) {
  struct Case {
    std::string arg;
    bool ok;
    std::uint64_t size;
    bool last;
  };
  const std::vector<Case> cases = {
      {"1000", true, 1000, false},
      {"1000 LAST", true, 1000, true},
      {"1000 last", true, 1000, true},
      {"0 LAST", true, 0, true},
      {"0", true, 0, false},
      {"007", true, 7, false},
      {"18446744073709551615", true, UINT64_MAX, false},
      {"18446744073709551616", false, 0, false},   // overflow
      {"99999999999999999999", false, 0, false},   // overflow
      {"000000000000000000001", false, 0, false},  // 21 digits
      {"", false, 0, false},
      {"LAST", false, 0, false},
      {" 1000", false, 0, false},
      {"1000  LAST", false, 0, false},
      {"1000 LASTX", false, 0, false},
      {"1000 LAS", false, 0, false},
      {"1000 LAST extra", false, 0, false},
      {"1000LAST", false, 0, false},
      {"-1", false, 0, false},
      {"+1", false, 0, false},
      {"12a", false, 0, false},
      {"1e3", false, 0, false},
      {"1000\tLAST", false, 0, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.arg);
    auto r = parse_bdat(c.arg);
    if (!c.ok) {
      check(r, e501_4);
      continue;
    }
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->size, c.size);
    EXPECT_EQ(r->last, c.last);
  }
}

TEST(ParamsTest, XtextDecodeTable) {
  struct Case {
    std::string in;
    std::optional<std::string> out;
  };
  const std::vector<Case> cases = {
      {"", ""},
      {"abc", "abc"},
      {"x+2By", "x+y"},
      {"u+40d.example", "u@d.example"},
      {"+2B+3D", "+="},
      {"+2b", "+"},  // lower-case hex tolerated
      {"+20", " "},
      {"+00", std::string(1, '\0')},
      {"!~", "!~"},
      {"a+", std::nullopt},
      {"a+2", std::nullopt},
      {"a+G0", std::nullopt},
      {"a=b", std::nullopt},
      {"a b", std::nullopt},
      {"a\x7f", std::nullopt},
      {"\xC3\xA9", std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    EXPECT_EQ(xtext_decode(c.in), c.out);
  }
}

TEST(ParamsTest, XtextEncodeRoundTrip) {
  EXPECT_EQ(xtext_encode("u@d.example"), "u@d.example");
  EXPECT_EQ(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
  EXPECT_EQ(xtext_encode("\r\n"), "+0D+0A");
  EXPECT_EQ(xtext_encode("é"), "+C3+A9");
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  std::string encoded = xtext_encode(all);
  for (unsigned char ch : encoded) EXPECT_TRUE(ch >= 33 && ch <= 126 && ch != '=');
  EXPECT_EQ(xtext_decode(encoded), all);
}

}  // namespace
}  // namespace tern::smtp
