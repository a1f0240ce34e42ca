// The DATA decoder: a byte-level state machine over untrusted message text (RFC 5321
// §4.1.1.4 end of data, §4.5.2 transparency, §2.3.8 lines end in CRLF, §4.5.3.1.6 line
// length). It stops after the first CR LF "." CR LF and nowhere else: the SMTP smuggling
// attacks (CVE-2023-51764 Postfix, CVE-2023-51765 Sendmail, CVE-2023-51766 Exim) rely on a
// receiver ending the message at "\n.\n", "\r.\r", "\n.\r\n" or similar, where the sending
// MTA saw only text. So a line start that follows a bare CR or LF is a "soft" one: its dot
// is unstuffed, but ".\r\n" there never ends the message. A lone "." that does not end the
// message is kept as content.
//
// The only way to reach done: line_start (entered only at the start or by a real CRLF)
// --'.'--> dot --'\r'--> dot_cr --'\n'--> done. Every CR moves to cr or dot_cr, whose '\n'
// leads to line_start, so the first "\r\n.\r\n" always ends the message.
#include "smtp/data_decoder.hpp"

#include "smtp/client_protocol.hpp"

#include <algorithm>

namespace tern::smtp {
namespace {

// The octets that leave the in_line fast path: line endings and NUL.
constexpr std::string_view specials{"\r\n\0", 3};
// A line always has room for its own CRLF.
constexpr std::size_t min_line = 2;

}  // namespace

DataDecoder::DataDecoder(std::uint64_t max_size, BareLineEndings policy, std::size_t max_line)
    : max_size_(max_size), policy_(policy), max_line_(std::max(max_line, min_line)) {}

void DataDecoder::record(Problem p) {
  if (problem_ == Problem::none) problem_ = p;
}

// Content octets of the current line: kept while no problem is recorded, within both the
// line limit (the CRLF to come reserved) and the size limit; the first octet over either
// records the problem (line first when both fail on the same octet).
void DataDecoder::append(std::string_view s, std::string& out) {
  std::uint64_t n = s.size();
  std::uint64_t line_room =
      line_len_ + min_line >= max_line_ ? 0 : max_line_ - min_line - line_len_;
  std::uint64_t size_room = size_ >= max_size_ ? 0 : max_size_ - size_;
  if (problem_ == Problem::none) {
    std::uint64_t keep = std::min({n, line_room, size_room});
    out.append(s.data(), keep);
    if (keep < n) record(line_room <= size_room ? Problem::line_too_long : Problem::too_big);
  }
  line_len_ += n;
  size_ += n;
}

// The CRLF ending a line, kept whole or not at all.
void DataDecoder::line_end(std::string& out) {
  constexpr std::uint64_t crlf = 2;
  if (problem_ == Problem::none) {
    if (max_size_ >= size_ && max_size_ - size_ >= crlf)
      out += "\r\n";
    else
      record(Problem::too_big);
  }
  size_ += crlf;
  line_len_ = 0;
}

// A bare CR or LF: refused in reject mode; either way it ends the line as a CRLF would,
// but what follows is only a soft line start.
void DataDecoder::bare_line_end(Problem p, std::string& out) {
  if (policy_ == BareLineEndings::reject) record(p);
  line_end(out);
  state_ = State::soft_line_start;
}

std::size_t DataDecoder::feed(std::string_view in, std::string& out) {
  std::size_t i = 0;
  // Each pass either consumes in[i] or changes state so that the next pass consumes it.
  while (i < in.size() && !done_) {
    char c = in[i];
    switch (state_) {
      case State::line_start:
        if (c == '.') {
          state_ = State::dot;
          ++i;
        } else {
          state_ = State::in_line;
        }
        break;
      case State::soft_line_start:
        if (c == '.') {
          state_ = State::soft_dot;
          ++i;
        } else {
          state_ = State::in_line;
        }
        break;
      case State::dot:
        if (c == '\r') {
          state_ = State::dot_cr;
          ++i;
        } else if (c == '\n') {  // ".\n": a lone dot, then a bare LF
          append(".", out);
          bare_line_end(Problem::bare_lf, out);
          ++i;
        } else {  // RFC 5321 §4.5.2: the leading dot is removed
          state_ = State::in_line;
        }
        break;
      case State::soft_dot:
        if (c == '\r') {  // a lone dot or a dot before a bare CR: content either way
          append(".", out);
          state_ = State::cr;
          ++i;
        } else if (c == '\n') {
          append(".", out);
          bare_line_end(Problem::bare_lf, out);
          ++i;
        } else {
          state_ = State::in_line;
        }
        break;
      case State::dot_cr:
        if (c == '\n') {  // CR LF "." CR LF
          done_ = true;
          ++i;
        } else {  // ".\r" then not LF: a lone dot, a bare CR; c is read again
          append(".", out);
          bare_line_end(Problem::bare_cr, out);
        }
        break;
      case State::cr:
        if (c == '\n') {
          line_end(out);
          state_ = State::line_start;
          ++i;
        } else {  // c is read again, at a soft line start
          bare_line_end(Problem::bare_cr, out);
        }
        break;
      case State::in_line:
        if (c == '\r') {
          state_ = State::cr;
          ++i;
        } else if (c == '\n') {
          bare_line_end(Problem::bare_lf, out);
          ++i;
        } else if (c == '\0') {  // refused, or dropped in normalize mode
          if (policy_ == BareLineEndings::reject) record(Problem::nul);
          ++i;
        } else {  // fast path: the run of ordinary octets
          std::size_t j = std::min(in.find_first_of(specials, i), in.size());
          append(in.substr(i, j - i), out);
          i = j;
        }
        break;
    }
  }
  return i;
}

const char* to_string(DataDecoder::Problem p) {
  switch (p) {
    case DataDecoder::Problem::none:
      return "none";
    case DataDecoder::Problem::bare_lf:
      return "bare LF";
    case DataDecoder::Problem::bare_cr:
      return "bare CR";
    case DataDecoder::Problem::nul:
      return "NUL octet";
    case DataDecoder::Problem::line_too_long:
      return "line too long";
    case DataDecoder::Problem::too_big:
      return "message too big";
  }
  return "unknown";
}

DataDecoder::Problem check_chunked(std::string& content, BareLineEndings policy,
                                   std::size_t max_line) {
  // Framed as DATA would frame it (dot-stuffed, after bare CR and LF too, and ended by
  // CRLF.CRLF), the decoder finds exactly what it finds in DATA and gives back the content.
  std::string framed = dot_stuff(content);
  DataDecoder decoder(framed.size(), policy, max_line);
  std::string out;
  out.reserve(content.size());
  decoder.feed(framed, out);
  if (decoder.problem() == DataDecoder::Problem::none) content = std::move(out);
  return decoder.problem();
}

Reply problem_reply(DataDecoder::Problem p) {
  switch (p) {
    case DataDecoder::Problem::none:
      break;
    case DataDecoder::Problem::bare_lf:
      return {550, "5.5.2",
              "Message refused: it contains a bare <LF> (line feed without carriage return); "
              "SMTP lines end in <CR><LF> (RFC 5321 section 2.3.8)"};
    case DataDecoder::Problem::bare_cr:
      return {550, "5.5.2",
              "Message refused: it contains a bare <CR> (carriage return without line feed); "
              "SMTP lines end in <CR><LF> (RFC 5321 section 2.3.8)"};
    case DataDecoder::Problem::nul:
      return {550, "5.6.0",
              "Message refused: it contains a NUL octet; encode binary data, e.g. as base64"};
    case DataDecoder::Problem::line_too_long:
      return {550, "5.6.0",
              "Message refused: a line exceeds the line length limit (RFC 5321 section "
              "4.5.3.1.6); encode long lines, e.g. as quoted-printable"};
    case DataDecoder::Problem::too_big:
      return {552, "5.3.4", "Message refused: it exceeds the maximum message size"};
  }
  return replies::ok();
}

}  // namespace tern::smtp
