// Queue ID generation; see queue_id.hpp.
#include "core/queue_id.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace tern {
namespace {
// Crockford-like base 32 without I, L, O, U: unambiguous when read aloud.
constexpr char digits[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::size_t time_digits = 11;  // 55 bits of microseconds: until year 3111
constexpr std::size_t tail_digits = 5;   // 25 bits of the process ID

void put(std::string& out, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[out.size() - 1 - i] = digits[(v >> (5 * i)) & 31];
}
}  // namespace

std::string make_queue_id() {
  static std::atomic<std::uint64_t> last_us{0};
  // The pid in the tail keeps IDs of two processes (ternd and a restarted ternd) apart.
  static const std::uint64_t pid_bits = static_cast<std::uint64_t>(getpid()) & 0x1ffffff;
  auto now = std::chrono::system_clock::now().time_since_epoch();
  std::uint64_t us = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
  // Strictly increasing within the process (even across clock steps), so IDs are unique.
  std::uint64_t prev = last_us.load();
  std::uint64_t next;
  do {
    next = std::max(us, prev + 1);
  } while (!last_us.compare_exchange_weak(prev, next));
  us = next;
  std::string head(time_digits, '0');
  put(head, us, time_digits);
  std::string tail(tail_digits, '0');
  put(tail, pid_bits, tail_digits);
  return head + tail;
}

bool valid_queue_id(std::string_view id) {
  if (id.size() != time_digits + tail_digits) return false;
  for (char c : id)
    if (std::string_view(digits).find(c) == std::string_view::npos) return false;
  return true;
}

}  // namespace tern
