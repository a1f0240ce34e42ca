// The client side of SMTP AUTH (RFC 4954) without I/O: which mechanisms a server offers in
// its EHLO reply, which one we use (PLAIN, RFC 4616, else LOGIN, draft-murchison-sasl-login),
// and the base64 (RFC 4648 §4) responses they send. Input: the server's EHLO reply,
// untrusted; the credentials, from the operator's configuration, are never logged.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "smtp/reply.hpp"

namespace tern::outbound {

// Overwrites a string that held a secret before its memory is freed.
void wipe(std::string& s);

// User and password for AUTH to a next hop; sent only inside TLS. The password is wiped
// when a copy goes away.
struct Credentials {
  std::string user;
  std::string password;
  ~Credentials() { wipe(password); }
  bool empty() const { return user.empty(); }
};

enum class SaslMechanism { plain, login };

// What the "AUTH mech..." (or the pre-standard "AUTH=mech...") lines of an EHLO reply offer.
struct OfferedAuth {
  bool plain = false, login = false;
  bool any() const { return plain || login; }
};
OfferedAuth parse_auth(const smtp::Reply& ehlo_reply);

// PLAIN when offered (one round trip), else LOGIN, else none we can use.
std::optional<SaslMechanism> choose(const OfferedAuth& offered);

// RFC 4648 §4 base64 with padding.
std::string base64(std::string_view data);

// RFC 4616 §2: [authzid] NUL authcid NUL passwd, base64 encoded, with an empty authzid
// (act as the user we log in as).
std::string plain_response(const Credentials& c);

}  // namespace tern::outbound
