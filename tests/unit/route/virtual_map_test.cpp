// Virtual alias map parsing (Postfix virtual(5)): key forms and their normalisation,
// result lists separated by commas and whitespace, continuation lines, file:line errors.
#include <gtest/gtest.h>

#include "route/virtual_map.hpp"

namespace tern::route {
namespace {

std::vector<std::string> show(const VirtualEntry* e) {
  if (e == nullptr) return {"<none>"};
  std::vector<std::string> out;
  for (const auto& t : e->targets) {
    switch (t.kind) {
      case VirtualTarget::Kind::address: out.push_back(t.address.text()); break;
      case VirtualTarget::Kind::local: out.push_back("local:" + t.value); break;
      case VirtualTarget::Kind::domain: out.push_back("@" + t.value); break;
    }
  }
  return out;
}

TEST(VirtualMapParse, KeysAndResults) {
  struct Case {
    const char* text;
    const char* key;  // normalised
    std::vector<std::string> targets;
  };
  const Case cases[] = {
      {"info@example.com alice@example.com\n", "info@example.com", {"alice@example.com"}},
      {"Info@Example.COM a@x.test, b@y.test c@z.test\n", "info@example.com",
       {"a@x.test", "b@y.test", "c@z.test"}},
      {"postmaster root\n", "postmaster", {"local:root"}},
      {"@example.org catchall@example.com\n", "@example.org", {"catchall@example.com"}},
      {"@old.example @New.Example\n", "@old.example", {"@new.example"}},
      {"@bücher.example a@x.test\n", "@xn--bcher-kva.example", {"a@x.test"}},
      {"list@x.test a@x.test,\n  b@x.test\n\tc@x.test # comment\n", "list@x.test",
       {"a@x.test", "b@x.test", "c@x.test"}},
      {"\"a b\"@x.test <c@x.test>\n", "a b@x.test", {"c@x.test"}},
      {"k@x.test\t\"odd name\"\n", "k@x.test", {"local:odd name"}},
  };
  for (const auto& c : cases) {
    auto m = VirtualMap::parse(c.text, "v");
    ASSERT_TRUE(m) << c.text << " → " << m.error().message;
    EXPECT_EQ(show(m->find(c.key)), c.targets) << c.text;
  }
}

TEST(VirtualMapParse, Errors) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"a@x.test\n", "v:1: no result for \"a@x.test\""},
      {"ok@x.test b@x.test\n@ a@x.test\n", "v:2: \"@\" is not @domain"},
      {"a@ b@x.test\n", "v:1: \"a@\" is not an address"},
      {"a@x.test b@\n", "v:1: \"b@\" is not an address"},
      {"a@x.test @\n", "v:1: \"@\" is not @domain"},
      {"a@x.test <>\n", "v:1: empty address"},
      {"a@x.test b\"c\n", "v:1: unterminated quote"},
      {"  a@x.test b@x.test\n", "v:1: continuation line"},
  };
  for (const auto& c : cases) {
    auto m = VirtualMap::parse(c.text, "v");
    ASSERT_FALSE(m) << c.text;
    EXPECT_EQ(m.error().message.rfind(c.error, 0), 0u) << c.text << " → " << m.error().message;
  }
}

TEST(VirtualMapParse, DuplicateIsAWarning) {
  auto m = VirtualMap::parse("a@x.test b@x.test\nA@X.TEST c@x.test\n", "v");
  ASSERT_TRUE(m);
  EXPECT_EQ(show(m->find("a@x.test")), std::vector<std::string>{"b@x.test"});
  ASSERT_EQ(m->warnings().size(), 1u);
  EXPECT_EQ(m->warnings()[0].rfind("v:2: duplicate entry", 0), 0u);
}

}  // namespace
}  // namespace tern::route
