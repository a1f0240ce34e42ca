// Tests for the DATA decoder (RFC 5321 §4.1.1.4, §4.5.2): end-of-data detection, dot
// unstuffing, the SMTP smuggling payloads (CVE-2023-51764/51765/51766: bare CR, bare LF,
// NUL around the dot), line and size limits, and feeding split at every byte boundary.
// A reference decoder written from the RFC text, line by line, checks random inputs.
#include "smtp/data_decoder.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace tern::smtp {
namespace {

using namespace std::literals;
using Problem = DataDecoder::Problem;

constexpr std::uint64_t big = 1 << 20;

struct Decoded {
  std::string out;
  bool done = false;
  Problem problem = Problem::none;
  std::size_t consumed = 0;
  std::uint64_t size = 0;
};

bool operator==(const Decoded& a, const Decoded& b) {
  return a.out == b.out && a.done == b.done && a.problem == b.problem && a.consumed == b.consumed &&
         a.size == b.size;
}

// Feeds `in` in pieces cut at `cuts` (ascending offsets), as a session would.
Decoded feed(std::string_view in, BareLineEndings policy, const std::vector<std::size_t>& cuts = {},
             std::uint64_t max_size = big, std::size_t max_line = 1000) {
  DataDecoder d(max_size, policy, max_line);
  Decoded r;
  std::size_t from = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(in.size());
  for (std::size_t to : ends) {
    if (to < from) continue;
    std::string_view piece = in.substr(from, to - from);
    std::size_t n = d.feed(piece, r.out);
    r.consumed += n;
    if (d.done()) {
      EXPECT_EQ(d.feed("more", r.out), 0u);  // nothing is taken after the end
      break;
    }
    EXPECT_EQ(n, piece.size());  // everything is taken before the end
    from = to;
  }
  r.done = d.done();
  r.problem = d.problem();
  r.size = d.size();
  return r;
}

Decoded feed_bytewise(std::string_view in, BareLineEndings policy, std::uint64_t max_size = big,
                      std::size_t max_line = 1000) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < in.size(); ++i) cuts.push_back(i);
  return feed(in, policy, cuts, max_size, max_line);
}

struct Case {
  std::string name;
  std::string in;
  bool done;
  std::string out_normalize;
  Problem reject_problem;
  std::string out_reject;  // content kept in reject mode (up to the first problem)
};

// The end marker every smuggling case is followed by: the real one.
const std::string end = "\r\n.\r\n";

