// Time sources for the perf tools: the monotonic clock that latencies are measured on, and the
// CPU-time clocks that say how many cores a run kept busy.
#pragma once

#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>

#include <jobq/internal/cpu.hpp>

namespace jobq_perf {

using Clock = std::chrono::steady_clock;

/// Nanoseconds on the steady clock. Every timestamp the tools compare comes from here.
inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

/// The spin-wait hint of every polling loop in the tools.
using jobq::internal::cpu_relax;

/// CPU time, in nanoseconds, of the whole process (every thread) or of the calling thread.
inline std::int64_t cpu_time_ns(clockid_t clock) noexcept {
  timespec now{};
  clock_gettime(clock, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}
inline std::int64_t process_cpu_ns() noexcept { return cpu_time_ns(CLOCK_PROCESS_CPUTIME_ID); }
inline std::int64_t thread_cpu_ns() noexcept { return cpu_time_ns(CLOCK_THREAD_CPUTIME_ID); }

/// CPU time used by every process on the machine (all CPUs, /proc/stat: user + nice + system +
/// irq + softirq + steal), in nanoseconds at the kernel tick's resolution; -1 where unreadable.
/// Less this process's own CPU time over a run, it says how much other work shared the machine.
inline std::int64_t machine_busy_ns() noexcept {
  std::FILE* stat = std::fopen("/proc/stat", "r");
  if (stat == nullptr) return -1;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  const int fields = std::fscanf(stat, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle,
                                 &iowait, &irq, &softirq, &steal);
  std::fclose(stat);
  const long ticks_per_s = sysconf(_SC_CLK_TCK);
  if (fields < 4 || ticks_per_s <= 0) return -1;
  const unsigned long long busy = user + nice + system + irq + softirq + steal;
  return static_cast<std::int64_t>(busy * (1'000'000'000ULL / static_cast<unsigned long long>(ticks_per_s)));
}

}  // namespace jobq_perf
