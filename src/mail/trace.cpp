// Trace header construction; see trace.hpp.
#include "mail/trace.hpp"

#include <cstdio>

namespace tern::mail {

std::string rfc5322_date(std::time_t when) {
  std::tm tm{};
  localtime_r(&when, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S %z", &tm);
  return buf;
}

namespace {
// A HELO name goes in a header: keep it printable and free of CR/LF (it is untrusted).
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out += (c > 32 && c < 127 && c != '(' && c != ')') ? char(c) : '?';
  return out;
}
}  // namespace

std::string received_header(const ReceivedInfo& info) {
  std::string h = "Received: from ";
  h += printable(info.helo.empty() ? std::string_view("unknown") : info.helo);
  h += " (";
  h += info.client_address.find(':') != std::string_view::npos ? "[IPv6:" : "[";
  h += info.client_address;
  h += "])\r\n\t";
  if (!info.tls.empty()) {
    // As Postfix writes it (smtpd_tls_received_header): "(using TLSv1.3 with cipher ...)".
    h += "(using ";
    h += info.tls;
    h += ")\r\n\t";
  }
  h += "by ";
  h += info.by;
  h += " (Tern) with ";
  h += info.protocol;
  h += " id ";
  h += info.id;
  if (!info.for_recipient.empty()) {
    h += "\r\n\tfor <";
    h += printable(info.for_recipient);
    h += ">";
  }
  h += "; ";
  h += rfc5322_date(info.when);
  h += "\r\n";
  return h;
}

}  // namespace tern::mail
