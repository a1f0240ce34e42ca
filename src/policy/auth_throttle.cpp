// See auth_throttle.hpp.
#include "policy/auth_throttle.hpp"

#include <algorithm>

namespace tern::policy {

bool AuthThrottle::blocked(std::string_view ip, const config::Auth& settings,
                           Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = clients_.find(std::string(ip));
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
  Entry& e = clients_[std::string(ip)];
  if (e.failures > 0 && now - e.last >= settings.failure_window) e.failures = 0;
  e.failures = std::min<std::uint32_t>(e.failures + 1, 1'000'000);
  e.last = now;
  AfterFailure out;
  out.failures = e.failures;
  // Linear growth, capped at 30 s: past that the client's own timeout (RFC 5321 §4.5.3.2
  // gives clients 5 minutes) would not end it, but our session slots matter more.
  auto delay = settings.failure_delay * static_cast<std::int64_t>(e.failures);
  out.delay = std::min<std::chrono::seconds>(delay, std::chrono::seconds(30));
  out.drop = e.failures >= settings.max_failures;
  return out;
}

// Drops entries past the window; if that frees too little, the least recent half.
void AuthThrottle::prune(const config::Auth& settings, Clock::time_point now) {
  std::erase_if(clients_, [&](const auto& kv) { return now - kv.second.last >= settings.failure_window; });
  if (clients_.size() < max_clients) return;
  std::vector<Clock::time_point> times;
  times.reserve(clients_.size());
  for (auto& [ip, e] : clients_) times.push_back(e.last);
  auto mid = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
  std::nth_element(times.begin(), mid, times.end());
  auto cut = *mid;
  std::erase_if(clients_, [&](const auto& kv) { return kv.second.last <= cut; });
}

}  // namespace tern::policy
