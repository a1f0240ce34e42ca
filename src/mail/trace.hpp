// Trace header fields: Received (RFC 5321 §4.4, RFC 5322 §3.6.7, protocol keywords from
// the IANA "Mail Transmission Types" registry: SMTP, ESMTP, UTF8SMTP, ...), Return-Path and
// the RFC 5322 §3.3 date format. Pure functions.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace tern::mail {

struct ReceivedInfo {
  std::string_view helo;            // the name the client gave
  std::string_view client_address;  // IP text
  std::string_view by;              // our hostname
  std::string_view protocol;        // "ESMTP", "UTF8SMTP", "SMTP", ...
  std::string_view id;              // queue ID
  std::string_view for_recipient;   // set only when there is exactly one recipient
  std::string_view tls;             // "TLSv1.3 with cipher ... (256/256 bits)"; empty: none
  std::time_t when = 0;
};

// "Received: from ... by ... with ... id ...; date\r\n", folded, CRLF line endings.
std::string received_header(const ReceivedInfo& info);

// RFC 5322 §3.3 date-time in local time: "Mon, 23 Nov 2026 11:37:38 +0000".
std::string rfc5322_date(std::time_t when);

}  // namespace tern::mail
