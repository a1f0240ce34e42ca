// Reading DNS answers: wire-format names and RDATA from libunbound (untrusted, every length
// checked before use), caller-supplied names, and the combination of raw answers. See
// records.hpp. RFC 1035 §2.3.4, §3.1, §3.3.9, §3.4.1; RFC 3596 §2.2; RFC 7505.
#include "dns/records.hpp"

#include <arpa/inet.h>

#include <array>

namespace tern::dns {
namespace {

// RFC 1035 §3.3.9: the MX preference is a 16-bit integer ahead of the exchange name.
constexpr std::size_t mx_preference_octets = 2;
// RFC 1035 §3.4.1 and RFC 3596 §2.2: the sizes of A and AAAA RDATA.
constexpr std::size_t a_octets = 4;
constexpr std::size_t aaaa_octets = 16;
// The two top bits of a length octet that mark a compression pointer or an extended label
// type (RFC 1035 §4.1.4, RFC 6891 §5): never in the uncompressed rdata libunbound returns.
constexpr std::uint8_t label_type_bits = 0xC0;

// Letters, digits, '-' and '_': what a host name label may hold (see records.hpp).
bool host_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

char lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// The answer an ok question gives when none of its records could be read.
RawAnswer malformed(const RawAnswer& raw, std::string_view what) {
  RawAnswer r;
  r.status = Status::temporary;
  r.secure = raw.secure;
  r.error = "malformed " + std::string(what) + " records in the answer";
  return r;
}

std::string_view type_name(int type) { return type == rr_type_aaaa ? "AAAA" : "A"; }

}  // namespace

std::optional<std::string> parse_name(std::string_view wire) {
  std::string text;
  std::size_t pos = 0;
  while (true) {
    if (pos >= wire.size()) return std::nullopt;  // no root label
    auto len = static_cast<std::uint8_t>(wire[pos]);
    if ((len & label_type_bits) != 0) return std::nullopt;
    if (len == 0) break;
    if (len > max_label_octets || pos + 1 + len > wire.size()) return std::nullopt;
    if (!text.empty()) text += '.';
    for (std::size_t i = pos + 1; i < pos + 1 + len; ++i) {
      auto c = static_cast<unsigned char>(wire[i]);
      if (!host_char(c)) return std::nullopt;
      text += lower(c);
    }
    pos += 1 + len;
  }
  // The root label ends the name, and the name ends the data.
  if (pos + 1 != wire.size() || wire.size() > max_name_octets) return std::nullopt;
  return text;
}

std::optional<MxRecord> parse_mx(std::string_view rdata) {
  if (rdata.size() < mx_preference_octets) return std::nullopt;
  auto name = parse_name(rdata.substr(mx_preference_octets));
  if (!name) return std::nullopt;
  MxRecord r;
  r.preference = static_cast<std::uint16_t>((static_cast<std::uint8_t>(rdata[0]) << 8) |
                                            static_cast<std::uint8_t>(rdata[1]));
  r.exchange = std::move(*name);
  return r;
}

std::optional<std::string> parse_a(std::string_view rdata) {
  if (rdata.size() != a_octets) return std::nullopt;
  std::array<char, INET_ADDRSTRLEN> buf{};
  if (::inet_ntop(AF_INET, rdata.data(), buf.data(), buf.size()) == nullptr) return std::nullopt;
  return std::string(buf.data());
}

std::optional<std::string> parse_aaaa(std::string_view rdata) {
  if (rdata.size() != aaaa_octets) return std::nullopt;
  std::array<char, INET6_ADDRSTRLEN> buf{};
  if (::inet_ntop(AF_INET6, rdata.data(), buf.data(), buf.size()) == nullptr) return std::nullopt;
  return std::string(buf.data());
}

Result<std::string> query_name(std::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  if (text.empty()) return fail("empty domain name");
  // On the wire: one length octet per label (the dots plus the first) and the root octet.
  if (text.size() + 2 > max_name_octets) return fail("domain name longer than 255 octets");
  std::string name;
  name.reserve(text.size());
  std::size_t label = 0;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '.') {
      if (label == 0) return fail("empty label in domain name");
      label = 0;
      name += '.';
      continue;
    }
    if (!host_char(c)) return fail("character not allowed in a domain name (IDNs need A-labels)");
    if (++label > max_label_octets) return fail("label longer than 63 octets in domain name");
    name += lower(c);
  }
  if (label == 0) return fail("empty label in domain name");
  return name;
}

MxAnswer mx_answer(const RawAnswer& raw) {
  MxAnswer a;
  a.status = raw.status;
  a.secure = raw.secure;
  a.error = raw.error;
  if (raw.status != Status::ok) return a;
  for (const auto& rdata : raw.rdata) {
    if (auto r = parse_mx(rdata)) a.records.push_back(std::move(*r));
  }
  if (a.records.empty()) {
    auto m = malformed(raw, "MX");
    a.status = m.status;
    a.error = m.error;
  }
  return a;
}

AddressAnswer address_answer(std::span<const RawAnswer> answers, std::span<const int> types) {
  AddressAnswer a;
  a.secure = !answers.empty();
  bool temporary = false;
  bool nxdomain = false;
  for (std::size_t i = 0; i < answers.size() && i < types.size(); ++i) {
    RawAnswer raw = answers[i];
    if (raw.status == Status::ok) {
      std::size_t before = a.addresses.size();
      for (const auto& rdata : raw.rdata) {
        auto text = types[i] == rr_type_aaaa ? parse_aaaa(rdata) : parse_a(rdata);
        if (text) a.addresses.push_back(std::move(*text));
      }
      if (a.addresses.size() == before) raw = malformed(raw, type_name(types[i]));
    }
    a.secure = a.secure && raw.secure;
    if (raw.status == Status::temporary) {
      temporary = true;
      if (!a.error.empty()) a.error += "; ";
      a.error += std::string(type_name(types[i])) + ": " + raw.error;
    }
    nxdomain = nxdomain || raw.status == Status::nxdomain;
  }
  if (!a.addresses.empty()) {
    a.status = Status::ok;
  } else if (temporary) {
    a.status = Status::temporary;
  } else if (nxdomain) {
    a.status = Status::nxdomain;
  } else {
    a.status = Status::nodata;
  }
  return a;
}

}  // namespace tern::dns
