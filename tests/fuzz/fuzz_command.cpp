// libFuzzer target: an SMTP command line through parse_command and, by verb, the MAIL /
// RCPT / BDAT argument parsers, with every combination of advertised extensions. Checks
// that the verb table agrees with the parse, that error replies are well-formed on the
// wire, and that xtext round-trips. Input: one arbitrary command line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smtp/command.hpp"
#include "smtp/params.hpp"
#include "smtp/reply.hpp"

namespace {

using namespace tern::smtp;

// Aborts unless `r` is a well-formed reply: each line "ddd-" or "ddd " (the last), ends in
// CRLF, no CR or LF inside, at most 512 octets.
void check_reply(const Reply& r) {
  if (r.code < 200 || r.code > 599) std::abort();
  std::string wire = r.wire();
  std::string code = std::to_string(r.code);
  std::size_t start = 0;
  while (start < wire.size()) {
    std::size_t crlf = wire.find("\r\n", start);
    if (crlf == std::string::npos) std::abort();
    std::string_view line(wire.data() + start, crlf - start);
    if (line.size() + 2 > 512 || line.substr(0, 3) != code) std::abort();
    if (line.find_first_of("\r\n") != std::string_view::npos) std::abort();
    bool last = crlf + 2 == wire.size();
    if (line.size() > 3 && line[3] != (last ? ' ' : '-')) std::abort();
    if (line.size() == 3 && !last) std::abort();
    start = crlf + 2;
  }
  (void)r.log_text();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first octet picks the extensions offered and whether SMTPUTF8 was on MAIL.
  std::uint8_t flags = data[0];
  std::string_view line(reinterpret_cast<const char*>(data) + 1, size - 1);
  Extensions ext;
  ext.size = flags & 1;
  ext.eight_bit_mime = flags & 2;
  ext.smtputf8 = flags & 4;
  ext.dsn = flags & 8;
  ext.chunking = flags & 16;
  ext.auth = flags & 32;
  bool smtputf8 = flags & 64;

  Command cmd = parse_command(line);
  const VerbInfo& info = verb_info(cmd.verb);
  if (info.verb != cmd.verb) std::abort();
  if (cmd.verb != Verb::unknown && line.size() < info.name.size()) std::abort();
  if (cmd.arg.size() > line.size()) std::abort();

  // The argument parsers see both the command's argument and the raw line.
  for (std::string_view arg : {cmd.arg, line}) {
    if (auto m = parse_mail(arg, ext)) {
      if (m->sender.utf8() && !m->smtputf8) std::abort();
      if (m->envid.size() > 100) std::abort();
      (void)m->sender.text();
    } else {
      check_reply(m.error());
    }
    if (auto r = parse_rcpt(arg, ext, smtputf8)) {
      if (r->recipient.utf8() && !smtputf8) std::abort();
      if (r->recipient.null()) std::abort();
      if ((r->notify & notify_never) && r->notify != notify_never) std::abort();
      (void)r->recipient.text();
    } else {
      check_reply(r.error());
    }
    if (auto b = parse_bdat(arg); !b) check_reply(b.error());
  }

  std::string encoded = xtext_encode(line);
  auto decoded = xtext_decode(encoded);
  if (!decoded || *decoded != line) std::abort();
  (void)xtext_decode(line);
  return 0;
}
