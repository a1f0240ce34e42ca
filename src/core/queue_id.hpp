// Queue IDs: short, unique within a host, time-ordered, safe in file names and log lines
// (like Postfix's long queue IDs). Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace tern {

// 16 upper-case alphanumerics: 11 of microseconds since the epoch in base 32 (strictly
// increasing within a process), then 5 of the process ID, so IDs sort by arrival.
std::string make_queue_id();

// True when `id` has the shape make_queue_id() produces (checked before it names a key).
bool valid_queue_id(std::string_view id);

}  // namespace tern
