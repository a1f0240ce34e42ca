// See openssl_error.hpp.
#include "tls/openssl_error.hpp"

#include <openssl/err.h>

namespace tern::tls {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace tern::tls
