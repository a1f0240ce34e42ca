// MAIL FROM / RCPT TO / BDAT argument parsing. Grammar: RFC 5321 §4.1.2 (Mail-parameters =
// esmtp-param *(SP esmtp-param); esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-");
// esmtp-value = 1*(%d33-60 / %d62-126), RFC 6531 §3.3 adds UTF-8). Each parameter is a row
// of a table: its keyword, the extension that must have been advertised, and a handler.
// Input is untrusted; every reply text echoes only octets that were validated first.
#include "smtp/params.hpp"

#include <array>

namespace tern::smtp {
namespace {

// RFC 1870 §3: size-value ::= 1*20DIGIT.
constexpr std::size_t max_size_digits = 20;
// RFC 3030 §2: chunk-size is 1*DIGIT; 20 digits are all a 64-bit count can use.
constexpr std::size_t max_bdat_digits = 20;
// RFC 3461 §4.4: "the ENVID ... MUST NOT exceed 100 characters" (as sent, xtext).
constexpr std::size_t max_envid = 100;
// RFC 3461 §4.2: the ORCPT parameter value is at most 500 characters.
constexpr std::size_t max_orcpt = 500;

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (upper(a[i]) != upper(b[i])) return false;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (upper(c) >= 'A' && upper(c) <= 'Z'); }

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  char u = upper(c);
  if (u >= 'A' && u <= 'F') return u - 'A' + 10;
  return -1;
}

// True when every octet is printable: no C0 control, no DEL. Decoded ENVID/ORCPT/AUTH go
// into DSN header fields (RFC 3464 §2.2.1, §2.3.2): a CR or LF there would forge fields.
bool printable(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7F) return false;
  return true;
}

Reply syntax(std::string_view text) { return {501, "5.5.2", std::string(text)}; }
Reply bad_value(std::string_view text) { return {501, "5.5.4", std::string(text)}; }
Reply unsupported(std::string_view keyword) {
  return {555, "5.5.4",
          "Parameter " + std::string(keyword) +
              " is not supported here; send the command "
              "without it"};
}

Reply bad_address(mail::AddressError e, bool sender) {
  std::string who = sender ? "Sender" : "Recipient";
  std::string enhanced = sender ? "5.1.7" : "5.1.3";
  switch (e) {
    case mail::AddressError::too_long:
      return {553, enhanced,
              who +
                  " address too long: RFC 5321 allows 64 octets of local part, 255 of "
                  "domain, 256 in all"};
    case mail::AddressError::utf8_not_allowed:
      break;
    case mail::AddressError::syntax:
      return {553, enhanced,
              who +
                  " address syntax is invalid; expected <local-part@domain> as in "
                  "RFC 5321 section 4.1.2"};
  }
  return {553, "5.6.7",
          who +
              " address contains UTF-8, which needs the SMTPUTF8 parameter on MAIL FROM "
              "(RFC 6531)"};
}

