// Address parsing: RFC 5321 §4.1.2 Path / Mailbox / Local-part / Domain / address-literal,
// RFC 6531 §3.3 UTF-8 extensions (atext, qtextSMTP and sub-domain may hold UTF-8), RFC 5890
// IDN: domains with U-labels or "xn--" labels go through libidn2 (UTS #46 non-transitional)
// to get the A-label form used for routing. Input is untrusted network text; the parser is
// linear in its input and never reads past the closing '>'.
#include "mail/address.hpp"

#include <idn2.h>

#include <cstdlib>

#include "core/ascii.hpp"

namespace tern::mail {
namespace {

// RFC 1035 §2.3.4: a DNS label holds at most 63 octets.
constexpr std::size_t max_label = 63;
// RFC 5321 §4.1.4 / §4.5.3.1.3: a Mailbox in a Path is the Path less its "<" and ">".
constexpr std::size_t max_mailbox = max_path - 2;

bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_let_dig(unsigned char c) { return is_alpha(c) || is_digit(c); }
bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

// RFC 5322 §3.2.3 atext (RFC 5321 §4.1.2 uses it for Atom).
bool is_atext(unsigned char c) {
  constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
  return is_let_dig(c) || (c != 0 && specials.find(static_cast<char>(c)) != specials.npos);
}

// RFC 5321 §4.1.2 qtextSMTP: %d32-33 / %d35-91 / %d93-126 (not '"' nor '\').
bool is_qtext(unsigned char c) { return c >= 32 && c <= 126 && c != '"' && c != '\\'; }

// Length of the well-formed UTF-8 sequence (RFC 3629 §4) starting at s[i], or 0.
// Rejects overlong forms, surrogates and code points above U+10FFFF.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto at = [&](std::size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0x100;
  };
  auto tail = [](unsigned c, unsigned lo = 0x80, unsigned hi = 0xBF) { return c >= lo && c <= hi; };
  unsigned c = at(0);
  if (c >= 0xC2 && c <= 0xDF) return tail(at(1)) ? 2 : 0;
  if (c == 0xE0) return tail(at(1), 0xA0) && tail(at(2)) ? 3 : 0;
  if (c == 0xED) return tail(at(1), 0x80, 0x9F) && tail(at(2)) ? 3 : 0;
  if (c >= 0xE1 && c <= 0xEF) return tail(at(1)) && tail(at(2)) ? 3 : 0;
  if (c == 0xF0) return tail(at(1), 0x90) && tail(at(2)) && tail(at(3)) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return tail(at(1)) && tail(at(2)) && tail(at(3)) ? 4 : 0;
  if (c == 0xF4) return tail(at(1), 0x80, 0x8F) && tail(at(2)) && tail(at(3)) ? 4 : 0;
  return 0;
}

bool has_non_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return true;
  return false;
}

