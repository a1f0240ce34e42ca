// libFuzzer target: arbitrary octets through parse_path, parse_mailbox, domain_to_ascii
// and header_addresses. Checks the parser's promises: `consumed` ends at a '>', length limits
// hold, UTF-8 appears only when allowed, the routing domain is lower-case ASCII, and text()
// parses back to the same address. Input: a first octet of options, then the path text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mail/address.hpp"
#include "mail/headers.hpp"

namespace {

using namespace tern::mail;

void check_address(const Address& a, bool allow_utf8) {
  if (a.utf8() && !allow_utf8) std::abort();
  if (a.domain.size() > max_domain || a.domain_ascii.size() > max_domain) std::abort();
  for (char c : a.domain_ascii) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) std::abort();
    if (c >= 'A' && c <= 'Z' && !a.is_literal()) std::abort();  // literals keep "IPv6:"
  }
  if (!valid_utf8(a.local) || !valid_utf8(a.domain)) std::abort();
  if (a.null() || a.domain.empty()) return;
  if (a.domain_ascii.empty()) std::abort();
  // text() is never longer than the wire form, so it parses back within the limits.
  std::string text = a.text();
  auto again = parse_mailbox(text, allow_utf8);
  if (!again || again->local != a.local || again->domain != a.domain ||
      again->domain_ascii != a.domain_ascii)
    std::abort();
  if (domain_to_ascii(a.domain) != a.domain_ascii) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  PathOptions options;
  options.allow_utf8 = data[0] & 1;
  options.allow_null = data[0] & 2;
  options.allow_bare_postmaster = data[0] & 4;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

  std::size_t consumed = 0;
  if (auto a = parse_path(in, options, consumed)) {
    if (consumed < 2 || consumed > in.size() || consumed > max_path) std::abort();
    if (in[0] != '<' || in[consumed - 1] != '>') std::abort();
    if (a->null() && !options.allow_null) std::abort();
    if (!a->null() && a->domain.empty() &&
        (!options.allow_bare_postmaster || a->local != "postmaster"))
      std::abort();
    check_address(*a, options.allow_utf8);
  }
  if (auto a = parse_mailbox(in, options.allow_utf8)) {
    if (in.size() > max_path - 2 || a->domain.empty()) std::abort();
    check_address(*a, options.allow_utf8);
  }
  // The From: header reader (mail/headers.hpp) sees the same kind of text.
  if (auto specs = header_addresses(in))
    for (const auto& spec : *specs)
      if (spec.empty() || spec.size() > in.size()) std::abort();
  std::string ascii = domain_to_ascii(in);
  if (ascii.size() > max_domain) std::abort();
  (void)valid_utf8(in);
  return 0;
}
