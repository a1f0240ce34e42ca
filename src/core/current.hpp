// A value in force that a reload swaps whole: the configuration, the routing tables, the
// TLS and AUTH setup built from them. Readers take a snapshot (a session keeps the one it
// started with), so nothing is ever seen half-reloaded.
// Thread-safe; get() is a mutex and a reference-count increment, cheap per connection.
#pragma once

#include <memory>
#include <mutex>

namespace tern {

template <class T>
class Current {
 public:
  explicit Current(std::shared_ptr<const T> value) : value_(std::move(value)) {}
  std::shared_ptr<const T> get() const {
    std::lock_guard lock(mutex_);
    return value_;
  }
  void set(std::shared_ptr<const T> value) {
    std::lock_guard lock(mutex_);
    value_ = std::move(value);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const T> value_;
};

}  // namespace tern
