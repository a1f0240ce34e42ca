// OpenSSL's error queue as text for a log line or an error value. Internal to tls/.
#pragma once

#include <string>

namespace tern::tls {

// The first error OpenSSL queued, as text, and the queue emptied.
std::string openssl_error();

}  // namespace tern::tls
