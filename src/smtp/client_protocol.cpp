// The client's side of the protocol without I/O; see client_protocol.hpp.
#include "smtp/client_protocol.hpp"

#include <cctype>
#include <charconv>

namespace tern::smtp {
namespace {

bool is_enhanced(std::string_view s, std::size_t& len) {
  // class "." subject "." detail: 2|4|5 "." 1*3digit "." 1*3digit (RFC 3463 §2)
  std::size_t i = 0;
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
  i = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && i - start < 3) ++i;
    if (i == start) return false;
    if (part == 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
  }
  if (i < s.size() && s[i] != ' ') return false;
  len = i;
  return true;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<Reply> take_reply(std::string_view buffer, std::size_t& used, bool& malformed) {
  malformed = false;
  Reply r;
  std::size_t pos = 0;
  std::string enhanced;
  for (std::size_t n = 0;; ++n) {
    std::size_t eol = buffer.find('\n', pos);
    if (eol == std::string_view::npos) {
      if (buffer.size() - pos > max_reply_line) malformed = true;
      return std::nullopt;
    }
    std::string_view line = buffer.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = eol + 1;
    int code = 0;
    if (line.size() < 3 || line.size() > max_reply_line || n >= max_reply_lines ||
        std::from_chars(line.data(), line.data() + 3, code).ptr != line.data() + 3 ||
        code < 200 || code > 599 || (line.size() > 3 && line[3] != ' ' && line[3] != '-') ||
        (r.code != 0 && code != r.code)) {
      malformed = true;
      return std::nullopt;
    }
    r.code = code;
    std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
    std::size_t elen = 0;
    if (is_enhanced(text, elen)) {
      if (enhanced.empty()) enhanced = std::string(text.substr(0, elen));
      text.remove_prefix(std::min(text.size(), elen + 1));
    }
    if (!r.text.empty()) r.text += '\n';
    r.text += text;
    if (line.size() == 3 || line[3] == ' ') break;
  }
  r.enhanced = enhanced;
  used = pos;
  return r;
}

std::string enhanced_or_default(const Reply& r) {
  if (!r.enhanced.empty() && r.enhanced[0] == static_cast<char>('0' + r.code / 100))
    return r.enhanced;
  return std::to_string(r.code / 100) + ".0.0";
}

ServerExtensions parse_ehlo(const Reply& reply) {
  ServerExtensions x;
  std::size_t pos = reply.text.find('\n');  // the first line is the server's name
  while (pos != std::string::npos) {
    std::size_t next = reply.text.find('\n', pos + 1);
    std::string_view line(reply.text);
    line = line.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
    pos = next;
    std::string keyword = upper(line.substr(0, line.find(' ')));
    std::string_view arg = line.find(' ') == std::string_view::npos
                               ? std::string_view()
                               : line.substr(line.find(' ') + 1);
    if (keyword == "PIPELINING") x.pipelining = true;
    else if (keyword == "8BITMIME") x.eight_bit_mime = true;
    else if (keyword == "SMTPUTF8") x.smtputf8 = true;
    else if (keyword == "CHUNKING") x.chunking = true;
    else if (keyword == "DSN") x.dsn = true;
    else if (keyword == "STARTTLS") x.starttls = true;
    else if (keyword == "ENHANCEDSTATUSCODES") x.enhanced_status_codes = true;
    else if (keyword == "SIZE") {
      x.size = true;
      std::uint64_t v = 0;
      if (!arg.empty() && std::from_chars(arg.data(), arg.data() + arg.size(), v).ec == std::errc())
        x.size_limit = v;
    }
  }
  return x;
}

std::string dot_stuff(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 64 + 8);
  bool line_start = true;
  for (char c : message) {
    if (line_start && c == '.') out += '.';
    out += c;
    // A dot after a bare LF or a bare CR is stuffed too: a next hop that takes either as a
    // line end (the SMTP smuggling class) must never see "<LF>.<CR><LF>" or "<CR>.<CR>"
    // end the message early. Mail that came in by BDAT may hold such octets.
    line_start = c == '\n' || c == '\r';
  }
  if (!out.empty() && !(out.size() >= 2 && out.ends_with("\r\n"))) out += "\r\n";
  out += ".\r\n";
  return out;
}

}  // namespace tern::smtp
