// The asynchronous DNS resolver (DESIGN.md "dns/"): libunbound, driven by an Asio event
// loop, never blocking a thread. Answers MX and A/AAAA questions with the distinctions mail
// routing needs: a name that does not exist (NXDOMAIN: permanent), a name with no records
// of the type (NODATA), and a failure to get an answer (SERVFAIL, timeout: temporary).
// CNAME chains are followed by libunbound. Input from the network is untrusted: names and
// records are validated before use.
//
// Thread safety: a Resolver may be called from any thread; completions run on the
// executor of the awaiting coroutine. Every question is asked on the resolver's io_context
// (through a strand), where libunbound's descriptor is watched: libunbound runs in its
// threaded mode (ub_ctx_async(ctx, 1)), so its own worker thread does the network work and
// the io_context thread only hands questions over and reads answers, never blocking.
// Destroying the Resolver answers the questions still in flight with Status::temporary
// (on its io_context; if that never runs again, they are destroyed with it, unanswered).
//
// RFCs: 1035 §3.3.9 (MX), §3.4.1 (A), 3596 §2.2 (AAAA), 5321 §5.1 (MX order), 7505 (null MX),
// 6761 §6.2 (the "test." names the unit tests use).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace tern::dns {

enum class Status : std::uint8_t {
  ok,         // records in `records`
  nxdomain,   // the name does not exist (RCODE 3): permanent
  nodata,     // the name exists but has no record of that type
  temporary,  // SERVFAIL, timeout, network error: try again later
};

struct MxRecord {
  std::uint16_t preference = 0;
  std::string exchange;  // lower case, no trailing dot; "" for the null MX "." (RFC 7505)
};

struct MxAnswer {
  Status status = Status::temporary;
  std::vector<MxRecord> records;  // as received
  bool secure = false;            // DNSSEC-validated
  std::string error;              // why, for logs: when temporary, or nxdomain for a bad name
  // RFC 7505: a single MX of preference 0 and exchange "." — the domain takes no mail.
  bool null_mx() const { return records.size() == 1 && records[0].exchange.empty(); }
};

struct AddressAnswer {
  Status status = Status::temporary;
  std::vector<std::string> addresses;  // IP text: "192.0.2.1", "2001:db8::1"
  bool secure = false;
  std::string error;
};

// Which addresses addresses() asks for, and in which order it lists them. `both` lists
// the A records first, then the AAAA ones: IPv4 is the path that works for the most
// receivers (reverse DNS and reputation are more often missing for a sender's IPv6), and a
// fixed order keeps delivery predictable. `prefer_ipv6` lists AAAA first, then A.
enum class Family : std::uint8_t { ipv4, ipv6, both, prefer_ipv6 };

// How long a question may wait for libunbound's answer before it is answered
// Status::temporary "timeout": well past unbound's own retries over several servers (a
// few seconds each), short enough that a delivery attempt is not held for minutes.
inline constexpr std::chrono::milliseconds default_query_timeout{30'000};

struct Options {
  // Where questions go: empty forwarders and stubs → the system's /etc/resolv.conf.
  std::vector<std::string> forwarders;  // "192.0.2.53", "127.0.0.1@5353"
  // Zones answered by given authoritative servers (tests point test domains at a server
  // on loopback): zone → ["127.0.0.1@5353"]. A stub zone is asked even under a name that
  // libunbound otherwise answers itself (RFC 6761 "test.", "invalid."). With stub zones
  // and no forwarders, other names are resolved from the root, not through resolv.conf.
  std::map<std::string, std::vector<std::string>> stub_zones;
  std::string resolv_conf = "/etc/resolv.conf";
  std::string hosts_file = "/etc/hosts";  // "" to ignore it
  // A file of DS or DNSKEY records for the root (Debian's dns-root-data ships
  // /usr/share/dns/root.key): "" → no DNSSEC validation, and `secure` is always false.
  std::string trust_anchor_file;
  // Deadline of each question (tests shorten it); must be positive.
  std::chrono::milliseconds timeout = default_query_timeout;
};

class Resolver {
 public:
  // The resolver runs its libunbound context on `ioc` (its fd is watched there). Fails on
  // a configuration libunbound refuses (a bad address, an unreadable resolv.conf).
  static Result<std::unique_ptr<Resolver>> create(boost::asio::io_context& ioc,
                                                  const Options& options);
  virtual ~Resolver() = default;

  // MX records of `domain` (ASCII, A-labels for an IDN; a trailing dot is allowed). A name
  // that is not a valid domain name answers Status::nxdomain with the reason in `error`.
  // Records with a malformed exchange name are dropped; if none is left, the answer is
  // Status::temporary. NODATA is answered as such: the caller applies the implicit MX.
  virtual boost::asio::awaitable<MxAnswer> mx(std::string domain) = 0;
  // A and/or AAAA for `host` according to `family` (see Family for the order). With two
  // questions, the answer is ok if either has addresses (`error` then names a failed one),
  // else temporary if either failed, else nxdomain if either says so, else nodata; `secure`
  // only if both answers were validated.
  virtual boost::asio::awaitable<AddressAnswer> addresses(std::string host, Family family) = 0;
};

// MX records sorted by preference, equal preferences in random order (RFC 5321 §5.1).
std::vector<MxRecord> order_mx(std::vector<MxRecord> records);

}  // namespace tern::dns
