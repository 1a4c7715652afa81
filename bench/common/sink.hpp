// Consumer-side accounting shared by the benchmarks: what a consumer saw, and waiting for it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include <jobq/internal/cpu.hpp>

namespace jobq_bench {

/// Written by one consumer thread only; atomics so that the producer may read it while it runs.
/// `count` is released after `sum` and `bad`, so a reader that sees the count sees them too.
struct alignas(64) Sink {
  std::atomic<std::uint64_t> count{0};  // items consumed
  std::atomic<std::uint64_t> sum{0};    // sum of the ids seen
  std::atomic<std::uint64_t> bad{0};    // payloads that did not parse or bind
};

/// Counts `items` consumed items whose ids add up to `id_sum`.
inline void record_items(Sink& sink, std::uint64_t id_sum, std::uint64_t items = 1) noexcept {
  sink.sum.fetch_add(id_sum, std::memory_order_relaxed);
  sink.count.fetch_add(items, std::memory_order_release);
}

/// Counts one job whose payload did (and then added `id`) or did not bind.
inline void record_job(Sink& sink, bool bound, std::uint64_t id) noexcept {
  if (bound) [[likely]] {
    record_items(sink, id);
  } else {
    sink.bad.fetch_add(1, std::memory_order_relaxed);
    sink.count.fetch_add(1, std::memory_order_release);
  }
}

/// Spins until the consumer has consumed `target` items; false once `timeout` has passed.
inline bool wait_for(const Sink& sink, std::uint64_t target,
                     std::chrono::steady_clock::duration timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (unsigned polls = 1;; ++polls) {
    if (sink.count.load(std::memory_order_acquire) >= target) return true;
    jobq::internal::cpu_relax();
    if (polls % 4096 == 0 && std::chrono::steady_clock::now() > deadline) return false;
  }
}

}  // namespace jobq_bench
