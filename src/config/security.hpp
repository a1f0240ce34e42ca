// The loaders of the settings that secure the server: listener kinds and certificates,
// [tls] and [auth] (security.cpp). Internal to config/: config.cpp calls them.
#pragma once

#include <toml++/toml.h>

#include "config/config.hpp"
#include "config/reader.hpp"

namespace tern::config {

// The keys of a [[listener]] beyond its address: kind, certificate, key, auth.
void load_listener_security(const toml::table& t, Listener& l, Problems& problems);
void load_tls(const toml::table& t, Tls& tls, Problems& problems);
void load_auth(const toml::table& t, Auth& auth, Problems& problems);
// Cross-checks: a submissions listener needs a certificate, AUTH needs a backend, ...
void check_security(const Config& c, Problems& problems);

}  // namespace tern::config
