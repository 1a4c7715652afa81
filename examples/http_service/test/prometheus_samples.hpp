// Reads the sample lines of the Prometheus text exposition format, as a scraper would: the test
// checks jobq's books through what a monitoring system sees, not through the engine's structs.
#pragma once

#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace http_service_test {

/// Samples keyed by name and labels exactly as written: `jobq_queue_accepted_total{queue="emails"}`.
class PrometheusSamples {
 public:
  /// Skips comments (# HELP, # TYPE) and blank lines. A sample line is `name[{labels}] value
  /// [timestamp]`; a label value may hold spaces and an escaped quote, so the labels end at the
  /// first `}` outside quotes. A line that does not parse is counted in malformed_lines().
  explicit PrometheusSamples(std::string_view text) {
    while (!text.empty()) {
      const std::size_t end = text.find('\n');
      const std::string_view line = text.substr(0, end);
      text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
      if (line.empty() || line.front() == '#') continue;
      if (!add(line)) ++malformed_;
    }
  }

  /// The value of `name{labels}`, or nullopt when the exposition has no such sample.
  std::optional<double> find(std::string_view name, std::string_view labels = {}) const {
    std::string key(name);
    if (!labels.empty()) key += "{" + std::string(labels) + "}";
    const auto found = samples_.find(key);
    if (found == samples_.end()) return std::nullopt;
    return found->second;
  }

  std::size_t size() const { return samples_.size(); }
  std::size_t malformed_lines() const { return malformed_; }

 private:
  bool add(std::string_view line) {
    std::size_t key_end = line.find_first_of("{ ");
    if (key_end == std::string_view::npos || key_end == 0) return false;
    if (line[key_end] == '{') {
      bool quoted = false;
      for (++key_end; key_end < line.size(); ++key_end) {
        const char c = line[key_end];
        if (quoted && c == '\\') {
          ++key_end;  // the escaped character, whatever it is
        } else if (c == '"') {
          quoted = !quoted;
        } else if (!quoted && c == '}') {
          break;
        }
      }
      if (key_end >= line.size()) return false;
      ++key_end;  // past '}'
    }
    const std::string key(line.substr(0, key_end));
    std::string_view rest = line.substr(key_end);
    if (rest.empty() || rest.front() != ' ') return false;
    const std::size_t value_start = rest.find_first_not_of(' ');
    if (value_start == std::string_view::npos) return false;
    rest.remove_prefix(value_start);
    const std::string value(rest.substr(0, rest.find(' ')));  // a timestamp may follow
    char* parsed_end = nullptr;
    const double number = std::strtod(value.c_str(), &parsed_end);  // also reads +Inf and NaN
    if (value.empty() || parsed_end != value.c_str() + value.size()) return false;
    return samples_.emplace(key, number).second;  // a repeated sample is malformed too
  }

  std::map<std::string, double, std::less<>> samples_;
  std::size_t malformed_ = 0;
};

}  // namespace http_service_test
