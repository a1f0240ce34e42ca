// IP networks in CIDR form ("127.0.0.0/8", "::1/128") for relay.networks and similar
// client lists. IPv4 addresses are held as IPv4-mapped IPv6 (RFC 4291 §2.5.5.2), so one
// comparison serves both families and a v4 client seen on a v6 socket still matches.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tern::config {

using IpBytes = std::array<std::uint8_t, 16>;

// Parses "192.0.2.1", "2001:db8::1" or "::ffff:192.0.2.1" into 16 bytes.
std::optional<IpBytes> parse_ip(std::string_view text);

struct Network {
  IpBytes address{};
  int prefix = 128;  // in IPv6 bits (an IPv4 /8 is stored as /104)
  // An IPv4 network (written as IPv4, or inside ::ffff:0:0/96). IPv6 networks never match
  // IPv4 clients, so "::/0" is not "everyone" (as in Postfix's mynetworks).
  bool v4 = false;

  // "a.b.c.d/n", "x::y/n", or a single address (a host route).
  static std::optional<Network> parse(std::string_view text);
  bool contains(const IpBytes& ip) const;
};

}  // namespace tern::config
