// The credential check behind SMTP AUTH: one small interface, implemented by the password
// file (password_file.hpp) and later the Dovecot auth socket. app/ chooses the concrete one.
// Input: a user name and password from a SASL exchange (sasl.hpp), untrusted.
#pragma once

#include <string_view>

#include "core/result.hpp"

namespace tern::auth {

class Backend {
 public:
  virtual ~Backend() = default;

  // Whether `password` is the password of `user`: true (235), false (535 5.7.8: unknown
  // user, wrong password, or a user whose stored hash we refuse to use), or an error when
  // the backend itself failed (454 4.7.0, try again later).
  //
  // BLOCKING and slow by design: a password hash costs milliseconds to tens of
  // milliseconds of CPU (crypt(3) is tuned to be expensive). The caller runs it off the
  // event loop, on a thread pool. Implementations are thread-safe: verify may run on many
  // threads at once. The password is never logged.
  [[nodiscard]] virtual Result<bool> verify(std::string_view user, std::string_view password) = 0;
};

}  // namespace tern::auth
