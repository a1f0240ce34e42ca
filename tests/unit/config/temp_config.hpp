// Test helper shared by the configuration tests: a TOML text written to its own file under
// the temporary directory (named by process and a counter), for config::load.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace tern::config::testing {

// Writes `text` to a new file and returns its path.
inline std::string write_temp(const std::string& text) {
  static int n = 0;
  auto path =
      std::filesystem::temp_directory_path() /
      ("tern-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".toml");
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace tern::config::testing
