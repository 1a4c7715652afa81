// The authority of a URL or a Host header ("host", "host:port", "[::1]:port"), split into its
// host and port, and the check that a port is one a client can connect to. Shared by the
// console's Host check, `jobq inspect` and `jobq_tune advise`, which all read addresses from
// outside.
#pragma once

#include <optional>
#include <string_view>

namespace jobq::internal {

struct Authority {
  std::string_view host;                ///< without brackets: "::1"
  std::optional<std::string_view> port;  ///< the text after the host's ':', if there is one
};

inline Authority split_authority(std::string_view text) {
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return {text.substr(1), std::nullopt};
    const std::string_view rest = text.substr(close + 1);
    return {text.substr(1, close - 1), rest.starts_with(':') ? std::optional(rest.substr(1)) : std::nullopt};
  }
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return {text, std::nullopt};
  return {text.substr(0, colon), text.substr(colon + 1)};
}

/// Digits only, from 1 to 65535 (httplib's client reads a port with std::stoi, which would throw).
inline bool valid_port(std::string_view port) {
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) return false;
  unsigned number = 0;
  for (char digit : port) number = number * 10 + static_cast<unsigned>(digit - '0');
  return number >= 1 && number <= 65535;
}

/// An authority without a port, or with a valid one.
inline bool valid_authority_port(std::string_view text) {
  const Authority authority = split_authority(text);
  return !authority.port || valid_port(*authority.port);
}

}  // namespace jobq::internal
