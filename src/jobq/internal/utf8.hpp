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
  const char* const data = text.data();
  const std::size_t size = text.size();
  if (size <= short_string) {
    // Every byte is read once or twice, in as few loads as the length allows: the last word
    // overlaps the one before rather than being finished a byte at a time.
    auto load64 = [](const char* at) {
      std::uint64_t word;
      std::memcpy(&word, at, sizeof word);
      return word;
    };
    auto load32 = [](const char* at) {
      std::uint32_t word;
      std::memcpy(&word, at, sizeof word);
      return std::uint64_t{word};
    };
    std::uint64_t seen = 0;
    if (size >= 8) {
      for (std::size_t index = 0; index + 8 < size; index += 8) seen |= load64(data + index);
      seen |= load64(data + size - 8);
    } else if (size >= 4) {
      seen = load32(data) | load32(data + size - 4);
    } else if (size > 0) {
      seen = static_cast<unsigned char>(data[0]) | static_cast<unsigned char>(data[size / 2]) |
             static_cast<unsigned char>(data[size - 1]);
    }
    if ((seen & 0x8080808080808080ULL) == 0) return true;
  }
  return simdjson::validate_utf8(data, size);
}

}  // namespace jobq::internal
