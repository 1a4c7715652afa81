// The engine's log: levels and a pluggable sink.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace jobq {

enum class LogLevel : std::uint8_t { debug, info, warn, error, off };

constexpr std::string_view describe(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
    case LogLevel::off: return "off";
  }
  return "?";
}

/// Receives one line (without newline) per event at or above Config::log_level. Called from
/// any engine thread, possibly several at once: a sink must be thread-safe. The default writes
/// "jobq <level>: <message>\n" to stderr with one write per line.
using LogSink = std::function<void(LogLevel level, std::string_view message)>;

}  // namespace jobq
