// Envelope <-> JSON; see record.hpp and docs/spool-format.md.
#include "spool/record.hpp"

#include <nlohmann/json.hpp>

namespace tern::spool::record {

std::string envelope_key(std::string_view id) {
  return std::string(envelope_prefix) + std::string(id);
}
std::string body_key(std::string_view id) { return std::string(body_prefix) + std::string(id); }

namespace {
const char* state_name(RecipientState s) {
  switch (s) {
    case RecipientState::pending: return "pending";
    case RecipientState::delivered: return "delivered";
    case RecipientState::failed: return "failed";
  }
  return "pending";
}
}  // namespace

std::string encode(const Envelope& e) {
  nlohmann::json rcpts = nlohmann::json::array();
  for (auto& r : e.recipients) {
    nlohmann::json j{{"addr", r.address}, {"domain", r.domain}, {"state", state_name(r.status.state)},
                     {"attempts", r.status.attempts}};
    if (r.notify) j["notify"] = r.notify;
    if (!r.orcpt.empty()) j["orcpt"] = r.orcpt;
    if (!r.target.empty()) j["target"] = r.target;
    if (!r.sender.empty()) j["from"] = r.sender;
    if (!r.run_as.empty()) j["user"] = r.run_as;
    if (r.kind == RecipientKind::file) j["kind"] = "file";
    if (r.kind == RecipientKind::pipe) j["kind"] = "pipe";
    if (r.kind == RecipientKind::error) j["kind"] = "error";
    if (r.status.next_attempt) j["next"] = r.status.next_attempt;
    if (!r.status.last_error.empty()) j["error"] = r.status.last_error;
    if (r.status.warned) j["warned"] = true;
    rcpts.push_back(std::move(j));
  }
  nlohmann::json j{{"v", format_version}, {"id", e.id},         {"from", e.sender},
                   {"arrival", e.arrival}, {"size", e.size},    {"client", e.client_address},
                   {"helo", e.helo},       {"rcpt", std::move(rcpts)}};
  if (!e.body_type.empty()) j["body"] = e.body_type;
  if (e.smtputf8) j["smtputf8"] = true;
  if (!e.ret.empty()) j["ret"] = e.ret;
  if (!e.envid.empty()) j["envid"] = e.envid;
  if (e.held) j["held"] = true;
  // Invalid UTF-8 (possible in 8-bit headers we never put here, but be safe) is replaced.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<Envelope> decode(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return fail("envelope record is not JSON");
  try {
    if (j.value("v", 0) != format_version)
      return fail("envelope record has unknown version " + std::to_string(j.value("v", 0)));
    Envelope e;
    e.id = j.at("id").get<std::string>();
    e.sender = j.at("from").get<std::string>();
    e.arrival = j.at("arrival").get<std::int64_t>();
    e.size = j.at("size").get<std::uint64_t>();
    e.client_address = j.value("client", "");
    e.helo = j.value("helo", "");
    e.body_type = j.value("body", "");
    e.smtputf8 = j.value("smtputf8", false);
    e.ret = j.value("ret", "");
    e.envid = j.value("envid", "");
    e.held = j.value("held", false);
    for (auto& r : j.at("rcpt")) {
      Recipient rc;
      rc.address = r.at("addr").get<std::string>();
      rc.domain = r.value("domain", "");
      rc.notify = r.value("notify", std::uint8_t{0});
      rc.orcpt = r.value("orcpt", "");
      rc.target = r.value("target", "");
      rc.sender = r.value("from", "");
      rc.run_as = r.value("user", "");
      auto kind = r.value("kind", "");
      rc.kind = kind == "file"   ? RecipientKind::file
                : kind == "pipe" ? RecipientKind::pipe
                : kind == "error" ? RecipientKind::error
                                 : RecipientKind::address;
      auto state = r.value("state", "pending");
      rc.status.state = state == "delivered" ? RecipientState::delivered
                        : state == "failed"  ? RecipientState::failed
                                             : RecipientState::pending;
      rc.status.attempts = r.value("attempts", 0u);
      rc.status.next_attempt = r.value("next", std::int64_t{0});
      rc.status.last_error = r.value("error", "");
      rc.status.warned = r.value("warned", false);
      e.recipients.push_back(std::move(rc));
    }
    return e;
  } catch (const nlohmann::json::exception& ex) {
    return fail(std::string("envelope record is malformed: ") + ex.what());
  }
}

}  // namespace tern::spool::record
