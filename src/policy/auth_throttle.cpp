// See auth_throttle.hpp.
#include "policy/auth_throttle.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace tern::policy {
namespace {

// The key of a client: its IPv4 address, or for IPv6 its /64, the prefix one subscriber
// gets (RFC 6177): a client changing addresses inside it is still the same client.
std::string client_key(std::string_view ip) {
  if (ip.find(':') == std::string_view::npos) return std::string(ip);
  in6_addr a{};
  if (::inet_pton(AF_INET6, std::string(ip).c_str(), &a) != 1) return std::string(ip);
  std::fill(a.s6_addr + 8, a.s6_addr + 16, 0);
  char text[INET6_ADDRSTRLEN];
  if (!::inet_ntop(AF_INET6, &a, text, sizeof text)) return std::string(ip);
  return std::string(text) + "/64";
}

}  // namespace

bool AuthThrottle::blocked(std::string_view ip, const config::Auth& settings,
                           Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = clients_.find(client_key(ip));
  if (it == clients_.end()) return false;
  if (now - it->second.last >= settings.failure_window) {
    clients_.erase(it);
    return false;
  }
  return it->second.failures >= settings.max_failures;
}

AuthThrottle::AfterFailure AuthThrottle::failed(std::string_view ip, const config::Auth& settings,
                                                Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (clients_.size() >= max_clients) prune(settings, now);
  Entry& e = clients_[client_key(ip)];
  if (e.failures > 0 && now - e.last >= settings.failure_window) e.failures = 0;
  e.failures = std::min<std::uint32_t>(e.failures + 1, max_count);
  e.last = now;
  AfterFailure out;
  out.failures = e.failures;
  // Linear growth, capped at max_delay (see there).
  auto delay = settings.failure_delay * static_cast<std::int64_t>(e.failures);
  out.delay = std::min<std::chrono::seconds>(delay, max_delay);
  out.drop = e.failures >= settings.max_failures;
  return out;
}

// Drops entries past the window; if that frees too little, the least recent half of those
// not blocked, so a flood of new addresses cannot unblock one (the blocked ones go only
// when nothing else is left to drop).
void AuthThrottle::prune(const config::Auth& settings, Clock::time_point now) {
  std::erase_if(clients_, [&](const auto& kv) { return now - kv.second.last >= settings.failure_window; });
  if (clients_.size() < max_clients) return;
  auto blocked = [&](const Entry& e) { return e.failures >= settings.max_failures; };
  std::vector<Clock::time_point> times;
  for (auto& [key, e] : clients_)
    if (!blocked(e)) times.push_back(e.last);
  if (times.empty()) {
    clients_.clear();
    return;
  }
  auto mid = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
  std::nth_element(times.begin(), mid, times.end());
  auto cut = *mid;
  std::erase_if(clients_, [&](const auto& kv) { return !blocked(kv.second) && kv.second.last <= cut; });
}

}  // namespace tern::policy
