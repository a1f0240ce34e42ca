// Maildir delivery: the file lands in new/ with Return-Path and Delivered-To and LF line
// endings; a repeated delivery of the same key writes nothing twice; unsafe names bounce.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "delivery/maildir.hpp"
#include "scratch.hpp"

namespace tern::delivery {
namespace {

namespace fs = std::filesystem;

struct MaildirTest : testing::ScratchDir {
  MaildirTest() : ScratchDir("tern-maildir") {}
  fs::path& root = dir;
  std::vector<std::string> files(const std::string& user) {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(root / "example.test" / user / "new"))
      out.push_back(testing::read_file(e.path()));
    return out;
  }
};

TEST_F(MaildirTest, DeliversOnceWithTraceHeaders) {
  Maildir m(root.string(), "mx.example.test");
  const std::string msg = "Subject: hi\r\n\r\nbody\r\n";
  auto o = m.deliver("a@example.org", "Alice@example.test", "Alice", "example.test", msg,
                     "QID_0", 1700000000);
  EXPECT_EQ(o.kind, mail::Outcome::Kind::sent) << o.text;
  auto again = m.deliver("a@example.org", "Alice@example.test", "Alice", "example.test", msg,
                         "QID_0", 1700000000);
  EXPECT_EQ(again.kind, mail::Outcome::Kind::sent);
  auto got = files("alice");  // mailbox names are lower case
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], "Return-Path: <a@example.org>\nDelivered-To: Alice@example.test\n"
                    "Subject: hi\n\nbody\n");
  EXPECT_TRUE(fs::is_directory(root / "example.test" / "alice" / "cur"));
  EXPECT_TRUE(fs::is_empty(root / "example.test" / "alice" / "tmp"));
  // Another recipient index of the same message is another delivery.
  m.deliver("", "alice@example.test", "alice", "example.test", msg, "QID_1", 1700000000);
  EXPECT_EQ(files("alice").size(), 2u);
}

TEST_F(MaildirTest, UnsafeNamesBounce) {
  Maildir m(root.string(), "mx.example.test");
  for (const char* local : {"../etc", ".hidden", "a/b", ""}) {
    auto o = m.deliver("", "x@example.test", local, "example.test", "x\r\n", "Q_0", 1);
    EXPECT_EQ(o.kind, mail::Outcome::Kind::bounced) << local;
    EXPECT_EQ(o.dsn, "5.1.3");
  }
  EXPECT_FALSE(fs::exists(root / "etc"));
}

}  // namespace
}  // namespace tern::delivery