std::vector<Case> cases() {
  return {
      // Plain messages and the end marker.
      {"empty message", ".\r\n", true, "", Problem::none, ""},
      {"one empty line", "\r\n.\r\n", true, "\r\n", Problem::none, "\r\n"},
      {"one line", "Hello\r\n.\r\n", true, "Hello\r\n", Problem::none, "Hello\r\n"},
      {"two lines", "Subject: x\r\n\r\nbody\r\n.\r\n", true, "Subject: x\r\n\r\nbody\r\n",
       Problem::none, "Subject: x\r\n\r\nbody\r\n"},
      {"stops at the marker", "a\r\n.\r\nMAIL FROM:<x@y>\r\n", true, "a\r\n", Problem::none,
       "a\r\n"},
      {"first marker wins", "a\r\n.\r\n.\r\n", true, "a\r\n", Problem::none, "a\r\n"},
      {"unterminated", "a\r\nb", false, "a\r\nb", Problem::none, "a\r\nb"},
      {"marker split from text", "a\r\n.", false, "a\r\n", Problem::none, "a\r\n"},
      {"marker missing LF", "a\r\n.\r", false, "a\r\n", Problem::none, "a\r\n"},
      // Dot unstuffing (RFC 5321 §4.5.2).
      {"stuffed dot", "a\r\n..b\r\n.\r\n", true, "a\r\n.b\r\n", Problem::none, "a\r\n.b\r\n"},
      {"stuffed lone dot", "..\r\n.\r\n", true, ".\r\n", Problem::none, ".\r\n"},
      {"stuffed first line", "..a\r\n.\r\n", true, ".a\r\n", Problem::none, ".a\r\n"},
      {"unneeded stuffing", ".x\r\n.\r\n", true, "x\r\n", Problem::none, "x\r\n"},
      {"three dots", "...\r\n.\r\n", true, "..\r\n", Problem::none, "..\r\n"},
      {"dot mid line", "a.b\r\n.\r\n", true, "a.b\r\n", Problem::none, "a.b\r\n"},
      {"dot space", ". \r\n.\r\n", true, " \r\n", Problem::none, " \r\n"},
      // Smuggling: none of these end the message; only the real marker after them does.
      // Postfix CVE-2023-51764 / Sendmail CVE-2023-51765 / Exim CVE-2023-51766 payloads.
      {"LF.LF", "a\n.\nMAIL FROM:<x@y>" + end, true, "a\r\n.\r\nMAIL FROM:<x@y>\r\n",
       Problem::bare_lf, "a"},
      {"CRLF.LF", "a\r\n.\nMAIL FROM:<x@y>" + end, true, "a\r\n.\r\nMAIL FROM:<x@y>\r\n",
       Problem::bare_lf, "a\r\n."},
      {"LF.CRLF", "a\n.\r\nMAIL FROM:<x@y>" + end, true, "a\r\n.\r\nMAIL FROM:<x@y>\r\n",
       Problem::bare_lf, "a"},
      {"CR.CRLF", "a\r.\r\nMAIL FROM:<x@y>" + end, true, "a\r\n.\r\nMAIL FROM:<x@y>\r\n",
       Problem::bare_cr, "a"},
      {"CRLF.CR", "a\r\n.\rMAIL FROM:<x@y>" + end, true, "a\r\n.\r\nMAIL FROM:<x@y>\r\n",
       Problem::bare_cr, "a\r\n."},
      {"CR.CR", "a\r.\rMAIL FROM:<x@y>" + end, true, "a\r\n.\r\nMAIL FROM:<x@y>\r\n",
       Problem::bare_cr, "a"},
      {"LF.CR", "a\n.\rMAIL FROM:<x@y>" + end, true, "a\r\n.\r\nMAIL FROM:<x@y>\r\n",
       Problem::bare_lf, "a"},
      {"CR.LF", "a\r.\nMAIL FROM:<x@y>" + end, true, "a\r\n.\r\nMAIL FROM:<x@y>\r\n",
       Problem::bare_cr, "a"},
      {"CRLF.CRCRLF", "a\r\n.\r\r\nb" + end, true, "a\r\n.\r\n\r\nb\r\n", Problem::bare_cr,
       "a\r\n."},
      {"CR then a real CRLF.CRLF", "a\r\r\n.\r\nb", true, "a\r\n\r\n", Problem::bare_cr, "a"},
      {"LFCRLF.CRLF is a real end", "a\n\r\n.\r\nb", true, "a\r\n\r\n", Problem::bare_lf, "a"},
      {"CRLF NUL.CRLF", "a\r\n\0.\r\nb"s + end, true, "a\r\n.\r\nb\r\n", Problem::nul, "a\r\n"},
      {"CRLF.NUL CRLF", "a\r\n.\0\r\nb"s + end, true, "a\r\n\r\nb\r\n", Problem::nul, "a\r\n"},
      {"CRLF.CR NUL LF", "a\r\n.\r\0\nb"s + end, true, "a\r\n.\r\n\r\nb\r\n", Problem::bare_cr,
       "a\r\n."},
      {"NUL in a line", "a\0b"s + end, true, "ab\r\n", Problem::nul, "a"},
      {"LF at the start", "\n.\r\nb" + end, true, "\r\n.\r\nb\r\n", Problem::bare_lf, ""},
      {"CR at the start", "\r.\r\nb" + end, true, "\r\n.\r\nb\r\n", Problem::bare_cr, ""},
      {"dot LF at the start", ".\nb" + end, true, ".\r\nb\r\n", Problem::bare_lf, "."},
      {"dot CR at the start", ".\rb" + end, true, ".\r\nb\r\n", Problem::bare_cr, "."},
      {"NUL dot at the start", "\0.\r\nb"s + end, true, ".\r\nb\r\n", Problem::nul, ""},
      {"stuffed after bare LF", "a\n..b" + end, true, "a\r\n.b\r\n", Problem::bare_lf, "a"},
      {"bare LF lines", "a\nb\nc" + end, true, "a\r\nb\r\nc\r\n", Problem::bare_lf, "a"},
      {"LF.LF unterminated", "a\n.\n", false, "a\r\n.\r\n", Problem::bare_lf, "a"},
      {"CR.CR unterminated", "a\r.\r", false, "a\r\n.", Problem::bare_cr, "a"},
      {"first problem wins", "a\nb\rc\0d"s + end, true, "a\r\nb\r\ncd\r\n", Problem::bare_lf, "a"},
  };
}

