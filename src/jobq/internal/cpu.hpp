// CPU hints shared by the engine's worker loop and by the benchmarks and perf tools.
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

}  // namespace jobq::internal
