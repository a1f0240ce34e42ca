// SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 3463, RFC 2034), and the
// table of replies the server sends more than once. Pure data: no I/O. Reply text is
// ASCII (RFC 5321 §4.2 textstring); wire() replaces control characters with '?'.
#pragma once

#include <string>
#include <string_view>

namespace tern::smtp {

struct Reply {
  int code = 0;          // 250, 550, ...
  std::string enhanced;  // "2.1.0"; empty for the greeting and the EHLO reply (RFC 2034 §3)
  std::string text;      // human text; '\n' separates lines of a multi-line reply

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
  // The reply on the wire: "250-..." continuation lines, "250 ..." last, CRLF each,
  // the enhanced code repeated on every line.
  std::string wire() const;
  // One line for logs: "550 5.1.1 text / more text".
  std::string log_text() const;
};

// Replies used in several places; the text says what happened and what to do.
namespace replies {
Reply ok(std::string_view enhanced = "2.0.0", std::string_view text = "Ok");
Reply syntax_error();                       // 500 5.5.2 command not recognized
Reply line_too_long();                      // 500 5.5.2 line too long (X.5.6 is AUTH's, RFC 4954)
Reply bad_sequence(std::string_view what);  // 503 5.5.1
Reply not_implemented();                    // 502 5.5.1
Reply param_not_implemented();              // 504 5.5.4
Reply service_closing(std::string_view host);  // 221 2.0.0
Reply too_many_errors();                       // 421 4.7.0
Reply timeout();                               // 421 4.4.2
}  // namespace replies

}  // namespace tern::smtp
