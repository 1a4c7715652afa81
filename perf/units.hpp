// Reading and writing durations and rates on the command line and in tables:
// "500ns", "10us", "1.5ms", "2s" (a bare number is nanoseconds); "20000", "20k", "1.5M".
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace jobq_perf {

/// Parses a leading decimal number; the rest is left in `text`.
inline std::optional<double> take_number(std::string_view& text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || !std::isfinite(value)) return std::nullopt;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  return value;
}

/// A duration in nanoseconds: a number with an optional unit ns, us, ms or s (default ns).
inline std::optional<double> parse_duration_ns(std::string_view text) {
  std::optional<double> value = take_number(text);
  if (!value || *value < 0) return std::nullopt;
  double scale = 0;
  if (text.empty() || text == "ns") scale = 1;
  else if (text == "us" || text == "µs") scale = 1e3;
  else if (text == "ms") scale = 1e6;
  else if (text == "s") scale = 1e9;
  else return std::nullopt;
  return *value * scale;
}

/// A rate in jobs per second: a number with an optional suffix k or M.
inline std::optional<double> parse_rate(std::string_view text) {
  std::optional<double> value = take_number(text);
  if (!value || *value <= 0) return std::nullopt;
  if (text.empty()) return value;
  if (text == "k" || text == "K") return *value * 1e3;
  if (text == "M" || text == "m") return *value * 1e6;
  return std::nullopt;
}

/// "850ns", "12.3us", "4.56ms", "1.23s": three significant digits in the largest unit that fits.
inline std::string format_ns(double ns) {
  char text[32];
  if (ns < 1e3) std::snprintf(text, sizeof text, "%.0fns", ns);
  else if (ns < 1e6) std::snprintf(text, sizeof text, "%.3gus", ns / 1e3);
  else if (ns < 1e9) std::snprintf(text, sizeof text, "%.3gms", ns / 1e6);
  else std::snprintf(text, sizeof text, "%.3gs", ns / 1e9);
  return text;
}

/// "950", "12.5k", "1.20M" jobs per second.
inline std::string format_rate(double rate) {
  char text[32];
  if (rate < 1e4) std::snprintf(text, sizeof text, "%.0f", rate);
  else if (rate < 1e6) std::snprintf(text, sizeof text, "%.1fk", rate / 1e3);
  else std::snprintf(text, sizeof text, "%.2fM", rate / 1e6);
  return text;
}

/// "2 CPUs", "0.25 CPUs", "1 CPU".
inline std::string format_cores(double cores) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g CPU%s", cores, cores == 1.0 ? "" : "s");
  return text;
}

}  // namespace jobq_perf
