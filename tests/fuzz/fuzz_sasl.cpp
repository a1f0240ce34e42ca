// libFuzzer target: the SMTP AUTH exchange (auth/sasl.hpp) with arbitrary client lines, for
// PLAIN, LOGIN and SCRAM-SHA-256. Input: a first octet choosing the mechanism, whether the
// AUTH command had an initial response and whether the user has SCRAM credentials; then
// lines split at '\n' (the initial response first when there is one). Checks the state
// machine's promises: each exchange ends in exactly one Done, Authenticated or Failed; after
// the end every further line is refused as out of order; no step after the end succeeds;
// Authenticated only with the right password's proof (the fuzzer cannot know it).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "auth/sasl.hpp"
#include "auth/scram.hpp"

namespace {

using namespace tern::auth;

std::vector<std::string_view> split_lines(std::string_view in) {
  std::vector<std::string_view> out;
  while (!in.empty()) {
    auto nl = in.find('\n');
    out.push_back(in.substr(0, nl));
    if (nl == std::string_view::npos) break;
    in.remove_prefix(nl + 1);
  }
  return out;
}

const ScramCredentials& pencil() {
  // Derived once: PBKDF2 with 4096 rounds is too slow to repeat per input.
  static const ScramCredentials c = derive_scram_credentials("pencil", "saltsaltsaltsalt", 4096);
  return c;
}

bool finished(const Step& s) {
  return std::holds_alternative<Done>(s) || std::holds_alternative<Authenticated>(s) ||
         std::holds_alternative<Failed>(s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  const Mechanism mech = flags % 3 == 0   ? Mechanism::plain
                         : flags % 3 == 1 ? Mechanism::login
                                          : Mechanism::scram_sha_256;
  const bool with_initial = flags & 4;
  const bool has_scram = flags & 8;
  auto lines = split_lines({reinterpret_cast<const char*>(data) + 1, size - 1});

  SaslServer server;
  std::size_t next = 0;
  std::optional<std::string_view> initial;
  if (with_initial && next < lines.size()) initial = lines[next++];
  Step step = server.start(mech, initial);
  int ends = 0;
  for (int rounds = 0; rounds < 64; ++rounds) {
    if (finished(step)) {
      ++ends;
      if (std::holds_alternative<Authenticated>(step)) std::abort();  // needs "pencil"'s proof
      break;
    }
    if (auto* need = std::get_if<NeedCredentials>(&step)) {
      if (mech != Mechanism::scram_sha_256) std::abort();
      step = server.provide(has_scram ? std::optional<ScramCredentials>(pencil()) : std::nullopt);
      continue;
    }
    if (next >= lines.size()) return 0;  // the client went quiet mid-exchange
    step = server.respond(lines[next++]);
  }
  if (ends != 1) return 0;  // 64 rounds without an end: only with endless challenges
  // After the end, anything more is out of order and never succeeds.
  Step after = server.respond("dGVzdA==");
  auto* failed = std::get_if<Failed>(&after);
  if (!failed || failed->kind != FailureKind::out_of_order) std::abort();
  return 0;
}
