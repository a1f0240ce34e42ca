// Orders: MX records (RFC 5321 §5.1: lowest preference first; among equal preferences the
// order is random, so that equal MX hosts share the load), and the address questions of a
// Family (see resolver.hpp). Input: records already parsed.
#include <algorithm>
#include <random>

#include "dns/records.hpp"
#include "dns/resolver.hpp"

namespace tern::dns {
namespace {

// One generator per thread: no lock, and seeded once from the system's entropy.
std::mt19937& generator() {
  thread_local std::mt19937 g{std::random_device{}()};
  return g;
}

}  // namespace

std::vector<MxRecord> order_mx(std::vector<MxRecord> records) {
  // A shuffle, then a stable sort by preference: equal preferences keep the shuffled order.
  std::shuffle(records.begin(), records.end(), generator());
  std::stable_sort(records.begin(), records.end(), [](const MxRecord& a, const MxRecord& b) {
    return a.preference < b.preference;
  });
  return records;
}

std::vector<int> address_types(Family family) {
  switch (family) {
    case Family::ipv4:
      return {rr_type_a};
    case Family::ipv6:
      return {rr_type_aaaa};
    case Family::both:
      return {rr_type_a, rr_type_aaaa};
    case Family::prefer_ipv6:
      return {rr_type_aaaa, rr_type_a};
  }
  return {rr_type_a, rr_type_aaaa};  // unreachable: every Family is listed above
}

}  // namespace tern::dns