// Checks an all-ASCII domain: RFC 5321 §4.1.2 sub-domain *("." sub-domain), sub-domain =
// Let-dig [Ldh-str], each label at most max_label octets. No trailing '.'.
bool ascii_domain_ok(std::string_view d) {
  if (d.empty() || d.size() > max_domain) return false;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = d.find('.', start);
    std::string_view label = d.substr(start, dot == std::string_view::npos ? d.npos : dot - start);
    if (label.empty() || label.size() > max_label) return false;
    if (!is_let_dig(label.front()) || !is_let_dig(label.back())) return false;
    for (unsigned char c : label)
      if (!is_let_dig(c) && c != '-') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// True when some label starts with "xn--" (an A-label libidn2 must validate).
bool has_a_label(std::string_view d) {
  for (std::size_t start = 0; start < d.size();) {
    if (d.size() - start >= 4 && iequals(d.substr(start, 4), "xn--")) return true;
    std::size_t dot = d.find('.', start);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return false;
}

// RFC 5321 §4.1.3 address-literal shapes.
constexpr int ipv4_parts = 4;               // Snum 3("." Snum)
constexpr std::size_t max_snum_digits = 3;  // Snum = 1*3DIGIT
constexpr unsigned max_snum = 255;          // "a decimal integer value in the range 0 through 255"
constexpr int ipv6_groups = 8;              // 128 bits in 16-bit groups
constexpr std::size_t max_hex_digits = 4;   // IPv6-hex = 1*4HEXDIG
constexpr int ipv4_in_groups = 2;           // an embedded IPv4 address is 32 bits

// IPv4-address-literal: Snum 3("." Snum).
bool ipv4_ok(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t digits = 0;
    unsigned value = 0;
    while (i < s.size() && is_digit(s[i]) && digits < max_snum_digits) {
      value = value * 10 + static_cast<unsigned>(s[i] - '0');
      ++i, ++digits;
    }
    if (digits == 0 || value > max_snum) return false;
    if (++parts == ipv4_parts) return i == s.size();
    if (i >= s.size() || s[i] != '.') return false;
    ++i;
  }
}

// IPv6-addr (RFC 5321 §4.1.3, RFC 4291 §2.2): up to 8 groups of 1-4 hex digits, one "::"
// for a run of zero groups, optionally ending in an IPv4 address worth two groups. We accept
// "::" standing for a single group (RFC 4291 allows it; RFC 5321 asks for two).
bool ipv6_ok(std::string_view s) {
  int groups = 0;
  bool compressed = false;
  std::size_t i = 0;
  if (s.substr(0, 2) == "::") {
    compressed = true;
    i = 2;
    if (i == s.size()) return true;
  } else if (!s.empty() && s[0] == ':') {
    return false;
  }
  while (i < s.size()) {
    std::size_t start = i;
    while (i < s.size() && is_hex(s[i]) && i - start <= max_hex_digits) ++i;
    if (i < s.size() && s[i] == '.') {  // trailing IPv4 part
      if (!ipv4_ok(s.substr(start))) return false;
      groups += ipv4_in_groups;
      i = s.size();
      break;
    }
    std::size_t len = i - start;
    if (len == 0 || len > max_hex_digits) return false;
    ++groups;
    if (i == s.size()) break;
    if (s[i] != ':') return false;
    ++i;
    if (i < s.size() && s[i] == ':') {
      if (compressed) return false;
      compressed = true;
      ++i;
      if (i == s.size()) break;
    } else if (i == s.size()) {
      return false;  // a single trailing ':'
    }
  }
  return compressed ? groups < ipv6_groups : groups == ipv6_groups;
}

// The address-literal between '[' and ']' in canonical form, or empty when invalid.
// Only the IPv4 form and the "IPv6:" tag are accepted: General-address-literal tags must be
// IANA-registered (RFC 5321 §4.1.3) and none but IPv6 is.
std::string canonical_literal(std::string_view inner) {
  constexpr std::string_view ipv6_tag = "IPv6:";
  if (inner.size() > ipv6_tag.size() && iequals(inner.substr(0, ipv6_tag.size()), ipv6_tag)) {
    std::string_view addr = inner.substr(ipv6_tag.size());
    if (!ipv6_ok(addr)) return {};
    return "[IPv6:" + ascii_lower(addr) + "]";
  }
  if (!ipv4_ok(inner)) return {};
  return "[" + std::string(inner) + "]";
}

// Lower-case A-label form of a domain that passed the syntax scan, or empty when libidn2
// refuses it (malformed U-label or A-label) or the result is not a plain LDH domain.
std::string idn_to_ascii(std::string_view domain) {
  if (!has_non_ascii(domain) && !has_a_label(domain)) {
    std::string r = ascii_lower(domain);
    return ascii_domain_ok(r) ? r : std::string{};
  }
  std::string z(domain);  // NUL-terminated copy; the scan guarantees no NUL inside
  char* raw = nullptr;
  int rc = idn2_to_ascii_8z(z.c_str(), &raw, IDN2_NONTRANSITIONAL);
  if (rc != IDN2_OK || raw == nullptr) {
    idn2_free(raw);
    return {};
  }
  std::string r = ascii_lower(raw);
  idn2_free(raw);
  // UTS #46 mapping can turn e.g. U+FF0E into '.', so the result is checked again.
  return ascii_domain_ok(r) ? r : std::string{};
}

// A cursor over untrusted input with the RFC 5321 §4.1.2 productions as methods.
class Parser {
 public:
  explicit Parser(std::string_view in) : in_(in) {}

  std::size_t pos() const { return pos_; }
  bool at_end() const { return pos_ >= in_.size(); }
  bool peek(char c) const { return pos_ < in_.size() && in_[pos_] == c; }
  bool take(char c) {
    if (!peek(c)) return false;
    ++pos_;
    return true;
  }
  bool take_icase(std::string_view word) {
    if (in_.size() - pos_ < word.size() || !iequals(in_.substr(pos_, word.size()), word))
      return false;
    pos_ += word.size();
    return true;
  }

  // Local-part = Dot-string / Quoted-string; `out` receives it unquoted.
  bool local_part(std::string& out) { return peek('"') ? quoted_string(out) : dot_string(out); }

  // Domain = sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str] / U-label.
  // Only the shape is checked here (labels of letters, digits, inner hyphens, UTF-8);
  // U-labels are judged by libidn2 later.
  bool domain(std::string_view& out) {
    std::size_t start = pos_;
    while (true) {
      std::size_t label_start = pos_;
      bool ascii = true;
      while (pos_ < in_.size()) {
        unsigned char c = static_cast<unsigned char>(in_[pos_]);
        if (is_let_dig(c) || c == '-') {
          ++pos_;
        } else if (c >= 0x80) {
          std::size_t n = utf8_sequence(in_, pos_);
          if (n == 0) return false;
          pos_ += n;
          ascii = false;
        } else {
          break;
        }
      }
      std::string_view label = in_.substr(label_start, pos_ - label_start);
      if (label.empty() || label.front() == '-' || label.back() == '-') return false;
      if (ascii && label.size() > max_label) return false;
      if (!take('.')) break;
    }
    out = in_.substr(start, pos_ - start);
    return true;
  }

  // address-literal = "[" ... "]" (RFC 5321 §4.1.3); `out` receives the canonical form.
  bool address_literal(std::string& out) {
    if (!take('[')) return false;
    std::size_t start = pos_;
    // dcontent = %d33-90 / %d94-126: printable ASCII except '[', '\', ']'.
    while (pos_ < in_.size() && in_[pos_] >= 33 && in_[pos_] <= 126 && in_[pos_] != '[' &&
           in_[pos_] != '\\' && in_[pos_] != ']')
      ++pos_;
    std::string_view inner = in_.substr(start, pos_ - start);
    if (!take(']')) return false;
    out = canonical_literal(inner);
    return !out.empty();
  }

  // A-d-l = At-domain *( "," At-domain ) ":" — RFC 5321 §4.1.2 / Appendix C: source
  // routes are obsolete; we check their syntax and ignore them.
  bool source_route() {
    do {
      std::string_view ignored;
      if (!take('@') || !domain(ignored)) return false;
    } while (take(','));
    return take(':');
  }

 private:
  // Dot-string = Atom *("." Atom), Atom = 1*atext (RFC 6531: atext =/ UTF8-non-ascii).
  bool dot_string(std::string& out) {
    std::size_t start = pos_;
    while (true) {
      std::size_t atom_start = pos_;
      while (pos_ < in_.size()) {
        unsigned char c = static_cast<unsigned char>(in_[pos_]);
        if (is_atext(c)) {
          ++pos_;
        } else if (c >= 0x80) {
          std::size_t n = utf8_sequence(in_, pos_);
          if (n == 0) return false;
          pos_ += n;
        } else {
          break;
        }
      }
      if (pos_ == atom_start) return false;
      if (!take('.')) break;
    }
    out.assign(in_.substr(start, pos_ - start));
    return true;
  }

  // Quoted-string = DQUOTE *QcontentSMTP DQUOTE; quoted-pairSMTP = "\" %d32-126.
  bool quoted_string(std::string& out) {
    if (!take('"')) return false;
    out.clear();
    while (pos_ < in_.size()) {
      unsigned char c = static_cast<unsigned char>(in_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c == '\\') {
        if (pos_ + 1 >= in_.size()) return false;
        unsigned char e = static_cast<unsigned char>(in_[pos_ + 1]);
        if (e < 32 || e > 126) return false;
        out.push_back(static_cast<char>(e));
        pos_ += 2;
      } else if (is_qtext(c)) {
        out.push_back(static_cast<char>(c));
        ++pos_;
      } else if (c >= 0x80) {
        std::size_t n = utf8_sequence(in_, pos_);
        if (n == 0) return false;
        out.append(in_.substr(pos_, n));
        pos_ += n;
      } else {
        return false;
      }
    }
    return false;  // no closing quote
  }

  std::string_view in_;
  std::size_t pos_ = 0;
};

using AddressResult = Result<Address, AddressError>;

// Mailbox = Local-part "@" ( Domain / address-literal ), at the parser's position.
AddressResult mailbox(Parser& p, bool allow_utf8) {
  Address a;
  std::size_t local_start = p.pos();
  if (!p.local_part(a.local)) return fail(AddressError::syntax);
  std::size_t local_wire = p.pos() - local_start;
  if (!p.take('@')) return fail(AddressError::syntax);

  if (p.peek('[')) {
    if (!p.address_literal(a.domain)) return fail(AddressError::syntax);
    a.domain_ascii = a.domain;
  } else {
    std::string_view d;
    if (!p.domain(d)) return fail(AddressError::syntax);
    a.domain = ascii_lower(d);
  }
  // RFC 5321 §4.5.3.1.1: 64 octets of local part, as sent (quotes included), so that
  // text() — never longer than the wire form — stays within the limit too.
  if (local_wire > max_local_part || a.domain.size() > max_domain)
    return fail(AddressError::too_long);
  // RFC 6531 §3.2: without SMTPUTF8 the envelope is ASCII.
  if (!allow_utf8 && a.utf8()) return fail(AddressError::utf8_not_allowed);
  if (!a.is_literal()) {
    a.domain_ascii = idn_to_ascii(a.domain);
    if (a.domain_ascii.empty()) return fail(AddressError::syntax);
  }
  return a;
}

}  // namespace

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

