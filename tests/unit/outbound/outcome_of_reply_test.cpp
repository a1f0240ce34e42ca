// wire::outcome_of_reply: which replies deliver, bounce or defer a recipient. Only a 2xx to
// the message data delivers; a 2xx or 3xx anywhere else (DATA answered 250 instead of 354,
// a stray 334 to RCPT) defers, so no recipient is counted delivered whose message the
// server never took.
#include <gtest/gtest.h>

#include "outbound/wire.hpp"

namespace tern::outbound {
namespace {

TEST(OutcomeOfReply, OnlyA2xxToTheDataDelivers) {
  using K = mail::Outcome::Kind;
  struct Case {
    int code;
    const char* enhanced;
    bool final_reply;
    K kind;
    const char* dsn;
  };
  const Case cases[] = {
      {250, "2.0.0", true, K::sent, "2.0.0"},
      {250, "2.0.0", false, K::deferred, "4.0.0"},  // DATA answered 250, not 354
      {354, "", false, K::deferred, "4.0.0"},
      {334, "", false, K::deferred, "4.0.0"},
      {451, "4.3.0", true, K::deferred, "4.3.0"},
      {452, "4.2.2", false, K::deferred, "4.2.2"},
      {550, "5.1.1", false, K::bounced, "5.1.1"},
      {554, "5.6.0", true, K::bounced, "5.6.0"},
  };
  for (const auto& c : cases) {
    smtp::Reply r{c.code, c.enhanced, "text"};
    auto o = wire::outcome_of_reply(r, "RCPT TO", "mx.example[192.0.2.1]:25", "mx.example",
                                    c.final_reply);
    EXPECT_EQ(o.kind, c.kind) << c.code << " final " << c.final_reply;
    EXPECT_EQ(o.dsn, c.dsn) << c.code;
    EXPECT_EQ(o.remote_reply, r.log_text());
  }
}

}  // namespace
}  // namespace tern::outbound
