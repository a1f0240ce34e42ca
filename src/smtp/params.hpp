// MAIL and RCPT arguments: paths and ESMTP parameters. SIZE (RFC 1870), BODY (RFC 6152,
// RFC 3030), SMTPUTF8 (RFC 6531), RET/ENVID (RFC 3461 §4.3-4.4), NOTIFY/ORCPT (RFC 3461
// §4.1-4.2, RFC 6533 §3 for the utf-8 address type) with xtext (RFC 3461 §4), AUTH=
// (RFC 4954 §5). Input is the untrusted command argument. Errors come back as the Reply
// to send.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "mail/address.hpp"
#include "smtp/reply.hpp"

namespace tern::smtp {

enum class Body : std::uint8_t { unspecified, seven_bit, eight_bit_mime, binary_mime };
enum class Ret : std::uint8_t { unspecified, full, hdrs };

// NOTIFY bits (RFC 3461 §4.1); 0 = not given (the default: FAILURE, and DELAY at our option).
enum Notify : std::uint8_t {
  notify_never = 1,
  notify_success = 2,
  notify_failure = 4,
  notify_delay = 8,
};

struct MailCommand {
  mail::Address sender;               // null() for <>
  std::optional<std::uint64_t> size;  // SIZE=; a 20-digit value past 2^64-1 saturates
  Body body = Body::unspecified;
  bool smtputf8 = false;
  Ret ret = Ret::unspecified;
  std::string envid;  // ENVID, xtext-decoded
  // AUTH= (RFC 4954 §5), xtext-decoded: "<>" or the mailbox the client vouches for. Only
  // trustworthy when the client authenticated; the session decides.
  std::optional<std::string> auth;
};

struct RcptCommand {
  // "RCPT TO:<Postmaster>" with no domain is accepted (RFC 5321 §4.1.1.3): local
  // "postmaster", domain and domain_ascii empty — this host's postmaster.
  mail::Address recipient;
  std::uint8_t notify = 0;  // Notify bits
  std::string orcpt_type;   // "rfc822" / "utf-8" (addr-type of ORCPT)
  std::string orcpt;        // ORCPT address, decoded: xtext (rfc822) or
                            // \x{HEX} escapes to UTF-8 (utf-8, RFC 6533 §3)
};

// What the session advertised; parameters of extensions not offered are refused (555).
struct Extensions {
  bool size = true, eight_bit_mime = true, smtputf8 = true, dsn = true, chunking = true;
  // AUTH advertised: MAIL FROM may carry AUTH= (RFC 4954 §5). Off by default: a session
  // turns it on where it offers AUTH.
  bool auth = false;
};

// `arg` is what follows "MAIL" (i.e. "FROM:<a@b> SIZE=10"). One space after "FROM:" is
// tolerated. Errors: 501 5.5.2/5.5.4 (syntax, bad or duplicate parameter), 553 5.1.7 /
// 5.6.7 (bad address / UTF-8 without SMTPUTF8), 555 5.5.4 (unknown parameter, or one of an
// extension not in `ext`; BODY=BINARYMIME, which we never advertise).
Result<MailCommand, Reply> parse_mail(std::string_view arg, const Extensions& ext);
// `arg` is what follows "RCPT". `smtputf8` is whether MAIL FROM carried SMTPUTF8.
// Errors as for parse_mail, with 553 5.1.3 for a bad address.
Result<RcptCommand, Reply> parse_rcpt(std::string_view arg, const Extensions& ext, bool smtputf8);

struct BdatCommand {
  std::uint64_t size = 0;
  bool last = false;
};
// `arg` is what follows "BDAT": "<size> [LAST]" (RFC 3030 §2). 501 5.5.4 otherwise,
// including sizes over 20 digits or past 2^64-1.
Result<BdatCommand, Reply> parse_bdat(std::string_view arg);

// xtext (RFC 3461 §4): "+XX" hex escapes. nullopt when malformed (a raw '+', '=',
// space, control or non-ASCII octet; a bad escape). Lower-case hex is tolerated.
std::optional<std::string> xtext_decode(std::string_view in);
std::string xtext_encode(std::string_view in);

}  // namespace tern::smtp
