// The DATA decoder (RFC 5321 §4.1.1.4, §4.5.2): finds the end of the message, removes
// dot-stuffing, enforces the line and size limits, and refuses the bare CR / bare LF /
// NUL sequences behind the SMTP smuggling class (CVE-2023-51764/51765/51766).
// Only <CRLF>.<CRLF> ends a message (the opening CRLF may be the one ending the DATA
// command line). Incremental: feed it what the socket delivers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

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
  // less than in.size() only when done() became true.
  std::size_t feed(std::string_view in, std::string& out);

  bool done() const { return done_; }
  // The first problem seen, if any; the message must then be refused (after done()).
  Problem problem() const { return problem_; }
  // Octets of message content seen (counted even past max_size).
  std::uint64_t size() const { return size_; }

 private:
  // implementation state; see data_decoder.cpp
  std::uint64_t max_size_;
  BareLineEndings policy_;
  std::size_t max_line_;
  std::uint64_t size_ = 0;
  std::size_t line_len_ = 0;
  int state_ = 0;
  Problem problem_ = Problem::none;
  bool done_ = false;
};

const char* to_string(DataDecoder::Problem p);

}  // namespace tern::smtp
