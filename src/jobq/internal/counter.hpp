// A counter with one writer and any number of readers.
#pragma once

#include <atomic>
#include <cstdint>

namespace jobq::internal {

/// Incremented by one thread only, read by any: a load and a store, no locked instruction.
/// Summing such counters on read replaces a shared atomic increment on the hot path. The store
/// releases and the read acquires (plain moves on x86), so readers can order counts causally.
class SingleWriterCounter {
 public:
  void add(std::uint64_t n = 1) noexcept { value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_release); }
  void subtract(std::uint64_t n) noexcept { value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_release); }
  std::uint64_t read() const noexcept { return value_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

inline constexpr std::size_t cache_line = 64;

}  // namespace jobq::internal
