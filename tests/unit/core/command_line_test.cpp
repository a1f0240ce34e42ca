// Command lines without a shell: splitting on spaces and tabs, ${macro} expansion inside one
// argument (values with spaces or shell characters stay one argument), unknown macros empty.
#include <gtest/gtest.h>

#include "core/command_line.hpp"

namespace tern {
namespace {

using Argv = std::vector<std::string>;

TEST(CommandLine, SplitsOnSpacesAndTabsOnly) {
  EXPECT_EQ(split_command("  /usr/bin/prog\t-a  'b c' \"d\"  "),
            (Argv{"/usr/bin/prog", "-a", "'b", "c'", "\"d\""}));
  EXPECT_EQ(split_command(""), Argv{});
  EXPECT_EQ(split_command(" \t "), Argv{});
}

TEST(CommandLine, ExpandsMacrosAsData) {
  const std::map<std::string, std::string, std::less<>> values{
      {"sender", "a b@example.org"}, {"user", "bob"}, {"extension", "$(rm -rf /)"}};
  EXPECT_EQ(expand_macros({"/bin/p", "-f", "${sender}", "--to=${user}+${extension}", "${nope}x",
                           "${user", "$user", "${user}${user}"},
                          values),
            (Argv{"/bin/p", "-f", "a b@example.org", "--to=bob+$(rm -rf /)", "x", "${user",
                  "$user", "bobbob"}));
}

}  // namespace
}  // namespace tern