TEST(DataDecoderTest, Table) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    // Consumed: through the first CRLF "." CRLF, the DATA line's CRLF counting as the first.
    std::size_t marker = ("\r\n" + c.in).find("\r\n.\r\n");
    ASSERT_EQ(marker != std::string::npos, c.done);
    std::size_t consumed = c.done ? marker + 3 : c.in.size();
    Decoded n = feed(c.in, BareLineEndings::normalize);
    EXPECT_EQ(n.done, c.done);
    EXPECT_EQ(n.out, c.out_normalize);
    EXPECT_EQ(n.problem, Problem::none);
    EXPECT_EQ(n.size, c.out_normalize.size());
    EXPECT_EQ(n.consumed, consumed);

    Decoded r = feed(c.in, BareLineEndings::reject);
    EXPECT_EQ(r.done, c.done);
    EXPECT_EQ(r.problem, c.reject_problem);
    EXPECT_EQ(r.out, c.out_reject);
    EXPECT_EQ(r.consumed, consumed);

    // Any split gives the same result.
    EXPECT_EQ(feed_bytewise(c.in, BareLineEndings::normalize), n);
    EXPECT_EQ(feed_bytewise(c.in, BareLineEndings::reject), r);
  }
}

TEST(DataDecoderTest, SmugglingNeverEnds) {
  // Every short mix of CR, LF, '.' and NUL that is not the real marker leaves the message open.
  const std::string alphabet = "\r\n.\0x"s;
  std::vector<std::string> inputs = {""};
  for (int len = 1; len <= 6; ++len) {
    std::vector<std::string> next;
    for (const std::string& s : inputs)
      for (char ch : alphabet) next.push_back(s + ch);
    for (const std::string& s : next) {
      std::string framed = "a" + s;  // not at the very start
      bool has_marker = framed.find("\r\n.\r\n") != std::string::npos;
      for (auto policy : {BareLineEndings::reject, BareLineEndings::normalize}) {
        Decoded r = feed(framed, policy);
        ASSERT_EQ(r.done, has_marker) << testing::PrintToString(framed);
        if (has_marker) {
          ASSERT_EQ(r.consumed, framed.find("\r\n.\r\n") + 5);
        }
      }
    }
    inputs = std::move(next);
  }
}

TEST(DataDecoderTest, LineLength) {
  // RFC 5321 §4.5.3.1.6: 1000 octets including CRLF, the stuffing dot not counted.
  const std::string l998(998, 'x');
  struct LineCase {
    std::string name;
    std::string in;
    std::size_t max_line;
    Problem problem;
  };
  const std::vector<LineCase> line_cases = {
      {"998 + CRLF", l998 + end, 1000, Problem::none},
      {"999 + CRLF", l998 + "x" + end, 1000, Problem::line_too_long},
      {"stuffed 998", "." + l998 + end, 1000, Problem::none},
      {"stuffed 999", "." + l998 + "x" + end, 1000, Problem::line_too_long},
      {"second line", "a\r\n" + l998 + "x" + end, 1000, Problem::line_too_long},
      {"many short lines", "12345678\r\n12345678\r\n12345678" + end, 10, Problem::none},
      {"one long line", "123456789" + end, 10, Problem::line_too_long},
      {"long, then bare LF", "123456789\n" + end, 10, Problem::line_too_long},
      {"bare LF, then long", "\n123456789" + end, 10, Problem::bare_lf},
      {"unterminated long line", std::string(5000, 'x'), 1000, Problem::line_too_long},
  };
  for (const LineCase& c : line_cases) {
    SCOPED_TRACE(c.name);
    Decoded r = feed(c.in, BareLineEndings::reject, {}, big, c.max_line);
    EXPECT_EQ(r.problem, c.problem);
    EXPECT_EQ(feed_bytewise(c.in, BareLineEndings::reject, big, c.max_line), r);
    if (c.problem == Problem::line_too_long) {
      Decoded n = feed(c.in, BareLineEndings::normalize, {}, big, c.max_line);
      EXPECT_EQ(n.problem, Problem::line_too_long);
      EXPECT_EQ(feed_bytewise(c.in, BareLineEndings::normalize, big, c.max_line), n);
    }
  }
}

