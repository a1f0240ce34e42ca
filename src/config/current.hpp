// The configuration in force: an immutable snapshot swapped whole on SIGHUP (core/current.hpp).
#pragma once

#include "config/config.hpp"
#include "core/current.hpp"

namespace tern::config {

using Current = tern::Current<Config>;

}  // namespace tern::config
