// SMTP AUTH, client side, without I/O; see sasl.hpp.
#include "outbound/sasl.hpp"

#include <cctype>
#include <openssl/crypto.h>

namespace tern::outbound {
namespace {

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) !=
        std::toupper(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

}  // namespace

OfferedAuth parse_auth(const smtp::Reply& reply) {
  OfferedAuth out;
  std::string_view text(reply.text);
  std::size_t pos = text.find('\n');  // the first line is the server's name
  while (pos != std::string_view::npos) {
    std::size_t next = text.find('\n', pos + 1);
    std::string_view line = text.substr(pos + 1, next == std::string_view::npos
                                                     ? std::string_view::npos
                                                     : next - pos - 1);
    pos = next;
    // "AUTH PLAIN LOGIN", or "AUTH=PLAIN LOGIN" as servers said before RFC 2554 settled.
    if (line.size() < 5 || !iequal(line.substr(0, 4), "AUTH") ||
        (line[4] != ' ' && line[4] != '='))
      continue;
    line.remove_prefix(5);
    while (!line.empty()) {
      std::size_t sp = line.find(' ');
      std::string_view mech = line.substr(0, sp);
      if (iequal(mech, "PLAIN")) out.plain = true;
      else if (iequal(mech, "LOGIN")) out.login = true;
      if (sp == std::string_view::npos) break;
      line.remove_prefix(sp + 1);
    }
  }
  return out;
}

std::optional<SaslMechanism> choose(const OfferedAuth& offered) {
  if (offered.plain) return SaslMechanism::plain;
  if (offered.login) return SaslMechanism::login;
  return std::nullopt;
}

std::string base64(std::string_view data) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    std::uint32_t v = static_cast<std::uint8_t>(data[i]) << 16 |
                      static_cast<std::uint8_t>(data[i + 1]) << 8 |
                      static_cast<std::uint8_t>(data[i + 2]);
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    out += alphabet[v >> 6 & 63];
    out += alphabet[v & 63];
  }
  if (std::size_t rest = data.size() - i) {
    std::uint32_t v = static_cast<std::uint8_t>(data[i]) << 16;
    if (rest == 2) v |= static_cast<std::uint8_t>(data[i + 1]) << 8;
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    out += rest == 2 ? alphabet[v >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

std::string plain_response(const Credentials& c) {
  std::string raw;
  raw.reserve(c.user.size() + c.password.size() + 2);
  raw += '\0';
  raw += c.user;
  raw += '\0';
  raw += c.password;
  std::string out = base64(raw);
  wipe(raw);
  return out;
}

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

}  // namespace tern::outbound
