// UTF-8 validation of the strings a dispatch checks (payload fields, header values), most of which
// are short and ASCII.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <cstring>
#include <string_view>

namespace jobq::internal {

/// Whether `text` is valid UTF-8. A short string is first checked for ASCII here, 8 bytes at a
/// time: simdjson's kernels copy a short input into a 64-byte block before they look at it, and
/// that copy stalls (narrow stores read back as one wide load), which made the check a quarter of
/// a typed dispatch of a 14-byte string (bench/throughput.cpp, perf). Long strings, and any that
/// is not ASCII, go to simdjson.
inline bool valid_utf8(std::string_view text) noexcept {
  constexpr std::size_t short_string = 256;
  if (text.size() <= short_string) {
    std::uint64_t seen = 0;
    std::size_t index = 0;
    for (; index + 8 <= text.size(); index += 8) {
      std::uint64_t word;
      std::memcpy(&word, text.data() + index, sizeof word);
      seen |= word;
    }
    for (; index < text.size(); ++index) seen |= static_cast<unsigned char>(text[index]);
    if ((seen & 0x8080808080808080ull) == 0) return true;
  }
  return simdjson::validate_utf8(text.data(), text.size());
}

}  // namespace jobq::internal
