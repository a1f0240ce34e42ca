// MAIL and RCPT arguments: paths and ESMTP parameters. SIZE (RFC 1870), BODY (RFC 6152,
// RFC 3030), SMTPUTF8 (RFC 6531), RET/ENVID (RFC 3461 §4.3-4.4), NOTIFY/ORCPT (RFC 3461
// §4.1-4.2) with xtext (RFC 3461 §4). Errors come back as the Reply to send.
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
  notify_never = 1, notify_success = 2, notify_failure = 4, notify_delay = 8,
};

struct MailCommand {
  mail::Address sender;                 // null() for <>
  std::optional<std::uint64_t> size;    // SIZE=
  Body body = Body::unspecified;
  bool smtputf8 = false;
  Ret ret = Ret::unspecified;
  std::string envid;                    // ENVID, xtext-decoded
};

struct RcptCommand {
  mail::Address recipient;
  std::uint8_t notify = 0;              // Notify bits
  std::string orcpt_type;               // "rfc822" / "utf-8" (addr-type of ORCPT)
  std::string orcpt;                    // ORCPT address, xtext-decoded
};

// What the session advertised; parameters of extensions not offered are refused (555).
struct Extensions {
  bool size = true, eight_bit_mime = true, smtputf8 = true, dsn = true, chunking = true;
};

// `arg` is what follows "MAIL" (i.e. "FROM:<a@b> SIZE=10"). Errors: 501 (syntax),
// 553 5.1.7/5.6.7 (bad address / UTF-8 without SMTPUTF8), 555 5.5.4 (unknown parameter).
Result<MailCommand, Reply> parse_mail(std::string_view arg, const Extensions& ext);
// `arg` is what follows "RCPT". `smtputf8` is whether MAIL FROM carried SMTPUTF8.
Result<RcptCommand, Reply> parse_rcpt(std::string_view arg, const Extensions& ext,
                                      bool smtputf8);

struct BdatCommand {
  std::uint64_t size = 0;
  bool last = false;
};
// `arg` is what follows "BDAT": "<size> [LAST]" (RFC 3030 §2).
Result<BdatCommand, Reply> parse_bdat(std::string_view arg);

// xtext (RFC 3461 §4): "+XX" hex escapes. nullopt when malformed.
std::optional<std::string> xtext_decode(std::string_view in);
std::string xtext_encode(std::string_view in);

}  // namespace tern::smtp
