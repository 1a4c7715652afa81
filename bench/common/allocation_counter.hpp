// Counting allocations for cost_per_job.cpp: this program replaces the global operator new (every
// form) with one that counts, and, built with -Wl,--wrap=mi_malloc (JOBQ_BENCH_WRAP_MIMALLOC),
// counts the engine's own mi_malloc calls too.
#pragma once

#include <atomic>
#include <cstdint>

namespace counting {

struct alignas(64) Counter {
  std::atomic<std::uint64_t> value{0};
};
extern Counter news;     // global operator new, every form
extern Counter mallocs;  // mi_malloc called by the engine (and by this program)

inline void count(Counter& counter) noexcept { counter.value.fetch_add(1, std::memory_order_relaxed); }
inline std::uint64_t read(const Counter& counter) noexcept { return counter.value.load(std::memory_order_relaxed); }

/// nullptr if both counters count one allocation each, else what is wrong.
const char* problem();

}  // namespace counting
