// The default log sink: "jobq <level>: <message>\n" on stderr, in one write so that lines from
// several threads do not interleave. Used by the engine and by the console.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include "jobq/log.hpp"

namespace jobq::internal {

inline void log_to_stderr(LogLevel level, std::string_view message) {
  std::string line = "jobq ";
  line += describe(level);
  line += ": ";
  line += message;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace jobq::internal
