// Text from outside (a request's path, a handler's error message) made safe to print on one
// line: control characters are written as \xHH instead of acted on, so that a decoded newline
// cannot forge a log line and an escape sequence cannot drive an operator's terminal.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace jobq::internal {

inline std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02X", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace jobq::internal
