// The stored form of spool records (docs/spool-format.md): keys and the JSON encoding of
// an Envelope. Values read back are checked; a record that does not decode is reported,
// never trusted.
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"
#include "spool/message.hpp"

namespace tern::spool::record {

// The format version written under key "version". Bump on incompatible change.
inline constexpr int format_version = 1;
inline constexpr std::string_view version_key = "version";
inline constexpr std::string_view envelope_prefix = "e/";
inline constexpr std::string_view body_prefix = "b/";

std::string envelope_key(std::string_view id);
std::string body_key(std::string_view id);

std::string encode(const Envelope& e);
Result<Envelope> decode(std::string_view json);

}  // namespace tern::spool::record
