// The client's side of the protocol without I/O: reading replies (RFC 5321 §4.2, multi-line
// replies; RFC 2034 enhanced codes), reading the EHLO keywords a server offers (RFC 5321
// §4.1.1.1), and dot-stuffing message text for DATA (RFC 5321 §4.5.2). Input is the remote
// server's text, untrusted: lengths are bounded and malformed replies are errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "smtp/reply.hpp"

namespace tern::smtp {

// RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets; servers exceed it, so allow
// more, but a reply without end is an attack on our memory.
inline constexpr std::size_t max_reply_line = 4096;
inline constexpr std::size_t max_reply_lines = 100;

// Reads one complete reply from the front of `buffer`. Returns the reply and sets `used`
// to the octets it took; nullopt when more input is needed; `malformed` is set when the
// text cannot be a reply (then the connection should be dropped).
std::optional<Reply> take_reply(std::string_view buffer, std::size_t& used, bool& malformed);

// The enhanced status code of a reply: its own ("5.1.1 ...") or one derived from the basic
// code (RFC 3463 §3: 2.0.0 / 4.0.0 / 5.0.0) when the server gave none.
std::string enhanced_or_default(const Reply& r);

// What a server offers in its EHLO reply.
struct ServerExtensions {
  bool pipelining = false, eight_bit_mime = false, smtputf8 = false, chunking = false,
       dsn = false, starttls = false, enhanced_status_codes = false;
  bool size = false;
  std::uint64_t size_limit = 0;  // 0: no limit declared
};
ServerExtensions parse_ehlo(const Reply& ehlo_reply);

// The message text (CRLF lines, unstuffed) as DATA sends it: leading dots doubled, a final
// CRLF ensured, then ".\r\n".
std::string dot_stuff(std::string_view message);

}  // namespace tern::smtp
