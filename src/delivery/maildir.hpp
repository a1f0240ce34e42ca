// Maildir delivery (the format of qmail's maildir(5), as Dovecot and Courier read it): a
// message is written to tmp/, fsynced, renamed into new/, and new/ is fsynced, so it is
// either wholly there or not at all. Adds Return-Path: and Delivered-To: at the top
// (RFC 5321 §4.4) and stores LF line endings, as local mail on Unix is kept.
// Thread-safe: each call works on its own files; blocking I/O, run off the event loop.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mail/outcome.hpp"

namespace tern::delivery {

class Maildir {
 public:
  // Mail for user@domain goes to <root>/<domain>/<user>/.
  Maildir(std::string root, std::string hostname);

  // Delivers `message` (CRLF line endings, as stored in the spool) to the mailbox of
  // local@domain (local part unquoted), with `sender` as the Return-Path ("" for the null
  // sender) and `recipient` (the address as the client gave it) in Delivered-To.
  //
  // `key` names this delivery for good (queue ID and recipient index) and `arrival` is the
  // message's arrival time: together they make the file name, so a delivery repeated after
  // a crash (between the rename into new/ and the spool's record of it) finds its file in
  // new/ and does not write the message twice.
  mail::Outcome deliver(std::string_view sender, std::string_view recipient,
                        std::string_view local, std::string_view domain,
                        std::string_view message, std::string_view key,
                        std::int64_t arrival) const;

  // The mailbox directory for a recipient, or "" when the name cannot be a directory
  // (empty, '/', NUL, or a leading '.').
  std::string mailbox_path(std::string_view local, std::string_view domain) const;

 private:
  std::string root_;
  std::string hostname_;
};

}  // namespace tern::delivery