bool Address::utf8() const { return has_non_ascii(local) || has_non_ascii(domain); }

std::string Address::text() const {
  if (null()) return {};
  // Dot-string: atoms of atext (or UTF-8) separated by single dots.
  bool dot_string = !local.empty() && local.front() != '.' && local.back() != '.';
  for (std::size_t i = 0; dot_string && i < local.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(local[i]);
    if (c == '.')
      dot_string = local[i + 1] != '.';
    else
      dot_string = is_atext(c) || c >= 0x80;
  }
  std::string s;
  if (dot_string) {
    s = local;
  } else {
    s.push_back('"');
    for (char c : local) {
      if (c == '"' || c == '\\') s.push_back('\\');
      s.push_back(c);
    }
    s.push_back('"');
  }
  if (domain.empty()) return s;  // the bare <postmaster> of RFC 5321 §4.1.1.3
  s.push_back('@');
  s += domain;
  return s;
}

Result<Address, AddressError> parse_path(std::string_view in, const PathOptions& options,
                                         std::size_t& consumed) {
  Parser p(in);
  if (!p.take('<')) return fail(AddressError::syntax);
  if (p.take('>')) {
    if (!options.allow_null) return fail(AddressError::syntax);
    consumed = p.pos();
    return Address{};
  }
  if (options.allow_bare_postmaster && p.take_icase("postmaster>")) {
    consumed = p.pos();
    return Address{"postmaster", "", ""};
  }
  if (p.peek('@') && !p.source_route()) return fail(AddressError::syntax);
  auto a = mailbox(p, options.allow_utf8);
  if (!a) return a;
  if (!p.take('>')) return fail(AddressError::syntax);
  // RFC 5321 §4.5.3.1.3: 256 octets of path, punctuation and any source route included.
  if (p.pos() > max_path) return fail(AddressError::too_long);
  consumed = p.pos();
  return a;
}

Result<Address, AddressError> parse_mailbox(std::string_view in, bool allow_utf8) {
  Parser p(in);
  auto a = mailbox(p, allow_utf8);
  if (!a) return a;
  if (!p.at_end()) return fail(AddressError::syntax);
  if (in.size() > max_mailbox) return fail(AddressError::too_long);
  return a;
}

std::string domain_to_ascii(std::string_view domain) {
  Parser p(domain);
  if (p.peek('[')) {
    std::string literal;
    if (!p.address_literal(literal) || !p.at_end()) return {};
    return literal;
  }
  std::string_view d;
  if (!p.domain(d) || !p.at_end() || d.size() > max_domain) return {};
  return idn_to_ascii(d);
}

}  // namespace tern::mail
