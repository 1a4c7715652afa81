// Random 64-bit names for chains and batches, from any thread, with no per-thread state: a
// thread_local generator would put its 2.5 KB into the static TLS of every thread the process
// starts (and a burst of producer threads would keep it resident).
#pragma once

#include <atomic>
#include <cstdint>
#include <random>

namespace jobq::internal {

/// A non-zero 64-bit value, different on every call: SplitMix64 over a counter seeded once from
/// the system's entropy.
inline std::uint64_t random_name() noexcept {
  static std::atomic<std::uint64_t> state{(static_cast<std::uint64_t>(std::random_device{}()) << 32) ^
                                          std::random_device{}()};
  for (;;) {
    std::uint64_t z = state.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed) + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    if (z != 0) return z;
  }
}

}  // namespace jobq::internal
