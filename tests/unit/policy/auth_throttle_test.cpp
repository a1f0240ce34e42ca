// AuthThrottle: each failed AUTH waits failure_delay × failures (at most max_delay, 10 s), the
// max_failures-th one drops the client and blocks it until failure_window has passed since
// its last failure; clients are counted apart. Time is given explicitly.
#include <gtest/gtest.h>

#include "policy/auth_throttle.hpp"

namespace tern::policy {
namespace {

using namespace std::chrono_literals;
using Clock = AuthThrottle::Clock;

const Clock::time_point t0 = Clock::time_point() + 1000h;

config::Auth settings(std::chrono::seconds delay, std::uint32_t max_failures,
                      std::chrono::seconds window) {
  config::Auth a;
  a.failure_delay = delay;
  a.max_failures = max_failures;
  a.failure_window = window;
  return a;
}

struct FailureCase {
  std::uint32_t failures;  // this one included
  std::chrono::seconds delay;
  bool drop;
};

TEST(AuthThrottle, AnIpv6ClientIsItsSlash64) {
  const auto s = settings(0s, 2, 600s);
  AuthThrottle throttle;
  throttle.failed("2001:db8:1:2::1", s, t0);
  throttle.failed("2001:db8:1:2:ffff::9", s, t0);  // same /64: the second failure
  EXPECT_TRUE(throttle.blocked("2001:db8:1:2::77", s, t0));
  EXPECT_FALSE(throttle.blocked("2001:db8:1:3::1", s, t0));  // another /64
  EXPECT_FALSE(throttle.blocked("192.0.2.1", s, t0));
}

TEST(AuthThrottle, DelayGrowsLinearlyCappedAndDropsAtMax) {
  const auto s = settings(3s, 6, 600s);
  const FailureCase cases[] = {
      {1, 3s, false},  {2, 6s, false}, {3, 9s, false},
      {4, 10s, false}, {5, 10s, false}, {6, 10s, true},
  };
  AuthThrottle throttle;
  for (const auto& c : cases) {
    const auto now = t0 + std::chrono::seconds(c.failures);
    EXPECT_FALSE(throttle.blocked("192.0.2.1", s, now)) << c.failures;
    auto r = throttle.failed("192.0.2.1", s, now);
    EXPECT_EQ(r.failures, c.failures);
    EXPECT_EQ(r.delay, c.delay) << c.failures;
    EXPECT_EQ(r.drop, c.drop) << c.failures;
  }
  EXPECT_TRUE(throttle.blocked("192.0.2.1", s, t0 + 10s));
  // Past the maximum every further failure drops as well.
  auto again = throttle.failed("192.0.2.1", s, t0 + 11s);
  EXPECT_EQ(again.failures, 7u);
  EXPECT_TRUE(again.drop);
}

TEST(AuthThrottle, DefaultsAndNoDelay) {
  config::Auth defaults;
  AuthThrottle throttle;
  auto first = throttle.failed("192.0.2.1", defaults, t0);
  EXPECT_EQ(first.delay, 1s);
  EXPECT_FALSE(first.drop);

  const auto s = settings(0s, 1, 60s);
  auto r = throttle.failed("192.0.2.2", s, t0);
  EXPECT_EQ(r.delay, 0s);
  EXPECT_TRUE(r.drop);
  EXPECT_TRUE(throttle.blocked("192.0.2.2", s, t0));
}

TEST(AuthThrottle, WindowCountsFromTheLastFailure) {
  const auto s = settings(1s, 3, 600s);
  AuthThrottle throttle;
  // Each failure comes within the window of the one before: they add up.
  EXPECT_EQ(throttle.failed("192.0.2.1", s, t0).failures, 1u);
  EXPECT_EQ(throttle.failed("192.0.2.1", s, t0 + 599s).failures, 2u);
  EXPECT_EQ(throttle.failed("192.0.2.1", s, t0 + 1198s).failures, 3u);
  EXPECT_TRUE(throttle.blocked("192.0.2.1", s, t0 + 1198s + 599s));
  // A whole window after the last failure the client starts again.
  EXPECT_FALSE(throttle.blocked("192.0.2.1", s, t0 + 1198s + 600s));
  auto r = throttle.failed("192.0.2.1", s, t0 + 1198s + 600s);
  EXPECT_EQ(r.failures, 1u);
  EXPECT_EQ(r.delay, 1s);
  EXPECT_FALSE(r.drop);
}

TEST(AuthThrottle, ExpiryResetsFailedWithoutBlockedFirst) {
  const auto s = settings(2s, 5, 60s);
  AuthThrottle throttle;
  throttle.failed("192.0.2.1", s, t0);
  throttle.failed("192.0.2.1", s, t0 + 1s);
  auto r = throttle.failed("192.0.2.1", s, t0 + 61s);
  EXPECT_EQ(r.failures, 1u);
  EXPECT_EQ(r.delay, 2s);
}

TEST(AuthThrottle, ClientsAreIndependent) {
  const auto s = settings(1s, 2, 600s);
  AuthThrottle throttle;
  throttle.failed("192.0.2.1", s, t0);
  throttle.failed("192.0.2.1", s, t0);
  EXPECT_TRUE(throttle.blocked("192.0.2.1", s, t0));
  EXPECT_FALSE(throttle.blocked("192.0.2.2", s, t0));
  EXPECT_FALSE(throttle.blocked("2001:db8::1", s, t0));
  auto other = throttle.failed("2001:db8::1", s, t0);
  EXPECT_EQ(other.failures, 1u);
  EXPECT_FALSE(other.drop);
  EXPECT_FALSE(throttle.blocked("2001:db8::1", s, t0));
}

TEST(AuthThrottle, MemoryIsBoundedByForgettingTheLeastRecentUnblocked) {
  const auto s = settings(1s, 2, 3600s);
  AuthThrottle throttle;
  throttle.failed("198.51.100.1", s, t0);
  throttle.failed("198.51.100.1", s, t0);
  ASSERT_TRUE(throttle.blocked("198.51.100.1", s, t0));
  // Fill the table with other clients, each failing a millisecond after the one before.
  for (std::size_t i = 1; i < AuthThrottle::max_clients; ++i)
    throttle.failed("client-" + std::to_string(i), s, t0 + std::chrono::milliseconds(i));
  const auto later = t0 + 200s;
  throttle.failed("203.0.113.1", s, later);  // the table is full: the older half goes ...
  // ... but not a blocked client: a flood of new addresses must not unblock it.
  EXPECT_TRUE(throttle.blocked("198.51.100.1", s, later));
  EXPECT_EQ(throttle.failed("client-1", s, later).failures, 1u);
  const std::string recent = "client-" + std::to_string(AuthThrottle::max_clients - 1);
  EXPECT_EQ(throttle.failed(recent, s, later).failures, 2u);
  EXPECT_EQ(throttle.failed("203.0.113.1", s, later).failures, 2u);
}

TEST(AuthThrottle, FullTableFirstDropsExpiredEntries) {
  const auto s = settings(1s, 2, 60s);
  AuthThrottle throttle;
  for (std::size_t i = 0; i < AuthThrottle::max_clients; ++i)
    throttle.failed("client-" + std::to_string(i), s, i % 2 ? t0 : t0 + 100s);
  // Half are past the window at t0 + 120 s and go; the rest are all kept.
  throttle.failed("203.0.113.1", s, t0 + 120s);
  EXPECT_EQ(throttle.failed("client-0", s, t0 + 120s).failures, 2u);
  EXPECT_EQ(throttle.failed("client-1", s, t0 + 120s).failures, 1u);
}

}  // namespace
}  // namespace tern::policy
