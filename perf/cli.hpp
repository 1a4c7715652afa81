// A small command-line reader for the perf tools: "--key value", "--key=value", and bare flags.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "units.hpp"

namespace jobq_perf {

/// The running tool's name, for error messages.
inline std::string cli_tool = "jobq_perf";

/// Prints "tool: message" and a pointer to --help, and exits with status 2.
[[noreturn]] inline void cli_fail(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n(--help for usage)\n", cli_tool.c_str(), message.c_str());
  std::exit(2);
}

/// An integer option of at least `low`; exits with a message otherwise.
template <class T>
T count_option(const std::string& key, const std::string& text, T low) {
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || *end != '\0' || value < static_cast<unsigned long long>(low)) {
    cli_fail("bad --" + key + " '" + text + "'");
  }
  return static_cast<T>(value);
}

/// A positive decimal option; exits with a message otherwise.
inline double positive_option(const std::string& key, const std::string& text) {
  std::string_view rest = text;
  const std::optional<double> value = take_number(rest);
  if (!value || !rest.empty() || *value <= 0) cli_fail("bad --" + key + " '" + text + "'");
  return *value;
}

class Args {
 public:
  /// Reads argv[first..]. `valued` lists the options that take a value, `flags` those that do not.
  /// On an unknown option or a missing value, error() says what is wrong.
  Args(int argc, char** argv, int first, std::initializer_list<std::string_view> valued,
       std::initializer_list<std::string_view> flags) {
    auto listed = [](std::initializer_list<std::string_view> names, std::string_view key) {
      for (std::string_view name : names) {
        if (name == key) return true;
      }
      return false;
    };
    for (int i = first; i < argc; ++i) {
      std::string_view arg = argv[i];
      if (arg.substr(0, 2) != "--") {
        error_ = "unexpected argument '" + std::string(arg) + "'";
        return;
      }
      arg.remove_prefix(2);
      std::optional<std::string> value;
      if (const std::size_t equals = arg.find('='); equals != std::string_view::npos) {
        value = std::string(arg.substr(equals + 1));
        arg = arg.substr(0, equals);
      }
      const std::string key(arg);
      if (listed(flags, key) && !value) {
        values_[key] = "";
      } else if (listed(valued, key)) {
        if (!value) {
          if (i + 1 >= argc) {
            error_ = "--" + key + " needs a value";
            return;
          }
          value = argv[++i];
        }
        values_[key] = *value;
      } else {
        error_ = "unknown option --" + key;
        return;
      }
    }
  }

  const std::string& error() const noexcept { return error_; }
  bool has(const std::string& key) const { return values_.count(key) != 0; }
  std::optional<std::string> get(const std::string& key) const {
    auto found = values_.find(key);
    if (found == values_.end()) return std::nullopt;
    return found->second;
  }

 private:
  std::map<std::string, std::string> values_;
  std::string error_;
};

/// "a,b,c" → {"a", "b", "c"} (empty items dropped).
inline std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    if (!item.empty()) items.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

}  // namespace jobq_perf
