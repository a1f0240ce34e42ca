// Reading DNS answers (internal to dns/): libunbound's rdata as it came from the network
// (untrusted: every length is checked), names given by callers, and the combination of raw
// answers into the MxAnswer and AddressAnswer of resolver.hpp.
//
// RFCs: 1035 §2.3.4 (size limits), §3.1 (name wire format), §3.3.9 (MX RDATA), §3.4.1 (A
// RDATA), 3596 §2.2 (AAAA RDATA), 7505 §3 (null MX), 1123 §2.1 and 952 (host name syntax).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "dns/resolver.hpp"

namespace tern::dns {

// RR types and class asked for (RFC 1035 §3.2.2, §3.2.4; RFC 3596 §2.1).
inline constexpr int rr_type_a = 1;
inline constexpr int rr_type_mx = 15;
inline constexpr int rr_type_aaaa = 28;
inline constexpr int rr_class_in = 1;

// RFC 1035 §2.3.4: a label is at most 63 octets, a name at most 255 octets on the wire.
inline constexpr std::size_t max_label_octets = 63;
inline constexpr std::size_t max_name_octets = 255;

// One question's outcome as libunbound gave it: rdata still in wire format.
struct RawAnswer {
  Status status = Status::temporary;
  std::vector<std::string> rdata;  // one entry per record, uncompressed wire format
  bool secure = false;
  std::string error;
};

// Wire-format name (uncompressed, RFC 1035 §3.1) that fills `wire` exactly → lower-case
// dotted text without the trailing dot ("" for the root). Nothing for a compression
// pointer, an over-long label or name, trailing bytes, or a label byte outside letters,
// digits, '-' and '_' (host names, RFC 1123 §2.1; '_' is common enough in the wild).
std::optional<std::string> parse_name(std::string_view wire);

// MX RDATA: 16-bit preference, then the exchange name.
std::optional<MxRecord> parse_mx(std::string_view rdata);

// A RDATA (4 octets) and AAAA RDATA (16 octets) → address text.
std::optional<std::string> parse_a(std::string_view rdata);
std::optional<std::string> parse_aaaa(std::string_view rdata);

// A caller's domain name as text → the name to ask for (lower case, no trailing dot), or
// why it is not one: empty labels, a label over 63 octets, a name over 255 octets on the
// wire, or a character that no host name has.
Result<std::string> query_name(std::string_view text);

// The answer to an MX question.
MxAnswer mx_answer(const RawAnswer& raw);

// The answer to the address questions `types` (rr_type_a / rr_type_aaaa), listed in that
// order; see Resolver::addresses for how the statuses combine.
AddressAnswer address_answer(std::span<const RawAnswer> answers, std::span<const int> types);

// The address questions for `family`, in the order their addresses are listed.
std::vector<int> address_types(Family family);

}  // namespace tern::dns
