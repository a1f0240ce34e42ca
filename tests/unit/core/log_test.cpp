// log::printable: client-chosen text made safe for one log line.
#include <gtest/gtest.h>

#include "core/log.hpp"

namespace tern::log {
namespace {

TEST(LogPrintable, ControlOctetsCannotForgeLines) {
  struct Case {
    std::string in;
    std::size_t max;
    std::string want;
  };
  const Case cases[] = {
      {"alice@example.org", 200, "alice@example.org"},
      {"", 200, ""},
      {"bob\r\nwarning: unknown[192.0.2.1]: SASL LOGIN authentication failed", 200,
       "bob??warning: unknown[192.0.2.1]: SASL LOGIN authentication failed"},
      {std::string("a\0b\tc\x7f", 6), 200, "a?b?c?"},
      {"j\xc3\xb6rg", 200, "j\xc3\xb6rg"},  // UTF-8 passes
      {"abcdef", 3, "abc..."},
      {"abc", 3, "abc"},
  };
  for (const auto& c : cases) EXPECT_EQ(printable(c.in, c.max), c.want) << c.in;
}

}  // namespace
}  // namespace tern::log