TEST(DataDecoderTest, SizeLimit) {
  struct SizeCase {
    std::string in;
    std::uint64_t max_size;
    Problem problem;
    std::uint64_t size;
  };
  const std::vector<SizeCase> size_cases = {
      {"12345\r\n.\r\n", 7, Problem::none, 7},
      {"12345\r\n.\r\n", 6, Problem::too_big, 7},  // the CRLF does not fit
      {"12345\r\n.\r\n", 5, Problem::too_big, 7},
      {"12345\r\n.\r\n", 0, Problem::too_big, 7},
      {".\r\n", 0, Problem::none, 0},
      {"..\r\n.\r\n", 3, Problem::none, 3},  // unstuffed octets count
      {std::string(10000, 'x') + "\r\n" + std::string(10000, 'y') + end, 100, Problem::too_big,
       20004},
      {"a\nb" + end, 1, Problem::too_big, 6},  // normalize: "a\r\nb\r\n"
  };
  for (const SizeCase& c : size_cases) {
    SCOPED_TRACE(testing::PrintToString(c.in.substr(0, 40)) + " max " + std::to_string(c.max_size));
    Decoded r = feed(c.in, BareLineEndings::normalize, {}, c.max_size);
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.problem, c.problem);
    EXPECT_EQ(r.size, c.size);  // counted past the limit too
    EXPECT_LE(r.out.size(), c.max_size);
    EXPECT_EQ(feed_bytewise(c.in, BareLineEndings::normalize, c.max_size), r);
  }
  // Past the limit nothing more is kept, but the decoder reads on to the end marker.
  std::string huge = std::string(100000, 'z') + end + "QUIT\r\n";
  Decoded r = feed(huge, BareLineEndings::reject, {}, 1000, 1000000);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.problem, Problem::too_big);
  EXPECT_EQ(r.out, std::string(1000, 'z'));
  EXPECT_EQ(r.consumed, 100005u);
}

TEST(DataDecoderTest, ProblemNamesAndReplies) {
  for (Problem p : {Problem::bare_lf, Problem::bare_cr, Problem::nul, Problem::line_too_long,
                    Problem::too_big}) {
    SCOPED_TRACE(to_string(p));
    Reply r = problem_reply(p);
    EXPECT_TRUE(r.permanent());
    EXPECT_FALSE(r.text.empty());
    EXPECT_STRNE(to_string(p), "none");
  }
  EXPECT_EQ(problem_reply(Problem::too_big).code, 552);
  EXPECT_EQ(problem_reply(Problem::too_big).enhanced, "5.3.4");
  EXPECT_EQ(problem_reply(Problem::bare_lf).enhanced, "5.5.2");
}

// The RFC read literally, line by line, on the part before the first CRLF "." CRLF: lines
// end at CRLF, or at a lone CR or LF (normalize); a line starting with "." and longer than
// one octet loses that dot; NULs are dropped; every line gets CRLF.
std::string reference(const std::string& in, bool& done, std::size_t& consumed) {
  std::string framed = "\r\n" + in;
  std::size_t marker = framed.find("\r\n.\r\n");
  done = marker != std::string::npos;
  std::string body;
  if (done) {
    consumed = marker + 3;  // + 5 for the marker, - 2 for the framing CRLF
    // The marker's own CRLF ends the last line; marker 0 is the empty message.
    body = marker == 0 ? "" : in.substr(0, marker - 2) + "\r\n";
  } else {
    consumed = in.size();
    body = in;
  }
  std::string out;
  std::size_t i = 0;
  while (i < body.size()) {
    std::size_t j = i;
    while (j < body.size() && body[j] != '\r' && body[j] != '\n') ++j;
    std::string line = body.substr(i, j - i);
    if (line.size() > 1 && line[0] == '.') line.erase(0, 1);
    for (char ch : line)
      if (ch != '\0') out.push_back(ch);
    if (j == body.size()) break;                         // unterminated last line
    if (body[j] == '\r' && j + 1 == body.size()) break;  // a CR still waiting for its LF
    out += "\r\n";
    j += body[j] == '\r' && body[j + 1] == '\n' ? 2 : 1;
    i = j;
  }
  return out;
}

