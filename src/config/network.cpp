// CIDR parsing and matching; see network.hpp.
#include "config/network.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace tern::config {

std::optional<IpBytes> parse_ip(std::string_view text) {
  std::string s(text);
  IpBytes out{};
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

namespace {
bool is_v4_mapped(const IpBytes& ip) {
  for (int i = 0; i < 10; ++i)
    if (ip[i] != 0) return false;
  return ip[10] == 0xff && ip[11] == 0xff;
}
}  // namespace

std::optional<Network> Network::parse(std::string_view text) {
  auto slash = text.find('/');
  auto ip = parse_ip(text.substr(0, slash));
  if (!ip) return std::nullopt;
  bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
  int max_bits = v4 ? 32 : 128;
  int bits = max_bits;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (ec != std::errc() || ptr != digits.data() + digits.size() || digits.empty() ||
        bits < 0 || bits > max_bits)
      return std::nullopt;
  }
  Network n;
  n.address = *ip;
  n.prefix = v4 ? bits + 96 : bits;
  n.v4 = is_v4_mapped(*ip) && n.prefix >= 96;
  // Clear host bits so "10.1.2.3/8" means 10.0.0.0/8, as Postfix's mynetworks does.
  for (int i = 0; i < 16; ++i) {
    int keep = std::min(8, std::max(0, n.prefix - i * 8));
    n.address[i] &= static_cast<std::uint8_t>(keep == 0 ? 0 : (0xff << (8 - keep)) & 0xff);
  }
  return n;
}

bool Network::contains(const IpBytes& ip) const {
  if (v4 != is_v4_mapped(ip)) return false;
  for (int i = 0; i < 16; ++i) {
    int keep = std::min(8, std::max(0, prefix - i * 8));
    if (keep == 0) return true;
    auto mask = static_cast<std::uint8_t>((0xff << (8 - keep)) & 0xff);
    if ((ip[i] & mask) != address[i]) return false;
  }
  return true;
}

}  // namespace tern::config
