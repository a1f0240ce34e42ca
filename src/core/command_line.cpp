// Command-line splitting and macro expansion; see command_line.hpp.
#include "core/command_line.hpp"

namespace tern {

std::vector<std::string> split_command(std::string_view text) {
  std::vector<std::string> argv;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto start = text.find_first_not_of(" \t", pos);
    if (start == std::string_view::npos) break;
    auto end = text.find_first_of(" \t", start);
    if (end == std::string_view::npos) end = text.size();
    argv.emplace_back(text.substr(start, end - start));
    pos = end;
  }
  return argv;
}

std::vector<std::string> expand_macros(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::string, std::less<>>& values) {
  std::vector<std::string> out;
  out.reserve(argv.size());
  for (const auto& arg : argv) {
    std::string word;
    std::size_t pos = 0;
    while (true) {
      auto open = arg.find("${", pos);
      auto close = open == std::string::npos ? std::string::npos : arg.find('}', open);
      if (close == std::string::npos) {
        word.append(arg, pos);
        break;
      }
      word.append(arg, pos, open - pos);
      if (auto it = values.find(std::string_view(arg).substr(open + 2, close - open - 2));
          it != values.end())
        word += it->second;
      pos = close + 1;
    }
    out.push_back(std::move(word));
  }
  return out;
}

}  // namespace tern
