// How many characters an integer takes in decimal (with its minus sign), counted without writing
// it: a typed dispatch sizes its payload's JSON against max_payload_bytes on every job, and
// std::to_chars into a scratch buffer cost about 60 instructions per integer field.
#pragma once

#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace jobq::internal {

template <std::integral Integer>
  requires(!std::same_as<Integer, bool>)
constexpr std::size_t decimal_digits(Integer value) noexcept {
  using Unsigned = std::make_unsigned_t<Integer>;
  std::size_t sign = 0;
  auto magnitude = static_cast<Unsigned>(value);
  if constexpr (std::is_signed_v<Integer>) {
    if (value < 0) {
      sign = 1;
      magnitude = static_cast<Unsigned>(Unsigned{0} - magnitude);  // well defined for the minimum too
    }
  }
  const std::uint64_t wide = magnitude;
  if (wide < 10) return sign + 1;
  constexpr std::uint64_t powers[20] = {1ULL,
                                        10ULL,
                                        100ULL,
                                        1000ULL,
                                        10000ULL,
                                        100000ULL,
                                        1000000ULL,
                                        10000000ULL,
                                        100000000ULL,
                                        1000000000ULL,
                                        10000000000ULL,
                                        100000000000ULL,
                                        1000000000000ULL,
                                        10000000000000ULL,
                                        100000000000000ULL,
                                        1000000000000000ULL,
                                        10000000000000000ULL,
                                        100000000000000000ULL,
                                        1000000000000000000ULL,
                                        10000000000000000000ULL};
  // bit_width × log10(2) (1233 / 4096) is the digit count or one less; one comparison decides.
  const auto guess = static_cast<std::size_t>((static_cast<unsigned>(std::bit_width(wide)) * 1233U) >> 12U);
  return sign + guess + (wide >= powers[guess] ? 1 : 0);
}

}  // namespace jobq::internal
