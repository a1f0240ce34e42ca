// The configuration in force: an immutable snapshot swapped whole on SIGHUP. Readers take
// a snapshot (a session keeps the one it started with); nothing is ever half-reloaded.
// Thread-safe; get() is a mutex and a reference-count increment, cheap per connection.
#pragma once

#include <memory>
#include <mutex>

#include "config/config.hpp"

namespace tern::config {

class Current {
 public:
  explicit Current(std::shared_ptr<const Config> c) : config_(std::move(c)) {}
  std::shared_ptr<const Config> get() const {
    std::lock_guard lock(mutex_);
    return config_;
  }
  void set(std::shared_ptr<const Config> c) {
    std::lock_guard lock(mutex_);
    config_ = std::move(c);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Config> config_;
};

}  // namespace tern::config
