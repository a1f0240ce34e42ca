// Reply formatting (RFC 5321 §4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
// Reply-code [ SP textstring ] CRLF) with the enhanced status code on every line
// (RFC 2034 §4), and the shared reply texts. Reply text may carry peer-supplied words (an
// echoed keyword or address), so control characters are replaced before they reach the wire.
#include "smtp/reply.hpp"

namespace tern::smtp {
namespace {

// RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets including the reply code and CRLF.
constexpr std::size_t max_reply_line = 512;

// Appends `text` with control characters (CR and LF included: they would end the line
// early and let a peer forge a reply) replaced by '?'. HTAB is allowed by textstring.
void append_clean(std::string& out, std::string_view text) {
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    out.push_back((u < 0x20 && u != '\t') || u == 0x7F ? '?' : c);
  }
}

}  // namespace

std::string Reply::wire() const {
  std::string out;
  std::string code_text = std::to_string(code);
  std::string_view rest = text;
  while (true) {
    std::size_t nl = rest.find('\n');
    bool last = nl == std::string_view::npos;
    std::string_view line = last ? rest : rest.substr(0, nl);
    std::size_t start = out.size();
    out += code_text;
    out.push_back(last ? ' ' : '-');
    if (!enhanced.empty()) {
      append_clean(out, enhanced);
      if (!line.empty()) out.push_back(' ');
    }
    append_clean(out, line);
    // Keep the line within the limit; the CRLF takes the last two octets.
    if (out.size() - start > max_reply_line - 2) out.resize(start + max_reply_line - 2);
    // "250 " with nothing after it: the SP belongs only before a textstring.
    if (out.size() - start == code_text.size() + 1 && last) out.pop_back();
    out += "\r\n";
    if (last) break;
    rest.remove_prefix(nl + 1);
  }
  return out;
}

std::string Reply::log_text() const {
  std::string out = std::to_string(code);
  if (!enhanced.empty()) {
    out.push_back(' ');
    append_clean(out, enhanced);
  }
  std::string_view rest = text;
  bool first = true;
  while (true) {
    std::size_t nl = rest.find('\n');
    out += first ? " " : " / ";
    append_clean(out, rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
    first = false;
  }
  if (text.empty()) out.pop_back();
  return out;
}

namespace replies {

Reply ok(std::string_view enhanced, std::string_view text) {
  return {250, std::string(enhanced), std::string(text)};
}

Reply syntax_error() {
  return {500, "5.5.2", "Command not recognized; see RFC 5321 for the commands this server knows"};
}

// RFC 3463 has no "line too long" detail for SMTP commands (X.5.6 is AUTH-only, RFC 4954),
// so the syntax-error code is used.
Reply line_too_long() {
  return {500, "5.5.2",
          "Line too long; command lines are limited to 512 octets (RFC 5321 section 4.5.3.1.4)"};
}

Reply bad_sequence(std::string_view what) {
  std::string text = "Bad sequence of commands";
  if (!what.empty()) {
    text += ": ";
    text += what;
  }
  return {503, "5.5.1", std::move(text)};
}

Reply not_implemented() { return {502, "5.5.1", "Command not implemented by this server"}; }

Reply param_not_implemented() {
  return {504, "5.5.4", "Command parameter not implemented by this server"};
}

Reply service_closing(std::string_view host) {
  std::string text(host);
  text += host.empty() ? "Closing connection" : " closing connection";
  return {221, "2.0.0", std::move(text)};
}

Reply too_many_errors() {
  return {421, "4.7.0", "Too many errors; closing connection. Check the client's SMTP dialogue"};
}

Reply timeout() { return {421, "4.4.2", "Timeout waiting for the client; closing connection"}; }

}  // namespace replies

}  // namespace tern::smtp