TEST(DataDecoderTest, RandomAgainstReference) {
  std::mt19937 rng(5321);
  const std::string alphabet = "\r\n\r\n...\0ab"s;
  for (int iter = 0; iter < 20000; ++iter) {
    std::size_t len = rng() % 40;
    std::string in;
    for (std::size_t k = 0; k < len; ++k) in.push_back(alphabet[rng() % alphabet.size()]);
    SCOPED_TRACE(testing::PrintToString(in));

    bool done = false;
    std::size_t consumed = 0;
    reference(in, done, consumed);
    Decoded n = feed(in, BareLineEndings::normalize);
    ASSERT_EQ(n.done, done);
    ASSERT_EQ(n.consumed, consumed);
    // Content is compared once the message is closed: an open message may hold back a
    // "." or a CR whose meaning the next octet decides.
    std::string closed = in + end;
    std::string expected = reference(closed, done, consumed);
    ASSERT_EQ(feed(closed, BareLineEndings::normalize).out, expected);
    ASSERT_EQ(n.out.compare(0, n.out.size(), expected, 0, n.out.size()), 0);

    // Reject mode keeps a prefix of the same content and flags any bare CR/LF or NUL.
    Decoded r = feed(in, BareLineEndings::reject);
    ASSERT_EQ(r.done, n.done);
    ASSERT_EQ(r.consumed, n.consumed);
    ASSERT_EQ(n.out.compare(0, r.out.size(), r.out), 0);
    std::string seen = in.substr(0, r.consumed);
    bool bad = seen.find('\0') != std::string::npos;
    for (std::size_t k = 0; k < seen.size(); ++k) {
      if (seen[k] == '\n' && (k == 0 || seen[k - 1] != '\r')) bad = true;
      if (seen[k] == '\r' && k + 1 < seen.size() && seen[k + 1] != '\n') bad = true;
    }
    ASSERT_EQ(r.problem != Problem::none, bad);
    if (!bad) {
      ASSERT_EQ(r.out, n.out);
    }

    // Random splits change nothing.
    std::vector<std::size_t> cuts;
    for (std::size_t k = 1; k < in.size(); ++k)
      if (rng() % 3 == 0) cuts.push_back(k);
    ASSERT_EQ(feed(in, BareLineEndings::normalize, cuts), n);
    ASSERT_EQ(feed(in, BareLineEndings::reject, cuts), r);
  }
}

}  // namespace
}  // namespace tern::smtp

namespace tern::smtp {
namespace {

// BDAT text gets DATA's rules: refused (or normalized) for what DATA refuses, and otherwise
// given back exactly, dots and all (BDAT is never dot-stuffed).
TEST(CheckChunked, DataRulesForBdatText) {
  struct Case {
    std::string in;
    BareLineEndings policy;
    DataDecoder::Problem problem;
    std::string out;  // when no problem
  };
  using P = DataDecoder::Problem;
  const std::string long_line(1200, 'x');
  const Case cases[] = {
      {"a\r\n.\r\n..b\r\n.c\r\n", BareLineEndings::reject, P::none, "a\r\n.\r\n..b\r\n.c\r\n"},
      {"", BareLineEndings::reject, P::none, ""},
      {"a\nb\r\n", BareLineEndings::reject, P::bare_lf, ""},
      {"a\rb\r\n", BareLineEndings::reject, P::bare_cr, ""},
      {"a\n.\r\nb\r\n", BareLineEndings::reject, P::bare_lf, ""},
      {std::string("a\0b\r\n", 5), BareLineEndings::reject, P::nul, ""},
      {long_line + "\r\n", BareLineEndings::reject, P::line_too_long, ""},
      {"a\nb\r.c\r\n", BareLineEndings::normalize, P::none, "a\r\nb\r\n.c\r\n"},
  };
  for (const auto& c : cases) {
    std::string text = c.in;
    EXPECT_EQ(check_chunked(text, c.policy), c.problem) << c.in;
    if (c.problem == P::none) EXPECT_EQ(text, c.out) << c.in;
  }
}

}  // namespace
}  // namespace tern::smtp
