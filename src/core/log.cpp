// Logging setup; see log.hpp.
#include "core/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <unistd.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace tern::log {
namespace {
std::mutex mutex;
std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> loggers;
spdlog::level::level_enum current = spdlog::level::info;
std::shared_ptr<spdlog::sinks::sink> sink() {
  static auto s = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  return s;
}
}  // namespace

void setup(std::string_view level) {
  std::lock_guard lock(mutex);
  current = spdlog::level::from_str(std::string(level));
  if (level == "warning") current = spdlog::level::warn;
  // Syslog-like: time, program/component[pid]: message. The pid is part of the logger's
  // name (fixed at creation) so no line costs a getpid() call.
  sink()->set_pattern("%Y-%m-%dT%H:%M:%S.%e %n: %v");
  for (auto& [_, l] : loggers) l->set_level(current);
}

spdlog::logger& get(std::string_view component) {
  std::lock_guard lock(mutex);
  auto it = loggers.find(component);
  if (it == loggers.end()) {
    auto name = "tern/" + std::string(component) + "[" + std::to_string(::getpid()) + "]";
    auto l = std::make_shared<spdlog::logger>(std::move(name), sink());
    l->set_level(current);
    l->flush_on(spdlog::level::trace);
    it = loggers.emplace(std::string(component), std::move(l)).first;
  }
  return *it->second;
}

std::string printable(std::string_view text, std::size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max) + 3);
  for (unsigned char c : text.substr(0, max)) out += (c < 0x20 || c == 0x7f) ? '?' : char(c);
  if (text.size() > max) out += "...";
  return out;
}

}  // namespace tern::log