// Decodes xtext (RFC 3461 §4: xchar = %d33-126 except '+' and '='; hexchar = "+" 2HEX).
std::optional<std::string> decode_xtext(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      if (in.size() - i < 3) return std::nullopt;
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c >= 33 && c <= 126 && c != '=') {
      out.push_back(c);
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// Appends code point `cp` as UTF-8.
void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Decodes the RFC 6533 §3 utf-8 address forms: utf-8-addr-xtext (ASCII, non-ASCII and
// '+', '=', '\' as "\x{HEX}") and, under SMTPUTF8, utf-8-addr-unitext (raw UTF-8 too).
std::optional<std::string> decode_utf8_addr(std::string_view in, bool allow_raw_utf8) {
  // RFC 6533 §3: HEXPOINT is 2 to 6 hex digits.
  constexpr std::size_t min_hexpoint = 2, max_hexpoint = 6;
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (c == '\\') {
      if (in.substr(i, 3) != "\\x{") return std::nullopt;
      std::size_t j = i + 3;
      std::uint32_t cp = 0;
      while (j < in.size() && hex_value(in[j]) >= 0 && j - (i + 3) < max_hexpoint)
        cp = cp * 16 + static_cast<std::uint32_t>(hex_value(in[j++]));
      std::size_t digits = j - (i + 3);
      if (digits < min_hexpoint || j >= in.size() || in[j] != '}') return std::nullopt;
      if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
      append_utf8(out, cp);
      i = j;
    } else if (c >= 33 && c <= 126 && c != '+' && c != '=') {
      out.push_back(static_cast<char>(c));
    } else if (c >= 0x80 && allow_raw_utf8) {
      out.push_back(static_cast<char>(c));  // checked as a whole below
    } else {
      return std::nullopt;
    }
  }
  if (!mail::valid_utf8(out)) return std::nullopt;
  return out;
}

// One "keyword[=value]" of the parameter list.
struct Param {
  std::string_view keyword;
  std::string_view value;
  bool has_value = false;
};

// Splits `in` at the next parameter; `in` keeps the rest. Runs of SP are tolerated.
Result<Param, Reply> next_param(std::string_view& in) {
  while (!in.empty() && in.front() == ' ') in.remove_prefix(1);
  std::size_t sp = in.find(' ');
  std::string_view token = in.substr(0, sp);
  in.remove_prefix(token.size());
  Param p;
  std::size_t eq = token.find('=');
  p.keyword = token.substr(0, eq);
  if (p.keyword.empty() || !is_alnum(p.keyword.front()))
    return fail(bad_value("Invalid parameter syntax; expected KEYWORD or KEYWORD=value"));
  for (char c : p.keyword)
    if (!is_alnum(c) && c != '-')
      return fail(bad_value("Invalid parameter syntax; expected KEYWORD or KEYWORD=value"));
  if (eq != std::string_view::npos) {
    p.has_value = true;
    p.value = token.substr(eq + 1);
    if (p.value.empty())
      return fail(bad_value("Parameter " + std::string(p.keyword) + "= has an empty value"));
    for (unsigned char c : p.value)
      if (c < 33 || c == '=' || c == 127)
        return fail(bad_value("Parameter " + std::string(p.keyword) +
                              " has a value with invalid characters"));
  }
  return p;
}

using Check = std::optional<Reply>;  // nullopt: the parameter was applied

Check need_value(const Param& p) {
  if (p.has_value) return std::nullopt;
  return bad_value("Parameter " + std::string(p.keyword) + " needs a value");
}

// --- MAIL parameters -------------------------------------------------------------------

Check mail_size(const Param& p, MailCommand& cmd, bool) {
  if (auto e = need_value(p)) return e;
  if (p.value.size() > max_size_digits)
    return bad_value("SIZE value is too long; at most 20 digits (RFC 1870)");
  std::uint64_t n = 0;
  for (char c : p.value) {
    if (!is_digit(c)) return bad_value("SIZE value must be a number of octets (RFC 1870)");
    auto d = static_cast<std::uint64_t>(c - '0');
    n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;  // saturate: certainly too big
  }
  cmd.size = n;
  return std::nullopt;
}

Check mail_body(const Param& p, MailCommand& cmd, bool) {
  if (auto e = need_value(p)) return e;
  if (iequals(p.value, "7BIT")) {
    cmd.body = Body::seven_bit;
  } else if (iequals(p.value, "8BITMIME")) {
    cmd.body = Body::eight_bit_mime;
  } else if (iequals(p.value, "BINARYMIME")) {
    // RFC 3030 §3: only when BINARYMIME is advertised, and we do not advertise it.
    return Reply{555, "5.5.4", "BODY=BINARYMIME is not supported here; send 8BITMIME or 7BIT"};
  } else {
    return bad_value("BODY must be 7BIT or 8BITMIME (RFC 6152)");
  }
  return std::nullopt;
}

Check mail_smtputf8(const Param& p, MailCommand& cmd, bool) {
  if (p.has_value) return bad_value("SMTPUTF8 takes no value (RFC 6531 section 3.4)");
  cmd.smtputf8 = true;
  return std::nullopt;
}

Check mail_ret(const Param& p, MailCommand& cmd, bool) {
  if (auto e = need_value(p)) return e;
  if (iequals(p.value, "FULL"))
    cmd.ret = Ret::full;
  else if (iequals(p.value, "HDRS"))
    cmd.ret = Ret::hdrs;
  else
    return bad_value("RET must be FULL or HDRS (RFC 3461 section 4.3)");
  return std::nullopt;
}

Check mail_envid(const Param& p, MailCommand& cmd, bool) {
  if (auto e = need_value(p)) return e;
  if (p.value.size() > max_envid)
    return bad_value("ENVID is longer than 100 characters (RFC 3461 section 4.4)");
  auto v = decode_xtext(p.value);
  if (!v || !printable(*v)) return bad_value("ENVID is not valid xtext (RFC 3461 section 4)");
  cmd.envid = std::move(*v);
  return std::nullopt;
}

Check mail_auth(const Param& p, MailCommand& cmd, bool) {
  if (auto e = need_value(p)) return e;
  auto v = decode_xtext(p.value);
  if (!v || !printable(*v)) return bad_value("AUTH= is not valid xtext (RFC 4954 section 5)");
  cmd.auth = std::move(*v);
  return std::nullopt;
}

// --- RCPT parameters -------------------------------------------------------------------

Check rcpt_notify(const Param& p, RcptCommand& cmd, bool) {
  if (auto e = need_value(p)) return e;
  struct Word {
    std::string_view name;
    Notify bit;
  };
  constexpr std::array<Word, 4> words{{{"NEVER", notify_never},
                                       {"SUCCESS", notify_success},
                                       {"FAILURE", notify_failure},
                                       {"DELAY", notify_delay}}};
  std::uint8_t bits = 0;
  std::string_view rest = p.value;
  while (true) {
    std::size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    bool known = false;
    for (const Word& w : words) {
      if (iequals(item, w.name)) {
        bits |= w.bit;
        known = true;
      }
    }
    if (!known)
      return bad_value("NOTIFY takes NEVER, or SUCCESS, FAILURE, DELAY separated by commas");
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  // RFC 3461 §4.1: "NEVER" must not appear with any other value.
  if ((bits & notify_never) && bits != notify_never)
    return bad_value("NOTIFY=NEVER cannot be combined with other values (RFC 3461 section 4.1)");
  cmd.notify = bits;
  return std::nullopt;
}

Check rcpt_orcpt(const Param& p, RcptCommand& cmd, bool smtputf8) {
  if (auto e = need_value(p)) return e;
  if (p.value.size() > max_orcpt)
    return bad_value("ORCPT is longer than 500 characters (RFC 3461 section 4.2)");
  std::size_t semi = p.value.find(';');
  if (semi == std::string_view::npos || semi + 1 == p.value.size())
    return bad_value("ORCPT must be addr-type;address, e.g. rfc822;user@example.org");
  std::string_view type = p.value.substr(0, semi);
  std::string_view addr = p.value.substr(semi + 1);
  std::optional<std::string> decoded;
  if (iequals(type, "rfc822")) {
    cmd.orcpt_type = "rfc822";
    decoded = decode_xtext(addr);
  } else if (iequals(type, "utf-8")) {
    cmd.orcpt_type = "utf-8";
    decoded = decode_utf8_addr(addr, smtputf8);
  } else {
    return bad_value("ORCPT address type must be rfc822 or utf-8 (RFC 3461, RFC 6533)");
  }
  if (!decoded || !printable(*decoded))
    return bad_value("ORCPT address is not validly encoded (RFC 3461 section 4.2)");
  cmd.orcpt = std::move(*decoded);
  return std::nullopt;
}

// A row of a parameter table: keyword, the extension that offers it, the handler.
template <class Cmd>
struct ParamRow {
  std::string_view keyword;
  bool Extensions::*offered;
  Check (*apply)(const Param&, Cmd&, bool smtputf8);
};

constexpr std::array<ParamRow<MailCommand>, 6> mail_params{{
    {"SIZE", &Extensions::size, mail_size},              // RFC 1870
    {"BODY", &Extensions::eight_bit_mime, mail_body},    // RFC 6152
    {"SMTPUTF8", &Extensions::smtputf8, mail_smtputf8},  // RFC 6531
    {"RET", &Extensions::dsn, mail_ret},                 // RFC 3461 §4.3
    {"ENVID", &Extensions::dsn, mail_envid},             // RFC 3461 §4.4
    {"AUTH", &Extensions::auth, mail_auth},              // RFC 4954 §5
}};

constexpr std::array<ParamRow<RcptCommand>, 2> rcpt_params{{
    {"NOTIFY", &Extensions::dsn, rcpt_notify},  // RFC 3461 §4.1
    {"ORCPT", &Extensions::dsn, rcpt_orcpt},    // RFC 3461 §4.2
}};

// Applies every parameter in `in` through `table`: unknown or not offered → 555,
// repeated → 501, then the row's handler.
template <class Cmd, std::size_t N>
Check apply_params(std::string_view in, const std::array<ParamRow<Cmd>, N>& table,
                   const Extensions& ext, Cmd& cmd, bool smtputf8) {
  static_assert(N <= 32, "seen-set is a 32-bit mask");
  std::uint32_t seen = 0;
  while (true) {
    while (!in.empty() && in.front() == ' ') in.remove_prefix(1);
    if (in.empty()) return std::nullopt;
    auto p = next_param(in);
    if (!p) return p.error();
    std::size_t row = N;
    for (std::size_t i = 0; i < N; ++i)
      if (iequals(p->keyword, table[i].keyword)) row = i;
    if (row == N || !(ext.*(table[row].offered))) return unsupported(p->keyword);
    if (seen & (1u << row))
      return bad_value("Parameter " + std::string(table[row].keyword) + " given twice");
    seen |= 1u << row;
    if (auto e = table[row].apply(*p, cmd, smtputf8)) return e;
  }
}

// Strips "FROM:" / "TO:" and the one space many clients put after it ("MAIL FROM: <a@b>",
// not RFC 5321 grammar but common). Leaves `in` at the '<'; false if it is not there.
bool strip_prefix(std::string_view& in, std::string_view prefix) {
  if (!istarts_with(in, prefix)) return false;
  in.remove_prefix(prefix.size());
  if (!in.empty() && in.front() == ' ') in.remove_prefix(1);
  return !in.empty() && in.front() == '<';
}

}  // namespace

Result<MailCommand, Reply> parse_mail(std::string_view arg, const Extensions& ext) {
  constexpr std::string_view usage = "Syntax: MAIL FROM:<address> [parameters]";
  if (!strip_prefix(arg, "FROM:")) return fail(syntax(usage));
  // UTF-8 is allowed while parsing: SMTPUTF8 comes after the path, checked below.
  mail::PathOptions options;
  options.allow_utf8 = true;
  options.allow_null = true;
  std::size_t consumed = 0;
  auto path = mail::parse_path(arg, options, consumed);
  if (!path) return fail(bad_address(path.error(), true));
  arg.remove_prefix(consumed);
  if (!arg.empty() && arg.front() != ' ') return fail(syntax(usage));

  MailCommand cmd;
  cmd.sender = std::move(*path);
  if (auto e = apply_params(arg, mail_params, ext, cmd, false)) return fail(std::move(*e));
  // RFC 6531 §3.7.4.1 (and Postfix): a UTF-8 address without SMTPUTF8 is 553 5.6.7.
  if (cmd.sender.utf8() && !cmd.smtputf8)
    return fail(bad_address(mail::AddressError::utf8_not_allowed, true));
  return cmd;
}

Result<RcptCommand, Reply> parse_rcpt(std::string_view arg, const Extensions& ext, bool smtputf8) {
  constexpr std::string_view usage = "Syntax: RCPT TO:<address> [parameters]";
  if (!strip_prefix(arg, "TO:")) return fail(syntax(usage));
  mail::PathOptions options;
  options.allow_utf8 = true;
  options.allow_bare_postmaster = true;  // RFC 5321 §4.1.1.3
  std::size_t consumed = 0;
  auto path = mail::parse_path(arg, options, consumed);
  if (!path) return fail(bad_address(path.error(), false));
  arg.remove_prefix(consumed);
  if (!arg.empty() && arg.front() != ' ') return fail(syntax(usage));

  RcptCommand cmd;
  cmd.recipient = std::move(*path);
  if (auto e = apply_params(arg, rcpt_params, ext, cmd, smtputf8)) return fail(std::move(*e));
  if (cmd.recipient.utf8() && !smtputf8)
    return fail(bad_address(mail::AddressError::utf8_not_allowed, false));
  return cmd;
}

Result<BdatCommand, Reply> parse_bdat(std::string_view arg) {
  constexpr std::string_view usage = "Syntax: BDAT <size in octets> [LAST] (RFC 3030)";
  std::size_t digits = 0;
  while (digits < arg.size() && is_digit(arg[digits])) ++digits;
  if (digits == 0 || digits > max_bdat_digits) return fail(bad_value(usage));
  BdatCommand cmd;
  for (std::size_t i = 0; i < digits; ++i) {
    auto d = static_cast<std::uint64_t>(arg[i] - '0');
    if (cmd.size > (UINT64_MAX - d) / 10) return fail(bad_value(usage));
    cmd.size = cmd.size * 10 + d;
  }
  std::string_view rest = arg.substr(digits);
  if (rest.empty()) return cmd;
  if (!iequals(rest, " LAST")) return fail(bad_value(usage));
  cmd.last = true;
  return cmd;
}

std::optional<std::string> xtext_decode(std::string_view in) { return decode_xtext(in); }

std::string xtext_encode(std::string_view in) {
  constexpr std::string_view hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (char c : in) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 33 && u <= 126 && c != '+' && c != '=') {
      out.push_back(c);
    } else {
      out.push_back('+');
      out.push_back(hex[u >> 4]);
      out.push_back(hex[u & 0xF]);
    }
  }
  return out;
}

}  // namespace tern::smtp
