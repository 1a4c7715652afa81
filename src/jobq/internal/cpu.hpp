// CPU hints shared by the engine's hot paths and by the benchmarks and perf tools.
#pragma once

namespace jobq::internal {

/// A spin-wait hint for polling loops: lets the sibling hyperthread run and saves power while a
/// thread spins on a condition that another thread will make true.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// Asks for the cache line at `address` in a state this thread may write, without waiting for
/// it: PREFETCHW on x86 (a no-op on the x86 CPUs that lack it), a write prefetch elsewhere. A
/// hint only: `address` need not point into a live object.
inline void prefetch_for_write(const void* address) noexcept {
#if defined(__x86_64__) || defined(__i386__)
  // The address goes in a register, not as a memory operand: nothing is dereferenced, in the
  // compiler's eyes either (it would check the bounds of the object the pointer came from).
  asm volatile("prefetchw (%0)" : : "r"(address));
#else
  __builtin_prefetch(address, 1, 3);
#endif
}

/// Asks for the cache line at `address` to read it soon, without waiting for it. A hint only.
inline void prefetch_for_read(const void* address) noexcept { __builtin_prefetch(address, 0, 3); }

}  // namespace jobq::internal
