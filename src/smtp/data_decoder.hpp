// The DATA decoder (RFC 5321 §4.1.1.4, §4.5.2): finds the end of the message, removes
// dot-stuffing, enforces the line and size limits, and refuses the bare CR / bare LF /
// NUL sequences behind the SMTP smuggling class (CVE-2023-51764/51765/51766).
// Only <CRLF>.<CRLF> ends a message (the opening CRLF may be the one ending the DATA
// command line): never "\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n" or any mix with a bare CR
// or LF, in either policy. Incremental: feed it what the socket delivers, split anywhere.
// Input is untrusted; memory use is bounded by max_size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "smtp/reply.hpp"

namespace tern::smtp {

// What to do with a bare LF, a bare CR or a NUL in message text.
enum class BareLineEndings : std::uint8_t {
  reject,     // read to the end of the message, then refuse it (default)
  normalize,  // bare LF / bare CR become CRLF, NUL is removed
};

class DataDecoder {
 public:
  enum class Problem : std::uint8_t { none, bare_lf, bare_cr, nul, line_too_long, too_big };

  // max_size: octets of message content kept (beyond it, content is discarded, not
  // buffered, and problem() reports too_big). max_line: octets per line including CRLF
  // (RFC 5321 §4.5.3.1.6: 1000).
  DataDecoder(std::uint64_t max_size, BareLineEndings policy, std::size_t max_line = 1000);

  // Consumes octets of `in` up to and including the end marker, appending message content
  // (CRLF line endings, dots unstuffed) to `out`. Returns the number of octets consumed;
  // less than in.size() only when done() became true. Once a problem is recorded nothing
  // more is appended (the message will be refused), but octets are still consumed and
  // counted so the session stays in step with the client. A line "." that did not end the
  // message (e.g. after a bare LF) stays in the content: whoever sends it on must
  // dot-stuff, as for every line.
  std::size_t feed(std::string_view in, std::string& out);

  bool done() const { return done_; }
  // The first problem seen, if any; the message must then be refused (after done()).
  Problem problem() const { return problem_; }
  // Octets of message content seen (counted even past max_size).
  std::uint64_t size() const { return size_; }

 private:
  // Where we are in the line structure; see data_decoder.cpp.
  enum class State : std::uint8_t {
    line_start,       // after a real CRLF, or at the very start: ".\r\n" here ends
    soft_line_start,  // after a bare CR/LF: a dot here is unstuffed but never ends
    dot,              // '.' at line_start
    soft_dot,         // '.' at soft_line_start
    dot_cr,           // ".\r" at line_start: '\n' ends the message
    in_line,          // inside a line
    cr,               // '\r' inside a line: '\n' makes a real CRLF
  };

  void append(std::string_view s, std::string& out);  // content octets of a line
  void line_end(std::string& out);                    // CRLF in the content
  void bare_line_end(Problem p, std::string& out);    // a bare CR or LF
  void record(Problem p);

  std::uint64_t max_size_;
  BareLineEndings policy_;
  std::size_t max_line_;
  std::uint64_t size_ = 0;
  std::uint64_t line_len_ = 0;  // content octets of the current line, CRLF excluded
  State state_ = State::line_start;
  Problem problem_ = Problem::none;
  bool done_ = false;
};

// BDAT (RFC 3030) content gets the rules DATA text gets: the whole message, once its last
// chunk is in, is checked for bare CR, bare LF, NUL and overlong lines, and refused or
// normalized by `policy` as a DATA message would be (in place). CHUNKING changes how the
// text is framed, not what a message may hold; a message passed on by DATA must not carry
// what DATA would have refused. Returns the problem (none when the text is fine).
DataDecoder::Problem check_chunked(std::string& content, BareLineEndings policy,
                                   std::size_t max_line = 1000);

// "bare LF", "line too long", ... for logs.
const char* to_string(DataDecoder::Problem p);

// The reply refusing a message that had problem `p` (not none): 550 5.5.2 for bare CR /
// LF, 550 5.6.0 for NUL and overlong lines, 552 5.3.4 for too_big. The text says how to fix it.
Reply problem_reply(DataDecoder::Problem p);

}  // namespace tern::smtp
