// libFuzzer target: the DATA decoder on arbitrary octets. Checks that it ends the message
// exactly at the first CRLF "." CRLF (or a leading ".\r\n") and nowhere else, in both
// policies; that feeding whole, in two random splits and byte by byte gives the same
// result; that content never exceeds max_size; and that normalize mode emits no bare CR,
// bare LF or NUL. The same octets as BDAT text go through check_chunked, which must give
// good text back unchanged. Input: four octets of parameters, then the message stream.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/data_decoder.hpp"

namespace {

using namespace tern::smtp;

struct Decoded {
  std::string out;
  std::size_t consumed = 0;
  bool done = false;
  DataDecoder::Problem problem = DataDecoder::Problem::none;
  std::uint64_t size = 0;

  bool operator==(const Decoded& o) const {
    return out == o.out && consumed == o.consumed && done == o.done && problem == o.problem &&
           size == o.size;
  }
};

Decoded run(std::string_view in, const std::vector<std::size_t>& cuts, std::uint64_t max_size,
            BareLineEndings policy, std::size_t max_line) {
  DataDecoder d(max_size, policy, max_line);
  Decoded r;
  std::size_t from = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    std::size_t to = i < cuts.size() ? cuts[i] : in.size();
    if (to < from) continue;
    std::size_t n = d.feed(in.substr(from, to - from), r.out);
    r.consumed += n;
    if (d.done()) break;
    if (n != to - from) std::abort();  // short only when done
    from = to;
  }
  if (d.done() && d.feed("x", r.out) != 0) std::abort();
  r.done = d.done();
  r.problem = d.problem();
  r.size = d.size();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  BareLineEndings policy = data[0] & 1 ? BareLineEndings::normalize : BareLineEndings::reject;
  std::uint64_t max_size = data[1] & 0x80 ? std::uint64_t{1} << 20 : data[1];
  std::size_t max_line = data[2] & 0x80 ? 1000 : data[2];
  std::string_view in(reinterpret_cast<const char*>(data) + 4, size - 4);
  // Two split points derived from the input.
  std::size_t a = in.empty() ? 0 : (data[3] * 7919u) % (in.size() + 1);
  std::size_t b = in.empty() ? 0 : (data[3] * 104729u + in.size() / 2) % (in.size() + 1);
  if (a > b) std::swap(a, b);

  Decoded whole = run(in, {}, max_size, policy, max_line);
  if (!(run(in, {a, b}, max_size, policy, max_line) == whole)) std::abort();
  if (in.size() <= 256) {
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < in.size(); ++i) every.push_back(i);
    if (!(run(in, every, max_size, policy, max_line) == whole)) std::abort();
  }

  // The end is the first CRLF "." CRLF, the DATA line's CRLF counting as the first.
  std::string framed = "\r\n";
  framed.append(in);
  std::size_t marker = framed.find("\r\n.\r\n");
  if (whole.done != (marker != std::string::npos)) std::abort();
  if (whole.done && whole.consumed != marker + 3) std::abort();
  if (!whole.done && whole.consumed != in.size()) std::abort();

  if (whole.out.size() > max_size) std::abort();
  if (whole.size < whole.out.size()) std::abort();
  if (whole.problem == DataDecoder::Problem::none && whole.size != whole.out.size()) std::abort();

  // Content only ever holds whole CRLF pairs and no NUL, in either mode: in reject mode
  // nothing is appended after the first problem.
  const std::string& o = whole.out;
  for (std::size_t i = 0; i < o.size(); ++i) {
    if (o[i] == '\0') std::abort();
    if (o[i] == '\n' && (i == 0 || o[i - 1] != '\r')) std::abort();
    if (o[i] == '\r' && (i + 1 == o.size() || o[i + 1] != '\n')) std::abort();
  }
  if (policy == BareLineEndings::normalize) {
    auto p = whole.problem;
    if (p != DataDecoder::Problem::none && p != DataDecoder::Problem::line_too_long &&
        p != DataDecoder::Problem::too_big)
      std::abort();
  }

  // BDAT text (check_chunked): text that passes comes back unchanged, or with only its
  // bare line ends made CRLF (normalize), and then holds no bare CR, LF or NUL.
  std::string chunked(in);
  auto problem = check_chunked(chunked, policy, max_line ? max_line : 1);
  if (problem == DataDecoder::Problem::none) {
    if (policy == BareLineEndings::reject && chunked != in &&
        !(chunked.size() == in.size() + 2 && chunked.starts_with(in) && chunked.ends_with("\r\n")))
      std::abort();  // unchanged, but for a CRLF added at the end
    for (std::size_t i = 0; i < chunked.size(); ++i) {
      if (chunked[i] == '\0') std::abort();
      if (chunked[i] == '\n' && (i == 0 || chunked[i - 1] != '\r')) std::abort();
      if (chunked[i] == '\r' && (i + 1 == chunked.size() || chunked[i + 1] != '\n')) std::abort();
    }
  }
  return 0;
}
