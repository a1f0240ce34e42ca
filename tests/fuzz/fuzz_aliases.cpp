// libFuzzer target: arbitrary text through the /etc/aliases parser (route::Aliases::parse,
// :include: off so no file is read) and the virtual map parser (route::VirtualMap::parse).
// Checks the parsers' promises: an error names the table and a line ("name:N: ..."), a
// loaded table finds its keys in any case, error entries carry a 4xx/5xx code whose class
// matches the enhanced status. Input: a first octet choosing the parser, then the text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "route/aliases.hpp"
#include "route/virtual_map.hpp"

namespace {

void check_error(const std::string& message) {
  constexpr std::string_view prefix = "fuzz:";
  if (message.compare(0, prefix.size(), prefix) != 0) std::abort();
  std::size_t i = prefix.size();
  if (i >= message.size() || message[i] < '1' || message[i] > '9') std::abort();
}

void check_target(const tern::route::AliasTarget& t) {
  using Kind = tern::route::AliasTarget::Kind;
  switch (t.kind) {
    case Kind::error:
      if (t.code < 400 || t.code > 599 || t.enhanced.empty() ||
          t.enhanced[0] != static_cast<char>('0' + t.code / 100) || t.value.empty())
        std::abort();
      break;
    case Kind::address:
      if (t.address.domain_ascii.empty()) std::abort();
      break;
    case Kind::local:
    case Kind::file:
    case Kind::pipe:
      if (t.value.empty()) std::abort();
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    auto map = tern::route::VirtualMap::parse(text, "fuzz");
    if (!map) check_error(map.error().message);
    return 0;
  }
  tern::route::AliasOptions options;
  options.allow_includes = false;
  auto aliases = tern::route::Aliases::parse(text, "fuzz", options);
  if (!aliases) {
    check_error(aliases.error().message);
    return 0;
  }
  // Every key of the text that loaded is found, whatever its case: probe the first word.
  std::string_view first = text.substr(0, text.find(':'));
  if (!first.empty() && first.find_first_of(" \t\r\n\v\f\"#") == std::string_view::npos &&
      aliases->size() > 0) {
    std::string upper(first);
    for (char& c : upper)
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    const auto* e = aliases->find(upper);
    if (e == nullptr) std::abort();
    for (const auto& t : e->targets) check_target(t);
  }
  return 0;
}
